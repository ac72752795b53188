//! Keeping the served certificate current: reload on change, renew and rotate
//! (docs/security.md §2.10).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{WatchStreamExt as _, watcher};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::material::{CertSettings, Material};
use crate::pki;
use crate::serve::ReloadableCert;
use crate::store::{
    self, ANNOTATION_CA_PUBLISHED_AT, CA_SECRET, Store, TLS_SECRET, stored_ca, stored_leaf,
};
use crate::x509;

/// Where the material comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `TLS_CERT`, `TLS_KEY` and optionally `TLS_CA`: used as given, reloaded when they change.
    Files {
        cert: PathBuf,
        key: PathBuf,
        ca: Option<PathBuf>,
    },
    /// Generated and kept in the Secrets of §1.3 in `namespace`.
    Generated {
        namespace: String,
        service: String,
        /// extra SANs: IPs or DNS names (local mode registers https://127.0.0.1:PORT, so
        /// 127.0.0.1 must be a SAN)
        extra_sans: Vec<String>,
    },
}

/// Called with a one-line description of every rotation this replica performs (the Gateway
/// writes an audit line). Never given key material.
pub type OnRotate = Arc<dyn Fn(&str) + Send + Sync>;

/// What [`keep_current`] keeps current and whom it tells.
pub struct Keeper {
    pub source: Source,
    pub settings: CertSettings,
    /// needed for [`Source::Generated`]
    pub client: Option<kube::Client>,
    /// the certificate the Gateway serves
    pub cert: Arc<ReloadableCert>,
    /// every change of the caBundle, sent before a certificate anchored in it is served, so
    /// the Gateway re-registers its webhook configurations first
    pub bundle: watch::Sender<String>,
    pub on_rotate: OnRotate,
    /// whether this replica may write (the leader); None = always. Every replica reloads; only
    /// the leader repairs, renews and rotates.
    pub leader: Option<watch::Receiver<bool>>,
    /// how often supplied files are checked for a change
    pub file_poll: Duration,
}

impl Keeper {
    /// A keeper that is always the leader, with no rotation callback and a 2 s file poll.
    pub fn new(
        source: Source,
        settings: CertSettings,
        client: Option<kube::Client>,
        cert: Arc<ReloadableCert>,
        bundle: watch::Sender<String>,
    ) -> Keeper {
        Keeper {
            source,
            settings,
            client,
            cert,
            bundle,
            on_rotate: Arc::new(|_| {}),
            leader: None,
            file_poll: Duration::from_secs(2),
        }
    }

    /// Keeps the certificate current until the task is dropped; see [`keep_current`].
    pub async fn run(self) -> Result<()> {
        self.settings.validate()?;
        match self.source.clone() {
            Source::Files { cert, key, ca } => keep_files(&self, cert, key, ca).await,
            Source::Generated {
                namespace,
                service,
                extra_sans,
            } => {
                let client = self.client.clone().ok_or(Error::NoClient)?;
                let store = Store::new(&client, &namespace);
                keep_generated(&self, &store, &service, &extra_sans).await
            }
        }
    }

    fn is_leader(&self) -> bool {
        self.leader.as_ref().is_none_or(|l| *l.borrow())
    }

    fn rotated(&self, what: &str) {
        info!(rotation = what, "certificate rotation");
        (self.on_rotate)(what);
    }

    /// Serves `m`: the caBundle goes out first, so that a certificate from a new CA is never
    /// served before the Gateway could register that CA.
    fn publish(&self, m: &Material) -> Result<()> {
        if *self.bundle.borrow() != m.ca_bundle_pem {
            self.bundle.send_replace(m.ca_bundle_pem.clone());
        }
        if *self.cert.current() != *m {
            self.cert.swap(m)?;
            info!("serving certificate reloaded");
        }
        Ok(())
    }
}

/// Keeps `cert` current until the task is dropped (docs/security.md §2.10), as the leader
/// (use [`Keeper`] for a leadership channel or another file poll).
///
/// - **Generated**: watches `orkestra-tls` and `orkestra-tls-ca` and serves what they hold.
///   The leader regenerates missing or unusable material (G27) and, when `auto_rotate`, renews
///   the leaf when less than `rotation_threshold` remains and rotates the CA in steps: a new
///   CA in `orkestra-tls-ca`; old + new CA in the caBundle (`ca.crt`), sent on `bundle`; after
///   `ca_overlap_wait`, the leaf from the new CA; the old CA dropped from the bundle when it
///   expires. Every step is stored in the Secrets, so a restart resumes it.
/// - **Files**: checks the files every 2 s (by content hash) and serves them when they load;
///   a half-written set (a key that does not match yet) is skipped until it does. `client` is
///   not used.
///
/// Every change of the caBundle is sent on `bundle` before a certificate anchored in it is
/// served; every rotation this replica performs calls `on_rotate` with one line saying what.
pub async fn keep_current(
    client: kube::Client,
    source: Source,
    settings: CertSettings,
    cert: Arc<ReloadableCert>,
    bundle: watch::Sender<String>,
    on_rotate: impl Fn(&str) + Send + Sync + 'static,
) -> Result<()> {
    let mut k = Keeper::new(source, settings, Some(client), cert, bundle);
    k.on_rotate = Arc::new(on_rotate);
    k.run().await
}

async fn keep_files(k: &Keeper, cert: PathBuf, key: PathBuf, ca: Option<PathBuf>) -> Result<()> {
    let mut last: Option<[u8; 32]> = None;
    loop {
        let mut h = Sha256::new();
        for p in [Some(&cert), Some(&key), ca.as_ref()].into_iter().flatten() {
            // an unreadable file hashes as its error, so the load below reports it once
            match pki::read_capped(p) {
                Ok(text) => h.update(text.as_bytes()),
                Err(e) => h.update(e.to_string().as_bytes()),
            }
            h.update([0]);
        }
        let digest: [u8; 32] = h.finalize().into();
        if last != Some(digest) {
            last = Some(digest);
            match pki::load_files(&cert, &key, ca.as_deref()) {
                Ok(m) if *k.cert.current() != m => {
                    k.publish(&m)?;
                    k.rotated("files: reloaded TLS_CERT/TLS_KEY/TLS_CA");
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "the certificate files do not load; serving the previous certificate")
                }
            }
        }
        tokio::time::sleep(k.file_poll).await;
    }
}

/// How soon to look again after this replica wrote: the watch usually wakes it first.
const SOON: Duration = Duration::from_secs(1);
/// The longest sleep: a periodic look bounds the effect of a missed watch event.
const IDLE: Duration = Duration::from_secs(3600);

async fn keep_generated(k: &Keeper, store: &Store, svc: &str, extra: &[String]) -> Result<()> {
    let on = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut tls_events = watcher(store.api().clone(), on(TLS_SECRET))
        .default_backoff()
        .boxed();
    let mut ca_events = watcher(store.api().clone(), on(CA_SECRET))
        .default_backoff()
        .boxed();
    let mut leader = k.leader.clone();
    loop {
        let wait = match step(k, store, svc, extra).await {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "checking the serving certificate failed; retrying");
                Duration::from_secs(5)
            }
        };
        let leader_changed = async {
            let changed = match leader.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => false,
            };
            if !changed {
                // no leader channel, or its sender is gone: the last value stands
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            ev = tls_events.next() => watched(ev, TLS_SECRET)?,
            ev = ca_events.next() => watched(ev, CA_SECRET)?,
            () = tokio::time::sleep(wait) => {}
            () = leader_changed => {}
        }
    }
}

/// A watch event only wakes the loop, which re-reads both Secrets: one way to decide,
/// whatever the event was.
fn watched(ev: Option<Result<watcher::Event<Secret>, watcher::Error>>, name: &str) -> Result<()> {
    match ev {
        None => Err(Error::WatchEnded {
            name: name.to_string(),
        }),
        Some(Err(e)) => {
            warn!(secret = name, error = %e, "watch error; the watcher retries with backoff");
            Ok(())
        }
        Some(Ok(_)) => Ok(()),
    }
}

/// One look at the Secrets: serve what they hold; as the leader, do the next step the
/// material needs. Returns how long until the next step is due.
async fn step(k: &Keeper, store: &Store, svc: &str, extra: &[String]) -> Result<Duration> {
    let s = &k.settings;
    let now = SystemTime::now();
    let names = pki::service_names(store.ns(), svc, extra);
    let tls = store.get(TLS_SECRET).await?;
    let ca_secret = store.get(CA_SECRET).await?;
    // serve what is stored whenever it is whole, even near expiry: it beats nothing
    let leaf = stored_leaf(tls.as_ref(), &names, Duration::ZERO, now);
    match &leaf {
        Ok(m) => k.publish(m)?,
        Err(why) => {
            warn!(secret = TLS_SECRET, reason = %why, "stored serving certificate unusable")
        }
    }
    if !k.is_leader() {
        return Ok(IDLE);
    }
    let ca = stored_ca(ca_secret.as_ref(), now);
    let (Ok(leaf), Ok(ca), Some(tls)) = (leaf, ca, tls) else {
        // G27: missing or unusable material is regenerated, rotation or not
        let (_, done) = store::ensure_with(store, svc, extra, s).await?;
        for d in &done {
            k.rotated(d);
        }
        return Ok(SOON);
    };
    let leaf_left = leaf.leaf_not_after.duration_since(now).unwrap_or_default();
    let ca_left = ca.not_after.duration_since(now).unwrap_or_default();
    if !s.auto_rotate {
        if leaf_left <= s.rotation_threshold || ca_left <= s.rotation_threshold {
            warn!(
                leaf_seconds = leaf_left.as_secs(),
                ca_seconds = ca_left.as_secs(),
                "serving certificate or CA close to expiry and autoRotate is off"
            );
        }
        return Ok(IDLE);
    }
    let bundle = x509::certs(&leaf.ca_bundle_pem, "caBundle")?;
    let signing = x509::certs(&ca.cert_pem, CA_SECRET)?;
    let chain = x509::certs(&leaf.chain_pem, TLS_SECRET)?;
    let (Some(signing), Some(leaf_der)) = (signing.first(), chain.first()) else {
        return Ok(SOON);
    };
    let write_tls = |m: (&str, &str, &str), ann: Vec<(&'static str, String)>| {
        let tls = tls.clone();
        let (crt, key, bundle) = (m.0.to_string(), m.1.to_string(), m.2.to_string());
        async move {
            let data = [
                ("tls.crt", crt.as_str()),
                ("tls.key", key.as_str()),
                ("ca.crt", bundle.as_str()),
            ];
            store.write(TLS_SECRET, Some(&tls), &data, &ann).await
        }
    };
    // 1. the CA is due: a new one in orkestra-tls-ca; the next steps publish it
    if ca_left <= s.rotation_threshold {
        let new = pki::new_ca(s.ca_valid_for, now)?;
        let data = [
            ("ca.crt", new.cert_pem.as_str()),
            ("ca.key", new.key_pem.as_str()),
        ];
        if store
            .write(CA_SECRET, ca_secret.as_ref(), &data, &[])
            .await?
        {
            k.rotated(&format!(
                "ca: generated a new CA; the old one expires at {}",
                store::stamp(ca.not_after)
            ));
        }
        return Ok(SOON);
    }
    // 2. the signing CA is not in the caBundle yet: publish old + new and start the wait
    if !bundle.contains(signing) {
        let both = store::unexpired_bundle(&leaf.ca_bundle_pem, Some(&ca.cert_pem), now);
        let ann = vec![(ANNOTATION_CA_PUBLISHED_AT, store::stamp(now))];
        if write_tls((&leaf.chain_pem, &leaf.key_pem, &both), ann).await? {
            k.rotated("ca: published old and new CA in the caBundle");
        }
        return Ok(SOON);
    }
    // 3. the leaf is from the old CA: once the wait is over, issue it from the new one
    if !x509::issued_by(leaf_der, signing) {
        let published = tls
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_CA_PUBLISHED_AT))
            .and_then(|v| store::parse_stamp(v));
        let Some(published) = published else {
            // no record of when the bundle changed: start the wait now rather than skip it
            let ann = vec![(ANNOTATION_CA_PUBLISHED_AT, store::stamp(now))];
            write_tls((&leaf.chain_pem, &leaf.key_pem, &leaf.ca_bundle_pem), ann).await?;
            return Ok(SOON);
        };
        let due = published + s.ca_overlap_wait;
        if now < due {
            return Ok(due.duration_since(now).unwrap_or(SOON));
        }
        let (crt, key) = pki::issue_leaf(&ca, store.ns(), svc, extra, s.valid_for, now)?;
        if write_tls((&crt, &key, &leaf.ca_bundle_pem), Vec::new()).await? {
            k.rotated("leaf: issued from the new CA");
        }
        return Ok(SOON);
    }
    // 4. the leaf is due
    if leaf_left <= s.rotation_threshold {
        let (crt, key) = pki::issue_leaf(&ca, store.ns(), svc, extra, s.valid_for, now)?;
        if write_tls((&crt, &key, &leaf.ca_bundle_pem), Vec::new()).await? {
            k.rotated(&format!("leaf: renewed; {}s remained", leaf_left.as_secs()));
        }
        return Ok(SOON);
    }
    // 5. an old CA has expired: drop it from the caBundle
    let kept = store::unexpired_bundle(&leaf.ca_bundle_pem, Some(&ca.cert_pem), now);
    if x509::certs(&kept, "caBundle")?.len() < bundle.len() {
        if write_tls((&leaf.chain_pem, &leaf.key_pem, &kept), Vec::new()).await? {
            k.rotated("ca: dropped an expired CA from the caBundle");
        }
        return Ok(SOON);
    }
    // nothing due: sleep until the first of leaf renewal, CA rotation, an old CA's expiry
    let mut next = (leaf_left - s.rotation_threshold).min(ca_left - s.rotation_threshold);
    for b in &bundle {
        if let Ok(i) = x509::info(b, "caBundle")
            && let Ok(d) = i.not_after.duration_since(now)
        {
            next = next.min(d + Duration::from_secs(1));
        }
    }
    Ok(next.clamp(SOON, IDLE))
}
