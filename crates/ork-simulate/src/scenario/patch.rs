//! A `patch` step as the API server serves it: the main resource, or one of the subresources a
//! patch reaches — `status`, a Pod's `ephemeralcontainers` (`kubectl debug`), `scale`. Each is
//! authorized as `patch` of its subresource, the patch applied to what the subresource reads of
//! the stored object, the result routed through admission as an UPDATE of that subresource,
//! and only the subresource's part written back. A subresource the resource does not serve is
//! the API server's 404: an error, never a verdict.

use ork_katalog::Operation;
use ork_policy::PreparedKatalog;
use ork_scenario::{ObjectRef, PatchBody, RequestOpts};
use serde_json::{Map, Value, json};

use super::admission::{Admission, Kind};
use super::world::{Served, World, allowed_reason, api, attrs, not_found, set};
use super::{E2E_MANAGER, Outcome, user_of};
use crate::Error;
use crate::cluster::{Key, text};

/// What a patch writes.
enum Sub {
    Main,
    Status,
    EphemeralContainers,
    Scale(ScalePaths),
}

/// Where a scalable kind keeps its replicas (a CRD's `subresources.scale`).
struct ScalePaths {
    spec: String,
    status: String,
    selector: Option<String>,
    /// the replicas of an object that sets none: 1 for the built-in workloads (their default),
    /// 0 for a CR
    default: i64,
}

impl World<'_> {
    pub(super) fn patch(
        &mut self,
        k: &PreparedKatalog,
        target: &ObjectRef,
        subresource: Option<&str>,
        body: &PatchBody,
        opts: &RequestOpts,
    ) -> Result<(Outcome, String), Error> {
        let served = match self.served_ref(k, target) {
            Ok(s) => s,
            Err(m) => return Ok((Outcome::Error, m)),
        };
        let key = self.ref_key(&served, target);
        let user = user_of(&opts.identity);
        // authorization runs before the API server routes the request
        let why = match self.authorize(&user, &attrs("patch", &served, &key, subresource))? {
            Ok(r) => r,
            Err(m) => return Ok((Outcome::Denied, m)),
        };
        let sub = match subresource {
            None => Sub::Main,
            Some(name) => match self.subresource(&served, name)? {
                Some(s) => s,
                None => {
                    return Ok((
                        Outcome::Error,
                        format!(
                            "the server could not find the requested resource: {}/{name} is not served",
                            served.resource
                        ),
                    ));
                }
            },
        };
        let Some(old) = self.cluster()?.get(&key).cloned() else {
            return Ok((Outcome::Error, not_found(&served, &key)));
        };
        // what the subresource reads of the stored object, and what the patch makes of it
        let (kind, before) = match &sub {
            Sub::Scale(p) => (scale_kind(), scale_of(&old, p)),
            _ => (
                Kind {
                    group: served.group.clone(),
                    version: served.version.clone(),
                    kind: served.kind.clone(),
                },
                old.clone(),
            ),
        };
        let mut patched = before.clone();
        if let Err(m) = apply(&mut patched, body) {
            return Ok((Outcome::Error, m));
        }
        let after = match &sub {
            // the main resource never writes status
            Sub::Main => {
                set(&mut patched, "status", old.get("status").cloned());
                patched
            }
            // a subresource writes only its part
            Sub::Status => {
                let mut o = old.clone();
                set(&mut o, "status", patched.get("status").cloned());
                o
            }
            Sub::EphemeralContainers => {
                if let Err(m) = ephemeral_update(&old, &patched, &key) {
                    return Ok((Outcome::Error, m));
                }
                let mut o = old.clone();
                let list = patched.pointer("/spec/ephemeralContainers").cloned();
                if let Some(spec) = o.get_mut("spec") {
                    set(spec, "ephemeralContainers", list);
                }
                o
            }
            Sub::Scale(_) => {
                if let Err(m) = replicas(&patched).map(|_| ()) {
                    return Ok((
                        Outcome::Error,
                        format!("Scale {:?} is invalid: {m}", key.name),
                    ));
                }
                patched
            }
        };
        let mut call = self.call(
            &served,
            &key,
            Operation::Update,
            Some(after),
            Some(before),
            &user,
            opts.dry_run,
        );
        call.kind = kind;
        call.subresource = subresource.map(str::to_string);
        let (object, warnings) = match self.admit(k, call)? {
            Admission::Denied(m) => return Ok((Outcome::Denied, m)),
            Admission::Allowed { object, warnings } => (object, warnings),
        };
        if !opts.dry_run
            && let Some(o) = object
        {
            let c = self.c()?;
            match &sub {
                Sub::Main | Sub::EphemeralContainers => {
                    c.update(&key, &o, E2E_MANAGER).map_err(api)?;
                }
                Sub::Status => {
                    let body = json!({"status": o.get("status").cloned().unwrap_or(Value::Null)});
                    c.patch_status(&key, &body, E2E_MANAGER).map_err(api)?;
                }
                Sub::Scale(p) => {
                    let n = replicas(&o).map_err(Error::Input)?;
                    let mut next = old;
                    put_path(&mut next, &p.spec, json!(n));
                    c.update(&key, &next, E2E_MANAGER).map_err(api)?;
                }
            }
        }
        Ok((Outcome::Allowed, allowed_reason(&why, &warnings)))
    }

    /// The subresource `name` of a served kind, when it is served for a patch: a CRD's as its
    /// served version declares them; `status` of every built-in kind; a Pod's
    /// `ephemeralcontainers`; `scale` of the built-in workloads that have one.
    fn subresource(&self, served: &Served, name: &str) -> Result<Option<Sub>, Error> {
        if let Some(subs) = self.crd_subresources(served)? {
            return Ok(match name {
                "status" => subs.get("status").map(|_| Sub::Status),
                "scale" => subs.get("scale").map(|s| {
                    Sub::Scale(ScalePaths {
                        spec: text(s, "/specReplicasPath").to_string(),
                        status: text(s, "/statusReplicasPath").to_string(),
                        selector: s
                            .get("labelSelectorPath")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        default: 0,
                    })
                }),
                _ => None,
            });
        }
        Ok(
            match (name, served.group.as_str(), served.resource.as_str()) {
                ("status", _, _) => Some(Sub::Status),
                ("ephemeralcontainers", "", "pods") => Some(Sub::EphemeralContainers),
                ("scale", "apps", "deployments" | "replicasets" | "statefulsets")
                | ("scale", "", "replicationcontrollers") => Some(Sub::Scale(workload_scale())),
                _ => None,
            },
        )
    }

    /// The `subresources` of the served version of a CRD the cluster holds (empty when it
    /// declares none); `None` when the kind is not a CRD's.
    fn crd_subresources(&self, served: &Served) -> Result<Option<Value>, Error> {
        let cluster = self.cluster()?;
        let crd = cluster
            .list("apiextensions.k8s.io", "customresourcedefinitions", None)
            .into_iter()
            .find(|c| {
                text(c, "/spec/group") == served.group
                    && text(c, "/spec/names/plural") == served.resource
            });
        Ok(crd.map(|c| {
            c.pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|v| v["name"] == served.version.as_str())
                .and_then(|v| v.get("subresources"))
                .cloned()
                .unwrap_or_else(|| json!({}))
        }))
    }
}

fn apply(target: &mut Value, body: &PatchBody) -> Result<(), String> {
    match body {
        PatchBody::Merge(p) => {
            crate::cluster::merge_patch(target, p);
            Ok(())
        }
        PatchBody::Json(ops) => {
            let patch: json_patch::Patch =
                serde_json::from_value(ops.clone()).map_err(|e| format!("the JSON patch: {e}"))?;
            json_patch::patch(target, &patch)
                .map_err(|e| format!("the JSON patch does not apply: {e}"))
        }
    }
}

/// The API server's check of an ephemeral containers update: the ones a Pod has stay as they
/// are (they may not be removed or changed), and each new one has a unique name and an image.
fn ephemeral_update(old: &Value, new: &Value, key: &Key) -> Result<(), String> {
    let list = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_array).cloned();
    let before = list(old, "/spec/ephemeralContainers").unwrap_or_default();
    let after = list(new, "/spec/ephemeralContainers").unwrap_or_default();
    let invalid = |m: String| format!("Pod {:?} is invalid: {m}", key.name);
    for (i, c) in before.iter().enumerate() {
        let name = text(c, "/name");
        match after.iter().find(|n| text(n, "/name") == name) {
            None => {
                return Err(invalid(format!(
                    "spec.ephemeralContainers: Forbidden: existing ephemeral containers {name:?} may not be removed"
                )));
            }
            Some(n) if n != c => {
                return Err(invalid(format!(
                    "spec.ephemeralContainers[{i}]: Forbidden: existing ephemeral containers {name:?} may not be changed"
                )));
            }
            Some(_) => {}
        }
    }
    let mut names: Vec<&str> = ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|p| old.pointer(p).and_then(Value::as_array))
        .flatten()
        .map(|c| text(c, "/name"))
        .collect();
    for (i, c) in after.iter().enumerate() {
        let name = text(c, "/name");
        if name.is_empty() {
            return Err(invalid(format!(
                "spec.ephemeralContainers[{i}].name: Required value"
            )));
        }
        if names.contains(&name) {
            return Err(invalid(format!(
                "spec.ephemeralContainers[{i}].name: Duplicate value: {name:?}"
            )));
        }
        names.push(name);
        if text(c, "/image").is_empty() {
            return Err(invalid(format!(
                "spec.ephemeralContainers[{i}].image: Required value"
            )));
        }
    }
    Ok(())
}

fn scale_kind() -> Kind {
    Kind {
        group: "autoscaling".into(),
        version: "v1".into(),
        kind: "Scale".into(),
    }
}

/// The built-in workloads: a LabelSelector, or a ReplicationController's map of labels.
fn workload_scale() -> ScalePaths {
    ScalePaths {
        spec: ".spec.replicas".into(),
        status: ".status.replicas".into(),
        selector: Some(".spec.selector".into()),
        default: 1,
    }
}

/// `.spec.replicas` → the value there.
fn at_path<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(obj, |v, seg| v.get(seg))
}

fn put_path(obj: &mut Value, path: &str, value: Value) {
    let segs: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let Some((last, init)) = segs.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in init {
        if !cur.get(*seg).is_some_and(Value::is_object) {
            cur[*seg] = json!({});
        }
        cur = &mut cur[*seg];
    }
    cur[*last] = value;
}

/// A label selector as a Scale's `status.selector` reads: `k=v,…` of its match labels (a
/// ReplicationController's selector is the map itself).
fn selector_text(sel: &Value) -> String {
    let labels: &Map<String, Value> = match sel.get("matchLabels").and_then(Value::as_object) {
        Some(m) => m,
        None => match sel.as_object() {
            Some(m) if !m.contains_key("matchExpressions") => m,
            _ => return String::new(),
        },
    };
    labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The `autoscaling/v1` Scale the subresource reads of `obj`.
fn scale_of(obj: &Value, p: &ScalePaths) -> Value {
    let spec = at_path(obj, &p.spec)
        .and_then(Value::as_i64)
        .unwrap_or(p.default);
    let status = at_path(obj, &p.status).and_then(Value::as_i64).unwrap_or(0);
    let mut meta = Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = obj.pointer(&format!("/metadata/{f}")) {
            meta.insert(f.into(), v.clone());
        }
    }
    let mut s = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": meta,
        "spec": {"replicas": spec}, "status": {"replicas": status}});
    if let Some(sel) = p.selector.as_deref().and_then(|path| at_path(obj, path)) {
        let text = match sel.as_str() {
            Some(t) => t.to_string(),
            None => selector_text(sel),
        };
        s["status"]["selector"] = json!(text);
    }
    s
}

/// A Scale's `spec.replicas`: a whole number, not negative.
fn replicas(scale: &Value) -> Result<i64, String> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(n),
            _ => Err(format!(
                "spec.replicas: Invalid value: {v}: must be greater than or equal to 0"
            )),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            group: String::new(),
            resource: "pods".into(),
            namespace: "apps".into(),
            name: "target".into(),
        }
    }

    #[test]
    fn ephemeral_containers_are_only_added() {
        let old = json!({"spec": {"containers": [{"name": "app", "image": "a"}],
            "ephemeralContainers": [{"name": "d1", "image": "busybox"}]}});
        let add = json!({"spec": {"ephemeralContainers": [{"name": "d1", "image": "busybox"},
            {"name": "d2", "image": "busybox"}]}});
        assert_eq!(ephemeral_update(&old, &add, &key()), Ok(()));
        let removed = json!({"spec": {"ephemeralContainers": [{"name": "d2", "image": "x"}]}});
        assert!(
            ephemeral_update(&old, &removed, &key())
                .unwrap_err()
                .contains("may not be removed")
        );
        let changed = json!({"spec": {"ephemeralContainers": [{"name": "d1", "image": "other"}]}});
        assert!(
            ephemeral_update(&old, &changed, &key())
                .unwrap_err()
                .contains("may not be changed")
        );
        let clash = json!({"spec": {"ephemeralContainers": [{"name": "d1", "image": "busybox"},
            {"name": "app", "image": "x"}]}});
        assert!(
            ephemeral_update(&old, &clash, &key())
                .unwrap_err()
                .contains("Duplicate value")
        );
        let no_image = json!({"spec": {"ephemeralContainers": [{"name": "d1", "image": "busybox"},
            {"name": "d3"}]}});
        assert!(
            ephemeral_update(&old, &no_image, &key())
                .unwrap_err()
                .contains("image: Required")
        );
    }

    #[test]
    fn a_scale_is_read_from_and_written_to_the_replicas_paths() {
        let d = json!({"metadata": {"name": "web", "namespace": "n", "uid": "u"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}}},
            "status": {"replicas": 2}});
        let s = scale_of(&d, &workload_scale());
        assert_eq!(s["kind"], "Scale");
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(
            s["status"],
            json!({"replicas": 2, "selector": "app=web,tier=fe"})
        );
        assert_eq!(s["metadata"]["uid"], "u");
        let unset = scale_of(&json!({"metadata": {"name": "x"}}), &workload_scale());
        assert_eq!(unset["spec"]["replicas"], 1, "the workloads' default");
        let cr = ScalePaths {
            spec: ".spec.size".into(),
            status: ".status.size".into(),
            selector: None,
            default: 0,
        };
        let mut app = json!({"spec": {}});
        assert_eq!(scale_of(&app, &cr)["spec"]["replicas"], 0);
        put_path(&mut app, &cr.spec, json!(4));
        assert_eq!(app["spec"]["size"], 4);
        assert_eq!(replicas(&json!({"spec": {"replicas": 2}})), Ok(2));
        assert!(replicas(&json!({"spec": {"replicas": -1}})).is_err());
        assert!(replicas(&json!({"spec": {"replicas": "2"}})).is_err());
    }
}
