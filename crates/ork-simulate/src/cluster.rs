//! The in-memory cluster `ork simulate` reconciles against (docs/cli.md §5): what an API
//! server does to the writes a reconcile cycle makes, and nothing more.
//!
//! It assigns uid, resourceVersion (one counter for the cluster) and generation (bumped when
//! anything outside metadata and status changes), keeps `status` behind its subresource,
//! honours finalizers (a delete sets `deletionTimestamp`; the object goes once the last
//! finalizer does) and garbage-collects the dependents of a removed owner by ownerReference
//! uid. Server-side apply ownership is kept per object and manager, not per field: each
//! manager's last applied configuration is remembered, an apply removes the fields its previous
//! configuration set and the new one does not, and `metadata.managedFields` lists each manager
//! with its operation. No other manager writes the fields ork applies here (the simulated
//! controllers write `status` only), so an apply never conflicts. A write that changes nothing
//! keeps the resourceVersion, as an API server does.

use std::collections::{BTreeMap, BTreeSet};

use ork_limits::{Exceeded, Limits};
use serde_json::{Map, Value, json};

/// Where an object lives: API group, resource (plural), namespace (`""`: cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    /// The key of `obj` served as `resource`.
    pub fn of(resource: &str, obj: &Value) -> Key {
        let api_version = text(obj, "/apiVersion");
        Key {
            group: group_of(api_version).to_string(),
            resource: resource.to_string(),
            namespace: text(obj, "/metadata/namespace").to_string(),
            name: text(obj, "/metadata/name").to_string(),
        }
    }

    /// `deployments default/web`
    pub fn show(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.resource, self.name)
        } else {
            format!("{} {}/{}", self.resource, self.namespace, self.name)
        }
    }
}

/// The group of an apiVersion (`apps/v1` → `apps`, `v1` → `""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

pub(crate) fn text<'v>(v: &'v Value, p: &str) -> &'v str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// What an API server answers instead of the object.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    NotFound(String),
    /// 409: exists already, or a precondition (uid, resourceVersion) does not hold
    Conflict(String),
    /// 422: a JSON patch whose test fails, a body that is not an object
    Invalid(String),
    /// the cluster's object budget: the simulation stops
    Budget(Exceeded),
}

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::Invalid(_) => 422,
            ApiError::Budget(_) => 507,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::NotFound(m) => write!(f, "not found: {m}"),
            ApiError::Conflict(m) => write!(f, "conflict: {m}"),
            ApiError::Invalid(m) => write!(f, "invalid: {m}"),
            ApiError::Budget(e) => write!(f, "in-memory cluster: {e}"),
        }
    }
}

#[derive(Clone)]
struct Stored {
    value: Value,
    /// each manager's last applied configuration
    applied: BTreeMap<String, Value>,
    /// `status` is written only through `/status`
    status_subresource: bool,
}

/// The cluster. Cloning it is how a dry run computes a write without keeping it.
#[derive(Clone)]
pub struct Cluster {
    objects: BTreeMap<Key, Stored>,
    rv: u64,
    uids: u64,
    /// mixed into every uid, so runs with different seeds do not share uids
    salt: u64,
    now: String,
    max_objects: u64,
    /// resources whose objects keep `status` in the main resource (CRDs without the
    /// subresource)
    no_status_subresource: BTreeSet<(String, String)>,
}

impl Cluster {
    pub fn new(limits: &Limits, seed: Option<u64>, now: &str) -> Cluster {
        Cluster {
            objects: BTreeMap::new(),
            rv: 0,
            uids: 0,
            salt: seed.unwrap_or(0) & 0xffff_ffff,
            now: now.to_string(),
            max_objects: limits.simulate_objects,
            no_status_subresource: BTreeSet::new(),
        }
    }

    /// Declares a resource (a CRD's) whose objects have no `/status` subresource.
    pub fn without_status_subresource(&mut self, group: &str, resource: &str) {
        self.no_status_subresource
            .insert((group.to_string(), resource.to_string()));
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key).map(|s| &s.value)
    }

    /// Every object of a resource in a namespace (`None`: all), by namespace and name.
    pub fn list(&self, group: &str, resource: &str, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.group == group && k.resource == resource)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, s)| &s.value)
            .collect()
    }

    /// Every object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter().map(|(k, s)| (k, &s.value))
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.salt, self.uids)
    }

    fn status_subresource(&self, key: &Key) -> bool {
        !self
            .no_status_subresource
            .contains(&(key.group.clone(), key.resource.clone()))
    }

    /// Creates `body` as `manager` (operation `Update`): 409 when it exists.
    pub fn create(&mut self, key: &Key, body: &Value, manager: &str) -> Result<Value, ApiError> {
        self.insert(key, body, manager, "Update", None)
    }

    fn insert(
        &mut self,
        key: &Key,
        body: &Value,
        manager: &str,
        operation: &str,
        applied: Option<Value>,
    ) -> Result<Value, ApiError> {
        if self.objects.contains_key(key) {
            return Err(ApiError::Conflict(format!("{} already exists", key.show())));
        }
        if self.objects.len() as u64 >= self.max_objects {
            return Err(ApiError::Budget(Exceeded::new(
                "simulate.objects",
                self.max_objects,
            )));
        }
        let Some(src) = body.as_object() else {
            return Err(ApiError::Invalid(format!("{}: not an object", key.show())));
        };
        let status_subresource = self.status_subresource(key);
        let mut obj = src.clone();
        if status_subresource {
            obj.remove("status");
        }
        let mut meta = obj
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for server_set in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "managedFields",
        ] {
            meta.remove(server_set);
        }
        meta.insert("name".into(), json!(key.name));
        if let Some(labels) = name_label(key) {
            let l = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = l.as_object_mut() {
                l.extend(labels);
            }
        }
        if !key.namespace.is_empty() {
            meta.insert("namespace".into(), json!(key.namespace));
        }
        meta.insert("uid".into(), json!(self.next_uid()));
        meta.insert("resourceVersion".into(), json!(self.next_rv()));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!(self.now));
        meta.insert(
            "managedFields".into(),
            json!([managed_entry(manager, operation, &obj)]),
        );
        obj.insert("metadata".into(), Value::Object(meta));
        let value = Value::Object(obj);
        let mut stored = Stored {
            value: value.clone(),
            applied: BTreeMap::new(),
            status_subresource,
        };
        if let Some(a) = applied {
            stored.applied.insert(manager.to_string(), a);
        }
        self.objects.insert(key.clone(), stored);
        Ok(value)
    }

    /// Server-side apply of `config` as `manager`: creates the object when absent; otherwise
    /// removes what the manager's previous configuration set and this one does not, then
    /// merges this one in (maps by key, lists and scalars replaced).
    pub fn apply(&mut self, key: &Key, config: &Value, manager: &str) -> Result<Value, ApiError> {
        let mut cfg = config.clone();
        if let Some(o) = cfg.as_object_mut() {
            o.remove("status");
        }
        let Some(stored) = self.objects.get(key) else {
            return self.insert(key, &cfg, manager, "Apply", Some(cfg.clone()));
        };
        let mut next = stored.value.clone();
        if let Some(prev) = stored.applied.get(manager) {
            prune(&mut next, prev, &cfg);
        }
        merge(&mut next, &cfg);
        set_manager(&mut next, manager, "Apply");
        let out = self.commit(key, next, false)?;
        if let Some(s) = self.objects.get_mut(key) {
            s.applied.insert(manager.to_string(), cfg);
        }
        Ok(out)
    }

    /// A JSON merge patch (RFC 7386) of the main resource. A `metadata.resourceVersion` in
    /// the patch is a precondition.
    pub fn merge_patch(
        &mut self,
        key: &Key,
        patch: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let cur = self.current(key)?;
        check_rv(key, cur, patch)?;
        let mut next = cur.clone();
        let mut patch = patch.clone();
        if let Some(m) = patch
            .pointer_mut("/metadata")
            .and_then(Value::as_object_mut)
        {
            m.remove("resourceVersion");
        }
        merge_patch(&mut next, &patch);
        set_manager(&mut next, manager, "Update");
        self.commit(key, next, false)
    }

    /// A JSON patch (RFC 6902) of the main resource; a failing `test` op is 422.
    pub fn json_patch(&mut self, key: &Key, ops: &Value, manager: &str) -> Result<Value, ApiError> {
        let cur = self.current(key)?;
        let patch: json_patch::Patch = serde_json::from_value(ops.clone())
            .map_err(|e| ApiError::Invalid(format!("{}: {e}", key.show())))?;
        let mut next = cur.clone();
        json_patch::patch(&mut next, &patch)
            .map_err(|e| ApiError::Invalid(format!("{}: {e}", key.show())))?;
        set_manager(&mut next, manager, "Update");
        self.commit(key, next, false)
    }

    /// A JSON merge patch of `/status`.
    pub fn patch_status(
        &mut self,
        key: &Key,
        patch: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let cur = self.current(key)?;
        let mut next = cur.clone();
        let status = patch.get("status").cloned().unwrap_or(Value::Null);
        let slot = next
            .as_object_mut()
            .map(|o| o.entry("status").or_insert_with(|| json!({})));
        if let Some(slot) = slot {
            merge_patch(slot, &status);
        }
        set_manager(&mut next, manager, "Update");
        self.commit(key, next, true)
    }

    /// Replaces the main resource with `obj` (a user's `kubectl replace`/edit): metadata the
    /// server owns is kept, `status` too when the subresource exists.
    pub fn update(&mut self, key: &Key, obj: &Value, manager: &str) -> Result<Value, ApiError> {
        let cur = self.current(key)?.clone();
        let mut next = obj.clone();
        let Some(o) = next.as_object_mut() else {
            return Err(ApiError::Invalid(format!("{}: not an object", key.show())));
        };
        let meta = o.entry("metadata").or_insert_with(|| json!({}));
        for server_set in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "managedFields",
            "name",
            "namespace",
        ] {
            match cur.pointer(&format!("/metadata/{server_set}")) {
                Some(v) => meta[server_set] = v.clone(),
                None => {
                    if let Some(m) = meta.as_object_mut() {
                        m.remove(server_set);
                    }
                }
            }
        }
        set_manager(&mut next, manager, "Update");
        self.commit(key, next, false)
    }

    /// Deletes: with finalizers the object gets a `deletionTimestamp` and stays; without, it is
    /// removed and its dependents garbage-collected. `uid` is a precondition (409).
    pub fn delete(&mut self, key: &Key, uid: Option<&str>) -> Result<(), ApiError> {
        let cur = self.current(key)?;
        if let Some(uid) = uid
            && text(cur, "/metadata/uid") != uid
        {
            return Err(ApiError::Conflict(format!(
                "{}: precondition failed: uid in precondition: {uid}, uid in object meta: {}",
                key.show(),
                text(cur, "/metadata/uid")
            )));
        }
        if cur.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(());
        }
        let mut next = cur.clone();
        next["metadata"]["deletionTimestamp"] = json!(self.now);
        self.commit(key, next, false).map(|_| ())
    }

    fn current(&self, key: &Key) -> Result<&Value, ApiError> {
        self.get(key).ok_or_else(|| ApiError::NotFound(key.show()))
    }

    /// Stores `next` when it differs from what is stored (bumping resourceVersion, and
    /// generation when anything outside metadata and status changed); removes an object being
    /// deleted whose finalizers are gone.
    fn commit(
        &mut self,
        key: &Key,
        mut next: Value,
        status_write: bool,
    ) -> Result<Value, ApiError> {
        let Some(stored) = self.objects.get(key) else {
            return Err(ApiError::NotFound(key.show()));
        };
        let cur = stored.value.clone();
        if let Some(labels) = name_label(key) {
            for (k, v) in labels {
                next["metadata"]["labels"][k] = v;
            }
        }
        if stored.status_subresource {
            if status_write {
                // /status writes nothing but status (and the writer's managedFields entry)
                let mut only = cur.clone();
                set_or_remove(&mut only, "status", next.get("status").cloned());
                only["metadata"]["managedFields"] = next
                    .pointer("/metadata/managedFields")
                    .cloned()
                    .unwrap_or_else(|| json!([]));
                next = only;
            } else {
                // the main resource never writes status
                set_or_remove(&mut next, "status", cur.get("status").cloned());
            }
        }
        let gone = next.pointer("/metadata/deletionTimestamp").is_some()
            && next
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if same(&cur, &next) && !gone {
            return Ok(cur);
        }
        if !same(&without_meta_status(&cur), &without_meta_status(&next))
            || cur.pointer("/metadata/deletionTimestamp")
                != next.pointer("/metadata/deletionTimestamp")
        {
            let g = cur
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            next["metadata"]["generation"] = json!(g + 1);
        }
        next["metadata"]["resourceVersion"] = json!(self.next_rv());
        if gone {
            self.remove(key);
            return Ok(next);
        }
        if let Some(s) = self.objects.get_mut(key) {
            s.value = next.clone();
        }
        Ok(next)
    }

    /// Removes the object and, in turn, every object whose ownerReferences name a removed
    /// uid (background propagation; a dependent with finalizers only gets its
    /// `deletionTimestamp`).
    fn remove(&mut self, key: &Key) {
        let mut queue = vec![key.clone()];
        while let Some(k) = queue.pop() {
            let Some(s) = self.objects.remove(&k) else {
                continue;
            };
            let uid = text(&s.value, "/metadata/uid").to_string();
            let dependents: Vec<Key> = self
                .objects
                .iter()
                .filter(|(_, d)| owned_by(&d.value, &uid))
                .map(|(k, _)| k.clone())
                .collect();
            for d in dependents {
                let has_finalizers = self
                    .get(&d)
                    .and_then(|v| v.pointer("/metadata/finalizers"))
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty());
                if has_finalizers {
                    let _ = self.delete(&d, None);
                } else {
                    queue.push(d);
                }
            }
        }
    }
}

/// The label every Namespace carries with its own name (the API server sets it, and webhook
/// namespaceSelectors select on it).
fn name_label(key: &Key) -> Option<Map<String, Value>> {
    (key.group.is_empty() && key.resource == "namespaces").then(|| {
        let mut m = Map::new();
        m.insert("kubernetes.io/metadata.name".into(), json!(key.name));
        m
    })
}

fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
}

fn check_rv(key: &Key, cur: &Value, patch: &Value) -> Result<(), ApiError> {
    match patch
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv) if rv != text(cur, "/metadata/resourceVersion") => {
            Err(ApiError::Conflict(format!(
                "{}: the object has been modified; please apply your changes to the latest version and try again",
                key.show()
            )))
        }
        _ => Ok(()),
    }
}

/// The object compared as an API server does for a no-op write: without resourceVersion,
/// generation and managedFields.
fn same(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("generation");
            m.remove("managedFields");
        }
        v
    }
    strip(a) == strip(b)
}

fn without_meta_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v
}

fn managed_entry(manager: &str, operation: &str, obj: &Map<String, Value>) -> Value {
    json!({"manager": manager, "operation": operation,
           "apiVersion": obj.get("apiVersion").cloned().unwrap_or(Value::Null)})
}

/// Records `manager`'s `operation` in `metadata.managedFields` (one entry per manager and
/// operation: ownership at the granularity of the object).
fn set_manager(obj: &mut Value, manager: &str, operation: &str) {
    let api_version = obj.get("apiVersion").cloned().unwrap_or(Value::Null);
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("managedFields").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    if !list
        .iter()
        .any(|m| m["manager"] == manager && m["operation"] == operation)
    {
        list.push(json!({"manager": manager, "operation": operation, "apiVersion": api_version}));
    }
}

fn set_or_remove(obj: &mut Value, key: &str, v: Option<Value>) {
    if let Some(o) = obj.as_object_mut() {
        match v {
            Some(v) => o.insert(key.to_string(), v),
            None => o.remove(key),
        };
    }
}

/// Removes from `target` every field `old` set that `new` does not (recursing into maps both
/// set).
fn prune(target: &mut Value, old: &Value, new: &Value) {
    let (Some(t), Some(o)) = (target.as_object_mut(), old.as_object()) else {
        return;
    };
    for (k, ov) in o {
        match new.get(k) {
            None => {
                t.remove(k);
            }
            Some(nv) if ov.is_object() && nv.is_object() => {
                if let Some(tv) = t.get_mut(k) {
                    prune(tv, ov, nv);
                }
            }
            Some(_) => {}
        }
    }
}

/// Merges an applied configuration: maps by key, everything else replaced.
fn merge(target: &mut Value, new: &Value) {
    match (target.as_object_mut(), new.as_object()) {
        (Some(t), Some(n)) => {
            for (k, nv) in n {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && nv.is_object() => merge(tv, nv),
                    _ => {
                        t.insert(k.clone(), nv.clone());
                    }
                }
            }
        }
        _ => *target = new.clone(),
    }
}

/// RFC 7386: null removes, maps merge, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        Cluster::new(&Limits::default(), None, "2026-01-01T00:00:00Z")
    }

    fn cm(name: &str, data: Value) -> (Key, Value) {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "n"}, "data": data});
        (Key::of("configmaps", &v), v)
    }

    #[test]
    fn apply_removes_what_the_manager_stopped_setting_and_a_noop_keeps_the_version() {
        let mut c = cluster();
        let (k, v) = cm("a", json!({"x": "1", "y": "2"}));
        let first = c.apply(&k, &v, "m").unwrap();
        assert_eq!(first["metadata"]["generation"], 1);
        let rv = first["metadata"]["resourceVersion"].clone();
        let again = c.apply(&k, &v, "m").unwrap();
        assert_eq!(again["metadata"]["resourceVersion"], rv, "a no-op apply");
        // another manager's field survives; the manager's dropped field goes
        c.merge_patch(&k, &json!({"data": {"z": "3"}}), "kubectl")
            .unwrap();
        let (_, v2) = cm("a", json!({"x": "1"}));
        let after = c.apply(&k, &v2, "m").unwrap();
        assert_eq!(after["data"], json!({"x": "1", "z": "3"}));
        assert_ne!(after["metadata"]["resourceVersion"], rv);
        assert_eq!(after["metadata"]["generation"], 3);
    }

    #[test]
    fn finalizers_hold_a_delete_and_removal_collects_dependents() {
        let mut c = cluster();
        let owner = json!({"apiVersion": "t.io/v1", "kind": "App",
            "metadata": {"name": "o", "namespace": "n", "finalizers": ["f"]}});
        let ok = Key::of("apps", &owner);
        let o = c.create(&ok, &owner, "u").unwrap();
        let uid = o["metadata"]["uid"].as_str().unwrap().to_string();
        let (ck, mut child) = cm("c", json!({}));
        child["metadata"]["ownerReferences"] = json!([{"uid": uid, "controller": true}]);
        c.create(&ck, &child, "m").unwrap();
        c.delete(&ok, None).unwrap();
        assert!(c.get(&ok).unwrap()["metadata"]["deletionTimestamp"].is_string());
        assert!(c.get(&ck).is_some());
        c.merge_patch(&ok, &json!({"metadata": {"finalizers": null}}), "m")
            .unwrap();
        assert!(c.get(&ok).is_none(), "the last finalizer removes it");
        assert!(c.get(&ck).is_none(), "its dependent is collected");
    }

    #[test]
    fn status_lives_behind_its_subresource() {
        let mut c = cluster();
        let (k, mut v) = cm("s", json!({}));
        v["status"] = json!({"phase": "x"});
        let created = c.create(&k, &v, "m").unwrap();
        assert!(created.get("status").is_none());
        c.patch_status(&k, &json!({"status": {"phase": "Ready"}}), "m")
            .unwrap();
        let patched = c
            .merge_patch(
                &k,
                &json!({"status": {"phase": "no"}, "data": {"a": "b"}}),
                "m",
            )
            .unwrap();
        assert_eq!(patched["status"]["phase"], "Ready");
        assert_eq!(patched["data"]["a"], "b");
        let stale = c.merge_patch(&k, &json!({"metadata": {"resourceVersion": "1"}}), "m");
        assert!(matches!(stale, Err(ApiError::Conflict(_))));
    }

    #[test]
    fn the_object_budget_is_an_error_naming_it() {
        let limits = Limits {
            simulate_objects: 1,
            ..Limits::default()
        };
        let mut c = Cluster::new(&limits, None, "2026-01-01T00:00:00Z");
        let (k, v) = cm("a", json!({}));
        c.create(&k, &v, "m").unwrap();
        let (k2, v2) = cm("b", json!({}));
        let Err(e) = c.create(&k2, &v2, "m") else {
            panic!("over budget");
        };
        assert!(e.to_string().contains("simulate.objects"), "{e}");
    }
}
