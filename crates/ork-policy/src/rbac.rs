//! Offline RBAC analysis (docs/cli.md §14): who can do what, through which binding chain. Matching
//! follows the Kubernetes RBAC authorizer: `*` in verbs, resources and apiGroups, `<res>/*` for
//! every subresource, resourceNames only when a name is asked about, ClusterRoles aggregated
//! through `aggregationRule` from the same input, and ClusterRoles referenced by RoleBindings
//! scoped to the binding's namespace.

use std::collections::{BTreeMap, HashMap};

use crate::path::At;
use ork_limits::{Exceeded, Limits};
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

/// The RBAC objects of an input set, indexed once: each binding's role, each role's bindings,
/// and each aggregating ClusterRole's sources are resolved when the set is built, so queries
/// never rescan the roles (`ork rbac audit` of 5,000 ClusterRoles and 10,000 bindings used to
/// take minutes that way).
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
    /// (cluster, namespace — empty for ClusterRoles, name) → the first such role
    role_index: HashMap<(bool, String, String), usize>,
    /// (cluster, namespace — empty for ClusterRoleBindings, name) → the first such binding
    binding_index: HashMap<(bool, String, String), usize>,
    /// per binding: its role, when the input has it
    role_of_binding: Vec<Option<usize>>,
    /// per role: the bindings that reference it
    bindings_of_role: Vec<Vec<usize>>,
    /// per role: the ClusterRoles whose rules it aggregates, in input order
    aggregates: Vec<Vec<usize>>,
    /// per role: the ClusterRoles that aggregate its rules
    aggregated_by: Vec<Vec<usize>>,
}

/// A budget of `limits` (`rbac.roles`, `rbac.bindings`, `rbac.rules`) was exceeded while the
/// RBAC objects of `file` were collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub file: String,
    pub exceeded: Exceeded,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.exceeded)
    }
}

impl std::error::Error for TooLarge {}

fn s(v: &Value, p: &str) -> String {
    v.at(p).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Counts work against one budget; the error names the file that crossed it.
struct Counter {
    budget: &'static str,
    limit: u64,
    used: u64,
}

impl Counter {
    fn new(budget: &'static str, limit: u64) -> Self {
        Counter {
            budget,
            limit,
            used: 0,
        }
    }
    fn add(&mut self, n: usize, file: &str) -> Result<(), TooLarge> {
        self.used = self
            .used
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if self.used > self.limit {
            return Err(TooLarge {
                file: file.to_string(),
                exceeded: Exceeded::new(self.budget, self.limit),
            });
        }
        Ok(())
    }
}

impl Rbac {
    /// The Roles, ClusterRoles and bindings among `objects` (each with the file it comes from,
    /// for messages), within the `rbac.*` budgets of `limits`: each is checked before the
    /// object or the aggregation that would exceed it is kept.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = (&'a str, &'a Value)>,
        limits: &Limits,
    ) -> Result<Rbac, TooLarge> {
        let mut r = Rbac::default();
        let mut role_files: Vec<&str> = Vec::new();
        let mut roles = Counter::new("rbac.roles", limits.rbac_roles);
        let mut bindings = Counter::new("rbac.bindings", limits.rbac_bindings);
        let mut rules = Counter::new("rbac.rules", limits.rbac_rules);
        for (file, o) in objects {
            if !s(o, "/apiVersion").starts_with("rbac.authorization.k8s.io/") {
                continue;
            }
            let kind = s(o, "/kind");
            match kind.as_str() {
                "Role" | "ClusterRole" => {
                    roles.add(1, file)?;
                    let own = o.get("rules").and_then(Value::as_array);
                    rules.add(own.map_or(0, Vec::len), file)?;
                    role_files.push(file);
                    r.roles.push(Role {
                        cluster: kind == "ClusterRole",
                        namespace: s(o, "/metadata/namespace"),
                        name: s(o, "/metadata/name"),
                        rules: own.cloned().unwrap_or_default(),
                        labels: o
                            .at("/metadata/labels")
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default(),
                        aggregation: o
                            .at("/aggregationRule/clusterRoleSelectors")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    })
                }
                "RoleBinding" | "ClusterRoleBinding" => {
                    bindings.add(1, file)?;
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
        r.index(&role_files, &mut rules)?;
        Ok(r)
    }

    /// Builds the indexes and resolves aggregation; aggregated rules count towards `rules`.
    fn index(&mut self, role_files: &[&str], rules: &mut Counter) -> Result<(), TooLarge> {
        for (i, role) in self.roles.iter().enumerate() {
            let ns = if role.cluster { "" } else { &role.namespace };
            self.role_index
                .entry((role.cluster, ns.to_string(), role.name.clone()))
                .or_insert(i);
        }
        for (i, b) in self.bindings.iter().enumerate() {
            let ns = if b.cluster { "" } else { &b.namespace };
            self.binding_index
                .entry((b.cluster, ns.to_string(), b.name.clone()))
                .or_insert(i);
        }
        self.bindings_of_role = vec![Vec::new(); self.roles.len()];
        self.role_of_binding = Vec::with_capacity(self.bindings.len());
        for (i, b) in self.bindings.iter().enumerate() {
            let role = self.role_key_of(b);
            if let Some(r) = role {
                self.bindings_of_role[r].push(i);
            }
            self.role_of_binding.push(role);
        }
        self.aggregates = vec![Vec::new(); self.roles.len()];
        self.aggregated_by = vec![Vec::new(); self.roles.len()];
        let labels = LabelIndex::new(&self.roles);
        // aggregating roles often share a selector (admin, edit and view all select the same
        // label): each distinct selector is matched once
        let mut memo: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, role) in self.roles.iter().enumerate() {
            if !role.cluster || role.aggregation.is_empty() {
                continue;
            }
            let mut sources: Vec<usize> = Vec::new();
            for sel in &role.aggregation {
                let matched = memo
                    .entry(sel.to_string())
                    .or_insert_with(|| labels.select(sel, &self.roles));
                sources.extend(
                    matched
                        .iter()
                        .copied()
                        .filter(|&j| self.roles[j].name != role.name),
                );
            }
            sources.sort_unstable();
            sources.dedup();
            let added: usize = sources.iter().map(|&j| self.roles[j].rules.len()).sum();
            rules.add(added, role_files.get(i).copied().unwrap_or(""))?;
            for &j in &sources {
                self.aggregated_by[j].push(i);
            }
            self.aggregates[i] = sources;
        }
        Ok(())
    }

    fn role_key_of(&self, b: &Binding) -> Option<usize> {
        if b.role_kind == "ClusterRole" {
            self.find_role(true, "", &b.role_name)
        } else {
            self.find_role(false, &b.namespace, &b.role_name)
        }
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The first Role (`namespace`, `name`) or ClusterRole (`name`) of the input.
    pub fn find_role(&self, cluster: bool, namespace: &str, name: &str) -> Option<usize> {
        let ns = if cluster { "" } else { namespace };
        self.role_index
            .get(&(cluster, ns.to_string(), name.to_string()))
            .copied()
    }

    /// The first RoleBinding (`namespace`, `name`) or ClusterRoleBinding (`name`) of the input.
    pub fn find_binding(&self, cluster: bool, namespace: &str, name: &str) -> Option<usize> {
        let ns = if cluster { "" } else { namespace };
        self.binding_index
            .get(&(cluster, ns.to_string(), name.to_string()))
            .copied()
    }

    /// The role the binding at `binding` references, if it is in the input.
    pub fn role_index_of(&self, binding: usize) -> Option<usize> {
        self.role_of_binding.get(binding).copied().flatten()
    }

    /// The role a binding references, if it is in the input.
    pub fn role_of(&self, b: &Binding) -> Option<&Role> {
        self.role_key_of(b).map(|i| &self.roles[i])
    }

    /// The bindings that reference the role at `role`, in input order.
    pub fn bindings_of(&self, role: usize) -> &[usize] {
        self.bindings_of_role.get(role).map_or(&[], Vec::as_slice)
    }

    /// The ClusterRoles that aggregate the rules of the role at `role`, in input order.
    pub fn aggregated_by(&self, role: usize) -> &[usize] {
        self.aggregated_by.get(role).map_or(&[], Vec::as_slice)
    }

    /// The rules of the role at `role`: its own, then those of the ClusterRoles it aggregates.
    pub fn rules_of(&self, role: usize) -> impl Iterator<Item = RuleRef<'_>> {
        let own = self.roles.get(role).into_iter().flat_map(|r| {
            r.rules.iter().enumerate().map(|(index, rule)| RuleRef {
                from: None,
                index,
                rule,
            })
        });
        let aggregated = self
            .aggregates
            .get(role)
            .into_iter()
            .flatten()
            .flat_map(move |&j| {
                let from = &self.roles[j];
                from.rules
                    .iter()
                    .enumerate()
                    .map(move |(index, rule)| RuleRef {
                        from: Some(from),
                        index,
                        rule,
                    })
            });
        own.chain(aggregated)
    }
}

/// One rule of a role, and the ClusterRole it was aggregated from when it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleRef<'a> {
    pub from: Option<&'a Role>,
    /// its index in the `rules` of the role that holds it
    pub index: usize,
    pub rule: &'a Value,
}

impl RuleRef<'_> {
    /// `ClusterRole x (aggregated)`, or empty for the role's own rules.
    pub fn origin(&self) -> String {
        self.from
            .map(|r| format!("ClusterRole {} (aggregated)", r.name))
            .unwrap_or_default()
    }
}

/// The ClusterRoles by label, to match aggregation selectors without scanning every role.
struct LabelIndex<'a> {
    /// (key, string value) → ClusterRoles with that label, in input order
    by_pair: HashMap<(&'a str, &'a str), Vec<usize>>,
    /// key → ClusterRoles with a label of that key, in input order
    by_key: HashMap<&'a str, Vec<usize>>,
    cluster_roles: Vec<usize>,
}

impl<'a> LabelIndex<'a> {
    fn new(roles: &'a [Role]) -> Self {
        let mut ix = LabelIndex {
            by_pair: HashMap::new(),
            by_key: HashMap::new(),
            cluster_roles: Vec::new(),
        };
        for (i, r) in roles.iter().enumerate().filter(|(_, r)| r.cluster) {
            ix.cluster_roles.push(i);
            for (k, v) in &r.labels {
                ix.by_key.entry(k).or_default().push(i);
                if let Some(v) = v.as_str() {
                    ix.by_pair.entry((k, v)).or_default().push(i);
                }
            }
        }
        ix
    }

    /// The ClusterRoles `sel` selects, in input order: the smallest candidate list that one of
    /// its clauses allows, then the selector itself on each candidate (so matching is exactly
    /// `selects`, whatever the index narrowed).
    fn select(&self, sel: &Value, roles: &[Role]) -> Vec<usize> {
        let mut best: Option<Vec<usize>> = None;
        let mut narrow = |c: &[usize]| {
            if best.as_ref().is_none_or(|b| c.len() < b.len()) {
                best = Some(c.to_vec());
            }
        };
        let empty: &[usize] = &[];
        for (k, v) in sel
            .get("matchLabels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let c = match v.as_str() {
                Some(v) => self.by_pair.get(&(k.as_str(), v)),
                None => self.by_key.get(k.as_str()),
            };
            narrow(c.map_or(empty, Vec::as_slice));
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            match e.get("operator").and_then(Value::as_str) {
                Some("Exists") => narrow(self.by_key.get(key).map_or(empty, Vec::as_slice)),
                Some("In") => {
                    let mut c: Vec<usize> = e
                        .get("values")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .filter_map(|v| self.by_pair.get(&(key, v)))
                        .flatten()
                        .copied()
                        .collect();
                    c.sort_unstable();
                    c.dedup();
                    narrow(&c);
                }
                // NotIn and DoesNotExist match roles without the label: no narrowing
                _ => {}
            }
        }
        let candidates = best.unwrap_or_else(|| self.cluster_roles.clone());
        candidates
            .into_iter()
            .filter(|&j| selects(sel, &roles[j].labels))
            .collect()
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
    strs(rule, key).map(str::to_string).collect()
}

/// The strings of a list field, borrowed: [`rule_allows`] runs for every rule × request of an
/// audit, so it allocates nothing.
fn strs<'a>(rule: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    rule.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Whether one rule grants the request (the RBAC authorizer's rule matching).
pub fn rule_allows(rule: &Value, req: &Request) -> bool {
    let verb_ok = strs(rule, "verbs").any(|v| v == "*" || v == req.verb);
    let group_ok = strs(rule, "apiGroups").any(|g| g == "*" || g == req.group);
    // `resource`, `resource/sub` or `resource/*` for a subresource request
    let res_ok = strs(rule, "resources").any(|r| {
        r == "*"
            || match &req.subresource {
                None => r == req.resource,
                Some(sub) => r
                    .strip_prefix(req.resource.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| rest == sub || rest == "*"),
            }
    });
    let mut names = strs(rule, "resourceNames").peekable();
    let name_ok =
        names.peek().is_none() || req.name.as_deref().is_some_and(|n| names.any(|x| x == n));
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
    // the rule that allows the request depends on the role only: found once per role
    let mut allowing: Vec<Option<Option<RuleRef<'_>>>> = vec![None; rbac.roles.len()];
    for (i, b) in rbac.bindings.iter().enumerate() {
        if !b.cluster && ns.is_some_and(|n| n != b.namespace) {
            continue;
        }
        let Some(role) = rbac.role_index_of(i) else {
            continue;
        };
        let found = *allowing[role]
            .get_or_insert_with(|| rbac.rules_of(role).find(|r| rule_allows(r.rule, req)));
        let Some(rule) = found else {
            continue;
        };
        let scope = if b.cluster {
            "cluster".to_string()
        } else {
            format!("namespace {}", b.namespace)
        };
        let mut via = format!("{} → {}", b.label(), b.role_label());
        if rule.from.is_some() {
            via.push_str(&format!(" ← {}", rule.origin()));
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
pub struct Effective<'a> {
    pub scope: String,
    pub via: String,
    pub rules: Vec<RuleRef<'a>>,
}

/// Every subject's effective permissions: each binding whose role is in the input, per subject
/// in subject order, each subject's grants in input order.
pub fn effective(rbac: &Rbac) -> Vec<(Subject, Vec<Effective<'_>>)> {
    let mut out: BTreeMap<&Subject, Vec<Effective<'_>>> = BTreeMap::new();
    for (i, b) in rbac.bindings.iter().enumerate() {
        let Some(role) = rbac.role_index_of(i) else {
            continue;
        };
        let e = Effective {
            scope: if b.cluster {
                "cluster".into()
            } else {
                format!("namespace {}", b.namespace)
            },
            via: format!("{} → {}", b.label(), b.role_label()),
            rules: rbac.rules_of(role).collect(),
        };
        for s in &b.subjects {
            out.entry(s).or_default().push(e.clone());
        }
    }
    out.into_iter().map(|(s, e)| (s.clone(), e)).collect()
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

/// The API group whose objects admission never fully guards (docs/security.md §2.3).
pub const ADMISSION_GROUP: &str = "admissionregistration.k8s.io";

/// The resources of [`ADMISSION_GROUP`] that can disable ork's admission: its webhook
/// configurations, and the guard policy and binding that protect them.
pub const ADMISSION_RESOURCES: &[&str] = &[
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
];

/// The verbs that change or remove them.
pub const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// Who may write [`ADMISSION_RESOURCES`] without a finding: members of `breakGlassGroups`, and
/// the Gateway ServiceAccount, which registers the configurations and restores the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionExempt {
    pub break_glass_groups: Vec<String>,
    /// the operator namespace, where ServiceAccount `orkestra-gateway` runs
    pub operator_namespace: String,
    /// the Gateway's Deployment, named like its Service (`security.serviceName.gateway`,
    /// default `orkestra-gateway`): a rule limited by resourceNames to it still lets its holder
    /// change the Gateway
    pub gateway_deployment: String,
}

impl AdmissionExempt {
    /// `system:serviceaccount:<ns>:orkestra-gateway`
    pub fn gateway_user(&self) -> String {
        format!(
            "system:serviceaccount:{}:orkestra-gateway",
            self.operator_namespace
        )
    }

    /// Whether `s` is exempt. Offline, group membership is known only for Group subjects: a
    /// User bound by name is reported even when some identity provider puts it in a
    /// break-glass group.
    pub fn exempts(&self, s: &Subject) -> bool {
        match s.kind.as_str() {
            "Group" => self.break_glass_groups.contains(&s.name),
            "ServiceAccount" => {
                s.name == "orkestra-gateway"
                    && s.namespace.as_deref() == Some(self.operator_namespace.as_str())
            }
            "User" => s.name == self.gateway_user(),
            _ => false,
        }
    }
}

/// One subject that holds a grant `ork rbac audit` reports against ork's own protection
/// (writing [`ADMISSION_RESOURCES`], or one of [`NAMESPACE_TAKEOVERS`]), and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionWriter {
    pub subject: Subject,
    /// the index of the binding in [`Rbac::bindings`]
    pub binding: usize,
    /// `ClusterRoleBinding x → ClusterRole y → rules[0], ClusterRole z rules[1] (aggregated)`
    pub path: String,
    /// per distinct verb set, the resources it applies to:
    /// `delete validatingadmissionpolicybindings; create,update,… validatingwebhookconfigurations,…`
    pub grants: String,
}

/// The rule of the built-in ClusterRole `cluster-admin`, for bindings to it when the input does
/// not hold it (offline YAML rarely does; the API server always has it).
fn cluster_admin_rule() -> Value {
    serde_json::json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})
}

/// The (verb, resource) pairs of [`WRITE_VERBS`] × [`ADMISSION_RESOURCES`] that `rule` allows.
/// A rule limited by resourceNames counts only when it names one of ork's objects (the guard,
/// or a webhook configuration); `create` and `deletecollection` never match resourceNames.
fn admission_writes(rule: &Value) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (r, resource) in ADMISSION_RESOURCES.iter().enumerate() {
        let ours: &[&str] = if resource.contains("webhook") {
            crate::prepared::WEBHOOK_CONFIGURATIONS
        } else {
            &[crate::prepared::GUARD_POLICY]
        };
        for (v, verb) in WRITE_VERBS.iter().enumerate() {
            let req = |name: Option<&str>| Request {
                verb: (*verb).to_string(),
                group: ADMISSION_GROUP.to_string(),
                resource: (*resource).to_string(),
                subresource: None,
                name: name.map(str::to_string),
            };
            let named = !matches!(*verb, "create" | "deletecollection");
            if rule_allows(rule, &req(None))
                || (named && ours.iter().any(|n| rule_allows(rule, &req(Some(n)))))
            {
                out.push((v, r));
            }
        }
    }
    out
}

/// `delete validatingadmissionpolicybindings; create,update validatingwebhookconfigurations`:
/// the resources grouped by the verbs granted on them, in catalogue order.
fn describe_writes(pairs: &[(usize, usize)]) -> String {
    let mut by_resource: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(v, r) in pairs {
        let verbs = by_resource.entry(r).or_default();
        if !verbs.contains(&v) {
            verbs.push(v);
        }
    }
    let mut groups: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    for (r, mut verbs) in by_resource {
        verbs.sort_unstable();
        match groups.iter_mut().find(|(v, _)| *v == verbs) {
            Some((_, rs)) => rs.push(r),
            None => groups.push((verbs, vec![r])),
        }
    }
    groups
        .iter()
        .map(|(verbs, rs)| {
            let v: Vec<&str> = verbs.iter().map(|&i| WRITE_VERBS[i]).collect();
            let r: Vec<&str> = rs.iter().map(|&i| ADMISSION_RESOURCES[i]).collect();
            format!("{} {}", v.join(","), r.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every subject outside `exempt` that can create, update, patch, delete or deletecollection
/// ork's admission configurations (docs/security.md §2.3): through a ClusterRoleBinding only,
/// because these resources are cluster-scoped and a RoleBinding never grants cluster-scoped
/// access. `*` in verbs, resources and apiGroups counts, as do aggregated rules and the
/// built-in `cluster-admin` when the input does not define it. In subject order.
pub fn admission_config_writers(rbac: &Rbac, exempt: &AdmissionExempt) -> Vec<AdmissionWriter> {
    subjects_granted(
        rbac,
        |b| b.cluster,
        |s| exempt.exempts(s),
        admission_writes,
        describe_writes,
    )
}

/// Every subject of a binding `in_scope` that `trusted` does not cover, with what `found`
/// finds in the rules of the binding's role (own and aggregated; the built-in `cluster-admin`
/// when the input does not define it), described by `describe`, and where those rules are.
/// What a role grants depends on the role only: found once per role. In subject order.
fn subjects_granted<T: Clone + Ord>(
    rbac: &Rbac,
    in_scope: impl Fn(&Binding) -> bool,
    trusted: impl Fn(&Subject) -> bool,
    found: impl Fn(&Value) -> Vec<T>,
    describe: impl Fn(&[T]) -> String,
) -> Vec<AdmissionWriter> {
    let builtin = cluster_admin_rule();
    let mut per_role: Vec<Option<(Vec<T>, Vec<String>)>> = vec![None; rbac.roles.len()];
    let mut out = Vec::new();
    for (i, b) in rbac.bindings.iter().enumerate() {
        if !in_scope(b) || b.subjects.iter().all(&trusted) {
            continue;
        }
        let (grants, at) = match rbac.role_index_of(i) {
            Some(role) => per_role[role]
                .get_or_insert_with(|| {
                    let mut grants = Vec::new();
                    let mut at = Vec::new();
                    for r in rbac.rules_of(role) {
                        let g = found(r.rule);
                        if g.is_empty() {
                            continue;
                        }
                        grants.extend(g);
                        at.push(match r.from {
                            Some(from) => {
                                format!("ClusterRole {} rules[{}] (aggregated)", from.name, r.index)
                            }
                            None => format!("rules[{}]", r.index),
                        });
                    }
                    grants.sort_unstable();
                    grants.dedup();
                    (grants, at)
                })
                .clone(),
            None if b.role_kind == "ClusterRole" && b.role_name == "cluster-admin" => {
                (found(&builtin), vec!["built-in rules (* on *)".to_string()])
            }
            None => continue,
        };
        if grants.is_empty() {
            continue;
        }
        let path = format!("{} → {} → {}", b.label(), b.role_label(), at.join(", "));
        let grants = describe(&grants);
        for s in b.subjects.iter().filter(|s| !trusted(s)) {
            out.push(AdmissionWriter {
                subject: s.clone(),
                binding: i,
                path: path.clone(),
                grants: grants.clone(),
            });
        }
    }
    out.sort_by(|a, b| (&a.subject, &a.path).cmp(&(&b.subject, &b.path)));
    out.dedup();
    out
}

/// What lets a subject act as ork or stop it from inside ork's namespace (docs/security.md
/// §2.3): run a Pod there (which may mount ork's ServiceAccounts), exec or attach into ork's
/// Pods, mint a token for ork's ServiceAccounts, create a workload there, or change or scale
/// ork's Deployments (the guard stops deleting them, not changing them).
pub const NAMESPACE_TAKEOVERS: &[Takeover] = &[
    Takeover {
        verb: "create",
        group: "",
        resource: "pods",
        subresource: None,
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "create",
        group: "",
        resource: "pods",
        subresource: Some("exec"),
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "create",
        group: "",
        resource: "pods",
        subresource: Some("attach"),
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "create",
        group: "",
        resource: "serviceaccounts",
        subresource: Some("token"),
        names: OrkObjects::ServiceAccounts,
    },
    Takeover {
        verb: "create",
        group: "apps",
        resource: "deployments",
        subresource: None,
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "update",
        group: "apps",
        resource: "deployments",
        subresource: None,
        names: OrkObjects::Deployments,
    },
    Takeover {
        verb: "patch",
        group: "apps",
        resource: "deployments",
        subresource: None,
        names: OrkObjects::Deployments,
    },
    Takeover {
        verb: "update",
        group: "apps",
        resource: "deployments",
        subresource: Some("scale"),
        names: OrkObjects::Deployments,
    },
    Takeover {
        verb: "patch",
        group: "apps",
        resource: "deployments",
        subresource: Some("scale"),
        names: OrkObjects::Deployments,
    },
    Takeover {
        verb: "create",
        group: "apps",
        resource: "replicasets",
        subresource: None,
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "create",
        group: "apps",
        resource: "statefulsets",
        subresource: None,
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "create",
        group: "apps",
        resource: "daemonsets",
        subresource: None,
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "create",
        group: "batch",
        resource: "jobs",
        subresource: None,
        names: OrkObjects::Unnamed,
    },
    Takeover {
        verb: "create",
        group: "batch",
        resource: "cronjobs",
        subresource: None,
        names: OrkObjects::Unnamed,
    },
];

/// One request [`NAMESPACE_TAKEOVERS`] lists; `names` are the objects a rule limited by
/// resourceNames counts for.
pub struct Takeover {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub names: OrkObjects,
}

/// Which of ork's objects a rule limited by resourceNames must name to count for a
/// [`Takeover`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrkObjects {
    /// none: only a rule without resourceNames counts (a create names no existing object)
    Unnamed,
    /// ork's two ServiceAccounts
    ServiceAccounts,
    /// the runtime's Deployment and the Gateway's ([`AdmissionExempt::gateway_deployment`])
    Deployments,
}

const ORK_SERVICE_ACCOUNTS: &[&str] = &[
    ork_katalog::names::RUNTIME_SERVICE_ACCOUNT,
    ork_katalog::names::GATEWAY_SERVICE_ACCOUNT,
];
/// The indexes of [`NAMESPACE_TAKEOVERS`] that `rule` allows, with `deployments` the names of
/// ork's Deployments.
fn takeovers(rule: &Value, deployments: &[&str]) -> Vec<usize> {
    // most rules name none of the groups involved: skip the per-target requests for them
    if !strs(rule, "apiGroups").any(|g| matches!(g, "" | "apps" | "batch" | "*")) {
        return Vec::new();
    }
    NAMESPACE_TAKEOVERS
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            let req = |name: Option<&str>| Request {
                verb: t.verb.to_string(),
                group: t.group.to_string(),
                resource: t.resource.to_string(),
                subresource: t.subresource.map(str::to_string),
                name: name.map(str::to_string),
            };
            let names: &[&str] = match t.names {
                OrkObjects::Unnamed => &[],
                OrkObjects::ServiceAccounts => ORK_SERVICE_ACCOUNTS,
                OrkObjects::Deployments => deployments,
            };
            rule_allows(rule, &req(None)) || names.iter().any(|n| rule_allows(rule, &req(Some(n))))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Identities that run the cluster itself: the controllers and scheduler create Pods and
/// workloads everywhere by design, and whoever controls them controls the cluster anyway.
fn control_plane_identity(s: &Subject) -> bool {
    match s.kind.as_str() {
        "ServiceAccount" => s.namespace.as_deref() == Some("kube-system"),
        "User" => matches!(
            s.name.as_str(),
            "system:kube-controller-manager" | "system:kube-scheduler" | "system:apiserver"
        ),
        "Group" => s.name == "system:masters",
        _ => false,
    }
}

/// Every subject outside `exempt` (and other than ork's own ServiceAccounts and the cluster's
/// control-plane identities) that can do one of [`NAMESPACE_TAKEOVERS`] in ork's namespace:
/// through a RoleBinding there or any ClusterRoleBinding, `*` and aggregation included, and
/// the built-in `cluster-admin` when the input does not define it. In subject order.
pub fn operator_namespace_writers(rbac: &Rbac, exempt: &AdmissionExempt) -> Vec<AdmissionWriter> {
    let ns = exempt.operator_namespace.as_str();
    let deployments = [
        ork_katalog::names::RUNTIME_DEPLOYMENT,
        exempt.gateway_deployment.as_str(),
    ];
    subjects_granted(
        rbac,
        |b| b.cluster || b.namespace == ns,
        |s| {
            exempt.exempts(s)
                || control_plane_identity(s)
                || (s.kind == "ServiceAccount"
                    && s.namespace.as_deref() == Some(ns)
                    && ORK_SERVICE_ACCOUNTS.contains(&s.name.as_str()))
        },
        |rule| takeovers(rule, &deployments),
        |found| {
            found
                .iter()
                .map(|&t| {
                    let t = &NAMESPACE_TAKEOVERS[t];
                    match t.subresource {
                        Some(sub) => format!("{} {}/{sub}", t.verb, t.resource),
                        None => format!("{} {}", t.verb, t.resource),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
    )
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

    fn build(objs: &[Value]) -> Rbac {
        Rbac::from_objects(objs.iter().map(|o| ("rbac.yaml", o)), &Limits::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn who(verb: &str, res: &str, ns: Option<&str>, name: Option<&str>) -> Vec<String> {
        let objs = fixture();
        let rbac = build(&objs);
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
        let rbac = build(&objs);
        let eff = effective(&rbac);
        let debugger = eff
            .iter()
            .find(|(s, _)| s.name == "debugger")
            .map(|(_, e)| e.clone())
            .unwrap_or_default();
        assert_eq!(debugger.len(), 1);
        assert_eq!(
            debugger[0].rules[0].origin(),
            "ClusterRole exec (aggregated)"
        );
        assert_eq!(
            describe_rule(debugger[0].rules[0].rule),
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

    /// The aggregation the index resolves is the one a scan of every ClusterRole with
    /// `selects` gives, for every kind of selector clause.
    #[test]
    fn indexed_aggregation_equals_the_full_scan() {
        let mut objs = Vec::new();
        for i in 0..60 {
            let mut labels = serde_json::Map::new();
            labels.insert(format!("g{}", i % 5), json!("true"));
            if i % 3 == 0 {
                labels.insert("tier".into(), json!(format!("t{}", i % 4)));
            }
            if i % 7 == 0 {
                labels.insert("flag".into(), json!(true));
            }
            objs.push(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": format!("c{i}"), "labels": labels},
                "rules": [{"apiGroups": [""], "resources": [format!("r{i}")], "verbs": ["get"]}]}),
            );
        }
        let selectors = [
            json!({"matchLabels": {"g1": "true"}}),
            json!({"matchLabels": {"g1": "true", "tier": "t3"}}),
            json!({"matchLabels": {"flag": true}}),
            json!({"matchLabels": {"nobody": "x"}}),
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["t0", "t2"]}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["t0"]}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}, {"key": "g2", "operator": "Exists"}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "Bogus"}]}),
            json!({}),
        ];
        for (i, sel) in selectors.iter().enumerate() {
            // c0 labels itself g0: an aggregating role never aggregates itself
            objs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": if i == 0 { "c0".to_string() } else { format!("agg{i}") }},
                "aggregationRule": {"clusterRoleSelectors": [sel, {"matchLabels": {"g4": "true"}}]}}));
        }
        let rbac = build(&objs);
        for (i, role) in rbac.roles().iter().enumerate() {
            let want: Vec<String> = rbac
                .roles()
                .iter()
                .filter(|o| {
                    o.cluster
                        && o.name != role.name
                        && role.aggregation.iter().any(|sel| selects(sel, &o.labels))
                })
                .flat_map(|o| {
                    o.rules
                        .iter()
                        .map(move |_| format!("ClusterRole {} (aggregated)", o.name))
                })
                .collect();
            let got: Vec<String> = rbac
                .rules_of(i)
                .filter(|r| r.from.is_some())
                .map(|r| r.origin())
                .collect();
            assert_eq!(got, want, "{}", role.name);
        }
    }

    fn admission_fixture() -> Vec<Value> {
        let crole = |name: &str, rules: Value| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules});
        let crb = |name: &str, role: &str, subject: Value| {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
                   "roleRef": {"kind": "ClusterRole", "name": role}, "subjects": [subject]})
        };
        vec![
            crole(
                "cluster-admin",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
            ),
            crb(
                "cluster-admin",
                "cluster-admin",
                json!({"kind": "Group", "name": "system:masters"}),
            ),
            crb(
                "alice-admin",
                "cluster-admin",
                json!({"kind": "User", "name": "alice"}),
            ),
            crole(
                "guard-remover",
                json!([{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingadmissionpolicybindings"], "verbs": ["get", "delete"]}]),
            ),
            crb(
                "ops-guard",
                "guard-remover",
                json!({"kind": "Group", "name": "ops"}),
            ),
            crole(
                "admission-all",
                json!([{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["*"], "verbs": ["*"]}]),
            ),
            crb(
                "deployer",
                "admission-all",
                json!({"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}),
            ),
            crb(
                "gateway",
                "admission-all",
                json!({"kind": "ServiceAccount", "name": "orkestra-gateway", "namespace": "orkestra-system"}),
            ),
            // another operator's own webhook, by name: cannot touch ork's
            crole(
                "cert-manager-webhook",
                json!([{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "verbs": ["update", "patch"], "resourceNames": ["cert-manager-webhook"]}]),
            ),
            crb(
                "cert-manager",
                "cert-manager-webhook",
                json!({"kind": "ServiceAccount", "name": "cert-manager", "namespace": "cert-manager"}),
            ),
            // the guard by name
            crole(
                "guard-editor",
                json!([{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingadmissionpolicies"], "verbs": ["patch", "deletecollection"], "resourceNames": ["orkestra-control-plane-guard"]}]),
            ),
            crb(
                "guard-editor",
                "guard-editor",
                json!({"kind": "User", "name": "mallory"}),
            ),
            // namespaced: a RoleBinding never grants cluster-scoped resources
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "vapb", "namespace": "team"},
                   "rules": [{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingadmissionpolicybindings"], "verbs": ["delete"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "vapb", "namespace": "team"},
                   "roleRef": {"kind": "Role", "name": "vapb"}, "subjects": [{"kind": "Group", "name": "team-devs"}]}),
            // the built-in cluster-admin, not in the input
            crb(
                "bob-admin",
                "cluster-admin-missing",
                json!({"kind": "User", "name": "nobody-role"}),
            ),
        ]
    }

    fn writers(objs: &[Value], groups: &[&str]) -> Vec<String> {
        let rbac = build(objs);
        let exempt = AdmissionExempt {
            break_glass_groups: groups.iter().map(|g| g.to_string()).collect(),
            operator_namespace: "orkestra-system".into(),
            gateway_deployment: "orkestra-gateway".into(),
        };
        admission_config_writers(&rbac, &exempt)
            .iter()
            .map(|w| format!("{} | {} | {}", w.subject, w.grants, w.path))
            .collect()
    }

    #[test]
    fn admission_config_writers_outside_break_glass_are_found() {
        let objs = admission_fixture();
        let all = "create,update,patch,delete,deletecollection validatingwebhookconfigurations,mutatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings";
        assert_eq!(
            writers(&objs, &["system:masters"]),
            vec![
                "Group ops | delete validatingadmissionpolicybindings | ClusterRoleBinding ops-guard → ClusterRole guard-remover → rules[0]".to_string(),
                format!("ServiceAccount ci/deployer | {all} | ClusterRoleBinding deployer → ClusterRole admission-all → rules[0]"),
                format!("User alice | {all} | ClusterRoleBinding alice-admin → ClusterRole cluster-admin → rules[0]"),
                "User mallory | patch validatingadmissionpolicies | ClusterRoleBinding guard-editor → ClusterRole guard-editor → rules[0]".to_string(),
            ]
        );
        // another break-glass group: system:masters is no longer exempt, ops is
        let got = writers(&objs, &["ops"]);
        assert!(
            got.iter().any(|l| l.starts_with("Group system:masters |")),
            "{got:?}"
        );
        assert!(!got.iter().any(|l| l.starts_with("Group ops |")), "{got:?}");
    }

    #[test]
    fn the_built_in_cluster_admin_counts_when_the_input_lacks_it() {
        let objs: Vec<Value> = admission_fixture()
            .into_iter()
            .filter(|o| !(o["kind"] == "ClusterRole" && o["metadata"]["name"] == "cluster-admin"))
            .collect();
        let got = writers(&objs, &["system:masters"]);
        assert!(
            got.iter().any(|l| l.starts_with("User alice | create,update,patch,delete,deletecollection ")
                && l.ends_with("ClusterRoleBinding alice-admin → ClusterRole cluster-admin → built-in rules (* on *)")),
            "{got:?}"
        );
        assert!(
            !got.iter()
                .any(|l| l.contains("system:masters") || l.contains("nobody-role")),
            "{got:?}"
        );
    }

    #[test]
    fn whoever_can_run_or_change_workloads_in_orks_namespace_is_found() {
        let role = |kind: &str, ns: Option<&str>, name: &str, rules: Value| {
            let mut m = json!({"name": name});
            if let Some(ns) = ns {
                m["namespace"] = json!(ns);
            }
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": m, "rules": rules})
        };
        let bind = |kind: &str,
                    ns: Option<&str>,
                    name: &str,
                    role_kind: &str,
                    role: &str,
                    subject: Value| {
            let mut m = json!({"name": name});
            if let Some(ns) = ns {
                m["namespace"] = json!(ns);
            }
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": m,
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
                   "subjects": [subject]})
        };
        let user =
            |n: &str| json!({"kind": "User", "name": n, "apiGroup": "rbac.authorization.k8s.io"});
        let objs = vec![
            role(
                "Role",
                Some("orkestra-system"),
                "scaler",
                json!([{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"], "resourceNames": ["orkestra-gateway"]}]),
            ),
            role(
                "Role",
                Some("orkestra-system"),
                "reader",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]),
            ),
            role(
                "ClusterRole",
                None,
                "pod-runner",
                json!([{"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["create"]}]),
            ),
            role(
                "Role",
                Some("team-a"),
                "team-admin",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
            ),
            bind(
                "RoleBinding",
                Some("orkestra-system"),
                "scale-gateway",
                "Role",
                "scaler",
                user("mallory"),
            ),
            bind(
                "RoleBinding",
                Some("orkestra-system"),
                "read",
                "Role",
                "reader",
                user("viewer"),
            ),
            // a ClusterRole bound in ork's namespace, and one bound cluster-wide
            bind(
                "RoleBinding",
                Some("orkestra-system"),
                "run-pods",
                "ClusterRole",
                "pod-runner",
                user("bob"),
            ),
            bind(
                "ClusterRoleBinding",
                None,
                "run-pods-everywhere",
                "ClusterRole",
                "pod-runner",
                user("carol"),
            ),
            // elsewhere only: not in ork's namespace
            bind(
                "RoleBinding",
                Some("team-a"),
                "team",
                "Role",
                "team-admin",
                user("dave"),
            ),
            bind(
                "RoleBinding",
                Some("team-a"),
                "team-pods",
                "ClusterRole",
                "pod-runner",
                user("erin"),
            ),
            // the cluster's own controllers and break-glass are trusted
            bind(
                "ClusterRoleBinding",
                None,
                "rs-controller",
                "ClusterRole",
                "pod-runner",
                json!({"kind": "ServiceAccount", "name": "replicaset-controller", "namespace": "kube-system"}),
            ),
            bind(
                "ClusterRoleBinding",
                None,
                "break-glass",
                "ClusterRole",
                "cluster-admin",
                json!({"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}),
            ),
            bind(
                "ClusterRoleBinding",
                None,
                "admins",
                "ClusterRole",
                "cluster-admin",
                user("alice"),
            ),
        ];
        let rbac = build(&objs);
        let exempt = AdmissionExempt {
            break_glass_groups: vec!["ops".into()],
            operator_namespace: "orkestra-system".into(),
            gateway_deployment: "orkestra-gateway".into(),
        };
        let got: Vec<String> = operator_namespace_writers(&rbac, &exempt)
            .iter()
            .map(|w| format!("{} | {} | {}", w.subject, w.grants, w.path))
            .collect();
        assert_eq!(
            got,
            vec![
                "User alice | create pods, create pods/exec, create pods/attach, create serviceaccounts/token, create deployments, update deployments, patch deployments, update deployments/scale, patch deployments/scale, create replicasets, create statefulsets, create daemonsets, create jobs, create cronjobs | ClusterRoleBinding admins → ClusterRole cluster-admin → built-in rules (* on *)".to_string(),
                "User bob | create pods, create pods/exec | RoleBinding orkestra-system/run-pods → ClusterRole pod-runner → rules[0]".to_string(),
                "User carol | create pods, create pods/exec | ClusterRoleBinding run-pods-everywhere → ClusterRole pod-runner → rules[0]".to_string(),
                "User mallory | patch deployments/scale | RoleBinding orkestra-system/scale-gateway → Role orkestra-system/scaler → rules[0]".to_string(),
            ]
        );
        // resourceNames count for the Gateway's Deployment as the Katalog names it: with
        // `serviceName.gateway: edge-gw`, mallory's role names no Deployment of ork's
        let renamed = AdmissionExempt {
            gateway_deployment: "edge-gw".into(),
            ..exempt
        };
        let subjects: Vec<String> = operator_namespace_writers(&rbac, &renamed)
            .iter()
            .map(|w| w.subject.to_string())
            .collect();
        assert_eq!(subjects, ["User alice", "User bob", "User carol"]);
    }

    #[test]
    fn the_gateway_is_exempt_in_the_operator_namespace_only() {
        let exempt = AdmissionExempt {
            break_glass_groups: vec!["system:masters".into()],
            operator_namespace: "ork".into(),
            gateway_deployment: "orkestra-gateway".into(),
        };
        let sa = |ns: &str| Subject {
            kind: "ServiceAccount".into(),
            name: "orkestra-gateway".into(),
            namespace: Some(ns.into()),
        };
        assert!(exempt.exempts(&sa("ork")));
        assert!(!exempt.exempts(&sa("orkestra-system")));
        assert!(exempt.exempts(&Subject {
            kind: "User".into(),
            name: "system:serviceaccount:ork:orkestra-gateway".into(),
            namespace: None,
        }));
        assert!(!exempt.exempts(&Subject {
            kind: "User".into(),
            name: "system:masters".into(),
            namespace: None,
        }));
    }

    #[test]
    fn budgets_stop_collection_and_name_the_file() {
        let objs = fixture();
        let with = |l: Limits| {
            Rbac::from_objects(objs.iter().map(|o| ("big.yaml", o)), &l)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let d = Limits::default();
        let roles = with(Limits { rbac_roles: 3, ..d });
        assert!(
            roles.starts_with("big.yaml: budget rbac.roles exceeded (limit 3"),
            "{roles}"
        );
        let bindings = with(Limits {
            rbac_bindings: 2,
            ..d
        });
        assert!(
            bindings.contains("rbac.bindings") && bindings.contains("ORK_LIMIT_RBAC_BINDINGS"),
            "{bindings}"
        );
        // 3 own rules fit; the aggregated rule of `exec` is the fourth
        assert_eq!(with(Limits { rbac_rules: 4, ..d }), "");
        let rules = with(Limits { rbac_rules: 3, ..d });
        assert!(rules.contains("rbac.rules"), "{rules}");
    }
}
