//! The bare baseline: tokio-rustls and hyper, HTTP/1.1 and HTTP/2, answering every POST with one
//! fixed allow. It reads the body and parses nothing, so it is the ceiling a webhook can reach on
//! this machine with this TLS and HTTP stack.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// The one answer. Its uid is fixed, so a client checking uids must be told not to.
pub const ALLOW: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;

pub struct EchoOptions {
    pub addr: SocketAddr,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub write_ca: Option<PathBuf>,
    pub port_file: Option<PathBuf>,
    /// Answer with this status instead of 200 (for tests of the client's error counting).
    pub status: u16,
}

pub async fn serve(options: EchoOptions) -> Result<(), Error> {
    let (chain, key) = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => load_pem(cert, key)?,
        (None, None) => {
            let generated = generate()?;
            if let Some(path) = &options.write_ca {
                std::fs::write(path, &generated.ca_pem)
                    .map_err(|e| format!("writing the CA to {}: {e}", path.display()))?;
            }
            (generated.chain, generated.key)
        }
        _ => return Err("--cert and --key go together".into()),
    };
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let status = StatusCode::from_u16(options.status)?;

    let listener = TcpListener::bind(options.addr).await?;
    let bound = listener.local_addr()?;
    println!("listening on {bound}");
    if let Some(path) = &options.port_file {
        // Written whole then renamed, so that a script polling for it never reads half an address.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, bound.to_string())?;
        std::fs::rename(&partial, path)?;
    }

    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |request| answer(request, status));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    status: StatusCode,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::POST {
        let mut refused = Response::new(Full::new(Bytes::new()));
        *refused.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return Ok(refused);
    }
    // Read the whole body as a webhook must, and ignore it.
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(ALLOW.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn load_pem(
    cert: &PathBuf,
    key: &PathBuf,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
    };
    let chain =
        rustls_pemfile::certs(&mut read(cert)?.as_slice()).collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", cert.display()).into());
    }
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())?
        .ok_or_else(|| format!("no private key in {}", key.display()))?;
    Ok((chain, key))
}

struct Generated {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A throwaway CA and a serving certificate it signs for 127.0.0.1, ::1 and localhost, all
/// ECDSA P-256 (rcgen's default).
fn generate() -> Result<Generated, Error> {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ork-loadgen echo CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate()?)?;

    let names = ["127.0.0.1", "::1", "localhost"].map(String::from).to_vec();
    let mut leaf = rcgen::CertificateParams::new(names)?;
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "ork-loadgen echo");
    let leaf_key = rcgen::KeyPair::generate()?;
    let leaf = leaf.signed_by(&leaf_key, &ca)?;

    Ok(Generated {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    })
}
