//! Every way the serving-certificate material can fail. Messages name the file or Secret and
//! never carry key material.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: no PEM certificate found")]
    NoCertificate { what: String },
    #[error("{what}: no PEM private key found")]
    NoKey { what: String },
    #[error("{what}: {reason}")]
    Pem { what: String, reason: String },
    #[error("{what}: not a valid X.509 certificate: {reason}")]
    Certificate { what: String, reason: String },
    #[error("the private key does not match the certificate in {what}")]
    KeyMismatch { what: String },
    #[error(
        "{cert} is not self-signed and no CA file was given: set TLS_CA to the CA that issued it (docs/security.md §2.10)"
    )]
    MissingCa { cert: PathBuf },
    #[error("the certificate in {what} is not issued by any certificate in {ca}")]
    Untrusted { what: String, ca: String },
    #[error(
        "{what}: the caBundle holds a certificate that is not a CA; it must hold CA certificates only (G26)"
    )]
    LeafInBundle { what: String },
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error(
        "Secret {namespace}/{name} kept changing under concurrent writers; gave up after {attempts} attempts"
    )]
    Contended {
        namespace: String,
        name: String,
        attempts: u32,
    },
    #[error("certManager: {0}")]
    Settings(String),
    #[error("the watch of Secret {name} ended")]
    WatchEnded { name: String },
    #[error("Source::Generated needs a Kubernetes client")]
    NoClient,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
