//! The policy core. The same pure functions decide conditions, Katalog validation and mutation
//! rules, namespace rules and the security layers for the Gateway, the reconciler backstop,
//! `ork simulate`, `ork template` and `ork gate check` (docs/architecture.md). Never write a
//! rule twice.
//!
//! [`PreparedKatalog`] is built once from a validated Katalog and shared through `Arc`;
//! [`admission::decide`] is the one decision function over it.

pub mod admission;
pub mod checks;
pub mod conditions;
pub mod json;
pub mod namespaces;
pub(crate) mod path;
pub mod prepared;
pub mod rbac;
pub mod redact;
pub mod review;
pub mod rules;

pub use admission::{Decision, Denial, EvalError, Layer, Layers, Request, User, Verdict, decide};
pub use conditions::{Eval, Gate, PreparedCondition, Scope};
pub use prepared::{PreparedCrd, PreparedEntry, PreparedKatalog, WriteOp};
pub use review::Review;
pub use rules::{MutationChange, Point, RuleOutcome, Violation};
