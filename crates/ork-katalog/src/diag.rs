//! Diagnostics: every problem names the file, line, column and dotted field path.

use std::fmt;

use ork_io::escape_control;
use ork_yaml::Span;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    #[serde(skip)]
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// One diagnostic per line (plus its hint line): file names, paths, keys and values in a
/// message come from the user's file, so their control characters are escaped — a raw ESC
/// could rewrite the terminal and a raw newline could forge a diagnostic.
impl Diagnostic {
    /// True when the message already says where (`… at spec.crds.web.onCreate.deployments[0]`
    /// for a problem with a key below it): the path is not printed a second time.
    fn names_a_location(&self) -> bool {
        let mut p = self.path.as_str();
        loop {
            if self.message.contains(&format!(" at {p}")) {
                return true;
            }
            match p.rfind(['.', '[']) {
                Some(i) if i > 0 => p = &p[..i],
                _ => return false,
            }
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            escape_control(&self.file),
            self.line,
            self.column,
            escape_control(&self.message)
        )?;
        if !self.path.is_empty() && !self.names_a_location() {
            write!(f, " at {}", escape_control(&self.path))?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {}", escape_control(h))?;
        }
        Ok(())
    }
}

/// Where each dotted path of a loaded file starts.
///
/// Positions are resolved on demand by walking the kept YAML tree: only diagnostics need them,
/// so a valid Katalog pays nothing for the index (an eager map of every path was a fifth of
/// `ork validate`'s time).
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    root: Option<ork_yaml::Node>,
}

/// Splits a condition path: leading `.` optional, `[N]` indexes, `["a.b/c"]` quoted keys.
pub fn split_path(field: &str) -> Vec<String> {
    let f = field.trim().trim_start_matches('.');
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let mut inner = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    inner.push(d);
                }
                out.push(inner.trim_matches('"').trim_matches('\'').to_string());
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The (key, value) of one step below `node`.
fn step<'a>(
    node: &'a ork_yaml::Node,
    seg: &str,
) -> Option<(Option<&'a ork_yaml::Node>, &'a ork_yaml::Node)> {
    // split_path has already removed the quotes of `["a.b/c"]` keys
    match &node.kind {
        ork_yaml::NodeKind::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_text() == Some(seg))
            .map(|(k, v)| (Some(k), v)),
        ork_yaml::NodeKind::Seq(items) => seg
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i))
            .map(|v| (None, v)),
        ork_yaml::NodeKind::Scalar(_) => None,
    }
}

/// The deepest (key, value) nodes along `path`, and whether the whole path resolved.
fn walk<'a>(
    root: &'a ork_yaml::Node,
    path: &str,
) -> (Option<&'a ork_yaml::Node>, &'a ork_yaml::Node, bool) {
    let mut node = root;
    let mut key = None;
    let segs = split_path(path);
    for (i, seg) in segs.iter().enumerate() {
        match step(node, seg) {
            Some((k, v)) => {
                key = k;
                node = v;
            }
            None => {
                // a condition's normalized `value` is the value of its operator key
                if seg == "value"
                    && i + 1 == segs.len()
                    && let Some(pairs) = node.as_map()
                    && let Some((k, v)) = pairs
                        .iter()
                        .find(|(k, _)| k.as_text().and_then(crate::schema::operator).is_some())
                {
                    return (Some(k), v, true);
                }
                return (key, node, false);
            }
        }
    }
    (key, node, true)
}

/// The position of `path` inside any document (nearest existing ancestor when the path does not
/// resolve): diagnostics of Katalogs and findings of `ork scan` locate lines the same way.
pub fn locate(root: &ork_yaml::Node, path: &str) -> Span {
    walk(root, path).1.span
}

impl SpanIndex {
    pub fn new(root: ork_yaml::Node) -> Self {
        SpanIndex { root: Some(root) }
    }

    /// The document the index resolves against.
    pub fn root(&self) -> Option<&ork_yaml::Node> {
        self.root.as_ref()
    }

    /// The position of a path's value, else of its nearest existing ancestor.
    pub fn value(&self, path: &str) -> Span {
        self.root
            .as_ref()
            .map(|r| locate(r, path))
            .unwrap_or(Span { line: 1, col: 1 })
    }

    /// The position of a path's key (its value's, for list items and missing keys).
    pub fn key(&self, path: &str) -> Span {
        match self.root.as_ref().map(|r| walk(r, path)) {
            Some((Some(k), _, true)) => k.span,
            Some((_, v, _)) => v.span,
            None => Span { line: 1, col: 1 },
        }
    }
}

/// Collects diagnostics for one file.
#[derive(Debug, Clone)]
pub struct Sink {
    pub file: String,
    pub diags: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: impl Into<String>) -> Self {
        Sink {
            file: file.into(),
            diags: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        severity: Severity,
        span: Span,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line: span.line,
            column: span.col,
            path: path.to_string(),
            message: message.into(),
            hint,
        });
    }

    pub fn error(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, span, path, message, None);
    }

    pub fn error_hint(
        &mut self,
        span: Span,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, span, path, message, Some(hint.into()));
    }

    pub fn warn(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, span, path, message, None);
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }
}

/// The closest candidate within edit distance 2 (case differences count as near).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(word) {
                0
            } else {
                strsim::levenshtein(word, c)
                    .min(strsim::levenshtein(&word.to_lowercase(), &c.to_lowercase()) + 1)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Joins a parent path and a key (`a.b`), quoting keys that contain dots.
pub fn join(parent: &str, key: &str) -> String {
    let k = if key.contains('.') || key.contains('/') {
        format!("[\"{key}\"]")
    } else {
        key.to_string()
    };
    if parent.is_empty() {
        k
    } else if k.starts_with('[') {
        format!("{parent}{k}")
    } else {
        format!("{parent}.{k}")
    }
}

pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_control_characters_from_the_file() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: "k\u{1b}]0;pwned\u{7}.yaml".into(),
            line: 3,
            column: 5,
            path: "spec.crds.a\u{1b}[2J".into(),
            message: "unknown field \"x\ny.yaml:1:1: error: forged\"".into(),
            hint: Some("did you mean \u{9b}31m?".into()),
        };
        assert_eq!(
            d.to_string(),
            "k\\x1b]0;pwned\\x07.yaml:3:5: error: unknown field \"x\\ny.yaml:1:1: error: forged\" \
             at spec.crds.a\\x1b[2J\n  hint: did you mean \\u{9b}31m?"
        );
    }
}
