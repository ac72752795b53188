//! Generating the CA and the serving certificate, and the reuse rules for stored ones
//! (docs/security.md §2.10, G26, G27). Pure: no I/O, `now` is a parameter.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::material::{Material, certified_key};
use crate::x509;

/// The generated CA's common name (docs/security.md §2.10).
pub const CA_COMMON_NAME: &str = "orkestra-gateway-ca";

/// Certificates start this long before they are made, so that a node whose clock is a little
/// behind does not see them as not yet valid.
const BACKDATE: Duration = Duration::from_secs(300);

/// A CA read from, or about to be written to, `orkestra-tls-ca`.
#[derive(Clone)]
pub(crate) struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: SystemTime,
}

/// Why stored material is not reused (G27); shown in the log line that announces a
/// regeneration, so it never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stale {
    Missing(&'static str),
    Unusable(String),
    KeyMismatch,
    NotCa,
    Untrusted,
    LeafInBundle,
    SanMissing(String),
    NotServerAuth,
    CaExpired,
    Expiring { remaining_secs: i64 },
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Missing(k) => write!(f, "{k} is missing"),
            Stale::Unusable(why) => write!(f, "{why}"),
            Stale::KeyMismatch => write!(f, "the key does not match the certificate"),
            Stale::NotCa => write!(f, "the CA certificate is not a CA"),
            Stale::Untrusted => write!(f, "the certificate does not chain to ca.crt"),
            Stale::LeafInBundle => write!(f, "ca.crt holds a certificate that is not a CA (G26)"),
            Stale::SanMissing(n) => write!(f, "the certificate does not cover {n}"),
            Stale::NotServerAuth => write!(f, "the certificate is not for serverAuth"),
            Stale::CaExpired => write!(f, "its CA has expired"),
            Stale::Expiring { remaining_secs } => write!(
                f,
                "only {remaining_secs}s remain, not more than the rotation threshold"
            ),
        }
    }
}

fn at(t: SystemTime) -> Result<OffsetDateTime> {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .map_err(|e| Error::Settings(format!("a certificate time out of range: {e}")))
}

/// A new CA: ECDSA P-256, CN orkestra-gateway-ca, valid `valid_for`. Path length 0: it signs
/// serving certificates only.
pub(crate) fn new_ca(valid_for: Duration, now: SystemTime) -> Result<Ca> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let not_after = now + valid_for;
    params.not_before = at(now - BACKDATE)?;
    params.not_after = at(not_after)?;
    let cert = params.self_signed(&key)?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: truncate(not_after),
    })
}

/// X.509 keeps whole seconds.
fn truncate(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// The names the serving certificate must cover: the Service's four DNS forms, then the
/// extra SANs (IP addresses or DNS names).
pub(crate) fn service_names(ns: &str, svc: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        svc.to_string(),
        format!("{svc}.{ns}"),
        format!("{svc}.{ns}.svc"),
        format!("{svc}.{ns}.svc.cluster.local"),
    ];
    for e in extra {
        let e = e.trim().to_ascii_lowercase();
        if !e.is_empty() && !names.contains(&e) {
            names.push(e);
        }
    }
    names
}

/// A serving certificate from `ca`: ECDSA P-256, CN <svc>.<ns>.svc, the SANs of
/// [`service_names`], serverAuth, valid `valid_for` but never past the CA (a leaf that
/// outlives its CA would fail verification anyway; capping it makes its expiry honest).
/// Returns (certificate PEM, key PEM).
pub(crate) fn issue_leaf(
    ca: &Ca,
    ns: &str,
    svc: &str,
    extra: &[String],
    valid_for: Duration,
    now: SystemTime,
) -> Result<(String, String)> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{svc}.{ns}.svc"));
    for n in service_names(ns, svc, extra) {
        params.subject_alt_names.push(match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.try_into()?),
        });
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = at(now - BACKDATE)?;
    params.not_after = at((now + valid_for).min(ca.not_after))?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A stored CA is usable when it parses, is a CA, its key matches and it has not expired.
/// Whether it is due for rotation is the rotation's question, not this one's.
pub(crate) fn check_ca(cert_pem: &str, key_pem: &str, now: SystemTime) -> Result<Ca, Stale> {
    let what = "orkestra-tls-ca";
    let certs = x509::certs(cert_pem, what).map_err(|e| Stale::Unusable(e.to_string()))?;
    let first = certs
        .first()
        .ok_or_else(|| Stale::Unusable("no certificate".into()))?;
    let info = x509::info(first, what).map_err(|e| Stale::Unusable(e.to_string()))?;
    if !info.is_ca {
        return Err(Stale::NotCa);
    }
    match certified_key(vec![first.clone()], key_pem, what) {
        Ok(_) => {}
        Err(Error::KeyMismatch { .. }) => return Err(Stale::KeyMismatch),
        Err(e) => return Err(Stale::Unusable(e.to_string())),
    }
    if info.not_after <= now {
        return Err(Stale::CaExpired);
    }
    Ok(Ca {
        // the text as stored when it is the one certificate, so comparisons see no change
        cert_pem: if certs.len() == 1 {
            cert_pem.to_string()
        } else {
            x509::to_pem(std::slice::from_ref(first))
        },
        key_pem: key_pem.to_string(),
        not_after: info.not_after,
    })
}

/// The reuse rules of G27 for stored serving material: it parses, the key matches, the SANs
/// cover `names`, it chains to `ca.crt` (CA certificates only, G26) whose anchor has not
/// expired, and more than `threshold` remains.
pub(crate) fn check_leaf(
    tls_crt: &str,
    tls_key: &str,
    ca_crt: &str,
    names: &[String],
    threshold: Duration,
    now: SystemTime,
) -> Result<Material, Stale> {
    let what = "orkestra-tls";
    let m = match Material::new(
        tls_crt.to_string(),
        tls_key.to_string(),
        ca_crt.to_string(),
        what,
    ) {
        Ok(m) => m,
        Err(Error::KeyMismatch { .. }) => return Err(Stale::KeyMismatch),
        Err(Error::Untrusted { .. }) => return Err(Stale::Untrusted),
        Err(e) => return Err(Stale::Unusable(e.to_string())),
    };
    let bundle = x509::certs(ca_crt, what).map_err(|e| Stale::Unusable(e.to_string()))?;
    for b in &bundle {
        let i = x509::info(b, what).map_err(|e| Stale::Unusable(e.to_string()))?;
        if !i.is_ca {
            return Err(Stale::LeafInBundle);
        }
    }
    let chain = x509::certs(tls_crt, what).map_err(|e| Stale::Unusable(e.to_string()))?;
    let leaf = chain
        .first()
        .ok_or_else(|| Stale::Unusable("no certificate".into()))?;
    let info = x509::info(leaf, what).map_err(|e| Stale::Unusable(e.to_string()))?;
    for n in names {
        let covered = match n.parse::<IpAddr>() {
            Ok(ip) => info.ips.contains(&ip),
            Err(_) => info.dns_names.iter().any(|d| d == n),
        };
        if !covered {
            return Err(Stale::SanMissing(n.clone()));
        }
    }
    if !info.server_auth {
        return Err(Stale::NotServerAuth);
    }
    if m.ca_not_after <= now {
        return Err(Stale::CaExpired);
    }
    let remaining = m.leaf_not_after.duration_since(now).unwrap_or_default();
    if remaining <= threshold {
        return Err(Stale::Expiring {
            remaining_secs: crate::material::secs_until(m.leaf_not_after, now),
        });
    }
    Ok(m)
}

/// Supplied files, used as given (docs/security.md §2.10): the certificate (and any
/// intermediates) and its key; the caBundle is the CA file, or the certificate itself when it
/// is self-signed. Any other certificate without a CA file is an error, as is a key that does
/// not match or a certificate the CA file did not issue.
pub fn load_files(
    cert: &std::path::Path,
    key: &std::path::Path,
    ca: Option<&std::path::Path>,
) -> Result<Material> {
    let chain_pem = read_capped(cert)?;
    let key_pem = read_capped(key)?;
    let what = cert.display().to_string();
    let chain = x509::certs(&chain_pem, &what)?;
    let bundle_pem = match ca {
        Some(p) => read_capped(p)?,
        None => match chain.first() {
            Some(leaf) if x509::self_signed(leaf) => x509::to_pem(std::slice::from_ref(leaf)),
            _ => {
                return Err(Error::MissingCa {
                    cert: cert.to_path_buf(),
                });
            }
        },
    };
    let (m, _) = Material::checked(chain_pem, key_pem, bundle_pem, &what).map_err(|e| match e {
        Error::Untrusted { what, .. } => Error::Untrusted {
            what,
            ca: ca.map_or_else(|| "itself".to_string(), |p| p.display().to_string()),
        },
        e => e,
    })?;
    Ok(m)
}

/// Certificate files are small; a cap keeps a wrong path (a device, a huge log) from being
/// read whole.
const MAX_PEM_BYTES: u64 = 1 << 20;

pub(crate) fn read_capped(p: &std::path::Path) -> Result<String> {
    use std::io::Read as _;
    let f = std::fs::File::open(p).map_err(|source| Error::Read {
        path: p.to_path_buf(),
        source,
    })?;
    let mut buf = String::new();
    f.take(MAX_PEM_BYTES + 1)
        .read_to_string(&mut buf)
        .map_err(|source| Error::Read {
            path: p.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > MAX_PEM_BYTES {
        return Err(Error::Pem {
            what: p.display().to_string(),
            reason: format!("larger than {MAX_PEM_BYTES} bytes; not a certificate file"),
        });
    }
    Ok(buf)
}
