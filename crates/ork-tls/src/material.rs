//! The settings and the PEM material the Gateway serves (docs/security.md §2.10).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};
use crate::x509;

/// `security.certManager` (docs/security.md §2.10), resolved once by
/// `ork_katalog::posture::resolve`, plus the overlap wait of a CA rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSettings {
    /// renew (leaf) and rotate (CA) without an operator
    pub auto_rotate: bool,
    /// renew a certificate when less than this remains; reuse one only when more remains
    pub rotation_threshold: Duration,
    /// lifetime of the serving certificate (capped at its CA's expiry)
    pub valid_for: Duration,
    /// lifetime of the generated CA
    pub ca_valid_for: Duration,
    /// wait between publishing old + new CA and issuing from the new CA: long enough for every
    /// webhook configuration to carry the new caBundle (60 s in production; tests shorten it)
    pub ca_overlap_wait: Duration,
}

impl Default for CertSettings {
    fn default() -> Self {
        CertSettings {
            auto_rotate: true,
            rotation_threshold: Duration::from_secs(30 * 86_400),
            valid_for: Duration::from_secs(365 * 86_400),
            ca_valid_for: Duration::from_secs(5 * 365 * 86_400),
            ca_overlap_wait: Duration::from_secs(60),
        }
    }
}

impl CertSettings {
    /// The settings `ork_katalog::posture::resolve` resolved from `security.certManager`
    /// (else `TLS_AUTO_ROTATE`, `TLS_ROTATION_THRESHOLD`, `TLS_VALID_FOR`, else the defaults),
    /// with the overlap wait of a CA rotation.
    pub fn from_resolved(
        r: &ork_katalog::posture::Resolved,
        ca_overlap_wait: Duration,
    ) -> CertSettings {
        let c = &r.cert_manager;
        CertSettings {
            auto_rotate: c.auto_rotate,
            rotation_threshold: c.rotation_threshold,
            valid_for: c.valid_for,
            ca_valid_for: c.ca_valid_for,
            ca_overlap_wait,
        }
    }

    /// The relations the resolver enforces, checked again because a caller may build the
    /// settings by hand: a threshold not below a lifetime would renew on every check.
    pub fn validate(&self) -> Result<()> {
        if self.valid_for.is_zero() || self.ca_valid_for.is_zero() {
            return Err(Error::Settings(
                "validFor and caValidFor must be above 0".into(),
            ));
        }
        if self.rotation_threshold >= self.valid_for {
            return Err(Error::Settings(
                "rotationThreshold must be less than validFor".into(),
            ));
        }
        if self.rotation_threshold >= self.ca_valid_for {
            return Err(Error::Settings(
                "rotationThreshold must be less than caValidFor".into(),
            ));
        }
        Ok(())
    }
}

/// PEM material currently served.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    /// the serving certificate first, then any intermediates
    pub chain_pem: String,
    pub key_pem: String,
    /// the caBundle: CA certificates only, never the leaf (G26); old + new during a CA rotation
    pub ca_bundle_pem: String,
    pub leaf_not_after: SystemTime,
    /// expiry of the bundle certificate that anchors the chain
    pub ca_not_after: SystemTime,
}

// Debug by hand: the derived one would print the private key.
impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("leaf_not_after", &self.leaf_not_after)
            .field("ca_not_after", &self.ca_not_after)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Material {
    /// Checks PEM material as a whole: every part parses, the key matches the leaf, and the
    /// chain is anchored in the bundle. `what` names the source in errors.
    pub fn new(
        chain_pem: String,
        key_pem: String,
        ca_bundle_pem: String,
        what: &str,
    ) -> Result<Material> {
        let (m, _) = Self::checked(chain_pem, key_pem, ca_bundle_pem, what)?;
        Ok(m)
    }

    /// [`Material::new`] plus the rustls key, so callers that serve it do not parse twice.
    pub(crate) fn checked(
        chain_pem: String,
        key_pem: String,
        ca_bundle_pem: String,
        what: &str,
    ) -> Result<(Material, Arc<CertifiedKey>)> {
        let chain = x509::certs(&chain_pem, what)?;
        let bundle = x509::certs(&ca_bundle_pem, &format!("{what} (caBundle)"))?;
        let key = certified_key(chain.clone(), &key_pem, what)?;
        let leaf = chain.first().ok_or_else(|| Error::NoCertificate {
            what: what.to_string(),
        })?;
        let leaf_info = x509::info(leaf, what)?;
        let anchor = x509::anchor(&chain, &bundle)
            .and_then(|i| bundle.get(i))
            .ok_or_else(|| Error::Untrusted {
                what: what.to_string(),
                ca: format!("{what} (caBundle)"),
            })?;
        let ca_info = x509::info(anchor, what)?;
        Ok((
            Material {
                chain_pem,
                key_pem,
                ca_bundle_pem,
                leaf_not_after: leaf_info.not_after,
                ca_not_after: ca_info.not_after,
            },
            key,
        ))
    }
}

/// The rustls key for a chain, refusing a key that does not match the leaf.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key_pem: &str,
    what: &str,
) -> Result<Arc<CertifiedKey>> {
    let key = x509::key(key_pem, what)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key)?;
    let ck = CertifiedKey::new(chain, signing);
    // Unknown (a key type that cannot name its public key) is a mismatch too: serving a
    // certificate whose key we cannot check would fail every handshake at the API server.
    ck.keys_match().map_err(|_| Error::KeyMismatch {
        what: what.to_string(),
    })?;
    Ok(Arc::new(ck))
}

/// Seconds left on the serving certificate and on its CA, for
/// `ork_gateway_cert_expiry_seconds{cert="leaf"|"ca"}`; negative once expired.
pub fn remaining(m: &Material) -> (i64, i64) {
    remaining_at(m, SystemTime::now())
}

pub(crate) fn remaining_at(m: &Material, now: SystemTime) -> (i64, i64) {
    (
        secs_until(m.leaf_not_after, now),
        secs_until(m.ca_not_after, now),
    )
}

pub(crate) fn secs_until(t: SystemTime, now: SystemTime) -> i64 {
    match t.duration_since(now) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
