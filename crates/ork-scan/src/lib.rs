//! `ork scan` (docs/checks.md §6–§9): reads Kubernetes YAML/JSON and Katalogs, runs the policy core's
//! checks, locates every finding by file and line, applies suppression annotations and
//! `--skip`, and orders the result deterministically. Files are read, parsed and checked in
//! parallel.
//!
//! Memory stays bounded by what is reported, not by what is read: each object is checked while
//! its YAML tree is at hand and then dropped, keeping only its findings, what the JUnit report
//! needs of it, and the few facts the set-level checks decide on once every file is read
//! (`ork_policy::checks::Facts`). A List is read item by item (`ork_yaml::parse_stream_visit`).

mod output;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ork_limits::Limits;

use ork_policy::checks::{self, Automount, Context, NetworkPolicies, Severity, Workload};
use ork_yaml::{Node, NodeKind, Visit};
use rayon::prelude::*;
use serde_json::Value;

pub use output::{json, junit, sarif, text, write_json, write_junit, write_sarif, write_text};

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

/// What findings are about: one scanned object's file and identity. Shared by the object's
/// findings and its JUnit record, so 100,000 objects with four findings each hold their names
/// once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    /// shown in output: relative, `/`-separated, or `<stdin>`; shared by a file's objects
    pub file: Arc<str>,
    pub kind: Arc<str>,
    pub namespace: Option<Arc<str>>,
    pub name: Box<str>,
}

/// One located finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub check: &'static str,
    pub severity: Severity,
    pub line: u32,
    pub subject: Arc<Subject>,
    pub container: Option<Arc<str>>,
    pub message: Arc<str>,
    /// the reason of a valid suppression annotation
    pub suppressed: Option<Arc<str>>,
}

impl Located {
    pub fn file(&self) -> &str {
        &self.subject.file
    }

    pub fn kind(&self) -> &str {
        &self.subject.kind
    }

    pub fn namespace(&self) -> Option<&str> {
        self.subject.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        &self.subject.name
    }

    /// The check's remediation from the catalogue (empty for an id it does not have).
    pub fn remediation(&self) -> &'static str {
        checks::check(self.check).map_or("", |c| c.remediation)
    }
}

/// One scanned object: what the JUnit report needs to list the checks that applied to it.
#[derive(Debug, Clone)]
pub struct Scanned {
    pub subject: Arc<Subject>,
    /// API group of the object (`""` for core)
    pub group: Arc<str>,
    pub pod_bearing: bool,
    /// a Katalog CR that did not render: only `katalog-render-failed` applied
    pub render_failed: bool,
}

impl Scanned {
    /// The checks that applied, `skip` left out: `checks::applicable_to`, computed when asked
    /// rather than stored for every object.
    pub fn checks(&self, skip: &[String]) -> Vec<&'static str> {
        let ids = if self.render_failed {
            vec!["katalog-render-failed"]
        } else {
            checks::applicable_to(&self.group, &self.subject.kind, self.pod_bearing)
        };
        ids.into_iter()
            .filter(|id| !skip.iter().any(|s| s == id))
            .collect()
    }
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
    /// the checks disabled by `--skip`
    pub skipped_checks: Vec<String>,
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

/// A file to read: named on the command line (or `-`), or found by a directory walk.
struct Input {
    path: PathBuf,
    walked: bool,
}

struct Source {
    /// shown in output: relative, `/`-separated, or `<stdin>`
    shown: Arc<str>,
    path: Option<PathBuf>,
    text: String,
    /// named explicitly (a file without Kubernetes objects is then an error)
    explicit: bool,
}

/// One object to check and where its lines come from.
struct Object<'n> {
    value: Value,
    /// the document or item node (for line lookup) or a fixed line (Katalog children)
    node: Option<&'n Node>,
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

/// The files to read: files as given, directories walked for regular manifest files, `-` for
/// stdin. Also returns what the walks skipped, and the error of a walk that failed (the inputs
/// listed are those before it).
fn inputs(paths: &[PathBuf]) -> (Vec<Input>, Vec<ork_io::Skipped>, Option<InputError>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        if p.as_os_str() != "-" && p.is_dir() {
            match ork_io::walk(p, ork_io::MANIFEST_EXTENSIONS) {
                Ok(walk) => {
                    skipped.extend(walk.skipped);
                    out.extend(
                        walk.files
                            .into_iter()
                            .map(|path| Input { path, walked: true }),
                    );
                }
                Err(e) => return (out, skipped, Some(read_error(e))),
            }
        } else {
            out.push(Input {
                path: p.clone(),
                walked: false,
            });
        }
    }
    (out, skipped, None)
}

/// Reads one input, bounded by `limits.file_bytes`.
fn read(input: &Input, limits: &Limits) -> Result<Source, InputError> {
    if input.walked {
        let read = ork_io::read_walked(&input.path, limits).map_err(read_error)?;
        return Ok(Source {
            shown: shown(&input.path).into(),
            path: Some(input.path.clone()),
            text: read.text,
            explicit: false,
        });
    }
    let read = ork_io::read_text(&input.path, limits).map_err(read_error)?;
    Ok(Source {
        shown: read.path.as_deref().map_or(read.name, shown).into(),
        path: read.path,
        text: read.text,
        explicit: true,
    })
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

/// A Kubernetes object has a string `apiVersion` and `kind`.
fn is_k8s(v: &Value) -> bool {
    v.get("apiVersion").and_then(Value::as_str).is_some()
        && v.get("kind").and_then(Value::as_str).is_some()
}

/// `kind: List`, or any `…List` kind, with an `items` array.
fn is_list(v: &Value) -> bool {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    (kind == "List" || kind.ends_with("List")) && v.get("items").is_some_and(Value::is_array)
}

fn duplicate_error(src: &Source, (span, key): (ork_yaml::Span, String)) -> InputError {
    InputError(format!(
        "{}:{}:{}: duplicate key {key:?}",
        src.shown, span.line, span.col
    ))
}

/// The children a Katalog renders, located at the line of their producing entry.
fn katalog_children(src: &Source, opts: &Options) -> Result<Vec<Object<'static>>, InputError> {
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

/// Where [`each_object`] hands the objects of one source. The objects of a document's
/// top-level `items` arrive before the document says whether it is a List; a sink must be able
/// to forget them ([`Sink::rollback`]).
trait Sink {
    fn object(&mut self, o: Object<'_>);
    /// How many objects the sink holds: where to roll back to.
    fn mark(&self) -> usize;
    fn rollback(&mut self, mark: usize);
}

/// Parses one source into `sink` (Lists expanded, Katalogs rendered), in input order; returns
/// the number of documents skipped.
///
/// The top-level `items` of a document are read one at a time, before the document says
/// whether it is a List (`kind` may come after `items`: kubectl sorts keys); they go to the
/// sink as they come and are rolled back when the document is not a List. A Kubernetes object
/// that is not a List but has a top-level `items` is checked whole, `items` included, like any
/// other object: the file is then read again with nothing split, under the budgets for whole
/// documents. Errors are those of a file parsed whole first: a YAML error anywhere, else the
/// first duplicate key or invalid Katalog in document order.
fn each_object(
    src: &Source,
    opts: &Options,
    split_items: bool,
    sink: &mut dyn Sink,
) -> Result<usize, InputError> {
    let start = sink.mark();
    let mut skipped = 0;
    // where the current document's items start in the sink
    let mut doc_start = start;
    let mut item_duplicate: Option<(ork_yaml::Span, String)> = None;
    let mut failed: Option<InputError> = None;
    let mut whole_again = false;
    let parsed = ork_yaml::parse_stream_visit(&src.text, &opts.limits, split_items, |v| {
        if failed.is_some() || whole_again {
            // parsing goes on only so that a later YAML error is the one reported
            return;
        }
        let (doc, items_split) = match v {
            Visit::Item(node) => {
                if item_duplicate.is_none() {
                    item_duplicate = duplicate_key(&node);
                    let value = node.to_json();
                    if item_duplicate.is_none() && is_k8s(&value) {
                        sink.object(Object {
                            value,
                            line: node.span.line,
                            node: Some(&node),
                            render_failure: None,
                        });
                    }
                }
                return;
            }
            Visit::Document { node, items_split } => (node, items_split),
        };
        let items_start = doc_start;
        // the first duplicate in document order, whether among the items or outside them
        let duplicate = match (duplicate_key(&doc), item_duplicate.take()) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        if let Some(d) = duplicate {
            failed = Some(duplicate_error(src, d));
            return;
        }
        let v = doc.to_json();
        let k8s = is_k8s(&v);
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let katalog = v.get("apiVersion").and_then(Value::as_str)
            == Some(ork_katalog::pipeline::API_VERSION)
            && (kind == "Katalog" || kind == "Komposer");
        let list = k8s && !katalog && is_list(&v);
        if !list {
            // the items of anything but a List are not objects of their own
            sink.rollback(items_start);
        }
        if !k8s {
            skipped += 1;
        } else if katalog {
            match katalog_children(src, opts) {
                Ok(children) => children.into_iter().for_each(|c| sink.object(c)),
                Err(e) => failed = Some(e),
            }
        } else if list {
            if !items_split {
                for item in doc.get("items").and_then(Node::as_seq).unwrap_or_default() {
                    let iv = item.to_json();
                    if is_k8s(&iv) {
                        sink.object(Object {
                            value: iv,
                            line: item.span.line,
                            node: Some(item),
                            render_failure: None,
                        });
                    }
                }
            }
        } else if items_split {
            whole_again = true;
        } else {
            sink.object(Object {
                value: v,
                line: doc.span.line,
                node: Some(&doc),
                render_failure: None,
            });
        }
        doc_start = sink.mark();
    });
    parsed.map_err(|e| {
        InputError(format!(
            "{}:{}:{}: {}: {}",
            src.shown,
            e.span.line,
            e.span.col,
            e.what(),
            e.message
        ))
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if whole_again {
        sink.rollback(start);
        return each_object(src, opts, false, sink);
    }
    if sink.mark() == start && src.explicit {
        return Err(InputError(format!(
            "{}: no Kubernetes object (apiVersion and kind) in this file",
            src.shown
        )));
    }
    Ok(skipped)
}

/// An object read from the inputs, with where it came from.
pub struct Loaded {
    pub file: String,
    pub line: u32,
    pub value: Value,
}

struct LoadSink<'a> {
    file: &'a str,
    out: &'a mut Vec<Loaded>,
}

impl Sink for LoadSink<'_> {
    fn object(&mut self, o: Object<'_>) {
        self.out.push(Loaded {
            file: self.file.to_string(),
            line: o.line,
            value: o.value,
        });
    }

    fn mark(&self) -> usize {
        self.out.len()
    }

    fn rollback(&mut self, mark: usize) {
        self.out.truncate(mark);
    }
}

/// Every Kubernetes object of the inputs (files, directories, stdin, Lists expanded, Katalog
/// children rendered), in input order.
/// Also returns the entries the directory walks skipped.
pub fn load(
    paths: &[PathBuf],
    opts: &Options,
) -> Result<(Vec<Loaded>, Vec<ork_io::Skipped>), InputError> {
    let (inputs, skipped, walk_error) = inputs(paths);
    // every file is read before any is parsed, so a read error is the one reported
    let sources = inputs
        .iter()
        .map(|i| read(i, &opts.limits))
        .collect::<Result<Vec<Source>, InputError>>()?;
    if let Some(e) = walk_error {
        return Err(e);
    }
    let mut out = Vec::new();
    for s in &sources {
        let mut sink = LoadSink {
            file: &s.shown,
            out: &mut out,
        };
        each_object(s, opts, true, &mut sink)?;
    }
    Ok((out, skipped))
}

/// One string per distinct text in a file: a corpus says `…securityContext.readOnlyRootFilesystem
/// is not true` and `Deployment` thousands of times.
#[derive(Default)]
struct Strings(HashSet<Arc<str>>);

impl Strings {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = s.into();
        self.0.insert(Arc::clone(&a));
        a
    }
}

/// A workload `missing-network-policy` decides on once every policy is known.
struct PendingWorkload {
    workload: Workload,
    subject: Arc<Subject>,
    line: u32,
    suppressed: Option<Arc<str>>,
}

/// What one source leaves behind once its objects are checked and dropped.
#[derive(Default)]
struct Checked {
    findings: Vec<Located>,
    scanned: Vec<Scanned>,
    skipped_documents: usize,
    policies: Vec<checks::NetworkPolicy>,
    sa_automount_off: Vec<(String, String)>,
    workloads: Vec<PendingWorkload>,
    /// pods whose `automount-service-account-token` finding depends on the ServiceAccounts
    automounts: Vec<(Automount, Located)>,
}

/// Checks one source's objects as they are read.
struct Scanner<'o> {
    file: Arc<str>,
    opts: &'o Options,
    strings: Strings,
    out: Checked,
    /// per object: where its records start, for [`Sink::rollback`]
    marks: Vec<[usize; 6]>,
}

impl Scanner<'_> {
    fn skipped(&self, id: &str) -> bool {
        self.opts.skip.iter().any(|s| s == id)
    }
}

impl Sink for Scanner<'_> {
    /// Lines, suppression and `--skip` for one object's findings, located while its node is
    /// at hand; the set-level facts kept for the end.
    fn object(&mut self, o: Object<'_>) {
        let c = &self.out;
        self.marks.push([
            c.findings.len(),
            c.scanned.len(),
            c.policies.len(),
            c.sa_automount_off.len(),
            c.workloads.len(),
            c.automounts.len(),
        ]);
        let v = &o.value;
        let str_at = |p: &str| v.pointer(p).and_then(Value::as_str);
        let subject = Arc::new(Subject {
            file: Arc::clone(&self.file),
            kind: self.strings.get(str_at("/kind").unwrap_or("")),
            namespace: str_at("/metadata/namespace").map(|n| self.strings.get(n)),
            name: str_at("/metadata/name").unwrap_or("").into(),
        });
        let line_of = |at: &str| match o.node {
            Some(n) if !at.is_empty() => ork_katalog::diag::locate(n, at).line,
            _ => o.line,
        };
        let (found, mut facts) = match &o.render_failure {
            // a CR that did not render is not checked, but it is part of the set
            Some(f) => {
                let mut facts = checks::facts(v);
                facts.workload = None;
                facts.automount = None;
                (vec![f.clone()], facts)
            }
            None => checks::check_object_alone(v),
        };
        let mut suppress: Vec<(&str, Arc<str>)> = Vec::new();
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
            let reason = val.as_str().unwrap_or("").trim();
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
                suppress.push((id, self.strings.get(reason)));
            }
        }
        let suppressed = |id: &str| {
            suppress
                .iter()
                .find(|(s, _)| *s == id)
                .map(|(_, r)| Arc::clone(r))
        };
        let located = |f: checks::Finding, strings: &mut Strings| Located {
            check: f.check,
            severity: checks::check(f.check).map_or(Severity::Low, |c| c.severity),
            line: line_of(&f.at),
            subject: Arc::clone(&subject),
            container: f.container.as_deref().map(|c| strings.get(c)),
            message: strings.get(&f.message),
            suppressed: suppressed(f.check),
        };
        for f in found.into_iter().chain(extra) {
            if !self.skipped(f.check) {
                let l = located(f, &mut self.strings);
                self.out.findings.push(l);
            }
        }
        if let Some(a) = facts.automount.take()
            && !self.skipped(a.finding.check)
        {
            let l = located(a.finding.clone(), &mut self.strings);
            self.out.automounts.push((a, l));
        }
        if let Some(w) = facts.workload.take()
            && !self.skipped("missing-network-policy")
        {
            self.out.workloads.push(PendingWorkload {
                workload: w,
                subject: Arc::clone(&subject),
                line: o.line,
                suppressed: suppressed("missing-network-policy"),
            });
        }
        self.out.policies.extend(facts.network_policy);
        self.out.sa_automount_off.extend(facts.automount_off);
        let group = match str_at("/apiVersion").and_then(|a| a.split_once('/')) {
            Some((g, _)) => g,
            None => "",
        };
        self.out.scanned.push(Scanned {
            group: self.strings.get(group),
            pod_bearing: checks::is_pod_bearing(v),
            render_failed: o.render_failure.is_some(),
            subject,
        });
    }

    fn mark(&self) -> usize {
        self.marks.len()
    }

    fn rollback(&mut self, mark: usize) {
        if let Some(&[f, s, p, a, w, m]) = self.marks.get(mark) {
            let c = &mut self.out;
            c.findings.truncate(f);
            c.scanned.truncate(s);
            c.policies.truncate(p);
            c.sa_automount_off.truncate(a);
            c.workloads.truncate(w);
            c.automounts.truncate(m);
        }
        self.marks.truncate(mark);
    }
}

/// Why a source failed: reading it, or what it holds. Every file is read before any is
/// parsed when they are taken one after another, so a read error anywhere is the error
/// reported; the parallel scan keeps that order of precedence.
enum Failure {
    Read(InputError),
    Content(InputError),
}

/// Reads, parses and checks one source, keeping only what the report needs.
fn scan_source(input: &Input, opts: &Options) -> Result<Checked, Failure> {
    let src = read(input, &opts.limits).map_err(Failure::Read)?;
    let mut scanner = Scanner {
        file: Arc::clone(&src.shown),
        opts,
        strings: Strings::default(),
        out: Checked::default(),
        marks: Vec::new(),
    };
    let skipped = each_object(&src, opts, true, &mut scanner).map_err(Failure::Content)?;
    scanner.out.skipped_documents = skipped;
    Ok(scanner.out)
}

/// Scans paths (`-` is stdin).
pub fn scan(paths: &[PathBuf], opts: &Options) -> Result<Report, InputError> {
    for id in &opts.skip {
        if checks::check(id).is_none() {
            return Err(InputError(format!("--skip {id}: no such check")));
        }
    }
    let (inputs, skipped_files, walk_error) = inputs(paths);
    if let Some(e) = walk_error {
        // the files listed before the walk that failed are read first, as they always were
        for i in &inputs {
            read(i, &opts.limits)?;
        }
        return Err(e);
    }
    let done: Vec<Result<Checked, Failure>> =
        inputs.par_iter().map(|i| scan_source(i, opts)).collect();
    if let Some(Err(Failure::Read(e))) = done.iter().find(|d| matches!(d, Err(Failure::Read(_)))) {
        return Err(e.clone());
    }
    let mut sources = Vec::with_capacity(done.len());
    for d in done {
        match d {
            Ok(c) => sources.push(c),
            Err(Failure::Read(e) | Failure::Content(e)) => return Err(e),
        }
    }
    let total = |f: fn(&Checked) -> usize| sources.iter().map(f).sum::<usize>();
    let mut findings = Vec::with_capacity(
        total(|c| c.findings.len()) + total(|c| c.workloads.len()) + total(|c| c.automounts.len()),
    );
    let mut scanned = Vec::with_capacity(total(|c| c.scanned.len()));
    let mut skipped_documents = 0;
    let mut policies = NetworkPolicies::default();
    let mut ctx = Context::default();
    let mut workloads = Vec::new();
    let mut automounts = Vec::new();
    for c in sources {
        findings.extend(c.findings);
        scanned.extend(c.scanned);
        skipped_documents += c.skipped_documents;
        c.policies.into_iter().for_each(|p| policies.add(p));
        ctx.sa_automount_off.extend(c.sa_automount_off);
        workloads.push(c.workloads);
        automounts.push(c.automounts);
    }
    // the set-level checks, now that the whole set is known, in object order
    let mut strings = Strings::default();
    for w in workloads.into_iter().flatten() {
        if let Some(f) = policies.finding(&w.workload) {
            findings.push(Located {
                check: f.check,
                severity: f.severity(),
                line: w.line,
                subject: w.subject,
                container: None,
                message: strings.get(&f.message),
                suppressed: w.suppressed,
            });
        }
    }
    findings.extend(
        automounts
            .into_iter()
            .flatten()
            .filter(|(a, _)| ctx.flags(a))
            .map(|(_, l)| l),
    );
    sort(&mut findings);
    Ok(Report {
        findings,
        objects: scanned.len(),
        scanned,
        files: inputs.len(),
        skipped_documents,
        skipped_files,
        skipped_checks: opts.skip.clone(),
    })
}

/// Orders findings by file, line, check id, container and message; equal ones keep the order
/// they were found in. Indexes are sorted, not the findings: a stable sort of 440,000 findings
/// would allocate half of them again as scratch space.
fn sort(findings: &mut [Located]) {
    fn key(f: &Located) -> (&str, u32, &str, Option<&str>, &str) {
        (
            f.file(),
            f.line,
            f.check,
            f.container.as_deref(),
            &f.message,
        )
    }
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by(|&a, &b| key(&findings[a]).cmp(&key(&findings[b])));
    // put finding order[i] at i, one cycle of the permutation at a time
    for i in 0..order.len() {
        let mut at = i;
        while order[at] != i {
            let from = order[at];
            findings.swap(at, from);
            order[at] = at;
            at = from;
        }
        order[at] = at;
    }
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

    fn scan_text(name: &str, text: &str) -> Result<Report, InputError> {
        let dir = tempfile::tempdir().map_err(|e| InputError(e.to_string()))?;
        let file = dir.path().join(name);
        std::fs::write(&file, text).map_err(|e| InputError(e.to_string()))?;
        scan(&[file], &Options::default())
    }

    #[test]
    fn errors_are_those_of_the_file_read_whole() {
        let err = |text: &str| {
            scan_text("f.yaml", text).err().map(|e| {
                e.0.split_once(": ")
                    .map(|(_, m)| m.to_string())
                    .unwrap_or(e.0)
            })
        };
        // the first duplicate in document order: outside the items, before them
        assert_eq!(
            err(
                "kind: List\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a, name: b}}\n"
            ),
            Some("duplicate key \"kind\"".into())
        );
        // inside an item, before a repeated key after the items
        assert_eq!(
            err(
                "items:\n- {apiVersion: v1, kind: Pod, metadata: {name: a, name: b}}\nkind: List\nkind: List\n"
            ),
            Some("duplicate key \"name\"".into())
        );
        // a YAML error later in the file is reported before an earlier duplicate
        let m = err("items:\n- {a: 1, a: 2}\nkind: List\n---\nb: [1\n").unwrap_or_default();
        assert!(m.contains("YAML syntax error"), "{m}");
    }

    #[test]
    fn list_items_are_objects_whatever_the_order_of_keys() {
        let yaml = "items:\n- {apiVersion: v1, kind: Service, metadata: {name: a, namespace: x}, spec: {type: NodePort}}\n- not an object\nkind: ServiceList\napiVersion: v1\n";
        let r = scan_text("l.yaml", yaml).unwrap_or_default();
        assert_eq!((r.objects, r.findings.len()), (1, 1));
        assert_eq!((r.findings[0].name(), r.findings[0].line), ("a", 2));
        // the same as one JSON line: one object, its finding on line 1
        let json = r#"{"items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","namespace":"x"},"spec":{"type":"NodePort"}}],"kind":"List","apiVersion":"v1"}"#;
        let r = scan_text("l.json", json).unwrap_or_default();
        assert_eq!((r.objects, r.findings.len(), r.findings[0].line), (1, 1, 1));
    }
}
