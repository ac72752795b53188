//! One Katalog entry's controller (docs/katalog.md §6.1): a kube-runtime `Controller` over
//! the CR kind (one namespace when the entry is pinned), metadata-only watches on every child
//! kind it declares, selected by the managed label, that enqueue the controlling owner, and a
//! resync that re-queues every CR.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::utils::{PredicateConfig, WatchStreamExt};
use kube::runtime::watcher;
use tokio::sync::watch;

use crate::children::api_resource;
use crate::cycle::{self, EntryCtx};
use crate::metrics::Health;

/// True when the CRD `name` exists and is Established.
pub async fn established(client: &kube::Client, name: &str) -> Result<bool, kube::Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    Ok(api.get_opt(name).await?.is_some_and(|crd| {
        crd.status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    }))
}

/// What changes a CR's cycle: everything but `status`, `resourceVersion` and
/// `managedFields`, so ork's own status writes never re-trigger it.
fn spec_and_metadata(o: &DynamicObject) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    o.metadata.generation.hash(&mut h);
    o.metadata.labels.hash(&mut h);
    o.metadata.annotations.hash(&mut h);
    o.metadata.finalizers.hash(&mut h);
    o.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut h);
    // a CRD without a status subresource keeps spec changes out of `generation`
    if let Some(spec) = o.data.get("spec") {
        spec.to_string().hash(&mut h);
    }
    Some(h.finish())
}

/// Runs the entry until `stop` changes. A namespace-pinned entry (its `namespace`, or an
/// allow-list of exact names: `PreparedCrd::pinned_namespaces`) runs one controller per
/// namespace, so it watches only where its derived RBAC lets it; otherwise one controller
/// watches the whole cluster. The health goes to started once every watch has listed.
pub async fn run(ctx: Arc<EntryCtx>, workers: u16, stop: watch::Receiver<bool>) {
    let scopes: Vec<Option<String>> = match ctx.crd().pinned_namespaces() {
        Some(list) => list.into_iter().map(Some).collect(),
        None => vec![None],
    };
    let unsynced = Arc::new(AtomicUsize::new(scopes.len()));
    let controllers = scopes
        .into_iter()
        .map(|ns| controller(ctx.clone(), ns, workers, stop.clone(), unsynced.clone()));
    futures::future::join_all(controllers).await;
}

async fn controller(
    ctx: Arc<EntryCtx>,
    ns: Option<String>,
    workers: u16,
    mut stop: watch::Receiver<bool>,
    unsynced: Arc<AtomicUsize>,
) {
    let crd = ctx.crd();
    let api: Api<DynamicObject> = match &ns {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &ctx.ar),
        None => Api::all_with(ctx.client.clone(), &ctx.ar),
    };
    let writer = Writer::new(ctx.ar.clone());
    let reader = writer.as_reader();
    // the first complete list marks the entry started. Not `Store::wait_until_ready`: the
    // controller waits on it too, and its one-shot wakes a single waiter
    let health = ctx.health.clone();
    let probes = ctx.metrics.clone();
    let name = crd.name.clone();
    let mut listed = false;
    let watch = watcher(api, watcher::Config::default())
        .default_backoff()
        .inspect(move |e| {
            if matches!(e, Ok(watcher::Event::InitDone)) && !listed {
                listed = true;
                if unsynced.fetch_sub(1, Ordering::SeqCst) == 1 && health.get() == Health::Pending {
                    health.started(&probes.metrics);
                    tracing::info!(crd = %name, "started");
                }
            }
        });
    let stream = reflector::reflector(writer, watch)
        .applied_objects()
        .predicate_filter(spec_and_metadata, PredicateConfig::default());
    let mut controller = Controller::for_stream_with(stream, reader, ctx.ar.clone())
        .with_config(ControllerConfig::default().concurrency(workers));
    let managed = watcher::Config::default().labels(&format!("{}=true", ork_render::MANAGED));
    for (d, _, _) in &ctx.kinds {
        let ar = api_resource(d);
        let child_api: Api<DynamicObject> = match (&ns, d.namespaced) {
            (Some(ns), true) => Api::namespaced_with(ctx.client.clone(), ns, &ar),
            _ => Api::all_with(ctx.client.clone(), &ar),
        };
        controller = controller.owns_with(child_api, ar, managed.clone());
    }
    let resync = ctx.resync;
    let ticks = futures::stream::unfold((), move |()| async move {
        tokio::time::sleep(resync).await;
        Some(((), ()))
    });
    controller = controller.reconcile_all_on(ticks);
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    controller = controller.graceful_shutdown_on(shutdown);
    controller
        .run(cycle::reconcile, cycle::error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "controller");
            }
        })
        .await;
}

/// How long a failed CRD lookup waits before the next.
pub const CRD_POLL: Duration = Duration::from_secs(1);
