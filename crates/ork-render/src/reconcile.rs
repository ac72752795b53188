//! The decisions of a reconcile cycle that are not about talking to a cluster (docs/katalog.md
//! §6.2 steps 3, 6 and 7, §6.3, §6.5): the label manager's merge patch, the status patch,
//! create-if-absent versus server-side apply per child, `once` Secret rotation, which owned
//! children are stale and deleted, and the onDelete state machine with its finalizer removal.
//!
//! The runtime (`crates/ork-runtime`) does the I/O against an API server and `ork simulate`
//! (`crates/ork-simulate`) against its in-memory cluster; both take every one of these
//! decisions here, so a simulated cycle cannot drift from a real one.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ork_katalog::ChildKind;
use ork_policy::PreparedCrd;
use serde_json::{Map, Value, json};

use crate::status::FINALIZER;
use crate::{Child, DeclaredKind, Failure, Op};

/// Field manager of every child write.
pub const MANAGER: &str = "ork-runtime";
/// When a `once` Secret with `rotateAfter` was generated.
pub const GENERATED_AT: &str = "orkestra.orkspace.io/generated-at";
/// `onDelete.timeout` when the Katalog gives none.
pub const DEFAULT_ON_DELETE_TIMEOUT: Duration = Duration::from_secs(300);

fn text<'v>(v: &'v Value, p: &str) -> &'v str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// `namespace/name`, or `name` for a cluster-scoped object.
pub fn object_key(v: &Value) -> String {
    match text(v, "/metadata/namespace") {
        "" => text(v, "/metadata/name").to_string(),
        ns => format!("{ns}/{}", text(v, "/metadata/name")),
    }
}

/// The RFC 3339 stamp (seconds, `Z`) conditions and annotations carry.
pub fn stamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The merge patch that makes `have` (the CR's metadata) carry what `want`
/// ([`crate::status::managed_metadata`]) says, or `None` when nothing differs. Carries the
/// resourceVersion, so a concurrent write makes it fail and the cycle retry rather than
/// overwrite.
pub fn metadata_patch(have: &Value, want: &Value) -> Option<Value> {
    let mut patch = Map::new();
    for key in ["labels", "annotations"] {
        let empty = Map::new();
        let h = have.get(key).and_then(Value::as_object).unwrap_or(&empty);
        let w = want.get(key).and_then(Value::as_object).unwrap_or(&empty);
        let mut m = Map::new();
        for (k, v) in w {
            if h.get(k) != Some(v) {
                m.insert(k.clone(), v.clone());
            }
        }
        for k in h.keys() {
            if !w.contains_key(k) {
                m.insert(k.clone(), Value::Null);
            }
        }
        if !m.is_empty() {
            patch.insert(key.into(), Value::Object(m));
        }
    }
    if have.get("finalizers") != want.get("finalizers") {
        patch.insert(
            "finalizers".into(),
            want.get("finalizers").cloned().unwrap_or(Value::Null),
        );
    }
    if patch.is_empty() {
        return None;
    }
    patch.insert(
        "resourceVersion".into(),
        have.get("resourceVersion").cloned().unwrap_or(Value::Null),
    );
    Some(json!({ "metadata": patch }))
}

/// The `/status` merge patch after a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusWrite {
    /// `{"status": {…}}`, keys the new status drops set to null
    pub body: Value,
    /// a declared status field changed: the next state of the machine is due now
    pub declared_changed: bool,
}

/// The status write of a cycle: `None` when the CRD keeps no status, has no status
/// subresource, or the status ([`crate::status::status_after`]) equals the stored one.
pub fn status_write(
    crd: &PreparedCrd,
    cr: &Value,
    status: Option<Map<String, Value>>,
) -> Option<StatusWrite> {
    let new = status?;
    if crd.api.status_subresource == Some(false) {
        return None;
    }
    let empty = Map::new();
    let old = cr
        .get("status")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if *old == new {
        return None;
    }
    let mut body = new.clone();
    for k in old.keys() {
        if !new.contains_key(k) {
            body.insert(k.clone(), Value::Null);
        }
    }
    let old_v = Value::Object(old.clone());
    let new_v = Value::Object(new);
    let declared_changed = crd.status_fields.iter().any(|f| {
        let p = format!("/{}", f.path.replace('.', "/"));
        old_v.pointer(&p) != new_v.pointer(&p)
    });
    Some(StatusWrite {
        body: json!({ "status": body }),
        declared_changed,
    })
}

/// True when `obj` carries the controller ownerReference of the CR with this uid.
pub fn controlled_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid) && r["controller"] == true)
}

/// True when ork wrote `obj` by server-side apply (not only created it).
pub fn applied_by_ork(obj: &Value) -> bool {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|m| m["manager"] == MANAGER && m["operation"] == "Apply")
}

/// A child's identity within a cycle: resource (plural), namespace, name.
pub type ChildKey = (String, String, String);

pub fn child_key(resource: &str, obj: &Value) -> ChildKey {
    (
        resource.to_string(),
        text(obj, "/metadata/namespace").to_string(),
        text(obj, "/metadata/name").to_string(),
    )
}

/// The owned children (per declared kind index, as listed) by their key.
pub fn index_owned(
    kinds: &[(DeclaredKind, ChildKind, bool)],
    owned: &[(usize, Value)],
) -> BTreeMap<ChildKey, Value> {
    owned
        .iter()
        .filter_map(|(i, v)| {
            kinds
                .get(*i)
                .map(|k| (child_key(&k.0.resource, v), v.clone()))
        })
        .collect()
}

/// The CR whose cycle this is.
#[derive(Debug, Clone, Copy)]
pub struct CrRef<'a> {
    pub uid: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
}

/// How one rendered child is written, given what stands in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// a create-once child that exists (and is not due for rotation): left as it is
    Keep,
    /// absent: created with this body
    Create(Value),
    /// a `once` Secret whose `rotateAfter` elapsed: deleted (precondition: this uid), then
    /// created with this body
    Rotate { uid: String, body: Value },
    /// server-side apply of the child's object, `force` as the child says
    Apply,
}

/// The write of `c` when `current` is what the cluster holds under its name (None: absent).
/// An object this CR does not control is never adopted or overwritten: `ChildConflict`.
pub fn step(
    c: &Child,
    current: Option<&Value>,
    cr: CrRef<'_>,
    now: DateTime<Utc>,
) -> Result<Step, Failure> {
    if let Some(cur) = current
        && !controlled_by(cur, cr.uid)
    {
        return Err(conflict(c, cr));
    }
    Ok(match (c.op, current) {
        (Op::Apply, _) => Step::Apply,
        (Op::Create, None) => Step::Create(create_body(c, now)),
        (Op::Create, Some(cur)) if rotation_due(c, cur, now) => Step::Rotate {
            uid: text(cur, "/metadata/uid").to_string(),
            body: create_body(c, now),
        },
        (Op::Create, Some(_)) => Step::Keep,
    })
}

/// The body a create writes: a rotating Secret records when it was generated.
fn create_body(c: &Child, now: DateTime<Utc>) -> Value {
    let mut body = c.object.clone();
    if c.rotate_after.is_some() {
        body["metadata"]["annotations"][GENERATED_AT] = json!(stamp(now));
    }
    body
}

fn rotation_due(c: &Child, cur: &Value, now: DateTime<Utc>) -> bool {
    let Some(after) = c.rotate_after else {
        return false;
    };
    let at = cur
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(GENERATED_AT))
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    match at {
        Some(t) => {
            let age = now.signed_duration_since(t);
            age.to_std().unwrap_or(Duration::ZERO) > after
        }
        // no record of its age: rotate, so the clock starts
        None => true,
    }
}

/// The child exists and another owner (or none) controls it.
pub fn conflict(c: &Child, cr: CrRef<'_>) -> Failure {
    Failure {
        reason: "ChildConflict",
        message: format!(
            "{}: {} {} exists and is not controlled by {} {}; ork never adopts or overwrites it",
            c.entry,
            text(&c.object, "/kind"),
            object_key(&c.object),
            cr.kind,
            cr.name
        ),
    }
}

/// A server-side apply conflict without `forceConflict`.
pub fn apply_conflict(c: &Child, detail: &str) -> Failure {
    Failure {
        reason: "ChildConflict",
        message: format!(
            "{}: server-side apply conflict on {} {} (forceConflict: false): {detail}",
            c.entry,
            text(&c.object, "/kind"),
            object_key(&c.object),
        ),
    }
}

/// An API error while writing: Ready=False `ReconcileError`, retried with backoff.
pub fn api_failure(entry: &str, what: &str, error: &str) -> Failure {
    Failure {
        reason: "ReconcileError",
        message: format!("{entry}: {what}: {error}"),
    }
}

/// What becomes of an owned child no active entry renders any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// ork applied it and its kind deletes (never a PersistentVolumeClaim): deleted
    Delete,
    /// created once, or a kind that never deletes: kept, and shown in `.children`
    Keep,
}

/// The owned children `rendered` does not name, in listing order, each with its fate.
pub fn stale<'o>(
    kinds: &[(DeclaredKind, ChildKind, bool)],
    owned: &'o [(usize, Value)],
    rendered: &HashSet<ChildKey>,
) -> Vec<(usize, &'o Value, Stale)> {
    owned
        .iter()
        .filter_map(|(i, v)| {
            let (d, _, deletes) = kinds.get(*i)?;
            if rendered.contains(&child_key(&d.resource, v)) {
                return None;
            }
            let fate = if *deletes && applied_by_ork(v) {
                Stale::Delete
            } else {
                Stale::Keep
            };
            Some((*i, v, fate))
        })
        .collect()
}

// ----- deletion (docs/katalog.md §6.5) ---------------------------------------------------------

/// The reason of the CR's Ready condition as stored (`""` when it has none).
pub fn ready_reason(cr: &Value) -> &str {
    cr.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["reason"].as_str())
        .unwrap_or("")
}

/// Where the onDelete cleanup stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// every job completed: the finalizer goes
    Done,
    /// a job has not finished yet
    Running,
    /// a job failed, did not render, or the cleanup timed out
    Failed(String),
}

impl Cleanup {
    /// Folds in one onDelete job as it stands after its write (None: not there). Returns
    /// false when the cleanup has failed, so no later job is written.
    pub fn with_job(&mut self, entry: &str, job: Option<&Value>) -> bool {
        let conditions = job
            .and_then(|v| v.pointer("/status/conditions"))
            .and_then(Value::as_array);
        let has = |t: &str| {
            conditions
                .into_iter()
                .flatten()
                .any(|c| c["type"] == t && c["status"] == "True")
        };
        if has("Failed") {
            *self = Cleanup::Failed(format!("{entry}: the Job failed"));
            return false;
        }
        if !has("Complete") {
            *self = Cleanup::Running;
        }
        true
    }

    /// A cleanup still running past `onDelete.timeout` (counted from the deletionTimestamp)
    /// has failed.
    pub fn with_timeout(self, crd: &PreparedCrd, cr: &Value, now: DateTime<Utc>) -> Cleanup {
        match self {
            Cleanup::Running if timed_out(crd, cr, now) => Cleanup::Failed(format!(
                "onDelete did not complete within {}",
                crd.on_delete_timeout.as_deref().unwrap_or("5m")
            )),
            s => s,
        }
    }

    /// The Ready condition's reason and message while deleting.
    pub fn condition(&self) -> (&'static str, String) {
        match self {
            Cleanup::Done => ("Deleting", String::new()),
            Cleanup::Running => ("Deleting", "waiting for onDelete jobs".to_string()),
            Cleanup::Failed(m) => ("CleanupFailed", m.clone()),
        }
    }
}

fn timed_out(crd: &PreparedCrd, cr: &Value, now: DateTime<Utc>) -> bool {
    let timeout = crd
        .on_delete_timeout
        .as_deref()
        .and_then(|t| ork_template::duration::parse_duration(t).ok())
        .unwrap_or(DEFAULT_ON_DELETE_TIMEOUT);
    let Some(since) = cr
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    else {
        return false;
    };
    let elapsed = now.signed_duration_since(since);
    elapsed.to_std().unwrap_or(Duration::ZERO) > timeout
}

/// The `/status` merge patch of a cycle during deletion: Ready=False with the cleanup's reason,
/// written only when the reason changes and the CRD keeps conditions on a status subresource.
pub fn deletion_status(
    crd: &PreparedCrd,
    cr: &Value,
    cleanup: &Cleanup,
    now: &str,
) -> Option<Value> {
    let (reason, message) = cleanup.condition();
    if !crd.status_conditions
        || crd.api.status_subresource == Some(false)
        || ready_reason(cr) == reason
    {
        return None;
    }
    let generation = cr
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let mut conditions: Vec<Value> = cr
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c["type"] != "Ready")
        .cloned()
        .collect();
    conditions.push(json!({"type": "Ready", "status": "False", "reason": reason,
        "message": crate::status::cut(&message), "observedGeneration": generation,
        "lastTransitionTime": now}));
    Some(json!({"status": {"conditions": conditions}}))
}

/// The JSON patch that removes ork's finalizer, guarded by a test op so other finalizers and a
/// concurrent change stay untouched; `None` when the CR does not carry it.
pub fn finalizer_removal(cr: &Value) -> Option<Value> {
    let pos = cr
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)?
        .iter()
        .position(|f| f == FINALIZER)?;
    Some(json!([
        {"op": "test", "path": format!("/metadata/finalizers/{pos}"), "value": FINALIZER},
        {"op": "remove", "path": format!("/metadata/finalizers/{pos}")}
    ]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn child(op: Op, rotate: Option<Duration>) -> Child {
        Child {
            entry: "onCreate.secrets[0]".into(),
            op,
            resource: "secrets".into(),
            object: json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s", "namespace": "n"}}),
            kind: ChildKind::Secrets,
            force: false,
            rotate_after: rotate,
        }
    }

    fn cr() -> CrRef<'static> {
        CrRef {
            uid: "u1",
            kind: "App",
            name: "a",
        }
    }

    fn owned_by(uid: &str, generated: Option<&str>) -> Value {
        let mut v = json!({"metadata": {"name": "s", "namespace": "n", "uid": "x",
            "ownerReferences": [{"uid": uid, "controller": true}]}});
        if let Some(g) = generated {
            v["metadata"]["annotations"] = json!({GENERATED_AT: g});
        }
        v
    }

    #[test]
    fn create_once_keeps_what_exists_and_rotates_when_due() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let once = child(Op::Create, None);
        assert!(matches!(step(&once, None, cr(), now), Ok(Step::Create(_))));
        let cur = owned_by("u1", None);
        assert_eq!(step(&once, Some(&cur), cr(), now), Ok(Step::Keep));
        let rotating = child(Op::Create, Some(Duration::from_secs(3600)));
        let fresh = owned_by("u1", Some("2026-01-01T23:30:00Z"));
        assert_eq!(step(&rotating, Some(&fresh), cr(), now), Ok(Step::Keep));
        let old = owned_by("u1", Some("2026-01-01T20:00:00Z"));
        let Ok(Step::Rotate { uid, body }) = step(&rotating, Some(&old), cr(), now) else {
            panic!("an old Secret is rotated");
        };
        assert_eq!(uid, "x");
        assert_eq!(
            body["metadata"]["annotations"][GENERATED_AT],
            "2026-01-02T00:00:00Z"
        );
    }

    #[test]
    fn someone_elses_object_is_a_conflict_never_a_write() {
        let now = Utc::now();
        let theirs = owned_by("other", None);
        for op in [Op::Create, Op::Apply] {
            let Err(f) = step(&child(op, None), Some(&theirs), cr(), now) else {
                panic!("adopted an object of another owner");
            };
            assert_eq!(f.reason, "ChildConflict");
        }
    }

    #[test]
    fn metadata_patch_sets_and_removes_and_is_none_when_equal() {
        let have = json!({"resourceVersion": "7", "labels": {"a": "1", "x": "y"}});
        let want = json!({"labels": {"a": "1", "b": "2"}, "finalizers": [FINALIZER]});
        let p = metadata_patch(&have, &want).unwrap();
        assert_eq!(
            p,
            json!({"metadata": {"labels": {"b": "2", "x": null},
                "finalizers": [FINALIZER], "resourceVersion": "7"}})
        );
        assert_eq!(metadata_patch(&want, &want), None);
    }

    #[test]
    fn a_failed_job_stops_the_cleanup_and_a_pending_one_keeps_it_running() {
        let mut c = Cleanup::Done;
        assert!(c.with_job(
            "j0",
            Some(&json!({"status": {"conditions": [
            {"type": "Complete", "status": "True"}]}}))
        ));
        assert_eq!(c, Cleanup::Done);
        assert!(c.with_job("j1", Some(&json!({"status": {}}))));
        assert_eq!(c, Cleanup::Running);
        assert!(!c.with_job(
            "j2",
            Some(&json!({"status": {"conditions": [
            {"type": "Failed", "status": "True"}]}}))
        ));
        assert_eq!(c, Cleanup::Failed("j2: the Job failed".into()));
    }

    #[test]
    fn finalizer_removal_is_guarded_and_absent_without_the_finalizer() {
        let cr = json!({"metadata": {"finalizers": ["other", FINALIZER]}});
        let p = finalizer_removal(&cr).unwrap();
        assert_eq!(p[0]["path"], "/metadata/finalizers/1");
        assert_eq!(p[0]["op"], "test");
        assert!(finalizer_removal(&json!({"metadata": {"finalizers": ["other"]}})).is_none());
    }
}
