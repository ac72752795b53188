//! `ork simulate` (skeleton).
