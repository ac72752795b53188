//! Protection weakening (docs/cli.md §7): what the new bundle no longer protects that the old
//! one did. A webhook configuration, a webhook or the guard removed; failurePolicy Fail →
//! Ignore; operations or resources no longer intercepted; namespaces added to the exclusions;
//! an objectSelector or matchConditions that now filters; a lower pod-security default or
//! level; a NetworkPolicy removed.

use std::collections::BTreeSet;

use ork_katalog::posture::Resolved;
use ork_katalog::settings::{BuiltinProfile, PodSecurityLevel, Profile};
use serde::Serialize;
use serde_json::Value;

use super::diff::Key;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weakening {
    /// `ValidatingWebhookConfiguration orkestra-admission-validation`, `Katalog website`
    pub object: String,
    pub change: String,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// (group, resource, operation) of admission rules, `*` kept as written.
type Intercept = (String, String, String);

fn intercepts(rules: &Value) -> BTreeSet<Intercept> {
    let mut out = BTreeSet::new();
    for r in rules.as_array().into_iter().flatten() {
        for g in strings(&r["apiGroups"]) {
            for res in strings(&r["resources"]) {
                for op in strings(&r["operations"]) {
                    out.insert((g.clone(), res.clone(), op));
                }
            }
        }
    }
    out
}

/// What `old` intercepted that nothing in `new` still does.
fn dropped(old: &BTreeSet<Intercept>, new: &BTreeSet<Intercept>) -> Vec<String> {
    let any = |x: &str, y: &str| x == "*" || x == y;
    old.iter()
        .filter(|(g, r, op)| {
            !new.iter()
                .any(|(ng, nr, nop)| any(ng, g) && any(nr, r) && any(nop, op))
        })
        .map(|(g, r, op)| {
            let group = if g.is_empty() { "core" } else { g };
            format!("{op} {r} ({group})")
        })
        .collect()
}

/// The namespaces a selector's `matchExpressions` on `kubernetes.io/metadata.name` exclude
/// (`NotIn`) and, when it has one, the `In` list it is limited to.
fn selector(sel: &Value) -> (BTreeSet<String>, Option<BTreeSet<String>>) {
    let mut not_in = BTreeSet::new();
    let mut within: Option<BTreeSet<String>> = None;
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        if e["key"] != "kubernetes.io/metadata.name" {
            continue;
        }
        let values: BTreeSet<String> = strings(&e["values"]).into_iter().collect();
        match e["operator"].as_str() {
            Some("NotIn") => not_in.extend(values),
            Some("In") => {
                within = Some(match within {
                    Some(w) => w.intersection(&values).cloned().collect(),
                    None => values,
                })
            }
            _ => {}
        }
    }
    (not_in, within)
}

fn join(set: impl IntoIterator<Item = String>) -> String {
    set.into_iter().collect::<Vec<_>>().join(", ")
}

fn webhook_changes(old: &Value, new: &Value, label: &str, out: &mut Vec<String>) {
    if old["failurePolicy"] == "Fail" && new["failurePolicy"] != "Fail" {
        out.push(format!(
            "{label}failurePolicy Fail → {}",
            new["failurePolicy"].as_str().unwrap_or("Ignore")
        ));
    }
    let gone = dropped(&intercepts(&old["rules"]), &intercepts(&new["rules"]));
    if !gone.is_empty() {
        out.push(format!("{label}no longer intercepts {}", gone.join(", ")));
    }
    narrowed_match(old, new, label, out);
    let (old_out, old_in) = selector(&old["namespaceSelector"]);
    let (new_out, new_in) = selector(&new["namespaceSelector"]);
    let excluded: Vec<String> = new_out.difference(&old_out).cloned().collect();
    if !excluded.is_empty() {
        out.push(format!("{label}namespaces excluded: {}", join(excluded)));
    }
    match (old_in, new_in) {
        (None, Some(w)) => out.push(format!(
            "{label}now only in namespaces: {}",
            join(w.into_iter())
        )),
        (Some(o), Some(n)) => {
            let lost: Vec<String> = o.difference(&n).cloned().collect();
            if !lost.is_empty() {
                out.push(format!(
                    "{label}namespaces no longer covered: {}",
                    join(lost)
                ));
            }
        }
        _ => {}
    }
}

/// A label selector that selects everything: absent, null, or no labels and no expressions.
fn selects_all(sel: Option<&Value>) -> bool {
    sel.is_none_or(|s| {
        s.is_null()
            || (s["matchLabels"].as_object().is_none_or(|m| m.is_empty())
                && s["matchExpressions"]
                    .as_array()
                    .is_none_or(|e| e.is_empty()))
    })
}

/// The (name, expression) pairs of `matchConditions`.
fn conditions(v: &Value) -> BTreeSet<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("name"), text("expression"))
        })
        .collect()
}

/// An objectSelector or matchConditions that now filters where it did not, or filters
/// differently: either can only narrow what is intercepted, and how far cannot be ranked, so a
/// reviewer must look. Removing one only widens, and is not listed.
fn narrowed_match(old: &Value, new: &Value, label: &str, out: &mut Vec<String>) {
    let (old_sel, new_sel) = (old.get("objectSelector"), new.get("objectSelector"));
    if !selects_all(new_sel) && (selects_all(old_sel) || old_sel != new_sel) {
        out.push(format!(
            "{label}objectSelector now {}: may intercept fewer objects",
            new_sel.map(Value::to_string).unwrap_or_default()
        ));
    }
    let before = conditions(&old["matchConditions"]);
    let added: Vec<String> = conditions(&new["matchConditions"])
        .difference(&before)
        .map(|(name, _)| name.clone())
        .collect();
    if !added.is_empty() {
        out.push(format!(
            "{label}matchConditions added or changed: {}: may intercept fewer requests",
            added.join(", ")
        ));
    }
}

/// A webhook configuration's weakenings.
fn configuration(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let hooks = |v: &Value| v["webhooks"].as_array().cloned().unwrap_or_default();
    let (old_hooks, new_hooks) = (hooks(old), hooks(new));
    let several = old_hooks.len() > 1 || new_hooks.len() > 1;
    for o in &old_hooks {
        let name = o["name"].as_str().unwrap_or_default();
        match new_hooks.iter().find(|n| n["name"] == name) {
            None => out.push(format!("webhook {name} removed")),
            Some(n) => {
                let label = if several {
                    format!("webhook {name}: ")
                } else {
                    String::new()
                };
                webhook_changes(o, n, &label, &mut out);
            }
        }
    }
    out
}

/// The guard policy's and binding's weakenings.
fn guard(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if old.pointer("/spec/failurePolicy") == Some(&Value::from("Fail"))
        && new.pointer("/spec/failurePolicy") != Some(&Value::from("Fail"))
    {
        out.push(format!(
            "failurePolicy Fail → {}",
            new.pointer("/spec/failurePolicy")
                .and_then(Value::as_str)
                .unwrap_or("Ignore")
        ));
    }
    let actions = |v: &Value| strings(&v["spec"]["validationActions"]);
    if actions(old).iter().any(|a| a == "Deny") && !actions(new).iter().any(|a| a == "Deny") {
        out.push("validationActions no longer Deny".into());
    }
    narrowed_match(&old["spec"], &new["spec"], "", &mut out);
    let rules = |v: &Value| intercepts(&v["spec"]["matchConstraints"]["resourceRules"]);
    let gone = dropped(&rules(old), &rules(new));
    if !gone.is_empty() {
        out.push(format!("no longer matches {}", gone.join(", ")));
    }
    out
}

fn level_rank(l: PodSecurityLevel) -> u8 {
    match l {
        PodSecurityLevel::Privileged => 0,
        PodSecurityLevel::Baseline => 1,
        PodSecurityLevel::Restricted => 2,
    }
}

/// A built-in profile's strength; a user profile cannot be ranked.
fn profile_rank(p: &Profile) -> Option<u8> {
    match p {
        Profile::Builtin(BuiltinProfile::None) => Some(0),
        Profile::Builtin(BuiltinProfile::Baseline) => Some(1),
        Profile::Builtin(BuiltinProfile::Restricted) => Some(2),
        Profile::Builtin(BuiltinProfile::Hardened) => Some(3),
        Profile::User(_) => None,
    }
}

/// The pod-security settings of two installed Katalogs. A change between profiles that cannot
/// be ranked (a user profile) is reported: it may be weaker, and a reviewer must look.
pub fn pod_security(object: &str, old: &Resolved, new: &Resolved) -> Vec<Weakening> {
    let mut out = Vec::new();
    if level_rank(new.ps_level) < level_rank(old.ps_level) {
        out.push(Weakening {
            object: object.to_string(),
            change: format!(
                "security.podSecurity.level {} → {}",
                old.ps_level, new.ps_level
            ),
        });
    }
    if old.ps_default != new.ps_default {
        let weaker = match (profile_rank(&old.ps_default), profile_rank(&new.ps_default)) {
            (Some(o), Some(n)) => n < o,
            _ => true,
        };
        if weaker {
            out.push(Weakening {
                object: object.to_string(),
                change: format!(
                    "security.podSecurity.default {} → {}",
                    old.ps_default, new.ps_default
                ),
            });
        }
    }
    out
}

/// The weakenings of the objects of `new` against `old`, in the old bundle's order.
pub fn objects(old: &[Value], new: &[Value]) -> Vec<Weakening> {
    let mut out = Vec::new();
    for o in old {
        let key = Key::of(o);
        let kind = key.kind.as_str();
        let admission = key.group == "admissionregistration.k8s.io";
        let watched = (admission
            && matches!(
                kind,
                "ValidatingWebhookConfiguration"
                    | "MutatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
            ))
            || (key.group == "networking.k8s.io" && kind == "NetworkPolicy");
        if !watched {
            continue;
        }
        let object = key.to_string();
        let Some(n) = new.iter().find(|n| Key::of(n) == key) else {
            out.push(Weakening {
                object,
                change: "removed".into(),
            });
            continue;
        };
        let changes = match kind {
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
                configuration(o, n)
            }
            "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding" => guard(o, n),
            _ => Vec::new(),
        };
        out.extend(changes.into_iter().map(|change| Weakening {
            object: object.clone(),
            change,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vwc(hooks: Value) -> Value {
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
               "metadata": {"name": "orkestra-deletion-protection"}, "webhooks": hooks})
    }

    fn hook(name: &str, policy: &str, ops: Value, not_in: Value) -> Value {
        json!({"name": name, "failurePolicy": policy,
               "rules": [{"apiGroups": ["apps"], "apiVersions": ["*"], "resources": ["deployments", "statefulsets"], "operations": ops}],
               "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": not_in}]}})
    }

    #[test]
    fn each_kind_of_weakening_is_named() {
        let old = vec![
            vwc(json!([
                hook(
                    "a",
                    "Fail",
                    json!(["DELETE", "UPDATE"]),
                    json!(["kube-system"])
                ),
                hook("b", "Fail", json!(["DELETE"]), json!([]))
            ])),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "orkestra-egress", "namespace": "o"}}),
        ];
        let new = vec![vwc(json!([hook(
            "a",
            "Ignore",
            json!(["DELETE"]),
            json!(["kube-system", "team-x"])
        )]))];
        let got: Vec<String> = objects(&old, &new)
            .into_iter()
            .map(|w| format!("{}: {}", w.object, w.change))
            .collect();
        assert_eq!(
            got,
            [
                "ValidatingWebhookConfiguration orkestra-deletion-protection: webhook a: failurePolicy Fail → Ignore",
                "ValidatingWebhookConfiguration orkestra-deletion-protection: webhook a: no longer intercepts UPDATE deployments (apps), UPDATE statefulsets (apps)",
                "ValidatingWebhookConfiguration orkestra-deletion-protection: webhook a: namespaces excluded: team-x",
                "ValidatingWebhookConfiguration orkestra-deletion-protection: webhook b removed",
                "NetworkPolicy o/orkestra-egress: removed",
            ]
        );
        // the reverse is a strengthening: nothing to report
        let back: Vec<Weakening> = objects(&new, &new);
        assert!(back.is_empty());
    }

    #[test]
    fn a_wildcard_still_covers_what_it_replaces() {
        let old: BTreeSet<Intercept> =
            [("apps".into(), "deployments".into(), "DELETE".into())].into();
        let new: BTreeSet<Intercept> = [("*".into(), "*".into(), "DELETE".into())].into();
        assert!(dropped(&old, &new).is_empty());
        assert_eq!(dropped(&new, &old), ["DELETE * (*)"]);
    }
}
