//! The resolved security configuration and per-CRD protection posture (security.md §1, §3).
//! One resolver: each setting comes from the Katalog, else its environment variable, else the
//! built-in default, and records where it came from.

use serde::Serialize;

use crate::model::{Crd, Katalog};

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

/// Katalog-wide security settings after resolution.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub gateway_only: bool,
    pub gateway: bool,
    pub dp_enabled: bool,
    pub dp_policy: String,
    pub dp_strict: bool,
    pub np_enabled: bool,
    pub np_policy: String,
    pub admission_enabled: bool,
    pub admission_policy: String,
    pub timeout_seconds: i64,
    pub ps_default: String,
    pub ps_level: String,
    pub ps_admission: bool,
    pub exec_protection: bool,
    pub audit: Option<String>,
    pub settings: Vec<Setting>,
}

/// Reads a variable the way the resolver does; tests pass their own lookup.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn env_bool(env: Env, name: &str) -> Option<bool> {
    env(name).and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    })
}

pub fn canonical_policy(p: &str) -> Option<&'static str> {
    match p.trim().to_ascii_lowercase().as_str() {
        "fail" => Some("Fail"),
        "ignore" => Some("Ignore"),
        _ => None,
    }
}

pub fn resolve(k: &Katalog, env: Env) -> Resolved {
    let s = &k.security;
    let mut settings = Vec::new();
    let mut pick_bool =
        |key: &'static str, kat: Option<bool>, var: Option<&str>, default: bool| -> bool {
            let (v, src) = match (kat, var.and_then(|n| env_bool(env, n))) {
                (Some(b), _) => (b, Source::Katalog),
                (None, Some(b)) => (b, Source::Env),
                _ => (default, Source::Default),
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
    );
    let np_block = s.namespace_protection.as_ref();
    let np_enabled = pick_bool(
        "security.namespaceProtection.enabled",
        np_block.map(|b| b.enabled.unwrap_or(true)),
        Some("ENABLE_NAMESPACE_PROTECTION"),
        false,
    );
    let admission_enabled = pick_bool(
        "security.webhooks.admission.enabled",
        s.webhooks.as_ref().and_then(|w| w.admission.enabled),
        Some("ENABLE_ADMISSION_WEBHOOK"),
        false,
    );
    let ps_admission = pick_bool(
        "security.podSecurity.admission.enabled",
        s.pod_security.admission.enabled,
        None,
        false,
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
        );
    let mut pick_str =
        |key: &'static str, kat: Option<String>, var: Option<&str>, default: &str| -> String {
            let (v, src) = match (kat, var.and_then(env)) {
                (Some(v), _) => (v, Source::Katalog),
                (None, Some(v)) => (v, Source::Env),
                _ => (default.to_string(), Source::Default),
            };
            settings.push(Setting {
                key,
                value: v.clone(),
                source: src,
            });
            v
        };
    let policy = |p: String| canonical_policy(&p).map(str::to_string).unwrap_or(p);
    let dp_policy = policy(pick_str(
        "security.deletionProtection.failurePolicy",
        dp_block.and_then(|b| b.failure_policy.clone()),
        Some("DELETION_PROTECTION_POLICY"),
        "Fail",
    ));
    let np_policy = policy(pick_str(
        "security.namespaceProtection.failurePolicy",
        np_block.and_then(|b| b.failure_policy.clone()),
        Some("NAMESPACE_PROTECTION_FAILURE_POLICY"),
        "Fail",
    ));
    let admission_policy = policy(pick_str(
        "security.webhooks.failurePolicy",
        s.webhooks.as_ref().and_then(|w| w.failure_policy.clone()),
        Some("WEBHOOK_FAILURE_POLICY"),
        "Fail",
    ));
    let ps_default = pick_str(
        "security.podSecurity.default",
        s.pod_security.default.clone(),
        None,
        "hardened",
    );
    let ps_level = pick_str(
        "security.podSecurity.level",
        s.pod_security.level.clone(),
        None,
        "restricted",
    );
    let audit_sink = pick_str("security.audit.sink", s.audit.sink.clone(), None, "stdout");
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
    Resolved {
        gateway_only: k.gateway.standalone,
        gateway,
        dp_enabled,
        dp_policy,
        dp_strict: dp_block.is_some_and(|b| b.strict_mode),
        np_enabled,
        np_policy,
        admission_enabled,
        admission_policy,
        timeout_seconds,
        ps_default,
        ps_level,
        ps_admission,
        exec_protection,
        audit,
        settings,
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

pub fn crd_posture(crd: &Crd, r: &Resolved) -> CrdPosture {
    let p = crd.protection();
    let (pcrd, pcrs) = (p.protect_crd.unwrap_or(true), p.protect_crs.unwrap_or(true));
    let strict = r.dp_enabled && r.dp_strict && p.strict_mode.unwrap_or(true) && pcrs;
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
