//! The certificate rustls serves, swappable without a restart (docs/security.md §2.10).

use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::Result;
use crate::material::Material;

struct Loaded {
    key: Arc<CertifiedKey>,
    material: Arc<Material>,
}

/// A rustls certificate resolver whose certificate can be swapped without restarting. A
/// handshake takes the certificate current when it starts; open connections keep theirs.
pub struct ReloadableCert {
    inner: RwLock<Arc<Loaded>>,
}

// Debug by hand (rustls requires it): never the key.
impl std::fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("material", &self.current())
            .finish()
    }
}

impl ReloadableCert {
    pub fn new(m: &Material) -> Result<ReloadableCert> {
        Ok(ReloadableCert {
            inner: RwLock::new(Arc::new(load(m)?)),
        })
    }

    /// Serves `m` from the next handshake on. Material that does not check (key mismatch, a
    /// chain not anchored in its bundle) is refused and the current certificate stays.
    pub fn swap(&self, m: &Material) -> Result<()> {
        let loaded = Arc::new(load(m)?);
        // a poisoned lock only means a panic elsewhere while holding it; the Arc inside is
        // always whole, so keep serving
        let mut w = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *w = loaded;
        Ok(())
    }

    pub fn current(&self) -> Arc<Material> {
        self.loaded().material.clone()
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn load(m: &Material) -> Result<Loaded> {
    let (material, key) = Material::checked(
        m.chain_pem.clone(),
        m.key_pem.clone(),
        m.ca_bundle_pem.clone(),
        "served material",
    )?;
    Ok(Loaded {
        key,
        material: Arc::new(material),
    })
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.loaded().key.clone())
    }
}

/// The Gateway's rustls configuration: TLS 1.2 and 1.3 only, ring's default AEAD suites (on
/// 1.2 only ECDHE with AES-GCM or ChaCha20-Poly1305), ALPN h2 then http/1.1, no client
/// authentication (the API server presents no client certificate unless configured to).
pub fn server_config(cert: Arc<ReloadableCert>) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
