//! One reconcile cycle of one CR against the in-memory cluster, step for step the runtime's
//! (`crates/ork-runtime/src/cycle.rs`, `children.rs`; docs/katalog.md §6.2–§6.5).
//!
//! Every decision is the runtime's own: `ork_render::render_cycle` (which asks
//! `ork_policy::decide` at `Point::Reconcile` for the CR and every pod-bearing child),
//! `ork_render::status::managed_metadata` and `status_after`, and `ork_render::reconcile` for
//! the metadata and status patches, create versus apply, rotation, stale children and the
//! onDelete state machine. What is left here is the I/O against [`Cluster`] and the record of
//! each operation.
//!
//! Not modelled: the runtime skips a CR whose spec, metadata and children are unchanged since
//! its last full cycle (a cache, `memo_ok`); simulate runs that cycle in full, and its writes
//! change nothing (`=` with `--all-ops`). Events, metrics and requeue timing are not simulated.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use ork_katalog::ChildKind;
use ork_policy::{PreparedCrd, PreparedKatalog};
use ork_render::reconcile::{self as rec, Cleanup, CrRef, MANAGER, Stale, Step};
use ork_render::status::{managed_metadata, status_after};
use ork_render::{Child, DeclaredKind, Failure, NOT_PERMITTED, Options};
use ork_template::Ctx;
use serde::Serialize;
use serde_json::Value;

use crate::Error;
use crate::cluster::{ApiError, Cluster, Key, group_of, text};

/// An operation's verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Create,
    Apply,
    Update,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Apply => "apply",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Verb> {
        [
            Verb::Create,
            Verb::Apply,
            Verb::Update,
            Verb::Patch,
            Verb::Delete,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The parts of the CR itself an operation may change, recorded as its `resource`.
pub const CR_PARTS: [&str; 4] = ["finalizers", "labels", "annotations", "status"];

/// One request ork made (docs/cli.md §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Op {
    pub cycle: u32,
    pub verb: Verb,
    /// lower-case plural, or a part of the CR ([`CR_PARTS`])
    pub resource: String,
    /// `None` for a cluster-scoped object
    pub namespace: Option<String>,
    pub name: String,
    pub changed: bool,
    /// ops of one request share it (a metadata patch changes finalizers, labels, annotations)
    #[serde(skip)]
    pub request: u32,
}

/// How a CR's cycle ended: its Ready condition (docs/katalog.md §6.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ready {
    /// `True` or `False`
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

impl Ready {
    fn ok() -> Ready {
        Ready {
            status: "True",
            reason: "ReconcileSucceeded".into(),
            message: String::new(),
        }
    }

    fn failed(f: &Failure) -> Ready {
        Ready {
            status: "False",
            reason: f.reason.to_string(),
            message: f.message.clone(),
        }
    }

    /// A cycle that ended in an error: Ready=False for any reason but a deletion in progress.
    pub fn is_error(&self) -> bool {
        self.status == "False" && self.reason != "Deleting"
    }
}

/// What a cycle of one CRD entry shares.
pub(crate) struct Entry<'k> {
    pub k: &'k PreparedKatalog,
    pub crd: &'k PreparedCrd,
    pub kinds: Vec<(DeclaredKind, ChildKind, bool)>,
    pub opts: Options,
    pub now: DateTime<Utc>,
}

/// Where ops go.
pub(crate) struct Recorder {
    pub cycle: u32,
    pub ops: Vec<Op>,
    request: u32,
}

impl Recorder {
    pub fn new(cycle: u32) -> Recorder {
        Recorder {
            cycle,
            ops: Vec::new(),
            request: 0,
        }
    }

    fn op(&mut self, verb: Verb, key: &Key, resource: &str, changed: bool) {
        self.ops.push(Op {
            cycle: self.cycle,
            verb,
            resource: resource.to_string(),
            namespace: Some(key.namespace.clone()).filter(|s| !s.is_empty()),
            name: key.name.clone(),
            changed,
            request: self.request,
        });
    }

    fn next(&mut self) {
        self.request += 1;
    }
}

/// The budget stops the run; every other API error is the cycle's, as in the runtime.
fn budget(e: ApiError) -> Result<ApiError, Error> {
    match e {
        ApiError::Budget(b) => Err(Error::Budget(b)),
        other => Ok(other),
    }
}

fn rv(v: &Value) -> &str {
    text(v, "/metadata/resourceVersion")
}

/// A write failed: the runtime's two kinds.
enum WriteError {
    Input(Failure),
    Api(Failure),
}

/// Reconciles the CR at `key` once; `None` when it no longer exists.
pub(crate) fn reconcile(
    c: &mut Cluster,
    e: &Entry<'_>,
    key: &Key,
    r: &mut Recorder,
) -> Result<Option<Ready>, Error> {
    let Some(value) = c.get(key).cloned() else {
        return Ok(None);
    };
    if value.pointer("/metadata/deletionTimestamp").is_some() {
        return deletion(c, e, key, &value, r).map(Some);
    }
    let crd = e.crd;
    // steps 2, 4, 5: guard, mutation, validation, render, backstop — all before any write
    let mut outcome = ork_render::render_cycle(e.k, crd, &value, &e.opts);
    if let Err(f) = &outcome
        && f.reason == NOT_PERMITTED
    {
        return Ok(Some(Ready::failed(f)));
    }
    // step 3: the label manager's one merge patch
    let now = rec::stamp(e.now);
    let want = managed_metadata(e.k, crd, &value, &now);
    if let Some(patch) = rec::metadata_patch(&value["metadata"], &want) {
        match c.merge_patch(key, &patch, MANAGER) {
            Ok(after) => {
                r.next();
                for part in ["finalizers", "labels", "annotations"] {
                    if patch["metadata"].get(part).is_some() {
                        r.op(Verb::Patch, key, part, rv(&after) != rv(&value));
                    }
                }
            }
            // the runtime's cycle stops here and retries
            Err(err) => {
                let err = budget(err)?;
                return Ok(Some(Ready::failed(&rec::api_failure(
                    "metadata",
                    "patch",
                    &err.to_string(),
                ))));
            }
        }
    }
    // step 6: writes
    let uid = text(&value, "/metadata/uid").to_string();
    let name = key.name.clone();
    let cr = CrRef {
        uid: &uid,
        kind: &crd.api.kind,
        name: &name,
    };
    let namespace = Some(key.namespace.as_str()).filter(|s| !s.is_empty());
    let mut existing: Vec<(ChildKind, Value)> = Vec::new();
    if let Ok(cycle) = &outcome {
        match write_all(c, e, cr, namespace, &e.kinds, &cycle.children, r)? {
            Ok(w) => existing = w,
            Err(WriteError::Input(f) | WriteError::Api(f)) => outcome = Err(f),
        }
    } else {
        // a failed cycle still shows what exists to status fields
        existing = owned(c, &e.kinds, &uid, namespace)
            .into_iter()
            .filter_map(|(i, v)| e.kinds.get(i).map(|k| (k.1, v)))
            .collect();
    }
    // step 7: status
    let children = ork_render::children_data(existing.iter().map(|(k, v)| (*k, v)));
    let mut tctx = Ctx::with_limits(e.opts.seed, Some(e.now), e.k.limits);
    let status = match status_after(e.k, crd, &value, &outcome, &children, &now, &mut tctx) {
        Ok(s) => s,
        Err(f) => {
            outcome = Err(f);
            status_after(e.k, crd, &value, &outcome, &children, &now, &mut tctx).unwrap_or(None)
        }
    };
    if let Some(w) = rec::status_write(crd, &value, status) {
        match c.patch_status(key, &w.body, MANAGER) {
            Ok(after) => {
                r.next();
                r.op(Verb::Patch, key, "status", rv(&after) != rv(&value));
            }
            Err(err) => {
                let err = budget(err)?;
                return Ok(Some(Ready::failed(&rec::api_failure(
                    "status",
                    "patch",
                    &err.to_string(),
                ))));
            }
        }
    }
    Ok(Some(match &outcome {
        Ok(_) => Ready::ok(),
        Err(f) => Ready::failed(f),
    }))
}

/// The children this CR controls, per declared kind, listed by the owner-uid label.
fn owned(
    c: &Cluster,
    kinds: &[(DeclaredKind, ChildKind, bool)],
    uid: &str,
    namespace: Option<&str>,
) -> Vec<(usize, Value)> {
    let mut out = Vec::new();
    for (i, (d, _, _)) in kinds.iter().enumerate() {
        let ns = if d.namespaced { namespace } else { None };
        for v in c.list(group_of(&d.api_version), &d.resource, ns) {
            let labelled = v
                .pointer("/metadata/labels")
                .and_then(|l| l.get(ork_render::OWNER_UID))
                .and_then(Value::as_str)
                == Some(uid);
            if labelled && rec::controlled_by(v, uid) {
                out.push((i, v.clone()));
            }
        }
    }
    out
}

/// The runtime's `children::write_all`: writes in order, an API error stops the rest, then
/// deletes the stale applied children; returns every existing child.
fn write_all(
    c: &mut Cluster,
    e: &Entry<'_>,
    cr: CrRef<'_>,
    namespace: Option<&str>,
    kinds: &[(DeclaredKind, ChildKind, bool)],
    children: &[Child],
    r: &mut Recorder,
) -> Result<Result<Vec<(ChildKind, Value)>, WriteError>, Error> {
    let owned = owned(c, kinds, cr.uid, namespace);
    let mut index = rec::index_owned(kinds, &owned);
    let mut existing = Vec::new();
    let mut rendered = HashSet::new();
    for child in children {
        let ck = rec::child_key(&child.resource, &child.object);
        rendered.insert(ck.clone());
        let known = index.remove(&ck);
        match write_one(c, e, cr, child, known, r)? {
            Ok(Some(obj)) => existing.push((child.kind, obj)),
            Ok(None) => {}
            Err(w) => return Ok(Err(w)),
        }
    }
    for (i, v, fate) in rec::stale(kinds, &owned, &rendered) {
        let Some((d, kind, _)) = kinds.get(i) else {
            continue;
        };
        if fate == Stale::Keep {
            existing.push((*kind, v.clone()));
            continue;
        }
        let key = Key::of(&d.resource, v);
        match c.delete(&key, Some(text(v, "/metadata/uid"))) {
            Ok(()) => {
                r.next();
                r.op(Verb::Delete, &key, &d.resource, true);
            }
            Err(err) => match budget(err)? {
                ApiError::NotFound(_) | ApiError::Conflict(_) => {}
                other => {
                    return Ok(Err(WriteError::Api(rec::api_failure(
                        "children",
                        &format!("delete {} {}", d.kind, rec::object_key(v)),
                        &other.to_string(),
                    ))));
                }
            },
        }
    }
    Ok(Ok(existing))
}

/// The runtime's `children::write_one`: the child as it stands afterwards.
fn write_one(
    c: &mut Cluster,
    e: &Entry<'_>,
    cr: CrRef<'_>,
    child: &Child,
    known: Option<Value>,
    r: &mut Recorder,
) -> Result<Result<Option<Value>, WriteError>, Error> {
    let key = Key::of(&child.resource, &child.object);
    // not among the owned children: it is absent, or someone else's
    let current = known.or_else(|| c.get(&key).cloned());
    let step = match rec::step(child, current.as_ref(), cr, e.now) {
        Ok(s) => s,
        Err(f) => return Ok(Err(WriteError::Input(f))),
    };
    let api = |err: ApiError, what: &str| -> Result<WriteError, Error> {
        let err = budget(err)?;
        Ok(WriteError::Api(rec::api_failure(
            &child.entry,
            &format!("{what} {}", rec::object_key(&child.object)),
            &err.to_string(),
        )))
    };
    let body = match step {
        Step::Keep => return Ok(Ok(current)),
        Step::Apply => {
            let before = current.as_ref().map(|v| rv(v).to_string());
            return Ok(match c.apply(&key, &child.object, MANAGER) {
                Ok(v) => {
                    let changed = before.is_none_or(|b| b != rv(&v));
                    r.next();
                    r.op(Verb::Apply, &key, &child.resource, changed);
                    Ok(Some(v))
                }
                Err(err) => Err(api(err, "apply")?),
            });
        }
        Step::Create(body) => body,
        Step::Rotate { uid, body } => {
            if let Err(err) = c.delete(&key, Some(&uid)) {
                return Ok(Err(api(err, "rotate")?));
            }
            r.next();
            r.op(Verb::Delete, &key, &child.resource, true);
            body
        }
    };
    Ok(match c.create(&key, &body, MANAGER) {
        Ok(v) => {
            r.next();
            r.op(Verb::Create, &key, &child.resource, true);
            Ok(Some(v))
        }
        // created meanwhile: whose is it?
        Err(ApiError::Conflict(_)) => match c.get(&key) {
            Some(v) if rec::controlled_by(v, cr.uid) => Ok(Some(v.clone())),
            _ => Err(WriteError::Input(rec::conflict(child, cr))),
        },
        Err(err) => Err(api(err, "create")?),
    })
}

/// The runtime's deletion path (docs/katalog.md §6.5): onDelete jobs, then the guarded
/// finalizer removal.
fn deletion(
    c: &mut Cluster,
    e: &Entry<'_>,
    key: &Key,
    value: &Value,
    r: &mut Recorder,
) -> Result<Ready, Error> {
    let crd = e.crd;
    let Some(removal) = rec::finalizer_removal(value) else {
        // not ork's to finish: another finalizer holds it
        return Ok(Ready {
            status: "False",
            reason: "Deleting".into(),
            message: String::new(),
        });
    };
    let now = rec::stamp(e.now);
    let uid = text(value, "/metadata/uid").to_string();
    let name = key.name.clone();
    let cr = CrRef {
        uid: &uid,
        kind: &crd.api.kind,
        name: &name,
    };
    let namespace = Some(key.namespace.as_str()).filter(|s| !s.is_empty());
    let state = match ork_render::render_on_delete(e.k, crd, value, &e.opts) {
        Err(f) => Cleanup::Failed(f.message),
        Ok(jobs) => {
            let mut state = Cleanup::Done;
            for job in &jobs {
                let one = std::slice::from_ref(job);
                let existing = match write_all(c, e, cr, namespace, &[], one, r)? {
                    Ok(w) => w,
                    Err(WriteError::Input(f)) => {
                        state = Cleanup::Failed(f.message);
                        break;
                    }
                    // the runtime retries with backoff
                    Err(WriteError::Api(f)) => return Ok(Ready::failed(&f)),
                };
                if !state.with_job(&job.entry, existing.first().map(|(_, v)| v)) {
                    break;
                }
            }
            state
        }
    };
    let state = state.with_timeout(crd, value, e.now);
    if let Some(body) = rec::deletion_status(crd, value, &state, &now) {
        // a failed status write does not stop the cleanup
        match c.patch_status(key, &body, MANAGER) {
            Ok(after) => {
                r.next();
                r.op(Verb::Patch, key, "status", rv(&after) != rv(value));
            }
            Err(err) => {
                budget(err)?;
            }
        }
    }
    let (reason, message) = state.condition();
    let ready = Ready {
        status: "False",
        reason: reason.to_string(),
        message,
    };
    if state == Cleanup::Done {
        match c.json_patch(key, &removal, MANAGER) {
            Ok(_) => {
                r.next();
                r.op(Verb::Patch, key, "finalizers", true);
            }
            Err(err) => match budget(err)? {
                ApiError::NotFound(_) => {}
                other => {
                    return Ok(Ready::failed(&rec::api_failure(
                        "finalizer",
                        "removal",
                        &other.to_string(),
                    )));
                }
            },
        }
    }
    Ok(ready)
}
