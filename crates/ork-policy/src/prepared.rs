//! The prepared Katalog: built once from a validated Katalog, immutable, shared through `Arc`
//! by every enforcement point (docs/architecture.md).
//!
//! Preparing does, once, everything evaluation would otherwise repeat: every template of the
//! Katalog is parsed into one cache, conditions and rules are typed and their static regexes
//! compiled, security settings are enums, child entries are typed by kind and write operation
//! and sorted into write order, and the protection sets of docs/security.md §2.4 are computed.
//! It keeps nothing of the load's raw YAML tree or normalized document: nothing downstream reads
//! the Katalog by key again. A hot reload builds a new `PreparedKatalog` and swaps the
//! `Arc`; one being evaluated stays valid until its last reader drops it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::path::At;
use ork_katalog::model::{Condition, Profiles, Reconciler, StatusField};
use ork_katalog::posture::Resolved;
use ork_katalog::{ApiInfo, ChildKind, Diagnostic, Katalog};
use ork_limits::Limits;
use ork_template::Template;
use serde::Deserialize as _;
use serde_json::Value;

use crate::conditions::{FieldRef, Gate, PreparedCondition, TemplateSource};
use crate::rules::{PreparedMutationRule, PreparedRule, Text};

/// The label that protects an object from deletion (docs/security.md §1.3).
pub const PROTECTION_LABEL: &str = "orkestra.io/deletion-protection";
/// Accepted for compatibility, never read for a decision; only the runtime may change it (G1).
pub const EXEMPTION_LABEL: &str = "orkestra.io/strict-mode-exempt";
/// Reserved key prefix: only ork's own identities may set keys under it (G12).
pub const RESERVED_PREFIX: &str = "orkestra.orkspace.io/";
/// The labels of ork's own control-plane objects; the guard policy selects on the first.
pub use ork_katalog::names::{CONTROL_PLANE_LABEL, CONTROL_PLANE_LABELS, CONTROL_PLANE_VALUE};
/// The label rendered children carry with their owner's name.
pub const OWNER_LABEL: &str = "orkestra-owner";

/// ork's webhook configurations and guard policy (docs/security.md §2.3).
pub const WEBHOOK_CONFIGURATIONS: &[&str] = &[
    "orkestra-admission-validation",
    "orkestra-admission-mutation",
    "orkestra-deletion-protection",
    "orkestra-strict-mode-protection",
    "orkestra-namespace-protection",
    "orkestra-pod-security",
    "orkestra-exec-protection",
];
pub const GUARD_POLICY: &str = "orkestra-control-plane-guard";

/// Why a Katalog could not be prepared. A Katalog that passed validation always prepares;
/// this names what went wrong if it did not (it is never ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareError(pub String);

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot prepare the Katalog: {}", self.0)
    }
}

impl std::error::Error for PrepareError {}

/// The identities decisions compare `userInfo.username` with (docs/security.md §0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identities {
    /// `system:serviceaccount:<operator-ns>:orkestra`
    pub runtime: String,
    /// `system:serviceaccount:<operator-ns>:orkestra-gateway`
    pub gateway: String,
}

/// A group and resource (`apps`, `deployments`; core is `""`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

/// How a child is written (docs/katalog.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// create if absent, never update
    Create,
    /// server-side apply with drift correction
    Apply,
}

impl WriteOp {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteOp::Create => "create",
            WriteOp::Apply => "apply",
        }
    }
}

/// `onCreate`, `onReconcile`, `onDelete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockName {
    OnCreate,
    OnReconcile,
    OnDelete,
}

impl BlockName {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockName::OnCreate => "onCreate",
            BlockName::OnReconcile => "onReconcile",
            BlockName::OnDelete => "onDelete",
        }
    }
}

/// `forEach: {field, as, max}`.
#[derive(Debug, Clone)]
pub struct ForEach {
    pub field: FieldRef,
    pub field_text: String,
    pub as_name: String,
    /// the entry's `max`, never above the `forEach.items` budget
    pub max: usize,
}

/// One child entry, typed.
#[derive(Debug, Clone)]
pub struct PreparedEntry {
    /// `onCreate.deployments[0]`
    pub path: String,
    pub block: BlockName,
    pub kind: ChildKind,
    pub op: WriteOp,
    pub gate: Gate,
    pub for_each: Option<ForEach>,
    /// server-side apply `force`: the entry's, else the CRD entry's `forceConflict`
    pub force: bool,
    /// the entry's fields as loaded (string leaves hold their literal text; every template
    /// among them is in the prepared Katalog's cache)
    pub fields: Value,
}

/// A block: its gate and its entries in write order (kind order, then declaration order).
#[derive(Debug, Clone)]
pub struct PreparedBlock {
    pub name: BlockName,
    pub gate: Gate,
    pub entries: Vec<PreparedEntry>,
}

/// A status field (docs/katalog.md §6.4).
#[derive(Debug, Clone)]
pub struct PreparedStatusField {
    pub path: String,
    pub value: Text,
    pub r#type: ork_katalog::StatusType,
    pub gate: Gate,
    pub clear_on_false: bool,
}

pub use ork_katalog::posture::Protection;

/// The admission options of a CRD (`webhooks:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdWebhooks {
    pub validation: bool,
    pub mutation: bool,
    pub operations: Vec<ork_katalog::Operation>,
}

/// One level of namespace rules: its name in messages and its lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceLevel {
    pub level: &'static str,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// One CRD entry, prepared.
#[derive(Debug, Clone)]
pub struct PreparedCrd {
    pub name: String,
    /// `spec.crds.<name>`
    pub path: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub api: ApiInfo,
    /// the namespace this entry watches, if pinned
    pub namespace: Option<String>,
    pub validation: Vec<PreparedRule>,
    pub mutate_first: bool,
    pub mutation: Vec<PreparedMutationRule>,
    pub webhooks: CrdWebhooks,
    pub protection: Protection,
    /// Katalog level, then CRD level
    pub namespaces: Vec<NamespaceLevel>,
    /// `onCreate` then `onReconcile` (absent blocks left out)
    pub blocks: Vec<PreparedBlock>,
    pub on_delete: Option<PreparedBlock>,
    pub on_delete_timeout: Option<String>,
    pub status_conditions: bool,
    pub status_fields: Vec<PreparedStatusField>,
    pub requeue: Option<(Option<Text>, Gate)>,
    pub reconciler: Reconciler,
    pub cr_files: Vec<PathBuf>,
    /// CR paths whose values templates render into Secret data: never quoted in messages
    pub secret_bound: Vec<Vec<String>>,
}

impl PreparedCrd {
    /// True when any namespace list applies to this CRD.
    pub fn has_namespace_rules(&self) -> bool {
        self.namespaces
            .iter()
            .any(|l| !l.allow.is_empty() || !l.deny.is_empty())
    }

    /// The namespaces this CRD is pinned to (docs/security.md §2.2): its `namespace` when set,
    /// else the exact names of its effective allow-list ([`crate::namespaces::pinned`]).
    /// `None` for a CRD whose CRs may live in any namespace, and for a cluster-scoped one. The
    /// derived RBAC grants a pinned CRD's permissions in these namespaces only.
    pub fn pinned_namespaces(&self) -> Option<Vec<String>> {
        if !self.api.namespaced {
            return None;
        }
        if let Some(ns) = &self.namespace {
            return Some(vec![ns.clone()]);
        }
        let levels: Vec<(&'static str, &[String], &[String])> = self
            .namespaces
            .iter()
            .map(|l| (l.level, l.allow.as_slice(), l.deny.as_slice()))
            .collect();
        crate::namespaces::pinned(&levels)
    }

    /// True when a condition reads a value that this CRD renders into a Secret.
    pub fn is_secret_bound(&self, c: &PreparedCondition) -> bool {
        let FieldRef::Path(p) = &c.field else {
            // a templated field may combine anything: treat it as bound when any path is
            return !self.secret_bound.is_empty();
        };
        // `.oldObject.spec.password` is the stored copy of the same value
        let p = match p.split_first() {
            Some((first, rest)) if first == "oldObject" => rest,
            _ => p.as_slice(),
        };
        self.secret_bound
            .iter()
            .any(|s| s.starts_with(p) || p.starts_with(s))
    }
}

/// Every template of the Katalog, parsed once and keyed by its source text.
#[derive(Debug, Default)]
pub struct Templates {
    parsed: HashMap<String, Arc<Template>>,
}

impl Templates {
    fn collect(&mut self, v: &Value) {
        match v {
            Value::String(s) if ork_template::is_template(s) => {
                if !self.parsed.contains_key(s.as_str())
                    && let Ok(t) = Template::parse(s)
                {
                    // a template that does not parse is not cached: `template` reports its
                    // parse error at use, so it fails there (the loader rejects it anyway)
                    self.parsed.insert(s.clone(), Arc::new(t));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| self.collect(x)),
            Value::Object(m) => m.values().for_each(|x| self.collect(x)),
            _ => {}
        }
    }

    pub fn len(&self) -> usize {
        self.parsed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parsed.is_empty()
    }
}

impl TemplateSource for Templates {
    fn template(&self, src: &str) -> Result<Arc<Template>, String> {
        if let Some(t) = self.parsed.get(src) {
            return Ok(Arc::clone(t));
        }
        // only a template outside the Katalog's text gets here; parse it, never skip it
        Template::parse(src)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }
}

/// The prepared Katalog. `Send + Sync`; share it as `Arc<PreparedKatalog>`.
#[derive(Debug)]
pub struct PreparedKatalog {
    /// `metadata.name`
    pub name: String,
    pub file: String,
    pub settings: Resolved,
    pub identities: Identities,
    pub crds: Vec<PreparedCrd>,
    /// `profiles:` (user pod-security profiles)
    pub profiles: Profiles,
    /// the loader's warnings
    pub warnings: Vec<Diagnostic>,
    /// `<plural>.<group>` of every enabled CRD (and `custom:` CRD child) with protectCRD
    pub protected_crds: BTreeSet<String>,
    /// CR GVRs with protectCRs, `custom:` child GVRs, and `protectedResources`
    pub protected_resources: BTreeSet<GroupResource>,
    pub templates: Templates,
    /// the budgets evaluation and rendering work within
    pub limits: Limits,
    by_kind: HashMap<(String, String), usize>,
    by_resource: HashMap<(String, String), usize>,
}

impl TemplateSource for PreparedKatalog {
    fn template(&self, src: &str) -> Result<Arc<Template>, String> {
        self.templates.template(src)
    }
}

fn opt_conditions(v: Option<&Value>) -> Result<Vec<Condition>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(x) => Vec::<Condition>::deserialize(x).map_err(|e| e.to_string()),
    }
}

impl PreparedKatalog {
    /// Prepares a Katalog that passed the validation pipeline (`ork_katalog::load_str`), with
    /// the default budgets.
    pub fn new(k: &Katalog) -> Result<PreparedKatalog, PrepareError> {
        Self::with_limits(k, Limits::default())
    }

    /// Prepares a Katalog with the given budgets (`Limits::from_env()` in the binaries).
    pub fn with_limits(k: &Katalog, limits: Limits) -> Result<PreparedKatalog, PrepareError> {
        let Some(settings) = k.posture.clone() else {
            return Err(PrepareError(
                "its security settings were not resolved: load it through the validation pipeline"
                    .into(),
            ));
        };
        let mut templates = Templates::default();
        let crds_raw = k.raw.at("/spec/crds");
        for crd in &k.crds {
            if let Some(raw) = crds_raw.and_then(|m| m.get(&crd.name)) {
                templates.collect(raw);
            }
        }
        let ns = &settings.operator_namespace;
        let identities = Identities {
            runtime: format!(
                "system:serviceaccount:{ns}:{}",
                ork_katalog::names::RUNTIME_SERVICE_ACCOUNT
            ),
            gateway: format!(
                "system:serviceaccount:{ns}:{}",
                ork_katalog::names::GATEWAY_SERVICE_ACCOUNT
            ),
        };
        let (kat_allow, kat_deny) = k
            .security
            .namespace_protection
            .as_ref()
            .map(|n| {
                (
                    n.allowed_namespaces.clone(),
                    n.restricted_namespaces.clone(),
                )
            })
            .unwrap_or_default();
        let mut crds = Vec::new();
        for crd in &k.crds {
            let raw = crds_raw
                .and_then(|m| m.get(&crd.name))
                .unwrap_or(&Value::Null);
            let err = |e: String| PrepareError(format!("{}: {e}", crd.path));
            let e = &crd.entry;
            let protection = ork_katalog::posture::protection(crd, &settings);
            let operations = match &e.webhooks.operations {
                None => vec![
                    ork_katalog::Operation::Create,
                    ork_katalog::Operation::Update,
                ],
                Some(list) => list
                    .iter()
                    .map(|o| {
                        o.parse()
                            .map_err(|x: ork_katalog::settings::UnknownValue| err(x.to_string()))
                    })
                    .collect::<Result<_, _>>()?,
            };
            let mut blocks = Vec::new();
            let mut on_delete = None;
            for name in [
                BlockName::OnCreate,
                BlockName::OnReconcile,
                BlockName::OnDelete,
            ] {
                let Some(b) = raw.at(&format!("/operatorBox/{}", name.as_str())) else {
                    continue;
                };
                let block =
                    prepare_block(name, b, e.force_conflict, &templates, &limits).map_err(err)?;
                match name {
                    BlockName::OnDelete => on_delete = Some(block),
                    _ => blocks.push(block),
                }
            }
            let status_fields = e
                .operator_box
                .status
                .fields
                .iter()
                .map(|f: &StatusField| {
                    Ok(PreparedStatusField {
                        path: f.path.clone(),
                        value: Text::prepare(&f.value, &templates)?,
                        r#type: match &f.r#type {
                            None => ork_katalog::StatusType::String,
                            Some(t) => t
                                .parse()
                                .map_err(|e: ork_katalog::settings::UnknownValue| e.to_string())?,
                        },
                        gate: Gate::prepare(&f.when, &f.or, &templates)?,
                        clear_on_false: f.clear_on_false,
                    })
                })
                .collect::<Result<Vec<_>, String>>()
                .map_err(err)?;
            let requeue = match &e.operator_box.reconciler.requeue {
                Some(r) => Some((
                    r.after
                        .as_deref()
                        .map(|a| Text::prepare(a, &templates))
                        .transpose()
                        .map_err(err)?,
                    Gate::prepare(&r.when, &r.or, &templates).map_err(err)?,
                )),
                None => None,
            };
            let secret_bound = secret_bound_paths(&blocks, &templates);
            crds.push(PreparedCrd {
                name: crd.name.clone(),
                path: crd.path.clone(),
                enabled: e.enabled,
                description: e.description.clone(),
                api: crd.api.clone(),
                namespace: e.namespace.clone(),
                validation: e
                    .validation
                    .rules
                    .iter()
                    .map(|r| PreparedRule::prepare(r, &templates))
                    .collect::<Result<_, _>>()
                    .map_err(err)?,
                mutate_first: e.mutation.mutate_first,
                mutation: e
                    .mutation
                    .rules
                    .iter()
                    .map(|r| PreparedMutationRule::prepare(r, &templates))
                    .collect::<Result<_, _>>()
                    .map_err(err)?,
                webhooks: CrdWebhooks {
                    validation: e.webhooks.validation,
                    mutation: e.webhooks.mutation,
                    operations,
                },
                protection,
                namespaces: vec![
                    NamespaceLevel {
                        level: "Katalog",
                        allow: kat_allow.clone(),
                        deny: kat_deny.clone(),
                    },
                    NamespaceLevel {
                        level: "CRD",
                        allow: crd.allowed_namespaces(),
                        deny: crd.restricted_namespaces(),
                    },
                ],
                blocks,
                on_delete,
                on_delete_timeout: raw
                    .at("/operatorBox/onDelete/timeout")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                status_conditions: e.operator_box.status.conditions,
                status_fields,
                requeue,
                reconciler: e.operator_box.reconciler.clone(),
                cr_files: crd.cr_files.clone(),
                secret_bound,
            });
        }
        let mut protected_crds = BTreeSet::new();
        let mut protected_resources = BTreeSet::new();
        for c in crds.iter().filter(|c| c.enabled) {
            if c.protection.protect_crd {
                protected_crds.insert(c.api.crd_name());
            }
            if c.protection.protect_crs {
                protected_resources.insert(GroupResource::new(&c.api.group, &c.api.plural));
            }
            for e in c.blocks.iter().flat_map(|b| &b.entries) {
                if e.kind != ChildKind::Custom {
                    continue;
                }
                let Some(gr) = custom_group_resource(&e.fields, &crds) else {
                    continue;
                };
                // a custom child of a CRD kind: its CRD is protected with its owner's protectCRD
                if c.protection.protect_crd
                    && !gr.group.is_empty()
                    && ork_katalog::kinds::builtin_group(&gr.resource) != Some(gr.group.as_str())
                {
                    protected_crds.insert(format!("{}.{}", gr.resource, gr.group));
                }
                if !ork_katalog::security::FORBIDDEN_PROTECTED.contains(&gr.resource.as_str()) {
                    protected_resources.insert(gr);
                }
            }
        }
        for r in &settings.protected_resources {
            let gr = match r.split_once('/') {
                Some((g, res)) => GroupResource::new(g, res),
                // a resource ork does not know is taken as core, as Kubernetes would read it
                None => GroupResource::new(ork_katalog::kinds::builtin_group(r).unwrap_or(""), r),
            };
            protected_resources.insert(gr);
        }
        let mut by_kind = HashMap::new();
        let mut by_resource = HashMap::new();
        for (i, c) in crds.iter().enumerate() {
            by_kind.insert((c.api.group.clone(), c.api.kind.clone()), i);
            by_resource.insert((c.api.group.clone(), c.api.plural.clone()), i);
        }
        Ok(PreparedKatalog {
            name: k.metadata.name.clone(),
            file: k.file.clone(),
            settings,
            identities,
            crds,
            profiles: k.profiles.clone(),
            warnings: k.warnings.clone(),
            protected_crds,
            protected_resources,
            templates,
            limits,
            by_kind,
            by_resource,
        })
    }

    /// The CRD entry serving `group`/`kind`.
    pub fn crd_for_kind(&self, group: &str, kind: &str) -> Option<&PreparedCrd> {
        self.by_kind
            .get(&(group.to_string(), kind.to_string()))
            .and_then(|i| self.crds.get(*i))
    }

    /// The CRD entry serving `group`/`resource`.
    pub fn crd_for_resource(&self, group: &str, resource: &str) -> Option<&PreparedCrd> {
        self.by_resource
            .get(&(group.to_string(), resource.to_string()))
            .and_then(|i| self.crds.get(*i))
    }

    pub fn crd(&self, name: &str) -> Option<&PreparedCrd> {
        self.crds.iter().find(|c| c.name == name)
    }

    /// The resource of a kind: a Katalog CRD's plural, else a built-in kind's; `None` for a
    /// kind this Katalog and ork's table do not know.
    pub fn resource_of(&self, group: &str, kind: &str) -> Option<String> {
        self.crd_for_kind(group, kind)
            .map(|c| c.api.plural.clone())
            .or_else(|| ork_katalog::kinds::builtin_resource(group, kind).map(str::to_string))
    }
}

fn prepare_block(
    name: BlockName,
    b: &Value,
    crd_force: bool,
    templates: &Templates,
    limits: &Limits,
) -> Result<PreparedBlock, String> {
    let gate = Gate::prepare(
        &opt_conditions(b.get("when"))?,
        &opt_conditions(b.get("or"))?,
        templates,
    )?;
    let mut entries = Vec::new();
    for kind in ChildKind::ALL {
        let Some(list) = b.get(kind.list_key()).and_then(Value::as_array) else {
            continue;
        };
        for (i, fields) in list.iter().enumerate() {
            let path = format!("{}.{}[{i}]", name.as_str(), kind.list_key());
            let reconcile = fields.get("reconcile") == Some(&Value::Bool(true));
            let once = fields.get("once") == Some(&Value::Bool(true));
            let create_once = kind.create_once() || (kind == ChildKind::Secrets && once);
            let op = if create_once || (name != BlockName::OnReconcile && !reconcile) {
                WriteOp::Create
            } else {
                WriteOp::Apply
            };
            let for_each = match fields.get("forEach") {
                None => None,
                Some(fe) => {
                    let field = fe.get("field").and_then(Value::as_str).unwrap_or_default();
                    let budget = usize::try_from(limits.for_each_items).unwrap_or(usize::MAX);
                    let max = fe.get("max").and_then(Value::as_i64).unwrap_or(100).max(0);
                    Some(ForEach {
                        field: if ork_template::is_template(field) {
                            FieldRef::Template(templates.template(field)?)
                        } else {
                            FieldRef::Path(ork_katalog::diag::split_path(field))
                        },
                        field_text: field.to_string(),
                        as_name: fe
                            .get("as")
                            .and_then(Value::as_str)
                            .unwrap_or("item")
                            .to_string(),
                        max: usize::try_from(max).unwrap_or(usize::MAX).min(budget),
                    })
                }
            };
            entries.push(PreparedEntry {
                path,
                block: name,
                kind,
                op,
                gate: Gate::prepare(
                    &opt_conditions(fields.get("when"))?,
                    &opt_conditions(fields.get("or"))?,
                    templates,
                )?,
                for_each,
                force: fields
                    .get("forceConflict")
                    .and_then(Value::as_bool)
                    .unwrap_or(crd_force),
                fields: fields.clone(),
            });
        }
    }
    Ok(PreparedBlock {
        name,
        gate,
        entries,
    })
}

/// Every CR path a `secrets[].data` template reads (`{{ .spec.password }}` → `spec.password`).
fn secret_bound_paths(blocks: &[PreparedBlock], templates: &Templates) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for e in blocks
        .iter()
        .flat_map(|b| &b.entries)
        .filter(|e| e.kind == ChildKind::Secrets)
    {
        for v in e
            .fields
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
        {
            let Some(src) = v.as_str().filter(|s| ork_template::is_template(s)) else {
                continue;
            };
            match templates.template(src) {
                Ok(t) => {
                    for p in t.root_paths() {
                        let path = through_for_each(e.for_each.as_ref(), p.segments);
                        if !out.contains(&path) {
                            out.push(path);
                        }
                    }
                }
                // cannot tell what it reads: everything under spec counts as bound
                Err(_) => out.push(vec!["spec".into()]),
            }
        }
    }
    out
}

/// A path read through a `forEach` element (`.item.password`, `.<as>…`, `.value…`) is a path
/// into the list it iterates: the whole list counts (conservatively) as read.
fn through_for_each(fe: Option<&ForEach>, path: Vec<String>) -> Vec<String> {
    let Some(fe) = fe else { return path };
    let first = path.first().map(String::as_str).unwrap_or_default();
    if !matches!(first, "item" | "value") && first != fe.as_name {
        return path;
    }
    match &fe.field {
        FieldRef::Path(list) => list.clone(),
        // a templated list may come from anywhere in the CR
        FieldRef::Template(_) => vec!["spec".into()],
    }
}

/// The group/resource of a `custom:` entry with a static apiVersion (a templated one cannot be
/// known before rendering: such children are protected by label only through
/// `protectedResources`).
pub fn custom_group_resource(fields: &Value, crds: &[PreparedCrd]) -> Option<GroupResource> {
    let api = fields.get("apiVersion").and_then(Value::as_str)?;
    if ork_template::is_template(api) {
        return None;
    }
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = fields.get("kind").and_then(Value::as_str).unwrap_or("");
    // the same plural the renderer writes to: `plural:`, a Katalog CRD's, a built-in's, else
    // Kubernetes' default pluralisation
    let plural = fields
        .get("plural")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            crds.iter()
                .find(|c| c.api.group == group && c.api.kind == kind)
                .map(|c| c.api.plural.clone())
        })
        .or_else(|| ork_katalog::kinds::builtin_resource(group, kind).map(str::to_string))
        .unwrap_or_else(|| ork_katalog::kinds::default_plural(kind));
    Some(GroupResource::new(group, &plural))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PreparedKatalog>();
        check::<Arc<PreparedKatalog>>();
    }
}
