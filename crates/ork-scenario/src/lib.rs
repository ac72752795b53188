//! E2E scenario files (docs/e2e.md), without a cluster: the typed model ([`model`]), its strict
//! decoding with file:line:column and did-you-mean ([`load::load_paths`], the Katalog's own
//! decoder over the table in [`schema`]), `assert` field paths ([`path`]), the report formats
//! ([`report`]), and what the runner derives from a scenario besides its steps ([`runner`]: its
//! namespace, its decommission Katalog). `ork e2e` runs what this loads against an API server;
//! `ork simulate` replays it in memory; `ork validate` checks it offline.

pub mod load;
pub mod model;
pub mod path;
pub mod report;
pub mod runner;
pub mod schema;

pub use load::{load_paths, read_objects};
pub use model::*;
pub use runner::{Decommission, decommission, namespace_for};
