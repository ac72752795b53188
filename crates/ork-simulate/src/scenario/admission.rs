//! Admission as the API server runs it over the in-memory cluster (docs/security.md §2.3): the
//! registered mutating webhooks, then the ValidatingAdmissionPolicies, then the validating
//! webhooks. Which webhook receives a request is read from the configurations the cluster holds
//! — the ones `ork_webhooks::configurations` and `ork_webhooks::guard` produce, as the Gateway
//! registers them — by the API server's own matching: rules, namespaceSelector, objectSelector
//! and the CEL matchConditions. Every ork webhook's verdict is `ork_policy::decide` at
//! `Point::Admission` with that endpoint's layers (what the Gateway's `review::judge` calls),
//! and the guard policy's is `decide`'s control-plane layer, which mirrors it. A Gateway scaled
//! to zero answers nothing: the webhook's failurePolicy decides. A webhook or policy that is
//! not ork's cannot be simulated and is an error, never an allow.

use ork_katalog::{FailurePolicy, Operation};
use ork_policy::checks::selects;
use ork_policy::conditions::{Peers, lookup};
use ork_policy::json::Json;
use ork_policy::prepared::GUARD_POLICY;
use ork_policy::{Layer, Layers, PreparedKatalog, Request, Review, User};
use ork_webhooks::Webhook;
use serde_json::{Map, Value, json};

use crate::cluster::{Cluster, text};

/// One request to admit: what an AdmissionReview carries.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: Operation,
    /// `request.kind`: what the object sent is
    pub kind: Kind,
    /// `request.resource`: group, version and resource
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: Option<String>,
    /// `None` for a cluster-scoped object
    pub namespace: Option<String>,
    pub name: String,
    /// the new object (mutated along the chain); for CONNECT the exec options
    pub object: Option<Value>,
    /// the stored object (UPDATE, DELETE)
    pub old_object: Option<Value>,
    /// CONNECT: the Pod the exec goes into
    pub target: Option<Value>,
    pub user: User,
    pub dry_run: bool,
}

/// A group, version and kind: the resource's own, or for a subresource the object it is sent
/// as (`v1 PodExecOptions`, `autoscaling/v1 Scale`).
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The API server's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// admitted; `object` is the object as mutated
    Allowed {
        object: Option<Value>,
        warnings: Vec<String>,
    },
    Denied(String),
}

/// Why admission could not be simulated.
#[derive(Debug, Clone, PartialEq)]
pub struct NotSimulated(pub String);

fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A webhook rule or a policy's resourceRule against the request. `matchPolicy: Equivalent`
/// (every ork configuration's) matches any version of the group and resource.
fn rule_matches(rule: &Value, c: &Call, any_version: bool) -> bool {
    let has = |key: &str, want: &str| strings(rule, key).iter().any(|x| x == "*" || x == want);
    if !has("apiGroups", &c.group) || !has("operations", op_name(c.operation)) {
        return false;
    }
    if !any_version && !has("apiVersions", &c.version) {
        return false;
    }
    let resources = strings(rule, "resources");
    let res_ok = match &c.subresource {
        None => resources.iter().any(|r| r == "*" || *r == c.resource),
        Some(sub) => resources.iter().any(|r| {
            r == "*/*"
                || *r == format!("{}/{sub}", c.resource)
                || *r == format!("{}/*", c.resource)
                || *r == format!("*/{sub}")
        }),
    };
    let scope_ok = match rule.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => c.namespace.is_some(),
        Some("Cluster") => c.namespace.is_none(),
        _ => true,
    };
    res_ok && scope_ok
}

fn labels(obj: Option<&Value>) -> Map<String, Value> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn is_namespace(c: &Call) -> bool {
    c.group.is_empty() && c.resource == "namespaces"
}

/// The labels a namespaceSelector sees: a Namespace's own, else its namespace's (with the
/// name label the API server sets on every Namespace); `None` for other cluster-scoped
/// requests, which every namespaceSelector matches.
fn namespace_labels(cluster: &Cluster, c: &Call) -> Option<Map<String, Value>> {
    if is_namespace(c) {
        let mut l = labels(c.object.as_ref().or(c.old_object.as_ref()));
        l.insert("kubernetes.io/metadata.name".into(), json!(c.name));
        return Some(l);
    }
    let ns = c.namespace.as_deref()?;
    let key = crate::cluster::Key {
        group: String::new(),
        resource: "namespaces".into(),
        namespace: String::new(),
        name: ns.to_string(),
    };
    let mut l = labels(cluster.get(&key));
    l.insert("kubernetes.io/metadata.name".into(), json!(ns));
    Some(l)
}

/// The AdmissionRequest as CEL sees it.
fn request_value(c: &Call) -> Value {
    json!({
        "kind": {"group": c.kind.group, "version": c.kind.version, "kind": c.kind.kind},
        "resource": {"group": c.group, "version": c.version, "resource": c.resource},
        "subResource": c.subresource.clone().unwrap_or_default(),
        "name": c.name,
        "namespace": c.namespace.clone().unwrap_or_default(),
        "operation": op_name(c.operation),
        "userInfo": {"username": c.user.name, "groups": c.user.groups},
        "dryRun": c.dry_run,
    })
}

/// The API server's bound on a matchCondition expression, and a nesting bound that keeps the
/// evaluator's recursion shallow: what exceeds either is an evaluation error.
const MAX_EXPRESSION: usize = 5120;
const MAX_NESTING: usize = 32;

fn nesting(expr: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for ch in expr.chars() {
        match ch {
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// One CEL expression over `object`, `oldObject` and `request`.
fn cel(expr: &str, c: &Call) -> Result<bool, String> {
    if expr.len() > MAX_EXPRESSION || nesting(expr) > MAX_NESTING {
        return Err(format!(
            "the expression exceeds {MAX_EXPRESSION} bytes or {MAX_NESTING} levels of nesting"
        ));
    }
    let program = cel_interpreter::Program::compile(expr).map_err(|e| e.to_string())?;
    let mut ctx = cel_interpreter::Context::default();
    for (name, v) in [
        ("object", c.object.clone().unwrap_or(Value::Null)),
        ("oldObject", c.old_object.clone().unwrap_or(Value::Null)),
        ("request", request_value(c)),
    ] {
        ctx.add_variable(name, v).map_err(|e| e.to_string())?;
    }
    match program.execute(&ctx) {
        Ok(cel_interpreter::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("evaluated to {other:?}, not a bool")),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether the webhook `hook` receives `c`; `Err` is a matchCondition that did not evaluate
/// (the API server then applies the failurePolicy).
fn receives(cluster: &Cluster, hook: &Value, c: &Call) -> Result<bool, String> {
    let any_version = hook.get("matchPolicy").and_then(Value::as_str) != Some("Exact");
    let rules = hook.get("rules").and_then(Value::as_array);
    if !rules
        .into_iter()
        .flatten()
        .any(|r| rule_matches(r, c, any_version))
    {
        return Ok(false);
    }
    if let Some(sel) = hook.get("namespaceSelector")
        && let Some(l) = namespace_labels(cluster, c)
        && !selects(sel, &l)
    {
        return Ok(false);
    }
    if let Some(sel) = hook.get("objectSelector")
        && !selects(sel, &labels(c.object.as_ref()))
        && !selects(sel, &labels(c.old_object.as_ref()))
    {
        return Ok(false);
    }
    for m in hook
        .get("matchConditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let expr = m.get("expression").and_then(Value::as_str).unwrap_or("");
        let name = m.get("name").and_then(Value::as_str).unwrap_or("");
        if !cel(expr, c).map_err(|e| format!("matchCondition {name:?}: {e}"))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The Gateway endpoint a webhook posts to (its URL path or Service path).
fn endpoint(hook: &Value) -> Option<Webhook> {
    let cc = hook.get("clientConfig")?;
    let path = match cc.get("url").and_then(Value::as_str) {
        Some(url) => {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            rest.find('/').map(|i| &rest[i..]).unwrap_or("/")
        }
        None => cc.pointer("/service/path").and_then(Value::as_str)?,
    };
    Webhook::from_path(path)
}

fn failure_policy(hook: &Value) -> FailurePolicy {
    match hook.get("failurePolicy").and_then(Value::as_str) {
        Some("Ignore") => FailurePolicy::Ignore,
        // the API server's default is Fail
        _ => FailurePolicy::Fail,
    }
}

/// The CRs of one resource, for `unique` rules (what the Gateway's informer cache holds).
struct ClusterPeers<'a> {
    cluster: &'a Cluster,
    group: String,
    resource: String,
}

impl Peers for ClusterPeers<'_> {
    fn values(&self, namespace: &str, name: &str, path: &[String]) -> Vec<String> {
        self.cluster
            .list(&self.group, &self.resource, Some(namespace))
            .into_iter()
            .filter(|o| text(o, "/metadata/name") != name)
            .filter_map(|o| lookup(o, path).map(|x| ork_template::value::text(&Some(x.clone()))))
            .collect()
    }
}

/// The `decide` request for one webhook call: the Gateway's own mapping of the review
/// (`Request::from_review`). A CONNECT is about its target Pod, read as the Gateway reads it.
fn decide_request<'a>(c: &'a Call, layers: Layers, peers: Option<&'a dyn Peers>) -> Request<'a> {
    let review = Review {
        uid: "",
        operation: c.operation,
        kind_group: &c.kind.group,
        kind_version: &c.kind.version,
        kind: &c.kind.kind,
        resource_group: &c.group,
        resource_version: &c.version,
        resource: &c.resource,
        sub_resource: c.subresource.as_deref(),
        name: &c.name,
        namespace: c.namespace.as_deref(),
        username: &c.user.name,
        groups: &c.user.groups,
        object: c.object.as_ref().map(Json::from),
        old_object: c.old_object.as_ref().map(Json::from),
        dry_run: c.dry_run,
    };
    Request::from_review(&review, layers, c.target.as_ref(), peers)
}

/// `admission webhook "NAME" denied the request: …`, as the API server words it.
fn webhook_denied(name: &str, message: &str) -> String {
    format!("admission webhook {name:?} denied the request: {message}")
}

fn unreachable(name: &str) -> String {
    format!(
        "Internal error occurred: failed calling webhook {name:?}: failed to call webhook: the Gateway is scaled to 0: connection refused"
    )
}

fn hooks<'c>(cluster: &'c Cluster, resource: &str) -> Vec<(String, &'c Value)> {
    let mut out = Vec::new();
    for cfg in cluster.list("admissionregistration.k8s.io", resource, None) {
        for h in cfg
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push((
                h.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                h,
            ));
        }
    }
    out
}

/// One webhook call: `Ok(None)` not called or allowed (object updated when mutating),
/// `Ok(Some(message))` denied.
fn call_webhook(
    k: &PreparedKatalog,
    cluster: &Cluster,
    gateway_up: bool,
    name: &str,
    hook: &Value,
    c: &mut Call,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, NotSimulated> {
    match receives(cluster, hook, c) {
        Ok(false) => return Ok(None),
        Ok(true) => {}
        Err(e) => {
            return Ok(match failure_policy(hook) {
                FailurePolicy::Fail => Some(format!("failed calling webhook {name:?}: {e}")),
                FailurePolicy::Ignore => None,
            });
        }
    }
    let Some(w) = endpoint(hook) else {
        return Err(NotSimulated(format!(
            "webhook {name:?} is not one of the Gateway's endpoints: not simulated"
        )));
    };
    if !gateway_up {
        return Ok(match failure_policy(hook) {
            FailurePolicy::Fail => Some(unreachable(name)),
            FailurePolicy::Ignore => None,
        });
    }
    let peers = ClusterPeers {
        cluster,
        group: c.group.clone(),
        resource: c.resource.clone(),
    };
    let v = ork_policy::decide(k, &decide_request(c, w.layers(), Some(&peers)));
    warnings.extend(v.warnings.iter().cloned());
    if !v.allowed() {
        return Ok(Some(webhook_denied(name, &v.message())));
    }
    if w.mutating()
        && let Some(m) = v.mutated
    {
        c.object = Some(m);
    }
    Ok(None)
}

/// The guard policy, when it is registered and bound: its matchConstraints by the API
/// server's rule matching, its verdict by `decide`'s control-plane layer.
fn guard(k: &PreparedKatalog, cluster: &Cluster, c: &Call) -> Result<Option<String>, NotSimulated> {
    let bound = cluster
        .list(
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings",
            None,
        )
        .into_iter()
        .filter(|b| text(b, "/spec/policyName") == GUARD_POLICY)
        .count()
        > 0;
    for p in cluster.list(
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        None,
    ) {
        let name = text(p, "/metadata/name");
        let constraints = p.pointer("/spec/matchConstraints").unwrap_or(&Value::Null);
        let any_version = constraints.get("matchPolicy").and_then(Value::as_str) != Some("Exact");
        let matches = constraints
            .get("resourceRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|r| rule_matches(r, c, any_version));
        if !matches {
            continue;
        }
        if name != GUARD_POLICY {
            return Err(NotSimulated(format!(
                "ValidatingAdmissionPolicy {name:?} is not ork's guard: not simulated"
            )));
        }
        if !bound {
            continue;
        }
        let v = ork_policy::decide(
            k,
            &decide_request(c, Layers::only(&[Layer::ControlPlane]), None),
        );
        if !v.allowed() {
            let resource = if c.group.is_empty() {
                c.resource.clone()
            } else {
                format!("{}.{}", c.resource, c.group)
            };
            let what = format!("{resource} {:?}", c.name);
            return Ok(Some(format!(
                "{what} is forbidden: ValidatingAdmissionPolicy '{GUARD_POLICY}' with binding '{GUARD_POLICY}' denied request: {}",
                v.message()
            )));
        }
    }
    Ok(None)
}

/// Admits `c` against what the cluster has registered.
pub fn admit(
    k: &PreparedKatalog,
    cluster: &Cluster,
    gateway_up: bool,
    mut c: Call,
) -> Result<Admission, NotSimulated> {
    let mut warnings = Vec::new();
    for (name, hook) in hooks(cluster, "mutatingwebhookconfigurations") {
        if let Some(m) = call_webhook(k, cluster, gateway_up, &name, hook, &mut c, &mut warnings)? {
            return Ok(Admission::Denied(m));
        }
    }
    if let Some(m) = guard(k, cluster, &c)? {
        return Ok(Admission::Denied(m));
    }
    for (name, hook) in hooks(cluster, "validatingwebhookconfigurations") {
        if let Some(m) = call_webhook(k, cluster, gateway_up, &name, hook, &mut c, &mut warnings)? {
            return Ok(Admission::Denied(m));
        }
    }
    Ok(Admission::Allowed {
        object: c.object,
        warnings,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(op: Operation, old: Value, new: Option<Value>) -> Call {
        Call {
            operation: op,
            kind: Kind {
                group: "t.io".into(),
                version: "v1".into(),
                kind: "App".into(),
            },
            group: "t.io".into(),
            version: "v1".into(),
            resource: "apps".into(),
            subresource: None,
            namespace: Some("n".into()),
            name: "a".into(),
            object: new,
            old_object: Some(old),
            target: None,
            user: User::default(),
            dry_run: false,
        }
    }

    #[test]
    fn rules_match_groups_operations_resources_and_subresources() {
        let rule = json!({"apiGroups": ["t.io"], "apiVersions": ["v1"], "resources": ["apps"],
            "operations": ["DELETE"], "scope": "Namespaced"});
        let c = call(Operation::Delete, json!({}), None);
        assert!(rule_matches(&rule, &c, false));
        let mut status = c.clone();
        status.subresource = Some("status".into());
        assert!(
            !rule_matches(&rule, &status, true),
            "a subresource is not the resource"
        );
        let update = call(Operation::Update, json!({}), Some(json!({})));
        assert!(!rule_matches(&rule, &update, true));
        let exec = json!({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
            "resources": ["pods/exec", "pods/attach"]});
        let mut e = call(Operation::Connect, json!({}), None);
        e.group = String::new();
        e.resource = "pods".into();
        e.subresource = Some("exec".into());
        assert!(rule_matches(&exec, &e, true));
    }

    #[test]
    fn match_conditions_are_evaluated_as_cel() {
        let old = json!({"metadata": {"labels": {"orkestra.io/deletion-protection": "true"}}});
        let new = json!({"metadata": {"labels": {}}});
        let expr = "(oldObject != null && has(oldObject.metadata.labels) && 'orkestra.io/deletion-protection' in oldObject.metadata.labels ? oldObject.metadata.labels['orkestra.io/deletion-protection'] : '') != (object != null && has(object.metadata.labels) && 'orkestra.io/deletion-protection' in object.metadata.labels ? object.metadata.labels['orkestra.io/deletion-protection'] : '')";
        assert_eq!(
            cel(expr, &call(Operation::Update, old.clone(), Some(new))),
            Ok(true)
        );
        assert_eq!(
            cel(expr, &call(Operation::Update, old.clone(), Some(old))),
            Ok(false)
        );
        assert_eq!(
            cel(
                "request.name in ['a', 'b']",
                &call(Operation::Delete, json!({}), None)
            ),
            Ok(true)
        );
        assert!(cel("request.name +", &call(Operation::Delete, json!({}), None)).is_err());
        let deep = format!("{}true{}", "(".repeat(5000), ")".repeat(5000));
        assert!(cel(&deep, &call(Operation::Delete, json!({}), None)).is_err());
    }

    #[test]
    fn the_endpoint_is_read_from_url_or_service_path() {
        let url = json!({"clientConfig": {"url": "https://127.0.0.1:8443/deletion-protection"}});
        assert_eq!(endpoint(&url), Some(Webhook::DeletionProtection));
        let svc = json!({"clientConfig": {"service": {"path": "/validate"}}});
        assert_eq!(endpoint(&svc), Some(Webhook::Validate));
        let other = json!({"clientConfig": {"url": "https://example.invalid/x"}});
        assert_eq!(endpoint(&other), None);
    }
}
