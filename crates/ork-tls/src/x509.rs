//! PEM and X.509 reading: the facts the reuse rules (G27) and the Material check need.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};

/// Every certificate in a PEM text, in order. Anything that is not a certificate is skipped,
/// so a bundle with comments between blocks reads fine.
pub(crate) fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut reader = pem.as_bytes();
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            what: what.to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            what: what.to_string(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM text.
pub(crate) fn key(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>> {
    let mut reader = pem.as_bytes();
    match rustls_pemfile::private_key(&mut reader) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(Error::NoKey {
            what: what.to_string(),
        }),
        // the parser's message names the PEM section, never its content
        Err(e) => Err(Error::Pem {
            what: what.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// What the checks need from one certificate.
#[derive(Debug, Clone)]
pub(crate) struct Info {
    pub not_after: SystemTime,
    pub is_ca: bool,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub server_auth: bool,
}

pub(crate) fn parse<'a>(der: &'a CertificateDer<'_>, what: &str) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der.as_ref()) {
        Ok((_, c)) => Ok(c),
        Err(e) => Err(Error::Certificate {
            what: what.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn time(t: i64) -> SystemTime {
    if t >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
    }
}

pub(crate) fn info(der: &CertificateDer<'_>, what: &str) -> Result<Info> {
    let c = parse(der, what)?;
    let bad = |e: X509Error| Error::Certificate {
        what: what.to_string(),
        reason: e.to_string(),
    };
    let mut dns_names = Vec::new();
    let mut ips = Vec::new();
    if let Some(san) = c.subject_alternative_name().map_err(bad)? {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => dns_names.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        ips.push(IpAddr::from(a));
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        ips.push(IpAddr::from(a));
                    }
                }
                _ => {}
            }
        }
    }
    let server_auth = c
        .extended_key_usage()
        .map_err(bad)?
        .is_some_and(|e| e.value.server_auth || e.value.any);
    Ok(Info {
        not_after: time(c.validity().not_after.timestamp()),
        is_ca: c.is_ca(),
        dns_names,
        ips,
        server_auth,
    })
}

/// Whether `ca` signed `cert`: the issuer name matches and the signature verifies with the
/// CA's key. Two generated CAs share their subject, so the name alone cannot tell them apart
/// during a rotation; the signature can. An algorithm ring cannot verify (a supplied
/// certificate may use one) falls back to the name.
pub(crate) fn issued_by(cert: &CertificateDer<'_>, ca: &CertificateDer<'_>) -> bool {
    let (Ok(c), Ok(a)) = (parse(cert, ""), parse(ca, "")) else {
        return false;
    };
    if c.issuer().as_raw() != a.subject().as_raw() {
        return false;
    }
    match c.verify_signature(Some(a.public_key())) {
        Ok(()) => true,
        Err(X509Error::SignatureUnsupportedAlgorithm) => true,
        Err(_) => false,
    }
}

/// The index in `bundle` of the CA that anchors `chain`: the chain's certificates must each be
/// issued by the next, and one of them must be a bundle certificate or issued by one.
pub(crate) fn anchor(chain: &[CertificateDer<'_>], bundle: &[CertificateDer<'_>]) -> Option<usize> {
    for (i, c) in chain.iter().enumerate() {
        if let Some(j) = bundle
            .iter()
            .position(|b| b.as_ref() == c.as_ref() || issued_by(c, b))
        {
            return Some(j);
        }
        match chain.get(i + 1) {
            Some(next) if issued_by(c, next) => {}
            _ => return None,
        }
    }
    None
}

/// Whether the certificate is its own issuer (a self-signed certificate is its own CA, §2.10).
pub(crate) fn self_signed(der: &CertificateDer<'_>) -> bool {
    issued_by(der, der)
}

/// PEM text of DER certificates, one block each.
pub(crate) fn to_pem(certs: &[CertificateDer<'_>]) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    for c in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(c.as_ref());
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}
