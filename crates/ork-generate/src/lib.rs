//! What ork derives from a Katalog to install it (docs/cli.md §6). Pure: no cluster access.

pub mod rbac;
