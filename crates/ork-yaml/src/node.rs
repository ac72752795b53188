use serde_json::Value;

/// A 1-based line and column in a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

/// How a scalar was written. Only plain scalars are resolved to null, booleans and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    Quoted,
    Block,
}

/// The YAML 1.2 core-schema reading of a scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

/// A scalar keeps its literal text: string-typed Katalog fields accept `80` and `true` and keep
/// the text exactly as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub style: ScalarStyle,
    pub value: ScalarValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Pairs in source order; duplicates are kept so that a decoder can report them.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text when it is not null.
    pub fn as_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) if s.value != ScalarValue::Null => Some(&s.text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s) if s.value == ScalarValue::Null)
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The first value under a plain key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// A word for the node's type in error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) => match s.value {
                ScalarValue::Null => "null",
                ScalarValue::Bool(_) => "boolean",
                ScalarValue::Int(_) => "integer",
                ScalarValue::Float(_) => "number",
                ScalarValue::Str => "string",
            },
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "map",
        }
    }

    /// The JSON reading of the node (core schema). A later duplicate key wins, as in Kubernetes.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Scalar(s) => match s.value {
                ScalarValue::Null => Value::Null,
                ScalarValue::Bool(b) => Value::Bool(b),
                ScalarValue::Int(i) => Value::from(i),
                ScalarValue::Float(f) => serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(s.text.clone())),
                ScalarValue::Str => Value::String(s.text.clone()),
            },
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(pairs) => {
                let mut map = serde_json::Map::new();
                for (k, v) in pairs {
                    let key = match &k.kind {
                        NodeKind::Scalar(s) => s.text.clone(),
                        _ => k.to_json().to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                Value::Object(map)
            }
        }
    }
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
pub(crate) fn resolve_plain(text: &str) -> ScalarValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarValue::Null,
        "true" | "True" | "TRUE" => return ScalarValue::Bool(true),
        "false" | "False" | "FALSE" => return ScalarValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return ScalarValue::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return ScalarValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return ScalarValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty()
            && oct.bytes().all(|b| (b'0'..=b'7').contains(&b))
            && let Ok(i) = i64::from_str_radix(oct, 8)
        {
            return ScalarValue::Int(i);
        }
        return ScalarValue::Str;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty()
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(i) = i64::from_str_radix(hex, 16)
        {
            return ScalarValue::Int(i);
        }
        return ScalarValue::Str;
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(i) => ScalarValue::Int(i),
            Err(_) => ScalarValue::Str,
        };
    }
    if is_core_float(digits)
        && let Ok(f) = text.parse::<f64>()
    {
        return ScalarValue::Float(f);
    }
    ScalarValue::Str
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` without the sign.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    } else if int_digits == 0 {
        return false;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain("80"), ScalarValue::Int(80));
        assert_eq!(resolve_plain("-3"), ScalarValue::Int(-3));
        assert_eq!(resolve_plain("0x1F"), ScalarValue::Int(31));
        assert_eq!(resolve_plain("0.5"), ScalarValue::Float(0.5));
        assert_eq!(resolve_plain("1e3"), ScalarValue::Float(1000.0));
        assert_eq!(resolve_plain("yes"), ScalarValue::Str);
        assert_eq!(resolve_plain("on"), ScalarValue::Str);
        assert_eq!(resolve_plain("True"), ScalarValue::Bool(true));
        assert_eq!(resolve_plain("~"), ScalarValue::Null);
        assert_eq!(resolve_plain("1.2.3"), ScalarValue::Str);
        assert_eq!(resolve_plain("."), ScalarValue::Str);
        assert_eq!(resolve_plain("99999999999999999999"), ScalarValue::Str);
    }
}
