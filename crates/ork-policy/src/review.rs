//! From an `admission.k8s.io/v1` AdmissionRequest to a [`decide`](crate::decide) request, for
//! every caller that holds one: the Gateway (a review decoded with kube's types) and
//! `ork simulate` (a request routed as the API server routes it). One mapping, so the
//! simulation's verdict is the Gateway's. The fields are borrowed from whoever decoded the
//! request; the only copies are the strings the [`Request`] owns.

use std::collections::BTreeMap;

use ork_katalog::Operation;
use serde_json::Value;

use crate::admission::{Layers, Request, User};
use crate::conditions::Peers;
use crate::json::Json;
use crate::rules::Point;

/// What `decide` reads of an AdmissionRequest.
#[derive(Debug, Clone, Copy)]
pub struct Review<'a> {
    pub uid: &'a str,
    pub operation: Operation,
    /// `request.kind`: the group, version and kind of the object sent (for CONNECT, the
    /// options: `PodExecOptions`)
    pub kind_group: &'a str,
    pub kind_version: &'a str,
    pub kind: &'a str,
    /// `request.resource`
    pub resource_group: &'a str,
    pub resource_version: &'a str,
    pub resource: &'a str,
    /// `request.subResource`; empty is none
    pub sub_resource: Option<&'a str>,
    pub name: &'a str,
    /// empty is none
    pub namespace: Option<&'a str>,
    /// `request.userInfo`
    pub username: &'a str,
    pub groups: &'a [String],
    /// the objects: `Value`s, or the Gateway's tape of the body (`crate::json`)
    pub object: Option<Json<'a>>,
    pub old_object: Option<Json<'a>>,
    pub dry_run: bool,
}

impl<'a> Request<'a> {
    /// The admission request for `r` at a webhook that evaluates `layers`. For CONNECT,
    /// `target` is the Pod the exec or attach goes into ([`exec_target`]): the review's object
    /// is only its options.
    pub fn from_review(
        r: &Review<'a>,
        layers: Layers,
        target: Option<&'a Value>,
        peers: Option<&'a dyn Peers>,
    ) -> Request<'a> {
        let connect = r.operation == Operation::Connect;
        // a CONNECT review names the options object (PodExecOptions); the request is about the
        // Pod, as `decide` and its messages expect
        let (group, version, kind) = if connect {
            let pods = r.resource_group.is_empty() && r.resource == "pods";
            (
                r.resource_group,
                r.resource_version,
                if pods { "Pod" } else { r.kind },
            )
        } else {
            (r.kind_group, r.kind_version, r.kind)
        };
        // the API server sets a Namespace's own name as the request's namespace; a Namespace
        // is cluster-scoped
        let namespace = if r.resource_group.is_empty() && r.resource == "namespaces" {
            None
        } else {
            r.namespace.filter(|s| !s.is_empty()).map(str::to_string)
        };
        Request {
            point: Point::Admission,
            layers,
            uid: r.uid.to_string(),
            operation: r.operation,
            user: User {
                name: r.username.to_string(),
                groups: r.groups.to_vec(),
            },
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            resource: r.resource.to_string(),
            subresource: r.sub_resource.filter(|s| !s.is_empty()).map(str::to_string),
            namespace,
            namespace_labels: BTreeMap::new(),
            name: r.name.to_string(),
            object: if connect {
                target.map(Json::Value)
            } else {
                r.object
            },
            old_object: r.old_object,
            dry_run: r.dry_run,
            peers,
        }
    }
}

/// The target Pod of an exec or attach as `decide` reads it: its spec and identity. Status and
/// managed fields are dropped at once; apiVersion and kind are set (a typed client's Pod may
/// lack them).
pub fn exec_target(mut pod: Value) -> Value {
    if let Some(m) = pod.as_object_mut() {
        m.remove("status");
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Pod".into());
    }
    if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    pod
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn review<'a>(op: Operation, object: Option<&'a Value>, groups: &'a [String]) -> Review<'a> {
        Review {
            uid: "u1",
            operation: op,
            kind_group: "",
            kind_version: "v1",
            kind: "PodExecOptions",
            resource_group: "",
            resource_version: "v1",
            resource: "pods",
            sub_resource: Some("exec"),
            name: "p",
            namespace: Some("ns"),
            username: "alice",
            groups,
            object: object.map(Json::Value),
            old_object: None,
            dry_run: true,
        }
    }

    #[test]
    fn a_connect_is_about_its_target_pod() {
        let options = json!({"kind": "PodExecOptions", "command": ["id"]});
        let pod = exec_target(json!({"metadata": {"name": "p", "managedFields": []},
            "spec": {"containers": []}, "status": {"phase": "Running"}}));
        assert_eq!(pod["kind"], "Pod");
        assert!(pod.get("status").is_none());
        assert!(pod["metadata"].get("managedFields").is_none());
        let groups = vec!["dev".to_string()];
        let r = review(Operation::Connect, Some(&options), &groups);
        let q = Request::from_review(&r, Layers::ALL, Some(&pod), None);
        assert_eq!((q.kind.as_str(), q.resource.as_str()), ("Pod", "pods"));
        assert_eq!(q.subresource.as_deref(), Some("exec"));
        assert_eq!(q.object, Some(Json::Value(&pod)));
        assert_eq!(q.user.name, "alice");
        assert_eq!(q.user.groups, groups);
        assert_eq!(q.namespace.as_deref(), Some("ns"));
        assert!(q.dry_run);
    }

    #[test]
    fn an_update_is_about_its_object_and_a_namespace_is_cluster_scoped() {
        let obj = json!({"kind": "Pod"});
        let mut r = review(Operation::Update, Some(&obj), &[]);
        r.kind = "Pod";
        r.sub_resource = Some("ephemeralcontainers");
        let q = Request::from_review(&r, Layers::ALL, None, None);
        assert_eq!(q.kind, "Pod");
        assert_eq!(q.object, Some(Json::Value(&obj)));
        assert_eq!(q.subresource.as_deref(), Some("ephemeralcontainers"));
        r.sub_resource = Some("");
        r.kind = "Namespace";
        r.resource = "namespaces";
        r.namespace = Some("team-a");
        let q = Request::from_review(&r, Layers::ALL, None, None);
        assert_eq!(q.namespace, None);
        assert_eq!(q.subresource, None);
    }
}
