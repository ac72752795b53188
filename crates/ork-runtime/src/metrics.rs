//! The runtime's Prometheus metrics (docs/katalog.md §6.6) and per-entry health, served on the
//! plain health port (`ork_kube::health`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CrdResult {
    pub crd: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CrdLabel {
    pub crd: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CrdState {
    pub crd: String,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// An entry's health (docs/katalog.md §6.1, §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// waiting for its CRD or its dependencies
    Pending = 0,
    /// watch synced, workers running, but the last cycles failed
    Started = 1,
    /// started, zero consecutive failures
    Healthy = 2,
    /// consecutive failures ≥ `queue.failureThreshold`
    Degraded = 3,
}

impl Health {
    pub const ALL: [Health; 4] = [
        Health::Pending,
        Health::Started,
        Health::Healthy,
        Health::Degraded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Pending => "pending",
            Health::Started => "started",
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
        }
    }

    fn from_u8(v: u8) -> Health {
        match v {
            1 => Health::Started,
            2 => Health::Healthy,
            3 => Health::Degraded,
            _ => Health::Pending,
        }
    }
}

/// One entry's health: its state, its consecutive failures and its threshold.
pub struct EntryHealth {
    pub crd: String,
    state: AtomicU8,
    failures: AtomicU32,
    threshold: u32,
    changed: tokio::sync::watch::Sender<Health>,
}

impl EntryHealth {
    pub fn new(crd: &str, threshold: u32) -> EntryHealth {
        EntryHealth {
            crd: crd.to_string(),
            state: AtomicU8::new(Health::Pending as u8),
            failures: AtomicU32::new(0),
            threshold: threshold.max(1),
            changed: tokio::sync::watch::channel(Health::Pending).0,
        }
    }

    pub fn get(&self) -> Health {
        Health::from_u8(self.state.load(Ordering::SeqCst))
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Health> {
        self.changed.subscribe()
    }

    fn set(&self, h: Health, m: &Metrics) {
        self.state.store(h as u8, Ordering::SeqCst);
        self.changed.send_replace(h);
        for s in Health::ALL {
            m.health
                .get_or_create(&CrdState {
                    crd: self.crd.clone(),
                    state: s.as_str(),
                })
                .set(i64::from(s == h));
        }
    }

    /// The watch is synced and the workers run.
    pub fn started(&self, m: &Metrics) {
        self.failures.store(0, Ordering::SeqCst);
        self.set(Health::Healthy, m);
    }

    /// The outcome of one cycle.
    pub fn record(&self, ok: bool, m: &Metrics) {
        if self.get() == Health::Pending {
            return;
        }
        let n = if ok {
            self.failures.store(0, Ordering::SeqCst);
            0
        } else {
            self.failures
                .fetch_add(1, Ordering::SeqCst)
                .saturating_add(1)
        };
        let next = if n == 0 {
            Health::Healthy
        } else if n >= self.threshold {
            Health::Degraded
        } else {
            Health::Started
        };
        if next != self.get() {
            self.set(next, m);
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<CrdResult, Counter>,
    pub duration: Family<CrdLabel, Histogram>,
    pub queue_depth: Family<CrdLabel, Gauge>,
    pub health: Family<CrdState, Gauge>,
    pub katalog_reload: Family<ResultLabel, Counter>,
    pub events_dropped: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let reconciles = Family::<CrdResult, Counter>::default();
        // 1 ms .. ~65 s: a cycle is a handful of API calls
        let duration = Family::<CrdLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 17,
            ))
        });
        let queue_depth = Family::<CrdLabel, Gauge>::default();
        let health = Family::<CrdState, Gauge>::default();
        let katalog_reload = Family::<ResultLabel, Counter>::default();
        registry.register(
            "ork_reconcile",
            "Reconcile cycles by entry and result (success, error, input_error, unchanged)",
            reconciles.clone(),
        );
        registry.register(
            "ork_reconcile_duration_seconds",
            "Wall time of one reconcile cycle",
            duration.clone(),
        );
        registry.register(
            "ork_queue_depth",
            "Reconciles in flight per entry (kube-runtime keeps its scheduler's queue to itself)",
            queue_depth.clone(),
        );
        registry.register(
            "ork_crd_health",
            "1 for the entry's current state (pending, started, healthy, degraded), else 0",
            health.clone(),
        );
        registry.register(
            "ork_katalog_reload",
            "Katalog reloads by result (applied, rejected)",
            katalog_reload.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "ork_events_dropped",
            "Events not published because the queue was full",
            events_dropped.clone(),
        );
        Metrics {
            events_dropped,
            registry,
            reconciles,
            duration,
            queue_depth,
            health,
            katalog_reload,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // writing into a String cannot fail
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// What the health port reports: `/readyz` is ready once the Katalog is loaded and, on the
/// leader, every entry has started; a standby replica is ready too (docs/cli.md §11).
pub struct Probes {
    pub metrics: Metrics,
    pub entries: Mutex<BTreeMap<String, std::sync::Arc<EntryHealth>>>,
    pub leading: AtomicBool,
    pub loaded: AtomicBool,
}

impl ork_kube::health::Probes for Probes {
    fn ready(&self) -> Result<String, String> {
        let mut text = String::new();
        let mut ok = self.loaded.load(Ordering::SeqCst);
        let leading = self.leading.load(Ordering::SeqCst);
        text.push_str(if leading { "leader\n" } else { "standby\n" });
        let entries = match self.entries.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        for (name, h) in entries {
            let state = h.get();
            if leading && state == Health::Pending {
                ok = false;
            }
            text.push_str(&format!("{name}: {}\n", state.as_str()));
        }
        if ok { Ok(text) } else { Err(text) }
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}
