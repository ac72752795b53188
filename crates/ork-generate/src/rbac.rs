//! RBAC derived from the Katalog (docs/security.md §2.2, docs/cli.md §6.1): the ServiceAccounts of
//! the runtime and the Gateway and exactly the permissions each needs for what this Katalog asks
//! of it, nothing more.
//!
//! Every permission is derived as a [`DerivedRule`] that names the Katalog construct needing it
//! (`because`), so `ork validate --full` can print each one next to its reason; [`Derived::objects`]
//! then folds the rules into Roles, ClusterRoles and bindings.
//!
//! **Object names** (stable: `ork plan` and hand-written tooling rely on them), for each
//! component `c` ∈ {`runtime`, `gateway`} with ServiceAccount `orkestra` / `orkestra-gateway` in
//! the operator namespace:
//!
//! | Object | Holds |
//! |---|---|
//! | ClusterRole + ClusterRoleBinding `orkestra-<c>` | every cluster-wide rule |
//! | Role + RoleBinding `orkestra-<c>-lease` in the operator namespace | the component's Lease |
//! | Role + RoleBinding `orkestra-<c>` in each namespace that needs one | the namespaced rules (pinned CRDs, TLS Secrets, events, …) |
//!
//! **Scoping.** An entry is *pinned* when its `namespace` is set or its effective allow-list holds
//! only exact names (`PreparedCrd::pinned_namespaces`); its CR, children and events rules become
//! Roles in those namespaces. Everything else is cluster-wide. No rule ever holds `*`: a Katalog
//! that would need one (a `custom:` child with a templated apiVersion, a static `roles` rule with
//! `*`) is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ork_katalog::names::{
    CA_SECRET, CONTROL_PLANE_LABELS, DEFAULT_OPERATOR_NAMESPACE, GATEWAY_LEASE,
    GATEWAY_SERVICE_ACCOUNT, RUNTIME_LEASE, RUNTIME_SERVICE_ACCOUNT, TLS_SECRET,
};
use ork_katalog::{ChildKind, Diagnostic, Katalog, Operator, Severity};
use ork_policy::PreparedKatalog;
use ork_policy::prepared::{
    GUARD_POLICY, PreparedCrd, PreparedEntry, WEBHOOK_CONFIGURATIONS, WriteOp,
    custom_group_resource,
};
use serde_json::{Value, json};

/// Which of ork's two processes the RBAC is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// `ork-runtime`, ServiceAccount `orkestra`
    Runtime,
    /// `ork-gateway`, ServiceAccount `orkestra-gateway`
    Gateway,
    /// both (the default of `ork generate rbac`); never the component of a [`DerivedRule`]
    Both,
}

impl Component {
    fn includes(self, c: Component) -> bool {
        self == Component::Both || self == c
    }

    /// `runtime`, `gateway`, `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Runtime => "runtime",
            Component::Gateway => "gateway",
            Component::Both => "both",
        }
    }

    /// The component's ServiceAccount in the operator namespace (`None` for `Both`).
    pub fn service_account(self) -> Option<&'static str> {
        match self {
            Component::Runtime => Some(RUNTIME_SERVICE_ACCOUNT),
            Component::Gateway => Some(GATEWAY_SERVICE_ACCOUNT),
            Component::Both => None,
        }
    }

    /// `orkestra-runtime` / `orkestra-gateway`: the name of its ClusterRole and Roles.
    fn role_base(self) -> &'static str {
        match self {
            Component::Runtime => "orkestra-runtime",
            Component::Gateway | Component::Both => "orkestra-gateway",
        }
    }
}

impl std::str::FromStr for Component {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "runtime" => Ok(Component::Runtime),
            "gateway" => Ok(Component::Gateway),
            "both" => Ok(Component::Both),
            other => Err(format!("{other:?}: use runtime, gateway or both")),
        }
    }
}

/// What to derive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// the operator namespace, where the ServiceAccounts and Leases live (default
    /// `orkestra-system`)
    pub namespace: String,
    pub component: Component,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: DEFAULT_OPERATOR_NAMESPACE.to_string(),
            component: Component::Both,
        }
    }
}

/// Where a rule applies: cluster-wide (a ClusterRole and ClusterRoleBinding) or in one
/// namespace (a Role and RoleBinding there).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Cluster,
    Namespace(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Cluster => write!(f, "cluster"),
            Scope::Namespace(n) => write!(f, "namespace {n}"),
        }
    }
}

/// One permission and the Katalog construct that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedRule {
    /// `Runtime` or `Gateway`
    pub component: Component,
    pub scope: Scope,
    /// the Role (in `scope`'s namespace) or ClusterRole that carries it
    pub role: String,
    /// one API group (`""` is core)
    pub api_group: String,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    /// empty: any name
    pub resource_names: Vec<String>,
    /// the construct that needs it: `spec.crds.website.operatorBox.onCreate.secrets[0]`,
    /// `leader election`, …
    pub because: String,
}

impl DerivedRule {
    /// `get,list,watch deployments.apps [a, b]`.
    pub fn describe(&self) -> String {
        let res: Vec<String> = self
            .resources
            .iter()
            .map(|r| {
                // `deployments.apps`, `websites.demo.orkestra.io/status` (`ork rbac`'s notation)
                let (res, sub) = match r.split_once('/') {
                    Some((res, sub)) => (res, format!("/{sub}")),
                    None => (r.as_str(), String::new()),
                };
                if self.api_group.is_empty() {
                    format!("{res}{sub}")
                } else {
                    format!("{res}.{}{sub}", self.api_group)
                }
            })
            .collect();
        let mut s = format!("{} {}", self.verbs.join(","), res.join(","));
        if !self.resource_names.is_empty() {
            s.push_str(&format!(" [{}]", self.resource_names.join(", ")));
        }
        s
    }

    fn kind(&self) -> &'static str {
        match self.scope {
            Scope::Cluster => "ClusterRole",
            Scope::Namespace(_) => "Role",
        }
    }

    fn reads(&self) -> bool {
        self.verbs
            .iter()
            .any(|v| matches!(v.as_str(), "get" | "list" | "watch"))
    }
}

/// A construct whose RBAC cannot be bounded without a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbounded {
    /// dotted Katalog path (`spec.crds.app.operatorBox.onCreate.custom[0].apiVersion`)
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Why no RBAC could be derived (`ork generate` exits 2, `ork validate` reports an invalid
/// Katalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeriveError {
    /// the Katalog did not come through the validation pipeline
    Prepare(String),
    /// constructs that would need a wildcard rule (docs/security.md §2.2), all of them
    Unbounded(Vec<Unbounded>),
}

impl fmt::Display for DeriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeriveError::Prepare(m) => write!(f, "{m}"),
            DeriveError::Unbounded(list) => {
                let parts: Vec<String> = list
                    .iter()
                    .map(|u| format!("{}: {}", u.path, u.message))
                    .collect();
                write!(f, "{}", parts.join("; "))
            }
        }
    }
}

impl std::error::Error for DeriveError {}

impl DeriveError {
    /// The errors as diagnostics of the Katalog's file, each at the line its path starts on.
    pub fn diagnostics(&self, k: &Katalog) -> Vec<Diagnostic> {
        let diag = |path: &str, message: &str, hint: Option<String>| {
            let span = k.spans.value(path);
            Diagnostic {
                severity: Severity::Error,
                file: k.file.clone(),
                line: span.line,
                column: span.col,
                path: path.to_string(),
                message: message.to_string(),
                hint,
            }
        };
        match self {
            DeriveError::Prepare(m) => vec![diag("", m, None)],
            DeriveError::Unbounded(list) => list
                .iter()
                .map(|u| diag(&u.path, &u.message, u.hint.clone()))
                .collect(),
        }
    }
}

/// The derived RBAC of one Katalog.
#[derive(Debug, Clone)]
pub struct Derived {
    namespace: String,
    component: Component,
    rules: Vec<DerivedRule>,
    warnings: Vec<String>,
}

/// Derives the RBAC of `opts.component` for a Katalog that passed the validation pipeline.
pub fn derive(k: &Katalog, opts: &Options) -> Result<Derived, DeriveError> {
    let p = PreparedKatalog::new(k).map_err(|e| DeriveError::Prepare(e.to_string()))?;
    derive_prepared(&p, opts)
}

/// [`derive`] from a Katalog already prepared.
pub fn derive_prepared(k: &PreparedKatalog, opts: &Options) -> Result<Derived, DeriveError> {
    let mut b = Builder {
        ns: opts.namespace.clone(),
        rules: Vec::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
    };
    if opts.component.includes(Component::Runtime) {
        runtime(k, &mut b);
    }
    if opts.component.includes(Component::Gateway) {
        gateway(k, &mut b);
    }
    // the invariant of docs/security.md §2.2, whatever produced the rule
    for r in &b.rules {
        let lists = [&r.resources, &r.verbs];
        if lists.iter().any(|l| l.is_empty())
            || lists
                .iter()
                .any(|l| l.iter().any(|x| x.contains('*') || x.is_empty()))
            || r.api_group.contains('*')
        {
            b.problems.push(Unbounded {
                path: r.because.clone(),
                message: format!(
                    "the derived rule {} is empty or holds a wildcard",
                    r.describe()
                ),
                hint: None,
            });
        }
    }
    if !b.problems.is_empty() {
        return Err(DeriveError::Unbounded(b.problems));
    }
    let mut d = Derived {
        namespace: opts.namespace.clone(),
        component: opts.component,
        rules: b.rules,
        warnings: b.warnings,
    };
    d.warnings.extend(risk_warnings(&d.rules, &d.namespace));
    let mut seen = BTreeSet::new();
    d.warnings.retain(|w| seen.insert(w.clone()));
    Ok(d)
}

struct Builder {
    ns: String,
    rules: Vec<DerivedRule>,
    warnings: Vec<String>,
    problems: Vec<Unbounded>,
}

/// Which of a component's roles a rule goes to.
#[derive(Clone, Copy)]
enum Holder {
    /// `orkestra-<c>`: the ClusterRole, or the Role of the rule's namespace
    Main,
    /// `orkestra-<c>-lease` in the operator namespace
    Lease,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        component: Component,
        scope: Scope,
        holder: Holder,
        api_group: &str,
        resources: &[&str],
        verbs: &[&str],
        names: &[&str],
        because: impl Into<String>,
    ) {
        let role = match holder {
            Holder::Main => component.role_base().to_string(),
            Holder::Lease => format!("{}-lease", component.role_base()),
        };
        self.rules.push(DerivedRule {
            component,
            scope,
            role,
            api_group: api_group.to_string(),
            resources: strings(resources),
            verbs: strings(verbs),
            resource_names: strings(names),
            because: because.into(),
        });
    }

    fn operator_ns(&self) -> Scope {
        Scope::Namespace(self.ns.clone())
    }
}

// ---- the runtime -----------------------------------------------------------------------------

fn runtime(k: &PreparedKatalog, b: &mut Builder) {
    if k.settings.gateway_only {
        b.warnings.push(
            "runtime: gateway.standalone is set, so no runtime runs: nothing is derived for ServiceAccount orkestra"
                .into(),
        );
        return;
    }
    let rt = Component::Runtime;
    let ns = b.operator_ns();
    // ork_kube::lease: get the Lease, create it when missing, replace it to renew or release
    b.push(
        rt,
        ns.clone(),
        Holder::Lease,
        "coordination.k8s.io",
        &["leases"],
        &["get", "update"],
        &[RUNTIME_LEASE],
        "leader election (Lease orkestra-runtime)",
    );
    b.push(
        rt,
        ns,
        Holder::Lease,
        "coordination.k8s.io",
        &["leases"],
        &["create"],
        &[],
        "leader election: the first replica creates Lease orkestra-runtime",
    );
    for crd in k.crds.iter().filter(|c| c.enabled) {
        runtime_crd(k, crd, b);
    }
}

fn runtime_crd(k: &PreparedKatalog, crd: &PreparedCrd, b: &mut Builder) {
    let rt = Component::Runtime;
    let crd_name = crd.api.crd_name();
    b.push(
        rt,
        Scope::Cluster,
        Holder::Main,
        "apiextensions.k8s.io",
        &["customresourcedefinitions"],
        &["get"],
        &[crd_name.as_str()],
        format!(
            "{}: the runtime starts the entry once CRD {crd_name} is Established",
            crd.path
        ),
    );
    let scopes: Vec<Scope> = match crd.pinned_namespaces() {
        Some(list) => list.into_iter().map(Scope::Namespace).collect(),
        None => vec![Scope::Cluster],
    };
    let plural = crd.api.plural.as_str();
    let status = format!("{plural}/status");
    // the children, once per construct, before they are spread over the scopes
    let children = children_of(k, crd, b);
    for scope in scopes {
        b.push(
            rt,
            scope.clone(),
            Holder::Main,
            &crd.api.group,
            &[plural],
            &["get", "list", "watch", "patch"],
            &[],
            format!(
                "{}: watch the CRs; the label manager and the finalizer patch them",
                crd.path
            ),
        );
        // a CRD without the status subresource gets no status writes (docs/katalog.md §6.4)
        if crd.api.status_subresource != Some(false) {
            b.push(
                rt,
                scope.clone(),
                Holder::Main,
                &crd.api.group,
                &[status.as_str()],
                &["get", "patch"],
                &[],
                format!("{}.operatorBox.status: the status patch", crd.path),
            );
        }
        // kube's event recorder: events.k8s.io/v1, create then patch to aggregate repeats;
        // events about a cluster-scoped CR go to namespace default, which only the cluster
        // scope covers
        b.push(
            rt,
            scope.clone(),
            Holder::Main,
            "events.k8s.io",
            &["events"],
            &["create", "patch"],
            &[],
            format!("events about the CRs of {}", crd.path),
        );
        for c in &children {
            let res: Vec<&str> = c.resources.iter().map(String::as_str).collect();
            let verbs: Vec<&str> = c.verbs.iter().map(String::as_str).collect();
            let names: Vec<&str> = c.names.iter().map(String::as_str).collect();
            b.push(
                rt,
                scope.clone(),
                Holder::Main,
                &c.group,
                &res,
                &verbs,
                &names,
                c.because.clone(),
            );
        }
    }
}

/// A rule a child entry needs, before it is placed in a scope.
struct ChildRule {
    group: String,
    resources: Vec<String>,
    verbs: Vec<String>,
    names: Vec<String>,
    because: String,
}

const CHILD_VERBS: [&str; 5] = ["get", "list", "watch", "create", "patch"];

/// The API group of an apiVersion (`apps/v1` → `apps`, `v1` → core).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

fn children_of(k: &PreparedKatalog, crd: &PreparedCrd, b: &mut Builder) -> Vec<ChildRule> {
    let entries = crd
        .blocks
        .iter()
        .chain(crd.on_delete.iter())
        .flat_map(|blk| &blk.entries);
    let mut out = Vec::new();
    // names of the `roles` entries whose rules are all static: binding them needs no `bind`
    let static_roles: BTreeSet<String> = crd
        .blocks
        .iter()
        .chain(crd.on_delete.iter())
        .flat_map(|blk| &blk.entries)
        .filter(|e| e.kind == ChildKind::Roles && role_rules(e).is_static())
        .map(|e| entry_name(e, "-role"))
        .collect();
    for e in entries {
        let path = format!("{}.operatorBox.{}", crd.path, e.path);
        let Some((group, resource)) = child_resource(k, e, &path, b) else {
            continue;
        };
        let mut verbs = strings(&CHILD_VERBS);
        // written by server-side apply: an applied child whose entry no longer renders it is
        // deleted (docs/katalog.md §6.3); create-once kinds, `once` Secrets and plain onCreate
        // entries never are, and a PVC never is (data outlives configuration)
        let pvc = group.is_empty() && resource == "persistentvolumeclaims";
        let rotates = e.kind == ChildKind::Secrets && e.fields.get("rotateAfter").is_some();
        let why = if e.op == WriteOp::Apply && !pvc {
            verbs.push("delete".into());
            "server-side apply; deleted when its entry stops rendering it"
        } else if rotates {
            verbs.push("delete".into());
            "created once, deleted and created again after rotateAfter"
        } else if pvc {
            "never deleted"
        } else {
            "created once, never deleted"
        };
        out.push(ChildRule {
            group: group.clone(),
            resources: vec![resource.clone()],
            verbs,
            names: Vec::new(),
            because: format!("{path} ({why})"),
        });
        match e.kind {
            ChildKind::Roles => out.extend(role_children(e, &path, b)),
            ChildKind::RoleBindings => out.extend(binding_children(e, &path, &static_roles)),
            _ => {}
        }
    }
    out
}

/// The group and resource a child entry writes; `None` (with an error recorded) when it cannot
/// be known before rendering.
fn child_resource(
    k: &PreparedKatalog,
    e: &PreparedEntry,
    path: &str,
    b: &mut Builder,
) -> Option<(String, String)> {
    if let Some(info) = e.kind.info() {
        return Some((
            group_of(info.api_version).to_string(),
            info.resource.to_string(),
        ));
    }
    // custom: apiVersion, kind and plural must be static for a bounded rule
    let text = |key: &str| e.fields.get(key).and_then(Value::as_str);
    let templated = |key: &str| text(key).is_some_and(ork_template::is_template);
    let hint = Some(
        "write apiVersion, kind and plural literally: RBAC is fixed at install time, a templated kind would need access to every resource"
            .to_string(),
    );
    if templated("apiVersion") || text("apiVersion").is_none() {
        b.problems.push(Unbounded {
            path: format!("{path}.apiVersion"),
            message: "a custom child with a templated apiVersion needs a wildcard rule: its API group is known only when it is rendered".into(),
            hint,
        });
        return None;
    }
    if templated("plural") || (templated("kind") && text("plural").is_none()) {
        b.problems.push(Unbounded {
            path: format!("{path}.{}", if templated("plural") { "plural" } else { "kind" }),
            message: "a custom child with a templated kind and no literal plural needs a wildcard rule: its resource is known only when it is rendered".into(),
            hint,
        });
        return None;
    }
    let gr = custom_group_resource(&e.fields, &k.crds)?;
    let kind = text("kind").unwrap_or("");
    let known = text("plural").is_some()
        || k.crd_for_kind(&gr.group, kind).is_some()
        || ork_katalog::kinds::builtin_resource(&gr.group, kind).is_some();
    if !known {
        b.warnings.push(format!(
            "runtime: {path}: the plural of {kind} is not known offline; {} is Kubernetes' default pluralisation, set `plural` if the CRD says otherwise",
            gr.resource
        ));
    }
    Some((gr.group, gr.resource))
}

/// The name text of an entry (its `name`, else the default `{{ .metadata.name }}<suffix>`).
fn entry_name(e: &PreparedEntry, suffix: &str) -> String {
    e.fields
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{{{{ .metadata.name }}}}{suffix}"))
}

/// The rules of a `roles` entry: static ones (copied), or a template somewhere.
enum RoleRules {
    Static(Vec<(usize, Value)>),
    /// the path (below the entry) of the first template
    Templated(String),
}

impl RoleRules {
    fn is_static(&self) -> bool {
        matches!(self, RoleRules::Static(_))
    }
}

fn role_rules(e: &PreparedEntry) -> RoleRules {
    match e.fields.get("rules") {
        Some(Value::Array(list)) => {
            for (i, r) in list.iter().enumerate() {
                // templated resourceNames alone are bounded: the rule is copied for every name
                for key in ["apiGroups", "resources", "verbs"] {
                    let templated = match r.get(key) {
                        Some(Value::String(s)) => ork_template::is_template(s),
                        Some(Value::Array(a)) => a
                            .iter()
                            .any(|x| x.as_str().is_some_and(ork_template::is_template)),
                        _ => false,
                    };
                    if templated {
                        return RoleRules::Templated(format!("rules[{i}].{key}"));
                    }
                }
            }
            RoleRules::Static(list.iter().cloned().enumerate().collect())
        }
        // `rules: "{{ .spec.rules }}"`: the whole list is rendered
        Some(_) => RoleRules::Templated("rules".into()),
        None => RoleRules::Static(Vec::new()),
    }
}

fn list_of(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A `roles` child: Kubernetes lets the runtime create a Role only with permissions it holds
/// (the escalation check), so static rules are copied into its own role; templated ones could
/// grant anything, so they need `escalate` (and `bind`, to bind them), with a warning.
fn role_children(e: &PreparedEntry, path: &str, b: &mut Builder) -> Vec<ChildRule> {
    let mut out = Vec::new();
    match role_rules(e) {
        RoleRules::Templated(at) => {
            out.push(ChildRule {
                group: "rbac.authorization.k8s.io".into(),
                resources: vec!["roles".into()],
                verbs: strings(&["escalate", "bind"]),
                names: Vec::new(),
                because: format!(
                    "{path}.{at} is templated: the Role's permissions are known only when it is rendered, so the runtime must be allowed to grant and bind permissions it does not hold"
                ),
            });
        }
        RoleRules::Static(rules) => {
            if !rules.is_empty() {
                b.warnings.push(format!(
                    "runtime: {path}: its {} static rule(s) are granted to the runtime too (Kubernetes lets it create only a Role whose permissions it holds): review them as the runtime's own",
                    rules.len()
                ));
            }
            for (i, r) in rules {
                let rpath = format!("{path}.rules[{i}]");
                let mut groups = list_of(&r, "apiGroups");
                if r.get("apiGroups").is_none() {
                    // the renderer writes the core group when none is given
                    groups.push(String::new());
                }
                let resources = list_of(&r, "resources");
                let verbs = list_of(&r, "verbs");
                let mut names = list_of(&r, "resourceNames");
                let mut note = "";
                if names.iter().any(|n| ork_template::is_template(n)) {
                    names.clear();
                    note = "; its resourceNames are templated, so for every name";
                }
                let wild = groups
                    .iter()
                    .chain(&resources)
                    .chain(&verbs)
                    .any(|x| x.contains('*'));
                if resources.is_empty() || verbs.is_empty() {
                    b.problems.push(Unbounded {
                        path: rpath,
                        message: "a roles rule without resources or verbs grants nothing and cannot be copied into the runtime's role".into(),
                        hint: Some("list the resources and verbs the Role needs".into()),
                    });
                    continue;
                }
                if wild {
                    b.problems.push(Unbounded {
                        path: rpath,
                        message: "a roles rule with a wildcard would have to be granted to the runtime with that wildcard (Kubernetes lets it create only a Role whose permissions it holds)".into(),
                        hint: Some("list the API groups, resources and verbs the Role needs".into()),
                    });
                    continue;
                }
                for g in groups {
                    out.push(ChildRule {
                        group: g,
                        resources: resources.clone(),
                        verbs: verbs.clone(),
                        names: names.clone(),
                        because: format!(
                            "{rpath} (copied: the runtime may create a Role only with permissions it holds{note})"
                        ),
                    });
                }
            }
        }
    }
    out
}

/// A `roleBindings` child: binding a Role the runtime holds the permissions of needs nothing
/// more; any other role needs `bind` on it, by name when the name is literal.
fn binding_children(
    e: &PreparedEntry,
    path: &str,
    static_roles: &BTreeSet<String>,
) -> Vec<ChildRule> {
    let role_ref = e.fields.get("roleRef");
    let text = |key: &str| role_ref.and_then(|r| r.get(key)).and_then(Value::as_str);
    let name = text("name").unwrap_or("");
    let kind = text("kind").unwrap_or("Role");
    if kind == "Role" && static_roles.contains(name) {
        return Vec::new();
    }
    let resources: Vec<String> = if ork_template::is_template(kind) {
        strings(&["roles", "clusterroles"])
    } else if kind == "ClusterRole" {
        strings(&["clusterroles"])
    } else {
        strings(&["roles"])
    };
    let templated = ork_template::is_template(name);
    vec![ChildRule {
        group: "rbac.authorization.k8s.io".into(),
        resources,
        verbs: strings(&["bind"]),
        names: if templated || name.is_empty() {
            Vec::new()
        } else {
            vec![name.to_string()]
        },
        because: if templated {
            format!(
                "{path}.roleRef.name is templated: the runtime may bind only roles whose permissions it holds, or with bind"
            )
        } else {
            format!(
                "{path}.roleRef: {kind} {name} is not a Role of this entry with static rules, so binding it needs bind"
            )
        },
    }]
}

// ---- the Gateway -----------------------------------------------------------------------------

/// The Gateway's needs, from what its code does (crates/ork-gateway, crates/ork-tls): where
/// docs/security.md §2.2's table grants more than the code uses, the code wins (list in
/// docs/cli.md §6.1).
fn gateway(k: &PreparedKatalog, b: &mut Builder) {
    let s = &k.settings;
    if !s.gateway {
        b.warnings.push(
            "gateway: the Katalog runs no Gateway (gateway.enabled, gateway.standalone or gateway.endpoint): nothing is derived for ServiceAccount orkestra-gateway"
                .into(),
        );
        return;
    }
    let gw = Component::Gateway;
    let ns = b.operator_ns();
    let adm = "admissionregistration.k8s.io";
    // registrar: server-side apply (patch; create when missing), one name-scoped watch per
    // object (list, watch with a metadata.name field selector), delete of configurations whose
    // feature is off and, on uninstall, of all of them. A server-side apply that creates is
    // authorised as `create` of the named object (the API server passes the name of the PATCH),
    // so even create is granted by resourceNames: no unnamed write on admission objects
    let mutating: Vec<&str> = WEBHOOK_CONFIGURATIONS
        .iter()
        .copied()
        .filter(|n| *n == MUTATING_CONFIGURATION)
        .collect();
    let validating: Vec<&str> = WEBHOOK_CONFIGURATIONS
        .iter()
        .copied()
        .filter(|n| *n != MUTATING_CONFIGURATION)
        .collect();
    let own = ["list", "watch", "create", "patch", "delete"];
    let why = "the Gateway's admission configurations: applied (created when missing), watched and restored by name, deleted when their feature is off";
    b.push(
        gw,
        Scope::Cluster,
        Holder::Main,
        adm,
        &["validatingwebhookconfigurations"],
        &own,
        &validating,
        format!("security.webhooks: {why}"),
    );
    b.push(
        gw,
        Scope::Cluster,
        Holder::Main,
        adm,
        &["mutatingwebhookconfigurations"],
        &own,
        &mutating,
        format!("security.webhooks: {why}"),
    );
    b.push(
        gw,
        Scope::Cluster,
        Holder::Main,
        adm,
        &[
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
        ],
        &own,
        &[GUARD_POLICY],
        "the guard policy and its binding (docs/security.md §2.3): applied (created when missing), watched and restored by name",
    );
    // own_namespace: labels the operator namespace at every start, whatever deletion
    // protection says (a failure is only a warning; the bundle creates and labels it)
    let ns_name = b.ns.clone();
    b.push(
        gw,
        Scope::Cluster,
        Holder::Main,
        "",
        &["namespaces"],
        &["patch"],
        &[ns_name.as_str()],
        "the Gateway labels the operator namespace as control plane at start, so the guard keeps it",
    );
    // ork_kube::lease, as for the runtime
    b.push(
        gw,
        ns.clone(),
        Holder::Lease,
        "coordination.k8s.io",
        &["leases"],
        &["get", "update"],
        &[GATEWAY_LEASE],
        "single writer (Lease orkestra-gateway-config, G30)",
    );
    b.push(
        gw,
        ns.clone(),
        Holder::Lease,
        "coordination.k8s.io",
        &["leases"],
        &["create"],
        &[],
        "single writer: the first replica creates Lease orkestra-gateway-config",
    );
    // ork-tls: get, create, replace (update) and a name-scoped watch of each Secret; the
    // material is generated unless TLS_CERT/TLS_KEY are mounted, which only the Deployment knows
    b.push(
        gw,
        ns.clone(),
        Holder::Main,
        "",
        &["secrets"],
        &["get", "list", "watch", "update"],
        &[TLS_SECRET, CA_SECRET],
        "security.certManager: the generated serving certificate and CA (unused with TLS_CERT/TLS_KEY)",
    );
    b.push(
        gw,
        ns.clone(),
        Holder::Main,
        "",
        &["secrets"],
        &["create"],
        &[],
        "security.certManager: the first replica creates the certificate Secrets",
    );
    if s.cleanup_on_shutdown {
        let svc = s.gateway_service.clone();
        b.push(
            gw,
            ns,
            Holder::Main,
            "apps",
            &["deployments"],
            &["get"],
            &[svc.as_str()],
            "cleanupOnShutdown: a stopping Gateway reads its Deployment to tell an uninstall from a rollout",
        );
    }
    // the registrar's Warning events about restored configurations: kube's recorder puts
    // events about cluster-scoped objects in namespace default
    b.push(
        gw,
        Scope::Namespace("default".into()),
        Holder::Main,
        "events.k8s.io",
        &["events"],
        &["create", "patch"],
        &[],
        "Warning events when the watcher restores a configuration (events about cluster-scoped objects go to namespace default)",
    );
    // exec protection reads the target Pod with one GET per CONNECT (no cache)
    if s.exec_protection {
        let why = "security.execProtection: the target Pod of an exec or attach";
        if s.exec_namespaces.is_empty() {
            b.push(
                gw,
                Scope::Cluster,
                Holder::Main,
                "",
                &["pods"],
                &["get"],
                &[],
                why,
            );
        } else {
            let mut list = s.exec_namespaces.clone();
            list.sort();
            list.dedup();
            for n in list {
                b.push(
                    gw,
                    Scope::Namespace(n),
                    Holder::Main,
                    "",
                    &["pods"],
                    &["get"],
                    &[],
                    why,
                );
            }
        }
    }
    // `unique` rules: an informer cache of the CRs over all namespaces (list, watch)
    for crd in k.crds.iter().filter(|c| c.enabled) {
        let Some(i) = crd
            .validation
            .iter()
            .position(|r| r.condition.operator == Operator::Unique)
        else {
            continue;
        };
        b.push(
            gw,
            Scope::Cluster,
            Holder::Main,
            &crd.api.group,
            &[crd.api.plural.as_str()],
            &["list", "watch"],
            &[],
            format!(
                "{}.validation.rules[{i}] (unique): the Gateway's cache of the other CRs",
                crd.path
            ),
        );
    }
}

/// The one mutating configuration among `WEBHOOK_CONFIGURATIONS`.
const MUTATING_CONFIGURATION: &str = "orkestra-admission-mutation";

// ---- warnings --------------------------------------------------------------------------------

/// The grants docs/security.md §2.2 says to report: escalate, bind, impersonate; Secret reads
/// not limited to named Secrets in the operator namespace; pods/exec and pods/attach; `create`
/// on ork's own objects, which cannot be restricted by name.
fn risk_warnings(rules: &[DerivedRule], operator_ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for r in rules {
        let who = r.component.as_str();
        let at = match &r.scope {
            Scope::Cluster => "cluster-wide".to_string(),
            Scope::Namespace(n) => format!("in namespace {n}"),
        };
        for v in ["escalate", "bind", "impersonate"] {
            if r.verbs.iter().any(|x| x == v) {
                out.push(format!(
                    "{who}: {v} on {} {at}: {}",
                    r.resources.join(", "),
                    r.because
                ));
            }
        }
        let secrets = r.api_group.is_empty() && r.resources.iter().any(|x| x == "secrets");
        let named_here =
            r.scope == Scope::Namespace(operator_ns.into()) && !r.resource_names.is_empty();
        if secrets && r.reads() && !named_here {
            out.push(format!(
                "{who}: reads Secrets {at}, not only named Secrets in the operator namespace: {}",
                r.because
            ));
        }
        if r.api_group.is_empty()
            && r.resources
                .iter()
                .any(|x| x == "pods/exec" || x == "pods/attach")
        {
            out.push(format!(
                "{who}: {} on {} {at}: {}",
                r.verbs.join(","),
                r.resources.join(", "),
                r.because
            ));
        }
        // `create` split off a rule on ork's own, named objects
        if r.verbs == ["create"] && r.resource_names.is_empty() {
            let named = rules.iter().any(|o| {
                o.component == r.component
                    && o.api_group == r.api_group
                    && !o.resource_names.is_empty()
                    && o.resources.iter().any(|x| r.resources.contains(x))
            });
            if named {
                out.push(format!(
                    "{who}: create on {} {at} cannot be restricted by name: {}",
                    r.resources.join(", "),
                    r.because
                ));
            }
        }
    }
    out
}

// ---- objects ---------------------------------------------------------------------------------

/// Kubernetes' usual verb order, then any other verb alphabetically.
const VERB_ORDER: [&str; 11] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
];

fn verb_rank(v: &str) -> RankedVerb {
    (
        VERB_ORDER
            .iter()
            .position(|x| *x == v)
            .unwrap_or(VERB_ORDER.len()),
        v.to_string(),
    )
}

fn labels() -> Value {
    Value::Object(
        CONTROL_PLANE_LABELS
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
            .collect(),
    )
}

/// The Gateway's Role and RoleBinding in namespace `default` suppress `default-namespace`
/// (docs/checks.md §6) with the reason: the namespace is not ork's choice, and moving them
/// anywhere else would break the restore events they exist for.
fn default_namespace_reason() -> Value {
    json!({
        format!("{}default-namespace", ork_scan::SUPPRESS_PREFIX):
            "the API server accepts events about cluster-scoped objects (the configurations the Gateway restores) only in namespace default",
    })
}

/// A verb with its place in [`VERB_ORDER`].
type RankedVerb = (usize, String);

/// The rules of one role folded: one rule per group, resourceNames and verb set, its
/// resources sorted; the rules sorted.
fn fold(rules: &[&DerivedRule]) -> Vec<Value> {
    // (group, resource, names) → verbs
    let mut atoms: BTreeMap<(String, String, Vec<String>), BTreeSet<RankedVerb>> = BTreeMap::new();
    for r in rules {
        let mut names = r.resource_names.clone();
        names.sort();
        names.dedup();
        for res in &r.resources {
            atoms
                .entry((r.api_group.clone(), res.clone(), names.clone()))
                .or_default()
                .extend(r.verbs.iter().map(|v| verb_rank(v)));
        }
    }
    // (group, names, verbs) → resources
    let mut grouped: BTreeMap<(String, Vec<String>, Vec<RankedVerb>), BTreeSet<String>> =
        BTreeMap::new();
    for ((group, res, names), verbs) in atoms {
        grouped
            .entry((group, names, verbs.into_iter().collect()))
            .or_default()
            .insert(res);
    }
    let mut out: Vec<(String, Vec<String>, Vec<String>, Value)> = grouped
        .into_iter()
        .map(|((group, names, verbs), resources)| {
            let resources: Vec<String> = resources.into_iter().collect();
            let verbs: Vec<String> = verbs.into_iter().map(|(_, v)| v).collect();
            let mut rule = json!({"apiGroups": [group], "resources": resources, "verbs": verbs});
            if !names.is_empty() {
                rule["resourceNames"] = json!(names);
            }
            (group, resources, names, rule)
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    out.into_iter().map(|(_, _, _, r)| r).collect()
}

impl Derived {
    /// The operator namespace the RBAC was derived for.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Every permission with the construct that needs it, runtime first, in derivation order.
    pub fn rules(&self) -> &[DerivedRule] {
        &self.rules
    }

    /// What a reviewer must look at (docs/security.md §2.2), and notes on what was derived.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The components that got a ServiceAccount: those asked for that have rules.
    fn components(&self) -> Vec<Component> {
        [Component::Runtime, Component::Gateway]
            .into_iter()
            .filter(|c| self.component.includes(*c) && self.rules.iter().any(|r| r.component == *c))
            .collect()
    }

    /// The objects to apply, in a fixed order: the ServiceAccounts, the ClusterRoles, the
    /// Roles (by namespace, then name), the ClusterRoleBindings, the RoleBindings; every
    /// object with the control-plane labels. Keys are sorted (serde_json's map).
    pub fn objects(&self) -> Vec<Value> {
        let comps = self.components();
        let mut sas = Vec::new();
        let mut cluster_roles = Vec::new();
        let mut roles = Vec::new();
        let mut cluster_bindings = Vec::new();
        let mut bindings = Vec::new();
        for c in comps {
            let Some(sa) = c.service_account() else {
                continue;
            };
            sas.push(json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": sa, "namespace": self.namespace, "labels": labels()},
            }));
            let subject =
                json!([{"kind": "ServiceAccount", "name": sa, "namespace": self.namespace}]);
            // (scope, role) → rules
            let mut by_role: BTreeMap<(Scope, String), Vec<&DerivedRule>> = BTreeMap::new();
            for r in self.rules.iter().filter(|r| r.component == c) {
                by_role
                    .entry((r.scope.clone(), r.role.clone()))
                    .or_default()
                    .push(r);
            }
            for ((scope, name), rules) in by_role {
                let role_ref = |kind: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name});
                match scope {
                    Scope::Cluster => {
                        cluster_roles.push(json!({
                            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                            "metadata": {"name": name, "labels": labels()},
                            "rules": fold(&rules),
                        }));
                        cluster_bindings.push(json!({
                            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                            "metadata": {"name": name, "labels": labels()},
                            "roleRef": role_ref("ClusterRole"),
                            "subjects": subject,
                        }));
                    }
                    Scope::Namespace(ns) => {
                        let mut meta = json!({"name": name, "namespace": ns, "labels": labels()});
                        if c == Component::Gateway && ns == "default" {
                            meta["annotations"] = default_namespace_reason();
                        }
                        roles.push((
                            ns.clone(),
                            name.clone(),
                            json!({
                                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                "metadata": meta,
                                "rules": fold(&rules),
                            }),
                        ));
                        bindings.push((
                            ns.clone(),
                            name.clone(),
                            json!({
                                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                "metadata": meta,
                                "roleRef": role_ref("Role"),
                                "subjects": subject,
                            }),
                        ));
                    }
                }
            }
        }
        roles.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        bindings.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut out = sas;
        out.extend(cluster_roles);
        out.extend(roles.into_iter().map(|(_, _, o)| o));
        out.extend(cluster_bindings);
        out.extend(bindings.into_iter().map(|(_, _, o)| o));
        out
    }
}

/// A finding of the `rbac-*` checks of docs/checks.md on a derived object: the bundle goes
/// through the same checks as any RBAC (docs/security.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `ClusterRole orkestra-gateway`, `Role orkestra-system/orkestra-runtime-lease`
    pub object: String,
    pub check: &'static str,
    pub severity: ork_policy::checks::Severity,
    pub message: String,
}

impl Derived {
    /// The `rbac-*` checks over [`Derived::objects`], most severe first.
    pub fn self_scan(&self) -> Vec<Finding> {
        let ctx = ork_policy::checks::Context::default();
        let mut out = Vec::new();
        for o in self.objects() {
            let kind = o["kind"].as_str().unwrap_or_default().to_string();
            let name = o["metadata"]["name"].as_str().unwrap_or_default();
            let object = match o["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            };
            for f in ork_policy::checks::check_object(&o, &ctx) {
                if f.check.starts_with("rbac-") {
                    out.push(Finding {
                        object: object.clone(),
                        check: f.check,
                        severity: f.severity(),
                        message: f.message.clone(),
                    });
                }
            }
        }
        out.sort_by_key(|f| std::cmp::Reverse(f.severity));
        out
    }
}

impl DerivedRule {
    /// `ClusterRole orkestra-runtime` / `Role team-a/orkestra-runtime`.
    pub fn holder(&self) -> String {
        match &self.scope {
            Scope::Cluster => format!("{} {}", self.kind(), self.role),
            Scope::Namespace(n) => format!("{} {n}/{}", self.kind(), self.role),
        }
    }
}

#[cfg(test)]
mod tests;
