//! The set-level checks (`missing-network-policy`, and `automount-service-account-token`, which
//! depends on the ServiceAccounts of the set), split into what each object contributes and the
//! decision over the whole set.
//!
//! The split lets `ork scan` drop every object as soon as it is checked and keep only these
//! facts (a few strings per object), while [`super::missing_network_policy`] and
//! [`Context::from_objects`] decide over objects kept in memory with the very same helpers: the
//! rule is written once.

use std::collections::{HashMap, HashSet};

use crate::path::At;
use serde_json::Value;

use super::{Finding, group, kind, name, namespace, pod, selects_by};

/// What one object contributes to the set-level checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// a NetworkPolicy whose policy types include Ingress
    pub network_policy: Option<NetworkPolicy>,
    /// a workload `missing-network-policy` judges
    pub workload: Option<Workload>,
    /// a ServiceAccount that sets `automountServiceAccountToken: false`: (namespace, name)
    pub automount_off: Option<(String, String)>,
    /// a pod spec that does not set `automountServiceAccountToken: false`
    pub automount: Option<Automount>,
}

/// Extracts [`Facts`] from one object.
pub fn facts(obj: &Value) -> Facts {
    let p = pod::locate(obj.into());
    Facts {
        network_policy: network_policy(obj),
        workload: p.as_ref().and_then(|p| workload(obj, p)),
        automount_off: automount_off(obj),
        automount: p.as_ref().and_then(|p| pod::automount(obj.into(), p)),
    }
}

/// An Ingress-type NetworkPolicy: its namespace and podSelector (none selects every pod).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicy {
    pub namespace: String,
    pub pod_selector: Option<Value>,
}

pub(crate) fn network_policy(obj: &Value) -> Option<NetworkPolicy> {
    if kind(obj) != "NetworkPolicy" || group(obj) != "networking.k8s.io" {
        return None;
    }
    let ingress = match obj.at("/spec/policyTypes").and_then(Value::as_array) {
        Some(types) => types.iter().any(|t| t.as_str() == Some("Ingress")),
        None => true,
    };
    ingress.then(|| NetworkPolicy {
        namespace: namespace(obj).to_string(),
        pod_selector: obj.at("/spec/podSelector").cloned(),
    })
}

/// A pod-bearing object `missing-network-policy` judges: a Pod that a controller owns is judged
/// through its controller, not on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub namespace: String,
    pub kind: String,
    /// the labels of its pods (the template's, or the Pod's own), sorted by key: a scan keeps
    /// one of these per workload, and a one-entry `Map` (a B-tree node) takes 600 bytes
    pub labels: Vec<(String, Value)>,
}

impl Workload {
    fn label(&self, key: &str) -> Option<&Value> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.labels[i].1)
    }
}

pub(crate) fn workload(obj: &Value, p: &pod::PodRef) -> Option<Workload> {
    if kind(obj) == "Pod" && obj.at("/metadata/ownerReferences").is_some() {
        return None;
    }
    Some(Workload {
        namespace: namespace(obj).to_string(),
        kind: kind(obj).to_string(),
        labels: {
            let mut labels: Vec<(String, Value)> = p
                .template_labels
                .into_iter()
                .flat_map(|l| l.members())
                .map(|(k, v)| (k.to_string(), v.to_value().into_owned()))
                .collect();
            // sorted for `Workload::label` (a `Value` gives its keys in order, a tape does not)
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            labels
        },
    })
}

/// The Ingress-type NetworkPolicies of a set, by namespace.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicies {
    by_namespace: HashMap<String, Vec<Option<Value>>>,
}

impl NetworkPolicies {
    /// Adds the policy an object's facts carry, if any.
    pub fn extend_from(&mut self, f: &Facts) {
        if let Some(p) = &f.network_policy {
            self.add(p.clone());
        }
    }

    pub fn add(&mut self, p: NetworkPolicy) {
        self.by_namespace
            .entry(p.namespace)
            .or_default()
            .push(p.pod_selector);
    }

    /// The `missing-network-policy` finding of a workload that no policy of its namespace
    /// selects.
    pub fn finding(&self, w: &Workload) -> Option<Finding> {
        let covered = self.by_namespace.get(&w.namespace).is_some_and(|ps| {
            ps.iter().any(|sel| {
                sel.as_ref()
                    .is_none_or(|sel| selects_by(sel, |k| w.label(k)))
            })
        });
        (!covered).then(|| Finding {
            check: "missing-network-policy",
            container: None,
            message: format!(
                "no NetworkPolicy in namespace {} selects the pods of this {} for Ingress",
                w.namespace, w.kind
            ),
            at: String::new(),
        })
    }
}

pub(crate) fn automount_off(obj: &Value) -> Option<(String, String)> {
    (kind(obj) == "ServiceAccount"
        && obj.get("automountServiceAccountToken") == Some(&Value::Bool(false)))
    .then(|| (namespace(obj).to_string(), name(obj).to_string()))
}

/// A pod spec that leaves the token mounted unless its ServiceAccount turns it off.
#[derive(Debug, Clone, PartialEq)]
pub struct Automount {
    pub namespace: String,
    /// `serviceAccountName` (or the legacy `serviceAccount`), `default` when unset
    pub service_account: String,
    /// the pod sets `automountServiceAccountToken: true`, which overrides its ServiceAccount
    pub explicit: bool,
    /// the finding to report when [`Context::flags`] says so
    pub finding: Finding,
}

/// What set-level checks know about the other scanned objects.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// ServiceAccounts of the scanned set that set `automountServiceAccountToken: false`:
    /// (namespace, name)
    pub sa_automount_off: HashSet<(String, String)>,
    /// `automount-service-account-token` is left to the caller, who decides with
    /// [`Context::flags`] once the whole set is known
    pub(crate) defer_automount: bool,
    /// the caller wants none of the container credential checks: a pod-security level or the
    /// exec set, on the admission hot path, skips scanning every env value
    pub(crate) skip_credentials: bool,
    /// the checks the caller keeps (pod security's level, the exec set); `None` for all. The
    /// others' findings are not built at all
    pub(crate) only: Option<&'static [&'static str]>,
}

impl Context {
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Context {
        Context {
            sa_automount_off: objects.into_iter().filter_map(automount_off).collect(),
            defer_automount: false,
            skip_credentials: false,
            only: None,
        }
    }

    /// True when a finding of `check` is to be built. The findings another check reads (they
    /// subsume `privilege-escalation-allowed`) are always built, so a subset of checks finds
    /// exactly what the full run finds of it.
    pub(crate) fn wants(&self, check: &str) -> bool {
        const READ_BY_OTHERS: [&str; 2] = ["privileged-container", "cap-sys-admin"];
        self.only
            .is_none_or(|set| set.contains(&check) || READ_BY_OTHERS.contains(&check))
    }

    /// True when `automount-service-account-token` fires on a pod: its ServiceAccount does not
    /// turn the token off, or the pod turns it back on.
    pub fn flags(&self, a: &Automount) -> bool {
        a.explicit
            || !self
                .sa_automount_off
                .contains(&(a.namespace.clone(), a.service_account.clone()))
    }
}
