//! The resolved security configuration and per-CRD protection posture (docs/security.md §1, §3).
//! One resolver: each setting comes from the Katalog, else its environment variable, else the
//! built-in default, and records where it came from.

use serde::Serialize;
use serde_json::Value;

use crate::diag::did_you_mean;
use crate::model::{Crd, Katalog};
use crate::settings::{BuiltinProfile, FailurePolicy, PodSecurityLevel, Profile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Source {
    Katalog,
    Env,
    Default,
}

#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
}

/// Katalog-wide security settings after resolution: every security setting typed, parsed once.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub gateway_only: bool,
    pub gateway: bool,
    pub dp_enabled: bool,
    pub dp_policy: FailurePolicy,
    pub dp_strict: bool,
    /// `security.deletionProtection.protectedResources` (`resource` or `group/resource`)
    pub protected_resources: Vec<String>,
    pub np_enabled: bool,
    pub np_policy: FailurePolicy,
    pub admission_enabled: bool,
    pub admission_policy: FailurePolicy,
    pub timeout_seconds: i64,
    pub exclude_namespaces: Vec<String>,
    pub break_glass_groups: Vec<String>,
    pub ps_default: Profile,
    pub ps_level: PodSecurityLevel,
    pub ps_admission: bool,
    pub ps_admission_policy: FailurePolicy,
    pub ps_admission_namespaces: Vec<String>,
    pub exec_protection: bool,
    pub exec_policy: FailurePolicy,
    pub exec_namespaces: Vec<String>,
    pub audit: Option<String>,
    /// `ORK_NAMESPACE`, default `orkestra-system`: where the runtime and the Gateway run
    pub operator_namespace: String,
    pub settings: Vec<Setting>,
}

/// The protected resources when `security.deletionProtection.protectedResources` is not set
/// (docs/security.md §1.1): Secrets in, Leases out.
pub const DEFAULT_PROTECTED_RESOURCES: &[&str] = &[
    "services",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "persistentvolumeclaims",
    "deployments",
    "statefulsets",
    "daemonsets",
    "ingresses",
    "networkpolicies",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
    "namespaces",
];

/// A setting that does not parse: where it was written (a Katalog path, or an environment
/// variable) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// dotted Katalog path; empty for an environment variable
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Reads a variable the way the resolver does; tests pass their own lookup.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable of the process. A value that is not UTF-8 is read lossily, so that it fails to
/// parse (an error naming the variable) instead of reading as "not set".
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Resolves every security setting: the Katalog, else the environment, else the default. Each
/// value is parsed into its closed set; an unparsable value, in the Katalog or in a variable, is
/// an error (docs/security.md §0, G29), never a silent default.
pub fn resolve(k: &Katalog, env: Env) -> Result<Resolved, Vec<SettingError>> {
    let s = &k.security;
    let mut settings = Vec::new();
    let mut errors: Vec<SettingError> = Vec::new();
    let mut pick_bool = |key: &'static str,
                         kat: Option<bool>,
                         var: Option<&'static str>,
                         default: bool,
                         errors: &mut Vec<SettingError>|
     -> bool {
        let from_env = var.and_then(|n| env(n).map(|raw| (n, raw)));
        let (v, src) = match (kat, from_env) {
            (Some(b), _) => (b, Source::Katalog),
            (None, Some((name, raw))) => match parse_bool(&raw) {
                Some(b) => (b, Source::Env),
                None => {
                    errors.push(SettingError {
                        path: String::new(),
                        message: format!(
                            "environment variable {name}={raw:?} is not a boolean (true or false)"
                        ),
                        hint: None,
                    });
                    (default, Source::Default)
                }
            },
            (None, None) => (default, Source::Default),
        };
        settings.push(Setting {
            key,
            value: v.to_string(),
            source: src,
        });
        v
    };
    let dp_block = s.deletion_protection.as_ref();
    let dp_enabled = pick_bool(
        "security.deletionProtection.enabled",
        dp_block.map(|b| b.enabled.unwrap_or(true)),
        Some("ENABLE_DELETION_PROTECTION"),
        false,
        &mut errors,
    );
    let np_block = s.namespace_protection.as_ref();
    let np_enabled = pick_bool(
        "security.namespaceProtection.enabled",
        np_block.map(|b| b.enabled.unwrap_or(true)),
        Some("ENABLE_NAMESPACE_PROTECTION"),
        false,
        &mut errors,
    );
    let admission_enabled = pick_bool(
        "security.webhooks.admission.enabled",
        s.webhooks.as_ref().and_then(|w| w.admission.enabled),
        Some("ENABLE_ADMISSION_WEBHOOK"),
        false,
        &mut errors,
    );
    let ps_admission = pick_bool(
        "security.podSecurity.admission.enabled",
        s.pod_security.admission.enabled,
        None,
        false,
        &mut errors,
    );
    let gateway_endpoint = k
        .gateway
        .endpoint
        .clone()
        .or_else(|| env("ORK_GATEWAY_ENDPOINT"));
    let gateway = k.gateway.enabled || k.gateway.standalone || gateway_endpoint.is_some();
    let exec_protection = gateway
        && pick_bool(
            "security.execProtection.enabled",
            s.exec_protection.as_ref().and_then(|e| e.enabled),
            None,
            true,
            &mut errors,
        );
    // one parser for every closed-set setting: Katalog text, else variable, else default
    let mut pick = |key: &'static str,
                    kat: Option<&String>,
                    var: Option<&'static str>,
                    default: &str|
     -> (String, Source, Option<&'static str>) {
        let (v, src, from) = match (kat, var.and_then(|n| env(n).map(|v| (n, v)))) {
            (Some(v), _) => (v.clone(), Source::Katalog, None),
            (None, Some((name, v))) => (v, Source::Env, Some(name)),
            (None, None) => (default.to_string(), Source::Default, None),
        };
        settings.push(Setting {
            key,
            value: v.clone(),
            source: src,
        });
        (v, src, from)
    };
    let mut policy = |key: &'static str,
                      kat: Option<&String>,
                      var: Option<&'static str>,
                      errors: &mut Vec<SettingError>|
     -> FailurePolicy {
        let (v, _, from) = pick(key, kat, var, "Fail");
        match v.parse::<FailurePolicy>() {
            Ok(p) => p,
            Err(_) => {
                errors.push(SettingError {
                    path: if from.is_some() {
                        String::new()
                    } else {
                        key.to_string()
                    },
                    message: match from {
                        Some(name) => {
                            format!("environment variable {name}={v:?} is not Fail or Ignore")
                        }
                        None => format!("failurePolicy {v:?} is not Fail or Ignore"),
                    },
                    hint: Some("use Fail (deny when the Gateway cannot decide) or Ignore".into()),
                });
                // the value is unusable; Fail is what a reader of this error would want
                FailurePolicy::Fail
            }
        }
    };
    let dp_policy = policy(
        "security.deletionProtection.failurePolicy",
        dp_block.and_then(|b| b.failure_policy.as_ref()),
        Some("DELETION_PROTECTION_POLICY"),
        &mut errors,
    );
    let np_policy = policy(
        "security.namespaceProtection.failurePolicy",
        np_block.and_then(|b| b.failure_policy.as_ref()),
        Some("NAMESPACE_PROTECTION_FAILURE_POLICY"),
        &mut errors,
    );
    let admission_policy = policy(
        "security.webhooks.failurePolicy",
        s.webhooks.as_ref().and_then(|w| w.failure_policy.as_ref()),
        Some("WEBHOOK_FAILURE_POLICY"),
        &mut errors,
    );
    let ps_admission_policy = policy(
        "security.podSecurity.admission.failurePolicy",
        s.pod_security.admission.failure_policy.as_ref(),
        None,
        &mut errors,
    );
    let exec_policy = policy(
        "security.execProtection.failurePolicy",
        s.exec_protection
            .as_ref()
            .and_then(|e| e.failure_policy.as_ref()),
        None,
        &mut errors,
    );
    let user_profiles: Vec<&str> = k
        .profiles
        .container_security
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str))
        .collect();
    let (default_text, _, _) = pick(
        "security.podSecurity.default",
        s.pod_security.default.as_ref(),
        None,
        "hardened",
    );
    let ps_default = match Profile::resolve(&default_text, &user_profiles) {
        Some(p) => p,
        None => {
            let candidates = BuiltinProfile::NAMES
                .iter()
                .copied()
                .chain(user_profiles.iter().copied());
            errors.push(SettingError {
                path: "security.podSecurity.default".into(),
                message: format!("unknown profile {default_text:?}"),
                hint: Some(
                    did_you_mean(&default_text, candidates)
                        .map(|s| format!("did you mean {s:?}?"))
                        .unwrap_or_else(|| {
                            "use baseline, restricted, hardened, none or a profiles.containerSecurity name"
                                .into()
                        }),
                ),
            });
            Profile::Builtin(BuiltinProfile::Hardened)
        }
    };
    let (level_text, _, _) = pick(
        "security.podSecurity.level",
        s.pod_security.level.as_ref(),
        None,
        "restricted",
    );
    let ps_level = match level_text.parse::<PodSecurityLevel>() {
        Ok(l) => l,
        Err(_) => {
            errors.push(SettingError {
                path: "security.podSecurity.level".into(),
                message: format!("unknown pod-security level {level_text:?}"),
                hint: Some("use baseline, restricted or privileged".into()),
            });
            PodSecurityLevel::Restricted
        }
    };
    let (audit_sink, _, _) = pick("security.audit.sink", s.audit.sink.as_ref(), None, "stdout");
    let (operator_namespace, _, _) = pick(
        "ORK_NAMESPACE",
        None,
        Some("ORK_NAMESPACE"),
        "orkestra-system",
    );
    let timeout_seconds = s
        .webhooks
        .as_ref()
        .and_then(|w| w.timeout_seconds)
        .unwrap_or(3);
    settings.push(Setting {
        key: "security.webhooks.timeoutSeconds",
        value: timeout_seconds.to_string(),
        source: if s
            .webhooks
            .as_ref()
            .and_then(|w| w.timeout_seconds)
            .is_some()
        {
            Source::Katalog
        } else {
            Source::Default
        },
    });
    let audit = (s.audit.enabled.unwrap_or(true)).then_some(audit_sink);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Resolved {
        gateway_only: k.gateway.standalone,
        gateway,
        dp_enabled,
        dp_policy,
        dp_strict: dp_block.is_some_and(|b| b.strict_mode),
        protected_resources: dp_block
            .and_then(|b| b.protected_resources.clone())
            .unwrap_or_else(|| {
                DEFAULT_PROTECTED_RESOURCES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
        np_enabled,
        np_policy,
        admission_enabled,
        admission_policy,
        timeout_seconds,
        exclude_namespaces: s
            .webhooks
            .as_ref()
            .map(|w| w.exclude_namespaces.clone())
            .unwrap_or_default(),
        break_glass_groups: s
            .webhooks
            .as_ref()
            .and_then(|w| w.break_glass_groups.clone())
            .unwrap_or_else(|| vec!["system:masters".to_string()]),
        ps_default,
        ps_level,
        ps_admission,
        ps_admission_policy,
        ps_admission_namespaces: s.pod_security.admission.namespaces.clone(),
        exec_protection,
        exec_policy,
        exec_namespaces: s
            .exec_protection
            .as_ref()
            .map(|e| e.namespaces.clone())
            .unwrap_or_default(),
        audit,
        operator_namespace,
        settings,
    })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `full | crd-only | crs-only | none` and the label shown by `ork validate`.
#[derive(Debug, Clone, Serialize)]
pub struct CrdPosture {
    pub protection: &'static str,
    pub strict: bool,
    pub label: String,
    pub warning: Option<String>,
}

/// A CRD's deletion protection after defaults (docs/security.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    pub protect_crd: bool,
    pub protect_crs: bool,
    /// the CRD's own `strictMode` flag
    pub strict_mode: bool,
    /// effective strict: deletion protection on ∧ global strictMode ∧ the CRD's strictMode ∧
    /// protectCRs
    pub effective_strict: bool,
}

/// The one place that applies the per-CRD defaults (all true) and computes effective strict.
pub fn protection(crd: &Crd, r: &Resolved) -> Protection {
    let p = crd.protection();
    let protect_crs = p.protect_crs.unwrap_or(true);
    let strict_mode = p.strict_mode.unwrap_or(true);
    Protection {
        protect_crd: p.protect_crd.unwrap_or(true),
        protect_crs,
        strict_mode,
        effective_strict: r.dp_enabled && r.dp_strict && strict_mode && protect_crs,
    }
}

pub fn crd_posture(crd: &Crd, r: &Resolved) -> CrdPosture {
    let p = protection(crd, r);
    let (pcrd, pcrs, strict) = (p.protect_crd, p.protect_crs, p.effective_strict);
    let warning = (pcrs && !pcrd).then(|| "protectCRs without protectCRD: deleting the CRD removes every instance without admission".to_string());
    if !r.dp_enabled {
        return CrdPosture {
            protection: "none",
            strict: false,
            label: "protection: none (deletion protection disabled)".into(),
            warning,
        };
    }
    let (protection, text) = match (pcrd, pcrs) {
        (true, true) => ("full", "full (CRD + CRs)"),
        (true, false) => ("crd-only", "CRD only (CRs not protected)"),
        (false, true) => ("crs-only", "CRs only (CRD not protected – warning)"),
        (false, false) => ("none", "none"),
    };
    let label = format!(
        "{}: {text}",
        if strict {
            "strict-protection"
        } else {
            "protection"
        }
    );
    CrdPosture {
        protection,
        strict,
        label,
        warning,
    }
}

/// The two summary lines of `ork validate`.
pub fn summary_lines(r: &Resolved) -> [String; 2] {
    let mode = if r.gateway_only {
        "gateway-only — labels are not maintained, no reconcile backstop"
    } else {
        "runtime"
    };
    let dp = if r.dp_enabled {
        format!(
            "deletion protection on ({}{})",
            r.dp_policy,
            if r.dp_strict { ", strict" } else { "" }
        )
    } else {
        "deletion protection off".to_string()
    };
    let np = if r.np_enabled {
        format!("namespace protection on ({})", r.np_policy)
    } else {
        "namespace protection off".to_string()
    };
    let adm = if r.admission_enabled {
        format!(
            "admission on ({}, {}s)",
            r.admission_policy, r.timeout_seconds
        )
    } else {
        "admission off".to_string()
    };
    let ps = format!(
        "pod security {}/{}, admission {}",
        r.ps_default,
        r.ps_level,
        if r.ps_admission { "on" } else { "off" }
    );
    let exec = if r.exec_protection {
        "exec protection on"
    } else if r.gateway {
        "exec protection off"
    } else {
        "exec protection off (no gateway)"
    };
    let audit = match &r.audit {
        Some(s) => format!("audit {s}"),
        None => "audit off".into(),
    };
    let gw = if r.gateway { "" } else { " · gateway off" };
    [
        format!("mode {mode}{gw} · {dp} · {np}"),
        format!("{adm} · {ps} · {exec} · {audit}"),
    ]
}
