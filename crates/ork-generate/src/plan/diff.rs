//! Field-level differences between two JSON values, and the identity of a Kubernetes object.

use serde::Serialize;
use serde_json::Value;

/// One changed field: its dotted path and both values (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Value,
    pub new: Value,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The fields that differ, depth first in key order. Lists of the same length are compared
/// element by element (`rules[2].verbs`); a list that grew or shrank is one change.
pub fn fields(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                walk(
                    &join(path, k),
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => out.push(FieldChange {
            path: path.to_string(),
            old: old.clone(),
            new: new.clone(),
        }),
    }
}

/// What identifies an object: group, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Key {
    pub fn of(o: &Value) -> Key {
        let api = o["apiVersion"].as_str().unwrap_or_default();
        Key {
            group: api
                .rsplit_once('/')
                .map(|(g, _)| g.to_string())
                .unwrap_or_default(),
            kind: o["kind"].as_str().unwrap_or_default().to_string(),
            namespace: o["metadata"]["namespace"].as_str().map(str::to_string),
            name: o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

impl std::fmt::Display for Key {
    /// `Role team-a/orkestra-runtime`, `ClusterRole orkestra-runtime`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// An object as its author wrote it: what an API server adds (status, server-set metadata) is
/// not part of a bundle and never a change.
pub fn authored(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            meta.remove(k);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_leaves_and_resized_lists_are_whole() {
        let old = json!({"a": {"b": 1, "c": [1, 2]}, "d": [{"x": 1}], "gone": true});
        let new = json!({"a": {"b": 2, "c": [1, 2, 3]}, "d": [{"x": 2}], "added": "y"});
        let paths: Vec<String> = fields(&old, &new).into_iter().map(|c| c.path).collect();
        assert_eq!(paths, ["a.b", "a.c", "added", "d[0].x", "gone"]);
        assert!(fields(&old, &old).is_empty());
    }

    #[test]
    fn keys_name_objects_like_kubectl() {
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                          "metadata": {"name": "r", "namespace": "team-a"}});
        assert_eq!(Key::of(&role).to_string(), "Role team-a/r");
        assert_eq!(Key::of(&role).group, "rbac.authorization.k8s.io");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "uid": "x"}, "status": {}});
        assert_eq!(Key::of(&ns).group, "");
        assert_eq!(
            authored(&ns),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
        );
    }
}
