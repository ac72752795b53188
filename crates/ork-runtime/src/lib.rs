//! The runtime behind `ork run` and `ork-runtime run` (docs/katalog.md §6, docs/cli.md §11).
//!
//! - [`entry`]: one kube-runtime controller per enabled Katalog entry, started in `dependsOn`
//!   order once its CRD is Established;
//! - [`cycle`]: one reconcile cycle and the deletion path. Every verdict comes from
//!   `ork_policy::decide` through `ork_render` (the same calls `ork template` makes), so the
//!   reconciler is the Gateway's backstop without a second copy of any rule;
//! - [`children`]: create-if-absent and server-side apply (field manager `ork-runtime`), no
//!   adoption, deletion of applied children no entry renders any more, read-back;
//! - [`metrics`]: `ork_reconcile_total`, `ork_reconcile_duration_seconds`, `ork_queue_depth`,
//!   `ork_crd_health`, and per-entry health for `/readyz`.
//!
//! One replica reconciles: the holder of the Lease `orkestra-runtime` (`ork_kube::lease`). A
//! replica that loses the Lease stops with an error, so its pod restarts as a standby.
//!
//! kube, kube-runtime and tokio live here and in the Gateway; the policy, katalog and render
//! crates never see them.

pub mod children;
pub mod cycle;
pub mod dev;
pub mod entry;
pub mod events;
pub mod metrics;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::events::{Recorder, Reporter};
use ork_katalog::Katalog;
use ork_policy::PreparedKatalog;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cycle::{Backoff, EntryCtx};
use crate::metrics::{EntryHealth, Health, Metrics, Probes, ResultLabel};

/// The Lease one runtime replica holds while it reconciles.
pub const LEASE: &str = ork_katalog::names::RUNTIME_LEASE;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Setting(String),
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("health address {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lost the Lease {LEASE}; stopping so a standby takes over")]
    LostLease,
}

/// How the runtime runs.
pub struct Config {
    /// the operator namespace: where the Lease lives
    pub namespace: String,
    /// the Lease holder identity (the pod name in a cluster)
    pub identity: String,
    /// `/healthz`, `/readyz`, `/metrics`
    pub health_addr: String,
    /// how long SIGTERM waits for in-flight reconciles
    pub drain: Duration,
}

impl Config {
    pub fn new(identity: String) -> Config {
        Config {
            namespace: std::env::var("ORK_NAMESPACE")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| ork_katalog::names::DEFAULT_OPERATOR_NAMESPACE.into()),
            identity,
            health_addr: ":8080".into(),
            drain: Duration::from_secs(30),
        }
    }
}

/// Per-entry settings, parsed once before anything starts. The Katalog is validated, so a
/// value that does not parse here is a bug in validation, reported as a setting error.
struct Plan {
    index: usize,
    name: String,
    workers: u16,
    resync: Duration,
    backoff: Backoff,
    threshold: u32,
    depends_on: Vec<(String, Health)>,
}

fn duration(s: &str, what: &str) -> Result<Duration, Error> {
    ork_template::duration::parse_duration(s).map_err(|e| Error::Setting(format!("{what}: {e}")))
}

fn plans(katalog: &Katalog, k: &PreparedKatalog) -> Result<Vec<Plan>, Error> {
    let mut out = Vec::new();
    for (index, crd) in k.crds.iter().enumerate() {
        if !crd.enabled {
            continue;
        }
        let r = &crd.reconciler;
        let workers = u16::try_from(r.workers.unwrap_or(3).clamp(1, 50)).unwrap_or(3);
        let resync = duration(r.resync.as_deref().unwrap_or("10m"), "resync")?;
        let backoff = match &r.queue.retry_backoff {
            None => Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(300),
                multiplier: 2.0,
            },
            Some(serde_json::Value::String(s)) => {
                let d = duration(s, "retryBackoff")?;
                Backoff {
                    initial: d,
                    max: d,
                    multiplier: 1.0,
                }
            }
            Some(v) => Backoff {
                initial: duration(
                    v.get("initial").and_then(|x| x.as_str()).unwrap_or("1s"),
                    "retryBackoff.initial",
                )?,
                max: duration(
                    v.get("max").and_then(|x| x.as_str()).unwrap_or("5m"),
                    "retryBackoff.max",
                )?,
                multiplier: v
                    .get("multiplier")
                    .and_then(|x| x.as_f64().or_else(|| x.as_str()?.parse().ok()))
                    .unwrap_or(2.0),
            },
        };
        let threshold = u32::try_from(r.queue.failure_threshold.unwrap_or(5).max(1)).unwrap_or(5);
        let depends_on = katalog
            .crds
            .iter()
            .find(|c| c.name == crd.name)
            .map(|c| {
                c.entry
                    .depends_on
                    .iter()
                    .map(|d| {
                        let need = if d.condition == "healthy" {
                            Health::Healthy
                        } else {
                            Health::Started
                        };
                        (d.name.clone(), need)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Plan {
            index,
            name: crd.name.clone(),
            workers,
            resync,
            backoff,
            threshold,
            depends_on,
        });
    }
    Ok(out)
}

/// True when the entry's status fields or `requeue` read `.children`: only then does a cycle
/// read its children's bodies back (the metadata cache answers everything else).
fn reads_children(katalog: &Katalog, entry: &str) -> bool {
    let Some(raw) = katalog
        .raw
        .pointer(&format!("/spec/crds/{entry}/operatorBox"))
    else {
        return true;
    };
    ["status", "reconciler"]
        .iter()
        .filter_map(|k| raw.get(*k))
        .any(|v| v.to_string().contains("children"))
}

/// True when anything of the entry may read the CR's `.status` (templates, conditions,
/// rules, status fields): then a cycle's own status write can change the next one.
fn reads_status(katalog: &Katalog, entry: &str) -> bool {
    let Some(raw) = katalog.raw.pointer(&format!("/spec/crds/{entry}")) else {
        return true;
    };
    let text = raw.to_string();
    text.contains(".status") || text.contains("status.") || text.contains("\"status\"]")
}

/// A running runtime.
pub struct Running {
    pub health_addr: SocketAddr,
    probes: Arc<Probes>,
    stop: watch::Sender<bool>,
    fatal: watch::Receiver<Option<String>>,
    supervisor: JoinHandle<()>,
    elector: JoinHandle<()>,
    health: JoinHandle<()>,
    stop_lease: watch::Sender<bool>,
    drain: Duration,
    generations: Arc<watch::Sender<Arc<Generation>>>,
}

/// Replaces the running Katalog (docs/cli.md §11); cheap to clone, usable while the runtime
/// runs.
#[derive(Clone)]
pub struct Reloader {
    generations: Arc<watch::Sender<Arc<Generation>>>,
    probes: Arc<Probes>,
}

impl Reloader {
    /// The entries finish their in-flight cycles and start again with `katalog`, on the same
    /// Lease. The caller validated it; a Katalog whose settings do not parse is refused and
    /// the running one kept.
    pub fn reload(&self, katalog: &Katalog, k: Arc<PreparedKatalog>) -> Result<(), Error> {
        let result = Generation::new(katalog, k, &self.probes);
        let label = ResultLabel {
            result: if result.is_ok() {
                "applied"
            } else {
                "rejected"
            },
        };
        self.probes
            .metrics
            .katalog_reload
            .get_or_create(&label)
            .inc();
        self.generations.send_replace(Arc::new(result?));
        Ok(())
    }

    /// Counts a Katalog the caller rejected because it does not validate.
    pub fn rejected(&self) {
        let label = ResultLabel { result: "rejected" };
        self.probes
            .metrics
            .katalog_reload
            .get_or_create(&label)
            .inc();
    }
}

impl Running {
    /// True while this replica holds the Lease.
    pub fn leading(&self) -> bool {
        self.probes.leading.load(Ordering::SeqCst)
    }

    /// Per-entry health.
    pub fn health(&self) -> BTreeMap<String, Health> {
        let g = match self.probes.entries.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        g.into_iter().map(|(k, v)| (k, v.get())).collect()
    }

    /// A handle that replaces the Katalog while the runtime runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            generations: self.generations.clone(),
            probes: self.probes.clone(),
        }
    }

    /// Resolves when the runtime hits a fatal error (a lost Lease).
    pub async fn fatal(&mut self) -> Error {
        loop {
            if self.fatal.borrow().is_some() {
                return Error::LostLease;
            }
            if self.fatal.changed().await.is_err() {
                // the supervisor is gone without a fatal error: wait forever
                std::future::pending::<()>().await;
            }
        }
    }

    /// SIGTERM: stop taking work, finish in-flight reconciles (up to the drain period),
    /// release the Lease.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut supervisor = self.supervisor;
        if tokio::time::timeout(self.drain, &mut supervisor)
            .await
            .is_err()
        {
            tracing::warn!("reconciles still running after the drain period; stopping them");
            supervisor.abort();
        }
        let _ = self.stop_lease.send(true);
        let _ = self.elector.await;
        self.health.abort();
    }
}

/// One Katalog's worth of entries: what a reload replaces.
struct Generation {
    k: Arc<PreparedKatalog>,
    plans: Vec<Plan>,
    healths: HashMap<String, Arc<EntryHealth>>,
    bodies: HashMap<String, bool>,
    statuses: HashMap<String, bool>,
}

impl Generation {
    /// Parses the entries' settings once and registers their health (replacing the previous
    /// Katalog's entries on `/readyz`).
    fn new(
        katalog: &Katalog,
        k: Arc<PreparedKatalog>,
        probes: &Probes,
    ) -> Result<Generation, Error> {
        let plans = plans(katalog, &k)?;
        let mut healths = HashMap::new();
        let mut entries = BTreeMap::new();
        for p in &plans {
            let h = Arc::new(EntryHealth::new(&p.name, p.threshold));
            h.record(true, &probes.metrics);
            healths.insert(p.name.clone(), h.clone());
            entries.insert(p.name.clone(), h);
        }
        match probes.entries.lock() {
            Ok(mut g) => *g = entries,
            Err(poisoned) => *poisoned.into_inner() = entries,
        }
        let bodies = plans
            .iter()
            .map(|p| (p.name.clone(), reads_children(katalog, &p.name)))
            .collect();
        let statuses = plans
            .iter()
            .map(|p| (p.name.clone(), reads_status(katalog, &p.name)))
            .collect();
        Ok(Generation {
            k,
            plans,
            healths,
            bodies,
            statuses,
        })
    }

    /// Spawns every entry (each waits for its CRD and dependencies) until `stop`.
    fn spawn(
        &self,
        client: &kube::Client,
        events: &events::Events,
        probes: &Arc<Probes>,
        stop: &watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let k = &self.k;
        let mut tasks = Vec::new();
        for p in &self.plans {
            let Some(crd) = k.crds.get(p.index) else {
                continue;
            };
            let ar = ork_kube::api_resource(&crd.api);
            let Some(health) = self.healths.get(&p.name).cloned() else {
                continue;
            };
            let deps: Vec<(watch::Receiver<Health>, Health, String)> = p
                .depends_on
                .iter()
                .filter_map(|(n, need)| Some((self.healths.get(n)?.subscribe(), *need, n.clone())))
                .collect();
            let ctx = Arc::new(EntryCtx {
                client: client.clone(),
                k: k.clone(),
                crd_index: p.index,
                ar,
                kinds: ork_render::declared_kinds(k, crd),
                events: events.clone(),
                metrics: probes.clone(),
                health,
                resync: p.resync,
                backoff: p.backoff,
                failures: Mutex::new(HashMap::new()),
                cache: std::sync::OnceLock::new(),
                bodies: self.bodies.get(&p.name).copied().unwrap_or(true),
                memo_ok: !self.statuses.get(&p.name).copied().unwrap_or(true),
                memo: Mutex::new(HashMap::new()),
            });
            let crd_name = format!("{}.{}", crd.api.plural, crd.api.group);
            let stop = stop.clone();
            let workers = p.workers;
            tasks.push(tokio::spawn(async move {
                start_entry(ctx, crd_name, deps, workers, stop).await;
            }));
        }
        tasks
    }
}

/// Starts the runtime: the health port at once, then the Lease; the entries start on the
/// leader, in `dependsOn` order, each once its CRD is Established. [`Running::reload`]
/// replaces the Katalog: the entries drain and start again with the new one, on the same
/// Lease.
pub async fn start(
    cfg: Config,
    client: kube::Client,
    katalog: &Katalog,
    k: Arc<PreparedKatalog>,
) -> Result<Running, Error> {
    let probes = Arc::new(Probes {
        metrics: Metrics::new(),
        entries: Mutex::new(BTreeMap::new()),
        leading: Default::default(),
        loaded: Default::default(),
    });
    let first = Generation::new(katalog, k, &probes)?;
    probes.loaded.store(true, Ordering::SeqCst);
    let listener = ork_kube::health::bind(&cfg.health_addr)
        .await
        .map_err(|source| Error::Bind {
            addr: cfg.health_addr.clone(),
            source,
        })?;
    let health_addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: cfg.health_addr.clone(),
        source,
    })?;
    let (stop, stop_rx) = watch::channel(false);
    let health = tokio::spawn(ork_kube::health::serve(
        listener,
        probes.clone(),
        stop_rx.clone(),
    ));

    // the single writer
    let labels = ork_katalog::names::CONTROL_PLANE_LABELS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let elector = ork_kube::lease::Elector::new(
        client.clone(),
        &cfg.namespace,
        LEASE,
        cfg.identity.clone(),
        labels,
    )
    // a standby takes over within 12 s of a leader's crash (docs/katalog.md §6.1)
    .with_timing(Duration::from_secs(10), Duration::from_secs(2));
    let (leading_tx, mut leading) = watch::channel(false);
    let (stop_lease, stop_lease_rx) = watch::channel(false);
    let elector = tokio::spawn(elector.run(leading_tx, stop_lease_rx));

    let (fatal_tx, fatal) = watch::channel(None);
    let events = events::Events::start(
        Recorder::new(
            client.clone(),
            Reporter {
                controller: "ork-runtime".into(),
                instance: Some(cfg.identity.clone()),
            },
        ),
        probes.metrics.events_dropped.clone(),
    );
    let (generations, mut next) = watch::channel(Arc::new(first));
    let generations = Arc::new(generations);
    let probes_s = probes.clone();
    let mut stop_s = stop_rx.clone();
    let drain = cfg.drain;
    let supervisor = tokio::spawn(async move {
        // a standby waits for the Lease
        loop {
            if *leading.borrow_and_update() {
                break;
            }
            tokio::select! {
                r = leading.changed() => if r.is_err() { return },
                _ = stop_s.changed() => return,
            }
        }
        probes_s.leading.store(true, Ordering::SeqCst);
        loop {
            let generation = next.borrow_and_update().clone();
            tracing::info!(
                lease = LEASE,
                entries = generation.plans.len(),
                "leading; starting the entries"
            );
            let (stop_entries, entries_stop) = watch::channel(false);
            let tasks = generation.spawn(&client, &events, &probes_s, &entries_stop);
            let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
            let mut all = futures::future::join_all(tasks);
            let lost = async {
                loop {
                    if leading.changed().await.is_err() || !*leading.borrow() {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = &mut all => return,
                _ = stop_s.changed() => {
                    // SIGTERM: the entries finish their in-flight cycles
                    let _ = stop_entries.send(true);
                    all.await;
                    return;
                }
                r = next.changed() => {
                    if r.is_err() {
                        return;
                    }
                    tracing::info!("Katalog reloaded; restarting the entries");
                    let _ = stop_entries.send(true);
                    // in-flight cycles finish, within the drain period; no two generations run
                    if tokio::time::timeout(drain, &mut all).await.is_err() {
                        tracing::warn!("cycles still running after the drain period; stopping them");
                        aborts.iter().for_each(tokio::task::AbortHandle::abort);
                        all.await;
                    }
                }
                _ = lost => {
                    probes_s.leading.store(false, Ordering::SeqCst);
                    if !*stop_s.borrow() {
                        tracing::error!(lease = LEASE, "lost the Lease");
                        let _ = fatal_tx.send(Some("lost the Lease".into()));
                    }
                    return;
                }
            }
        }
    });
    Ok(Running {
        health_addr,
        probes,
        stop,
        fatal,
        supervisor,
        elector,
        health,
        stop_lease,
        drain: cfg.drain,
        generations,
    })
}

/// Waits for the CRD and the dependencies, then runs the entry until `stop`.
async fn start_entry(
    ctx: Arc<EntryCtx>,
    crd_name: String,
    deps: Vec<(watch::Receiver<Health>, Health, String)>,
    workers: u16,
    mut stop: watch::Receiver<bool>,
) {
    let entry = ctx.crd().name.clone();
    let mut warned = false;
    loop {
        match entry::established(&ctx.client, &crd_name).await {
            Ok(true) => break,
            Ok(false) if !warned => {
                tracing::warn!(crd = %entry, name = %crd_name, "waiting for the CRD to exist and be Established");
                warned = true;
            }
            Ok(false) => {}
            Err(e) if !warned => {
                tracing::warn!(crd = %entry, name = %crd_name, error = %e, "the CRD could not be read");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(entry::CRD_POLL) => {}
            _ = stop.changed() => return,
        }
    }
    for (mut rx, need, name) in deps {
        loop {
            let h = *rx.borrow_and_update();
            let ok = match need {
                Health::Healthy => h == Health::Healthy,
                _ => h != Health::Pending,
            };
            if ok {
                break;
            }
            tracing::info!(crd = %entry, dependency = %name, need = need.as_str(), "waiting for a dependency");
            tokio::select! {
                r = rx.changed() => if r.is_err() { break },
                _ = stop.changed() => return,
            }
        }
    }
    entry::run(ctx, workers, stop).await;
}
