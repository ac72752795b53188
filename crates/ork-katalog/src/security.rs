//! Security stage (docs/security.md §2.6): enumerations, namespace patterns, capabilities, profiles,
//! Gateway consistency; the warnings of the security model.

use serde_json::Value;

use crate::coerce::{CAPABILITIES, capability};
use crate::diag::{Sink, did_you_mean};
use crate::model::Katalog;
use crate::posture::{Resolved, process_env, resolve};
use crate::settings::{BuiltinProfile, Operation, PodSecurityLevel, Profile};
use crate::templates::entries;

/// Resources that can never be protected (G5): deleting them is how Kubernetes and ork work.
pub const FORBIDDEN_PROTECTED: &[&str] = &[
    "leases",
    "events",
    "customresourcedefinitions",
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
];

/// A namespace pattern: exact name, `prefix*`, `*suffix` or `*`.
pub fn check_pattern(p: &str) -> Result<(), String> {
    if p == "*" {
        return Ok(());
    }
    let core = p
        .strip_suffix('*')
        .or_else(|| p.strip_prefix('*'))
        .unwrap_or(p);
    if p.len() > 63 {
        return Err(format!(
            "namespace pattern {p:?} is longer than 63 characters"
        ));
    }
    if core.contains('*') || core.is_empty() {
        return Err(format!(
            "namespace pattern {p:?} is not an exact name, prefix*, *suffix or *"
        ));
    }
    if !core
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "namespace pattern {p:?} may only hold lower-case letters, digits and '-'"
        ));
    }
    Ok(())
}

/// Runs the security stage and returns the resolved settings when they all parse.
pub fn check(k: &Katalog, raw: &Value, sink: &mut Sink) -> Option<Resolved> {
    let spans = &k.spans;
    // the resolver is the one parser of every security setting; its errors are this stage's
    let r = match resolve(k, &process_env) {
        Ok(r) => Some(r),
        Err(errors) => {
            for e in errors {
                let span = if e.path.is_empty() {
                    ork_yaml::Span { line: 1, col: 1 }
                } else {
                    spans.value(&e.path)
                };
                sink.push(
                    crate::diag::Severity::Error,
                    span,
                    &e.path,
                    e.message,
                    e.hint,
                );
            }
            None
        }
    };
    if let Some(groups) = k
        .security
        .webhooks
        .as_ref()
        .and_then(|w| w.break_glass_groups.as_ref())
    {
        for (i, g) in groups.iter().enumerate() {
            let t = g.trim();
            if t.is_empty()
                || TOO_BROAD_GROUPS.contains(&t)
                || t.starts_with("system:serviceaccounts:")
            {
                let p = format!("security.webhooks.breakGlassGroups[{i}]");
                sink.error_hint(
                    spans.value(&p),
                    &p,
                    format!("{g:?} cannot be a break-glass group: it holds more than the few who may bypass the guard"),
                    "name a dedicated group such as system:masters or platform-break-glass",
                );
            }
        }
    }
    for crd in &k.crds {
        // the API server matches groups and resources exactly and in lower case: any other
        // spelling would match no request, and every rule and protection would be off
        let group_ok =
            crate::coerce::is_dns1123_subdomain(&crd.api.group) && crd.api.group.contains('.');
        if !group_ok || !crate::coerce::is_dns1123_label(&crd.api.plural) {
            let p = format!("{}.apiTypes", crd.path);
            sink.error(
                spans.value(&p),
                &p,
                format!(
                    "group {:?} and plural {:?} must be lower case (a DNS subdomain with a dot, and a DNS label)",
                    crd.api.group, crd.api.plural
                ),
            );
        }
    }
    for crd in &k.crds {
        for (i, op) in crd.entry.webhooks.operations.iter().flatten().enumerate() {
            let admissible = matches!(
                op.parse::<Operation>(),
                Ok(Operation::Create | Operation::Update | Operation::Delete)
            );
            if !admissible {
                let p = format!("{}.webhooks.operations[{i}]", crd.path);
                sink.error_hint(
                    spans.value(&p),
                    &p,
                    format!("operation {op:?} is not CREATE, UPDATE or DELETE"),
                    "webhooks.operations lists the admission operations the rules run on",
                );
            }
        }
    }
    if let Some(t) = k.security.webhooks.as_ref().and_then(|w| w.timeout_seconds)
        && !(1..=5).contains(&t)
    {
        let p = "security.webhooks.timeoutSeconds";
        sink.error(
            spans.value(p),
            p,
            format!("timeoutSeconds {t} is outside 1–5"),
        );
    }
    // pod security
    let user_container: Vec<String> = k
        .profiles
        .container_security
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let user_pod: Vec<String> = k
        .profiles
        .pod_security
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    if let Some(d) = &k.security.pod_security.default
        && d.trim().eq_ignore_ascii_case("none")
    {
        let p = "security.podSecurity.default";
        sink.warn(
            spans.value(p),
            p,
            "podSecurity.default none: templates without a profile get no security context",
        );
    }
    if r.as_ref().map(|r| r.ps_level) == Some(PodSecurityLevel::Privileged) {
        let p = "security.podSecurity.level";
        sink.warn(
            spans.value(p),
            p,
            "podSecurity.level privileged turns the pod-security backstop off",
        );
    }
    for (list, key) in [
        (&k.profiles.container_security, "containerSecurity"),
        (&k.profiles.pod_security, "podSecurity"),
    ] {
        let mut seen = Vec::new();
        for (i, prof) in list.iter().enumerate() {
            let p = format!("profiles.{key}[{i}]");
            let name = prof.get("name").and_then(Value::as_str).unwrap_or("");
            if seen.contains(&name) {
                sink.error(
                    spans.value(&p),
                    &p,
                    format!("duplicate profile name {name:?}"),
                );
            }
            seen.push(name);
            capabilities(prof, &p, k, sink);
        }
    }
    // per entry security contexts
    for crd in &k.crds {
        let Some(base) = raw.pointer("/spec/crds").and_then(|m| m.get(&crd.name)) else {
            continue;
        };
        for e in entries(base, &crd.path) {
            for (block, users) in [
                ("securityContext", &user_container),
                ("podSecurity", &user_pod),
            ] {
                let Some(sc) = e.value.get(block) else {
                    continue;
                };
                let p = format!("{}.{block}", e.path);
                if let Some(profile) = sc.get("profile").and_then(Value::as_str) {
                    let pp = format!("{p}.profile");
                    if !ork_template::is_template(profile) {
                        let names: Vec<&str> = users.iter().map(String::as_str).collect();
                        // the resolver the renderer uses decides what a name means
                        if Profile::resolve(profile, &names).is_none() {
                            let cands: Vec<&str> = BuiltinProfile::NAMES
                                .iter()
                                .copied()
                                .chain(names.iter().copied())
                                .collect();
                            let hint = did_you_mean(profile, cands).map(|s| format!("did you mean {s:?}?")).unwrap_or_else(|| "use baseline, restricted, hardened, none or a profile from profiles".into());
                            sink.error_hint(
                                spans.value(&pp),
                                &pp,
                                format!("unknown profile {profile:?}"),
                                hint,
                            );
                        }
                        if profile.eq_ignore_ascii_case("none") {
                            sink.warn(spans.value(&pp), &pp, "profile none: only the explicit fields apply (opt-out of ork's defaults)");
                        }
                    }
                    let explicit: Vec<&String> = sc
                        .as_object()
                        .map(|m| m.keys().filter(|k| *k != "profile").collect())
                        .unwrap_or_default();
                    if !explicit.is_empty() && !profile.eq_ignore_ascii_case("none") {
                        sink.error_hint(
                            spans.value(&pp),
                            &p,
                            format!("profile {profile:?} is mixed with explicit fields ({})", explicit.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
                            "use either a profile or explicit fields (laid over the default profile), or profile: none with exactly the fields you want",
                        );
                    }
                }
                capabilities(sc, &p, k, sink);
            }
        }
        // namespace rules
        let allow = crd.allowed_namespaces();
        let deny = crd.restricted_namespaces();
        let (ap, dp) = (
            namespace_list_path(crd, "allowedNamespaces"),
            namespace_list_path(crd, "restrictedNamespaces"),
        );
        for (list, p) in [(&allow, &ap), (&deny, &dp)] {
            for (i, pat) in list.iter().enumerate() {
                let ip = format!("{p}[{i}]");
                if let Err(e) = check_pattern(pat) {
                    sink.error(spans.value(&ip), &ip, e);
                }
            }
        }
        if !crd.api.namespaced && (!allow.is_empty() || !deny.is_empty()) {
            let p = if allow.is_empty() { &dp } else { &ap };
            sink.error(
                spans.value(p),
                p,
                format!(
                    "namespace lists on cluster-scoped CRD {:?} have no meaning",
                    crd.name
                ),
            );
        }
        if let Some(global) = k
            .security
            .namespace_protection
            .as_ref()
            .map(|n| &n.allowed_namespaces)
        {
            let exact = |l: &[String]| !l.is_empty() && l.iter().all(|x| !x.contains('*'));
            if exact(global) && exact(&allow) && !allow.iter().any(|a| global.contains(a)) {
                sink.error(spans.value(&ap), &ap, format!("the allow-lists of the Katalog and of {:?} share no namespace: no CR could ever be reconciled", crd.name));
            }
        }
        // protection warnings
        let prot = crd.protection();
        let pp = if crd.entry.operator_box.runtime.deletion_protection.is_some() {
            format!("{}.operatorBox.runtime.deletionProtection", crd.path)
        } else {
            format!("{}.deletionProtection", crd.path)
        };
        if prot.protect_crs.unwrap_or(true) && prot.protect_crd == Some(false) {
            sink.warn(spans.key(&pp), &pp, "protectCRs without protectCRD: deleting the CRD removes every instance without admission");
        }
        if prot.strict_mode == Some(true) && r.as_ref().is_some_and(|r| !r.dp_strict) {
            sink.warn(spans.key(&pp), &pp, "strictMode on this CRD has no effect while security.deletionProtection.strictMode is off");
        }
    }
    if let Some(np) = &k.security.namespace_protection {
        for (list, key) in [
            (&np.allowed_namespaces, "allowedNamespaces"),
            (&np.restricted_namespaces, "restrictedNamespaces"),
        ] {
            for (i, pat) in list.iter().enumerate() {
                let ip = format!("security.namespaceProtection.{key}[{i}]");
                if let Err(e) = check_pattern(pat) {
                    sink.error(spans.value(&ip), &ip, e);
                }
            }
        }
    }
    if let Some(list) = k
        .security
        .deletion_protection
        .as_ref()
        .and_then(|d| d.protected_resources.as_ref())
    {
        for (i, res) in list.iter().enumerate() {
            let ip = format!("security.deletionProtection.protectedResources[{i}]");
            let plain = res.rsplit('/').next().unwrap_or(res);
            if FORBIDDEN_PROTECTED.contains(&plain) {
                sink.error(spans.value(&ip), &ip, format!("{res:?} cannot be a protected resource (leases, events, CRDs and webhook configurations are excluded)"));
            } else if let Err(e) = protected_resource_shape(res) {
                // a spelling that matches no request would silently protect nothing
                sink.error_hint(
                    spans.value(&ip),
                    &ip,
                    e,
                    "write a built-in resource (secrets, deployments) or group/resource (example.com/widgets), lower case",
                );
            }
        }
    }
    if let Some(sink_v) = &k.security.audit.sink
        && sink_v != "stdout"
        && sink_v.strip_prefix("file:").is_none_or(|p| p.is_empty())
    {
        let p = "security.audit.sink";
        sink.error_hint(
            spans.value(p),
            p,
            format!("audit sink {sink_v:?} is not stdout or file:<path>"),
            "use stdout or file:/var/log/ork/audit.log",
        );
    }
    // security.certManager (durations, rotationThreshold below validFor and caValidFor) is parsed
    // by the resolver above, whose errors are this stage's
    // gateway consistency
    if k.gateway.standalone && k.gateway.endpoint.is_some() {
        sink.error(
            spans.value("gateway.endpoint"),
            "gateway.endpoint",
            "gateway.standalone cannot be combined with gateway.endpoint",
        );
    }
    if let Some(r) = r.as_ref().filter(|r| !r.gateway) {
        let explicit = [
            ("security.deletionProtection", r.dp_enabled),
            ("security.namespaceProtection", r.np_enabled),
            ("security.webhooks.admission", r.admission_enabled),
            ("security.podSecurity.admission", r.ps_admission),
            (
                "security.execProtection",
                k.security.exec_protection.as_ref().and_then(|e| e.enabled) == Some(true),
            ),
        ];
        for (p, on) in explicit {
            if on {
                sink.error_hint(
                    spans.key(p),
                    p,
                    format!("{p} needs the admission Gateway, which this Katalog does not run"),
                    "add gateway: {enabled: true} (or standalone: true, or an endpoint)",
                );
            }
        }
    }
    r
}

/// `resource` (a built-in resource ork knows the group of) or `group/resource`, lower case.
fn protected_resource_shape(res: &str) -> Result<(), String> {
    match res.split_once('/') {
        None if crate::kinds::builtin_group(res).is_some() => Ok(()),
        None => Err(format!(
            "{res:?} is not a built-in resource: name a custom resource as group/resource"
        )),
        Some((group, resource)) => {
            let group_ok = crate::coerce::is_dns1123_subdomain(group) && group.contains('.');
            if !group_ok || !crate::coerce::is_dns1123_label(resource) || resource.contains('/') {
                Err(format!(
                    "{res:?} is not group/resource (a lower-case API group with a dot, then a plural)"
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Groups that hold (nearly) everyone: a break-glass group of that kind would open the guard.
const TOO_BROAD_GROUPS: &[&str] = &[
    "system:authenticated",
    "system:unauthenticated",
    "system:serviceaccounts",
    "system:nodes",
];

fn namespace_list_path(crd: &crate::model::Crd, key: &str) -> String {
    let legacy = match key {
        "allowedNamespaces" => crd.entry.allowed_namespaces.is_some(),
        _ => crd.entry.restricted_namespaces.is_some(),
    };
    if legacy {
        format!("{}.{key}", crd.path)
    } else {
        format!("{}.operatorBox.runtime.{key}", crd.path)
    }
}

fn capabilities(v: &Value, p: &str, k: &Katalog, sink: &mut Sink) {
    for which in ["add", "drop"] {
        let Some(list) = v
            .pointer(&format!("/capabilities/{which}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (i, c) in list.iter().enumerate() {
            let Some(name) = c.as_str() else { continue };
            if ork_template::is_template(name) {
                continue;
            }
            if !CAPABILITIES.contains(&capability(name).as_str()) {
                let ip = format!("{p}.capabilities.{which}[{i}]");
                let hint = did_you_mean(&capability(name), CAPABILITIES.iter().copied())
                    .map(|s| format!("did you mean {s:?}?"));
                sink.push(
                    crate::diag::Severity::Error,
                    k.spans.value(&ip),
                    &ip,
                    format!("unknown capability {name:?}"),
                    hint,
                );
            }
        }
    }
}
