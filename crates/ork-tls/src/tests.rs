#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pki::{self, Ca, Stale};
use crate::{
    CertSettings, Error, Keeper, Material, ReloadableCert, Source, load_files, remaining,
    server_config, x509,
};

const DAY: Duration = Duration::from_secs(86_400);
const NS: &str = "orkestra-system";
const SVC: &str = "orkestra-gateway";

fn ca(valid: Duration) -> Ca {
    pki::new_ca(valid, SystemTime::now()).unwrap()
}

fn leaf(ca: &Ca, svc: &str, extra: &[String], valid: Duration) -> (String, String) {
    pki::issue_leaf(ca, NS, svc, extra, valid, SystemTime::now()).unwrap()
}

fn material(ca: &Ca, svc: &str) -> Material {
    let (crt, key) = leaf(ca, svc, &["127.0.0.1".to_string()], 365 * DAY);
    Material::new(crt, key, ca.cert_pem.clone(), "test").unwrap()
}

fn der(pem: &str) -> CertificateDer<'static> {
    x509::certs(pem, "test").unwrap().remove(0)
}

fn names() -> Vec<String> {
    pki::service_names(NS, SVC, &[])
}

fn secs(t: SystemTime) -> i64 {
    crate::material::secs_until(t, SystemTime::now())
}

#[test]
fn generated_ca_and_leaf_are_what_the_spec_says() {
    let ca = ca(5 * 365 * DAY);
    let (crt, _key) = leaf(&ca, SVC, &["127.0.0.1".to_string()], 365 * DAY);
    let ca_der = der(&ca.cert_pem);
    let leaf_der = der(&crt);
    let (_, c) = X509Certificate::from_der(ca_der.as_ref()).unwrap();
    let (_, l) = X509Certificate::from_der(leaf_der.as_ref()).unwrap();

    // CA: P-256, CN orkestra-gateway-ca, a CA, valid 5y
    assert!(c.is_ca());
    let cn = |x: &X509Certificate<'_>| {
        x.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(cn(&c), "orkestra-gateway-ca");
    for x in [&c, &l] {
        assert_eq!(
            x.public_key().algorithm.algorithm,
            OID_KEY_TYPE_EC_PUBLIC_KEY
        );
        let curve = x
            .public_key()
            .algorithm
            .parameters
            .as_ref()
            .unwrap()
            .as_oid()
            .unwrap();
        assert_eq!(curve, OID_EC_P256);
    }
    let ca_left = c.validity().not_after.timestamp() - chrono::Utc::now().timestamp();
    assert!((ca_left - (5 * 365 * 86_400)).abs() < 60, "{ca_left}");

    // leaf: CN, the four Service names and the extra IP, serverAuth only, valid 1y, from the CA
    assert_eq!(cn(&l), "orkestra-gateway.orkestra-system.svc");
    assert!(!l.is_ca());
    let san = l.subject_alternative_name().unwrap().unwrap();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for n in &san.value.general_names {
        match n {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => ips.push(b.to_vec()),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    assert_eq!(
        dns,
        [
            "orkestra-gateway",
            "orkestra-gateway.orkestra-system",
            "orkestra-gateway.orkestra-system.svc",
            "orkestra-gateway.orkestra-system.svc.cluster.local",
        ]
    );
    assert_eq!(ips, [vec![127, 0, 0, 1]]);
    let eku = l.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth && !eku.any);
    let leaf_left = l.validity().not_after.timestamp() - chrono::Utc::now().timestamp();
    assert!((leaf_left - 365 * 86_400).abs() < 60, "{leaf_left}");
    l.verify_signature(Some(c.public_key())).unwrap();
    assert_eq!(l.issuer().as_raw(), c.subject().as_raw());
    assert!(x509::issued_by(&leaf_der, &ca_der));
    // another CA with the same name did not issue it
    assert!(!x509::issued_by(&leaf_der, &der(&self::ca(DAY).cert_pem)));
}

#[test]
fn a_leaf_never_outlives_its_ca() {
    let ca = ca(DAY);
    let (crt, key) = leaf(&ca, SVC, &[], 365 * DAY);
    let m = Material::new(crt, key, ca.cert_pem.clone(), "t").unwrap();
    assert!(m.leaf_not_after <= ca.not_after);
    let (leaf_s, ca_s) = remaining(&m);
    assert!(
        (ca_s - 86_400).abs() < 60 && leaf_s <= ca_s,
        "{leaf_s} {ca_s}"
    );
}

#[test]
fn material_debug_redacts_the_key() {
    let m = material(&ca(DAY), SVC);
    let shown = format!("{m:?}");
    assert!(
        !shown.contains("PRIVATE KEY") && shown.contains("redacted"),
        "{shown}"
    );
    let cert = ReloadableCert::new(&m).unwrap();
    assert!(!format!("{cert:?}").contains("PRIVATE KEY"));
}

#[test]
fn reuse_accepts_whole_material() {
    let ca = ca(5 * 365 * DAY);
    let (crt, key) = leaf(&ca, SVC, &[], 365 * DAY);
    let m = pki::check_leaf(
        &crt,
        &key,
        &ca.cert_pem,
        &names(),
        30 * DAY,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(m.chain_pem, crt);
    assert_eq!(m.ca_bundle_pem, ca.cert_pem);
}

#[test]
fn reuse_refuses_a_certificate_for_another_service() {
    let ca = ca(5 * 365 * DAY);
    let (crt, key) = leaf(&ca, "other-gateway", &[], 365 * DAY);
    let r = pki::check_leaf(
        &crt,
        &key,
        &ca.cert_pem,
        &names(),
        30 * DAY,
        SystemTime::now(),
    );
    assert_eq!(r.unwrap_err(), Stale::SanMissing("orkestra-gateway".into()));
    // and one that lacks an extra SAN local mode needs
    let (crt, key) = leaf(&ca, SVC, &[], 365 * DAY);
    let want = pki::service_names(NS, SVC, &["127.0.0.1".to_string()]);
    let r = pki::check_leaf(&crt, &key, &ca.cert_pem, &want, 30 * DAY, SystemTime::now());
    assert_eq!(r.unwrap_err(), Stale::SanMissing("127.0.0.1".into()));
}

#[test]
fn reuse_refuses_a_key_that_does_not_match() {
    let ca = ca(5 * 365 * DAY);
    let (crt, _) = leaf(&ca, SVC, &[], 365 * DAY);
    let (_, other_key) = leaf(&ca, SVC, &[], 365 * DAY);
    let r = pki::check_leaf(
        &crt,
        &other_key,
        &ca.cert_pem,
        &names(),
        30 * DAY,
        SystemTime::now(),
    );
    assert_eq!(r.unwrap_err(), Stale::KeyMismatch);
}

#[test]
fn reuse_refuses_a_certificate_close_to_expiry() {
    let ca = ca(5 * 365 * DAY);
    let (crt, key) = leaf(&ca, SVC, &[], 20 * DAY);
    let r = pki::check_leaf(
        &crt,
        &key,
        &ca.cert_pem,
        &names(),
        30 * DAY,
        SystemTime::now(),
    );
    assert!(matches!(r, Err(Stale::Expiring { remaining_secs }) if remaining_secs > 19 * 86_400));
    // the same certificate is fine with a shorter threshold
    assert!(pki::check_leaf(&crt, &key, &ca.cert_pem, &names(), DAY, SystemTime::now()).is_ok());
}

#[test]
fn reuse_refuses_a_certificate_from_a_foreign_ca() {
    let ours = ca(5 * 365 * DAY);
    let foreign = ca(5 * 365 * DAY);
    let (crt, key) = leaf(&foreign, SVC, &[], 365 * DAY);
    let r = pki::check_leaf(
        &crt,
        &key,
        &ours.cert_pem,
        &names(),
        30 * DAY,
        SystemTime::now(),
    );
    assert_eq!(r.unwrap_err(), Stale::Untrusted);
}

#[test]
fn reuse_refuses_a_bundle_holding_the_leaf() {
    let ca = ca(5 * 365 * DAY);
    let (crt, key) = leaf(&ca, SVC, &[], 365 * DAY);
    let bundle = format!("{}{}", ca.cert_pem, crt);
    let r = pki::check_leaf(&crt, &key, &bundle, &names(), 30 * DAY, SystemTime::now());
    assert_eq!(r.unwrap_err(), Stale::LeafInBundle);
}

#[test]
fn reuse_refuses_a_leaf_whose_ca_has_expired() {
    let ca = ca(DAY);
    let (crt, key) = leaf(&ca, SVC, &[], 365 * DAY);
    let later = SystemTime::now() + 2 * DAY;
    let r = pki::check_leaf(&crt, &key, &ca.cert_pem, &names(), Duration::ZERO, later);
    assert_eq!(r.unwrap_err(), Stale::CaExpired);
    assert!(matches!(
        pki::check_ca(&ca.cert_pem, &ca.key_pem, later),
        Err(Stale::CaExpired)
    ));
}

#[test]
fn a_stored_ca_needs_its_own_key_and_to_be_a_ca() {
    let a = ca(DAY);
    let b = ca(DAY);
    let now = SystemTime::now();
    assert!(pki::check_ca(&a.cert_pem, &a.key_pem, now).is_ok());
    assert!(matches!(
        pki::check_ca(&a.cert_pem, &b.key_pem, now),
        Err(Stale::KeyMismatch)
    ));
    let (crt, key) = leaf(&a, SVC, &[], DAY);
    assert!(matches!(pki::check_ca(&crt, &key, now), Err(Stale::NotCa)));
    assert!(matches!(
        pki::check_ca("garbage", &a.key_pem, now),
        Err(Stale::Unusable(_))
    ));
}

#[test]
fn settings_refuse_a_threshold_that_would_renew_forever() {
    assert!(CertSettings::default().validate().is_ok());
    let s = CertSettings {
        rotation_threshold: 2 * DAY,
        valid_for: DAY,
        ..CertSettings::default()
    };
    assert!(matches!(s.validate(), Err(Error::Settings(m)) if m.contains("validFor")));
    let s = CertSettings {
        rotation_threshold: 2 * DAY,
        valid_for: 3 * DAY,
        ca_valid_for: DAY,
        ..CertSettings::default()
    };
    assert!(matches!(s.validate(), Err(Error::Settings(m)) if m.contains("caValidFor")));
}

// ---- supplied files ----

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn self_signed(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let c = p.self_signed(&key).unwrap();
    (c.pem(), key.serialize_pem())
}

#[test]
fn a_self_signed_file_is_its_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = self_signed(&["localhost"]);
    let m = load_files(
        &write(dir.path(), "tls.crt", &crt),
        &write(dir.path(), "tls.key", &key),
        None,
    )
    .unwrap();
    assert_eq!(der(&m.ca_bundle_pem), der(&crt));
    assert_eq!(m.leaf_not_after, m.ca_not_after);
}

#[test]
fn a_file_from_a_ca_needs_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(DAY);
    let (crt, key) = leaf(&ca, SVC, &[], DAY);
    let c = write(dir.path(), "tls.crt", &crt);
    let k = write(dir.path(), "tls.key", &key);
    match load_files(&c, &k, None) {
        Err(Error::MissingCa { cert }) => assert_eq!(cert, c),
        other => panic!("{other:?}"),
    }
    let ca_file = write(dir.path(), "ca.crt", &ca.cert_pem);
    let m = load_files(&c, &k, Some(&ca_file)).unwrap();
    assert_eq!(m.ca_bundle_pem, ca.cert_pem);
    // a CA file that did not issue it, and a key that does not match, are start errors
    let other = write(dir.path(), "other.crt", &self::ca(DAY).cert_pem);
    assert!(matches!(
        load_files(&c, &k, Some(&other)),
        Err(Error::Untrusted { .. })
    ));
    let (_, wrong) = leaf(&ca, SVC, &[], DAY);
    let wrong = write(dir.path(), "wrong.key", &wrong);
    let e = load_files(&c, &wrong, Some(&ca_file)).unwrap_err();
    assert!(matches!(e, Error::KeyMismatch { .. }), "{e}");
    // the message never carries the key
    assert!(!e.to_string().contains("PRIVATE"));
    assert!(matches!(
        load_files(&dir.path().join("missing"), &k, None),
        Err(Error::Read { .. })
    ));
}

// ---- serving ----

fn client_config(
    ca_pem: &str,
    v: &'static rustls::SupportedProtocolVersion,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in x509::certs(ca_pem, "ca").unwrap() {
        roots.add(c).unwrap();
    }
    let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[v])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(c)
}

struct Handshake {
    peer: CertificateDer<'static>,
    alpn: Option<Vec<u8>>,
    version: rustls::ProtocolVersion,
    client: tokio_rustls::client::TlsStream<tokio::io::DuplexStream>,
    server: tokio_rustls::server::TlsStream<tokio::io::DuplexStream>,
}

async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    name: &str,
) -> Result<Handshake, String> {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let connector = tokio_rustls::TlsConnector::from(client);
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let (s, c) = tokio::join!(acceptor.accept(a), connector.connect(name, b));
    let c = c.map_err(|e| e.to_string())?;
    let s = s.map_err(|e| e.to_string())?;
    let (_, conn) = c.get_ref();
    Ok(Handshake {
        peer: conn.peer_certificates().unwrap()[0].clone(),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        version: conn.protocol_version().unwrap(),
        client: c,
        server: s,
    })
}

#[tokio::test]
async fn a_client_that_trusts_the_bundle_connects_over_tls_12_and_13() {
    let ca = ca(DAY);
    let m = material(&ca, SVC);
    let cert = Arc::new(ReloadableCert::new(&m).unwrap());
    let server = server_config(cert).unwrap();
    for (v, want) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        for name in [
            "orkestra-gateway.orkestra-system.svc",
            "orkestra-gateway.orkestra-system.svc.cluster.local",
            "127.0.0.1",
        ] {
            let h = handshake(server.clone(), client_config(&m.ca_bundle_pem, v), name)
                .await
                .unwrap();
            assert_eq!(h.version, want);
            assert_eq!(h.alpn.as_deref(), Some(&b"h2"[..]));
            assert_eq!(h.peer, der(&m.chain_pem));
        }
    }
    // a name the certificate does not cover, and a client that trusts another CA, fail
    let v = &rustls::version::TLS13;
    assert!(
        handshake(
            server.clone(),
            client_config(&m.ca_bundle_pem, v),
            "evil.example"
        )
        .await
        .is_err()
    );
    let other = self::ca(DAY);
    let name = "orkestra-gateway.orkestra-system.svc";
    assert!(
        handshake(server, client_config(&other.cert_pem, v), name)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn swap_serves_the_new_certificate_to_new_connections_only() {
    let ca = ca(DAY);
    let first = material(&ca, SVC);
    let second = material(&ca, SVC);
    assert_ne!(first.chain_pem, second.chain_pem);
    let cert = Arc::new(ReloadableCert::new(&first).unwrap());
    let server = server_config(cert.clone()).unwrap();
    let client = client_config(&ca.cert_pem, &rustls::version::TLS13);
    let name = "orkestra-gateway.orkestra-system.svc";
    let mut open = handshake(server.clone(), client.clone(), name)
        .await
        .unwrap();
    assert_eq!(open.peer, der(&first.chain_pem));

    cert.swap(&second).unwrap();
    assert_eq!(*cert.current(), second);
    let fresh = handshake(server, client, name).await.unwrap();
    assert_eq!(fresh.peer, der(&second.chain_pem));

    // the connection opened before the swap still carries data
    open.client.write_all(b"ping").await.unwrap();
    open.client.flush().await.unwrap();
    let mut buf = [0u8; 4];
    open.server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");

    // material that does not check is refused and the served certificate stays
    let mut broken = second.clone();
    broken.key_pem = first.key_pem.clone();
    assert!(matches!(cert.swap(&broken), Err(Error::KeyMismatch { .. })));
    assert_eq!(*cert.current(), second);
}

#[tokio::test]
async fn keep_current_reloads_changed_files_and_sends_the_bundle_first() {
    let dir = tempfile::tempdir().unwrap();
    let ca1 = ca(DAY);
    let (crt, key) = leaf(&ca1, SVC, &[], DAY);
    let c = write(dir.path(), "tls.crt", &crt);
    let k = write(dir.path(), "tls.key", &key);
    let a = write(dir.path(), "ca.crt", &ca1.cert_pem);
    let m = load_files(&c, &k, Some(&a)).unwrap();
    let cert = Arc::new(ReloadableCert::new(&m).unwrap());
    let (tx, mut rx) = tokio::sync::watch::channel(m.ca_bundle_pem.clone());
    let rotations = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = rotations.clone();
    let mut keeper = Keeper::new(
        Source::Files {
            cert: c.clone(),
            key: k.clone(),
            ca: Some(a.clone()),
        },
        CertSettings::default(),
        None,
        cert.clone(),
        tx,
    );
    keeper.file_poll = Duration::from_millis(20);
    keeper.on_rotate = Arc::new(move |w: &str| seen.lock().unwrap().push(w.to_string()));
    let task = tokio::spawn(keeper.run());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*cert.current(), m, "unchanged files are not a rotation");
    assert!(rotations.lock().unwrap().is_empty());

    // a new CA: the bundle (old + new) is sent, and the leaf from the new CA is served
    let ca2 = ca(DAY);
    let (crt2, key2) = leaf(&ca2, SVC, &[], DAY);
    let bundle = format!("{}{}", ca1.cert_pem, ca2.cert_pem);
    write(dir.path(), "ca.crt", &bundle);
    write(dir.path(), "tls.key", &key2);
    write(dir.path(), "tls.crt", &crt2);
    tokio::time::timeout(Duration::from_secs(5), async {
        while cert.current().chain_pem != crt2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), bundle);
    assert!(!rotations.lock().unwrap().is_empty());

    // a half-written pair (a key that does not match) is skipped; the served one stays
    let (_, stray) = leaf(&ca2, SVC, &[], DAY);
    write(dir.path(), "tls.key", &stray);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cert.current().chain_pem, crt2);
    assert!(!task.is_finished());
    task.abort();
}

#[test]
fn remaining_counts_down_and_goes_negative() {
    let m = material(&ca(DAY), SVC);
    let (leaf_s, ca_s) = remaining(&m);
    assert!(leaf_s > 86_000 && ca_s > 86_000);
    let later = SystemTime::now() + 3 * DAY;
    let (l, c) = crate::material::remaining_at(&m, later);
    assert!(l < 0 && c < 0);
    assert!(secs(m.leaf_not_after) <= leaf_s);
}

#[test]
fn settings_come_from_the_resolved_katalog() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/website/katalog.yaml");
    let mut k = ork_katalog::load_file(&p).katalog.unwrap();
    k.security.cert_manager.valid_for = Some("90d".into());
    let r = ork_katalog::posture::resolve(&k, &|_| None).unwrap();
    let s = CertSettings::from_resolved(&r, Duration::from_secs(60));
    assert_eq!(
        s,
        CertSettings {
            valid_for: 90 * DAY,
            ..CertSettings::default()
        }
    );
}
