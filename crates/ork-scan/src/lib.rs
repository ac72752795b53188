//! `ork scan` (docs/checks.md §6–§9): reads Kubernetes YAML/JSON and Katalogs, runs the policy core's
//! checks, locates every finding by file and line, applies suppression annotations and
//! `--skip`, and orders the result deterministically. Files are parsed and checked in parallel.

mod output;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ork_limits::Limits;

use ork_policy::checks::{self, Context, Severity};
use ork_yaml::{Node, NodeKind};
use rayon::prelude::*;
use serde_json::Value;

pub use output::{json, junit, sarif, text};

/// Prefix of the suppression annotation: `ork.io/ignore-check.<id>: "<reason>"`.
pub const SUPPRESS_PREFIX: &str = "ork.io/ignore-check.";

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// checks disabled entirely
    pub skip: Vec<String>,
    /// CR files rendered through Katalogs of matching kind
    pub crs: Vec<PathBuf>,
    /// budgets for every file read (inputs, `--cr`, `crFiles`, `crdFile`)
    pub limits: Limits,
}

/// One located finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub check: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub container: Option<String>,
    pub message: String,
    pub remediation: &'static str,
    /// the reason of a valid suppression annotation
    pub suppressed: Option<String>,
}

/// One scanned object and the checks that applied to it.
#[derive(Debug, Clone)]
pub struct Scanned {
    pub file: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub checks: Vec<&'static str>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// every finding, suppressed ones included, in output order
    pub findings: Vec<Located>,
    /// every object, in input order
    pub scanned: Vec<Scanned>,
    pub objects: usize,
    pub files: usize,
    /// documents without apiVersion and kind skipped during directory walks
    pub skipped_documents: usize,
    /// entries of walked directories that were not read: special files and symbolic links
    pub skipped_files: Vec<ork_io::Skipped>,
}

impl Report {
    /// Unsuppressed findings at or above `min`.
    pub fn visible(&self, min: Severity) -> impl Iterator<Item = &Located> {
        self.findings
            .iter()
            .filter(move |f| f.suppressed.is_none() && f.severity >= min)
    }
}

/// Bad input: unreadable file, YAML syntax error, duplicate key, invalid Katalog, unknown id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct Source {
    /// shown in output: relative, `/`-separated, or `<stdin>`
    shown: String,
    path: Option<PathBuf>,
    text: String,
    /// named explicitly (a file without Kubernetes objects is then an error)
    explicit: bool,
}

/// One object to check and where its lines come from.
struct Object {
    file: String,
    value: Value,
    /// the document node (for line lookup) or a fixed line (Katalog children)
    node: Option<Node>,
    line: u32,
    /// a Katalog CR that did not render: reported as `katalog-render-failed`, not checked
    render_failure: Option<checks::Finding>,
}

fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd
        .as_deref()
        .and_then(|c| path.strip_prefix(c).ok())
        .unwrap_or(path);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Reads the inputs: files as given, directories walked for regular manifest files, `-` from
/// stdin; every read bounded by `limits.file_bytes`. Also returns what the walks skipped.
fn sources(
    paths: &[PathBuf],
    limits: &Limits,
) -> Result<(Vec<Source>, Vec<ork_io::Skipped>), InputError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        if p.as_os_str() != "-" && p.is_dir() {
            let walk = ork_io::walk(p, ork_io::MANIFEST_EXTENSIONS).map_err(read_error)?;
            skipped.extend(walk.skipped);
            for f in walk.files {
                let input = ork_io::read_walked(&f, limits).map_err(read_error)?;
                out.push(Source {
                    shown: shown(&f),
                    path: Some(f),
                    text: input.text,
                    explicit: false,
                });
            }
        } else {
            let input = ork_io::read_text(p, limits).map_err(read_error)?;
            out.push(Source {
                shown: input.path.as_deref().map_or(input.name, shown),
                path: input.path,
                text: input.text,
                explicit: true,
            });
        }
    }
    Ok((out, skipped))
}

fn read_error(e: ork_io::ReadError) -> InputError {
    InputError(e.to_string())
}

/// The first repeated key in document order. Keys seen are kept in a set: comparing each key
/// with all before it took over a minute on a ConfigMap of 200,000 keys.
fn duplicate_key(node: &Node) -> Option<(ork_yaml::Span, String)> {
    match &node.kind {
        NodeKind::Map(pairs) => {
            let mut seen: HashSet<&str> = HashSet::with_capacity(pairs.len());
            for (k, v) in pairs {
                // a key without text (null, a collection) repeats nothing and is not kept
                let text = k.as_text();
                let key = text.unwrap_or_default();
                if seen.contains(key) {
                    return Some((k.span, key.to_string()));
                }
                if let Some(t) = text {
                    seen.insert(t);
                }
                if let Some(d) = duplicate_key(v) {
                    return Some(d);
                }
            }
            None
        }
        NodeKind::Seq(items) => items.iter().find_map(duplicate_key),
        NodeKind::Scalar(_) => None,
    }
}

/// A budget refusal is not a syntax error: the file may be valid YAML, only too much of it.
fn is_k8s(v: &Value) -> bool {
    v.get("apiVersion").and_then(Value::as_str).is_some()
        && v.get("kind").and_then(Value::as_str).is_some()
}

/// Parses one source into objects (Lists expanded, Katalogs rendered).
fn objects_of(src: &Source, opts: &Options) -> Result<(Vec<Object>, usize), InputError> {
    let docs = ork_yaml::parse_stream_with(&src.text, &opts.limits).map_err(|e| {
        InputError(format!(
            "{}:{}:{}: {}: {}",
            src.shown,
            e.span.line,
            e.span.col,
            e.what(),
            e.message
        ))
    })?;
    let mut objects = Vec::new();
    let mut skipped = 0;
    for doc in docs {
        if let Some((span, key)) = duplicate_key(&doc) {
            return Err(InputError(format!(
                "{}:{}:{}: duplicate key {key:?}",
                src.shown, span.line, span.col
            )));
        }
        let v = doc.to_json();
        if !is_k8s(&v) {
            skipped += 1;
            continue;
        }
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if v.get("apiVersion").and_then(Value::as_str) == Some(ork_katalog::pipeline::API_VERSION)
            && (kind == "Katalog" || kind == "Komposer")
        {
            objects.extend(katalog_children(src, opts)?);
            continue;
        }
        if (kind == "List" || kind.ends_with("List")) && v.get("items").is_some_and(Value::is_array)
        {
            if let Some(items) = doc.get("items").and_then(Node::as_seq) {
                for item in items {
                    let iv = item.to_json();
                    if is_k8s(&iv) {
                        objects.push(Object {
                            file: src.shown.clone(),
                            value: iv,
                            line: item.span.line,
                            node: Some(item.clone()),
                            render_failure: None,
                        });
                    }
                }
            }
            continue;
        }
        objects.push(Object {
            file: src.shown.clone(),
            value: v,
            line: doc.span.line,
            node: Some(doc),
            render_failure: None,
        });
    }
    if objects.is_empty() && src.explicit {
        return Err(InputError(format!(
            "{}: no Kubernetes object (apiVersion and kind) in this file",
            src.shown
        )));
    }
    Ok((objects, skipped))
}

/// The children a Katalog renders, located at the line of their producing entry.
fn katalog_children(src: &Source, opts: &Options) -> Result<Vec<Object>, InputError> {
    let dir = src
        .path
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let outcome = ork_katalog::load_str_with(&src.text, &src.shown, &dir, &opts.limits);
    let Some(k) = outcome.katalog else {
        let first = outcome
            .errors()
            .next()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(InputError(format!(
            "{}: invalid Katalog\n{first}",
            src.shown
        )));
    };
    let mut crs: Vec<Value> = Vec::new();
    for f in k
        .crds
        .iter()
        .flat_map(|c| c.cr_files.iter())
        .chain(opts.crs.iter())
    {
        let text = ork_io::read_text(f, &opts.limits).map_err(read_error)?.text;
        let docs = ork_yaml::parse_stream_with(&text, &opts.limits).map_err(|e| {
            InputError(format!(
                "{}:{}: {}: {}",
                f.display(),
                e.span.line,
                e.what(),
                e.message
            ))
        })?;
        crs.extend(docs.iter().map(Node::to_json));
    }
    let render = ork_render::Options {
        seed: Some(0),
        now: None,
        without_backstop: true,
    };
    let prepared = ork_policy::PreparedKatalog::with_limits(&k, opts.limits)
        .map_err(|e| InputError(format!("{}: {e}", src.shown)))?;
    let mut out = Vec::new();
    for (crd, pcrd) in k
        .crds
        .iter()
        .zip(&prepared.crds)
        .filter(|(c, _)| c.entry.enabled)
    {
        let mut mine: Vec<Value> = crs
            .iter()
            .filter(|cr| {
                cr.get("kind").and_then(Value::as_str) == Some(crd.api.kind.as_str())
                    && cr
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.split('/').next() == Some(crd.api.group.as_str()))
            })
            .cloned()
            .collect();
        if mine.is_empty() {
            // neither crFiles nor --cr: one CR from the schema defaults
            let ns = if crd.api.namespaced {
                serde_json::json!("default")
            } else {
                Value::Null
            };
            let spec = crd
                .entry
                .crd_file
                .as_ref()
                .and_then(|f| ork_katalog::pipeline::crd_spec_defaults(&dir.join(f), &opts.limits))
                .unwrap_or_else(|| serde_json::json!({}));
            mine.push(serde_json::json!({"apiVersion": crd.api.api_version(), "kind": crd.api.kind,
                "metadata": {"name": "example", "namespace": ns, "uid": "00000000-0000-0000-0000-000000000000"}, "spec": spec}));
        }
        for cr in mine {
            // a cycle that fails renders nothing to scan: say so, never skip it silently
            let cycle = match ork_render::render_cycle(&prepared, pcrd, &cr, &render) {
                Ok(c) => c,
                Err(f) => {
                    let name = cr
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    out.push(Object {
                        file: src.shown.clone(),
                        line: k.spans.key(&crd.path).line,
                        node: None,
                        render_failure: Some(checks::Finding {
                            check: "katalog-render-failed",
                            container: None,
                            message: format!(
                                "{} {name} (entry {}) does not render: Ready=False {}: {}",
                                crd.api.kind, crd.name, f.reason, f.message
                            ),
                            at: String::new(),
                        }),
                        value: cr,
                    });
                    continue;
                }
            };
            for child in cycle.children {
                let line = k
                    .spans
                    .value(&format!(
                        "{}.operatorBox.{}",
                        crd.path,
                        strip_expansion(&child.entry)
                    ))
                    .line;
                out.push(Object {
                    file: src.shown.clone(),
                    value: child.object,
                    node: None,
                    line,
                    render_failure: None,
                });
            }
        }
    }
    Ok(out)
}

/// `onCreate.deployments[0][2]` (a forEach expansion) → `onCreate.deployments[0]`.
fn strip_expansion(entry: &str) -> &str {
    match entry.match_indices('[').nth(1) {
        Some((i, _)) => &entry[..i],
        None => entry,
    }
}

/// An object read from the inputs, with where it came from.
pub struct Loaded {
    pub file: String,
    pub line: u32,
    pub value: Value,
}

/// Every Kubernetes object of the inputs (files, directories, stdin, Lists expanded, Katalog
/// children rendered), in input order.
/// Also returns the entries the directory walks skipped.
pub fn load(
    paths: &[PathBuf],
    opts: &Options,
) -> Result<(Vec<Loaded>, Vec<ork_io::Skipped>), InputError> {
    let (sources, skipped) = sources(paths, &opts.limits)?;
    let mut out = Vec::new();
    for s in &sources {
        let (objects, _) = objects_of(s, opts)?;
        out.extend(objects.into_iter().map(|o| Loaded {
            file: o.file,
            line: o.line,
            value: o.value,
        }));
    }
    Ok((out, skipped))
}

/// Scans paths (`-` is stdin).
pub fn scan(paths: &[PathBuf], opts: &Options) -> Result<Report, InputError> {
    for id in &opts.skip {
        if checks::check(id).is_none() {
            return Err(InputError(format!("--skip {id}: no such check")));
        }
    }
    let (sources, skipped_files) = sources(paths, &opts.limits)?;
    let parsed: Vec<Result<(Vec<Object>, usize), InputError>> =
        sources.par_iter().map(|s| objects_of(s, opts)).collect();
    let mut objects = Vec::new();
    let mut skipped = 0;
    for p in parsed {
        let (o, s) = p?;
        objects.extend(o);
        skipped += s;
    }
    let ctx = Context::from_objects(objects.iter().map(|o| &o.value));
    let values: Vec<&Value> = objects.iter().map(|o| &o.value).collect();
    let mut set_level: Vec<Vec<checks::Finding>> = vec![Vec::new(); objects.len()];
    for (i, f) in checks::missing_network_policy(&values) {
        set_level[i].push(f);
    }
    let mut findings: Vec<Located> = objects
        .par_iter()
        .zip(set_level)
        .flat_map_iter(|(o, extra)| {
            let found = match &o.render_failure {
                Some(f) => vec![f.clone()],
                None => {
                    let mut found = checks::check_object(&o.value, &ctx);
                    found.extend(extra);
                    found
                }
            };
            locate(o, found, opts)
        })
        .collect();
    findings.sort_by(|a, b| {
        (
            a.file.as_str(),
            a.line,
            a.check,
            a.container.as_deref(),
            a.message.as_str(),
        )
            .cmp(&(
                b.file.as_str(),
                b.line,
                b.check,
                b.container.as_deref(),
                b.message.as_str(),
            ))
    });
    let scanned = objects
        .iter()
        .map(|o| Scanned {
            file: o.file.clone(),
            kind: o
                .value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            namespace: o
                .value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string),
            name: o
                .value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            checks: match &o.render_failure {
                Some(f) => vec![f.check],
                None => checks::applicable(&o.value),
            }
            .into_iter()
            .filter(|id| !opts.skip.iter().any(|s| s == id))
            .collect(),
        })
        .collect();
    Ok(Report {
        findings,
        scanned,
        objects: objects.len(),
        files: sources.len(),
        skipped_documents: skipped,
        skipped_files,
    })
}

/// Lines, suppression and `--skip` for one object's findings.
fn locate(o: &Object, found: Vec<checks::Finding>, opts: &Options) -> Vec<Located> {
    let v = &o.value;
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = v
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    let line_of = |at: &str| match &o.node {
        Some(n) if !at.is_empty() => ork_katalog::diag::locate(n, at).line,
        _ => o.line,
    };
    let mut suppress: Vec<(String, String)> = Vec::new();
    let mut extra: Vec<checks::Finding> = Vec::new();
    for (k, val) in v
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(id) = k.strip_prefix(SUPPRESS_PREFIX) else {
            continue;
        };
        let at = format!("metadata.annotations[\"{k}\"]");
        let reason = val.as_str().unwrap_or("").trim().to_string();
        if checks::check(id).is_none() {
            extra.push(checks::Finding {
                check: "suppression-unknown-check",
                container: None,
                message: format!("{k}: no check has the id {id:?}"),
                at,
            });
        } else if reason.is_empty() {
            extra.push(checks::Finding {
                check: "suppression-without-reason",
                container: None,
                message: format!("{k} has no reason; the suppression is void"),
                at,
            });
        } else if !id.starts_with("suppression-") {
            suppress.push((id.to_string(), reason));
        }
    }
    found
        .into_iter()
        .chain(extra)
        .filter(|f| !opts.skip.iter().any(|s| s == f.check))
        .map(|f| {
            let check = checks::check(f.check);
            Located {
                check: f.check,
                severity: check.map(|c| c.severity).unwrap_or(Severity::Low),
                file: o.file.clone(),
                line: line_of(&f.at),
                kind: kind.clone(),
                namespace: namespace.clone(),
                name: name.clone(),
                container: f.container,
                message: f.message,
                remediation: check.map(|c| c.remediation).unwrap_or(""),
                suppressed: suppress
                    .iter()
                    .find(|(id, _)| id == f.check)
                    .map(|(_, r)| r.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn duplicate_keys_are_found_in_linear_time_first_one_first() {
        let mut src =
            String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n");
        for i in 0..200_000 {
            src.push_str(&format!("  k{i}: v\n"));
        }
        src.push_str("  k7: again\n  k3: again\n");
        let docs = ork_yaml::parse_stream(&src).unwrap_or_default();
        let start = Instant::now();
        let found = duplicate_key(&docs[0]);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            found.map(|(span, key)| (span.line, key)),
            Some((200_005, "k7".to_string()))
        );
        // a nested duplicate before a later top-level one is found first; null keys repeat nothing
        let docs = ork_yaml::parse_stream("a: {x: 1, x: 2}\nb: 1\nb: 2\n? \n: 1\n? \n: 2\n")
            .unwrap_or_default();
        assert_eq!(
            duplicate_key(&docs[0]).map(|(s, k)| (s.line, k)),
            Some((1, "x".to_string()))
        );
        let docs = ork_yaml::parse_stream("? \n: 1\n? \n: 2\n").unwrap_or_default();
        assert_eq!(duplicate_key(&docs[0]), None);
    }
}
