//! The policy core. The same pure functions decide conditions, Katalog validation and mutation
//! rules and namespace rules for the Gateway, the reconciler backstop, `ork simulate`,
//! `ork template`, `ork gate check` and `ork validate`. Never write a rule twice.

pub mod checks;
pub mod conditions;
pub mod namespaces;
pub mod rbac;
pub mod rules;

pub use conditions::{Eval, eval_all, evaluate};
pub use rules::{MutationChange, RuleOutcome, Violation, mutate, validate};
