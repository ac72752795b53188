//! Katalog validation and mutation rules (katalog.md §7).

use ork_katalog::diag::split_path;
use ork_katalog::model::{Crd, MutationRule};
use ork_template::{Ctx, Template, value};
use serde_json::{Map, Value};

use crate::conditions::{Eval, eval_all, evaluate, lookup};

/// One failed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub field: String,
    pub message: String,
    /// the actual value, cut to 64 characters
    pub got: String,
    pub deny: bool,
}

impl Violation {
    /// `field "spec.image": <message> (got: <value>)`
    pub fn describe(&self) -> String {
        format!(
            "field {:?}: {} (got: {})",
            self.field, self.message, self.got
        )
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
        self.violations.iter().any(|v| v.deny)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Reconcile,
    Admission,
}

fn cut64(s: &str) -> String {
    if s.chars().count() > 64 {
        s.chars().take(64).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

/// Runs every validation rule of the CRD against `data` (the CR as template data).
pub fn validate(crd: &Crd, data: &Value, at: Point, ctx: &mut Ctx) -> Result<RuleOutcome, String> {
    let mut out = RuleOutcome::default();
    for rule in &crd.entry.validation.rules {
        let fires = match at {
            Point::Reconcile => rule.fires.reconcile,
            Point::Admission => rule.fires.admission,
        };
        if !fires {
            continue;
        }
        match eval_all(&rule.when, &rule.or, data, ctx)? {
            Eval::False => continue,
            Eval::NotEvaluated => {
                out.not_evaluated.push(rule.condition.field.clone());
                continue;
            }
            Eval::True => {}
        }
        match evaluate(&rule.condition, data, ctx)? {
            Eval::True => out.passed.push(rule.condition.field.clone()),
            Eval::NotEvaluated => out.not_evaluated.push(rule.condition.field.clone()),
            Eval::False => {
                let got = crate::conditions::actual(&rule.condition, data, ctx)?.1;
                out.violations.push(Violation {
                    field: rule.condition.field.trim_start_matches('.').to_string(),
                    message: rule.message.clone(),
                    got: cut64(&got),
                    deny: rule.action != "warn",
                });
            }
        }
    }
    Ok(out)
}

/// One applied mutation, for `ork gate check` and JSON Patch generation.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationChange {
    pub field: String,
    pub old: Option<Value>,
    pub new: Value,
    pub kind: &'static str,
}

/// Applies mutation rules in order to `obj` (the CR); returns the changes made.
pub fn mutate(
    crd: &Crd,
    obj: &mut Value,
    at: Point,
    ctx: &mut Ctx,
) -> Result<Vec<MutationChange>, String> {
    let mut changes = Vec::new();
    for rule in &crd.entry.mutation.rules {
        let fires = match at {
            Point::Reconcile => rule.fires.reconcile,
            Point::Admission => rule.fires.admission,
        };
        if !fires {
            continue;
        }
        if eval_all(&rule.when, &rule.or, obj, ctx)? != Eval::True {
            continue;
        }
        let current = lookup(obj, &rule.field);
        let (text, kind) = match (&rule.default, &rule.r#override) {
            (Some(d), _) => {
                let empty = matches!(&current, None | Some(Value::Null))
                    || current == Some(Value::String(String::new()));
                if !empty {
                    continue;
                }
                (d, "default")
            }
            (None, Some(o)) => (o, "override"),
            (None, None) => continue,
        };
        let rendered = if ork_template::is_template(text) {
            let t = Template::parse(text).map_err(|e| e.to_string())?;
            t.render_with(obj, ctx)
                .map_err(|e| e.to_string())?
                .trim()
                .to_string()
        } else {
            text.clone()
        };
        let new = typed(&rendered, rule)?;
        if current.as_ref() == Some(&new) {
            continue;
        }
        set(obj, &rule.field, new.clone())?;
        changes.push(MutationChange {
            field: rule.field.trim_start_matches('.').to_string(),
            old: current,
            new,
            kind,
        });
    }
    Ok(changes)
}

fn typed(text: &str, rule: &MutationRule) -> Result<Value, String> {
    let vt = rule
        .value_type
        .as_deref()
        .unwrap_or("string")
        .to_ascii_lowercase();
    Ok(match vt.as_str() {
        "int" => Value::from(
            text.trim()
                .parse::<i64>()
                .map_err(|_| format!("mutation of {}: {text:?} is not an int", rule.field))?,
        ),
        "float" => value::float(
            text.trim()
                .parse::<f64>()
                .map_err(|_| format!("mutation of {}: {text:?} is not a float", rule.field))?,
        )
        .ok_or_else(|| format!("mutation of {}: {text:?} is not a finite float", rule.field))?,
        "bool" => Value::Bool(
            ork_template::funcs::parse_bool_word(text.trim())
                .ok_or_else(|| format!("mutation of {}: {text:?} is not a bool", rule.field))?,
        ),
        _ => Value::String(text.to_string()),
    })
}

/// Sets a path, creating intermediate maps.
fn set(obj: &mut Value, field: &str, v: Value) -> Result<(), String> {
    let segs = split_path(field);
    let Some((last, parents)) = segs.split_last() else {
        return Err("empty mutation field".into());
    };
    let mut cur = obj;
    for s in parents {
        if !cur.is_object() {
            return Err(format!("mutation of {field}: {s} is not a map"));
        }
        let m = cur.as_object_mut().ok_or("not a map")?;
        cur = m
            .entry(s.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
    }
    match cur.as_object_mut() {
        Some(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        None => Err(format!("mutation of {field}: parent is not a map")),
    }
}
