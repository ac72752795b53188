//! `ork e2e` (skeleton).
