//! The objects of a bundle that run ork (docs/cli.md §6): the Namespace, the Katalog ConfigMap,
//! the Deployments, Services and PodDisruptionBudget of the runtime and the Gateway, and the
//! NetworkPolicies of the operator namespace.
//!
//! The Deployments start the production binaries exactly as they take their input
//! (`crates/ork-cli/src/cmd/run.rs`, `gateway.rs`): the Katalog from the mounted ConfigMap
//! (whose changes both hot-reload), `ORK_NAMESPACE` for the operator namespace, the health
//! listener on :8080 (`/healthz`, `/readyz`, `/metrics`) and the Gateway's webhooks on :8443.
//! The Gateway keeps its certificates in Secrets (docs/security.md §2.10), so nothing is
//! written to disk except an audit file the Katalog asks for, which gets an emptyDir.
//!
//! Pods are hardened so that `ork scan` finds nothing in them (docs/checks.md): UID/GID 65532,
//! non-root, read-only root filesystem, no privilege escalation, every capability dropped,
//! seccomp `RuntimeDefault`, requests and limits, probes. Both components call the API server,
//! so they need a token; it is mounted explicitly (a projected, expiring ServiceAccount token,
//! the cluster CA and the namespace, exactly what kube-rs reads in a pod) and
//! `automountServiceAccountToken` is off: the credential is visible in the manifest.

use serde_json::{Value, json};

use crate::installed::{KATALOG_CONFIGMAP, KATALOG_DIR, KATALOG_KEY};
use crate::options::{BundleOptions, GENERATE_OPTIONS};

/// The UID and GID of ork's images and pods (docs/security.md §2.1).
pub const UID: i64 = 65532;
/// The plain listener: `/healthz`, `/readyz`, `/metrics`.
pub const HEALTH_PORT: u16 = 8080;
/// The Gateway's webhook listener (HTTPS).
pub const WEBHOOK_PORT: u16 = 8443;
/// The Deployment and Service of the runtime.
pub const RUNTIME_NAME: &str = ork_katalog::names::RUNTIME_DEPLOYMENT;
/// How many replicas each component runs (the runtime: one active through its Lease).
pub const REPLICAS: i64 = 2;
/// Where kube-rs reads a pod's ServiceAccount credentials.
const TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The component a workload object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Runtime,
    Gateway,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Runtime => "runtime",
            Component::Gateway => "gateway",
        }
    }

    fn service_account(self) -> &'static str {
        match self {
            Component::Runtime => ork_katalog::names::RUNTIME_SERVICE_ACCOUNT,
            Component::Gateway => ork_katalog::names::GATEWAY_SERVICE_ACCOUNT,
        }
    }
}

/// The control-plane labels of docs/security.md §1.3 (the guard policy selects on them).
pub fn labels() -> Value {
    ork_webhooks::control_plane_labels()
}

/// The labels of a component's pods, and the selector of its Deployment, Service and PDB.
pub fn pod_labels(c: Component) -> Value {
    json!({"app.kubernetes.io/name": "orkestra", "app.kubernetes.io/component": c.as_str()})
}

/// The control-plane labels plus the component.
fn object_labels(c: Component) -> Value {
    let mut l = labels();
    l["app.kubernetes.io/component"] = json!(c.as_str());
    l
}

/// The operator namespace, control-plane labelled, with Pod Security admission enforcing
/// `restricted`: every pod ork runs there meets it.
pub fn namespace(ns: &str) -> Value {
    let mut l = labels();
    l["pod-security.kubernetes.io/enforce"] = json!("restricted");
    l["pod-security.kubernetes.io/enforce-version"] = json!("latest");
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": l}})
}

/// ConfigMap `orkestra-katalog`: the installed Katalog and the options that generated it.
pub fn katalog_configmap(opts: &BundleOptions, text: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": KATALOG_CONFIGMAP, "namespace": opts.namespace, "labels": labels(),
            "annotations": {GENERATE_OPTIONS: opts.to_annotation()},
        },
        "data": {KATALOG_KEY: text},
    })
}

/// One component's Deployment.
pub struct Workload<'a> {
    pub component: Component,
    /// the Deployment's name (the Gateway's is its Service's, which it looks up on uninstall)
    pub name: &'a str,
    pub image: String,
    pub args: Vec<String>,
    /// an emptyDir mounted here for a file the process writes (the Gateway's audit file)
    pub writable_dir: Option<String>,
}

fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "privileged": false,
        "readOnlyRootFilesystem": true,
        "runAsGroup": UID,
        "runAsNonRoot": true,
        "runAsUser": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn resources(c: Component) -> Value {
    match c {
        // BENCHMARKS.md: 37-64 MiB peak at 1,000 CRs
        Component::Runtime => json!({
            "limits": {"cpu": "1", "memory": "512Mi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        }),
        Component::Gateway => json!({
            "limits": {"cpu": "1", "memory": "256Mi"},
            "requests": {"cpu": "100m", "memory": "64Mi"},
        }),
    }
}

/// The projected volume that stands in for the automounted token: an expiring token of the
/// pod's ServiceAccount, the cluster CA and the namespace.
fn api_access_volume() -> Value {
    json!({
        "name": "kube-api-access",
        "projected": {
            "defaultMode": 0o644, // what the automounted volume uses
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
}

/// A component's Deployment in `ns`.
pub fn deployment(ns: &str, w: &Workload<'_>) -> Value {
    let c = w.component;
    let mut ports =
        vec![json!({"containerPort": HEALTH_PORT, "name": "health", "protocol": "TCP"})];
    if c == Component::Gateway {
        ports.insert(
            0,
            json!({"containerPort": WEBHOOK_PORT, "name": "webhooks", "protocol": "TCP"}),
        );
    }
    let mut env = vec![json!({"name": "ORK_NAMESPACE", "value": ns})];
    // each replica's identity in its Lease (ork_kube::lease::identity): unique per pod
    env.push(json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}));
    let mut mounts = vec![
        json!({"mountPath": KATALOG_DIR, "name": "katalog", "readOnly": true}),
        json!({"mountPath": TOKEN_DIR, "name": "kube-api-access", "readOnly": true}),
    ];
    let mut volumes = vec![
        json!({"name": "katalog", "configMap": {"name": KATALOG_CONFIGMAP, "items": [{"key": KATALOG_KEY, "path": KATALOG_KEY}]}}),
        api_access_volume(),
    ];
    if let Some(dir) = &w.writable_dir {
        mounts.push(json!({"mountPath": dir, "name": "writable"}));
        volumes.push(json!({"name": "writable", "emptyDir": {"sizeLimit": "256Mi"}}));
    }
    let probe = |path: &str, period: i64| {
        json!({"httpGet": {"path": path, "port": "health", "scheme": "HTTP"},
               "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": 3})
    };
    let mut metadata = json!({"name": w.name, "namespace": ns, "labels": object_labels(c)});
    if !w.image.contains("@sha256:") {
        // ork cannot know the digest of its own default image; the bundle says so where
        // `ork scan` looks, and a release passes `--runtime-image`/`--gateway-image` with one
        metadata["annotations"] = json!({
            "ork.io/ignore-check.image-no-digest":
                "ork's default image tag: pin a release with --runtime-image/--gateway-image REF@sha256:…",
        });
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": REPLICAS,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": pod_labels(c)},
            "template": {
                "metadata": {"labels": pod_labels(c)},
                "spec": {
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {"labelSelector": {"matchLabels": pod_labels(c)}, "topologyKey": "kubernetes.io/hostname"},
                    }]}},
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": c.as_str(),
                        "image": w.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": w.args,
                        "env": env,
                        "ports": ports,
                        "livenessProbe": probe("/healthz", 10),
                        "readinessProbe": probe("/readyz", 5),
                        "resources": resources(c),
                        "securityContext": container_security(),
                        "volumeMounts": mounts,
                    }],
                    "enableServiceLinks": false,
                    "securityContext": {
                        "fsGroup": UID,
                        "runAsGroup": UID,
                        "runAsNonRoot": true,
                        "runAsUser": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "serviceAccountName": c.service_account(),
                    // the runtime drains its reconciles for 30 s, the Gateway its requests for 40 s
                    "terminationGracePeriodSeconds": match c { Component::Runtime => 45, Component::Gateway => 60 },
                    "volumes": volumes,
                },
            },
        },
    })
}

/// A component's Service: the runtime's metrics; the Gateway's webhooks (443 → 8443) and
/// metrics.
pub fn service(ns: &str, name: &str, c: Component) -> Value {
    let mut ports = vec![
        json!({"name": "metrics", "port": HEALTH_PORT, "protocol": "TCP", "targetPort": "health"}),
    ];
    if c == Component::Gateway {
        ports.insert(
            0,
            json!({"name": "webhooks", "port": ork_webhooks::SERVICE_PORT, "protocol": "TCP", "targetPort": "webhooks"}),
        );
    }
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": object_labels(c)},
        "spec": {"type": "ClusterIP", "selector": pod_labels(c), "ports": ports},
    })
}

/// The Gateway's PodDisruptionBudget: a drain never takes the last replica, which every
/// admission request with failurePolicy Fail depends on.
pub fn gateway_pdb(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns, "labels": object_labels(Component::Gateway)},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": pod_labels(Component::Gateway)}},
    })
}

fn network_policy(ns: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": labels()},
        "spec": spec,
    })
}

/// Default deny in the operator namespace; egress to DNS and the API server (TCP 443 and 6443:
/// before and after the `kubernetes` Service's translation); ingress to the Gateway's webhooks
/// from anywhere, because the API server has no labels a policy could select; ingress to the
/// metrics port only from namespaces matching `metrics_from`.
pub fn network_policies(ns: &str, gateway: bool, metrics_from: &[(String, String)]) -> Vec<Value> {
    let mut out = vec![
        network_policy(
            ns,
            "orkestra-default-deny",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ),
        network_policy(
            ns,
            "orkestra-egress",
            json!({
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                    {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]},
                ],
            }),
        ),
    ];
    if gateway {
        out.push(network_policy(
            ns,
            "orkestra-gateway-webhooks",
            json!({
                "podSelector": {"matchLabels": pod_labels(Component::Gateway)},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"port": WEBHOOK_PORT, "protocol": "TCP"}]}],
            }),
        ));
    }
    if !metrics_from.is_empty() {
        let from: Vec<Value> = metrics_from
            .iter()
            .map(|(k, v)| json!({"namespaceSelector": {"matchLabels": {k: v}}}))
            .collect();
        out.push(network_policy(
            ns,
            "orkestra-metrics",
            json!({
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "orkestra"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": from, "ports": [{"port": HEALTH_PORT, "protocol": "TCP"}]}],
            }),
        ));
    }
    out
}
