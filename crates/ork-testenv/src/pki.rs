//! The control plane's own CA (made with rcgen): API server serving certificate, an admin client
//! certificate in `system:masters`, the service-account signing key, and serving certificates
//! for webhooks the tests run on 127.0.0.1.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

pub struct Pki {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    admin: (String, String),
}

pub struct Files {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Pki {
    pub fn new() -> Result<Pki, String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ork-testenv-ca");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(err)?;
        let issuer = Issuer::new(params, key);
        let mut pki = Pki {
            ca_pem: cert.pem(),
            issuer,
            admin: (String::new(), String::new()),
        };
        pki.admin = pki.issue_client("admin", &["system:masters"])?;
        Ok(pki)
    }

    /// A serving certificate for DNS names and IP addresses; returns (cert PEM, key PEM).
    pub fn issue_server(&self, names: &[&str]) -> Result<(String, String), String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        for n in names {
            params.subject_alt_names.push(match n.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into().map_err(err)?),
            });
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A client certificate: CN = user, O = groups.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<(String, String), String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, user);
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Writes the CA, the API server's serving pair and the service-account key.
    pub fn write(&self, dir: &Path) -> Result<Files, String> {
        let (cert, key) = self.issue_server(&[
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "10.0.0.1",
        ])?;
        let sa = KeyPair::generate().map_err(err)?;
        let files = Files {
            ca_cert: dir.join("ca.crt"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            sa_key: dir.join("service-account.key"),
            sa_pub: dir.join("service-account.pub"),
        };
        for (p, body) in [
            (&files.ca_cert, self.ca_pem.as_str()),
            (&files.serving_cert, cert.as_str()),
            (&files.serving_key, key.as_str()),
            (&files.sa_key, sa.serialize_pem().as_str()),
            (&files.sa_pub, sa.public_key_pem().as_str()),
        ] {
            std::fs::write(p, body).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(files)
    }

    /// An admin kubeconfig for `server`.
    pub fn kubeconfig(&self, server: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: ork-local\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\n\
             users:\n- name: ork-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n\
             contexts:\n- name: ork-local\n  context: {{cluster: ork-local, user: ork-admin}}\ncurrent-context: ork-local\n",
            b(&self.ca_pem),
            b(&self.admin.0),
            b(&self.admin.1)
        )
    }
}
