//! The resolved security configuration and per-CRD protection posture (docs/security.md §1, §3).
//! One resolver: each setting comes from the Katalog, else its environment variable, else the
//! built-in default, and records where it came from.

use std::time::Duration;

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
    /// the Service ork's webhook configurations target (in-cluster)
    pub gateway_service: String,
    /// any `cleanupOnShutdown`: the Gateway removes its configurations, then the guard, on
    /// uninstall
    pub cleanup_on_shutdown: bool,
    /// `security.certManager`: the Gateway's serving certificates (docs/security.md §2.10)
    pub cert_manager: CertManagerSettings,
    pub settings: Vec<Setting>,
}

/// `security.certManager` typed (docs/security.md §2.10): read once here so that the Gateway's
/// certificate code (ork-tls) never parses a duration itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertManagerSettings {
    /// `autoRotate` (env `TLS_AUTO_ROTATE`), default true
    pub auto_rotate: bool,
    /// `rotationThreshold` (env `TLS_ROTATION_THRESHOLD`), default 30d: renew when less remains
    pub rotation_threshold: Duration,
    /// `validFor` (env `TLS_VALID_FOR`), default 1y: the serving certificate's lifetime
    pub valid_for: Duration,
    /// `caValidFor` (no variable), default 5y: the generated CA's lifetime
    pub ca_valid_for: Duration,
}

impl Default for CertManagerSettings {
    fn default() -> Self {
        CertManagerSettings {
            auto_rotate: true,
            rotation_threshold: Duration::from_secs(30 * 86_400),
            valid_for: Duration::from_secs(365 * 86_400),
            ca_valid_for: Duration::from_secs(5 * 365 * 86_400),
        }
    }
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
        crate::names::DEFAULT_OPERATOR_NAMESPACE,
    );
    // the Service the webhooks target: `webhooks.serviceName`, else `serviceName.gateway`
    let gateway_service_kat = s
        .webhooks
        .as_ref()
        .and_then(|w| w.service_name.clone())
        .or_else(|| s.service_name.gateway.clone());
    let (gateway_service, _, _) = pick(
        "security.serviceName.gateway",
        gateway_service_kat.as_ref(),
        Some("ORK_GATEWAY_SERVICE_NAME"),
        crate::names::DEFAULT_GATEWAY_SERVICE,
    );
    let cert_manager = resolve_cert_manager(&s.cert_manager, &mut pick, &mut errors);
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
        gateway_service,
        cleanup_on_shutdown: dp_block.is_some_and(|b| b.cleanup_on_shutdown)
            || s.namespace_protection
                .as_ref()
                .is_some_and(|b| b.cleanup_on_shutdown)
            || s.webhooks.as_ref().is_some_and(|b| b.cleanup_on_shutdown),
        cert_manager,
        settings,
    })
}

/// The `pick` of [`resolve`]: records the setting and returns its text, its source and the
/// variable it came from.
type Pick<'p> = dyn FnMut(
        &'static str,
        Option<&String>,
        Option<&'static str>,
        &str,
    ) -> (String, Source, Option<&'static str>)
    + 'p;

/// `security.certManager`, else `TLS_AUTO_ROTATE` / `TLS_ROTATION_THRESHOLD` / `TLS_VALID_FOR`,
/// else the defaults. This is the one parser of these values: the security stage reports its
/// errors at the Katalog path, or naming the variable when the value came from one.
fn resolve_cert_manager(
    cm: &crate::model::CertManager,
    pick: &mut Pick<'_>,
    errors: &mut Vec<SettingError>,
) -> CertManagerSettings {
    let d = CertManagerSettings::default();
    let errors_before = errors.len();
    let auto_text = cm.auto_rotate.map(|b| b.to_string());
    let (v, _, from) = pick(
        "security.certManager.autoRotate",
        auto_text.as_ref(),
        Some("TLS_AUTO_ROTATE"),
        "true",
    );
    let auto_rotate = match parse_bool(&v) {
        Some(b) => b,
        None => {
            errors.push(SettingError {
                path: if from.is_some() {
                    String::new()
                } else {
                    "security.certManager.autoRotate".into()
                },
                message: match from {
                    Some(name) => {
                        format!(
                            "environment variable {name}={v:?} is not a boolean (true or false)"
                        )
                    }
                    None => format!("autoRotate {v:?} is not a boolean (true or false)"),
                },
                hint: None,
            });
            d.auto_rotate
        }
    };
    // (value, where it came from: None = Katalog or default, Some(variable))
    let mut duration = |key: &'static str,
                        kat: Option<&String>,
                        var: Option<&'static str>,
                        default: &str,
                        fallback: Duration,
                        errors: &mut Vec<SettingError>|
     -> (Duration, Source, Option<String>) {
        let (v, src, from) = pick(key, kat, var, default);
        let origin = from.map(|name| format!("{name}={v:?}"));
        match ork_template::duration::parse_duration(&v) {
            // a threshold of 0 means "renew only when expired"; a lifetime of 0 is no certificate
            Ok(d) if !d.is_zero() || key.ends_with("rotationThreshold") => (d, src, origin),
            parsed => {
                let why = match parsed {
                    Err(e) => e,
                    Ok(_) => "a lifetime of 0 is not a certificate".to_string(),
                };
                errors.push(SettingError {
                    path: if from.is_some() {
                        String::new()
                    } else {
                        key.to_string()
                    },
                    message: match &origin {
                        Some(o) => format!("environment variable {o}: {why}"),
                        None => why,
                    },
                    hint: Some("a duration such as 30d, 720h or 1y".into()),
                });
                (fallback, src, origin)
            }
        }
    };
    let (rotation_threshold, t_src, t_origin) = duration(
        "security.certManager.rotationThreshold",
        cm.rotation_threshold.as_ref(),
        Some("TLS_ROTATION_THRESHOLD"),
        "30d",
        d.rotation_threshold,
        errors,
    );
    let (valid_for, v_src, v_origin) = duration(
        "security.certManager.validFor",
        cm.valid_for.as_ref(),
        Some("TLS_VALID_FOR"),
        "1y",
        d.valid_for,
        errors,
    );
    let (ca_valid_for, c_src, _) = duration(
        "security.certManager.caValidFor",
        cm.ca_valid_for.as_ref(),
        None,
        "5y",
        d.ca_valid_for,
        errors,
    );
    // compared only when every value parsed: a fallback would make a second, misleading error
    let parsed = errors.len() == errors_before;
    // a threshold that is not below a lifetime would renew that certificate on every check
    let mut relation = |other: &str, other_src: Source, other_origin: Option<String>| {
        let path = if t_src == Source::Katalog {
            "security.certManager.rotationThreshold".to_string()
        } else if other_src == Source::Katalog {
            format!("security.certManager.{other}")
        } else {
            String::new()
        };
        let origins: Vec<String> = [t_origin.clone(), other_origin]
            .into_iter()
            .flatten()
            .collect();
        errors.push(SettingError {
            path,
            message: if origins.is_empty() {
                format!("rotationThreshold must be less than {other}")
            } else {
                format!(
                    "rotationThreshold must be less than {other} ({})",
                    origins.join(", ")
                )
            },
            hint: None,
        });
    };
    if parsed && rotation_threshold >= valid_for {
        relation("validFor", v_src, v_origin);
    }
    if parsed && rotation_threshold >= ca_valid_for {
        relation("caValidFor", c_src, None);
    }
    CertManagerSettings {
        auto_rotate,
        rotation_threshold,
        valid_for,
        ca_valid_for,
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    const DAY: u64 = 86_400;

    fn website() -> Katalog {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/website/katalog.yaml");
        crate::load_file(&p).katalog.unwrap()
    }

    fn with_env(k: &Katalog, vars: &[(&str, &str)]) -> Result<Resolved, Vec<SettingError>> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(k, &move |n: &str| m.get(n).cloned())
    }

    fn source(r: &Resolved, key: &str) -> (String, Source) {
        let s = r.settings.iter().find(|s| s.key == key).unwrap();
        (s.value.clone(), s.source)
    }

    #[test]
    fn cert_manager_defaults() {
        let r = with_env(&website(), &[]).unwrap();
        assert_eq!(
            r.cert_manager,
            CertManagerSettings {
                auto_rotate: true,
                rotation_threshold: Duration::from_secs(30 * DAY),
                valid_for: Duration::from_secs(365 * DAY),
                ca_valid_for: Duration::from_secs(5 * 365 * DAY),
            }
        );
        for (key, value) in [
            ("security.certManager.autoRotate", "true"),
            ("security.certManager.rotationThreshold", "30d"),
            ("security.certManager.validFor", "1y"),
            ("security.certManager.caValidFor", "5y"),
        ] {
            assert_eq!(source(&r, key), (value.to_string(), Source::Default));
        }
    }

    #[test]
    fn cert_manager_from_env() {
        let r = with_env(
            &website(),
            &[
                ("TLS_AUTO_ROTATE", "false"),
                ("TLS_ROTATION_THRESHOLD", "2d"),
                ("TLS_VALID_FOR", "90d"),
            ],
        )
        .unwrap();
        assert!(!r.cert_manager.auto_rotate);
        assert_eq!(
            r.cert_manager.rotation_threshold,
            Duration::from_secs(2 * DAY)
        );
        assert_eq!(r.cert_manager.valid_for, Duration::from_secs(90 * DAY));
        assert_eq!(
            source(&r, "security.certManager.validFor"),
            ("90d".to_string(), Source::Env)
        );
    }

    #[test]
    fn cert_manager_katalog_wins_over_env() {
        let mut k = website();
        k.security.cert_manager.auto_rotate = Some(true);
        k.security.cert_manager.valid_for = Some("10d".into());
        k.security.cert_manager.ca_valid_for = Some("20d".into());
        let r = with_env(
            &k,
            &[
                ("TLS_AUTO_ROTATE", "false"),
                ("TLS_VALID_FOR", "90d"),
                ("TLS_ROTATION_THRESHOLD", "1d"),
            ],
        )
        .unwrap();
        assert!(r.cert_manager.auto_rotate);
        assert_eq!(r.cert_manager.valid_for, Duration::from_secs(10 * DAY));
        assert_eq!(r.cert_manager.ca_valid_for, Duration::from_secs(20 * DAY));
        assert_eq!(r.cert_manager.rotation_threshold, Duration::from_secs(DAY));
        assert_eq!(
            source(&r, "security.certManager.validFor"),
            ("10d".to_string(), Source::Katalog)
        );
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let errs = with_env(
            &website(),
            &[
                ("TLS_AUTO_ROTATE", "sometimes"),
                ("TLS_ROTATION_THRESHOLD", "30 days"),
                ("TLS_VALID_FOR", "0"),
            ],
        )
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        for (e, var) in
            errs.iter()
                .zip(["TLS_AUTO_ROTATE", "TLS_ROTATION_THRESHOLD", "TLS_VALID_FOR"])
        {
            assert!(e.path.is_empty(), "{e:?}");
            assert!(e.message.contains(var), "{e:?}");
        }
    }

    #[test]
    fn bad_katalog_value_names_its_path() {
        let mut k = website();
        k.security.cert_manager.ca_valid_for = Some("forever".into());
        let errs = with_env(&k, &[]).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "security.certManager.caValidFor");
        assert!(errs[0].message.contains("forever"), "{errs:?}");
    }

    #[test]
    fn threshold_must_stay_below_both_lifetimes() {
        // from the environment: the message names both variables
        let errs = with_env(
            &website(),
            &[("TLS_ROTATION_THRESHOLD", "40d"), ("TLS_VALID_FOR", "30d")],
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("less than validFor"), "{errs:?}");
        assert!(errs[0].message.contains("TLS_ROTATION_THRESHOLD=\"40d\""));
        assert!(errs[0].message.contains("TLS_VALID_FOR=\"30d\""));
        // from the Katalog: at the threshold's path
        let mut k = website();
        k.security.cert_manager.rotation_threshold = Some("6y".into());
        k.security.cert_manager.valid_for = Some("7y".into());
        let errs = with_env(&k, &[]).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "security.certManager.rotationThreshold");
        assert_eq!(
            errs[0].message,
            "rotationThreshold must be less than caValidFor"
        );
    }

    #[test]
    fn the_security_stage_reports_a_bad_duration_once() {
        let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: t, version: 0.1.0}\nsecurity: {certManager: {validFor: soon, rotationThreshold: 2y}}\nspec:\n  crds: {}\n";
        let o = crate::load_str(src, "k.yaml", Path::new("."));
        let errs: Vec<_> = o
            .errors()
            .filter(|d| d.path.starts_with("security.certManager"))
            .collect();
        // once, at its line; no second error comparing the threshold with a fallback value
        assert_eq!(errs.len(), 1, "{:?}", o.diagnostics);
        assert_eq!(errs[0].path, "security.certManager.validFor");
        assert_eq!(errs[0].line, 4);
    }
}
