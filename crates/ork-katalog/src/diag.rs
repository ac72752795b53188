//! Diagnostics: every problem names the file, line, column and dotted field path.

use std::collections::HashMap;
use std::fmt;

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

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if !self.path.is_empty() && !self.message.contains(&format!(" at {}", self.path)) {
            write!(f, " at {}", self.path)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Where each dotted path of a loaded file starts: values and keys.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    pub values: HashMap<String, Span>,
    pub keys: HashMap<String, Span>,
}

impl SpanIndex {
    /// The position of a path's value, else of its nearest recorded ancestor.
    pub fn value(&self, path: &str) -> Span {
        let mut p = path;
        loop {
            if let Some(s) = self.values.get(p) {
                return *s;
            }
            match parent(p) {
                Some(up) => p = up,
                None => return Span { line: 1, col: 1 },
            }
        }
    }

    /// The position of a path's key (falls back to the value).
    pub fn key(&self, path: &str) -> Span {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }
}

fn parent(p: &str) -> Option<&str> {
    if p.is_empty() {
        return None;
    }
    let cut = p.rfind(['.', '[']).unwrap_or(0);
    Some(&p[..cut])
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
