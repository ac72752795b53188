//! The decision corpus as real API requests: each admission case becomes the request a client
//! would send (impersonating the case's user and groups, `dryRun=All`), the API server calls
//! the Gateway over TLS, and what the client gets back is compared with `decide`.
//!
//! Objects a case presumes — the stored object of an UPDATE or DELETE, the peers of a
//! `unique` rule, the Pod of an exec, the namespace's labels — are created while no ork webhook
//! is registered. Cases whose setups collide run in separate batches, each with a Gateway
//! started for it and removed after it.
//!
//! What the API server adds is accounted for: it runs mutating webhooks, then all validating
//! webhooks and the guard policy in parallel and reports one denial. So a denial is matched to
//! the webhook the API server names, and its message must be exactly what `decide` says at
//! that webhook's layers.

#![allow(dead_code)]

use std::collections::BTreeMap;

use ork_policy::{Layer, Layers, PreparedKatalog};
use serde_json::{Value, json};

use crate::decisions::{self, Case};
use crate::support::cluster::{self, Answer, As, e};

pub const SETUP_FINALIZER: &str = "ork.test/hold";

/// Fills in what the API server's own validation requires and no ork decision reads: a
/// workload's selector and template labels, a Job's restartPolicy, a Secret's type.
pub fn complete(obj: &Value) -> Value {
    let mut o = obj.clone();
    let kind = o
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("x")
        .to_string();
    let sel = json!({"ork-test/app": name});
    let template_at = match kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => Some("/spec/template"),
        "ReplicationController" => Some("/spec/template"),
        "CronJob" => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    };
    if let Some(at) = template_at {
        if let Some(t) = o.pointer_mut(at).and_then(Value::as_object_mut) {
            let meta = t.entry("metadata").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("ork-test/app".into(), json!(name));
                }
            }
            if matches!(kind.as_str(), "Job" | "CronJob")
                && let Some(spec) = t.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.entry("restartPolicy")
                    .or_insert_with(|| json!("Never"));
            }
        }
        if matches!(
            kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        ) && let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.entry("selector")
                .or_insert_with(|| json!({"matchLabels": sel}));
        }
        if kind == "ReplicationController"
            && let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.entry("selector").or_insert_with(|| sel.clone());
        }
    }
    if kind == "CustomResourceDefinition" && o.get("spec").is_none() {
        // a CRD the Katalog does not define: a minimal valid one of that name
        let (plural, group) = name
            .split_once('.')
            .unwrap_or((name.as_str(), "example.io"));
        let kind_name = format!("X{plural}");
        o["spec"] = json!({"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural, "kind": kind_name, "listKind": format!("{kind_name}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]});
    }
    if matches!(
        kind.as_str(),
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"
    ) {
        // someone else's configuration: its webhooks do not matter to the guard, and a
        // partial one would not be valid
        if let Some(m) = o.as_object_mut() {
            m.insert("webhooks".into(), json!([]));
        }
    }
    o
}

/// The object's identity in the cluster: group (not version), kind, namespace and name.
fn key(o: &Value) -> String {
    let api = o["apiVersion"].as_str().unwrap_or_default();
    format!(
        "{} {} {}/{}",
        api.rsplit_once('/').map(|(g, _)| g).unwrap_or(""),
        o["kind"].as_str().unwrap_or_default(),
        o.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        o.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    )
}

/// The objects ork's Gateway owns: never created by a setup, read live instead.
fn owned_by_gateway(o: &Value) -> bool {
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = o["kind"].as_str().unwrap_or_default();
    (matches!(
        kind,
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"
    ) && ork_policy::prepared::WEBHOOK_CONFIGURATIONS.contains(&name))
        || (matches!(
            kind,
            "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding"
        ) && name == ork_policy::prepared::GUARD_POLICY)
}

fn namespace_of(case: &Case) -> Option<String> {
    case.subject()
        .and_then(|s| s.pointer("/metadata/namespace"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// What a case needs in the cluster before its request: key → object.
pub fn needs(case: &Case, k: &PreparedKatalog) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(ns) = namespace_of(case) {
        let labels: serde_json::Map<String, Value> = case
            .namespace_labels
            .iter()
            .filter(|(k, _)| k != "kubernetes.io/metadata.name")
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let o = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}});
        out.insert(key(&o), o);
    }
    // the Katalog's own CRDs are installed before any case
    let katalog_crd = |o: &Value| {
        o["kind"] == "CustomResourceDefinition"
            && k.crds.iter().any(|c| {
                o.pointer("/metadata/name").and_then(Value::as_str)
                    == Some(&format!("{}.{}", c.api.plural, c.api.group))
            })
    };
    let mut add = |o: &Value| {
        if !owned_by_gateway(o) && !katalog_crd(o) {
            out.insert(key(o), complete(o));
        }
    };
    match case.operation.as_str() {
        "UPDATE" | "DELETE" => {
            if let Some(o) = &case.old_object {
                add(o);
            }
        }
        "CONNECT" => {
            if let Some(o) = &case.object {
                add(o);
            }
        }
        _ => {}
    }
    for p in case.peers.iter().flatten() {
        add(p);
    }
    // a CREATE needs its name free, or the API server answers AlreadyExists after admission
    // and the mutated object is never seen (null: must not exist)
    if case.operation == "CREATE"
        && let Some(o) = &case.object
    {
        out.entry(key(o)).or_insert(Value::Null);
    }
    // a kind with a `unique` rule: the Gateway's cache holds every object of it, so cases
    // that need different sets of them (peers, stored objects) never share a batch
    for c in k.crds.iter().filter(|c| {
        c.validation
            .iter()
            .any(|r| r.condition.operator == ork_katalog::Operator::Unique)
    }) {
        let api = c.api.api_version();
        let mine: Vec<String> = out
            .iter()
            .filter(|(_, o)| o["apiVersion"] == json!(api) && o["kind"] == json!(c.api.kind))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.insert(
            format!("unique-set {}/{}", c.api.group, c.api.kind),
            json!(mine),
        );
    }
    out
}

/// Where a workload kind keeps its pod spec.
fn pod_spec_at(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        "Pod" => Some("/spec"),
        _ => None,
    }
}

/// Why a case cannot be sent through the API server, if it cannot.
pub fn unreplayable(case: &Case, k: &PreparedKatalog) -> Option<&'static str> {
    if case.point != "admission" {
        return Some("reconcile point: replayed through the runtime");
    }
    for o in [&case.object, &case.old_object].into_iter().flatten() {
        let api = o["apiVersion"].as_str().unwrap_or_default();
        let kind = o["kind"].as_str().unwrap_or_default();
        let Some((_, namespaced)) = cluster::api_of(api, kind, Some(k)) else {
            return Some("a kind the API server does not serve");
        };
        if namespaced && o.pointer("/metadata/namespace").is_none() {
            return Some("the API server always sets a namespaced object's namespace");
        }
        let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        if matches!(group, "" | "apps" | "batch")
            && let Some(at) = pod_spec_at(kind)
            && o.pointer(&format!("{at}/containers")).is_none()
        {
            return Some("the API server requires a pod template with containers");
        }
    }
    match case.operation.as_str() {
        "CREATE" if case.object.is_none() => Some("no object to create"),
        "UPDATE" if case.object.is_none() || case.old_object.is_none() => {
            Some("an UPDATE without both objects cannot be sent")
        }
        "DELETE" if case.old_object.is_none() && case.object.is_none() => {
            Some("a DELETE of nothing is answered NotFound before admission")
        }
        "CONNECT" if case.object.as_ref().is_none_or(|o| o["kind"] != "Pod") => {
            Some("an exec into a missing Pod is answered NotFound before admission")
        }
        _ if case.subject().is_none() => Some("no object"),
        _ => None,
    }
}

/// Splits cases into batches whose setups agree.
pub fn batches(cases: Vec<Case>, k: &PreparedKatalog) -> Vec<Vec<Case>> {
    let mut out: Vec<(BTreeMap<String, Value>, Vec<Case>)> = Vec::new();
    for c in cases {
        let n = needs(&c, k);
        let fits = |have: &BTreeMap<String, Value>| {
            n.iter().all(|(k, v)| have.get(k).is_none_or(|h| h == v))
        };
        match out.iter_mut().find(|(have, _)| fits(have)) {
            Some((have, list)) => {
                have.extend(n);
                list.push(c);
            }
            None => out.push((n, vec![c])),
        }
    }
    out.into_iter().map(|(_, l)| l).collect()
}

/// Creates what a batch needs; returns the objects to remove afterwards.
pub async fn set_up(
    client: &kube::Client,
    k: &PreparedKatalog,
    batch: &[Case],
) -> Result<Vec<Value>, String> {
    let mut all = BTreeMap::new();
    for c in batch {
        all.extend(needs(c, k));
    }
    let mut created = Vec::new();
    // namespaces first
    let (namespaces, objects): (Vec<_>, Vec<_>) = all
        .into_iter()
        .filter(|(k, v)| !k.starts_with("unique-set ") && !v.is_null())
        .map(|(_, v)| v)
        .partition(|o| o["kind"] == "Namespace");
    for ns in namespaces {
        cluster::apply(client, &ns).await?;
        if let Some(name) = ns.pointer("/metadata/name").and_then(Value::as_str) {
            cluster::default_service_account(client, name).await?;
        }
    }
    for o in objects {
        let mut body = o.clone();
        let terminating = body.pointer("/metadata/deletionTimestamp").is_some();
        let ephemeral = body
            .pointer_mut("/spec")
            .and_then(Value::as_object_mut)
            .and_then(|s| s.remove("ephemeralContainers"));
        if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("deletionTimestamp");
            if terminating {
                m.insert("finalizers".into(), json!([SETUP_FINALIZER]));
            }
        }
        let path = cluster::path_of(&body, Some(k), false)
            .ok_or_else(|| format!("no path for {}", key(&body)))?;
        let a = cluster::send(client, "POST", &path, Some(&body), &As::admin()).await?;
        if !a.ok() {
            return Err(format!(
                "setup {}: {} {}",
                key(&body),
                a.status,
                a.message()
            ));
        }
        let named = cluster::path_of(&body, Some(k), true).ok_or("no path")?;
        if let Some(eph) = ephemeral {
            let mut live = a.body.clone();
            live["spec"]["ephemeralContainers"] = eph;
            let r = cluster::send(
                client,
                "PUT",
                &format!("{named}/ephemeralcontainers"),
                Some(&live),
                &As::admin(),
            )
            .await?;
            if !r.ok() {
                return Err(format!(
                    "setup {} ephemeral containers: {}",
                    key(&body),
                    r.message()
                ));
            }
        }
        if terminating {
            let r = cluster::send(client, "DELETE", &named, None, &As::admin()).await?;
            if !r.ok() {
                return Err(format!(
                    "setup {}: could not start its deletion: {}",
                    key(&body),
                    r.message()
                ));
            }
        }
        created.push(body);
    }
    Ok(created)
}

/// Removes what a batch created and waits until it is gone.
pub async fn tear_down(
    client: &kube::Client,
    k: &PreparedKatalog,
    created: &[Value],
) -> Result<(), String> {
    for o in created {
        let Some(named) = cluster::path_of(o, Some(k), true) else {
            continue;
        };
        let patch = json!({"metadata": {"finalizers": null}});
        let req = http::Request::builder()
            .method("PATCH")
            .uri(&named)
            .header("Content-Type", "application/merge-patch+json")
            .body(kube::client::Body::from(patch.to_string().into_bytes()))
            .map_err(e)?;
        let _ = client.send(req).await;
        let _ = cluster::send(
            client,
            "DELETE",
            &format!("{named}?gracePeriodSeconds=0"),
            None,
            &As::admin(),
        )
        .await?;
    }
    for o in created {
        let Some(named) = cluster::path_of(o, Some(k), true) else {
            continue;
        };
        cluster::eventually(
            &format!("{} gone", key(o)),
            std::time::Duration::from_secs(30),
            || async {
                Ok(cluster::send(client, "GET", &named, None, &As::admin())
                    .await?
                    .status
                    == 404)
            },
        )
        .await?;
    }
    Ok(())
}

fn who(case: &Case) -> As {
    As {
        user: Some(case.user.clone()),
        groups: case.groups.clone(),
    }
}

/// Sends the case's request as its user, dry-run; `None` when the request is about an object
/// of ork's that this Katalog's Gateway does not register (the API server answers NotFound).
pub async fn send(
    client: &kube::Client,
    k: &PreparedKatalog,
    case: &Case,
) -> Result<Option<Answer>, String> {
    let who = who(case);
    let answer = match case.operation.as_str() {
        "CREATE" => {
            let obj = complete(case.object.as_ref().ok_or("no object")?);
            let path = cluster::path_of(&obj, Some(k), false).ok_or("no path")?;
            cluster::send(
                client,
                "POST",
                &format!("{path}?dryRun=All"),
                Some(&obj),
                &who,
            )
            .await
        }
        "UPDATE" => {
            let new = case.object.as_ref().ok_or("no object")?;
            let named = cluster::path_of(new, Some(k), true).ok_or("no path")?;
            let live = cluster::send(client, "GET", &named, None, &As::admin()).await?;
            if live.status == 404 && owned_by_gateway(new) {
                return Ok(None);
            }
            if !live.ok() {
                return Err(format!("the stored object is missing: {}", live.message()));
            }
            if case.subresource.as_deref() == Some("scale") {
                let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": live.body["metadata"]["name"], "namespace": live.body["metadata"]["namespace"],
                                 "resourceVersion": live.body["metadata"]["resourceVersion"]},
                    "spec": {"replicas": new.pointer("/spec/replicas").cloned().unwrap_or(json!(1))}});
                return cluster::send(
                    client,
                    "PUT",
                    &format!("{named}/scale?dryRun=All"),
                    Some(&scale),
                    &who,
                )
                .await
                .map(Some);
            }
            let mut body = if owned_by_gateway(new) {
                // ork's own object as it is, with the case's labels
                let mut b = live.body.clone();
                if let Some(l) = new.pointer("/metadata/labels") {
                    b["metadata"]["labels"] = l.clone();
                }
                b
            } else {
                complete(new)
            };
            let meta = &live.body["metadata"];
            body["metadata"]["resourceVersion"] = meta["resourceVersion"].clone();
            if live.body.pointer("/metadata/finalizers").is_some()
                && body.pointer("/metadata/finalizers").is_none()
            {
                body["metadata"]["finalizers"] = meta["finalizers"].clone();
            }
            let sub = case
                .subresource
                .as_deref()
                .map(|s| format!("/{s}"))
                .unwrap_or_default();
            cluster::send(
                client,
                "PUT",
                &format!("{named}{sub}?dryRun=All"),
                Some(&body),
                &who,
            )
            .await
        }
        "DELETE" => {
            let stored = case
                .old_object
                .as_ref()
                .or(case.object.as_ref())
                .ok_or("no object")?;
            let named = cluster::path_of(stored, Some(k), true).ok_or("no path")?;
            let a =
                cluster::send(client, "DELETE", &format!("{named}?dryRun=All"), None, &who).await?;
            if a.status == 404 && owned_by_gateway(stored) {
                return Ok(None);
            }
            Ok(a)
        }
        "CONNECT" => {
            let pod = case.object.as_ref().ok_or("no object")?;
            let named = cluster::path_of(pod, Some(k), true).ok_or("no path")?;
            let query = match case.subresource.as_deref() {
                Some("attach") => "attach?stdout=true",
                Some("exec") => "exec?command=true&stdout=true",
                Some("portforward") => "portforward?ports=80",
                Some(other) => return Err(format!("CONNECT {other} is not replayed")),
                None => return Err("CONNECT without a subresource".into()),
            };
            cluster::send(client, "POST", &format!("{named}/{query}"), None, &who).await
        }
        op => Err(format!("operation {op}")),
    };
    answer.map(Some)
}

/// The webhook (or the guard) the API server names in a denial.
fn denying_webhook(message: &str) -> Option<ork_gateway::webhooks::Webhook> {
    use ork_gateway::webhooks::Webhook;
    let name = message
        .split("admission webhook \"")
        .nth(1)?
        .split('"')
        .next()?;
    Some(match name {
        "validate.orkestra.orkspace.io" => Webhook::Validate,
        "mutate.orkestra.orkspace.io" => Webhook::Mutate,
        "protect.crds.orkestra.orkspace.io" | "protect.resources.orkestra.orkspace.io" => {
            Webhook::DeletionProtection
        }
        "strict-mode.orkestra.orkspace.io" => Webhook::StrictMode,
        "namespace-protect.orkestra.orkspace.io" => Webhook::NamespaceProtection,
        "pod-security.orkestra.orkspace.io" => Webhook::PodSecurity,
        "exec-protection.orkestra.orkspace.io" => Webhook::ExecProtection,
        _ => return None,
    })
}

/// `decide` on the case, at `layers`, with the peers the Gateway's cache holds.
fn decide_at(k: &PreparedKatalog, case: &Case, layers: Layers) -> ork_policy::Verdict {
    let mut c = case.clone();
    if c.peers.is_none() {
        c.peers = Some(Vec::new());
    }
    decisions::verdict_at(k, &c, layers)
}

/// Compares what the client got with `decide`; the error says every difference.
pub fn compare(k: &PreparedKatalog, case: &Case, a: &Answer) -> Result<(), String> {
    let full = decide_at(k, case, Layers::ALL);
    let mut diffs = Vec::new();
    let denied = a.denied_by_ork();
    let allowed = !denied
        && (a.ok()
            || (case.operation == "CREATE" && a.status == 409)
            || (case.operation == "CONNECT" && a.status != 403));
    if !denied && !allowed {
        return Err(format!(
            "{} / {}: the API server answered {} {} (neither an ork verdict nor an allow)",
            case.file,
            case.name,
            a.status,
            a.message()
        ));
    }
    let want_deny = !full.allowed();
    if denied != want_deny {
        diffs.push(format!(
            "{} through the API server, decide says {} ({:?})",
            if denied { "denied" } else { "allowed" },
            full.decision().as_str(),
            a.message()
        ));
    } else if denied {
        let msg = a.message();
        let expected = if msg.contains("ValidatingAdmissionPolicy") {
            decide_at(k, case, Layers::only(&[Layer::ControlPlane]))
        } else if let Some(w) = denying_webhook(&msg) {
            decide_at(k, case, w.layers())
        } else {
            return Err(format!(
                "{} / {}: denied by an unknown party: {msg}",
                case.file, case.name
            ));
        };
        let m = expected.message();
        if m.is_empty() || !msg.ends_with(&m) {
            diffs.push(format!("message {msg:?} does not end with decide's {m:?}"));
        }
        if a.status != expected.code() {
            diffs.push(format!(
                "HTTP {} (decide at that webhook: {})",
                a.status,
                expected.code()
            ));
        }
    } else {
        for w in &full.warnings {
            if !a.warnings.iter().any(|x| x == w) {
                diffs.push(format!("warning {w:?} missing from {:?}", a.warnings));
            }
        }
        if !full.patch.0.is_empty() && matches!(case.operation.as_str(), "CREATE" | "UPDATE") {
            let mut want = case.object.clone().unwrap_or(Value::Null);
            if json_patch::patch(&mut want, &full.patch).is_ok() {
                for op in &full.patch.0 {
                    let p = op.path().to_string();
                    if a.body.pointer(&p) != want.pointer(&p) {
                        diffs.push(format!(
                            "after mutation {p} is {:?}, decide's patch gives {:?}",
                            a.body.pointer(&p),
                            want.pointer(&p)
                        ));
                    }
                }
            }
        }
    }
    // the corpus's own expectation, where the cluster state is the case's
    let exp = case
        .expect
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or("allow");
    if exp != "undetermined" && (exp == "deny") != denied {
        diffs.push(format!("the case expects {exp}"));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} / {}: {}",
            case.file,
            case.name,
            diffs.join("; ")
        ))
    }
}
