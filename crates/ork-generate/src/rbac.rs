//! RBAC derived from the Katalog (docs/security.md §2.2).
