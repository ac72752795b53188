//! Permission widening (docs/cli.md §7): every rule a bundle grants to one of ork's
//! ServiceAccounts, expanded into tuples (subject, scope, API group, resource, resource name or
//! any, verb); each tuple of the new bundle that no tuple of the old one covers is a widening.

use std::collections::{BTreeMap, BTreeSet};

use ork_katalog::names::{GATEWAY_SERVICE_ACCOUNT, RUNTIME_SERVICE_ACCOUNT};
use serde::Serialize;
use serde_json::Value;

use crate::rbac::{DerivedRule, Scope};

/// One permission one ServiceAccount holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    /// `ServiceAccount <ns>/<name>`
    subject: String,
    /// the ServiceAccount's name (`orkestra`, `orkestra-gateway`)
    account: String,
    scope: Scope,
    /// the role that carries it: `ClusterRole orkestra-runtime`, `Role team-a/orkestra-runtime`
    role: String,
    group: String,
    resource: String,
    /// `None`: any name
    name: Option<String>,
    verb: String,
}

impl Grant {
    /// Whether `self` (old) allows everything `new` asks for.
    fn covers(&self, new: &Grant) -> bool {
        let any = |x: &str, y: &str| x == "*" || x == y;
        self.subject == new.subject
            && (self.scope == Scope::Cluster || self.scope == new.scope)
            && any(&self.group, &new.group)
            && any(&self.resource, &new.resource)
            && any(&self.verb, &new.verb)
            && (self.name.is_none() || self.name == new.name)
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Every grant of a bundle's bindings to ork's ServiceAccounts, through the roles of the same
/// bundle (a role it does not hold grants nothing it installs).
fn grants(objects: &[Value]) -> Vec<Grant> {
    let role = |kind: &str, ns: Option<&str>, name: &str| {
        objects.iter().find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && (kind == "ClusterRole" || o["metadata"]["namespace"].as_str() == ns)
        })
    };
    let mut out = Vec::new();
    for b in objects
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
    {
        let ns = b["metadata"]["namespace"].as_str();
        let scope = match (b["kind"].as_str(), ns) {
            (Some("RoleBinding"), Some(n)) => Scope::Namespace(n.to_string()),
            _ => Scope::Cluster,
        };
        let ref_kind = b["roleRef"]["kind"].as_str().unwrap_or_default();
        let ref_name = b["roleRef"]["name"].as_str().unwrap_or_default();
        let Some(r) = role(ref_kind, ns, ref_name) else {
            continue;
        };
        let role_name = match (ref_kind, ns) {
            ("Role", Some(n)) => format!("Role {n}/{ref_name}"),
            _ => format!("{ref_kind} {ref_name}"),
        };
        for s in b["subjects"].as_array().into_iter().flatten() {
            let account = s["name"].as_str().unwrap_or_default();
            if s["kind"] != "ServiceAccount"
                || ![RUNTIME_SERVICE_ACCOUNT, GATEWAY_SERVICE_ACCOUNT].contains(&account)
            {
                continue;
            }
            let subject = format!(
                "ServiceAccount {}/{account}",
                s["namespace"].as_str().or(ns).unwrap_or_default()
            );
            for rule in r["rules"].as_array().into_iter().flatten() {
                let names = strings(&rule["resourceNames"]);
                let names: Vec<Option<String>> = if names.is_empty() {
                    vec![None]
                } else {
                    names.into_iter().map(Some).collect()
                };
                for g in strings(&rule["apiGroups"]) {
                    for res in strings(&rule["resources"]) {
                        for n in &names {
                            for v in strings(&rule["verbs"]) {
                                out.push(Grant {
                                    subject: subject.clone(),
                                    account: account.to_string(),
                                    scope: scope.clone(),
                                    role: role_name.clone(),
                                    group: g.clone(),
                                    resource: res.clone(),
                                    name: n.clone(),
                                    verb: v,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// One widening: the verbs a role newly grants on one resource (and name) in one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Widening {
    pub role: String,
    pub subject: String,
    /// `cluster` or the namespace
    pub scope: String,
    pub api_group: String,
    pub resource: String,
    /// `null`: any name
    pub resource_name: Option<String>,
    pub verbs: Vec<String>,
    /// the Katalog constructs that need it (from the RBAC derivation); empty when nothing in
    /// the Katalog does
    pub because: String,
    /// a new subject, a move from a Role to a ClusterRole, escalate, bind, impersonate or
    /// Secrets
    pub risky: bool,
}

impl Widening {
    /// `create,get secrets (core), cluster-wide`
    pub fn describe(&self) -> String {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        let name = self
            .resource_name
            .as_ref()
            .map(|n| format!(" named {n}"))
            .unwrap_or_default();
        let scope = if self.scope == "cluster" {
            "cluster-wide".to_string()
        } else {
            format!("in namespace {}", self.scope)
        };
        format!(
            "{} {} ({group}){name}, {scope}",
            self.verbs.join(","),
            self.resource
        )
    }
}

/// Why a grant exists: the `because` of the derived rules that grant it.
fn because(g: &Grant, verbs: &BTreeSet<String>, rules: &[DerivedRule]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for r in rules {
        let names_match = match &g.name {
            None => r.resource_names.is_empty(),
            Some(n) => r.resource_names.contains(n),
        };
        if r.component.service_account() == Some(g.account.as_str())
            && r.scope == g.scope
            && r.api_group == g.group
            && r.resources.contains(&g.resource)
            && r.verbs.iter().any(|v| verbs.contains(v))
            && names_match
            && !out.contains(&r.because.as_str())
        {
            out.push(&r.because);
        }
    }
    out.join("; ")
}

/// (role, subject, scope, group, resource, name): one line of the report, whose verbs are
/// gathered.
type GrantKey = (String, String, Scope, String, String, Option<String>);

/// The widenings of `new` against `old`, most risky first, then by role and resource.
pub fn widening(old: &[Value], new: &[Value], rules: &[DerivedRule]) -> Vec<Widening> {
    let old_grants = grants(old);
    let old_subjects: BTreeSet<&str> = old_grants.iter().map(|g| g.subject.as_str()).collect();
    let mut by: BTreeMap<GrantKey, (Grant, BTreeSet<String>)> = BTreeMap::new();
    for g in grants(new) {
        if old_grants.iter().any(|o| o.covers(&g)) {
            continue;
        }
        let key = (
            g.role.clone(),
            g.subject.clone(),
            g.scope.clone(),
            g.group.clone(),
            g.resource.clone(),
            g.name.clone(),
        );
        let verb = g.verb.clone();
        by.entry(key)
            .or_insert_with(|| (g, BTreeSet::new()))
            .1
            .insert(verb);
    }
    let mut out: Vec<Widening> = by
        .into_values()
        .map(|(g, verbs)| {
            let moved_to_cluster = g.scope == Scope::Cluster
                && old_grants.iter().any(|o| {
                    o.subject == g.subject
                        && o.scope != Scope::Cluster
                        && o.group == g.group
                        && o.resource == g.resource
                        && verbs.contains(&o.verb)
                });
            let sensitive = verbs
                .iter()
                .any(|v| matches!(v.as_str(), "escalate" | "bind" | "impersonate"))
                || (g.group.is_empty() && g.resource == "secrets");
            let risky = !old_subjects.contains(g.subject.as_str()) || moved_to_cluster || sensitive;
            Widening {
                because: because(&g, &verbs, rules),
                role: g.role,
                subject: g.subject,
                scope: match &g.scope {
                    Scope::Cluster => "cluster".to_string(),
                    Scope::Namespace(n) => n.clone(),
                },
                api_group: g.group,
                resource: g.resource,
                resource_name: g.name,
                verbs: verbs.into_iter().collect(),
                risky,
            }
        })
        .collect();
    out.sort_by_key(|w| !w.risky);
    out
}
