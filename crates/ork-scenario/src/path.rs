//! Field paths of `assert` steps (docs/e2e.md §2.1): docs/katalog.md §4 syntax —
//! `status.phase`, `spec.ports[0].port`, `metadata.labels["app.kubernetes.io/name"]` — plus
//! `[key=value]`, the first list element whose `key` equals `value`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// the first list element whose `key` has the text form `value`
    Select {
        key: String,
        value: String,
    },
}

/// Paths longer than this are refused: a path comes from a file anyone can write.
const MAX_SEGMENTS: usize = 64;

pub fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut chars = path.trim().trim_start_matches('.').chars().peekable();
    let mut cur = String::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if cur.is_empty() {
                    return Err("empty segment".into());
                }
                out.push(Segment::Key(std::mem::take(&mut cur)));
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(Segment::Key(std::mem::take(&mut cur)));
                }
                let mut inner = String::new();
                let mut closed = false;
                let quoted = matches!(chars.peek(), Some('"') | Some('\''));
                let quote = if quoted { chars.next() } else { None };
                for d in chars.by_ref() {
                    if Some(d) == quote {
                        quote_end(&mut chars)?;
                        closed = true;
                        break;
                    }
                    if quote.is_none() && d == ']' {
                        closed = true;
                        break;
                    }
                    inner.push(d);
                }
                if !closed {
                    return Err("unclosed [".into());
                }
                if quote.is_some() {
                    out.push(Segment::Key(inner));
                } else if let Ok(i) = inner.trim().parse::<usize>() {
                    out.push(Segment::Index(i));
                } else if let Some((k, v)) = inner.split_once('=') {
                    out.push(Segment::Select {
                        key: k.trim().to_string(),
                        value: v.trim().trim_matches('"').to_string(),
                    });
                } else {
                    return Err(format!(
                        "[{inner}] is neither an index, a quoted key nor key=value"
                    ));
                }
                if matches!(chars.peek(), Some('.')) {
                    chars.next();
                }
            }
            _ => cur.push(c),
        }
        if out.len() > MAX_SEGMENTS {
            return Err(format!("more than {MAX_SEGMENTS} segments"));
        }
    }
    if !cur.is_empty() {
        out.push(Segment::Key(cur));
    }
    if out.is_empty() {
        return Err("empty path".into());
    }
    Ok(out)
}

fn quote_end(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<(), String> {
    match chars.next() {
        Some(']') => Ok(()),
        _ => Err("a quoted key ends with \"]".into()),
    }
}

/// The text form of a scalar (null and missing are "").
pub fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub fn lookup<'v>(data: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    let mut cur = data;
    for seg in path {
        cur = match (seg, cur) {
            (Segment::Key(k), Value::Object(m)) => m.get(k)?,
            (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
            (Segment::Select { key, value }, Value::Array(a)) => {
                a.iter().find(|e| text(e.get(key.as_str())) == *value)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Whether `actual` satisfies `expected`: scalars by text form, maps and lists exactly.
pub fn matches(actual: Option<&Value>, expected: &Value) -> bool {
    match expected {
        Value::Object(_) | Value::Array(_) => actual == Some(expected),
        scalar => {
            actual.is_some_and(|a| !a.is_object() && !a.is_array())
                && text(actual) == text(Some(scalar))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_by_key_value_and_quoted_keys() {
        let obj = json!({"status": {"conditions": [{"type": "Started", "status": "True"},
            {"type": "Ready", "status": "False"}]},
            "metadata": {"labels": {"orkestra.io/deletion-protection": "true"}},
            "spec": {"ports": [{"port": 80}]}});
        let get = |p: &str| lookup(&obj, &parse(p).unwrap_or_default()).cloned();
        assert_eq!(
            get("status.conditions[type=Ready].status"),
            Some(json!("False"))
        );
        assert_eq!(
            get("metadata.labels[\"orkestra.io/deletion-protection\"]"),
            Some(json!("true"))
        );
        assert_eq!(get("spec.ports[0].port"), Some(json!(80)));
        assert_eq!(get("status.conditions[type=Gone].status"), None);
        assert!(matches(obj.pointer("/spec/ports/0/port"), &json!("80")));
        assert!(!matches(None, &json!("")), "a missing field never matches");
    }

    #[test]
    fn bad_paths_are_errors() {
        for p in ["", "a..b", "a[", "a[x y]", "a[\"k\"x"] {
            assert!(parse(p).is_err(), "{p:?} parsed");
        }
    }
}
