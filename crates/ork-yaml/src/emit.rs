//! A small deterministic YAML emitter for JSON values.
//!
//! Block style, two-space indentation, keys in the value's order (serde_json maps are sorted),
//! strings quoted whenever a YAML 1.1 or 1.2 reader could take them for anything but a string,
//! so kubectl, Helm and ork read back exactly what was printed.

use serde_json::Value;

/// One document without the `---` separator, ending in a newline.
pub fn to_yaml_string(value: &Value) -> String {
    let mut out = String::new();
    emit_document(value, usize::MAX, &mut out);
    out
}

/// [`to_yaml_string`], or `None` as soon as the text would exceed `max_bytes`.
///
/// Indentation grows with depth, so the text of a deep value can be hundreds of times larger
/// than the value (a multi-line string 200 levels down is indented 400 spaces per line): callers
/// that bound their output (template `toYaml`) stop here instead of building it first.
pub fn to_yaml_string_within(value: &Value, max_bytes: usize) -> Option<String> {
    let mut out = String::new();
    emit_document(value, max_bytes, &mut out);
    (out.len() <= max_bytes).then_some(out)
}

fn emit_document(value: &Value, max: usize, out: &mut String) {
    match value {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, max, out),
        Value::Array(a) if !a.is_empty() => emit_seq(a, 0, max, out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// A document preceded by `---`.
pub fn to_yaml_document(value: &Value) -> String {
    format!("---\n{}", to_yaml_string(value))
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

// The emitters stop as soon as `out` is past `max`; the caller sees the overflow in its length.

/// Longest key written in implicit form, with a margin under the 1024 characters YAML allows
/// between the start of an implicit key and its `:`.
const IMPLICIT_KEY_MAX_CHARS: usize = 1000;

fn emit_map(m: &serde_json::Map<String, Value>, level: usize, max: usize, out: &mut String) {
    let mut first = true;
    for (k, v) in m {
        if out.len() > max {
            return;
        }
        if !first || !out.ends_with("- ") {
            indent(out, level);
        }
        first = false;
        let key = string(k);
        if key.chars().count() > IMPLICIT_KEY_MAX_CHARS {
            // An implicit key must end within 1024 characters of its start (YAML 1.2 §7.4.2);
            // a longer one is written as an explicit `? key` / `: value` pair.
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            indent(out, level);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        emit_child(v, level, max, out);
    }
}

fn emit_seq(a: &[Value], level: usize, max: usize, out: &mut String) {
    for v in a {
        if out.len() > max {
            return;
        }
        indent(out, level);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => emit_map(m, level + 2, max, out),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_seq(inner, level + 2, max, out);
            }
            other => {
                block_or_scalar(other, level + 2, max, out);
                out.push('\n');
            }
        }
    }
}

fn emit_child(v: &Value, level: usize, max: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(m, level + 2, max, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_seq(a, level, max, out);
        }
        other => {
            out.push(' ');
            block_or_scalar(other, level + 2, max, out);
            out.push('\n');
        }
    }
}

/// Multi-line strings become literal blocks (readable ConfigMap data); everything else a scalar.
fn block_or_scalar(v: &Value, level: usize, max: usize, out: &mut String) {
    if let Value::String(s) = v {
        let printable = s.chars().all(|c| c == '\n' || !c.is_control());
        if s.contains('\n') && printable && !s.starts_with([' ', '\n']) && !s.ends_with([' ', '\t'])
        {
            let chomp = if s.ends_with("\n\n") {
                "+"
            } else if s.ends_with('\n') {
                ""
            } else {
                "-"
            };
            out.push('|');
            out.push_str(chomp);
            // with "+", the extra trailing newlines are kept: split yields empty lines for them
            let body = s.strip_suffix('\n').unwrap_or(s);
            for line in body.split('\n') {
                if out.len() > max {
                    return;
                }
                out.push('\n');
                if !line.is_empty() {
                    indent(out, level);
                    out.push_str(line);
                }
            }
            return;
        }
    }
    out.push_str(&scalar(v));
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn string(s: &str) -> String {
    if needs_quotes(s) {
        // A JSON string is a valid YAML double-quoted scalar.
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    if crate::node::resolve_plain(s) != crate::node::ScalarValue::Str {
        return true;
    }
    // YAML 1.1 booleans and other words older readers resolve.
    const YAML11: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", "=", "<<",
    ];
    if YAML11.contains(&s) {
        return true;
    }
    // Numbers in forms YAML 1.1 reads (octal 0755, sexagesimal 1:30, underscores 1_000).
    if s.bytes()
        .all(|b| b.is_ascii_digit() || b"_:.+-eE".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit())
    {
        return true;
    }
    // at the start of a line, `...` ends the document (a top-level scalar starts a line)
    if s.starts_with("...") {
        return true;
    }
    let first = s.as_bytes()[0];
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) {
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return true;
    }
    s.chars().any(|c| c.is_control() || c == '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Node;
    use serde_json::json;

    #[test]
    fn emits_block_yaml_that_reads_back() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"a": "true", "b": "80"}},
            "data": {"multi": "line one\nline two\n", "plain": "hello world", "empty": ""},
            "list": [{"a": 1, "b": [1, 2]}, "yes", [], {}]});
        let text = to_yaml_string(&v);
        let back = crate::parse_stream(&text).unwrap_or_default();
        assert_eq!(back.len(), 1, "{text}");
        assert_eq!(back[0].to_json(), v, "{text}");
    }

    #[test]
    fn quotes_ambiguous_strings() {
        for s in [
            "true", "80", "0755", "1:30", "null", "- x", "a: b", "on", "", " x", "#c",
        ] {
            let text = to_yaml_string(&json!({ "k": s }));
            let back = crate::parse_stream(&text).unwrap_or_default();
            assert_eq!(back[0].to_json(), json!({ "k": s }), "{s:?} -> {text}");
        }
        // a top-level string starts a line, where `...` ends the document (found by the
        // yaml_reader fuzz target: "..." printed bare read back as null)
        for s in ["...", "... x", "---", "--- x"] {
            let text = to_yaml_string(&json!(s));
            let back = crate::parse_stream(&text).unwrap_or_default();
            assert_eq!(back.first().map(Node::to_json), Some(json!(s)), "{text}");
        }
    }

    #[test]
    fn keys_past_the_implicit_key_limit_read_back() {
        // found by the yaml_reader fuzz target: a 1,100-character key was written as an
        // implicit key, which readers refuse past 1,024 characters
        let long = "k\u{17}".repeat(550);
        for v in [
            json!({ long.clone(): "v" }),
            json!({ long.clone(): {"a": 1, "b": [1, 2]} }),
            json!({ long.clone(): [1, {"x": long.clone()}], "short": 1 }),
            json!([{ long.clone(): "v", "b": 2 }, { "a": { long.clone(): [] } }]),
        ] {
            let text = to_yaml_string(&v);
            let back = crate::parse_stream(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(back[0].to_json(), v, "{text}");
        }
    }

    #[test]
    fn bounded_emission_stops_early() {
        let v = json!({"a": {"b": {"c": "x\n".repeat(1000)}}});
        let full = to_yaml_string(&v);
        assert_eq!(to_yaml_string_within(&v, full.len()), Some(full.clone()));
        assert_eq!(to_yaml_string_within(&v, 100), None);
        assert_eq!(
            to_yaml_string_within(&json!("x"), 100).as_deref(),
            Some("x\n")
        );
    }
}
