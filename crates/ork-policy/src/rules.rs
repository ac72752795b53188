//! Katalog validation and mutation rules (docs/katalog.md §7), prepared once.

use std::sync::Arc;

use ork_katalog::diag::split_path;
use ork_katalog::model::{Fires, MutationRule, Rule};
use ork_katalog::{RuleAction, ValueType};
use ork_template::{Ctx, Template, value};
use serde_json::{Map, Value};

use crate::conditions::{Eval, Gate, PreparedCondition, Scope, TemplateSource, lookup};
use crate::redact;

/// Where a rule runs: `fires: {reconcile, admission}` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// the runtime's cycle, `ork template`, `ork simulate`
    Reconcile,
    /// the Gateway, `ork gate check`
    Admission,
}

impl Point {
    fn fires(self, f: &Fires) -> bool {
        match self {
            Point::Reconcile => f.reconcile,
            Point::Admission => f.admission,
        }
    }
}

/// A validation rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct PreparedRule {
    pub condition: PreparedCondition,
    pub message: String,
    pub action: RuleAction,
    pub gate: Gate,
    pub fires: Fires,
}

impl PreparedRule {
    pub fn prepare(r: &Rule, t: &dyn TemplateSource) -> Result<Self, String> {
        Ok(PreparedRule {
            condition: PreparedCondition::prepare(&r.condition, t)?,
            message: r.message.clone(),
            action: r.action,
            gate: Gate::prepare(&r.when, &r.or, t)?,
            fires: r.fires.clone(),
        })
    }
}

/// A value that may be a template.
#[derive(Debug, Clone)]
pub enum Text {
    Static(String),
    Template(Arc<Template>),
}

impl Text {
    pub fn prepare(s: &str, t: &dyn TemplateSource) -> Result<Text, String> {
        Ok(if ork_template::is_template(s) {
            Text::Template(t.template(s)?)
        } else {
            Text::Static(s.to_string())
        })
    }

    /// The value, rendered and trimmed when it is a template.
    pub fn render(&self, data: &Value, ctx: &mut Ctx) -> Result<String, String> {
        match self {
            Text::Static(s) => Ok(s.clone()),
            // never the value in the message (see conditions::render)
            Text::Template(t) => t
                .render_with(data, ctx)
                .map(|s| s.trim().to_string())
                .map_err(|e| e.without_values()),
        }
    }
}

/// `default` (set when absent, null or "") or `override` (always set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationKind {
    Default,
    Override,
}

impl MutationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MutationKind::Default => "default",
            MutationKind::Override => "override",
        }
    }
}

/// A mutation rule ready to apply.
#[derive(Debug, Clone)]
pub struct PreparedMutationRule {
    /// the field as written (`spec.replicas`)
    pub field: String,
    pub path: Vec<String>,
    pub kind: MutationKind,
    pub value: Text,
    pub value_type: ValueType,
    pub gate: Gate,
    pub fires: Fires,
}

impl PreparedMutationRule {
    pub fn prepare(r: &MutationRule, t: &dyn TemplateSource) -> Result<Self, String> {
        // the loader guarantees exactly one of default/override
        let (kind, text) = match (&r.default, &r.r#override) {
            (Some(d), None) => (MutationKind::Default, d),
            (None, Some(o)) => (MutationKind::Override, o),
            _ => {
                return Err(format!(
                    "mutation of {}: exactly one of default and override",
                    r.field
                ));
            }
        };
        Ok(PreparedMutationRule {
            field: r.field.trim_start_matches('.').to_string(),
            path: split_path(&r.field),
            kind,
            value: Text::prepare(text, t)?,
            value_type: r.value_type.unwrap_or(ValueType::String),
            gate: Gate::prepare(&r.when, &r.or, t)?,
            fires: r.fires.clone(),
        })
    }
}

/// One failed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub field: String,
    pub message: String,
    /// the actual value as it may be shown: cut to 64 characters, withheld when it is bound for
    /// a Secret or looks like a credential (docs/security.md §2.3)
    pub got: String,
    pub action: RuleAction,
}

impl Violation {
    /// `field "spec.image": <message> (got: <value>)`
    pub fn describe(&self) -> String {
        format!(
            "field {:?}: {} (got: {})",
            self.field, self.message, self.got
        )
    }

    pub fn denies(&self) -> bool {
        self.action == RuleAction::Deny
    }
}

#[derive(Debug, Clone, Default)]
pub struct RuleOutcome {
    pub violations: Vec<Violation>,
    pub passed: Vec<String>,
    pub not_evaluated: Vec<String>,
}

impl RuleOutcome {
    pub fn denied(&self) -> bool {
        self.violations.iter().any(Violation::denies)
    }
}

/// Runs every validation rule that fires at `at` against the scope's data (the CR, with
/// `.oldObject` on an admission UPDATE). `secret_bound` tells whether a field's value is rendered
/// into a Secret by this CRD's children: such a value is never quoted.
pub fn validate(
    rules: &[PreparedRule],
    s: &mut Scope,
    at: Point,
    secret_bound: &dyn Fn(&PreparedCondition) -> bool,
) -> Result<RuleOutcome, String> {
    let mut out = RuleOutcome::default();
    for rule in rules {
        if !at.fires(&rule.fires) {
            continue;
        }
        match rule.gate.evaluate(s)? {
            Eval::False => continue,
            Eval::NotEvaluated => {
                out.not_evaluated.push(rule.condition.field_text.clone());
                continue;
            }
            Eval::True => {}
        }
        match rule.condition.evaluate(s)? {
            Eval::True => out.passed.push(rule.condition.field_text.clone()),
            Eval::NotEvaluated => out.not_evaluated.push(rule.condition.field_text.clone()),
            Eval::False => {
                let got = if secret_bound(&rule.condition) {
                    redact::WITHHELD_SECRET.to_string()
                } else {
                    redact::shown(&rule.condition.actual(s)?.1)
                };
                out.violations.push(Violation {
                    field: rule.condition.field_text.clone(),
                    message: rule.message.clone(),
                    got,
                    action: rule.action,
                });
            }
        }
    }
    Ok(out)
}

/// One applied mutation, for `ork gate check` and the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationChange {
    pub field: String,
    pub old: Option<Value>,
    pub new: Value,
    pub kind: MutationKind,
}

/// Why a mutation could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutateError {
    /// a condition or value template failed
    Template(String),
    /// the rendered value does not convert to the rule's `valueType`
    InvalidValue(String),
}

impl std::fmt::Display for MutateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MutateError::Template(m) | MutateError::InvalidValue(m) => f.write_str(m),
        }
    }
}

/// Applies mutation rules in order to `obj` (the CR); returns the changes made. A rendering or
/// type-conversion failure is an error (G11): the object is never silently left unmutated.
pub fn mutate(
    rules: &[PreparedMutationRule],
    obj: &mut Value,
    at: Point,
    ctx: &mut Ctx,
) -> Result<Vec<MutationChange>, MutateError> {
    let mut changes = Vec::new();
    for rule in rules {
        if !at.fires(&rule.fires) {
            continue;
        }
        let gate = {
            let mut s = Scope {
                data: obj,
                ctx,
                peers: None,
            };
            rule.gate.evaluate(&mut s).map_err(MutateError::Template)?
        };
        if gate != Eval::True {
            continue;
        }
        let current = lookup(obj, &rule.path).cloned();
        if rule.kind == MutationKind::Default {
            let empty = matches!(&current, None | Some(Value::Null))
                || current == Some(Value::String(String::new()));
            if !empty {
                continue;
            }
        }
        let rendered = rule.value.render(obj, ctx).map_err(MutateError::Template)?;
        let new = typed(&rendered, rule).map_err(MutateError::InvalidValue)?;
        if current.as_ref() == Some(&new) {
            continue;
        }
        set(obj, &rule.path, &rule.field, new.clone()).map_err(MutateError::InvalidValue)?;
        changes.push(MutationChange {
            field: rule.field.clone(),
            old: current,
            new,
            kind: rule.kind,
        });
    }
    Ok(changes)
}

fn typed(text: &str, rule: &PreparedMutationRule) -> Result<Value, String> {
    // never the value: it may be bound for a Secret, and errors reach admission responses
    let bad = |what: &str| {
        format!(
            "mutation of {}: the rendered value is not {what}",
            rule.field
        )
    };
    Ok(match rule.value_type {
        ValueType::Int => Value::from(text.trim().parse::<i64>().map_err(|_| bad("an int"))?),
        ValueType::Float => value::float(text.trim().parse::<f64>().map_err(|_| bad("a float"))?)
            .ok_or_else(|| bad("a finite float"))?,
        ValueType::Bool => Value::Bool(
            ork_template::funcs::parse_bool_word(text.trim()).ok_or_else(|| bad("a bool"))?,
        ),
        ValueType::String => Value::String(text.to_string()),
    })
}

/// Sets a path, creating intermediate maps.
fn set(obj: &mut Value, segs: &[String], field: &str, v: Value) -> Result<(), String> {
    let Some((last, parents)) = segs.split_last() else {
        return Err("empty mutation field".into());
    };
    let mut cur = obj;
    for s in parents {
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        let Some(m) = cur.as_object_mut() else {
            return Err(format!("mutation of {field}: {s} is not under a map"));
        };
        cur = m
            .entry(s.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if cur.is_null() {
        *cur = Value::Object(Map::new());
    }
    match cur.as_object_mut() {
        Some(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        None => Err(format!("mutation of {field}: its parent is not a map")),
    }
}
