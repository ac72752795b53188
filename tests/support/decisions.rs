//! The decision corpus (`tests/fixtures/decisions/`): loading, requests and expectations.
//!
//! Shared by every path that replays the corpus — `decide` directly (ork-policy), `ork gate
//! check` (ork-cli), and later the Gateway and the runtime on a real control plane — through
//! `#[path = "…/tests/support/decisions.rs"] mod decisions;`, so all of them read the cases
//! and judge the verdicts the same way.
//!
//! A corpus file names a Katalog of `katalogs/` and lists cases:
//!
//! ```yaml
//! katalog: protection.yaml
//! cases:
//!   - name: a labelled ConfigMap cannot be deleted
//!     operation: DELETE              # CREATE (default) | UPDATE | DELETE | CONNECT
//!     point: admission               # admission (default) | reconcile
//!     user: alice                    # default developer
//!     groups: [dev]                  # system:authenticated is always added
//!     subresource: exec
//!     namespaceLabels: {team: a}
//!     identity: {apiVersion: v1, kind: Pod, namespace: a, name: p}   # when there is no object
//!     resource: pods                 # when the object's kind does not name it (PodExecOptions)
//!     replay: false                  # gate check fills in what this request leaves out
//!     object: {...}                  # the new object (CONNECT: the target Pod)
//!     oldObject: {...}               # the stored object (UPDATE, DELETE)
//!     peers: [{...}]                 # other objects of the kind, for `unique`
//!     expect:
//!       decision: deny               # allow | deny | undetermined
//!       codes: [deletion-protected]  # denial codes, in order
//!       messageContains: ["..."]
//!       messageExcludes: ["..."]
//!       warnings: ["..."]            # each a substring of some warning
//!       patch: [...]                 # the exact RFC 6902 patch, when given
//!       error: true                  # some layer could not be evaluated
//!       code: 403                    # the HTTP status of the response (200 when allowed)
//!       skipped: [pod-security]      # layers that must report why they did not apply
//! ```

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/decisions")
}

/// One case, with the Katalog it runs against.
#[derive(Debug, Clone)]
pub struct Case {
    pub file: String,
    pub katalog: PathBuf,
    pub name: String,
    pub point: String,
    pub operation: String,
    pub user: String,
    pub groups: Vec<String>,
    pub subresource: Option<String>,
    pub namespace_labels: Vec<(String, String)>,
    pub object: Option<Value>,
    pub old_object: Option<Value>,
    /// apiVersion, kind, namespace and name of a request without an object
    pub identity: Option<Value>,
    /// the request's resource, when the object's kind does not name it
    pub resource: Option<String>,
    /// false: `ork gate check` cannot express this request (it defaults what is missing)
    pub replay: bool,
    pub peers: Option<Vec<Value>>,
    pub expect: Value,
}

impl Case {
    /// `ork gate check` decides one admission request from files: it cannot carry peers, a
    /// reconcile point, or a request without an object.
    pub fn replayable_by_gate_check(&self) -> bool {
        if self.point != "admission"
            || !self.replay
            || self.peers.is_some()
            || self.resource.is_some()
        {
            return false;
        }
        match self.operation.as_str() {
            // gate check sends the one object it is given as the stored one
            "DELETE" => self.object.is_some() != self.old_object.is_some(),
            "UPDATE" => self.object.is_some() && self.old_object.is_some(),
            _ => self.object.is_some(),
        }
    }

    /// The object the request is about (the stored one for DELETE), else its identity.
    pub fn subject(&self) -> Option<&Value> {
        self.object
            .as_ref()
            .or(self.old_object.as_ref())
            .or(self.identity.as_ref())
    }

    pub fn groups_with_authenticated(&self) -> Vec<String> {
        let mut g = self.groups.clone();
        if !g.iter().any(|x| x == "system:authenticated") {
            g.push("system:authenticated".into());
        }
        g
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Every case of every corpus file, in file order.
pub fn load() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let docs = ork_yaml::parse_stream(&src).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let doc = docs
            .first()
            .map(ork_yaml::Node::to_json)
            .unwrap_or_else(|| panic!("{}: empty", f.display()));
        let katalog = root()
            .join("katalogs")
            .join(text(&doc, "katalog").unwrap_or_else(|| panic!("{}: no katalog", f.display())));
        let file = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        for c in doc
            .get("cases")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{file}: no cases"))
        {
            out.push(Case {
                file: file.clone(),
                katalog: katalog.clone(),
                name: text(c, "name").unwrap_or_else(|| panic!("{file}: a case without name")),
                point: text(c, "point").unwrap_or_else(|| "admission".into()),
                operation: text(c, "operation").unwrap_or_else(|| "CREATE".into()),
                user: text(c, "user").unwrap_or_else(|| "developer".into()),
                groups: c
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                subresource: text(c, "subresource"),
                namespace_labels: c
                    .get("namespaceLabels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                object: c.get("object").filter(|v| !v.is_null()).cloned(),
                old_object: c.get("oldObject").filter(|v| !v.is_null()).cloned(),
                resource: text(c, "resource"),
                replay: c.get("replay") != Some(&Value::Bool(false)),
                identity: c.get("identity").map(|i| {
                    serde_json::json!({"apiVersion": i.get("apiVersion"), "kind": i.get("kind"),
                        "metadata": {"namespace": i.get("namespace"), "name": i.get("name")}})
                }),
                peers: c.get("peers").and_then(Value::as_array).cloned(),
                expect: c.get("expect").cloned().unwrap_or(Value::Null),
            });
        }
    }
    out
}

/// What a path observed, in the terms the expectations use.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub decision: String,
    pub codes: Vec<String>,
    pub message: String,
    pub warnings: Vec<String>,
    pub patch: Value,
    pub error: bool,
    pub code: u16,
    /// the layers that reported why they did not apply
    pub skipped: Vec<String>,
}

/// The strings of a list-valued expectation (`messageContains: [...]`).
fn strings<'v>(e: &'v Value, key: &str) -> impl Iterator<Item = &'v str> {
    e.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Compares an observation with the case's expectations; the error lists every difference.
pub fn judge(case: &Case, o: &Observed) -> Result<(), String> {
    let e = &case.expect;
    let mut diffs = Vec::new();
    let want = text(e, "decision").unwrap_or_else(|| "allow".into());
    if o.decision != want {
        diffs.push(format!("decision {} (expected {want})", o.decision));
    }
    let codes: Vec<String> = e
        .get("codes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if o.codes != codes {
        diffs.push(format!("codes {:?} (expected {codes:?})", o.codes));
    }
    for s in strings(e, "messageContains") {
        if !o.message.contains(s) {
            diffs.push(format!("message {:?} lacks {s:?}", o.message));
        }
    }
    for s in strings(e, "messageExcludes") {
        if o.message.contains(s) || o.warnings.iter().any(|w| w.contains(s)) {
            diffs.push(format!("message or warnings show {s:?}: {:?}", o.message));
        }
    }
    for s in strings(e, "warnings") {
        if !o.warnings.iter().any(|w| w.contains(s)) {
            diffs.push(format!("warnings {:?} lack {s:?}", o.warnings));
        }
    }
    if let Some(p) = e.get("patch")
        && &o.patch != p
    {
        diffs.push(format!("patch {} (expected {p})", o.patch));
    }
    let want_error = e.get("error") == Some(&Value::Bool(true));
    if o.error != want_error {
        diffs.push(format!(
            "evaluation error {} (expected {want_error})",
            o.error
        ));
    }
    if let Some(code) = e.get("code").and_then(Value::as_u64)
        && u64::from(o.code) != code
    {
        diffs.push(format!("HTTP code {} (expected {code})", o.code));
    }
    for layer in strings(e, "skipped") {
        if !o.skipped.iter().any(|s| s == layer) {
            diffs.push(format!("{layer} not reported as skipped: {:?}", o.skipped));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} / {}: {}",
            case.file,
            case.name,
            diffs.join("; ")
        ))
    }
}

// ---- through decide ------------------------------------------------------------------------

use ork_katalog::Operation;
use ork_policy::conditions::{Peers, lookup};
use ork_policy::json::{Json, Tape};
use ork_policy::{Point, PreparedKatalog, Request, User, decide};

/// The Katalog of a case, loaded and prepared once per file.
pub fn prepared<'a>(
    cache: &'a mut std::collections::HashMap<PathBuf, PreparedKatalog>,
    path: &Path,
) -> &'a PreparedKatalog {
    cache.entry(path.to_path_buf()).or_insert_with(|| {
        let outcome = ork_katalog::load_file(path);
        let Some(k) = outcome.katalog else {
            panic!("{}: {:?}", path.display(), outcome.diagnostics)
        };
        PreparedKatalog::new(&k).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// `unique`'s cluster state: the case's peer objects.
pub struct PeerList<'a>(&'a [Value]);

impl Peers for PeerList<'_> {
    fn values(&self, namespace: &str, name: &str, path: &[String]) -> Vec<String> {
        self.0
            .iter()
            .filter(|o| {
                o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace)
                    && o.pointer("/metadata/name").and_then(Value::as_str) != Some(name)
            })
            .filter_map(|o| lookup(o, path))
            .map(|v| ork_template::value::text(&Some(v.clone())))
            .collect()
    }
}

/// How `decide` receives a case's objects: as `Value`s (the reconciler, `ork gate check`), or
/// as tapes of their JSON text, which is how the Gateway decodes a review (ork_policy::json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // each test crate that includes this file uses its own part of it
pub enum Form {
    Value,
    Tape,
}

/// The case through `decide`, evaluation errors mapped by the layer's failurePolicy.
pub fn through_decide(k: &PreparedKatalog, case: &Case) -> Observed {
    through_decide_as(k, case, Form::Value)
}

/// [`through_decide`] with the objects in the given form.
pub fn through_decide_as(k: &PreparedKatalog, case: &Case, form: Form) -> Observed {
    let verdict = verdict_in(k, case, ork_policy::Layers::ALL, form);
    let error = !verdict.errors.is_empty();
    Observed {
        decision: verdict.decision().as_str().to_string(),
        codes: verdict.denials.iter().map(|d| d.code.to_string()).collect(),
        message: verdict.message(),
        warnings: verdict.warnings.clone(),
        patch: serde_json::to_value(&verdict.patch).unwrap_or(Value::Null),
        error,
        code: verdict.code(),
        skipped: verdict
            .skipped
            .iter()
            .map(|s| s.layer.as_str().to_string())
            .collect(),
    }
}

/// `decide`'s verdict on the case at `layers` (a Gateway webhook evaluates its own).
pub fn verdict_at(
    k: &PreparedKatalog,
    case: &Case,
    layers: ork_policy::Layers,
) -> ork_policy::Verdict {
    verdict_in(k, case, layers, Form::Value)
}

/// [`verdict_at`] with the objects in the given form.
pub fn verdict_in(
    k: &PreparedKatalog,
    case: &Case,
    layers: ork_policy::Layers,
    form: Form,
) -> ork_policy::Verdict {
    let texts = [&case.object, &case.old_object].map(|o| o.as_ref().map(Value::to_string));
    let tapes = texts.each_ref().map(|t| {
        t.as_deref()
            .map(|t| Tape::parse(t).unwrap_or_else(|e| panic!("{}: {e}", case.name)))
    });
    let subject = case.subject().cloned().unwrap_or(Value::Null);
    let api = subject
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = subject
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resource = case
        .resource
        .clone()
        .or_else(|| k.resource_of(group, kind))
        .unwrap_or_default();
    let operation: Operation = case
        .operation
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let point = match case.point.as_str() {
        "reconcile" => Point::Reconcile,
        _ => Point::Admission,
    };
    let mut req = Request::for_object(point, operation, &subject, &resource);
    let [object, old_object] = &tapes;
    (req.object, req.old_object) = match form {
        Form::Value => (
            case.object.as_ref().map(Json::from),
            case.old_object.as_ref().map(Json::from),
        ),
        Form::Tape => (
            object.as_ref().and_then(Tape::root),
            old_object.as_ref().and_then(Tape::root),
        ),
    };
    req.subresource = case.subresource.clone();
    req.user = User {
        name: case.user.clone(),
        groups: case.groups_with_authenticated(),
    };
    req.namespace_labels = case.namespace_labels.iter().cloned().collect();
    let peers = case.peers.as_deref().map(PeerList);
    req.peers = peers.as_ref().map(|p| p as &dyn Peers);
    req.layers = layers;
    decide(k, &req)
}
