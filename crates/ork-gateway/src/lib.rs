//! The admission Gateway (docs/security.md §2.3–§2.11): ork's webhooks over TLS, their
//! registration and self-protection, certificates, audit and metrics.
//!
//! Every verdict comes from `ork_policy::decide` over the same `PreparedKatalog` the offline
//! commands use; this crate only moves requests in and answers out, and keeps the cluster's
//! configurations as the Katalog says.
//!
//! - [`webhooks`]: what is registered (pure)
//! - [`review`]: AdmissionReview ↔ `decide` (pure)
//! - [`server`]: the HTTPS and health listeners
//! - [`registrar`]: server-side apply, deletion of what is off, the restoring watcher
//! - `ork_kube::lease`: the single writer (Lease `orkestra-gateway-config`)
//! - [`audit`], [`metrics`]

pub mod audit;
pub mod metrics;
pub mod registrar;
pub mod review;
pub mod server;
pub mod state;
/// The configurations and the guard the Gateway registers live in `ork-webhooks`, so
/// `ork generate webhooks` emits exactly what a running Gateway applies.
pub use ork_webhooks as webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use ork_katalog::Operator;
use ork_policy::PreparedKatalog;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::{Audit, Sink};
use crate::metrics::{Metrics, ResultLabel};
use crate::registrar::Registrar;
use crate::state::{PeerStore, Shared};
use crate::webhooks::Target;

pub use ork_tls;

/// Why the Gateway cannot start or must stop (docs/cli.md §12: exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS material: {0}")]
    Tls(#[from] ork_tls::Error),
    #[error("{what}: {source}")]
    Kube {
        what: &'static str,
        source: kube::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// Where the serving certificate comes from (docs/security.md §2.10).
#[derive(Debug, Clone)]
pub enum Certificates {
    /// `TLS_CERT`, `TLS_KEY` (+ `TLS_CA`): used as given, reloaded when they change
    Files {
        cert: PathBuf,
        key: PathBuf,
        ca: Option<PathBuf>,
    },
    /// generated and kept in the operator namespace's Secrets
    Generated,
}

impl Certificates {
    /// From the environment: the files when `TLS_CERT` and `TLS_KEY` are set, else generated.
    pub fn from_env() -> Result<Certificates, Error> {
        let var = |n: &str| {
            std::env::var_os(n)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        match (var("TLS_CERT"), var("TLS_KEY")) {
            (Some(cert), Some(key)) => Ok(Certificates::Files {
                cert,
                key,
                ca: var("TLS_CA"),
            }),
            (None, None) => Ok(Certificates::Generated),
            _ => Err(Error::Config(
                "TLS_CERT and TLS_KEY must be set together".into(),
            )),
        }
    }
}

/// How to run one Gateway.
pub struct Config {
    pub katalog_path: PathBuf,
    pub limits: ork_limits::Limits,
    /// the webhook listener (`:8443`)
    pub addr: String,
    /// the plain listener for probes and metrics (`:8080`)
    pub health_addr: String,
    /// register `https://HOST:PORT/<path>` instead of the Service (local and test use)
    pub advertise: Option<String>,
    pub certificates: Certificates,
    /// this replica's name in the Lease
    pub identity: String,
    /// how often the Katalog file is checked for changes
    pub reload_interval: Duration,
    /// `HOUSEKEEPER_SYNC_INTERVAL`: the registrar's full resync
    pub sync_interval: Duration,
    /// the wait between publishing a new CA and serving a leaf it signed (60 s; tests
    /// shorten it)
    pub ca_overlap_wait: Duration,
    /// overrides `security.audit.sink` (the Katalog's setting otherwise)
    pub audit_sink: Option<Sink>,
    /// `ENABLE_HOUSEKEEPER`: false turns the restoring watcher off (with a warning)
    pub housekeeper: bool,
}

impl Config {
    pub fn new(katalog_path: PathBuf) -> Config {
        Config {
            katalog_path,
            limits: ork_limits::Limits::default(),
            addr: ":8443".into(),
            health_addr: ":8080".into(),
            advertise: None,
            certificates: Certificates::Generated,
            identity: default_identity(),
            reload_interval: Duration::from_secs(2),
            sync_interval: Duration::from_secs(30),
            ca_overlap_wait: Duration::from_secs(60),
            audit_sink: None,
            housekeeper: true,
        }
    }
}

fn default_identity() -> String {
    ork_kube::lease::identity("ork-gateway")
}

/// `HOUSEKEEPER_SYNC_INTERVAL` in seconds (default 30); a bad value is an error naming it.
pub fn sync_interval_from_env() -> Result<Duration, Error> {
    match std::env::var("HOUSEKEEPER_SYNC_INTERVAL") {
        Err(std::env::VarError::NotPresent) => Ok(Duration::from_secs(30)),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
            _ => Err(Error::Config(format!(
                "HOUSEKEEPER_SYNC_INTERVAL={v:?}: expected a positive number of seconds"
            ))),
        },
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Config(
            "HOUSEKEEPER_SYNC_INTERVAL is not valid UTF-8".into(),
        )),
    }
}

/// `ENABLE_HOUSEKEEPER` (default true); a value that is not a boolean is an error naming it.
pub fn housekeeper_from_env() -> Result<bool, Error> {
    match std::env::var("ENABLE_HOUSEKEEPER") {
        Err(std::env::VarError::NotPresent) => Ok(true),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(Error::Config(format!(
                "ENABLE_HOUSEKEEPER={v:?}: expected true or false"
            ))),
        },
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Config(
            "ENABLE_HOUSEKEEPER is not valid UTF-8".into(),
        )),
    }
}

/// Loads and prepares a Katalog; the errors are the messages of `ork validate`.
pub fn load(
    path: &std::path::Path,
    limits: &ork_limits::Limits,
) -> Result<PreparedKatalog, Vec<String>> {
    let outcome = ork_katalog::load_file_with(path, limits);
    let Some(k) = outcome.katalog else {
        return Err(outcome.diagnostics.iter().map(|d| d.to_string()).collect());
    };
    PreparedKatalog::with_limits(&k, *limits).map_err(|e| vec![e.to_string()])
}

/// A running Gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub health_addr: SocketAddr,
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    leading: watch::Receiver<bool>,
    registrar: Arc<Registrar>,
    /// when cleanupOnShutdown holds: how to tell an uninstall from a rollout
    cleanup: Option<Uninstall>,
}

/// How a stopping Gateway tells an uninstall from a rollout (docs/security.md §2.3).
enum Uninstall {
    /// outside a cluster (`--advertise`): stopping the process is the uninstall
    Always,
    /// in a pod: its Deployment is gone, being deleted, or scaled to 0
    DeploymentGone {
        client: kube::Client,
        namespace: String,
        name: String,
    },
}

impl Uninstall {
    async fn now(&self) -> bool {
        match self {
            Uninstall::Always => true,
            Uninstall::DeploymentGone {
                client,
                namespace,
                name,
            } => {
                let api: Api<k8s_openapi::api::apps::v1::Deployment> =
                    Api::namespaced(client.clone(), namespace);
                match api.get_opt(name).await {
                    Ok(None) => true,
                    Ok(Some(d)) => {
                        d.metadata.deletion_timestamp.is_some() || d.spec.replicas == Some(0)
                    }
                    // unknown: a rollout is the safe guess, the configurations stay
                    Err(_) => false,
                }
            }
        }
    }
}

impl Running {
    /// Whether this replica holds the Lease and writes configurations.
    pub fn leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Stops taking work, drains open requests, releases the Lease; with cleanupOnShutdown
    /// (uninstall) it removes the configurations, then the guard.
    pub async fn shutdown(self) {
        self.shared.set_ready(false);
        let lead = *self.leading.borrow();
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if lead
            && let Some(u) = &self.cleanup
            && u.now().await
        {
            self.registrar.remove_all().await;
        }
    }

    /// Shuts down and removes every configuration and the guard, whatever the Katalog says
    /// about cleanup: an uninstall.
    pub async fn uninstall(self) {
        let registrar = self.registrar.clone();
        self.shutdown().await;
        registrar.remove_all().await;
    }
}

/// The Gateway's Service name (`security.serviceName.gateway`).
fn gateway_service(k: &PreparedKatalog) -> String {
    k.settings.gateway_service.clone()
}

/// Where the API server reaches this Gateway: the advertised address (port 0: the port bound),
/// else the Service.
fn target(cfg: &Config, k: &PreparedKatalog, bound: SocketAddr) -> Target {
    match &cfg.advertise {
        Some(hp) => {
            let hp = match hp.strip_suffix(":0") {
                Some(host) => format!("{host}:{}", bound.port()),
                None => hp.clone(),
            };
            Target::Url(format!("https://{hp}"))
        }
        None => Target::Service {
            namespace: k.settings.operator_namespace.clone(),
            name: gateway_service(k),
        },
    }
}

fn plan(k: &PreparedKatalog, target: &Target, ca_bundle: &str) -> Vec<webhooks::Desired> {
    let mut p = webhooks::configurations(k, target, ca_bundle);
    p.extend(webhooks::guard(k));
    p
}

/// The SANs the serving certificate needs besides the Service names: the advertised host.
fn extra_sans(cfg: &Config) -> Vec<String> {
    cfg.advertise
        .as_deref()
        .and_then(|hp| {
            hp.rsplit_once(':')
                .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
        })
        .into_iter()
        .collect()
}

/// Labels the operator namespace as part of ork's control plane, creating it if needed: the
/// guard then keeps it from being deleted.
async fn own_namespace(client: &kube::Client, ns: &str) -> Result<(), kube::Error> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let obj = serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": webhooks::control_plane_labels()},
    });
    api.patch(
        ns,
        &PatchParams::apply(registrar::MANAGER),
        &Patch::Apply(&obj),
    )
    .await
    .map(|_| ())
}

/// Informer caches of the CRs whose CRD has a `unique` rule (G15).
async fn peer_caches(
    client: &kube::Client,
    k: &PreparedKatalog,
    stop: &watch::Receiver<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> HashMap<(String, String), Arc<PeerStore>> {
    let mut out = HashMap::new();
    for crd in k.crds.iter().filter(|c| c.enabled) {
        if !crd
            .validation
            .iter()
            .any(|r| r.condition.operator == Operator::Unique)
        {
            continue;
        }
        let ar = ork_kube::api_resource(&crd.api);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let writer = reflector::store::Writer::new(ar.clone());
        let reader = writer.as_reader();
        let stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .for_each(|_| futures::future::ready(()));
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = stream => {}
                _ = stop.changed() => {}
            }
        }));
        // a decision that needs peers waits for the first complete list
        let _ = tokio::time::timeout(Duration::from_secs(10), reader.wait_until_ready()).await;
        out.insert(
            (crd.api.group.clone(), crd.api.plural.clone()),
            Arc::new(PeerStore(reader)),
        );
    }
    out
}

/// Starts a Gateway: listeners, certificates, registration, watcher, reloads. Returns once it
/// is ready (TLS loaded, Katalog compiled, caches synced, configurations written when it
/// leads).
pub async fn start(cfg: Config, client: kube::Client) -> Result<Running, Error> {
    let k = load(&cfg.katalog_path, &cfg.limits).map_err(|errs| {
        Error::Config(format!(
            "{}: the Katalog is invalid:\n{}",
            cfg.katalog_path.display(),
            errs.join("\n")
        ))
    })?;
    if !k.settings.gateway {
        return Err(Error::Config(format!(
            "{}: the Katalog runs no Gateway (set gateway.enabled or gateway.standalone)",
            cfg.katalog_path.display()
        )));
    }
    let k = Arc::new(k);
    let ns = k.settings.operator_namespace.clone();
    let metrics = Arc::new(Metrics::new());
    let audit = match (&k.settings.audit, &cfg.audit_sink) {
        (None, _) => Audit::off(metrics.clone()),
        (Some(_), Some(sink)) => Audit::start(sink.clone(), metrics.clone()),
        (Some(s), None) => Audit::start(Sink::parse(s).map_err(Error::Config)?, metrics.clone()),
    };
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();

    // the guard keeps a labelled namespace from being deleted; a Gateway whose identity may not
    // label it (the bundle labels it at install) still serves, and says so
    if let Err(e) = own_namespace(&client, &ns).await {
        tracing::warn!(namespace = %ns, error = %e, "the operator namespace could not be labelled as ork's; the guard protects it only if it already is");
    }
    // certificates before anything is registered: the caBundle must match what is served
    let cert_settings = ork_tls::CertSettings::from_resolved(&k.settings, cfg.ca_overlap_wait);
    let service = gateway_service(&k);
    let source = match &cfg.certificates {
        Certificates::Files { cert, key, ca } => ork_tls::Source::Files {
            cert: cert.clone(),
            key: key.clone(),
            ca: ca.clone(),
        },
        Certificates::Generated => ork_tls::Source::Generated {
            namespace: ns.clone(),
            service: service.clone(),
            extra_sans: extra_sans(&cfg),
        },
    };
    let material = match &source {
        ork_tls::Source::Files { cert, key, ca } => ork_tls::load_files(cert, key, ca.as_deref())?,
        ork_tls::Source::Generated {
            namespace,
            service,
            extra_sans,
        } => ork_tls::ensure(&client, namespace, service, extra_sans, &cert_settings).await?,
    };
    let cert = Arc::new(ork_tls::ReloadableCert::new(&material)?);
    let (bundle_tx, mut bundle_rx) = watch::channel(material.ca_bundle_pem.clone());

    let shared = Arc::new(Shared::new(
        k.clone(),
        audit.clone(),
        metrics.clone(),
        Some(client.clone()),
    ));
    let listener = server::bind(&cfg.addr)
        .await
        .map_err(|source| Error::Bind {
            addr: cfg.addr.clone(),
            source,
        })?;
    let health = server::bind(&cfg.health_addr)
        .await
        .map_err(|source| Error::Bind {
            addr: cfg.health_addr.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: cfg.addr.clone(),
        source,
    })?;
    let health_addr = health.local_addr().map_err(|source| Error::Bind {
        addr: cfg.health_addr.clone(),
        source,
    })?;
    tasks.push(tokio::spawn(server::serve_webhooks(
        listener,
        ork_tls::server_config(cert.clone())?,
        shared.clone(),
        stop.clone(),
        Duration::from_secs(30),
    )));
    tasks.push(tokio::spawn(ork_kube::health::serve(
        health,
        shared.clone(),
        stop.clone(),
    )));

    // the certificate keeper: swaps what is served, publishes caBundle changes first
    {
        let client = client.clone();
        let cert = cert.clone();
        let metrics = metrics.clone();
        let audit = audit.clone();
        let stop = stop.clone();
        let settings = cert_settings;
        tasks.push(tokio::spawn(async move {
            let on_rotate = move |what: &str| {
                audit.record(&audit::Line {
                    time: audit::now(),
                    log: "audit",
                    webhook: "certificates",
                    uid: "".into(),
                    user: registrar::MANAGER.into(),
                    groups: std::borrow::Cow::Borrowed(&[]),
                    operation: "ROTATE",
                    kind: "/v1/Secret".into(),
                    subresource: None,
                    namespace: None,
                    name: what.into(),
                    decision: "allow",
                    reasons: vec![],
                    warnings: std::borrow::Cow::Borrowed(&[]),
                    dry_run: false,
                    duration_us: 0,
                });
            };
            let keep =
                ork_tls::keep_current(client, source, settings, cert.clone(), bundle_tx, on_rotate);
            let gauge = async {
                loop {
                    let (leaf, ca) = ork_tls::remaining(&cert.current());
                    metrics
                        .cert_expiry
                        .get_or_create(&metrics::CertLabel { cert: "leaf" })
                        .set(leaf as f64);
                    metrics
                        .cert_expiry
                        .get_or_create(&metrics::CertLabel { cert: "ca" })
                        .set(ca as f64);
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            };
            let mut stop = stop;
            tokio::select! {
                _ = keep => {}
                _ = gauge => {}
                _ = stop.changed() => {}
            }
        }));
    }

    // the single writer
    let (leading_tx, leading) = watch::channel(false);
    let elector = ork_kube::lease::Elector::new(
        client.clone(),
        &ns,
        ork_katalog::names::GATEWAY_LEASE,
        cfg.identity.clone(),
        webhooks::control_plane_labels_map(),
    );
    match elector.try_acquire_or_renew().await {
        Ok(held) => {
            let _ = leading_tx.send(held);
        }
        Err(source) => {
            return Err(Error::Kube {
                what: "the Lease orkestra-gateway-config could not be read",
                source,
            });
        }
    }
    tasks.push(tokio::spawn(elector.run(leading_tx, stop.clone())));

    let target = target(&cfg, &k, addr);
    let registrar = Arc::new(Registrar::new(
        client.clone(),
        audit.clone(),
        metrics.clone(),
        cfg.identity.clone(),
    ));
    registrar.set_plan(plan(&k, &target, &material.ca_bundle_pem));
    if *leading.borrow() {
        registrar.apply_all().await.map_err(|source| Error::Kube {
            what: "the webhook configurations could not be registered",
            source,
        })?;
    }
    if cfg.housekeeper {
        tasks.push(tokio::spawn(
            registrar.clone().watch(leading.clone(), stop.clone()),
        ));
    } else {
        tracing::warn!(
            "ENABLE_HOUSEKEEPER=false: a deleted or changed configuration is not restored until the next resync"
        );
    }

    let mut peer_tasks = Vec::new();
    let peers = peer_caches(&client, &k, &stop, &mut peer_tasks).await;
    shared.set_peers(peers);

    // resync, caBundle changes, becoming leader, and Katalog reloads: one loop, so the
    // registrar never applies two plans at once
    {
        let registrar = registrar.clone();
        let shared = shared.clone();
        let metrics = metrics.clone();
        let mut leading = leading.clone();
        let mut stop = stop.clone();
        let path = cfg.katalog_path.clone();
        let limits = cfg.limits;
        let reload = cfg.reload_interval;
        let sync = cfg.sync_interval;
        let client = client.clone();
        let mut last = std::fs::read(&path).ok();
        let mut bundle = material.ca_bundle_pem.clone();
        let mut bundle_open = true;
        tasks.push(tokio::spawn(async move {
            let mut resync = tokio::time::interval(sync);
            let mut poll = tokio::time::interval(reload);
            loop {
                let mut replan = false;
                tokio::select! {
                    _ = resync.tick() => replan = true,
                    _ = leading.changed() => replan = true,
                    r = bundle_rx.changed(), if bundle_open => match r {
                        Ok(()) => {
                            bundle = bundle_rx.borrow_and_update().clone();
                            replan = true;
                        }
                        // the certificate keeper stopped (shutdown): nothing more to follow
                        Err(_) => bundle_open = false,
                    },
                    _ = poll.tick() => {
                        let now = std::fs::read(&path).ok();
                        if now.is_some() && now != last {
                            last = now;
                            match load(&path, &limits) {
                                Ok(next) => {
                                    let next = Arc::new(next);
                                    shared.set_katalog(next.clone());
                                    // the caches follow the Katalog: the old ones stop
                                    for t in peer_tasks.drain(..) {
                                        t.abort();
                                    }
                                    let peers = peer_caches(&client, &next, &stop, &mut peer_tasks).await;
                                    shared.set_peers(peers);
                                    metrics.katalog_reload.get_or_create(&ResultLabel { result: "applied" }).inc();
                                    tracing::info!(katalog = %path.display(), "Katalog reloaded");
                                    replan = true;
                                }
                                Err(errs) => {
                                    metrics.katalog_reload.get_or_create(&ResultLabel { result: "rejected" }).inc();
                                    tracing::error!(katalog = %path.display(), errors = %errs.join("; "), "Katalog rejected; the last good one keeps serving");
                                }
                            }
                        }
                    }
                    _ = stop.changed() => break,
                }
                if replan {
                    let k = shared.katalog();
                    registrar.set_plan(plan(&k, &target, &bundle));
                    if *leading.borrow()
                        && let Err(e) = registrar.apply_all().await
                    {
                        tracing::error!(error = %e, "registration failed; retrying at the next resync");
                    }
                }
            }
        }));
    }

    shared.set_ready(true);
    let cleanup = k
        .settings
        .cleanup_on_shutdown
        .then(|| match &cfg.advertise {
            Some(_) => Uninstall::Always,
            None => Uninstall::DeploymentGone {
                client: client.clone(),
                namespace: ns.clone(),
                name: gateway_service(&k),
            },
        });
    Ok(Running {
        addr,
        health_addr,
        shared,
        stop: stop_tx,
        tasks,
        leading,
        registrar,
        cleanup,
    })
}
