//! What the Gateway registers: one configuration per protection, each with its own
//! failurePolicy, and the guard policy (docs/security.md §2.3).
//!
//! Everything here is pure: a prepared Katalog and a target in, the desired objects out. The
//! registrar applies them, and the watcher compares the cluster's copies with them. Every
//! webhook narrows what the API server sends to what `decide` would judge, so a request the
//! Gateway never sees is one `decide` would allow: the replay tests hold both to that.

use std::collections::BTreeSet;

use ork_katalog::Operation;
use ork_policy::prepared::{
    CONTROL_PLANE_LABEL, CONTROL_PLANE_LABELS, CONTROL_PLANE_VALUE, EXEMPTION_LABEL, GUARD_POLICY,
    OWNER_LABEL, PROTECTION_LABEL,
};
use ork_policy::{Layer, Layers, PreparedKatalog};
use serde_json::{Value, json};

/// One webhook endpoint of the Gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Webhook {
    Validate,
    Mutate,
    DeletionProtection,
    StrictMode,
    NamespaceProtection,
    PodSecurity,
    ExecProtection,
}

impl Webhook {
    pub const ALL: [Webhook; 7] = [
        Webhook::Validate,
        Webhook::Mutate,
        Webhook::DeletionProtection,
        Webhook::StrictMode,
        Webhook::NamespaceProtection,
        Webhook::PodSecurity,
        Webhook::ExecProtection,
    ];

    /// The HTTPS path the API server posts to.
    pub fn path(self) -> &'static str {
        match self {
            Webhook::Validate => "/validate",
            Webhook::Mutate => "/mutate",
            Webhook::DeletionProtection => "/deletion-protection",
            Webhook::StrictMode => "/strict-mode-protection",
            Webhook::NamespaceProtection => "/namespace-protection",
            Webhook::PodSecurity => "/pod-security",
            Webhook::ExecProtection => "/exec-protection",
        }
    }

    pub fn from_path(path: &str) -> Option<Webhook> {
        Webhook::ALL.into_iter().find(|w| w.path() == path)
    }

    /// The name in audit lines and metrics.
    pub fn name(self) -> &'static str {
        &self.path()[1..]
    }

    /// The configuration that carries this webhook.
    pub fn configuration(self) -> &'static str {
        match self {
            Webhook::Validate => "orkestra-admission-validation",
            Webhook::Mutate => "orkestra-admission-mutation",
            Webhook::DeletionProtection => "orkestra-deletion-protection",
            Webhook::StrictMode => "orkestra-strict-mode-protection",
            Webhook::NamespaceProtection => "orkestra-namespace-protection",
            Webhook::PodSecurity => "orkestra-pod-security",
            Webhook::ExecProtection => "orkestra-exec-protection",
        }
    }

    pub fn mutating(self) -> bool {
        self == Webhook::Mutate
    }

    /// The layers of `decide` this endpoint evaluates. Reserved keys ride on `/validate`,
    /// which is registered for every Katalog CRD whenever a Gateway runs (G12).
    pub fn layers(self) -> Layers {
        Layers::only(match self {
            Webhook::Validate => &[Layer::Validation, Layer::ReservedKeys],
            Webhook::Mutate => &[Layer::Mutation],
            Webhook::DeletionProtection => &[Layer::DeletionProtection],
            Webhook::StrictMode => &[Layer::StrictMode],
            Webhook::NamespaceProtection => &[Layer::NamespaceProtection],
            Webhook::PodSecurity => &[Layer::PodSecurity],
            Webhook::ExecProtection => &[Layer::ExecProtection],
        })
    }

    /// The layer whose failurePolicy governs the configuration (and the Gateway's own
    /// internal errors and missed deadlines on this endpoint).
    pub fn layer(self) -> Layer {
        match self {
            Webhook::Validate => Layer::Validation,
            Webhook::Mutate => Layer::Mutation,
            Webhook::DeletionProtection => Layer::DeletionProtection,
            Webhook::StrictMode => Layer::StrictMode,
            Webhook::NamespaceProtection => Layer::NamespaceProtection,
            Webhook::PodSecurity => Layer::PodSecurity,
            Webhook::ExecProtection => Layer::ExecProtection,
        }
    }
}

/// The port of the Gateway's Service the API server calls; the Service maps it to the webhook
/// listener (:8443). The bundle's Service and these configurations share this constant.
pub const SERVICE_PORT: u16 = 443;

/// Where the API server reaches the Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `https://HOST:PORT` (`--advertise`: local and test use)
    Url(String),
    /// the Gateway's Service: port 443, which the Service maps to the Gateway's :8443
    /// (docs/cli.md §6)
    Service { namespace: String, name: String },
}

impl Target {
    fn client_config(&self, path: &str, ca_bundle: &str) -> Value {
        let ca = base64_encode(ca_bundle.as_bytes());
        match self {
            Target::Url(base) => json!({"url": format!("{base}{path}"), "caBundle": ca}),
            Target::Service { namespace, name } => json!({
                "service": {"namespace": namespace, "name": name, "path": path, "port": SERVICE_PORT},
                "caBundle": ca,
            }),
        }
    }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The labels of every object ork's control plane owns (`ork_katalog::names`, shared with the
/// derived RBAC and the certificate store); the guard policy selects on them.
pub fn control_plane_labels() -> Value {
    Value::Object(
        CONTROL_PLANE_LABELS
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
            .collect(),
    )
}

/// The same labels as a map, for typed objects.
pub fn control_plane_labels_map() -> std::collections::BTreeMap<String, String> {
    CONTROL_PLANE_LABELS
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

/// The fixed exclusions: a Gateway that is down never blocks the components that would
/// bring it back (docs/security.md §2.3).
fn excluded_namespaces(k: &PreparedKatalog) -> Vec<String> {
    let mut out = vec![
        "kube-system".to_string(),
        "kube-node-lease".to_string(),
        k.settings.operator_namespace.clone(),
    ];
    for ns in &k.settings.exclude_namespaces {
        if !out.contains(ns) {
            out.push(ns.clone());
        }
    }
    out
}

fn namespace_selector(k: &PreparedKatalog, within: &[String]) -> Value {
    let mut exprs = vec![json!({
        "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded_namespaces(k),
    })];
    if !within.is_empty() {
        exprs.push(
            json!({"key": "kubernetes.io/metadata.name", "operator": "In", "values": within}),
        );
    }
    json!({"matchExpressions": exprs})
}

/// A CEL string literal.
fn cel_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn cel_list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| cel_str(s.as_ref())).collect();
    format!("[{}]", v.join(", "))
}

/// The value of label `key` on `obj` (`oldObject`/`object`) in CEL, `''` when absent.
fn cel_label(obj: &str, key: &str) -> String {
    let k = cel_str(key);
    format!(
        "({obj} != null && has({obj}.metadata.labels) && {k} in {obj}.metadata.labels ? {obj}.metadata.labels[{k}] : '')"
    )
}

struct Rule {
    group: String,
    version: String,
    resources: Vec<String>,
    operations: Vec<&'static str>,
    namespaced: Option<bool>,
}

impl Rule {
    fn to_json(&self) -> Value {
        let mut r = json!({
            "apiGroups": [self.group], "apiVersions": [self.version],
            "resources": self.resources, "operations": self.operations,
        });
        if let Some(n) = self.namespaced {
            r["scope"] = json!(if n { "Namespaced" } else { "Cluster" });
        }
        r
    }
}

fn crd_rule(c: &ork_policy::PreparedCrd, ops: &[&'static str]) -> Rule {
    Rule {
        group: c.api.group.clone(),
        version: c.api.version.clone(),
        resources: vec![c.api.plural.clone()],
        operations: ops.to_vec(),
        namespaced: Some(c.api.namespaced),
    }
}

/// Rules for the protected resources, one per group (explicit groups and resources, never
/// `*/*/*`).
fn protected_rules(k: &PreparedKatalog, op: &'static str) -> Vec<Value> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for gr in &k.protected_resources {
        match groups.iter_mut().find(|(g, _)| *g == gr.group) {
            Some((_, rs)) => rs.push(&gr.resource),
            None => groups.push((&gr.group, vec![&gr.resource])),
        }
    }
    groups
        .into_iter()
        .map(|(g, rs)| json!({"apiGroups": [g], "apiVersions": ["*"], "resources": rs, "operations": [op]}))
        .collect()
}

fn webhook_entry(
    k: &PreparedKatalog,
    w: Webhook,
    name: &str,
    target: &Target,
    ca_bundle: &str,
    rules: Vec<Value>,
) -> Value {
    json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "matchPolicy": "Equivalent",
        "timeoutSeconds": k.settings.timeout_seconds,
        "failurePolicy": w.layer().failure_policy(k).to_string(),
        "clientConfig": target.client_config(w.path(), ca_bundle),
        "rules": rules,
        "namespaceSelector": namespace_selector(k, &[]),
    })
}

/// The desired configurations of this Katalog; a configuration that is absent here is
/// deleted by the registrar (its feature is off or nothing needs it).
pub fn configurations(k: &PreparedKatalog, target: &Target, ca_bundle: &str) -> Vec<Desired> {
    let s = &k.settings;
    let mut out = Vec::new();
    let crds: Vec<_> = k.crds.iter().filter(|c| c.enabled).collect();
    let entry = |w: Webhook, name: &str, rules: Vec<Value>| {
        webhook_entry(k, w, name, target, ca_bundle, rules)
    };

    // validation and reserved keys: every Katalog CRD, CREATE and UPDATE for G12, plus the
    // operations a CRD lists when its validation rules are on
    let validate: Vec<Value> = crds
        .iter()
        .map(|c| {
            let mut ops: BTreeSet<&'static str> = ["CREATE", "UPDATE"].into();
            if s.admission_enabled && c.webhooks.validation && !c.validation.is_empty() {
                ops.extend(c.webhooks.operations.iter().map(|o| op_name(*o)));
            }
            crd_rule(c, &ops.into_iter().collect::<Vec<_>>()).to_json()
        })
        .collect();
    if !validate.is_empty() {
        out.push(Desired::webhooks(
            Webhook::Validate,
            vec![entry(
                Webhook::Validate,
                "validate.orkestra.orkspace.io",
                validate,
            )],
        ));
    }

    if s.admission_enabled {
        let mutate: Vec<Value> = crds
            .iter()
            .filter(|c| c.webhooks.mutation && !c.mutation.is_empty())
            .filter_map(|c| {
                let ops: Vec<&'static str> = c
                    .webhooks
                    .operations
                    .iter()
                    .filter(|o| matches!(o, Operation::Create | Operation::Update))
                    .map(|o| op_name(*o))
                    .collect();
                (!ops.is_empty()).then(|| crd_rule(c, &ops).to_json())
            })
            .collect();
        if !mutate.is_empty() {
            let mut e = entry(Webhook::Mutate, "mutate.orkestra.orkspace.io", mutate);
            e["reinvocationPolicy"] = json!("IfNeeded");
            out.push(Desired::webhooks(Webhook::Mutate, vec![e]));
        }
    }

    if s.dp_enabled {
        let mut hooks = Vec::new();
        if !k.protected_crds.is_empty() {
            let mut e = entry(
                Webhook::DeletionProtection,
                "protect.crds.orkestra.orkspace.io",
                vec![json!({
                    "apiGroups": ["apiextensions.k8s.io"], "apiVersions": ["v1"],
                    "resources": ["customresourcedefinitions"], "operations": ["DELETE"],
                })],
            );
            e["matchConditions"] = json!([{
                "name": "protected-crd",
                "expression": format!("request.name in {}", cel_list(&k.protected_crds)),
            }]);
            hooks.push(e);
        }
        if !k.protected_resources.is_empty() {
            let mut e = entry(
                Webhook::DeletionProtection,
                "protect.resources.orkestra.orkspace.io",
                protected_rules(k, "DELETE"),
            );
            e["objectSelector"] = json!({"matchLabels": {PROTECTION_LABEL: "true"}});
            hooks.push(e);
        }
        if !hooks.is_empty() {
            out.push(Desired::webhooks(Webhook::DeletionProtection, hooks));
        }
        if s.dp_strict && !k.protected_resources.is_empty() {
            let mut e = entry(
                Webhook::StrictMode,
                "strict-mode.orkestra.orkspace.io",
                protected_rules(k, "UPDATE"),
            );
            // only label changes can be denied: the protection label or the exemption label
            // (which only the runtime may touch, whether or not the object is labelled)
            e["matchConditions"] = json!([{
                "name": "protection-labels-change",
                "expression": format!(
                    "{} != {} || {} != {}",
                    cel_label("oldObject", PROTECTION_LABEL), cel_label("object", PROTECTION_LABEL),
                    cel_label("oldObject", EXEMPTION_LABEL), cel_label("object", EXEMPTION_LABEL),
                ),
            }]);
            out.push(Desired::webhooks(Webhook::StrictMode, vec![e]));
        }
    }

    if s.np_enabled {
        let rules: Vec<Value> = crds
            .iter()
            .filter(|c| c.has_namespace_rules())
            .map(|c| crd_rule(c, &["CREATE", "UPDATE"]).to_json())
            .collect();
        if !rules.is_empty() {
            let mut e = entry(
                Webhook::NamespaceProtection,
                "namespace-protect.orkestra.orkspace.io",
                rules,
            );
            // an object being deleted may always lose its finalizers
            e["matchConditions"] = json!([{
                "name": "not-terminating",
                "expression": "oldObject == null || !has(oldObject.metadata.deletionTimestamp)",
            }]);
            out.push(Desired::webhooks(Webhook::NamespaceProtection, vec![e]));
        }
    }

    if s.ps_admission {
        let ops = ["CREATE", "UPDATE"];
        let rules = vec![
            json!({"apiGroups": [""], "apiVersions": ["v1"], "operations": ops,
                   "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]}),
            json!({"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ops,
                   "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"]}),
            json!({"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ops,
                   "resources": ["jobs", "cronjobs"]}),
        ];
        let mut e = entry(
            Webhook::PodSecurity,
            "pod-security.orkestra.orkspace.io",
            rules,
        );
        if s.ps_admission_namespaces.is_empty() {
            e["objectSelector"] =
                json!({"matchExpressions": [{"key": OWNER_LABEL, "operator": "Exists"}]});
        } else {
            e["namespaceSelector"] = namespace_selector(k, &s.ps_admission_namespaces);
        }
        out.push(Desired::webhooks(Webhook::PodSecurity, vec![e]));
    }

    if s.exec_protection {
        let mut e = entry(
            Webhook::ExecProtection,
            "exec-protection.orkestra.orkspace.io",
            vec![
                json!({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
                        "resources": ["pods/exec", "pods/attach"]}),
            ],
        );
        e["namespaceSelector"] = namespace_selector(k, &s.exec_namespaces);
        out.push(Desired::webhooks(Webhook::ExecProtection, vec![e]));
    }
    out
}

/// One object the Gateway keeps in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub kind: DesiredKind,
    pub name: &'static str,
    pub object: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DesiredKind {
    Validating,
    Mutating,
    Policy,
    Binding,
}

impl DesiredKind {
    pub fn kind(self) -> &'static str {
        match self {
            DesiredKind::Validating => "ValidatingWebhookConfiguration",
            DesiredKind::Mutating => "MutatingWebhookConfiguration",
            DesiredKind::Policy => "ValidatingAdmissionPolicy",
            DesiredKind::Binding => "ValidatingAdmissionPolicyBinding",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            DesiredKind::Validating => "validatingwebhookconfigurations",
            DesiredKind::Mutating => "mutatingwebhookconfigurations",
            DesiredKind::Policy => "validatingadmissionpolicies",
            DesiredKind::Binding => "validatingadmissionpolicybindings",
        }
    }
}

impl Desired {
    fn webhooks(w: Webhook, hooks: Vec<Value>) -> Desired {
        let kind = if w.mutating() {
            DesiredKind::Mutating
        } else {
            DesiredKind::Validating
        };
        Desired {
            kind,
            name: w.configuration(),
            object: json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind.kind(),
                "metadata": {"name": w.configuration(), "labels": control_plane_labels()},
                "webhooks": hooks,
            }),
        }
    }
}

/// Every configuration name the Gateway may own, for deleting those of features now off.
pub fn all_configurations() -> Vec<(DesiredKind, &'static str)> {
    Webhook::ALL
        .into_iter()
        .map(|w| {
            let kind = if w.mutating() {
                DesiredKind::Mutating
            } else {
                DesiredKind::Validating
            };
            (kind, w.configuration())
        })
        .collect()
}

/// The guard (G2): a ValidatingAdmissionPolicy, evaluated inside the API server, that lets
/// only the Gateway and `breakGlassGroups` change or delete ork's configurations and delete
/// its control-plane objects. Its expressions mirror `decide`'s control-plane layer
/// (ork_policy::admission), and the corpus replay holds them to it.
pub fn guard(k: &PreparedKatalog) -> [Desired; 2] {
    let s = &k.settings;
    let configurations: Vec<&str> = ork_policy::prepared::WEBHOOK_CONFIGURATIONS.to_vec();
    let labelled = |obj: &str| {
        format!(
            "{} == {}",
            cel_label(obj, CONTROL_PLANE_LABEL),
            cel_str(CONTROL_PLANE_VALUE)
        )
    };
    let protected = |obj: &str| format!("{} == 'true'", cel_label(obj, PROTECTION_LABEL));
    let verb = "(request.operation == 'DELETE' ? 'delete' : 'change')";
    let message = format!(
        "'[Orkestra Security] control-plane: ' + request.kind.kind + ' ' + (has(request.namespace) && request.namespace != '' && request.resource.resource != 'namespaces' ? request.namespace + '/' : '') + request.name + \" belongs to ork's control plane ({GUARD_POLICY}): only the Gateway and members of \" + {} + ' may ' + {verb} + ' it'",
        cel_str(&s.break_glass_groups.join(", "))
    );
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": GUARD_POLICY, "labels": control_plane_labels()},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "matchPolicy": "Equivalent",
                "resourceRules": [
                    {"apiGroups": ["admissionregistration.k8s.io"], "apiVersions": ["*"],
                     "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
                     "operations": ["UPDATE", "DELETE"]},
                    {"apiGroups": [""], "apiVersions": ["*"],
                     "resources": ["namespaces", "services", "serviceaccounts", "secrets"], "operations": ["DELETE"]},
                    {"apiGroups": ["apps"], "apiVersions": ["*"], "resources": ["deployments"], "operations": ["DELETE"]},
                    {"apiGroups": ["rbac.authorization.k8s.io"], "apiVersions": ["*"],
                     "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"], "operations": ["DELETE"]},
                    // an UPDATE of anything that removes the control-plane or protection label
                    {"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["UPDATE"]},
                ],
            },
            "matchConditions": [{
                "name": "not-the-gateway-or-break-glass",
                "expression": format!(
                    "!(request.userInfo.username == {} || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in {})))",
                    cel_str(&k.identities.gateway), cel_list(&s.break_glass_groups)
                ),
            }],
            "variables": [
                {"name": "own", "expression": "request.resource.group == 'admissionregistration.k8s.io' && request.resource.resource in ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']"},
                {"name": "labelled", "expression": labelled("oldObject")},
                {"name": "guarded", "expression": format!(
                    "variables.own ? (variables.labelled || request.name in {}) : (variables.labelled && (request.operation == 'DELETE' || !({}) || ({} && !({}))))",
                    cel_list(&configurations), labelled("object"), protected("oldObject"), protected("object")
                )},
            ],
            "validations": [{
                "expression": "!variables.guarded",
                "messageExpression": message,
                "reason": "Forbidden",
            }],
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": GUARD_POLICY, "labels": control_plane_labels()},
        "spec": {"policyName": GUARD_POLICY, "validationActions": ["Deny"]},
    });
    [
        Desired {
            kind: DesiredKind::Policy,
            name: GUARD_POLICY,
            object: policy,
        },
        Desired {
            kind: DesiredKind::Binding,
            name: GUARD_POLICY,
            object: binding,
        },
    ]
}

/// What of `live` ork owns: the fields `desired` sets, taken from `live` (lists element by
/// element, so an added or removed webhook or rule shows). Defaults the API server fills in
/// are not ork's and never count as drift.
pub fn owned_view(desired: &Value, live: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.iter()
                .map(|(k, dv)| (k.clone(), owned_view(dv, l.get(k).unwrap_or(&Value::Null))))
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            Value::Array(d.iter().zip(l).map(|(dv, lv)| owned_view(dv, lv)).collect())
        }
        (_, l) => l.clone(),
    }
}

/// A SHA-256 of the fields ork owns, for comparing the live copy with the desired one.
pub fn fingerprint(desired: &Value, live: &Value) -> [u8; 32] {
    use sha2::Digest;
    let view = owned_view(desired, live);
    sha2::Sha256::digest(view.to_string().as_bytes()).into()
}

/// Whether `live` differs from `desired` in any field ork owns (metadata aside from labels).
pub fn drifted(desired: &Value, live: &Value) -> bool {
    // watch events may omit apiVersion and kind; the name-scoped watch already fixes both
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.retain(|k, _| k == "name" || k == "labels");
        }
        v
    };
    let d = strip(desired);
    fingerprint(&d, &strip(live)) != fingerprint(&d, &d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_view_ignores_server_defaults_but_sees_changes() {
        let desired = json!({"webhooks": [{"name": "a", "rules": [{"operations": ["DELETE"]}]}]});
        let defaulted = json!({"webhooks": [{"name": "a", "rules": [{"operations": ["DELETE"], "scope": "*"}], "timeoutSeconds": 10}]});
        assert!(!drifted(&desired, &defaulted));
        let changed = json!({"webhooks": [{"name": "a", "rules": [{"operations": ["CREATE"]}]}]});
        assert!(drifted(&desired, &changed));
        let added = json!({"webhooks": [{"name": "a", "rules": [{"operations": ["DELETE"]}, {"operations": ["CREATE"]}]}]});
        assert!(drifted(&desired, &added));
        let removed = json!({"webhooks": []});
        assert!(drifted(&desired, &removed));
    }

    #[test]
    fn every_path_maps_back_to_its_webhook() {
        for w in Webhook::ALL {
            assert_eq!(Webhook::from_path(w.path()), Some(w));
            assert!(ork_policy::prepared::WEBHOOK_CONFIGURATIONS.contains(&w.configuration()));
        }
        assert_eq!(Webhook::from_path("/metrics"), None);
    }

    #[test]
    fn cel_strings_are_escaped() {
        assert_eq!(cel_str("it's"), "'it\\'s'");
        assert_eq!(cel_list(["a", "b"]), "['a', 'b']");
    }
}
