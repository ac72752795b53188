//! The Gateway's Prometheus metrics (docs/security.md §2.10, §2.11), served on the plain
//! health port.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Decision {
    pub webhook: &'static str,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabel {
    pub webhook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabel {
    pub cert: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabel {
    pub kind: &'static str,
    pub name: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<Decision, Counter>,
    pub duration: Family<WebhookLabel, Histogram>,
    pub audit_dropped: Counter,
    pub cert_expiry: Family<CertLabel, Gauge<f64, AtomicU64>>,
    pub katalog_reload: Family<ResultLabel, Counter>,
    pub restores: Family<ObjectLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<Decision, Counter>::default();
        // 25 µs .. ~3.3 s: the Gateway answers in microseconds, the API server waits seconds
        let duration = Family::<WebhookLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.000_025, 2.0, 18,
            ))
        });
        let audit_dropped = Counter::default();
        let cert_expiry = Family::<CertLabel, Gauge<f64, AtomicU64>>::default();
        let katalog_reload = Family::<ResultLabel, Counter>::default();
        let restores = Family::<ObjectLabel, Counter>::default();
        registry.register(
            "ork_admission_requests",
            "Admission decisions by webhook and decision",
            requests.clone(),
        );
        registry.register(
            "ork_admission_duration_seconds",
            "Time from a decoded review to its response",
            duration.clone(),
        );
        registry.register(
            "ork_audit_dropped",
            "Audit lines dropped because the queue was full",
            audit_dropped.clone(),
        );
        registry.register(
            "ork_gateway_cert_expiry_seconds",
            "Remaining validity of the serving certificate and its CA",
            cert_expiry.clone(),
        );
        registry.register(
            "ork_katalog_reload",
            "Katalog reloads by result (applied, rejected)",
            katalog_reload.clone(),
        );
        registry.register(
            "ork_gateway_restores",
            "Configurations and guard objects restored by the watcher",
            restores.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            audit_dropped,
            cert_expiry,
            katalog_reload,
            restores,
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
