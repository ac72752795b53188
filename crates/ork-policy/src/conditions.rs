//! Conditions (docs/katalog.md §4), prepared once and evaluated many times.
//!
//! A [`Condition`] of the Katalog model becomes a [`PreparedCondition`]: its field is either a
//! split path or a parsed template, its operator an enum, and a static expected value is parsed
//! for the operator up front (number, range, list, compiled regex). Evaluation never parses a
//! template or compiles a static regex again.
//!
//! Fail closed: a template that fails to render, or a regex that does not compile, is an error
//! for the caller (deny, or `TemplateError` in the reconciler), never a silent false or true.

use std::sync::Arc;

use crate::path::At;
use ork_katalog::Operator;
use ork_katalog::diag::split_path;
use ork_katalog::model::Condition;
use ork_template::{Ctx, Template, V, value};
use regex::Regex;
use serde_json::Value;

/// The result of one condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eval {
    True,
    False,
    /// Needs cluster state (`unique`) that the caller did not provide: never counted as passed.
    NotEvaluated,
}

/// Where a condition reads its actual value.
#[derive(Debug, Clone)]
pub enum FieldRef {
    /// a path into the template data, already split (`spec.steps.1` → `[spec, steps, 1]`)
    Path(Vec<String>),
    /// a template whose trimmed output is the value
    Template(Arc<Template>),
}

/// The expected value of a condition.
#[derive(Debug, Clone)]
pub enum Expected {
    /// no value given (`exists: true` spelled `operator: exists`)
    None,
    Static(StaticValue),
    /// rendered at evaluation time, then read like a static value
    Template(Arc<Template>),
}

/// A static expected value, parsed for its operator once.
#[derive(Debug, Clone)]
pub struct StaticValue {
    pub text: String,
    /// the compiled pattern of a static `regex`; the compile error if it does not compile
    /// (validation rejects that, but evaluation must still fail closed)
    pub regex: Option<Result<Regex, String>>,
}

/// A condition ready to evaluate.
#[derive(Debug, Clone)]
pub struct PreparedCondition {
    /// the field as written, for messages (`spec.image`)
    pub field_text: String,
    pub field: FieldRef,
    pub operator: Operator,
    pub expected: Expected,
    pub negate: bool,
}

/// `when` (all hold) and `or` (one holds): the gate of an entry, a block, a rule or a field.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub when: Vec<PreparedCondition>,
    pub or: Vec<PreparedCondition>,
}

/// Where parsed templates come from: the prepared Katalog's cache.
pub trait TemplateSource {
    /// The parsed template for `src`. Parse errors are returned, never skipped.
    fn template(&self, src: &str) -> Result<Arc<Template>, String>;
}

/// Cluster state a condition may need (`unique`). The Gateway answers from its informer cache;
/// offline commands have none, and `unique` is then "not evaluated".
pub trait Peers {
    /// The text values at `path` of the other objects of this kind in `namespace`, the object
    /// named `name` excluded.
    fn values(&self, namespace: &str, name: &str, path: &[String]) -> Vec<String>;
}

impl PreparedCondition {
    pub fn prepare(c: &Condition, templates: &dyn TemplateSource) -> Result<Self, String> {
        let field = if ork_template::is_template(&c.field) {
            FieldRef::Template(templates.template(&c.field)?)
        } else {
            FieldRef::Path(split_path(&c.field))
        };
        let expected = match &c.value {
            None => Expected::None,
            Some(v) if ork_template::is_template(v) => Expected::Template(templates.template(v)?),
            Some(v) => Expected::Static(StaticValue {
                text: v.clone(),
                regex: (c.operator == Operator::Regex).then(|| compile(v, None)),
            }),
        };
        Ok(PreparedCondition {
            field_text: c.field.trim_start_matches('.').to_string(),
            field,
            operator: c.operator,
            expected,
            negate: c.negate,
        })
    }
}

impl Gate {
    pub fn prepare(
        when: &[Condition],
        or: &[Condition],
        templates: &dyn TemplateSource,
    ) -> Result<Gate, String> {
        let p = |list: &[Condition]| {
            list.iter()
                .map(|c| PreparedCondition::prepare(c, templates))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Gate {
            when: p(when)?,
            or: p(or)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.when.is_empty() && self.or.is_empty()
    }
}

/// Compiles a pattern. The error never repeats a rendered pattern (it comes from tenant data,
/// possibly from a value bound for a Secret): it names what it was rendered from. A static
/// pattern is Katalog text and is quoted, cut to 64 characters. The regex crate's own message
/// is not used: it repeats the whole pattern.
fn compile(pattern: &str, rendered_from: Option<&str>) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let why = match e {
            regex::Error::CompiledTooBig(_) => "it compiles too big",
            _ => "it does not parse as RE2 syntax",
        };
        match rendered_from {
            Some(src) => format!(
                "invalid regex rendered from {}: {why}",
                crate::redact::quoted(src)
            ),
            None => format!("invalid regex {}: {why}", crate::redact::quoted(pattern)),
        }
    })
}

/// Follows a split path through the data (`metadata.labels["a/b"]` already split).
pub fn lookup<'v>(data: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut cur = data;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Renders a template to trimmed text. A failure names the action and the function but never
/// the value: evaluation errors reach admission responses, conditions and the audit trail,
/// which carry no object data (docs/security.md §2.11).
fn render(t: &Template, data: &Value, ctx: &mut Ctx) -> Result<String, String> {
    t.render_with(data, ctx)
        .map(|s| s.trim().to_string())
        .map_err(|e| e.without_values())
}

/// What a condition is evaluated against.
pub struct Scope<'a> {
    pub data: &'a Value,
    pub ctx: &'a mut Ctx,
    /// cluster state for `unique`
    pub peers: Option<&'a dyn Peers>,
}

impl PreparedCondition {
    /// The actual value and its text form (missing or null → "").
    pub fn actual(&self, s: &mut Scope) -> Result<(V, String), String> {
        match &self.field {
            FieldRef::Template(t) => {
                let text = render(t, s.data, s.ctx)?;
                let v = (!text.is_empty()).then(|| Value::String(text.clone()));
                Ok((v, text))
            }
            FieldRef::Path(p) => {
                let v = lookup(s.data, p).cloned();
                let t = value::text(&v);
                Ok((v, t))
            }
        }
    }

    /// Evaluates the condition. A render error or a bad regex is an error, never a silent false.
    pub fn evaluate(&self, s: &mut Scope) -> Result<Eval, String> {
        if self.operator == Operator::Unique {
            return self.unique(s);
        }
        let (raw, text) = self.actual(s)?;
        let rendered;
        let expected: &str = match &self.expected {
            Expected::None => "",
            Expected::Static(v) => &v.text,
            Expected::Template(t) => {
                rendered = render(t, s.data, s.ctx)?;
                &rendered
            }
        };
        let present = match &raw {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(m)) => !m.is_empty(),
            Some(Value::Bool(_) | Value::Number(_)) => true,
        };
        if self.operator.is_numeric() {
            return self.compare(&text, expected);
        }
        // `exists: true` / `exists: false`; anything else is not a truth value
        let truth_of_exists = || -> Result<bool, String> {
            match expected.trim() {
                "" => Ok(true),
                t => ork_template::funcs::parse_bool_word(t)
                    .ok_or_else(|| format!("{}: {t:?} is not true or false", self.operator)),
            }
        };
        let r = match self.operator {
            Operator::Exists => present == truth_of_exists()?,
            Operator::NotExists => present != truth_of_exists()?,
            Operator::Equals => text == expected,
            Operator::NotEquals => text != expected,
            Operator::Prefix => text.starts_with(expected),
            Operator::NotPrefix => !text.starts_with(expected),
            Operator::Suffix => text.ends_with(expected),
            Operator::NotSuffix => !text.ends_with(expected),
            Operator::Contains => text.contains(expected),
            Operator::NotContains => !text.contains(expected),
            Operator::Regex => match &self.expected {
                Expected::Static(StaticValue {
                    regex: Some(compiled),
                    ..
                }) => compiled.as_ref().map_err(Clone::clone)?.is_match(&text),
                // a templated pattern is compiled per evaluation; a bad one is an error
                Expected::Template(t) => compile(expected, Some(t.source()))?.is_match(&text),
                _ => compile(expected, None)?.is_match(&text),
            },
            Operator::GreaterThan
            | Operator::LessThan
            | Operator::GreaterThanOrEqual
            | Operator::LessThanOrEqual
            | Operator::Between
            | Operator::NotBetween => return self.compare(&text, expected),
            Operator::In => expected.split(',').map(str::trim).any(|i| i == text),
            Operator::NotIn => !expected.split(',').map(str::trim).any(|i| i == text),
            Operator::TypeOf => {
                let k = match value::kind(&raw) {
                    "missing" => "null",
                    k => k,
                };
                k == expected.trim()
            }
            Operator::Unique => return self.unique(s),
        };
        Ok(if r != self.negate {
            Eval::True
        } else {
            Eval::False
        })
    }

    /// The numeric operators (f64; an empty actual is 0). An actual that is not a finite number
    /// never satisfies a numeric condition, `negate` or not: an unknown value must not pass a
    /// check written as `negate: true`. An expected value that is not a number (or not `lo,hi`)
    /// is an evaluation error; the loader rejects static ones.
    fn compare(&self, text: &str, expected: &str) -> Result<Eval, String> {
        let Some(a) = num(text).filter(|a| a.is_finite()) else {
            return Ok(Eval::False);
        };
        let number = |s: &str| -> Result<f64, String> {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{}: the expected value is not a number", self.operator))
        };
        let range = || -> Result<(f64, f64), String> {
            match expected.split(',').collect::<Vec<_>>().as_slice() {
                [lo, hi] => Ok((number(lo)?, number(hi)?)),
                _ => Err(format!(
                    "{}: the expected value is not lo,hi",
                    self.operator
                )),
            }
        };
        let r = match self.operator {
            Operator::GreaterThan => a > number(expected)?,
            Operator::LessThan => a < number(expected)?,
            Operator::GreaterThanOrEqual => a >= number(expected)?,
            Operator::LessThanOrEqual => a <= number(expected)?,
            Operator::Between => {
                let (lo, hi) = range()?;
                a >= lo && a <= hi
            }
            Operator::NotBetween => {
                let (lo, hi) = range()?;
                !(a >= lo && a <= hi)
            }
            other => return Err(format!("{other} is not a numeric operator")),
        };
        Ok(if r != self.negate {
            Eval::True
        } else {
            Eval::False
        })
    }

    /// `unique: true`: no other CR of the kind in the namespace has the same text value.
    fn unique(&self, s: &mut Scope) -> Result<Eval, String> {
        let Some(peers) = s.peers else {
            return Ok(Eval::NotEvaluated);
        };
        let FieldRef::Path(path) = &self.field else {
            return Err(format!(
                "unique needs a path field, not a template ({})",
                self.field_text
            ));
        };
        let (_, text) = self.actual(s)?;
        let ns = s
            .data
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = s
            .data
            .at("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let clash = !text.is_empty() && peers.values(ns, name, path).contains(&text);
        Ok(if clash != self.negate {
            Eval::False
        } else {
            Eval::True
        })
    }
}

fn num(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        Some(0.0)
    } else {
        t.parse().ok()
    }
}

impl Gate {
    /// `when` (all hold) and `or` (one holds); both absent or empty hold.
    pub fn evaluate(&self, s: &mut Scope) -> Result<Eval, String> {
        let mut undetermined = false;
        for c in &self.when {
            match c.evaluate(s)? {
                Eval::False => return Ok(Eval::False),
                Eval::NotEvaluated => undetermined = true,
                Eval::True => {}
            }
        }
        if !self.or.is_empty() {
            let mut any = false;
            for c in &self.or {
                match c.evaluate(s)? {
                    Eval::True => {
                        any = true;
                        break;
                    }
                    Eval::NotEvaluated => undetermined = true,
                    Eval::False => {}
                }
            }
            if !any && !undetermined {
                return Ok(Eval::False);
            }
        }
        Ok(if undetermined {
            Eval::NotEvaluated
        } else {
            Eval::True
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Parse;
    impl TemplateSource for Parse {
        fn template(&self, src: &str) -> Result<Arc<Template>, String> {
            Template::parse(src)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        }
    }

    fn cond(field: &str, op: Operator, value: &str) -> PreparedCondition {
        let c = Condition {
            field: field.into(),
            operator: op,
            value: Some(value.into()),
            negate: false,
        };
        PreparedCondition::prepare(&c, &Parse).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn operators() {
        let data = json!({"spec": {"image": "registry.internal/app:1", "replicas": 3, "env": "", "list": [1]}, "status": {}});
        let mut ctx = Ctx::new(Some(1), None);
        let mut t = |c: PreparedCondition| {
            let mut s = Scope {
                data: &data,
                ctx: &mut ctx,
                peers: None,
            };
            c.evaluate(&mut s).unwrap_or(Eval::False)
        };
        use Operator as O;
        assert_eq!(
            t(cond("spec.image", O::Prefix, "registry.internal/")),
            Eval::True
        );
        assert_eq!(t(cond("spec.replicas", O::GreaterThan, "0")), Eval::True);
        assert_eq!(t(cond(".spec.replicas", O::Between, "1,3")), Eval::True);
        assert_eq!(t(cond("status.phase", O::In, "Pending,")), Eval::True);
        assert_eq!(t(cond("status.phase", O::Exists, "true")), Eval::False);
        assert_eq!(t(cond("spec.list", O::Exists, "true")), Eval::True);
        assert_eq!(t(cond("spec.env", O::NotExists, "true")), Eval::True);
        assert_eq!(t(cond("spec.image", O::Regex, "app:[0-9]+$")), Eval::True);
        assert_eq!(t(cond("spec.list", O::TypeOf, "list")), Eval::True);
        assert_eq!(t(cond("spec.nope", O::TypeOf, "null")), Eval::True);
        assert_eq!(t(cond("spec.image", O::GreaterThan, "1")), Eval::False);
        assert_eq!(t(cond("{{ .spec.replicas }}", O::Equals, "3")), Eval::True);
        let mut neg = cond("spec.replicas", O::Equals, "3");
        neg.negate = true;
        assert_eq!(t(neg), Eval::False);
        assert_eq!(t(cond("spec.image", O::Unique, "true")), Eval::NotEvaluated);
    }

    #[test]
    fn evaluation_errors_are_errors_never_false() {
        let data = json!({"spec": {"image": "x", "pattern": "a(b"}});
        let mut ctx = Ctx::new(Some(1), None);
        let mut s = Scope {
            data: &data,
            ctx: &mut ctx,
            peers: None,
        };
        // a static pattern that does not compile (the loader rejects it; evaluation must too)
        assert!(
            cond("spec.image", Operator::Regex, "a(b")
                .evaluate(&mut s)
                .is_err()
        );
        // a templated pattern that renders to an invalid regex
        assert!(
            cond("spec.image", Operator::Regex, "{{ .spec.pattern }}")
                .evaluate(&mut s)
                .is_err()
        );
        // a template that fails to execute
        assert!(
            cond("{{ .spec.image.tag }}", Operator::Equals, "x")
                .evaluate(&mut s)
                .is_err()
        );
    }
}
