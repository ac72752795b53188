//! The decision corpus's reconcile-point cases (`point: reconcile` in tests/fixtures/decisions/)
//! replayed through the RUNNING runtime on a real control plane (etcd, kube-apiserver,
//! kube-controller-manager), the runtime acting as its own ServiceAccount under the RBAC
//! `ork_generate::rbac::derive` gives each Katalog (docs/security.md §2.8, "enforcement twice").
//!
//! - A case whose object is a CR of a Katalog entry: the CR is created and the cycle's outcome
//!   read back — a `NamespaceNotPermitted` event and no write at all is `namespace-not-permitted`,
//!   Ready=False/ValidationFailed is `validation`, Ready=True is allow.
//! - A case whose object is a child (the pod-security backstop): a copy of the corpus Katalog
//!   gets one more entry, a carrier kind whose `onCreate.custom` entries each render exactly one
//!   case's object; a carrier CR selects its case. Ready=False/PodSecurityViolation with no child
//!   written is `pod-security`; Ready=True with the child written is allow.
//!
//!   A Deployment the API server would refuse for want of a selector gets one (and its label on
//!   the pod template); before touching the cluster the test checks, offline, that the carrier
//!   renders exactly that object and that neither the completion nor the carrier entry changes
//!   what `decide` says.
//!
//! Every observation is judged against the case's `expect` (`decisions::judge`) and against
//! `decide` on the same case (`decisions::through_decide`); every mismatch names its case. The
//! cases are grouped by Katalog, so one runtime starts per Katalog and stops with `shutdown()`;
//! its derived roles are revoked before the next Katalog's runtime starts. Each case keeps the
//! namespace it names (namespace rules read it): cases that share one run in turn, each CR and
//! its children deleted before the next.

// the API helpers the Gateway's tests use, shared rather than written twice
#[path = "../../../tests/support/decisions.rs"]
mod decisions;
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use decisions::{Case, Observed};
use ork_policy::PreparedKatalog;
use serde_json::{Map, Value, json};
use support::cluster::{self, As, e, send};
use support::{Env, TestFuture, condition, derived, get, load, must, runtime};

/// The carrier entry added to a corpus Katalog for its child cases.
const CARRIER_ENTRY: &str = "replaycarrier";
const CARRIER_GROUP: &str = "replay.orkestra.test";
const CARRIER_KIND: &str = "Carrier";
const CARRIER_PLURAL: &str = "carriers";
/// The carrier CR's field that selects which custom entry (which case) renders.
const CARRIER_FIELD: &str = "replayCase";
/// Label a workload's selector and pod template get when the case's object has no selector.
const SELECTOR_LABEL: &str = "replay.orkestra.test/case";

/// Reconcile-point cases this replay cannot express, by name, with why. Listed here, never
/// dropped silently: a name that is not in the corpus any more fails the test. Empty today —
/// every reconcile-point case is a CR of its Katalog or a child a `custom` entry renders.
const SKIPPED: &[(&str, &str)] = &[];

/// Expectation keys the runtime leaves no trace of at reconcile time: the RFC 6902 patch
/// (mutations change only the in-memory copy), the HTTP status of an admission response, and
/// the layers `decide` reports as skipped. They are left out of `judge` and named in the log.
const UNOBSERVABLE: &[&str] = &["patch", "code", "skipped"];

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

// ---- planning: which case goes how --------------------------------------------------------

/// How a case reaches the runtime.
#[derive(Debug, Clone)]
enum Shape {
    /// the object is a CR of the Katalog: created as is
    Cr,
    /// the object is a child: carrier CR `carrier` selects custom entry `index`, which renders
    /// `child` (the case's object, completed so the API server stores it)
    Child {
        index: usize,
        carrier: String,
        child: Value,
    },
}

struct Planned {
    case: Case,
    shape: Shape,
}

struct Group {
    katalog: PathBuf,
    cases: Vec<Planned>,
}

/// Whether the case's object can reach the runtime, and how; `Err` says why not.
fn classify(k: &PreparedKatalog, case: &Case, children: usize) -> Result<Shape, String> {
    let obj = case
        .object
        .as_ref()
        .ok_or("no object: the runtime reconciles objects, not bare identities")?;
    if matches!(case.operation.as_str(), "DELETE" | "CONNECT") {
        return Err(format!(
            "operation {}: the runtime's cycle decides only objects it renders or reconciles",
            case.operation
        ));
    }
    let api = text(obj, "/apiVersion");
    let kind = text(obj, "/kind");
    if k.crd_for_kind(group_of(api), kind).is_some() {
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Err("a CR being deleted takes the deletion path, which decides nothing".into());
        }
        return Ok(Shape::Cr);
    }
    // a child: the runtime decides it as the CREATE of a rendered object (the backstop)
    if case.operation != "CREATE" {
        return Err(format!(
            "a child at operation {}: the backstop decides every rendered child as a CREATE",
            case.operation
        ));
    }
    let m = obj.as_object().ok_or("the object is not a map")?;
    if let Some(extra) = m
        .keys()
        .find(|key| !["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str()))
    {
        return Err(format!(
            "top-level field {extra:?}: a custom entry renders only apiVersion, kind, metadata and spec"
        ));
    }
    let md = obj
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or("no metadata")?;
    if let Some(extra) = md
        .keys()
        .find(|key| !["name", "namespace", "labels", "annotations"].contains(&key.as_str()))
    {
        return Err(format!(
            "metadata.{extra}: a custom entry renders only name, namespace, labels, annotations"
        ));
    }
    if md.get("namespace").and_then(Value::as_str).is_none() {
        return Err("no metadata.namespace: the carrier CR lives in the child's namespace".into());
    }
    // the carrier is named like the owner label the case gives its child, since ork sets that
    // label to the owning CR's name
    let carrier = obj
        .pointer(&format!("/metadata/labels/{}", ork_render::OWNER))
        .and_then(Value::as_str)
        .unwrap_or("carrier")
        .to_string();
    Ok(Shape::Child {
        index: children,
        carrier,
        child: complete(obj, children),
    })
}

/// The case's object as the API server stores it: an apps/v1 workload without a selector gets
/// one, and the label it selects on its pod template (the API server refuses a Deployment
/// without them). Neither touches what pod security reads; the test checks that `decide` says
/// the same of the completed object as of the case's own.
fn complete(obj: &Value, index: usize) -> Value {
    let mut o = obj.clone();
    let needs = group_of(text(obj, "/apiVersion")) == "apps"
        && obj.pointer("/spec/template").is_some()
        && obj.pointer("/spec/selector").is_none();
    if needs {
        let label = json!({ SELECTOR_LABEL: index.to_string() });
        o["spec"]["selector"] = json!({"matchLabels": label.clone()});
        let tmpl = &mut o["spec"]["template"];
        if tmpl.get("metadata").is_none() {
            tmpl["metadata"] = json!({});
        }
        let md = &mut tmpl["metadata"];
        if md.get("labels").is_none() {
            md["labels"] = json!({});
        }
        md["labels"][SELECTOR_LABEL] = json!(index.to_string());
    }
    o
}

/// A string as a template that renders exactly it: literal unless it holds `{{`.
fn literal(s: &str) -> Value {
    if s.contains("{{") {
        json!(format!("{{{{ {} }}}}", Value::String(s.to_string())))
    } else {
        json!(s)
    }
}

/// Every string leaf as a template that renders exactly it.
fn literal_tree(v: &Value) -> Value {
    match v {
        Value::String(s) => literal(s),
        Value::Array(a) => Value::Array(a.iter().map(literal_tree).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), literal_tree(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The `onCreate.custom` entry that renders `child` when the carrier's field names `index`.
fn custom_entry(index: usize, child: &Value) -> Value {
    let mut md = Map::new();
    md.insert("name".into(), literal(text(child, "/metadata/name")));
    for key in ["labels", "annotations"] {
        if let Some(m) = child.pointer(&format!("/metadata/{key}")) {
            md.insert(key.into(), literal_tree(m));
        }
    }
    let mut entry = json!({
        "apiVersion": text(child, "/apiVersion"),
        "kind": text(child, "/kind"),
        "metadata": md,
        "when": [{"field": format!("spec.{CARRIER_FIELD}"), "equals": index.to_string()}],
    });
    if let Some(spec) = child.get("spec") {
        entry["spec"] = literal_tree(spec);
    }
    entry
}

/// The corpus Katalog with the carrier entry for `children`, written under `dir`.
fn carrier_katalog(src: &Path, children: &[&Value], dir: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(src).map_err(|x| format!("{}: {x}", src.display()))?;
    let docs = ork_yaml::parse_stream(&text).map_err(|x| format!("{}: {x}", src.display()))?;
    let mut doc = docs
        .first()
        .map(ork_yaml::Node::to_json)
        .ok_or_else(|| format!("{}: empty", src.display()))?;
    let crds = doc
        .pointer_mut("/spec/crds")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| format!("{}: no spec.crds", src.display()))?;
    let custom: Vec<Value> = children
        .iter()
        .enumerate()
        .map(|(i, c)| custom_entry(i, c))
        .collect();
    crds.insert(
        CARRIER_ENTRY.into(),
        json!({
            "apiTypes": {"group": CARRIER_GROUP, "version": "v1", "kind": CARRIER_KIND, "plural": CARRIER_PLURAL},
            "operatorBox": {"onCreate": {"custom": custom}},
        }),
    );
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "katalog.yaml".into());
    let out = dir.join(format!("carrier-{name}"));
    std::fs::write(&out, ork_yaml::to_yaml_string(&doc)).map_err(e)?;
    Ok(out)
}

fn carrier_cr(name: &str, ns: &str, index: usize) -> Value {
    json!({"apiVersion": format!("{CARRIER_GROUP}/v1"), "kind": CARRIER_KIND,
        "metadata": {"name": name, "namespace": ns},
        "spec": {CARRIER_FIELD: index.to_string()}})
}

/// The rendered child without what ork adds to every child (its labels, the owner reference).
fn without_ork(rendered: &Value, want: &Value) -> Value {
    let mut v = rendered.clone();
    let keep_owner = want
        .pointer(&format!("/metadata/labels/{}", ork_render::OWNER))
        .is_some();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("ownerReferences");
        let mut empty = false;
        if let Some(l) = md.get_mut("labels").and_then(Value::as_object_mut) {
            l.remove(ork_render::MANAGED);
            l.remove(ork_render::OWNER_UID);
            if !keep_owner {
                l.remove(ork_render::OWNER);
            }
            empty = l.is_empty();
        }
        if empty && want.pointer("/metadata/labels").is_none() {
            md.remove("labels");
        }
    }
    v
}

/// Offline, before the cluster: the carrier renders exactly each child, the completion and the
/// carrier entry change nothing `decide` says. Returns the differences, each naming its case.
fn check_carrier(
    group: &Group,
    carrier: &PreparedKatalog,
    original: &PreparedKatalog,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(crd) = carrier.crds.iter().find(|c| c.name == CARRIER_ENTRY) else {
        return vec![format!("{}: no carrier entry", group.katalog.display())];
    };
    for p in &group.cases {
        let Shape::Child {
            index,
            carrier: name,
            child,
        } = &p.shape
        else {
            continue;
        };
        let c = &p.case;
        let cr = carrier_cr(name, text(child, "/metadata/namespace"), *index);
        let opts = ork_render::Options {
            without_backstop: true,
            ..Default::default()
        };
        match ork_render::render_cycle(carrier, crd, &cr, &opts) {
            Err(f) => out.push(format!(
                "{}: the carrier does not render: {} {}",
                c.name, f.reason, f.message
            )),
            Ok(cycle) => {
                let got: Vec<Value> = cycle
                    .children
                    .iter()
                    .map(|ch| without_ork(&ch.object, child))
                    .collect();
                if got.as_slice() != std::slice::from_ref(child) {
                    out.push(format!(
                        "{}: the carrier renders {} instead of exactly {child}",
                        c.name,
                        Value::Array(got)
                    ));
                }
            }
        }
        // the completed child and the carrier entry leave decide's verdict as it was
        let want = decisions::through_decide(original, c);
        let mut completed = c.clone();
        completed.object = Some(child.clone());
        let v = decisions::verdict_at(original, &completed, ork_policy::Layers::ALL);
        let got_codes: Vec<String> = v.denials.iter().map(|d| d.code.to_string()).collect();
        if v.decision().as_str() != want.decision || got_codes != want.codes {
            out.push(format!(
                "{}: decide says {} {:?} of the completed child, {} {:?} of the case's",
                c.name,
                v.decision().as_str(),
                got_codes,
                want.decision,
                want.codes
            ));
        }
        let with_carrier = decisions::through_decide(carrier, c);
        if with_carrier.decision != want.decision || with_carrier.codes != want.codes {
            out.push(format!(
                "{}: the carrier entry changes decide's verdict: {} {:?}, was {} {:?}",
                c.name, with_carrier.decision, with_carrier.codes, want.decision, want.codes
            ));
        }
    }
    out
}

// ---- the cluster ---------------------------------------------------------------------------

/// Applies the Katalog's derived runtime RBAC as the admin.
async fn grant(env: &Env, objs: &[Value]) -> Result<(), String> {
    support::apply_all(env, objs).await
}

/// Removes the derived roles and bindings again, so the next Katalog's runtime runs on its own
/// RBAC only, never on what an earlier one was granted.
async fn revoke(env: &Env, objs: &[Value]) -> Result<(), String> {
    for obj in objs {
        if !text(obj, "/kind").contains("Role") {
            continue;
        }
        let path = cluster::path_of(obj, None, true).ok_or("no path for a derived object")?;
        let a = send(&env.admin, "DELETE", &path, None, &As::admin()).await?;
        if !a.ok() && a.status != 404 {
            return Err(format!("DELETE {path}: {} {}", a.status, a.message()));
        }
    }
    Ok(())
}

/// The notes of the events about the object with `uid` in `ns` with `reason`.
async fn events(env: &Env, ns: &str, uid: &str, reason: &str) -> Result<Vec<String>, String> {
    Ok(support::events(env, ns, "/regarding/uid", uid, reason)
        .await?
        .iter()
        .map(|ev| ev["note"].as_str().unwrap_or_default().to_string())
        .collect())
}

/// The objects of the kinds the entry declares that carry the owner-uid label of `uid`: kind
/// and name, and path.
async fn owned_children(
    env: &Env,
    k: &PreparedKatalog,
    entry: &str,
    ns: &str,
    uid: &str,
) -> Result<Vec<(String, String)>, String> {
    let Some(crd) = k.crds.iter().find(|c| c.name == entry) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (d, _, _) in ork_render::declared_kinds(k, crd) {
        let base = if d.api_version.contains('/') {
            format!("/apis/{}", d.api_version)
        } else {
            format!("/api/{}", d.api_version)
        };
        let path = if d.namespaced {
            format!("{base}/namespaces/{ns}/{}", d.resource)
        } else {
            format!("{base}/{}", d.resource)
        };
        let list = must(
            env,
            "GET",
            &format!("{path}?labelSelector={}%3D{uid}", ork_render::OWNER_UID),
            None,
        )
        .await?;
        for item in list["items"].as_array().into_iter().flatten() {
            let name = text(item, "/metadata/name");
            out.push((format!("{} {name}", d.kind), format!("{path}/{name}")));
        }
    }
    Ok(out)
}

/// What the runtime did with the CR at `path`: its Ready condition settled, or a
/// `NamespaceNotPermitted` event about it. A ReconcileError (an API error, retried) is waited
/// out for a while before it counts.
enum Outcome {
    Ready(Value),
    NotPermitted { stored: Value, note: String },
}

async fn outcome(env: &Env, path: &str, uid: &str, ns: &str) -> Result<Outcome, String> {
    let start = Instant::now();
    loop {
        let v = get(env, path)
            .await?
            .ok_or_else(|| format!("{path} vanished"))?;
        if let Some(ready) = condition(&v, "Ready") {
            let settled = ready["reason"] != "ReconcileError";
            if settled || start.elapsed() > Duration::from_secs(15) {
                return Ok(Outcome::Ready(v));
            }
        }
        if let Some(note) = events(env, ns, uid, ork_render::NOT_PERMITTED)
            .await?
            .into_iter()
            .next()
        {
            let stored = get(env, path).await?.unwrap_or(Value::Null);
            return Ok(Outcome::NotPermitted { stored, note });
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "{path}: no Ready condition and no {} event after 30s; last status {}",
                ork_render::NOT_PERMITTED,
                v["status"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The decision a settled CR shows, in the corpus's terms.
fn observed_from_status(v: &Value) -> (Observed, String) {
    let ready = condition(v, "Ready").cloned().unwrap_or(Value::Null);
    let status = ready["status"].as_str().unwrap_or_default();
    let reason = ready["reason"].as_str().unwrap_or_default().to_string();
    let message = ready["message"].as_str().unwrap_or_default().to_string();
    let warnings: Vec<String> = condition(v, "ValidationWarning")
        .filter(|c| c["status"] == "True")
        .and_then(|c| c["message"].as_str())
        .map(|m| m.split("; ").map(str::to_string).collect())
        .unwrap_or_default();
    let mut o = Observed {
        decision: String::new(),
        codes: Vec::new(),
        message: message.clone(),
        warnings,
        patch: Value::Null,
        error: false,
        code: 0,
        skipped: Vec::new(),
    };
    match (status, reason.as_str()) {
        ("True", _) => {
            // a rule that needs cluster state was not evaluated: ValidationFailed is Unknown
            let unknown =
                condition(v, "ValidationFailed").is_some_and(|c| c["status"] == "Unknown");
            o.decision = if unknown { "undetermined" } else { "allow" }.into();
        }
        ("False", "ValidationFailed") => {
            // one `field "…": …` per denying rule, joined by "; "
            let n = message
                .split("; ")
                .filter(|s| s.starts_with("field \""))
                .count()
                .max(1);
            o.decision = "deny".into();
            o.codes = vec!["validation".into(); n];
        }
        ("False", "PodSecurityViolation") => {
            // one `<entry>: <checks>` per violating child, joined by "; "
            let n = message
                .split("; ")
                .filter(|s| s.starts_with("onCreate.") || s.starts_with("onReconcile."))
                .count()
                .max(1);
            o.decision = "deny".into();
            o.codes = vec!["pod-security".into(); n];
        }
        ("False", "TemplateError" | "InvalidValue") => {
            // at reconcile time an evaluation error always denies
            o.decision = "deny".into();
            o.codes = vec!["evaluation-error".into()];
            o.error = true;
        }
        _ => {
            o.decision = format!("Ready={status}/{reason}");
        }
    }
    (o, format!("Ready={status}/{reason}"))
}

/// Deletes `path` and waits until it is gone (a CR: once the runtime removed its finalizer).
async fn delete(env: &Env, path: &str) -> Result<(), String> {
    let a = send(&env.admin, "DELETE", path, None, &As::admin()).await?;
    if !a.ok() && a.status != 404 {
        return Err(format!("DELETE {path}: {} {}", a.status, a.message()));
    }
    cluster::eventually(
        &format!("{path} deleted"),
        Duration::from_secs(40),
        || async { Ok(get(env, path).await?.is_none()) },
    )
    .await
}

/// The object to create, without what the API server sets.
fn creatable(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            md.remove(key);
        }
    }
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
    }
    o
}

/// One case through the running runtime: what it observed, the one-line summary, and the
/// differences from "no writes" / "child written" it saw on the way.
async fn replay_case(
    env: &Env,
    k: &PreparedKatalog,
    p: &Planned,
) -> Result<(Observed, String, Vec<String>), String> {
    let case = &p.case;
    let mut problems = Vec::new();
    let (obj, entry) = match &p.shape {
        Shape::Cr => {
            let obj = creatable(case.object.as_ref().ok_or("no object")?);
            let api = text(&obj, "/apiVersion");
            let entry = k
                .crd_for_kind(group_of(api), text(&obj, "/kind"))
                .map(|c| c.name.clone())
                .unwrap_or_default();
            (obj, entry)
        }
        Shape::Child {
            index,
            carrier,
            child,
        } => (
            carrier_cr(carrier, text(child, "/metadata/namespace"), *index),
            CARRIER_ENTRY.to_string(),
        ),
    };
    let ns = text(&obj, "/metadata/namespace").to_string();
    if !ns.is_empty() {
        cluster::namespace(&env.admin, &ns, &case.namespace_labels).await?;
    }
    // the peers a `unique` rule compares with exist in the cluster as they do in the case
    let mut peers = Vec::new();
    for peer in case.peers.iter().flatten() {
        let peer = creatable(peer);
        let coll = cluster::path_of(&peer, Some(k), false).ok_or("no path for a peer")?;
        must(env, "POST", &coll, Some(&peer)).await?;
        peers.push(cluster::path_of(&peer, Some(k), true).ok_or("no path for a peer")?);
    }
    let coll = cluster::path_of(&obj, Some(k), false).ok_or("no path for the object")?;
    let created = must(env, "POST", &coll, Some(&obj)).await?;
    let uid = text(&created, "/metadata/uid").to_string();
    let path = cluster::path_of(&obj, Some(k), true).ok_or("no path for the object")?;
    let (observed, summary) = match outcome(env, &path, &uid, &ns).await? {
        Outcome::NotPermitted { stored, note } => {
            // no writes at all: no finalizer, label, annotation or status, no child
            let md = &stored["metadata"];
            if md.get("finalizers").is_some()
                || stored.get("status").is_some()
                || md
                    .pointer(&format!(
                        "/labels/{}",
                        ork_render::MANAGED.replace('/', "~1")
                    ))
                    .is_some()
            {
                problems.push(format!(
                    "{} yet the CR was written: {}",
                    ork_render::NOT_PERMITTED,
                    json!({"metadata": md, "status": stored.get("status")})
                ));
            }
            let o = Observed {
                decision: "deny".into(),
                codes: vec!["namespace-not-permitted".into()],
                message: note,
                warnings: Vec::new(),
                patch: Value::Null,
                error: false,
                code: 0,
                skipped: Vec::new(),
            };
            (o, format!("{} event, no writes", ork_render::NOT_PERMITTED))
        }
        Outcome::Ready(v) => observed_from_status(&v),
    };
    // a denial halts every child write; an allowed child is written and owned
    let written: Vec<String> = owned_children(env, k, &entry, &ns, &uid)
        .await?
        .into_iter()
        .map(|(what, _)| what)
        .collect();
    let admitted = matches!(observed.decision.as_str(), "allow" | "undetermined");
    if !admitted && !written.is_empty() {
        problems.push(format!(
            "denied ({}) yet children were written: {written:?}",
            summary
        ));
    }
    if let Shape::Child { child, .. } = &p.shape {
        let child_path = cluster::path_of(child, Some(k), true).ok_or("no path for the child")?;
        let stored = get(env, &child_path).await?;
        match (admitted, stored) {
            (true, None) => problems.push(format!("allowed yet {child_path} was not written")),
            (true, Some(s)) => {
                let owned = s
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|r| r["uid"] == uid.as_str() && r["controller"] == true);
                if !owned {
                    problems.push(format!("{child_path} is not owned by the carrier"));
                }
            }
            (false, Some(_)) => problems.push(format!("denied yet {child_path} exists")),
            (false, None) => {}
        }
    }
    delete(env, &path).await?;
    // the children go too before the next case reuses a name; the garbage collector would
    // take them, but only once it has discovered a new CRD (up to 30 s)
    for (_, child) in owned_children(env, k, &entry, &ns, &uid).await? {
        delete(env, &child).await?;
    }
    for peer in &peers {
        delete(env, peer).await?;
    }
    Ok((observed, summary, problems))
}

/// The case with only the expectations the runtime can show.
fn observable(case: &Case) -> (Case, Vec<&'static str>) {
    let mut c = case.clone();
    let mut dropped = Vec::new();
    if let Some(m) = c.expect.as_object_mut() {
        for key in UNOBSERVABLE {
            if m.remove(*key).is_some() {
                dropped.push(*key);
            }
        }
    }
    (c, dropped)
}

async fn replay_group(
    env: &Env,
    n: usize,
    group: &Group,
    original: &PreparedKatalog,
    mismatches: &mut Vec<String>,
) -> Result<(), String> {
    let started = Instant::now();
    let children: Vec<&Value> = group
        .cases
        .iter()
        .filter_map(|p| match &p.shape {
            Shape::Child { child, .. } => Some(child),
            Shape::Cr => None,
        })
        .collect();
    let path = if children.is_empty() {
        group.katalog.clone()
    } else {
        carrier_katalog(&group.katalog, &children, env.dir.path())?
    };
    let (k, p) = load(&path)?;
    if !children.is_empty() {
        mismatches.extend(check_carrier(group, &p, original));
    }
    cluster::crds(&env.admin, &p).await?;
    let rbac = derived(&k)?;
    grant(env, &rbac).await?;
    let name = group
        .katalog
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    println!(
        "  katalog {} ({} case(s){})",
        name,
        group.cases.len(),
        if children.is_empty() {
            String::new()
        } else {
            format!(", {} through the carrier", children.len())
        }
    );
    let rt = runtime(env, &k, p.clone(), &format!("replay-{n}")).await?;
    let mut failure = None;
    for planned in &group.cases {
        let case = &planned.case;
        let t = Instant::now();
        let (observed, summary, problems) = match replay_case(env, &p, planned).await {
            Ok(x) => x,
            Err(x) => {
                failure = Some(format!("{}: {x}", case.name));
                break;
            }
        };
        let want = decisions::through_decide(original, case);
        let (judged, dropped) = observable(case);
        let mut diffs: Vec<String> = problems;
        if let Err(d) = decisions::judge(&judged, &observed) {
            let own = format!("{} / {}: ", case.file, case.name);
            diffs.push(format!("expect: {}", d.strip_prefix(&own).unwrap_or(&d)));
        }
        if observed.decision != want.decision || observed.codes != want.codes {
            diffs.push(format!(
                "decide: {} {:?}, the runtime: {} {:?}",
                want.decision, want.codes, observed.decision, observed.codes
            ));
        }
        println!(
            "    {} → {} {:?} ({summary}; {} ms){}",
            case.name,
            observed.decision,
            observed.codes,
            t.elapsed().as_millis(),
            if dropped.is_empty() {
                String::new()
            } else {
                format!(" [not observable at reconcile: {}]", dropped.join(", "))
            }
        );
        if !observed.message.is_empty() {
            println!("      message: {}", observed.message);
        }
        for d in diffs {
            println!("      MISMATCH {d}");
            mismatches.push(format!("{} / {}: {d}", case.file, case.name));
        }
    }
    rt.shutdown().await;
    revoke(env, &rbac).await?;
    println!("    ({} ms)", started.elapsed().as_millis());
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn reconcile_point(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let start = Instant::now();
        let cases: Vec<Case> = decisions::load()
            .into_iter()
            .filter(|c| c.point == "reconcile")
            .collect();
        if cases.is_empty() {
            return Err("the corpus has no `point: reconcile` case".into());
        }
        let mut errors = Vec::new();
        for (name, _) in SKIPPED {
            if !cases.iter().any(|c| c.name == *name) {
                errors.push(format!(
                    "SKIPPED names {name:?}, which is not a reconcile-point case"
                ));
            }
        }
        let mut prepared: HashMap<PathBuf, PreparedKatalog> = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        for c in cases.iter().cloned() {
            if let Some((_, why)) = SKIPPED.iter().find(|(n, _)| *n == c.name) {
                println!("  SKIPPED {} / {}: {why}", c.file, c.name);
                continue;
            }
            let k = decisions::prepared(&mut prepared, &c.katalog);
            let g = match groups.iter_mut().position(|g| g.katalog == c.katalog) {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(Group {
                        katalog: c.katalog.clone(),
                        cases: Vec::new(),
                    });
                    let last = groups.len() - 1;
                    &mut groups[last]
                }
            };
            let children = g
                .cases
                .iter()
                .filter(|p| matches!(p.shape, Shape::Child { .. }))
                .count();
            match classify(k, &c, children) {
                Ok(shape) => g.cases.push(Planned { case: c, shape }),
                Err(why) => errors.push(format!(
                    "{} / {}: cannot be replayed through the runtime ({why}); express it or list it in SKIPPED with the reason",
                    c.file, c.name
                )),
            }
        }
        let total: usize = groups.iter().map(|g| g.cases.len()).sum();
        println!(
            "  {total} reconcile-point case(s) over {} Katalog(s)",
            groups.len()
        );
        for (n, g) in groups.iter().enumerate() {
            let original = decisions::prepared(&mut prepared, &g.katalog);
            replay_group(env, n, g, original, &mut errors).await?;
        }
        println!("  replayed in {} ms", start.elapsed().as_millis());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} mismatch(es):\n    {}",
                errors.len(),
                errors.join("\n    ")
            ))
        }
    })
}

fn main() -> ExitCode {
    let tests: &[(&str, ork_testenv::harness::Test<Env>)] = &[("reconcile_point", reconcile_point)];
    ork_testenv::harness::run(tests, Duration::from_secs(180), support::setup(), |_| {})
}
