//! Value semantics of ork templates: text forms, truthiness and comparisons (katalog.md §5.2).
//! `None` is a missing value; JSON `null` behaves like missing everywhere a user can observe it.

use serde_json::Value;

pub type V = Option<Value>;

/// The text form of a value: integers in decimal, floats as Go's `%v`, lists `[a b]`, maps
/// `map[k:v]` with sorted keys, missing and null as "".
pub fn text(v: &V) -> String {
    let mut out = String::new();
    write_text(v.as_ref(), &mut out);
    out
}

pub(crate) fn write_text(v: Option<&Value>, out: &mut String) {
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::Number(n)) => out.push_str(&number_text(n)),
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(a)) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_text(Some(x), out);
            }
            out.push(']');
        }
        Some(Value::Object(m)) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_text(m.get(k), out);
            }
            out.push(']');
        }
    }
}

pub fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    go_float(n.as_f64().unwrap_or(0.0))
}

/// Go's `%v` for a float64 (`%g` with the shortest precision): shortest round-trip digits,
/// exponent form when the decimal exponent is below -4 or at least 6.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // shortest round-trip digits and decimal exponent
    let sci = format!("{:e}", f); // e.g. "-1.2345e6"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..GO_FLOAT_EXP_LIMIT).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// strconv's `'g'` with the shortest precision decides on exponent form with precision 6.
const GO_FLOAT_EXP_LIMIT: i32 = 6;

/// Truthiness: false, 0, "", empty list or map, null and missing are false.
pub fn truthy(v: &V) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// "missing", "string", "number", "bool", "list", "map", "null" for messages and `typeOf`.
pub fn kind(v: &V) -> &'static str {
    match v {
        None => "missing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "bool",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "list",
        Some(Value::Object(_)) => "map",
    }
}

#[derive(Debug, PartialEq, PartialOrd)]
enum Cmp<'a> {
    Num(f64),
    Int(i64),
    Str(&'a str),
    Bool(bool),
}

fn cmp_form(v: &V) -> Result<Cmp<'_>, String> {
    match v {
        None | Some(Value::Null) => Ok(Cmp::Str("")),
        Some(Value::String(s)) => Ok(Cmp::Str(s)),
        Some(Value::Bool(b)) => Ok(Cmp::Bool(*b)),
        Some(Value::Number(n)) => Ok(match n.as_i64() {
            Some(i) => Cmp::Int(i),
            None => Cmp::Num(n.as_f64().unwrap_or(0.0)),
        }),
        Some(other) => Err(format!(
            "non-comparable type {}",
            kind(&Some(other.clone()))
        )),
    }
}

/// Orders two values for `eq ne lt le gt ge`: missing equals "" and missing; integers and floats
/// compare numerically; number versus string is an error.
pub fn compare(a: &V, b: &V) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    let (x, y) = (cmp_form(a)?, cmp_form(b)?);
    match (&x, &y) {
        (Cmp::Int(p), Cmp::Int(q)) => Ok(p.cmp(q)),
        (Cmp::Int(_) | Cmp::Num(_), Cmp::Int(_) | Cmp::Num(_)) => {
            let f = |c: &Cmp| match c {
                Cmp::Int(i) => *i as f64,
                Cmp::Num(f) => *f,
                _ => 0.0,
            };
            f(&x)
                .partial_cmp(&f(&y))
                .ok_or_else(|| "cannot compare NaN".to_string())
        }
        (Cmp::Str(p), Cmp::Str(q)) => Ok(p.cmp(q)),
        (Cmp::Bool(p), Cmp::Bool(q)) => {
            if p == q {
                Ok(Ordering::Equal)
            } else {
                Ok(p.cmp(q))
            }
        }
        _ => Err(format!(
            "incompatible types for comparison: {} and {}",
            kind(a),
            kind(b)
        )),
    }
}

pub fn as_f64(v: &V) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

pub fn is_int(v: &V) -> bool {
    matches!(v, Some(Value::Number(n)) if n.is_i64() || n.is_u64())
}

/// A float as a JSON value (NaN and infinities have no JSON form and become missing).
pub fn float(f: f64) -> V {
    serde_json::Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_float_forms() {
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1e-5), "1e-05");
        assert_eq!(go_float(3.25), "3.25");
        assert_eq!(go_float(-2.5e-3), "-0.0025");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
    }

    #[test]
    fn text_forms() {
        assert_eq!(text(&Some(json!([1, "a", true]))), "[1 a true]");
        assert_eq!(text(&Some(json!({"b": 1, "a": [2]}))), "map[a:[2] b:1]");
        assert_eq!(text(&None), "");
        assert_eq!(text(&Some(json!(2.0))), "2");
    }
}
