//! Generated material in its two Secrets (docs/security.md §1.3, §2.10): `orkestra-tls`
//! (`tls.crt`, `tls.key`, `ca.crt` = the caBundle) and `orkestra-tls-ca` (`ca.crt`, `ca.key`);
//! the CA key never sits in the serving Secret.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::info;

use crate::error::{Error, Result};
use crate::material::{CertSettings, Material};
use crate::pki::{self, Ca, Stale};
use crate::x509;

/// The serving Secret: `tls.crt`, `tls.key`, `ca.crt` (the caBundle).
pub const TLS_SECRET: &str = ork_katalog::names::TLS_SECRET;
/// The CA Secret: `ca.crt`, `ca.key`.
pub const CA_SECRET: &str = ork_katalog::names::CA_SECRET;
pub const ANNOTATION_GENERATED_AT: &str = "orkestra.orkspace.io/generated-at";
pub const ANNOTATION_ROTATED_AT: &str = "orkestra.orkspace.io/rotated-at";
/// When a new CA joined the caBundle: the leaf is issued from it `ca_overlap_wait` later. Kept
/// in the Secret so that a leader that restarts mid-rotation, or a new leader, keeps the wait.
pub const ANNOTATION_CA_PUBLISHED_AT: &str = "orkestra.orkspace.io/ca-published-at";
const LABELS: [(&str, &str); 2] = ork_katalog::names::CONTROL_PLANE_LABELS;
/// Writers that keep losing races give up after this many rounds instead of spinning.
const ATTEMPTS: u32 = 8;

pub(crate) struct Store {
    api: Api<Secret>,
    ns: String,
}

impl Store {
    pub(crate) fn new(client: &kube::Client, ns: &str) -> Store {
        Store {
            api: Api::namespaced(client.clone(), ns),
            ns: ns.to_string(),
        }
    }

    pub(crate) fn ns(&self) -> &str {
        &self.ns
    }

    pub(crate) fn api(&self) -> &Api<Secret> {
        &self.api
    }

    fn err(&self, name: &str, e: kube::Error) -> Error {
        Error::Kube {
            namespace: self.ns.clone(),
            name: name.to_string(),
            source: Box::new(e),
        }
    }

    pub(crate) async fn get(&self, name: &str) -> Result<Option<Secret>> {
        self.api.get_opt(name).await.map_err(|e| self.err(name, e))
    }

    /// Creates the Secret, or replaces `existing` at its resourceVersion. Returns false when
    /// another writer got there first (AlreadyExists, Conflict, or it was deleted meanwhile):
    /// the caller re-reads and decides again, which is how concurrent starts converge (G27).
    pub(crate) async fn write(
        &self,
        name: &str,
        existing: Option<&Secret>,
        data: &[(&str, &str)],
        extra_annotations: &[(&str, String)],
    ) -> Result<bool> {
        let now = stamp(SystemTime::now());
        let mut labels = existing
            .and_then(|e| e.metadata.labels.clone())
            .unwrap_or_default();
        let mut annotations = existing
            .and_then(|e| e.metadata.annotations.clone())
            .unwrap_or_default();
        for (k, v) in LABELS {
            labels.insert(k.to_string(), v.to_string());
        }
        annotations
            .entry(ANNOTATION_GENERATED_AT.to_string())
            .or_insert_with(|| now.clone());
        if existing.is_some() {
            annotations.insert(ANNOTATION_ROTATED_AT.to_string(), now.clone());
        }
        for (k, v) in extra_annotations {
            annotations.insert((*k).to_string(), v.clone());
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(self.ns.clone()),
                resource_version: existing.and_then(|e| e.metadata.resource_version.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            // the type is immutable: keep what exists; new serving Secrets are kubernetes.io/tls
            type_: match existing {
                Some(e) => e.type_.clone(),
                None if name == TLS_SECRET => Some("kubernetes.io/tls".to_string()),
                None => Some("Opaque".to_string()),
            },
            ..Secret::default()
        };
        let pp = PostParams::default();
        let result = match existing {
            None => self.api.create(&pp, &secret).await,
            Some(_) => self.api.replace(name, &pp, &secret).await,
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s))
                if s.is_already_exists() || s.is_conflict() || s.is_not_found() =>
            {
                Ok(false)
            }
            Err(e) => Err(self.err(name, e)),
        }
    }
}

/// RFC 3339 with milliseconds: the overlap wait is measured from it, and tests shorten the
/// wait to seconds.
pub(crate) fn stamp(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_stamp(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(SystemTime::from)
}

/// A key of the Secret's data as text.
pub(crate) fn field(s: &Secret, key: &'static str) -> Result<String, Stale> {
    let bytes = s
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or(Stale::Missing(key))?;
    String::from_utf8(bytes.0.clone())
        .map_err(|_| Stale::Unusable(format!("{key} is not PEM text")))
}

pub(crate) fn stored_ca(s: Option<&Secret>, now: SystemTime) -> Result<Ca, Stale> {
    let s = s.ok_or(Stale::Missing("Secret orkestra-tls-ca"))?;
    pki::check_ca(&field(s, "ca.crt")?, &field(s, "ca.key")?, now)
}

pub(crate) fn stored_leaf(
    s: Option<&Secret>,
    names: &[String],
    threshold: Duration,
    now: SystemTime,
) -> Result<Material, Stale> {
    let s = s.ok_or(Stale::Missing("Secret orkestra-tls"))?;
    pki::check_leaf(
        &field(s, "tls.crt")?,
        &field(s, "tls.key")?,
        &field(s, "ca.crt")?,
        names,
        threshold,
        now,
    )
}

/// The certificates of a PEM bundle that have not expired, plus `keep` when given.
pub(crate) fn unexpired_bundle(bundle_pem: &str, keep: Option<&str>, now: SystemTime) -> String {
    let mut out: Vec<rustls::pki_types::CertificateDer<'static>> = Vec::new();
    for c in x509::certs(bundle_pem, "caBundle").unwrap_or_default() {
        if x509::info(&c, "caBundle").is_ok_and(|i| i.is_ca && i.not_after > now)
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    if let Some(k) = keep {
        for c in x509::certs(k, "CA").unwrap_or_default() {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    x509::to_pem(&out)
}

/// Serving material for the Service, generated or reused (docs/security.md §2.10, G27), kept
/// in `orkestra-tls` and `orkestra-tls-ca` in `ns`:
///
/// - a stored CA is reused when it parses, is a CA, its key matches and it has not expired;
///   otherwise a new one (ECDSA P-256, CN orkestra-gateway-ca, valid `ca_valid_for`);
/// - a stored serving certificate is reused only if it parses, the key matches, the SANs cover
///   the Service (and `extra_sans`), it chains to `ca.crt` and more than `rotation_threshold`
///   remains; otherwise a new one is issued from the CA;
/// - a create that meets AlreadyExists (another replica starting at the same time) or a
///   replace that meets Conflict re-reads and decides again, so both end on one CA.
///
/// Rotating a CA that is merely close to expiry is [`crate::keep_current`]'s job, with the
/// overlap the caBundle needs.
pub async fn ensure(
    client: &kube::Client,
    ns: &str,
    svc: &str,
    extra_sans: &[String],
    s: &CertSettings,
) -> Result<Material> {
    s.validate()?;
    let store = Store::new(client, ns);
    Ok(ensure_with(&store, svc, extra_sans, s).await?.0)
}

/// [`ensure`], returning also what it wrote, for the audit line of a rotation.
pub(crate) async fn ensure_with(
    store: &Store,
    svc: &str,
    extra_sans: &[String],
    s: &CertSettings,
) -> Result<(Material, Vec<String>)> {
    let ns = store.ns().to_string();
    let names = pki::service_names(&ns, svc, extra_sans);
    let mut done = Vec::new();
    for _ in 0..ATTEMPTS {
        let now = SystemTime::now();
        let ca_secret = store.get(CA_SECRET).await?;
        let ca = match stored_ca(ca_secret.as_ref(), now) {
            Ok(ca) => ca,
            Err(why) => {
                info!(namespace = %ns, secret = CA_SECRET, reason = %why, "generating a new CA");
                let ca = pki::new_ca(s.ca_valid_for, now)?;
                let data = [
                    ("ca.crt", ca.cert_pem.as_str()),
                    ("ca.key", ca.key_pem.as_str()),
                ];
                if !store
                    .write(CA_SECRET, ca_secret.as_ref(), &data, &[])
                    .await?
                {
                    continue;
                }
                done.push(format!("ca: generated a new CA ({why})"));
                ca
            }
        };
        let tls_secret = store.get(TLS_SECRET).await?;
        let why = match stored_leaf(tls_secret.as_ref(), &names, s.rotation_threshold, now) {
            Ok(m) => return Ok((m, done)),
            Err(why) => why,
        };
        info!(namespace = %ns, secret = TLS_SECRET, reason = %why, "issuing a new serving certificate");
        let (crt, key) = pki::issue_leaf(&ca, &ns, svc, extra_sans, s.valid_for, now)?;
        // Material that was whole and only close to expiry had a working caBundle: keep its
        // CAs (one may still anchor another replica's certificate during a rotation). Anything
        // else could hold a CA that is not ours, so the bundle starts again from our CA.
        let bundle = match (&why, tls_secret.as_ref().map(|t| field(t, "ca.crt"))) {
            (Stale::Expiring { .. }, Some(Ok(old))) => {
                unexpired_bundle(&old, Some(&ca.cert_pem), now)
            }
            _ => ca.cert_pem.clone(),
        };
        let m = Material::new(crt, key, bundle, TLS_SECRET)?;
        let data = [
            ("tls.crt", m.chain_pem.as_str()),
            ("tls.key", m.key_pem.as_str()),
            ("ca.crt", m.ca_bundle_pem.as_str()),
        ];
        if !store
            .write(TLS_SECRET, tls_secret.as_ref(), &data, &[])
            .await?
        {
            continue;
        }
        done.push(format!("leaf: issued a new serving certificate ({why})"));
        return Ok((m, done));
    }
    Err(Error::Contended {
        namespace: ns,
        name: format!("{CA_SECRET}, {TLS_SECRET}"),
        attempts: ATTEMPTS,
    })
}
