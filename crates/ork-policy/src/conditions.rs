//! Conditions (katalog.md §4).

use ork_katalog::diag::split_path;
use ork_katalog::model::Condition;
use ork_template::{Ctx, Template, V, value};
use serde_json::Value;

/// The result of one condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Eval {
    True,
    False,
    /// Needs cluster state (`unique`): never counted as passed.
    NotEvaluated,
}

/// Follows a condition path (`spec.steps.1`, `metadata.labels["a/b"]`) through the data.
pub fn lookup(data: &Value, field: &str) -> V {
    let mut cur = Some(data);
    for seg in split_path(field) {
        cur = match cur {
            Some(Value::Object(m)) => m.get(&seg),
            Some(Value::Array(a)) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
    }
    cur.cloned()
}

fn render(text: &str, data: &Value, ctx: &mut Ctx) -> Result<String, String> {
    if !ork_template::is_template(text) {
        return Ok(text.to_string());
    }
    let t = Template::parse(text).map_err(|e| e.to_string())?;
    t.render_with(data, ctx)
        .map(|s| s.trim().to_string())
        .map_err(|e| e.to_string())
}

/// The actual value of a condition's field and its text form (missing or null → "").
pub fn actual(c: &Condition, data: &Value, ctx: &mut Ctx) -> Result<(V, String), String> {
    if ork_template::is_template(&c.field) {
        let s = render(&c.field, data, ctx)?;
        let v = if s.is_empty() {
            None
        } else {
            Some(Value::String(s.clone()))
        };
        return Ok((v, s));
    }
    let v = lookup(data, &c.field);
    let t = value::text(&v);
    Ok((v, t))
}

fn num(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        Some(0.0)
    } else {
        t.parse().ok()
    }
}

/// Evaluates one condition. A render error is an error, never a silent false.
pub fn evaluate(c: &Condition, data: &Value, ctx: &mut Ctx) -> Result<Eval, String> {
    if c.operator == "unique" {
        return Ok(Eval::NotEvaluated);
    }
    let (raw, text) = actual(c, data, ctx)?;
    let expected = match &c.value {
        Some(v) => render(v, data, ctx)?,
        None => String::new(),
    };
    let present = match &raw {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        _ => true,
    };
    let numeric = |f: &dyn Fn(f64, f64) -> bool| -> bool {
        match (num(&text), expected.trim().parse::<f64>()) {
            (Some(a), Ok(b)) => f(a, b),
            _ => false,
        }
    };
    let between = || -> bool {
        let parts: Vec<f64> = expected
            .split(',')
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        match (num(&text), parts.as_slice()) {
            (Some(a), [lo, hi]) => a >= *lo && a <= *hi,
            _ => false,
        }
    };
    let truth_of_exists = expected.is_empty()
        || ork_template::funcs::parse_bool_word(expected.trim()).unwrap_or(true);
    let r = match c.operator.as_str() {
        "exists" => present == truth_of_exists,
        "notExists" => present != truth_of_exists,
        "equals" => text == expected,
        "notEquals" => text != expected,
        "prefix" => text.starts_with(&expected),
        "notPrefix" => !text.starts_with(&expected),
        "suffix" => text.ends_with(&expected),
        "notSuffix" => !text.ends_with(&expected),
        "contains" => text.contains(&expected),
        "notContains" => !text.contains(&expected),
        "regex" => regex::Regex::new(&expected)
            .map_err(|e| format!("invalid regex {expected:?}: {e}"))?
            .is_match(&text),
        "greaterThan" => numeric(&|a, b| a > b),
        "lessThan" => numeric(&|a, b| a < b),
        "greaterThanOrEqual" => numeric(&|a, b| a >= b),
        "lessThanOrEqual" => numeric(&|a, b| a <= b),
        "between" => between(),
        "notBetween" => num(&text).is_some() && !between(),
        "in" => expected.split(',').map(str::trim).any(|i| i == text),
        "notIn" => !expected.split(',').map(str::trim).any(|i| i == text),
        "typeOf" => {
            let k = match value::kind(&raw) {
                "missing" => "null",
                k => k,
            };
            k == expected.trim()
        }
        other => return Err(format!("unknown operator {other:?}")),
    };
    Ok(if r != c.negate {
        Eval::True
    } else {
        Eval::False
    })
}

/// `when` (all hold) and `or` (one holds); both absent or empty hold.
pub fn eval_all(
    when: &[Condition],
    or: &[Condition],
    data: &Value,
    ctx: &mut Ctx,
) -> Result<Eval, String> {
    let mut undetermined = false;
    for c in when {
        match evaluate(c, data, ctx)? {
            Eval::False => return Ok(Eval::False),
            Eval::NotEvaluated => undetermined = true,
            Eval::True => {}
        }
    }
    if !or.is_empty() {
        let mut any = false;
        for c in or {
            match evaluate(c, data, ctx)? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(field: &str, op: &str, value: &str) -> Condition {
        Condition {
            field: field.into(),
            operator: op.into(),
            value: Some(value.into()),
            negate: false,
        }
    }

    #[test]
    fn operators() {
        let data = json!({"spec": {"image": "registry.internal/app:1", "replicas": 3, "env": "", "list": [1]}, "status": {}});
        let mut ctx = Ctx::new(Some(1), None);
        let mut t = |c: Condition| evaluate(&c, &data, &mut ctx).unwrap_or(Eval::False);
        assert_eq!(
            t(cond("spec.image", "prefix", "registry.internal/")),
            Eval::True
        );
        assert_eq!(t(cond("spec.replicas", "greaterThan", "0")), Eval::True);
        assert_eq!(t(cond(".spec.replicas", "between", "1,3")), Eval::True);
        assert_eq!(t(cond("status.phase", "in", "Pending,")), Eval::True);
        assert_eq!(t(cond("status.phase", "exists", "true")), Eval::False);
        assert_eq!(t(cond("spec.list", "exists", "true")), Eval::True);
        assert_eq!(t(cond("spec.env", "notExists", "true")), Eval::True);
        assert_eq!(t(cond("spec.image", "regex", "app:[0-9]+$")), Eval::True);
        assert_eq!(t(cond("spec.list", "typeOf", "list")), Eval::True);
        assert_eq!(t(cond("spec.nope", "typeOf", "null")), Eval::True);
        assert_eq!(t(cond("spec.image", "greaterThan", "1")), Eval::False);
        assert_eq!(t(cond("{{ .spec.replicas }}", "equals", "3")), Eval::True);
        let mut neg = cond("spec.replicas", "equals", "3");
        neg.negate = true;
        assert_eq!(t(neg), Eval::False);
        assert_eq!(t(cond("spec.image", "unique", "true")), Eval::NotEvaluated);
    }
}
