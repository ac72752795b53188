//! What every request reads: the prepared Katalog (swapped whole on a reload), the caches of
//! cluster state a decision may need, the audit log and the metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use kube::api::{Api, DynamicObject};
use kube::core::admission::AdmissionRequest;
use kube::runtime::reflector::Store;
use ork_policy::PreparedKatalog;
use ork_policy::conditions::{Peers, lookup};
use serde_json::Value;

use crate::audit::Audit;
use crate::metrics::Metrics;

/// The CRs of one kind, from an informer cache, for `unique` (G15: no call to the runtime).
pub struct PeerStore(pub Store<DynamicObject>);

impl Peers for PeerStore {
    fn values(&self, namespace: &str, name: &str, path: &[String]) -> Vec<String> {
        self.0
            .state()
            .iter()
            .filter(|o| {
                o.metadata.namespace.as_deref().unwrap_or_default() == namespace
                    && o.metadata.name.as_deref() != Some(name)
            })
            .filter_map(|o| {
                let v = serde_json::to_value(o.as_ref()).ok()?;
                lookup(&v, path).map(|x| ork_template::value::text(&Some(x.clone())))
            })
            .collect()
    }
}

pub struct Shared {
    katalog: RwLock<Arc<PreparedKatalog>>,
    pub audit: Audit,
    pub metrics: Arc<Metrics>,
    client: Option<kube::Client>,
    /// (group, plural) → the cache of that kind's CRs, for CRDs with a `unique` rule
    peers: RwLock<HashMap<(String, String), Arc<PeerStore>>>,
    ready: AtomicBool,
}

impl Shared {
    pub fn new(
        k: Arc<PreparedKatalog>,
        audit: Audit,
        metrics: Arc<Metrics>,
        client: Option<kube::Client>,
    ) -> Shared {
        Shared {
            katalog: RwLock::new(k),
            audit,
            metrics,
            client,
            peers: RwLock::new(HashMap::new()),
            ready: AtomicBool::new(false),
        }
    }

    pub fn katalog(&self) -> Arc<PreparedKatalog> {
        match self.katalog.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new Katalog: requests in flight finish with the one they started with.
    pub fn set_katalog(&self, k: Arc<PreparedKatalog>) {
        match self.katalog.write() {
            Ok(mut g) => *g = k,
            Err(poisoned) => *poisoned.into_inner() = k,
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_peers(&self, stores: HashMap<(String, String), Arc<PeerStore>>) {
        match self.peers.write() {
            Ok(mut g) => *g = stores,
            Err(poisoned) => *poisoned.into_inner() = stores,
        }
    }

    pub fn peers_for(&self, r: &AdmissionRequest<DynamicObject>) -> Option<Arc<PeerStore>> {
        let key = (r.resource.group.clone(), r.resource.resource.clone());
        match self.peers.read() {
            Ok(g) => g.get(&key).cloned(),
            Err(poisoned) => poisoned.into_inner().get(&key).cloned(),
        }
    }

    /// The Pod an exec or attach goes into: one GET (docs/security.md §2.7). `None` when it
    /// cannot be read; `decide` then reports the exec guard as not evaluable, and the
    /// failurePolicy answers.
    pub async fn target_pod(&self, r: &AdmissionRequest<DynamicObject>) -> Option<Value> {
        let client = self.client.clone()?;
        let ns = r.namespace.as_deref()?;
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, ns);
        match api.get(&r.name).await {
            // only the pod spec and identity matter for the exec guard
            Ok(pod) => serde_json::to_value(&pod)
                .ok()
                .map(ork_policy::review::exec_target),
            Err(e) => {
                tracing::warn!(namespace = ns, pod = %r.name, error = %e, "exec target Pod could not be read");
                None
            }
        }
    }
}

/// The health port's view of the Gateway: ready once the Katalog is loaded and the first
/// registration is done.
impl ork_kube::health::Probes for Shared {
    fn ready(&self) -> Result<String, String> {
        if self.is_ready() {
            Ok("ready\n".into())
        } else {
            Err("not ready\n".into())
        }
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}
