//! What `ork simulate` reads (docs/cli.md §5): Simulate documents, Katalogs and CR files, each
//! within the budgets and through `ork_io::read_text`; directories searched recursively.

use std::path::{Path, PathBuf};

use ork_limits::Limits;
use ork_policy::PreparedKatalog;
use serde_json::Value;

use crate::doc::{self, SimulateDoc};

/// What an input file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Simulate,
    Katalog,
    E2E,
}

/// A file's YAML documents within `limits`; the error names the file, line and column.
fn documents(path: &Path, limits: &Limits) -> Result<(ork_io::Input, Vec<ork_yaml::Node>), String> {
    let input = ork_io::read_text(path, limits).map_err(|e| e.to_string())?;
    let docs = ork_yaml::parse_stream_with(&input.text, limits).map_err(|e| {
        format!(
            "{}:{}:{}: error: {}: {}",
            ork_io::escape_control(&input.name),
            e.span.line,
            e.span.col,
            e.what(),
            e.message
        )
    })?;
    Ok((input, docs))
}

/// The kind of the file's first document; any other kind is an error.
pub fn kind_of(path: &Path, limits: &Limits) -> Result<Kind, String> {
    let (input, docs) = documents(path, limits)?;
    let first = docs.iter().find(|d| !d.is_null()).map(|d| d.to_json());
    let kind = first
        .as_ref()
        .and_then(|d| d.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match kind {
        "Simulate" => Ok(Kind::Simulate),
        "Katalog" => Ok(Kind::Katalog),
        "E2E" => Ok(Kind::E2E),
        other => Err(format!(
            "{}: kind {:?}: expected a Simulate document, a Katalog or an E2E scenario",
            ork_io::escape_control(&input.name),
            ork_io::escape_control(other)
        )),
    }
}

/// The files named `name` under `dir` (recursively, in path order; symbolic links and hidden
/// directories are not followed).
pub fn find(dir: &Path, name: &str) -> Result<Vec<PathBuf>, String> {
    let w = ork_io::walk(dir, &["yaml"]).map_err(|e| e.to_string())?;
    Ok(w.files
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == name))
        .collect())
}

/// Reads and decodes a Simulate document; errors are printable diagnostics.
pub fn simulate_file(path: &Path, limits: &Limits) -> Result<SimulateDoc, Vec<String>> {
    let input = ork_io::read_text(path, limits).map_err(|e| vec![e.to_string()])?;
    let dir = path.parent().unwrap_or(Path::new("."));
    doc::decode(&input.text, &input.name, dir, limits)
        .map_err(|d| d.iter().map(ToString::to_string).collect())
}

/// Loads, validates and prepares a Katalog; errors are printable diagnostics.
pub fn katalog(path: &Path, limits: &Limits) -> Result<PreparedKatalog, Vec<String>> {
    let outcome = ork_katalog::load_file_with(path, limits);
    let shown = ork_io::escape_control(&path.display().to_string()).into_owned();
    let Some(k) = outcome.katalog else {
        let mut out: Vec<String> = outcome
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        out.push(format!("✗ {shown}: the Katalog is invalid"));
        return Err(out);
    };
    PreparedKatalog::with_limits(&k, *limits).map_err(|e| vec![format!("✗ {shown}: {e}")])
}

/// The CR documents of a file, in order (empty documents skipped).
pub fn crs(path: &Path, limits: &Limits) -> Result<Vec<Value>, String> {
    let (input, docs) = documents(path, limits)?;
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| !d.is_null()) {
        let v = d.to_json();
        if !v.is_object() {
            return Err(format!(
                "{}:{}:{}: error: a CR is a map, got {}",
                ork_io::escape_control(&input.name),
                d.span.line,
                d.span.col,
                d.type_name()
            ));
        }
        out.push(v);
    }
    Ok(out)
}
