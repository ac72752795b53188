//! The runtime (docs/katalog.md §6).
