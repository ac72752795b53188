//! The Katalog: schema registry, strict loader with source positions, the staged validation
//! pipeline (parse → structure → references → templates → security → cross-entry) and the
//! resolved security posture.

pub mod coerce;
mod decode;
pub mod diag;
pub mod document;
pub mod kinds;
pub mod model;
pub mod names;
pub mod pipeline;
pub mod posture;
pub mod schema;
pub mod security;
pub mod settings;
pub mod templates;

pub use diag::{Diagnostic, Severity};
pub use kinds::ChildKind;
pub use model::{ApiInfo, Crd, Katalog};
pub use pipeline::{Outcome, load_file, load_file_with, load_str, load_str_with, read_crd};
pub use settings::{
    BuiltinProfile, FailurePolicy, Operation, Operator, PodSecurityLevel, Profile, RuleAction,
    StatusType, ValueType,
};
