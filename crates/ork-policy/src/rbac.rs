//! Offline RBAC analysis (cli.md §14): who can do what, through which binding chain. Matching
//! follows the Kubernetes RBAC authorizer: `*` in verbs, resources and apiGroups, `<res>/*` for
//! every subresource, resourceNames only when a name is asked about, ClusterRoles aggregated
//! through `aggregationRule` from the same input, and ClusterRoles referenced by RoleBindings
//! scoped to the binding's namespace.

use serde_json::Value;

use crate::checks::selects;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub cluster: bool,
    pub namespace: String,
    pub name: String,
    pub rules: Vec<Value>,
    pub labels: serde_json::Map<String, Value>,
    pub aggregation: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) if self.kind == "ServiceAccount" => {
                write!(f, "{} {ns}/{}", self.kind, self.name)
            }
            _ => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub cluster: bool,
    pub namespace: String,
    pub name: String,
    pub role_kind: String,
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

impl Binding {
    /// `ClusterRoleBinding x` or `RoleBinding ns/x`
    pub fn label(&self) -> String {
        if self.cluster {
            format!("ClusterRoleBinding {}", self.name)
        } else {
            format!("RoleBinding {}/{}", self.namespace, self.name)
        }
    }
    pub fn role_label(&self) -> String {
        if self.role_kind == "ClusterRole" {
            format!("ClusterRole {}", self.role_name)
        } else {
            format!("Role {}/{}", self.namespace, self.role_name)
        }
    }
}

/// The RBAC objects of an input set.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    pub roles: Vec<Role>,
    pub bindings: Vec<Binding>,
}

fn s(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

impl Rbac {
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Rbac {
        let mut r = Rbac::default();
        for o in objects {
            if !s(o, "/apiVersion").starts_with("rbac.authorization.k8s.io/") {
                continue;
            }
            let kind = s(o, "/kind");
            match kind.as_str() {
                "Role" | "ClusterRole" => r.roles.push(Role {
                    cluster: kind == "ClusterRole",
                    namespace: s(o, "/metadata/namespace"),
                    name: s(o, "/metadata/name"),
                    rules: o
                        .get("rules")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                    labels: o
                        .pointer("/metadata/labels")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                    aggregation: o
                        .pointer("/aggregationRule/clusterRoleSelectors")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                }),
                "RoleBinding" | "ClusterRoleBinding" => {
                    let ns = s(o, "/metadata/namespace");
                    r.bindings.push(Binding {
                        cluster: kind == "ClusterRoleBinding",
                        namespace: ns.clone(),
                        name: s(o, "/metadata/name"),
                        role_kind: s(o, "/roleRef/kind"),
                        role_name: s(o, "/roleRef/name"),
                        subjects: o
                            .get("subjects")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .map(|x| Subject {
                                kind: s(x, "/kind"),
                                name: s(x, "/name"),
                                namespace: x
                                    .get("namespace")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                                    .or_else(|| {
                                        (s(x, "/kind") == "ServiceAccount" && kind == "RoleBinding")
                                            .then(|| ns.clone())
                                    }),
                            })
                            .collect(),
                    })
                }
                _ => {}
            }
        }
        r
    }

    /// The role a binding references, if it is in the input.
    pub fn role_of(&self, b: &Binding) -> Option<&Role> {
        self.roles.iter().find(|r| {
            if b.role_kind == "ClusterRole" {
                r.cluster && r.name == b.role_name
            } else {
                !r.cluster && r.namespace == b.namespace && r.name == b.role_name
            }
        })
    }

    /// A role's rules, with aggregated ClusterRoles' rules added.
    pub fn rules_of(&self, role: &Role) -> Vec<(String, usize, Value)> {
        let mut out: Vec<(String, usize, Value)> = role
            .rules
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, r)| (String::new(), i, r))
            .collect();
        if role.cluster && !role.aggregation.is_empty() {
            for other in self
                .roles
                .iter()
                .filter(|o| o.cluster && o.name != role.name)
            {
                if role
                    .aggregation
                    .iter()
                    .any(|sel| selects(sel, &other.labels))
                {
                    out.extend(
                        other.rules.iter().cloned().enumerate().map(|(i, r)| {
                            (format!("ClusterRole {} (aggregated)", other.name), i, r)
                        }),
                    );
                }
            }
        }
        out
    }
}

/// What is being asked: `get secrets`, `create pods/exec`, `list deployments.apps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub name: Option<String>,
}

impl Request {
    /// `resource[.group][/subresource]`
    pub fn parse(verb: &str, resource: &str, name: Option<&str>) -> Request {
        let (main, sub) = match resource.split_once('/') {
            Some((m, s)) => (m, Some(s.to_string())),
            None => (resource, None),
        };
        let (res, group) = match main.split_once('.') {
            Some((r, g)) => (r.to_string(), g.to_string()),
            None => (main.to_string(), String::new()),
        };
        Request {
            verb: verb.to_string(),
            group,
            resource: res,
            subresource: sub,
            name: name.map(str::to_string),
        }
    }
}

/// The strings of a list field (`verbs`, `resources`, …); anything else is empty.
pub(crate) fn strings(rule: &Value, key: &str) -> Vec<String> {
    rule.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Whether one rule grants the request (the RBAC authorizer's rule matching).
pub fn rule_allows(rule: &Value, req: &Request) -> bool {
    let verbs = strings(rule, "verbs");
    let groups = strings(rule, "apiGroups");
    let resources = strings(rule, "resources");
    let names = strings(rule, "resourceNames");
    let verb_ok = verbs.iter().any(|v| v == "*" || *v == req.verb);
    let group_ok = groups.iter().any(|g| g == "*" || *g == req.group);
    let full = match &req.subresource {
        Some(sub) => format!("{}/{sub}", req.resource),
        None => req.resource.clone(),
    };
    let res_ok = resources.iter().any(|r| {
        r == "*" || *r == full || (req.subresource.is_some() && *r == format!("{}/*", req.resource))
    });
    let name_ok = names.is_empty() || req.name.as_ref().is_some_and(|n| names.contains(n));
    verb_ok && group_ok && res_ok && name_ok
}

/// One subject that can, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub subject: Subject,
    /// `cluster` or `namespace X`
    pub scope: String,
    /// `ClusterRoleBinding x → ClusterRole y` (with the aggregated role when that is where the rule is)
    pub via: String,
}

/// Who can perform `req` — in namespace `ns`, or anywhere when `ns` is `None`.
pub fn who_can(rbac: &Rbac, req: &Request, ns: Option<&str>) -> Vec<Grant> {
    let mut out = Vec::new();
    for b in &rbac.bindings {
        if !b.cluster && ns.is_some_and(|n| n != b.namespace) {
            continue;
        }
        let Some(role) = rbac.role_of(b) else {
            continue;
        };
        let Some((origin, _, _)) = rbac
            .rules_of(role)
            .into_iter()
            .find(|(_, _, r)| rule_allows(r, req))
        else {
            continue;
        };
        let scope = if b.cluster {
            "cluster".to_string()
        } else {
            format!("namespace {}", b.namespace)
        };
        let mut via = format!("{} → {}", b.label(), b.role_label());
        if !origin.is_empty() {
            via.push_str(&format!(" ← {origin}"));
        }
        for subject in &b.subjects {
            out.push(Grant {
                subject: subject.clone(),
                scope: scope.clone(),
                via: via.clone(),
            });
        }
    }
    out.sort_by(|a, b| (&a.subject, &a.scope, &a.via).cmp(&(&b.subject, &b.scope, &b.via)));
    out.dedup();
    out
}

/// One grant of a subject: where it applies, through which chain, and the rules it carries
/// (with the ClusterRole they were aggregated from, when they were).
#[derive(Debug, Clone)]
pub struct Effective {
    pub scope: String,
    pub via: String,
    pub rules: Vec<(String, Value)>,
}

/// Every subject's effective permissions: each binding whose role is in the input.
pub fn effective(rbac: &Rbac) -> Vec<(Subject, Vec<Effective>)> {
    let mut out: Vec<(Subject, Vec<Effective>)> = Vec::new();
    for b in &rbac.bindings {
        let Some(role) = rbac.role_of(b) else {
            continue;
        };
        let e = Effective {
            scope: if b.cluster {
                "cluster".into()
            } else {
                format!("namespace {}", b.namespace)
            },
            via: format!("{} → {}", b.label(), b.role_label()),
            rules: rbac
                .rules_of(role)
                .into_iter()
                .map(|(origin, _, r)| (origin, r))
                .collect(),
        };
        for s in &b.subjects {
            match out.iter_mut().find(|(x, _)| x == s) {
                Some((_, list)) => list.push(e.clone()),
                None => out.push((s.clone(), vec![e.clone()])),
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `get,list secrets (core)` / `* * (*)` / `get secrets/tls (core)`.
pub fn describe_rule(rule: &Value) -> String {
    let j = |k: &str| strings(rule, k).join(",");
    let groups: Vec<String> = strings(rule, "apiGroups")
        .into_iter()
        .map(|g| if g.is_empty() { "core".into() } else { g })
        .collect();
    let names = strings(rule, "resourceNames");
    let urls = strings(rule, "nonResourceURLs");
    if !urls.is_empty() {
        return format!("{} {}", j("verbs"), urls.join(","));
    }
    let mut s = format!("{} {} ({})", j("verbs"), j("resources"), groups.join(","));
    if !names.is_empty() {
        s.push_str(&format!(" names {}", names.join(",")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Vec<Value> {
        vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "secret-reader"},
                   "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "aggregate"},
                   "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "exec", "labels": {"agg": "yes"}},
                   "rules": [{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["create"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "named", "namespace": "x"},
                   "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["tls"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ops"},
                   "roleRef": {"kind": "ClusterRole", "name": "secret-reader"}, "subjects": [{"kind": "Group", "name": "ops"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "dev", "namespace": "x"},
                   "roleRef": {"kind": "ClusterRole", "name": "secret-reader"}, "subjects": [{"kind": "ServiceAccount", "name": "app"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "named", "namespace": "x"},
                   "roleRef": {"kind": "Role", "name": "named"}, "subjects": [{"kind": "User", "name": "tls-bot"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "agg"},
                   "roleRef": {"kind": "ClusterRole", "name": "aggregate"}, "subjects": [{"kind": "User", "name": "debugger"}]}),
        ]
    }

    fn who(verb: &str, res: &str, ns: Option<&str>, name: Option<&str>) -> Vec<String> {
        let objs = fixture();
        let rbac = Rbac::from_objects(&objs);
        who_can(&rbac, &Request::parse(verb, res, name), ns)
            .iter()
            .map(|g| format!("{} | {} | {}", g.subject, g.scope, g.via))
            .collect()
    }

    #[test]
    fn role_bindings_scope_cluster_roles_and_names_need_a_name() {
        assert_eq!(
            who("get", "secrets", Some("y"), None),
            vec!["Group ops | cluster | ClusterRoleBinding ops → ClusterRole secret-reader"]
        );
        assert_eq!(
            who("get", "secrets", Some("x"), None),
            vec![
                "Group ops | cluster | ClusterRoleBinding ops → ClusterRole secret-reader",
                "ServiceAccount x/app | namespace x | RoleBinding x/dev → ClusterRole secret-reader",
            ]
        );
        assert!(
            who("get", "secrets", Some("x"), Some("tls"))
                .iter()
                .any(|l| l.starts_with(
                    "User tls-bot | namespace x | RoleBinding x/named → Role x/named"
                ))
        );
        assert!(
            !who("get", "secrets", Some("x"), None)
                .iter()
                .any(|l| l.contains("tls-bot"))
        );
    }

    #[test]
    fn effective_permissions_per_subject() {
        let objs = fixture();
        let rbac = Rbac::from_objects(&objs);
        let eff = effective(&rbac);
        let debugger = eff
            .iter()
            .find(|(s, _)| s.name == "debugger")
            .map(|(_, e)| e.clone())
            .unwrap_or_default();
        assert_eq!(debugger.len(), 1);
        assert_eq!(debugger[0].rules[0].0, "ClusterRole exec (aggregated)");
        assert_eq!(
            describe_rule(&debugger[0].rules[0].1),
            "create pods/* (core)"
        );
    }

    #[test]
    fn aggregation_and_subresource_wildcards() {
        assert_eq!(
            who("create", "pods/exec", None, None),
            vec![
                "User debugger | cluster | ClusterRoleBinding agg → ClusterRole aggregate ← ClusterRole exec (aggregated)"
            ]
        );
        assert!(
            who("create", "pods", None, None).is_empty(),
            "pods/* covers subresources, not pods itself"
        );
        assert!(who("delete", "secrets", None, None).is_empty());
    }
}
