//! The security checks of docs/checks.md as pure functions over Kubernetes objects.
//!
//! One implementation serves `ork scan`, the Gateway's pod-security admission and exec
//! protection, and the reconciler backstop: input an object (and, for set-level checks, the
//! other scanned objects), output findings with a field path. Suppression annotations are
//! applied by `ork scan` only, never here.

pub mod catalogue;
mod credentials;
mod pod;
mod rbac;
mod set_level;

use crate::json::Json;
use crate::path::At;
use serde_json::Value;

pub use catalogue::{CATALOGUE, Check, EXEC_CHECKS, Severity, check, level_checks};
pub use credentials::credential_kind;
pub use set_level::{Automount, Context, Facts, NetworkPolicies, NetworkPolicy, Workload, facts};

/// One finding of one check on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    /// the container's name, for container findings
    pub container: Option<String>,
    /// starts with the field path, containers named: `spec.template.spec.containers[app].…`
    pub message: String,
    /// the same path with list indexes, to locate the line (`…containers[0].securityContext`)
    pub at: String,
}

impl Finding {
    pub fn severity(&self) -> Severity {
        check(self.check)
            .map(|c| c.severity)
            .unwrap_or(Severity::Low)
    }
}

pub(crate) fn name<'a>(o: impl Into<Json<'a>>) -> &'a str {
    o.into()
        .at("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or("")
}

pub(crate) fn namespace<'a>(o: impl Into<Json<'a>>) -> &'a str {
    o.into()
        .at("/metadata/namespace")
        .and_then(Json::as_str)
        .unwrap_or("default")
}

pub(crate) fn kind<'a>(o: impl Into<Json<'a>>) -> &'a str {
    o.into().get("kind").and_then(Json::as_str).unwrap_or("")
}

/// The API group of an object (`""` for core).
pub(crate) fn group<'a>(o: impl Into<Json<'a>>) -> &'a str {
    let api = o
        .into()
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("");
    match api.split_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

/// Every check of the catalogue that applies to one object.
pub fn check_object(obj: &Value, ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(p) = pod::locate(obj.into()) {
        pod::check(obj.into(), &p, ctx, &mut out);
    }
    match (group(obj), kind(obj)) {
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => rbac::role(obj, &mut out),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            rbac::binding(obj, &mut out)
        }
        ("", "Service") => service(obj, &mut out),
        ("networking.k8s.io" | "extensions", "Ingress") => ingress(obj, &mut out),
        ("", "ConfigMap") => credentials::config_map(obj, &mut out),
        ("", "Secret")
            if obj
                .get("stringData")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty()) =>
        {
            push(
                &mut out,
                "secret-string-data",
                None,
                "stringData",
                "stringData holds secret values in the manifest".into(),
            );
        }
        ("", "ServiceAccount")
            if name(obj) == "default"
                && obj.get("automountServiceAccountToken") != Some(&Value::Bool(false)) =>
        {
            push(
                &mut out,
                "default-service-account",
                None,
                "metadata.name",
                "ServiceAccount default leaves automountServiceAccountToken on".into(),
            );
        }
        _ => {}
    }
    credentials::annotations(obj, &mut out);
    if obj.at("/metadata/namespace").and_then(Value::as_str) == Some("default") {
        push(
            &mut out,
            "default-namespace",
            None,
            "metadata.namespace",
            "metadata.namespace is default".into(),
        );
    }
    out
}

/// Every check that decides on one object alone, and what the object contributes to the
/// set-level checks: what a scan that does not keep its objects runs on each. The findings are
/// those of [`check_object`] without `missing-network-policy` (never there) and
/// `automount-service-account-token` (in [`Facts::automount`], for [`Context::flags`]).
pub fn check_object_alone(obj: &Value) -> (Vec<Finding>, Facts) {
    let ctx = Context {
        defer_automount: true,
        ..Context::default()
    };
    (check_object(obj, &ctx), facts(obj))
}

/// The checks that apply to an object's kind (the JUnit report has a testcase for each).
pub fn applicable(obj: &Value) -> Vec<&'static str> {
    applicable_to(group(obj), kind(obj), is_pod_bearing(obj))
}

/// [`applicable`] from an object's API group, kind and whether it is pod-bearing, for callers
/// that no longer hold the object.
pub fn applicable_to(group: &str, kind: &str, pod_bearing: bool) -> Vec<&'static str> {
    let is = |id: &str| {
        id.starts_with("rbac-") || id.starts_with("service-") || id.starts_with("suppression-")
    };
    let mut ids: Vec<&'static str> = Vec::new();
    if pod_bearing {
        ids.extend(CATALOGUE.iter().map(|c| c.id).filter(|id| {
            !is(id)
                && !matches!(
                    *id,
                    "ingress-without-tls" | "configmap-credential" | "secret-string-data"
                )
        }));
    }
    let by_kind: &[&'static str] = match (group, kind) {
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => &[
            "rbac-full-wildcard",
            "rbac-wildcard-verbs",
            "rbac-wildcard-resources",
            "rbac-wildcard-api-groups",
            "rbac-escalate",
            "rbac-bind",
            "rbac-impersonate",
            "rbac-secrets-read",
            "rbac-pods-exec",
            "rbac-nodes-proxy",
            "rbac-webhook-config-write",
        ],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => &[
            "rbac-anonymous-binding",
            "rbac-authenticated-binding",
            "rbac-system-masters-binding",
            "rbac-cluster-admin-sa",
            "default-service-account",
        ],
        ("", "Service") => &[
            "service-nodeport",
            "service-loadbalancer",
            "service-external-ips",
        ],
        ("networking.k8s.io" | "extensions", "Ingress") => &["ingress-without-tls"],
        ("", "ConfigMap") => &["configmap-credential", "hardcoded-credential"],
        ("", "Secret") => &["secret-string-data"],
        ("", "ServiceAccount") => &["default-service-account"],
        _ => &[],
    };
    ids.extend(by_kind.iter().copied());
    ids.extend([
        "default-namespace",
        "hardcoded-credential",
        "suppression-without-reason",
        "suppression-unknown-check",
    ]);
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The findings of the checks in `set` on one pod-bearing object: what the reconciler backstop,
/// pod-security admission (`level_checks`) and exec protection (`EXEC_CHECKS`) decide with.
/// Suppression annotations are not read here: the requester controls them (docs/checks.md §5).
pub fn pod_checks<'a>(obj: impl Into<Json<'a>>, set: &'static [&'static str]) -> Vec<Finding> {
    let obj = obj.into();
    if set.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(p) = pod::locate(obj) {
        let ctx = Context {
            skip_credentials: !set.iter().any(|c| CONTAINER_CREDENTIAL_CHECKS.contains(c)),
            only: Some(set),
            ..Context::default()
        };
        pod::check(obj, &p, &ctx, &mut out);
    }
    out.retain(|f| set.contains(&f.check));
    out
}

/// The checks a container's env produces (`credentials::container`).
const CONTAINER_CREDENTIAL_CHECKS: [&str; 3] = [
    "env-secret-literal",
    "hardcoded-credential",
    "secret-env-reference",
];

/// True when the object carries a pod template (docs/checks.md §3): the objects pod security and
/// the backstop check.
pub fn is_pod_bearing<'a>(obj: impl Into<Json<'a>>) -> bool {
    pod::locate(obj.into()).is_some()
}

/// True when the object's group and kind make it a workload, usable pod template or not: a
/// workload without one cannot be judged, which is an error, never a pass.
pub fn is_workload_kind<'a>(obj: impl Into<Json<'a>>) -> bool {
    pod::is_workload_kind(obj.into())
}

pub(crate) fn push(
    out: &mut Vec<Finding>,
    check: &'static str,
    container: Option<&str>,
    at: &str,
    message: String,
) {
    out.push(Finding {
        check,
        container: container.map(str::to_string),
        message,
        at: at.to_string(),
    });
}

fn service(obj: &Value, out: &mut Vec<Finding>) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    match spec.get("type").and_then(Value::as_str) {
        Some("NodePort") => push(
            out,
            "service-nodeport",
            None,
            "spec.type",
            "spec.type is NodePort".into(),
        ),
        Some("LoadBalancer")
            if spec
                .get("loadBalancerSourceRanges")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty) =>
        {
            push(
                out,
                "service-loadbalancer",
                None,
                "spec.type",
                "spec.type is LoadBalancer without loadBalancerSourceRanges".into(),
            )
        }
        _ => {}
    }
    if spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        push(
            out,
            "service-external-ips",
            None,
            "spec.externalIPs",
            "spec.externalIPs is set".into(),
        );
    }
}

/// `*.d` covers exactly one label.
fn host_covered(host: &str, tls_hosts: &[&str]) -> bool {
    tls_hosts.iter().any(|t| {
        if let Some(suffix) = t.strip_prefix("*.") {
            host.split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix)
        } else {
            *t == host
        }
    })
}

fn ingress(obj: &Value, out: &mut Vec<Finding>) {
    let tls = obj
        .at("/spec/tls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if tls.is_empty() {
        push(
            out,
            "ingress-without-tls",
            None,
            "spec",
            "spec.tls is not set".into(),
        );
        return;
    }
    let tls_hosts: Vec<&str> = tls
        .iter()
        .flat_map(|t| {
            t.get("hosts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(Value::as_str)
        .collect();
    for (i, r) in obj
        .at("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(h) = r.get("host").and_then(Value::as_str)
            && !host_covered(h, &tls_hosts)
        {
            push(
                out,
                "ingress-without-tls",
                None,
                &format!("spec.rules[{i}].host"),
                format!("spec.rules[{i}].host {h} is not covered by spec.tls"),
            );
        }
    }
}

/// `missing-network-policy` over a whole scanned set: indexes of pod-bearing workloads that no
/// Ingress-type NetworkPolicy of their namespace selects.
/// (Objects kept in memory; `ork scan` does the same from [`Facts`] it keeps instead.)
pub fn missing_network_policy(objects: &[&Value]) -> Vec<(usize, Finding)> {
    let mut policies = NetworkPolicies::default();
    for p in objects.iter().filter_map(|o| set_level::network_policy(o)) {
        policies.add(p);
    }
    objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let w = set_level::workload(o, &pod::locate((*o).into())?)?;
            Some((i, policies.finding(&w)?))
        })
        .collect()
}

/// A label selector (matchLabels and matchExpressions); an empty selector matches everything.
pub fn selects(sel: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    selects_by(sel, |k| labels.get(k))
}

/// [`selects`] with labels looked up through `label`.
pub(crate) fn selects_by<'l>(sel: &Value, label: impl Fn(&str) -> Option<&'l Value>) -> bool {
    let ml = sel.get("matchLabels").and_then(Value::as_object);
    if let Some(ml) = ml
        && !ml.iter().all(|(k, v)| label(k) == Some(v))
    {
        return false;
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let have = label(key).and_then(Value::as_str);
        let ok = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
