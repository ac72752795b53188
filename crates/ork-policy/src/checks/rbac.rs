//! RBAC checks (docs/checks.md §2): rules of Roles and ClusterRoles, subjects of bindings.

use crate::path::At;
use serde_json::Value;

use super::{Finding, kind, push};
use crate::rbac::strings as list;

/// The specific checks fire only when verb and resource are named explicitly; the group may be
/// `*`. Grants made only through wildcards are reported by the wildcard checks.
fn names(verbs: &[String], resources: &[String], verb: &[&str], resource: &[&str]) -> bool {
    verbs.iter().any(|v| verb.contains(&v.as_str()))
        && resources.iter().any(|r| resource.contains(&r.as_str()))
}

pub(crate) fn role(obj: &Value, out: &mut Vec<Finding>) {
    let cluster = kind(obj) == "ClusterRole";
    for (i, rule) in obj
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("rules[{i}]");
        let (verbs, resources, groups) = (
            list(rule, "verbs"),
            list(rule, "resources"),
            list(rule, "apiGroups"),
        );
        let urls = list(rule, "nonResourceURLs");
        let star = |l: &[String]| l.iter().any(|x| x == "*");
        let full =
            (star(&verbs) && star(&resources) && star(&groups)) || (star(&urls) && star(&verbs));
        if full {
            push(
                out,
                "rbac-full-wildcard",
                None,
                &at,
                format!("rules[{i}] grants every verb on every resource"),
            );
        } else {
            if star(&verbs) {
                push(
                    out,
                    "rbac-wildcard-verbs",
                    None,
                    &format!("{at}.verbs"),
                    format!("rules[{i}].verbs contains *"),
                );
            }
            if star(&resources) {
                push(
                    out,
                    "rbac-wildcard-resources",
                    None,
                    &format!("{at}.resources"),
                    format!("rules[{i}].resources contains *"),
                );
            }
            if star(&groups) {
                push(
                    out,
                    "rbac-wildcard-api-groups",
                    None,
                    &format!("{at}.apiGroups"),
                    format!("rules[{i}].apiGroups contains *"),
                );
            }
        }
        let has_names = rule
            .get("resourceNames")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        for (check, verb, res, what) in [
            (
                "rbac-escalate",
                &["escalate"][..],
                &["roles", "clusterroles"][..],
                "escalate on roles",
            ),
            (
                "rbac-bind",
                &["bind"][..],
                &["roles", "clusterroles"][..],
                "bind on roles",
            ),
            (
                "rbac-impersonate",
                &["impersonate"][..],
                &["users", "groups", "serviceaccounts", "uids", "userextras/*"][..],
                "impersonate",
            ),
            (
                "rbac-pods-exec",
                &["create", "get"][..],
                &["pods/exec", "pods/attach"][..],
                "pods/exec or pods/attach",
            ),
            (
                "rbac-nodes-proxy",
                &["get", "create"][..],
                &["nodes/proxy"][..],
                "nodes/proxy",
            ),
        ] {
            if names(&verbs, &resources, verb, res) {
                push(out, check, None, &at, format!("rules[{i}] grants {what}"));
            }
        }
        if cluster
            && groups.iter().any(|g| g.is_empty() || g == "*")
            && names(&verbs, &resources, &["get", "list", "watch"], &["secrets"])
        {
            push(
                out,
                "rbac-secrets-read",
                None,
                &at,
                format!("rules[{i}] grants reading Secrets cluster-wide"),
            );
        }
        if !has_names
            && names(
                &verbs,
                &resources,
                &["create", "update", "patch", "delete", "deletecollection"],
                &[
                    "validatingwebhookconfigurations",
                    "mutatingwebhookconfigurations",
                    "validatingadmissionpolicies",
                    "validatingadmissionpolicybindings",
                ],
            )
        {
            push(
                out,
                "rbac-webhook-config-write",
                None,
                &at,
                format!("rules[{i}] writes admission configurations without resourceNames"),
            );
        }
    }
}

pub(crate) fn binding(obj: &Value, out: &mut Vec<Finding>) {
    let role = obj
        .at("/roleRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let role_kind = obj
        .at("/roleRef/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    for (i, s) in obj
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let k = s.get("kind").and_then(Value::as_str).unwrap_or("");
        let n = s.get("name").and_then(Value::as_str).unwrap_or("");
        let at = format!("subjects[{i}]");
        match (k, n) {
            ("User", "system:anonymous") | ("Group", "system:unauthenticated") => push(
                out,
                "rbac-anonymous-binding",
                None,
                &at,
                format!("subjects[{i}] binds {k} {n}"),
            ),
            ("Group", "system:authenticated")
                if !matches!(
                    role,
                    "system:basic-user" | "system:discovery" | "system:public-info-viewer"
                ) =>
            {
                push(
                    out,
                    "rbac-authenticated-binding",
                    None,
                    &at,
                    format!("subjects[{i}] binds every authenticated user to {role}"),
                )
            }
            ("Group", "system:masters") => push(
                out,
                "rbac-system-masters-binding",
                None,
                &at,
                format!("subjects[{i}] is Group system:masters"),
            ),
            _ => {}
        }
        if k == "ServiceAccount" {
            if role_kind == "ClusterRole" && role == "cluster-admin" {
                push(
                    out,
                    "rbac-cluster-admin-sa",
                    None,
                    &at,
                    format!("subjects[{i}] binds ServiceAccount {n} to cluster-admin"),
                );
            }
            if n == "default" {
                push(
                    out,
                    "default-service-account",
                    None,
                    &at,
                    format!("subjects[{i}] is ServiceAccount default"),
                );
            }
        }
    }
}
