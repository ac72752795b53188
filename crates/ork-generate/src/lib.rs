//! What ork derives from a Katalog to install it (docs/cli.md §6) and the plan of a change
//! against an installed bundle (docs/cli.md §7). Pure: no cluster access.

pub mod bundle;
pub mod crd;
pub mod helm;
pub mod installed;
pub mod options;
pub mod plan;
pub mod rbac;
pub mod webhooks;
mod workloads;

/// Why nothing could be generated: each message is one line, located where it can be
/// (`file:line:col: error: …`), ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub Vec<String>);

impl Error {
    pub fn one(message: impl Into<String>) -> Error {
        Error(vec![message.into()])
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Error {}
