//! Keeps ork's configurations and guard in the cluster as the Katalog says
//! (docs/security.md §2.3): server-side apply as field manager `ork-gateway`, configurations of
//! features that are off deleted, and a watcher that restores a deleted or modified object —
//! configurations, the guard policy and its binding — with an audit line and a Warning Event.
//!
//! Every restore is reported once, whichever path made it: the watcher, or the resync when a
//! deletion fell between two watches. The registrar remembers the uid each object had when it
//! last applied it; an apply that comes back with another uid re-created a deleted object.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::watch;

use std::borrow::Cow;

use crate::audit::{self, Audit, Line};
use crate::metrics::{Metrics, ObjectLabel};
use crate::webhooks::{self, Desired, DesiredKind};

pub const MANAGER: &str = "ork-gateway";

fn resource(kind: DesiredKind) -> ApiResource {
    ApiResource {
        group: "admissionregistration.k8s.io".into(),
        version: "v1".into(),
        api_version: "admissionregistration.k8s.io/v1".into(),
        kind: kind.kind().into(),
        plural: kind.plural().into(),
    }
}

pub struct Registrar {
    client: kube::Client,
    /// what the cluster should hold: the configurations of the current Katalog and caBundle,
    /// then the guard policy and binding
    plan: RwLock<Vec<Desired>>,
    /// the uid each object had after this registrar last applied it
    uids: Mutex<HashMap<(DesiredKind, &'static str), String>>,
    audit: Audit,
    metrics: Arc<Metrics>,
    recorder: Recorder,
}

impl Registrar {
    /// `identity` is the Gateway's Lease identity, named as the reporting instance of its events.
    pub fn new(
        client: kube::Client,
        audit: Audit,
        metrics: Arc<Metrics>,
        identity: String,
    ) -> Registrar {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.into(),
                instance: Some(identity),
            },
        );
        Registrar {
            client,
            plan: RwLock::new(Vec::new()),
            uids: Mutex::new(HashMap::new()),
            audit,
            metrics,
            recorder,
        }
    }

    fn api(&self, kind: DesiredKind) -> Api<DynamicObject> {
        Api::all_with(self.client.clone(), &resource(kind))
    }

    pub fn set_plan(&self, plan: Vec<Desired>) {
        match self.plan.write() {
            Ok(mut g) => *g = plan,
            Err(p) => *p.into_inner() = plan,
        }
    }

    fn plan(&self) -> Vec<Desired> {
        match self.plan.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn desired(&self, kind: DesiredKind, name: &str) -> Option<Desired> {
        self.plan()
            .into_iter()
            .find(|d| d.kind == kind && d.name == name)
    }

    /// Applies `d` and says what the object was before: `Recreated` when it comes back with
    /// another uid than the last apply saw (someone deleted it in between). Two applies racing
    /// on one deletion swap the uid under one lock, so only one of them sees `Recreated`.
    async fn apply(&self, d: &Desired) -> Result<Before, kube::Error> {
        let pp = PatchParams::apply(MANAGER).force();
        let live = self
            .api(d.kind)
            .patch(d.name, &pp, &Patch::Apply(&d.object))
            .await?;
        let uid = live.metadata.uid.unwrap_or_default();
        Ok(match self.uids().insert((d.kind, d.name), uid.clone()) {
            None => Before::Unknown,
            Some(old) if old == uid => Before::Same,
            Some(_) => Before::Recreated,
        })
    }

    /// Drops the uid of an object ork deletes itself, so creating it again later is an
    /// install, not a restore.
    fn forget(&self, kind: DesiredKind, name: &'static str) {
        self.uids().remove(&(kind, name));
    }

    /// The uid map; a panic elsewhere while it was held leaves it usable (it holds no invariant
    /// a half-done insert could break).
    fn uids(&self) -> std::sync::MutexGuard<'_, HashMap<(DesiredKind, &'static str), String>> {
        match self.uids.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Applies the whole plan, the guard last so it never protects a half-written set, and
    /// deletes the configurations the plan no longer holds. An object it had to re-create is
    /// reported as restored, as the watcher would have.
    pub async fn apply_all(&self) -> Result<(), kube::Error> {
        let plan = self.plan();
        for d in &plan {
            if self.apply(d).await? == Before::Recreated {
                self.report(d, Why::Deleted).await;
            }
        }
        for (kind, name) in webhooks::all_configurations() {
            if !plan.iter().any(|d| d.kind == kind && d.name == name) {
                self.forget(kind, name);
                match self.api(kind).delete(name, &DeleteParams::default()).await {
                    Ok(_) => tracing::info!(configuration = name, "deleted: its feature is off"),
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Deletes every configuration, then the guard (`cleanupOnShutdown` on uninstall).
    pub async fn remove_all(&self) {
        let mut names: Vec<(DesiredKind, &str)> = webhooks::all_configurations();
        names.push((DesiredKind::Binding, ork_policy::prepared::GUARD_POLICY));
        names.push((DesiredKind::Policy, ork_policy::prepared::GUARD_POLICY));
        for (kind, name) in names {
            self.forget(kind, name);
            match self.api(kind).delete(name, &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => tracing::warn!(configuration = name, error = %e, "cleanup failed"),
            }
        }
    }

    /// Re-applies `d` after the watcher saw it deleted, missing or modified, and reports it —
    /// unless the resync re-created it first and reported it already.
    async fn restore(&self, d: &Desired, why: Why) {
        match self.apply(d).await {
            Ok(before) => {
                let report = match why {
                    Why::Deleted | Why::Missing => before != Before::Same,
                    Why::Modified => true,
                };
                if report {
                    self.report(d, why).await;
                }
            }
            Err(e) => {
                tracing::error!(kind = d.kind.kind(), name = d.name, error = %e, "restore failed")
            }
        }
    }

    /// One restore, told three ways: a log line, an audit line, a Warning Event (and a metric).
    async fn report(&self, d: &Desired, why: Why) {
        let why = why.as_str();
        tracing::warn!(kind = d.kind.kind(), name = d.name, why, "restored");
        self.metrics
            .restores
            .get_or_create(&ObjectLabel {
                kind: d.kind.kind(),
                name: d.name,
            })
            .inc();
        self.audit.record(&Line {
            time: audit::now(),
            log: "audit",
            webhook: "control-plane",
            uid: "".into(),
            user: MANAGER.into(),
            groups: Cow::Borrowed(&[]),
            operation: "RESTORE",
            kind: format!("admissionregistration.k8s.io/v1/{}", d.kind.kind()).into(),
            subresource: None,
            namespace: None,
            name: d.name.into(),
            decision: "allow",
            reasons: vec![
                serde_json::json!({"code": "restored", "layer": "control-plane", "message": why}),
            ],
            warnings: Cow::Borrowed(&[]),
            dry_run: false,
            duration_us: 0,
        });
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("admissionregistration.k8s.io/v1".into()),
            kind: Some(d.kind.kind().into()),
            name: Some(d.name.into()),
            ..Default::default()
        };
        let ev = Event {
            type_: EventType::Warning,
            reason: "Restored".into(),
            note: Some(format!(
                "{} {} was {why}; ork restored it",
                d.kind.kind(),
                d.name
            )),
            action: "Restore".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &reference).await {
            tracing::warn!(name = d.name, error = %e, "the Restored event was not recorded");
        }
    }

    /// One name-scoped watch per object the Gateway may own. A deletion is answered by
    /// re-creating the object; a modification of a field ork owns by a forced apply. Runs
    /// until `stop`; acts only while `leading`.
    pub async fn watch(
        self: Arc<Self>,
        leading: watch::Receiver<bool>,
        stop: watch::Receiver<bool>,
    ) {
        let mut names: Vec<(DesiredKind, &'static str)> = webhooks::all_configurations();
        names.push((DesiredKind::Policy, ork_policy::prepared::GUARD_POLICY));
        names.push((DesiredKind::Binding, ork_policy::prepared::GUARD_POLICY));
        let mut tasks = Vec::new();
        for (kind, name) in names {
            let me = self.clone();
            let leading = leading.clone();
            let mut stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
                let mut events = watcher::watcher(me.api(kind), cfg).boxed();
                let mut seen = false;
                loop {
                    let ev = tokio::select! {
                        ev = events.next() => ev,
                        _ = stop.changed() => break,
                    };
                    let Some(ev) = ev else { break };
                    if !*leading.borrow() {
                        continue;
                    }
                    let Some(desired) = me.desired(kind, name) else {
                        continue;
                    };
                    match ev {
                        Ok(watcher::Event::Delete(_)) => me.restore(&desired, Why::Deleted).await,
                        Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                            seen = true;
                            let live = serde_json::to_value(&o).unwrap_or(Value::Null);
                            if webhooks::drifted(&desired.object, &live) {
                                me.restore(&desired, Why::Modified).await;
                            }
                        }
                        Ok(watcher::Event::Init) => seen = false,
                        Ok(watcher::Event::InitDone) if !seen => {
                            me.restore(&desired, Why::Missing).await;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(name, error = %e, "watch interrupted; it resumes");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// What an apply found: the object as this registrar left it, one it never applied, or one
/// re-created after a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    Unknown,
    Same,
    Recreated,
}

/// Why an object is restored.
#[derive(Debug, Clone, Copy)]
enum Why {
    Deleted,
    Missing,
    Modified,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Deleted => "deleted",
            Why::Missing => "missing",
            Why::Modified => "modified",
        }
    }
}
