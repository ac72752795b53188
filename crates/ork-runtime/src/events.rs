//! Events (docs/katalog.md §6.6) go out through one bounded queue: a report never holds a
//! reconcile worker, and a slow or failing API server costs at most the queue's memory.
//! When the queue is full the event is dropped and counted (`ork_events_dropped_total`).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, Recorder};
use tokio::sync::mpsc;

/// Events waiting to be published, at most.
const QUEUE: usize = 1024;
/// Events published at once.
const CONCURRENCY: usize = 4;

#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<(Event, ObjectReference)>,
    dropped: prometheus_client::metrics::counter::Counter,
}

impl Events {
    /// Starts the publisher; it stops when every sender is gone.
    pub fn start(
        recorder: Recorder,
        dropped: prometheus_client::metrics::counter::Counter,
    ) -> Events {
        let (tx, rx) = mpsc::channel::<(Event, ObjectReference)>(QUEUE);
        tokio::spawn(async move {
            use futures::StreamExt;
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
                .for_each_concurrent(CONCURRENCY, |(ev, reference)| {
                    let recorder = recorder.clone();
                    async move {
                        if let Err(e) = recorder.publish(&ev, &reference).await {
                            tracing::warn!(object = ?reference.name, reason = %ev.reason, error = %e, "event not recorded");
                        }
                    }
                })
                .await;
        });
        Events { tx, dropped }
    }

    pub fn send(&self, ev: Event, reference: ObjectReference) {
        if self.tx.try_send((ev, reference)).is_err() {
            self.dropped.inc();
        }
    }
}
