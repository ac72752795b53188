//! ork-tls against a real kube-apiserver (docs/security.md §2.10): reuse, regeneration, a
//! concurrent first start, and a CA rotation with its overlap.
//!
//! A custom harness (harness = false) like crates/ork-testenv/tests/control_plane.rs: one
//! control plane per test binary, started once and dropped at the end even when a test
//! panics. Tests isolate themselves by namespace. With ORK_TEST_KUBECONFIG set, they run
//! against that cluster instead.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use ork_testenv::ControlPlane;
use ork_tls::{
    ANNOTATION_GENERATED_AT, CA_SECRET, CertSettings, Keeper, Material, ReloadableCert, Source,
    TLS_SECRET, ensure, keep_current,
};
use serde_json::json;
use x509_parser::prelude::{FromDer, X509Certificate};

type TestFn = ork_testenv::harness::Test<Env>;

struct Env {
    /// held so the control plane lives as long as the tests; dropping it stops it
    #[allow(dead_code)]
    cp: ControlPlane,
    client: kube::Client,
}

const SVC: &str = "orkestra-gateway";
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_string()) }
}

async fn namespace(client: &kube::Client, name: &str) -> Result<(), String> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).map_err(e)?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(e)?;
    Ok(())
}

/// Per run, so that a rerun against a long-lived cluster (ORK_TEST_KUBECONFIG) starts clean.
fn unique(base: &str) -> String {
    format!("{base}-{}", std::process::id())
}

fn data(s: &Secret, key: &str) -> Option<String> {
    let b = s.data.as_ref()?.get(key)?;
    String::from_utf8(b.0.clone()).ok()
}

fn ders(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut r = pem.as_bytes();
    rustls_pemfile::certs(&mut r)
        .map(|c| c.map(|c| c.as_ref().to_vec()).map_err(e))
        .collect()
}

/// Whether the first certificate of `leaf_pem` was signed by the first of `ca_pem`. Two
/// generated CAs share their name; only the signature tells them apart.
fn issued_by(leaf_pem: &str, ca_pem: &str) -> Result<bool, String> {
    let (l, c) = (ders(leaf_pem)?, ders(ca_pem)?);
    let (Some(l), Some(c)) = (l.first(), c.first()) else {
        return Err("no certificate".into());
    };
    let (_, l) = X509Certificate::from_der(l).map_err(e)?;
    let (_, c) = X509Certificate::from_der(c).map_err(e)?;
    Ok(l.verify_signature(Some(c.public_key())).is_ok())
}

fn settings() -> CertSettings {
    CertSettings {
        ca_overlap_wait: Duration::from_secs(2),
        ..CertSettings::default()
    }
}

/// ensure() twice gives the same material; the Secrets carry the labels, annotations and
/// keys of §1.3; deleting the serving Secret regenerates the leaf from the same CA; deleting
/// both regenerates the CA; a certificate for another Service is not reused.
fn reuse_and_regeneration(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let c = &env.client;
        let ns = &unique("ork-tls-reuse");
        namespace(c, ns).await?;
        let s = settings();
        let first = ensure(c, ns, SVC, &[], &s).await.map_err(e)?;
        let again = ensure(c, ns, SVC, &[], &s).await.map_err(e)?;
        check(
            first == again,
            "a second ensure() did not reuse the material",
        )?;

        let secrets = Api::<Secret>::namespaced(c.clone(), ns);
        let tls = secrets.get(TLS_SECRET).await.map_err(e)?;
        let ca = secrets.get(CA_SECRET).await.map_err(e)?;
        for sec in [&tls, &ca] {
            let labels = sec.metadata.labels.clone().unwrap_or_default();
            check(
                labels.get("app.kubernetes.io/name").map(String::as_str) == Some("orkestra")
                    && labels.get("app.kubernetes.io/tag").map(String::as_str)
                        == Some("orkestra-internal"),
                "labels missing",
            )?;
            let ann = sec.metadata.annotations.clone().unwrap_or_default();
            check(
                ann.contains_key(ANNOTATION_GENERATED_AT),
                "generated-at missing",
            )?;
        }
        check(
            tls.type_.as_deref() == Some("kubernetes.io/tls"),
            "orkestra-tls is not kubernetes.io/tls",
        )?;
        check(
            data(&tls, "tls.crt").as_deref() == Some(first.chain_pem.as_str())
                && data(&tls, "ca.crt").as_deref() == Some(first.ca_bundle_pem.as_str()),
            "orkestra-tls does not hold the material",
        )?;
        // G26 and §1.3: the caBundle is the CA only; the CA key never sits in orkestra-tls
        check(
            data(&ca, "ca.crt").as_deref() == Some(first.ca_bundle_pem.as_str()),
            "the caBundle is not the CA",
        )?;
        check(
            data(&ca, "ca.key").is_some(),
            "orkestra-tls-ca has no ca.key",
        )?;
        check(
            data(&tls, "ca.key").is_none(),
            "the CA key is in orkestra-tls",
        )?;

        // deleting the serving Secret: a new leaf from the same CA, so the caBundle stays
        secrets
            .delete(TLS_SECRET, &DeleteParams::default())
            .await
            .map_err(e)?;
        let regenerated = ensure(c, ns, SVC, &[], &s).await.map_err(e)?;
        check(
            regenerated.chain_pem != first.chain_pem,
            "the leaf was not regenerated",
        )?;
        check(
            regenerated.ca_bundle_pem == first.ca_bundle_pem,
            "regenerating the leaf changed the caBundle",
        )?;

        // another Service's name: the stored certificate does not cover it
        let other = ensure(c, ns, "other-gateway", &["127.0.0.1".into()], &s)
            .await
            .map_err(e)?;
        check(
            other.chain_pem != regenerated.chain_pem,
            "a certificate for another Service was reused",
        )?;

        // both Secrets gone: a new CA
        for name in [TLS_SECRET, CA_SECRET] {
            secrets
                .delete(name, &DeleteParams::default())
                .await
                .map_err(e)?;
        }
        let fresh = ensure(c, ns, SVC, &[], &s).await.map_err(e)?;
        check(
            fresh.ca_bundle_pem != first.ca_bundle_pem,
            "the CA was not regenerated",
        )?;
        Ok(())
    })
}

/// Two replicas starting at once: both succeed and end on one CA and one leaf (G27).
fn concurrent_first_start(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let c = &env.client;
        let ns = &unique("ork-tls-race");
        namespace(c, ns).await?;
        let s = settings();
        let (a, b, d) = tokio::join!(
            ensure(c, ns, SVC, &[], &s),
            ensure(c, ns, SVC, &[], &s),
            ensure(c, ns, SVC, &[], &s)
        );
        let (a, b, d) = (a.map_err(e)?, b.map_err(e)?, d.map_err(e)?);
        check(
            a.ca_bundle_pem == b.ca_bundle_pem && b.ca_bundle_pem == d.ca_bundle_pem,
            "concurrent ensure() calls ended on different CAs",
        )?;
        check(
            a == b && b == d,
            "concurrent ensure() calls ended on different leaves",
        )?;
        let ca = Api::<Secret>::namespaced(c.clone(), ns)
            .get(CA_SECRET)
            .await
            .map_err(e)?;
        check(
            data(&ca, "ca.crt").as_deref() == Some(a.ca_bundle_pem.as_str()),
            "the stored CA is not the one served",
        )?;
        Ok(())
    })
}

#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    bundle_has_old: bool,
    bundle_has_new: bool,
    serving_new: bool,
}

/// A CA rotation (the CA has less than rotationThreshold left): a new CA, then old + new in
/// the caBundle (sent on the channel), then — not before the overlap wait — a leaf from the new
/// CA; the old CA stays in the bundle until it expires. Then deleting the serving Secret makes
/// the keeper regenerate it.
fn ca_rotation(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let c = &env.client;
        let ns = &unique("ork-tls-rotate");
        namespace(c, ns).await?;
        // a CA with an hour left ...
        let start = CertSettings {
            rotation_threshold: 5 * MIN,
            valid_for: 30 * MIN,
            ca_valid_for: HOUR,
            ..settings()
        };
        let m = ensure(c, ns, SVC, &[], &start).await.map_err(e)?;
        let old_ca = m.ca_bundle_pem.clone();
        // ... and a threshold of two hours: the CA is due at once
        let s = CertSettings {
            rotation_threshold: 2 * HOUR,
            valid_for: 12 * HOUR,
            ca_valid_for: 24 * HOUR,
            ca_overlap_wait: Duration::from_secs(3),
            auto_rotate: true,
        };
        let cert = Arc::new(ReloadableCert::new(&m).map_err(e)?);
        let (tx, mut rx) = tokio::sync::watch::channel(m.ca_bundle_pem.clone());
        let rotations = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = rotations.clone();
        let keep = keep_current(
            c.clone(),
            Source::Generated {
                namespace: ns.into(),
                service: SVC.into(),
                extra_sans: Vec::new(),
            },
            s,
            cert.clone(),
            tx,
            move |w: &str| {
                if let Ok(mut l) = log.lock() {
                    l.push(w.to_string());
                }
            },
        );
        let task = tokio::spawn(keep);
        // a second replica that is not the leader: it only reloads what the leader writes
        let follower_cert = Arc::new(ReloadableCert::new(&m).map_err(e)?);
        let (ftx, _frx) = tokio::sync::watch::channel(m.ca_bundle_pem.clone());
        let (_not_leader, leader_rx) = tokio::sync::watch::channel(false);
        let mut follower = Keeper::new(
            Source::Generated {
                namespace: ns.into(),
                service: SVC.into(),
                extra_sans: Vec::new(),
            },
            s,
            Some(c.clone()),
            follower_cert.clone(),
            ftx,
        );
        follower.leader = Some(leader_rx);
        let follower_task = tokio::spawn(follower.run());

        // watch what is published and what is served, every 20 ms
        let secrets = Api::<Secret>::namespaced(c.clone(), ns);
        let mut seen: Vec<Seen> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let new_ca = loop {
            if Instant::now() > deadline {
                task.abort();
                return Err(format!(
                    "no leaf from a new CA after 60s; rotations: {:?}",
                    rotations.lock().map(|l| l.clone()).unwrap_or_default()
                ));
            }
            let signing = secrets.get(CA_SECRET).await.map_err(e)?;
            let signing = data(&signing, "ca.crt").unwrap_or_default();
            let bundle = rx.borrow_and_update().clone();
            let bundle_ders = ders(&bundle)?;
            let served = cert.current();
            let new = signing != old_ca;
            let s = Seen {
                at: Instant::now(),
                bundle_has_old: bundle_ders.contains(&ders(&old_ca)?[0]),
                bundle_has_new: new && bundle_ders.contains(&ders(&signing)?[0]),
                serving_new: new && issued_by(&served.chain_pem, &signing)?,
            };
            seen.push(s.clone());
            if s.serving_new {
                break signing;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let published = seen
            .iter()
            .find(|s| s.bundle_has_old && s.bundle_has_new)
            .ok_or("the new CA was never published next to the old one")?;
        let served = seen
            .iter()
            .find(|s| s.serving_new)
            .ok_or("never served from the new CA")?;
        check(
            served.bundle_has_old && served.bundle_has_new,
            "a leaf from the new CA was served while the caBundle lacked old or new CA",
        )?;
        let gap = served.at.duration_since(published.at);
        check(
            gap >= Duration::from_millis(2500),
            &format!("the leaf from the new CA came {gap:?} after the bundle, not the 3s overlap"),
        )?;
        let stored = secrets.get(TLS_SECRET).await.map_err(e)?;
        let bundle = data(&stored, "ca.crt").unwrap_or_default();
        check(
            ders(&bundle)? == [ders(&old_ca)?[0].clone(), ders(&new_ca)?[0].clone()],
            "the stored caBundle is not old + new CA",
        )?;
        let log = rotations.lock().map(|l| l.clone()).unwrap_or_default();
        let order = [
            "ca: generated",
            "ca: published",
            "leaf: issued from the new CA",
        ];
        let pos: Vec<Option<usize>> = order
            .iter()
            .map(|w| log.iter().position(|l| l.starts_with(w)))
            .collect();
        check(
            pos.iter().all(Option::is_some) && pos.windows(2).all(|w| w[0] < w[1]),
            &format!("rotation callbacks out of order: {log:?}"),
        )?;

        // the keeper (the leader) regenerates a deleted serving Secret; every replica reloads
        let before: Arc<Material> = cert.current();
        secrets
            .delete(TLS_SECRET, &DeleteParams::default())
            .await
            .map_err(e)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while cert.current().chain_pem == before.chain_pem {
            if Instant::now() > deadline || task.is_finished() {
                task.abort();
                return Err("a deleted orkestra-tls was not regenerated and served".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        check(
            issued_by(&cert.current().chain_pem, &new_ca)?,
            "the regenerated leaf is not from the current CA",
        )?;
        // the follower serves what the leader wrote
        let deadline = Instant::now() + Duration::from_secs(30);
        while follower_cert.current() != cert.current() {
            if Instant::now() > deadline {
                task.abort();
                follower_task.abort();
                return Err("the follower did not reload the leader's certificate".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        task.abort();
        follower_task.abort();
        Ok(())
    })
}

fn main() -> ExitCode {
    let tests: &[(&str, TestFn)] = &[
        ("reuse_and_regeneration", reuse_and_regeneration),
        ("concurrent_first_start", concurrent_first_start),
        ("ca_rotation", ca_rotation),
    ];
    ork_testenv::harness::run(
        tests,
        Duration::from_secs(180),
        async {
            let cp = ControlPlane::from_env_or_start().await.map_err(e)?;
            let client = cp.client().await.map_err(e)?;
            println!(
                "control plane ready in {} ms ({})",
                cp.startup.as_millis(),
                cp.kubeconfig.display()
            );
            Ok(Env { cp, client })
        },
        |_| {},
    )
}
