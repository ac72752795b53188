//! `ork generate webhooks` (docs/cli.md §6): the webhook configurations and the guard policy
//! and binding of docs/security.md §2.3, from the very functions the Gateway registers them
//! with (`ork_webhooks`), targeting the Gateway's Service in the operator namespace.

use ork_policy::PreparedKatalog;
use ork_webhooks::Target;
use serde_json::Value;

/// The configurations and the guard a Gateway for `k` registers, in the Gateway's order
/// (configurations, then the policy and its binding); nothing when `k` runs no Gateway.
/// `ca_bundle` is the PEM text of the CA certificates, or empty for the Gateway to fill.
pub fn objects(k: &PreparedKatalog, ca_bundle: &str) -> Vec<Value> {
    if !k.settings.gateway {
        return Vec::new();
    }
    let target = Target::Service {
        namespace: k.settings.operator_namespace.clone(),
        name: k.settings.gateway_service.clone(),
    };
    let mut out: Vec<Value> = ork_webhooks::configurations(k, &target, ca_bundle)
        .into_iter()
        .map(|d| d.object)
        .collect();
    out.extend(ork_webhooks::guard(k).into_iter().map(|d| d.object));
    out
}

/// Checks a `--ca-bundle` file: PEM CA certificates only. A private key in a caBundle would be
/// published in a cluster-scoped object every authenticated reader may list.
pub fn check_ca_bundle(pem: &str) -> Result<(), String> {
    if pem.contains("PRIVATE KEY") {
        return Err("holds a private key: a caBundle carries CA certificates only".into());
    }
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(())
}
