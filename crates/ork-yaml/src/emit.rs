//! A small deterministic YAML emitter for JSON values.
//!
//! Block style, two-space indentation, keys in the value's order (serde_json maps are sorted),
//! strings quoted whenever a YAML 1.1 or 1.2 reader could take them for anything but a string,
//! so kubectl, Helm and ork read back exactly what was printed.

use serde_json::Value;

/// One document without the `---` separator, ending in a newline.
pub fn to_yaml_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => emit_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
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

fn emit_map(m: &serde_json::Map<String, Value>, level: usize, out: &mut String) {
    let mut first = true;
    for (k, v) in m {
        if !first || !out.ends_with("- ") {
            indent(out, level);
        }
        first = false;
        out.push_str(&string(k));
        out.push(':');
        emit_child(v, level, out);
    }
}

fn emit_seq(a: &[Value], level: usize, out: &mut String) {
    for v in a {
        indent(out, level);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => emit_map(m, level + 2, out),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_seq(inner, level + 2, out);
            }
            other => {
                out.push_str(&block_or_scalar(other, level + 2));
                out.push('\n');
            }
        }
    }
}

fn emit_child(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(m, level + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_seq(a, level, out);
        }
        other => {
            out.push(' ');
            out.push_str(&block_or_scalar(other, level + 2));
            out.push('\n');
        }
    }
}

/// Multi-line strings become literal blocks (readable ConfigMap data); everything else a scalar.
fn block_or_scalar(v: &Value, level: usize) -> String {
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
            let mut out = format!("|{chomp}");
            let body = s.strip_suffix('\n').unwrap_or(s);
            for line in body.split('\n') {
                out.push('\n');
                if !line.is_empty() {
                    indent(&mut out, level);
                    out.push_str(line);
                }
            }
            if chomp == "+" {
                // keep the extra trailing newlines: split produced empty lines for them already
            }
            return out;
        }
    }
    scalar(v)
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
    }
}
