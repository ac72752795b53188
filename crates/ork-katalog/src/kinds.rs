//! The child kinds a Katalog entry can render (docs/katalog.md §3.2), in write order.

use crate::schema::{CHILD_KINDS, Field};

/// One child list key of `onCreate` / `onReconcile` / `onDelete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChildKind {
    NetworkPolicies,
    ServiceAccounts,
    Roles,
    RoleBindings,
    Secrets,
    ConfigMaps,
    PersistentVolumeClaims,
    Custom,
    Deployments,
    StatefulSets,
    Services,
    Jobs,
    CronJobs,
    Ingresses,
    Hpa,
    Pdb,
}

/// What the renderer writes for a kind: `(apiVersion, kind, resource)`. `custom` takes its own.
pub struct KindInfo {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub resource: &'static str,
    /// suffix of the default name after the CR name (`-deployment`); `Some("")` = the CR name;
    /// `None` = a name is required
    pub default_suffix: Option<&'static str>,
}

impl ChildKind {
    /// Write order within a block (docs/katalog.md §3).
    pub const ALL: [ChildKind; 16] = [
        ChildKind::NetworkPolicies,
        ChildKind::ServiceAccounts,
        ChildKind::Roles,
        ChildKind::RoleBindings,
        ChildKind::Secrets,
        ChildKind::ConfigMaps,
        ChildKind::PersistentVolumeClaims,
        ChildKind::Custom,
        ChildKind::Deployments,
        ChildKind::StatefulSets,
        ChildKind::Services,
        ChildKind::Jobs,
        ChildKind::CronJobs,
        ChildKind::Ingresses,
        ChildKind::Hpa,
        ChildKind::Pdb,
    ];

    /// The list key in the Katalog (`deployments`).
    pub fn list_key(self) -> &'static str {
        match self {
            ChildKind::NetworkPolicies => "networkPolicies",
            ChildKind::ServiceAccounts => "serviceAccounts",
            ChildKind::Roles => "roles",
            ChildKind::RoleBindings => "roleBindings",
            ChildKind::Secrets => "secrets",
            ChildKind::ConfigMaps => "configMaps",
            ChildKind::PersistentVolumeClaims => "persistentVolumeClaims",
            ChildKind::Custom => "custom",
            ChildKind::Deployments => "deployments",
            ChildKind::StatefulSets => "statefulSets",
            ChildKind::Services => "services",
            ChildKind::Jobs => "jobs",
            ChildKind::CronJobs => "cronJobs",
            ChildKind::Ingresses => "ingresses",
            ChildKind::Hpa => "hpa",
            ChildKind::Pdb => "pdb",
        }
    }

    pub fn from_list_key(key: &str) -> Option<ChildKind> {
        ChildKind::ALL.into_iter().find(|k| k.list_key() == key)
    }

    /// The field table of the schema registry for this kind.
    pub fn fields(self) -> &'static [Field] {
        CHILD_KINDS
            .iter()
            .find(|(k, _)| *k == self.list_key())
            .map(|(_, f)| *f)
            .unwrap_or(&[])
    }

    /// API facts of the built-in kinds; `None` for `custom`.
    pub fn info(self) -> Option<KindInfo> {
        let i = |api_version, kind, resource, default_suffix| KindInfo {
            api_version,
            kind,
            resource,
            default_suffix,
        };
        Some(match self {
            ChildKind::Deployments => {
                i("apps/v1", "Deployment", "deployments", Some("-deployment"))
            }
            ChildKind::StatefulSets => i("apps/v1", "StatefulSet", "statefulsets", Some("")),
            ChildKind::Services => i("v1", "Service", "services", Some("-svc")),
            ChildKind::Jobs => i("batch/v1", "Job", "jobs", Some("-job")),
            ChildKind::CronJobs => i("batch/v1", "CronJob", "cronjobs", Some("-cronjob")),
            ChildKind::ConfigMaps => i("v1", "ConfigMap", "configmaps", Some("-config")),
            ChildKind::Secrets => i("v1", "Secret", "secrets", Some("-secret")),
            ChildKind::ServiceAccounts => i("v1", "ServiceAccount", "serviceaccounts", Some("-sa")),
            ChildKind::Ingresses => i(
                "networking.k8s.io/v1",
                "Ingress",
                "ingresses",
                Some("-ingress"),
            ),
            ChildKind::NetworkPolicies => i(
                "networking.k8s.io/v1",
                "NetworkPolicy",
                "networkpolicies",
                Some("-netpol"),
            ),
            ChildKind::Pdb => i(
                "policy/v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                Some("-pdb"),
            ),
            ChildKind::Hpa => i(
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
                Some("-hpa"),
            ),
            ChildKind::Roles => i(
                "rbac.authorization.k8s.io/v1",
                "Role",
                "roles",
                Some("-role"),
            ),
            ChildKind::RoleBindings => i(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                "rolebindings",
                Some("-rolebinding"),
            ),
            ChildKind::PersistentVolumeClaims => i(
                "v1",
                "PersistentVolumeClaim",
                "persistentvolumeclaims",
                None,
            ),
            ChildKind::Custom => return None,
        })
    }

    /// Kinds written once and never updated, in any block (docs/katalog.md §6.3).
    pub fn create_once(self) -> bool {
        matches!(self, ChildKind::Jobs | ChildKind::ServiceAccounts)
    }

    /// Kinds whose rendered object carries a pod template (checked by the backstop).
    pub fn pod_bearing(self) -> bool {
        matches!(
            self,
            ChildKind::Deployments
                | ChildKind::StatefulSets
                | ChildKind::Jobs
                | ChildKind::CronJobs
        )
    }
}

/// Built-in kinds ork reasons about without discovery: `(group, kind, resource, namespaced)`.
/// Plurals of kinds outside this table come from the Katalog's CRDs or discovery.
pub const BUILTIN_KINDS: &[(&str, &str, &str, bool)] = &[
    ("", "Pod", "pods", true),
    ("", "Service", "services", true),
    ("", "ConfigMap", "configmaps", true),
    ("", "Secret", "secrets", true),
    ("", "ServiceAccount", "serviceaccounts", true),
    ("", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("", "ReplicationController", "replicationcontrollers", true),
    ("", "Namespace", "namespaces", false),
    ("", "Node", "nodes", false),
    ("", "PersistentVolume", "persistentvolumes", false),
    ("", "Event", "events", true),
    ("", "PodTemplate", "podtemplates", true),
    ("apps", "Deployment", "deployments", true),
    ("apps", "StatefulSet", "statefulsets", true),
    ("apps", "DaemonSet", "daemonsets", true),
    ("apps", "ReplicaSet", "replicasets", true),
    ("batch", "Job", "jobs", true),
    ("batch", "CronJob", "cronjobs", true),
    ("networking.k8s.io", "Ingress", "ingresses", true),
    (
        "networking.k8s.io",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    ("rbac.authorization.k8s.io", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    ("coordination.k8s.io", "Lease", "leases", true),
    (
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
    ),
];

/// The resource of a built-in kind (`apps`, `Deployment` → `deployments`).
pub fn builtin_resource(group: &str, kind: &str) -> Option<&'static str> {
    BUILTIN_KINDS
        .iter()
        .find(|(g, k, _, _)| *g == group && *k == kind)
        .map(|(_, _, r, _)| *r)
}

/// Whether a built-in kind is namespaced; `None` for a kind outside the table.
pub fn builtin_namespaced(group: &str, kind: &str) -> Option<bool> {
    BUILTIN_KINDS
        .iter()
        .find(|(g, k, _, _)| *g == group && *k == kind)
        .map(|(_, _, _, n)| *n)
}

/// The group of a built-in resource named without its group (`deployments` → `apps`).
pub fn builtin_group(resource: &str) -> Option<&'static str> {
    BUILTIN_KINDS
        .iter()
        .find(|(_, _, r, _)| *r == resource)
        .map(|(g, _, _, _)| *g)
}

/// Kubernetes' default pluralisation of a kind, for kinds ork cannot look up (no CRD in the
/// Katalog, not built in): `Widget` → `widgets`, `Policy` → `policies`, `Ingress` → `ingresses`.
pub fn default_plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") {
        format!("{k}es")
    } else if let Some(stem) = k.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plurals() {
        assert_eq!(default_plural("Widget"), "widgets");
        assert_eq!(default_plural("Policy"), "policies");
        assert_eq!(default_plural("Gateway"), "gateways");
        assert_eq!(default_plural("Ingress"), "ingresses");
    }

    #[test]
    fn write_order_is_the_schema_order() {
        let keys: Vec<&str> = ChildKind::ALL.iter().map(|k| k.list_key()).collect();
        let schema: Vec<&str> = CHILD_KINDS.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, schema);
        for k in ChildKind::ALL {
            assert_eq!(ChildKind::from_list_key(k.list_key()), Some(k));
            assert!(!k.fields().is_empty(), "{k:?}");
        }
    }
}
