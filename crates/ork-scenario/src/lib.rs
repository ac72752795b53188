//! E2E scenario files (skeleton).
