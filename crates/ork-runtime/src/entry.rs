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
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::utils::{PredicateConfig, WatchStreamExt};
use kube::runtime::watcher;
use tokio::sync::watch;

use crate::children::{ChildCache, api_resource};
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
pub(crate) fn spec_and_metadata(o: &DynamicObject) -> Option<u64> {
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
    // one metadata-only watch per child kind and scope feeds both the queue and the cache
    let managed = watcher::Config::default().labels(&format!("{}=true", ork_render::MANAGED));
    let mut streams: Vec<Vec<(ApiResource, MetaStream)>> =
        scopes.iter().map(|_| Vec::new()).collect();
    let mut stores = Vec::new();
    for (d, _, _) in &ctx.kinds {
        let ar = api_resource(d);
        let mut kind_stores = Vec::new();
        for (i, ns) in scopes.iter().enumerate() {
            let api: Api<PartialObjectMeta<DynamicObject>> = match (ns, d.namespaced) {
                (Some(ns), true) => Api::namespaced_with(ctx.client.clone(), ns, &ar),
                _ => Api::all_with(ctx.client.clone(), &ar),
            };
            let writer = Writer::new(ar.clone());
            kind_stores.push(writer.as_reader());
            let stream = reflector::reflector(
                writer,
                watcher(api, managed.clone())
                    .default_backoff()
                    .modify(compact),
            )
            .touched_objects()
            .boxed();
            if let Some(slot) = streams.get_mut(i) {
                slot.push((ar.clone(), stream));
            }
        }
        stores.push(kind_stores);
    }
    let _ = ctx.cache.set(ChildCache { stores });
    let unsynced = Arc::new(AtomicUsize::new(scopes.len()));
    let controllers = scopes.into_iter().zip(streams).map(|(ns, children)| {
        controller(
            ctx.clone(),
            ns,
            children,
            workers,
            stop.clone(),
            unsynced.clone(),
        )
    });
    futures::future::join_all(controllers).await;
}

/// Keeps what the cycle reads of a child's metadata: ork's own Apply entry of managedFields
/// (without its field set) says ork applied it; every other entry is dropped, which keeps
/// the cache small.
fn compact(m: &mut PartialObjectMeta<DynamicObject>) {
    if let Some(fields) = m.metadata.managed_fields.as_mut() {
        fields.retain(|f| {
            f.manager.as_deref() == Some(crate::children::MANAGER)
                && f.operation.as_deref() == Some("Apply")
        });
        for f in fields.iter_mut() {
            f.fields_v1 = None;
        }
    }
}

type MetaStream =
    futures::stream::BoxStream<'static, Result<PartialObjectMeta<DynamicObject>, watcher::Error>>;

async fn controller(
    ctx: Arc<EntryCtx>,
    ns: Option<String>,
    children: Vec<(ApiResource, MetaStream)>,
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
        // no cycle reads a CR's managedFields; they are most of its metadata
        .modify(|o: &mut DynamicObject| o.metadata.managed_fields = None)
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
    for (ar, stream) in children {
        controller = controller.owns_stream_with(stream, ar);
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
