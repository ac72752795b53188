//! Value semantics of ork templates: text forms, truthiness and comparisons (docs/katalog.md §5.2).
//! `None` is a missing value; JSON `null` behaves like missing everywhere a user can observe it.

use ork_limits::{Exceeded, Limits};
use serde_json::Value;

pub type V = Option<Value>;

/// The text form of a value: integers in decimal, floats as Go's `%v`, lists `[a b]`, maps
/// `map[k:v]` with sorted keys, missing and null as "".
pub fn text(v: &V) -> String {
    text_of(v.as_ref())
}

/// [`text`] of a borrowed value.
pub(crate) fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        _ => {
            let mut out = String::new();
            write_text(v, &mut out);
            out
        }
    }
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
    truthy_of(v.as_ref())
}

pub(crate) fn truthy_of(v: Option<&Value>) -> bool {
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
    kind_of(v.as_ref())
}

pub(crate) fn kind_of(v: Option<&Value>) -> &'static str {
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

fn cmp_form(v: Option<&Value>) -> Result<Cmp<'_>, String> {
    match v {
        None | Some(Value::Null) => Ok(Cmp::Str("")),
        Some(Value::String(s)) => Ok(Cmp::Str(s)),
        Some(Value::Bool(b)) => Ok(Cmp::Bool(*b)),
        Some(Value::Number(n)) => Ok(match n.as_i64() {
            Some(i) => Cmp::Int(i),
            None => Cmp::Num(n.as_f64().unwrap_or(0.0)),
        }),
        Some(other) => Err(format!("non-comparable type {}", kind_of(Some(other)))),
    }
}

/// Orders two values for `eq ne lt le gt ge`: missing equals "" and missing; integers and floats
/// compare numerically; number versus string is an error.
pub fn compare(a: &V, b: &V) -> Result<std::cmp::Ordering, String> {
    compare_of(a.as_ref(), b.as_ref())
}

pub(crate) fn compare_of(
    a: Option<&Value>,
    b: Option<&Value>,
) -> Result<std::cmp::Ordering, String> {
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
            kind_of(a),
            kind_of(b)
        )),
    }
}

pub fn as_f64(v: &V) -> Option<f64> {
    as_f64_of(v.as_ref())
}

pub(crate) fn as_f64_of(v: Option<&Value>) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

pub fn is_int(v: &V) -> bool {
    matches!(v, Some(Value::Number(n)) if n.is_i64() || n.is_u64())
}

/// The longest part of a value an error message shows, in characters.
pub const QUOTE_MAX_CHARS: usize = 64;

/// A value quoted for an error message, Go `%q` style: in double quotes, with quotes,
/// backslashes, control characters and invisible formatting characters (bidi overrides,
/// zero-width spaces, BOM) escaped, and cut to [`QUOTE_MAX_CHARS`] characters with `…` after
/// the closing quote when cut. Messages quote tenant data: a 1 MB value must not become a 1 MB
/// message, and a value must not be able to rewrite the terminal that shows it.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(QUOTE_MAX_CHARS) + 8);
    out.push('"');
    let mut chars = s.chars();
    for c in chars.by_ref().take(QUOTE_MAX_CHARS) {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Unicode format characters that change how a terminal shows the text around them.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// What one element of a list or entry of a map costs beyond its content (the value's slot,
/// allocation headers), counted so that a list of a million empty strings is not "0 bytes".
pub(crate) const ELEMENT_OVERHEAD: u64 = 16;

/// A value's size as [`within_budget`] counts it; counting stops once it passes `cap`, so the
/// result is exact up to `cap` and some number above it beyond.
pub(crate) fn size_within(v: &Value, cap: u64) -> u64 {
    fn walk(v: &Value, used: &mut u64, cap: u64) {
        if *used > cap {
            return;
        }
        match v {
            Value::String(s) => *used = used.saturating_add(s.len() as u64),
            Value::Array(items) => {
                for x in items {
                    *used = used.saturating_add(ELEMENT_OVERHEAD);
                    walk(x, used, cap);
                    if *used > cap {
                        return;
                    }
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    *used = used.saturating_add(ELEMENT_OVERHEAD + k.len() as u64);
                    walk(x, used, cap);
                    if *used > cap {
                        return;
                    }
                }
            }
            _ => *used = used.saturating_add(8),
        }
    }
    let mut used = 0;
    walk(v, &mut used, cap);
    used
}

/// Checks a value against `template.value-bytes` (content bytes plus [`ELEMENT_OVERHEAD`] per
/// element) and its nesting against `yaml.depth` (values nest only as deep as a document may:
/// deeper ones would overflow the stack of the recursive printers and drop). Stops at the first
/// excess, so it never walks deeper than the depth limit nor further than the byte limit.
pub(crate) fn within_budget(v: &Value, limits: &Limits) -> Result<(), Exceeded> {
    fn walk(v: &Value, depth: u64, used: &mut u64, limits: &Limits) -> Result<(), Exceeded> {
        let own = match v {
            Value::String(s) => u64::try_from(s.len()).unwrap_or(u64::MAX),
            Value::Array(_) | Value::Object(_) => 0,
            _ => 8,
        };
        *used = used.saturating_add(own);
        if *used > limits.template_value_bytes {
            return Err(Exceeded::new(
                "template.value-bytes",
                limits.template_value_bytes,
            ));
        }
        match v {
            Value::Array(items) => {
                if depth >= limits.yaml_depth {
                    return Err(Exceeded::new("yaml.depth", limits.yaml_depth));
                }
                for x in items {
                    *used = used.saturating_add(ELEMENT_OVERHEAD);
                    walk(x, depth + 1, used, limits)?;
                }
            }
            Value::Object(m) => {
                if depth >= limits.yaml_depth {
                    return Err(Exceeded::new("yaml.depth", limits.yaml_depth));
                }
                for (k, x) in m {
                    *used = used.saturating_add(ELEMENT_OVERHEAD + k.len() as u64);
                    walk(x, depth + 1, used, limits)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(v, 0, &mut 0, limits)
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
    fn quote_cuts_and_escapes() {
        assert_eq!(quote("two"), "\"two\"");
        assert_eq!(
            quote("a\"b\\c\n\u{1b}[2J\u{202e}"),
            r#""a\"b\\c\n\x1b[2J\u202e""#
        );
        let long = "é".repeat(100_000);
        let q = quote(&long);
        assert_eq!(q, format!("\"{}\"…", "é".repeat(64)));
        assert_eq!(quote(&"x".repeat(64)), format!("\"{}\"", "x".repeat(64)));
    }

    #[test]
    fn budget_counts_content_elements_and_depth() {
        let l = Limits {
            template_value_bytes: 100,
            yaml_depth: 3,
            ..Limits::default()
        };
        assert!(within_budget(&json!("x".repeat(100)), &l).is_ok());
        assert!(within_budget(&json!("x".repeat(101)), &l).is_err());
        // seven empty strings are 7 × 16 = 112 bytes
        assert!(within_budget(&json!(["", "", "", "", "", "", ""]), &l).is_err());
        assert!(within_budget(&json!([[[1]]]), &l).is_ok());
        let deep = within_budget(&json!([[[[1]]]]), &l).err();
        assert_eq!(deep.map(|e| e.budget), Some("yaml.depth"));
    }

    #[test]
    fn text_forms() {
        assert_eq!(text(&Some(json!([1, "a", true]))), "[1 a true]");
        assert_eq!(text(&Some(json!({"b": 1, "a": [2]}))), "map[a:[2] b:1]");
        assert_eq!(text(&None), "");
        assert_eq!(text(&Some(json!(2.0))), "2");
    }
}
