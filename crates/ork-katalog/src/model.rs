//! The typed Katalog, deserialized from the structure stage's normalized JSON.
//! Child entries stay JSON (their fields are described by the schema registry and read by the
//! renderer); everything the runtime configures is typed here.

use serde::Deserialize;
use serde_json::Value;

use crate::settings::{Operator, RuleAction, ValueType};

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceNames {
    pub runtime: Option<String>,
    pub gateway: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeletionProtection {
    pub enabled: Option<bool>,
    pub failure_policy: Option<String>,
    pub service_name: Option<String>,
    #[serde(default)]
    pub cleanup_on_shutdown: bool,
    #[serde(default)]
    pub strict_mode: bool,
    pub protected_resources: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceProtection {
    pub enabled: Option<bool>,
    pub failure_policy: Option<String>,
    #[serde(default)]
    pub cleanup_on_shutdown: bool,
    #[serde(default)]
    pub allowed_namespaces: Vec<String>,
    #[serde(default)]
    pub restricted_namespaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Toggle {
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Webhooks {
    #[serde(default)]
    pub admission: Toggle,
    pub failure_policy: Option<String>,
    pub service_name: Option<String>,
    #[serde(default)]
    pub cleanup_on_shutdown: bool,
    pub timeout_seconds: Option<i64>,
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    pub break_glass_groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PsAdmission {
    pub enabled: Option<bool>,
    pub failure_policy: Option<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurity {
    pub default: Option<String>,
    pub level: Option<String>,
    #[serde(default)]
    pub admission: PsAdmission,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExecProtection {
    pub enabled: Option<bool>,
    pub failure_policy: Option<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub enabled: Option<bool>,
    pub sink: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CertManager {
    pub auto_rotate: Option<bool>,
    pub rotation_threshold: Option<String>,
    pub valid_for: Option<String>,
    pub ca_valid_for: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    #[serde(default)]
    pub service_name: ServiceNames,
    pub deletion_protection: Option<DeletionProtection>,
    pub namespace_protection: Option<NamespaceProtection>,
    pub webhooks: Option<Webhooks>,
    #[serde(default)]
    pub pod_security: PodSecurity,
    pub exec_protection: Option<ExecProtection>,
    #[serde(default)]
    pub audit: Audit,
    #[serde(default)]
    pub cert_manager: CertManager,
    pub rbac: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub standalone: bool,
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profiles {
    #[serde(default)]
    pub container_security: Vec<Value>,
    #[serde(default)]
    pub pod_security: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiTypes {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub condition: String,
    pub path: String,
}

/// A condition of docs/katalog.md §4 in canonical form.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Condition {
    pub field: String,
    pub operator: Operator,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub negate: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fires {
    #[serde(default = "yes")]
    pub reconcile: bool,
    #[serde(default = "yes")]
    pub admission: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    #[serde(flatten)]
    pub condition: Condition,
    pub message: String,
    #[serde(default = "deny")]
    pub action: RuleAction,
    #[serde(default)]
    pub when: Vec<Condition>,
    #[serde(default)]
    pub or: Vec<Condition>,
    #[serde(default)]
    pub fires: Fires,
}

/// A rule without `fires` runs at reconcile time and at admission.
impl Default for Fires {
    fn default() -> Self {
        Fires {
            reconcile: true,
            admission: true,
        }
    }
}

fn deny() -> RuleAction {
    RuleAction::Deny
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Validation {
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationRule {
    pub field: String,
    pub default: Option<String>,
    pub r#override: Option<String>,
    #[serde(default)]
    pub value_type: Option<ValueType>,
    #[serde(default)]
    pub when: Vec<Condition>,
    #[serde(default)]
    pub or: Vec<Condition>,
    #[serde(default)]
    pub fires: Fires,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mutation {
    #[serde(default = "yes")]
    pub mutate_first: bool,
    #[serde(default)]
    pub rules: Vec<MutationRule>,
}

impl Default for Mutation {
    fn default() -> Self {
        Mutation {
            mutate_first: true,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookOpts {
    #[serde(default = "yes")]
    pub validation: bool,
    #[serde(default = "yes")]
    pub mutation: bool,
    pub operations: Option<Vec<String>>,
}

impl Default for WebhookOpts {
    fn default() -> Self {
        WebhookOpts {
            validation: true,
            mutation: true,
            operations: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CrdProtection {
    #[serde(rename = "protectCRD")]
    pub protect_crd: Option<bool>,
    #[serde(rename = "protectCRs")]
    pub protect_crs: Option<bool>,
    pub strict_mode: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeCfg {
    pub deletion_protection: Option<CrdProtection>,
    pub allowed_namespaces: Option<Vec<String>>,
    pub restricted_namespaces: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Requeue {
    pub after: Option<String>,
    #[serde(default)]
    pub when: Vec<Condition>,
    #[serde(default)]
    pub or: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub retry_backoff: Option<Value>,
    pub failure_threshold: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Reconciler {
    pub default: Option<bool>,
    pub workers: Option<i64>,
    pub resync: Option<String>,
    pub requeue: Option<Requeue>,
    #[serde(default)]
    pub queue: Queue,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusField {
    pub path: String,
    pub value: String,
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub when: Vec<Condition>,
    #[serde(default)]
    pub or: Vec<Condition>,
    #[serde(default)]
    pub clear_on_false: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCfg {
    #[serde(default = "yes")]
    pub conditions: bool,
    #[serde(default)]
    pub fields: Vec<StatusField>,
}

impl Default for StatusCfg {
    fn default() -> Self {
        StatusCfg {
            conditions: true,
            fields: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OperatorBox {
    #[serde(default)]
    pub reconciler: Reconciler,
    #[serde(default)]
    pub runtime: RuntimeCfg,
    /// Blocks stay JSON: `{deployments: [...], when: [...]}`.
    pub on_create: Option<Value>,
    pub on_reconcile: Option<Value>,
    pub on_delete: Option<Value>,
    #[serde(default)]
    pub status: StatusCfg,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdEntry {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub description: Option<String>,
    pub api_types: Option<ApiTypes>,
    pub crd_file: Option<String>,
    #[serde(default)]
    pub cr_files: Vec<String>,
    pub namespaced: Option<bool>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    #[serde(default = "yes")]
    pub force_conflict: bool,
    #[serde(default)]
    pub validation: Validation,
    #[serde(default)]
    pub mutation: Mutation,
    #[serde(default)]
    pub webhooks: WebhookOpts,
    #[serde(default)]
    pub operator_box: OperatorBox,
    pub deletion_protection: Option<CrdProtection>,
    pub allowed_namespaces: Option<Vec<String>>,
    pub restricted_namespaces: Option<Vec<String>>,
}

/// Where a CRD's API facts came from and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// `Some(false)` when a crdFile's storage version lacks the status subresource.
    pub status_subresource: Option<bool>,
}

impl ApiInfo {
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

/// One CRD entry after loading.
#[derive(Debug, Clone)]
pub struct Crd {
    pub name: String,
    pub path: String,
    pub entry: CrdEntry,
    pub api: ApiInfo,
    pub cr_files: Vec<std::path::PathBuf>,
}

impl Crd {
    /// Per-CRD protection flags, from the current or the legacy location.
    pub fn protection(&self) -> CrdProtection {
        self.entry
            .operator_box
            .runtime
            .deletion_protection
            .clone()
            .or_else(|| self.entry.deletion_protection.clone())
            .unwrap_or_default()
    }
    pub fn allowed_namespaces(&self) -> Vec<String> {
        self.entry
            .operator_box
            .runtime
            .allowed_namespaces
            .clone()
            .or_else(|| self.entry.allowed_namespaces.clone())
            .unwrap_or_default()
    }
    pub fn restricted_namespaces(&self) -> Vec<String> {
        self.entry
            .operator_box
            .runtime
            .restricted_namespaces
            .clone()
            .or_else(|| self.entry.restricted_namespaces.clone())
            .unwrap_or_default()
    }
}

/// A Katalog that passed every stage of the pipeline.
#[derive(Debug, Clone)]
pub struct Katalog {
    pub file: String,
    pub dir: std::path::PathBuf,
    pub metadata: Metadata,
    pub security: Security,
    pub gateway: Gateway,
    pub profiles: Profiles,
    pub crds: Vec<Crd>,
    pub spans: crate::diag::SpanIndex,
    pub warnings: Vec<crate::diag::Diagnostic>,
    /// The normalized document.
    pub raw: Value,
    /// The resolved security settings; set by the security stage, so always present on a
    /// Katalog that `load_str` returns.
    pub posture: Option<crate::posture::Resolved>,
}

impl Katalog {
    pub fn crd(&self, name: &str) -> Option<&Crd> {
        self.crds.iter().find(|c| c.name == name)
    }
}
