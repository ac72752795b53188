//! Literal credentials (docs/checks.md §4). Matched values are never printed: messages name the key
//! and the credential type only.

use std::sync::LazyLock;

use crate::json::Json;
use crate::path::At;
use regex::Regex;
use serde_json::Value;

use super::{Finding, push};

// The patterns below are constants and a unit test proves they compile. Should one ever fail
// to, the checks fail closed: every name counts as sensitive and every value as a credential
// (reported by `ork scan`, withheld from messages), never the reverse.

static SENSITIVE: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(^|_)(PASS(WORD|WD)?|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH)(_|$)",
    )
});

/// Credential patterns and the name each finding reports.
type Patterns = Result<Vec<(&'static str, Regex)>, regex::Error>;
static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    [
        ("AWS access key id", r"(AKIA|ASIA)[0-9A-Z]{16}"),
        (
            "PEM private key",
            r"-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
        ),
        (
            "GitHub token",
            r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}",
        ),
        ("GitLab token", r"glpat-[A-Za-z0-9_-]{20}"),
        ("Slack token", r"xox[abprs]-[A-Za-z0-9-]{10,}"),
        ("Google API key", r"AIza[0-9A-Za-z_-]{35}"),
        ("Stripe live key", r"(sk|rk)_live_[0-9A-Za-z]{16,}"),
        (
            "JWT",
            r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
        ),
        (
            "URL credentials",
            r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:([^@\s/]+)@",
        ),
    ]
    .into_iter()
    .map(|(n, p)| Regex::new(p).map(|r| (n, r)))
    .collect()
});

static AWS_SECRET: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9/+=]{40}$"));

/// What a value counts as when the credential patterns are unavailable (fail closed).
const UNVERIFIED: &str = "unverifiable value (credential patterns unavailable)";

/// A name that suggests a secret (`DB_PASSWORD`, `apiKey` is not: names are `_`-separated).
pub(crate) fn sensitive_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if upper.ends_with("_FILE") || upper.ends_with("_PATH") || upper.ends_with("_NAME") {
        return false;
    }
    SENSITIVE.as_ref().is_ok_and(|r| r.is_match(name)) || SENSITIVE.is_err()
}

fn is_reference(v: &str) -> bool {
    let t = v.trim();
    (t.starts_with("$(") && t.ends_with(')') && t.matches("$(").count() == 1)
        || (t.starts_with("${") && t.ends_with('}'))
}

/// The credential type a value contains, if any (`key` helps recognise AWS secret keys).
pub fn credential_kind(key: &str, value: &str) -> Option<&'static str> {
    if key.to_ascii_uppercase().contains("AWS_SECRET_ACCESS_KEY")
        && AWS_SECRET
            .as_ref()
            .map_or(true, |r| r.is_match(value.trim()))
    {
        return Some("AWS secret key");
    }
    let Ok(patterns) = PATTERNS.as_ref() else {
        return Some(UNVERIFIED);
    };
    for (name, re) in patterns {
        if let Some(m) = re.captures(value) {
            if *name == "URL credentials" {
                let pw = m.get(1).map(|g| g.as_str()).unwrap_or("");
                if pw.starts_with("$(") || pw.starts_with("${") {
                    continue;
                }
            }
            return Some(name);
        }
    }
    None
}

/// A redacted fingerprint of a secret value: its length and the first 8 hex digits of its
/// SHA-256, enough to tell two findings apart without revealing anything.
pub fn fingerprint(value: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(value.as_bytes());
    format!(
        "{} chars, sha256 {:02x}{:02x}{:02x}{:02x}…",
        value.chars().count(),
        h[0],
        h[1],
        h[2],
        h[3]
    )
}

pub(crate) fn container(c: Json, named: &str, idx: &str, cn: Option<&str>, out: &mut Vec<Finding>) {
    for (i, e) in c.get("env").into_iter().flat_map(Json::items).enumerate() {
        let name = e.get("name").and_then(Json::as_str).unwrap_or("");
        let at = format!("{idx}.env[{i}].value");
        if let Some(v) = e
            .get("value")
            .and_then(Json::as_str)
            .filter(|v| !v.trim().is_empty())
        {
            if let Some(kind) = credential_kind(name, v) {
                push(
                    out,
                    "hardcoded-credential",
                    cn,
                    &at,
                    format!(
                        "{named}.env[{name}].value holds a literal {kind} ({})",
                        fingerprint(v)
                    ),
                );
            } else if sensitive_name(name) && !is_reference(v) {
                push(
                    out,
                    "env-secret-literal",
                    cn,
                    &at,
                    format!(
                        "{named}.env[{name}].value is a literal secret ({})",
                        fingerprint(v)
                    ),
                );
            }
        }
        if e.at("/valueFrom/secretKeyRef").is_some() {
            push(
                out,
                "secret-env-reference",
                cn,
                &format!("{idx}.env[{i}].valueFrom.secretKeyRef"),
                format!("{named}.env[{name}] reads a Secret into the environment"),
            );
        }
    }
    for (i, e) in c
        .get("envFrom")
        .into_iter()
        .flat_map(Json::items)
        .enumerate()
    {
        if e.get("secretRef").is_some() {
            push(
                out,
                "secret-env-reference",
                cn,
                &format!("{idx}.envFrom[{i}].secretRef"),
                format!("{named}.envFrom[{i}] reads a Secret into the environment"),
            );
        }
    }
    for field in ["command", "args"] {
        for (i, a) in c.get(field).into_iter().flat_map(Json::items).enumerate() {
            if let Some(kind) = a.as_str().and_then(|s| credential_kind("", s)) {
                push(
                    out,
                    "hardcoded-credential",
                    cn,
                    &format!("{idx}.{field}[{i}]"),
                    format!("{named}.{field}[{i}] holds a literal {kind}"),
                );
            }
        }
    }
}

pub(crate) fn config_map(obj: &Value, out: &mut Vec<Finding>) {
    for (k, v) in obj
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(s) = v.as_str().filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        let at = format!("data[\"{k}\"]");
        if let Some(kind) = credential_kind(k, s) {
            push(
                out,
                "hardcoded-credential",
                None,
                &at,
                format!("data.{k} holds a literal {kind} ({})", fingerprint(s)),
            );
        } else if sensitive_name(k) && !is_reference(s) {
            push(
                out,
                "configmap-credential",
                None,
                &at,
                format!("data.{k} looks like a credential ({})", fingerprint(s)),
            );
        }
    }
}

pub(crate) fn annotations(obj: &Value, out: &mut Vec<Finding>) {
    for (k, v) in obj
        .at("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(text) = v.as_str() else { continue };
        if let Some(kind) = credential_kind(k, text) {
            push(
                out,
                "hardcoded-credential",
                None,
                &format!("metadata.annotations[\"{k}\"]"),
                format!(
                    "metadata.annotations.{k} holds a literal {kind} ({})",
                    fingerprint(text)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert!(SENSITIVE.is_ok());
        assert!(AWS_SECRET.is_ok());
        assert!(PATTERNS.as_ref().is_ok_and(|p| p.len() == 9));
    }
}
