//! One reconcile cycle (docs/katalog.md §6.2) and the deletion path (§6.5).
//!
//! The cycle asks the one decision core for every verdict: `ork_render::render_cycle` calls
//! `ork_policy::decide` at `Point::Reconcile` for the CR (namespace guard, mutation,
//! validation) and for every rendered pod-bearing child (the pod-security backstop), so the
//! reconciler never judges a rule itself. Nothing is written unless all of that passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use ork_katalog::ChildKind;
use ork_policy::{PreparedCrd, PreparedKatalog};
use ork_render::reconcile::{self, Cleanup};
use ork_render::status::{managed_metadata, status_after};
use ork_render::{DeclaredKind, NOT_PERMITTED, Options};
use ork_template::Ctx;
use serde_json::{Map, Value, json};

use crate::children::{self, Target, WriteError, Written, now_rfc3339};
use crate::metrics::{CrdLabel, CrdResult, EntryHealth, Metrics};

/// An API error: retried per key with exponential backoff.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CycleError(pub String);

/// `queue.retryBackoff` (docs/katalog.md §6.6).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
}

impl Backoff {
    pub fn after(&self, failures: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX));
        let secs = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }
}

/// Everything one entry's cycles share. Immutable but for the failure counts.
pub struct EntryCtx {
    pub client: kube::Client,
    pub k: Arc<PreparedKatalog>,
    pub crd_index: usize,
    pub ar: ApiResource,
    pub kinds: Vec<(DeclaredKind, ChildKind, bool)>,
    pub events: crate::events::Events,
    pub metrics: Arc<crate::metrics::Probes>,
    pub health: Arc<EntryHealth>,
    pub resync: Duration,
    pub backoff: Backoff,
    pub failures: Mutex<HashMap<String, u32>>,
    /// set once the entry's watches exist (`entry::run`)
    pub cache: std::sync::OnceLock<crate::children::ChildCache>,
    /// status fields or `requeue` read `.children`: read bodies back
    pub bodies: bool,
    /// no template, condition or status field reads `.status`: a cycle's own status write
    /// cannot change the next render, so an unchanged CR with unchanged children is skipped
    pub memo_ok: bool,
    /// per CR, what the last full cycle left
    pub memo: Mutex<HashMap<String, Memo>>,
}

/// What a full cycle left: the CR's spec and metadata hash and its children's versions.
pub struct Memo {
    cr: Option<u64>,
    children: std::collections::BTreeMap<String, String>,
    at: Instant,
}

fn child_versions<'a>(
    children: impl Iterator<Item = &'a Value>,
) -> std::collections::BTreeMap<String, String> {
    children
        .map(|v| {
            let t = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (
                format!(
                    "{}/{}/{}/{}",
                    t("/apiVersion"),
                    t("/kind"),
                    t("/metadata/namespace"),
                    t("/metadata/name")
                ),
                t("/metadata/resourceVersion"),
            )
        })
        .collect()
}

impl EntryCtx {
    /// True when the last full cycle of this CR saw the same CR and the same children, not
    /// longer than half a resync ago: the writes would change nothing.
    fn unchanged(&self, cr: &DynamicObject) -> bool {
        if !self.memo_ok || self.bodies {
            return false;
        }
        let Some(cache) = self.cache.get() else {
            return false;
        };
        let memo = match self.memo.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let Some(m) = memo.get(&key(cr)) else {
            return false;
        };
        if m.at.elapsed() > self.resync / 2 || m.cr != crate::entry::spec_and_metadata(cr) {
            return false;
        }
        let uid = cr.uid().unwrap_or_default();
        let now = cache.owned(&self.kinds, &uid);
        child_versions(now.iter().map(|(_, v)| v)) == m.children
    }

    fn remember(&self, cr: &DynamicObject, written: &Written) {
        if !self.memo_ok || self.bodies {
            return;
        }
        let m = Memo {
            cr: crate::entry::spec_and_metadata(cr),
            children: child_versions(written.existing.iter().map(|(_, v)| v)),
            at: Instant::now(),
        };
        let mut memo = match self.memo.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        memo.insert(key(cr), m);
    }

    fn forget(&self, cr: &DynamicObject) {
        let mut memo = match self.memo.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        memo.remove(&key(cr));
    }
}

impl EntryCtx {
    pub fn crd(&self) -> &PreparedCrd {
        &self.k.crds[self.crd_index]
    }

    fn m(&self) -> &Metrics {
        &self.metrics.metrics
    }

    fn api(&self, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &self.ar),
            None => Api::all_with(self.client.clone(), &self.ar),
        }
    }

    async fn event(&self, cr: &DynamicObject, warning: bool, reason: &str, note: &str) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(cut(note, 1024)),
            action: "Reconcile".into(),
            secondary: None,
        };
        self.events.send(ev, cr.object_ref(&self.ar));
    }

    fn key_failures(&self, k: &str, failed: bool) -> u32 {
        let mut g = match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if failed {
            let n = g.entry(k.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        } else {
            g.remove(k);
            0
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn key(cr: &DynamicObject) -> String {
    match cr.namespace() {
        Some(ns) => format!("{ns}/{}", cr.name_any()),
        None => cr.name_any(),
    }
}

/// The reconciler kube-runtime calls.
pub async fn reconcile(cr: Arc<DynamicObject>, ctx: Arc<EntryCtx>) -> Result<Action, CycleError> {
    let crd_label = CrdLabel {
        crd: ctx.crd().name.clone(),
    };
    ctx.m().queue_depth.get_or_create(&crd_label).inc();
    let start = Instant::now();
    let outcome = cycle(&cr, &ctx).await;
    ctx.m().queue_depth.get_or_create(&crd_label).dec();
    ctx.m()
        .duration
        .get_or_create(&crd_label)
        .observe(start.elapsed().as_secs_f64());
    let result = match &outcome {
        Ok((_, Kind::Success)) => "success",
        Ok((_, Kind::Input)) => "input_error",
        Ok((_, Kind::Unchanged)) => "unchanged",
        Err(_) => "error",
    };
    ctx.m()
        .reconciles
        .get_or_create(&CrdResult {
            crd: crd_label.crd.clone(),
            result,
        })
        .inc();
    ctx.health.record(result != "error", ctx.m());
    let failures = ctx.key_failures(&key(&cr), result == "error");
    match outcome {
        Ok((action, _)) => Ok(action),
        Err(e) => {
            tracing::warn!(crd = %crd_label.crd, cr = %key(&cr), failures, error = %e.0, "reconcile failed");
            Err(e)
        }
    }
}

/// kube-runtime's error policy: exponential backoff per key, reset on success.
pub fn error_policy(cr: Arc<DynamicObject>, _e: &CycleError, ctx: Arc<EntryCtx>) -> Action {
    let n = match ctx.failures.lock() {
        Ok(g) => g.get(&key(&cr)).copied().unwrap_or(1),
        Err(p) => p.into_inner().get(&key(&cr)).copied().unwrap_or(1),
    };
    Action::requeue(ctx.backoff.after(n))
}

enum Kind {
    Success,
    /// skipped: nothing changed since the last full cycle
    Unchanged,
    /// an input error: not retried until something changes (or the resync)
    Input,
}

async fn cycle(cr: &DynamicObject, ctx: &EntryCtx) -> Result<(Action, Kind), CycleError> {
    let crd = ctx.crd();
    let value = serde_json::to_value(cr).map_err(|e| CycleError(e.to_string()))?;
    if cr.metadata.deletion_timestamp.is_some() {
        return deletion(cr, &value, ctx).await;
    }
    if ctx.unchanged(cr) {
        return Ok((Action::requeue(ctx.resync), Kind::Unchanged));
    }
    let name = cr.name_any();
    let ns = cr.namespace();
    let api = ctx.api(ns.as_deref());
    // steps 2, 4, 5: guard, mutation, validation, render, backstop — all before any write
    let mut outcome = ork_render::render_cycle(&ctx.k, crd, &value, &Options::default());
    if let Err(f) = &outcome
        && f.reason == NOT_PERMITTED
    {
        ctx.event(cr, true, NOT_PERMITTED, &f.message).await;
        return Ok((Action::requeue(ctx.resync), Kind::Input));
    }
    // step 3: the label manager's one merge patch
    let now = now_rfc3339();
    let want = managed_metadata(&ctx.k, crd, &value, &now);
    let mut as_written = None;
    if let Some(patch) = reconcile::metadata_patch(&value["metadata"], &want) {
        as_written = Some(
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| CycleError(format!("metadata patch: {e}")))?,
        );
    }
    // step 6: writes
    let uid = cr.uid().unwrap_or_default();
    let target = Target {
        client: &ctx.client,
        cache: ctx.cache.get(),
        bodies: ctx.bodies,
        uid: &uid,
        namespace: ns.as_deref(),
        kind: &crd.api.kind,
        name: &name,
    };
    let mut api_error = None;
    let mut written = Written::default();
    if let Ok(c) = &outcome {
        match children::write_all(&target, &ctx.kinds, &c.children).await {
            Ok(w) => written = w,
            Err(WriteError::Input(f)) => outcome = Err(f),
            Err(WriteError::Api(f, e)) => {
                api_error = Some(e);
                outcome = Err(f);
            }
        }
    } else if let Ok(owned) = children::owned(&target, &ctx.kinds).await {
        // a failed cycle still shows what exists to status fields
        written.existing = owned
            .into_iter()
            .map(|(i, v)| (ctx.kinds[i].1, v))
            .collect();
    }
    // step 7: status, events, requeue
    let children = ork_render::children_data(written.existing.iter().map(|(k, v)| (*k, v)));
    let mut tctx = Ctx::with_limits(None, None, ctx.k.limits);
    let status = match status_after(&ctx.k, crd, &value, &outcome, &children, &now, &mut tctx) {
        Ok(s) => s,
        Err(f) => {
            outcome = Err(f);
            status_after(&ctx.k, crd, &value, &outcome, &children, &now, &mut tctx).unwrap_or(None)
        }
    };
    let changed_fields = write_status(ctx, &api, &name, &value, status).await?;
    match &outcome {
        Ok(_) if written.touched() => {
            let note = format!(
                "{} created, {} changed, {} deleted",
                written.created, written.changed, written.deleted
            );
            ctx.event(cr, false, &format!("{}Reconciled", crd.api.kind), &note)
                .await;
        }
        Ok(_) => {}
        Err(f) if f.reason == "ValidationFailed" => {
            ctx.event(
                cr,
                true,
                &format!("{}ValidationFailed", crd.api.kind),
                &f.message,
            )
            .await;
        }
        Err(f) => {
            ctx.event(
                cr,
                true,
                &format!("{}ReconcileError", crd.api.kind),
                &f.message,
            )
            .await;
        }
    }
    if let Some(e) = api_error {
        ctx.forget(cr);
        return Err(CycleError(e.to_string()));
    }
    if outcome.is_ok() && !changed_fields {
        ctx.remember(as_written.as_ref().unwrap_or(cr), &written);
    } else {
        ctx.forget(cr);
    }
    let next = if changed_fields {
        // a declared status field changed: the next state of the machine is due now
        Duration::from_millis(10)
    } else {
        match &outcome {
            Ok(c) => requeue_after(ctx, &c.cr, &value, &children)
                .map_or(ctx.resync, |d| d.min(ctx.resync)),
            Err(_) => ctx.resync,
        }
    };
    let kind = if outcome.is_ok() {
        Kind::Success
    } else {
        Kind::Input
    };
    Ok((Action::requeue(next), kind))
}

/// `requeue: {after, when, or}` after a successful cycle; an invalid `after` is logged.
fn requeue_after(ctx: &EntryCtx, cr: &Value, stored: &Value, children: &Value) -> Option<Duration> {
    let (after, gate) = ctx.crd().requeue.as_ref()?;
    let after = after.as_ref()?;
    let mut data = cr.clone();
    if let Some(m) = data.as_object_mut() {
        m.insert(
            "status".into(),
            stored.get("status").cloned().unwrap_or_else(|| json!({})),
        );
        m.insert("children".into(), children.clone());
        m.insert(
            "ork".into(),
            json!({"katalog": ctx.k.name, "crd": ctx.crd().name}),
        );
    }
    let mut tctx = Ctx::with_limits(None, None, ctx.k.limits);
    let mut scope = ork_policy::conditions::Scope {
        data: &data,
        ctx: &mut tctx,
        peers: None,
    };
    match gate.evaluate(&mut scope) {
        Ok(ork_policy::conditions::Eval::False) => return None,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(crd = %ctx.crd().name, error = %e, "requeue condition failed");
            return None;
        }
    }
    let text = match after.render(&data, &mut tctx) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(crd = %ctx.crd().name, error = %e, "requeue.after failed");
            return None;
        }
    };
    let text = text.trim();
    if text.is_empty() || text == "0s" {
        return None;
    }
    match ork_template::duration::parse_duration(text) {
        Ok(d) if d >= Duration::from_secs(1) => Some(d),
        _ => {
            tracing::warn!(crd = %ctx.crd().name, value = %text, "requeue.after is not a duration of at least 1s");
            None
        }
    }
}

/// Patches `/status` when it differs; returns whether a declared status field changed.
async fn write_status(
    ctx: &EntryCtx,
    api: &Api<DynamicObject>,
    name: &str,
    cr: &Value,
    status: Option<Map<String, Value>>,
) -> Result<bool, CycleError> {
    let Some(w) = reconcile::status_write(ctx.crd(), cr, status) else {
        return Ok(false);
    };
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&w.body))
        .await
        .map_err(|e| CycleError(format!("status patch: {e}")))?;
    Ok(w.declared_changed)
}

/// §6.5: onDelete jobs, then the guarded finalizer removal. The state machine, the status
/// and the patch come from `ork_render::reconcile`, the same as `ork simulate`.
async fn deletion(
    cr: &DynamicObject,
    value: &Value,
    ctx: &EntryCtx,
) -> Result<(Action, Kind), CycleError> {
    let crd = ctx.crd();
    let kind = &crd.api.kind;
    let Some(removal) = reconcile::finalizer_removal(value) else {
        return Ok((Action::await_change(), Kind::Success));
    };
    let name = cr.name_any();
    let ns = cr.namespace();
    let api = ctx.api(ns.as_deref());
    let now = now_rfc3339();
    let ready_reason = reconcile::ready_reason(value);
    if ready_reason != "Deleting" && ready_reason != "CleanupFailed" {
        ctx.event(cr, false, &format!("{kind}Deleting"), "running onDelete")
            .await;
    }
    let uid = cr.uid().unwrap_or_default();
    let target = Target {
        client: &ctx.client,
        cache: None,
        bodies: true,
        uid: &uid,
        namespace: ns.as_deref(),
        kind,
        name: &name,
    };
    // the onDelete jobs, created if absent and owned like any job
    let state = match ork_render::render_on_delete(&ctx.k, crd, value, &Options::default()) {
        Err(f) => Cleanup::Failed(f.message),
        Ok(jobs) => {
            let mut state = Cleanup::Done;
            for job in &jobs {
                let one = std::slice::from_ref(job);
                let w = match children::write_all(&target, &[], one).await {
                    Ok(w) => w,
                    Err(WriteError::Input(f)) => {
                        state = Cleanup::Failed(f.message);
                        break;
                    }
                    Err(WriteError::Api(_, e)) => return Err(CycleError(e.to_string())),
                };
                if !state.with_job(&job.entry, w.existing.first().map(|(_, v)| v)) {
                    break;
                }
            }
            state
        }
    };
    let state = state.with_timeout(crd, value, chrono::Utc::now());
    if let Some(body) = reconcile::deletion_status(crd, value, &state, &now) {
        // the object may already be gone; a failed status write does not stop the cleanup
        if let Err(e) = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            tracing::debug!(cr = %key(cr), error = %e, "status during deletion not written");
        }
    }
    match state {
        Cleanup::Running => Ok((Action::requeue(Duration::from_secs(5)), Kind::Success)),
        Cleanup::Failed(m) => {
            ctx.event(cr, true, &format!("{kind}CleanupFailed"), &m)
                .await;
            let n = ctx.key_failures(&format!("{}#cleanup", key(cr)), true);
            Ok((Action::requeue(ctx.backoff.after(n)), Kind::Input))
        }
        Cleanup::Done => {
            let patch: json_patch::Patch =
                serde_json::from_value(removal).map_err(|e| CycleError(e.to_string()))?;
            match api
                .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await
            {
                Ok(_) => {
                    ctx.key_failures(&format!("{}#cleanup", key(cr)), false);
                    ctx.event(cr, false, &format!("{kind}Deleted"), "finalizer removed")
                        .await;
                    Ok((Action::await_change(), Kind::Success))
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    Ok((Action::await_change(), Kind::Success))
                }
                Err(e) => {
                    ctx.event(cr, true, &format!("{kind}FinalizerError"), &e.to_string())
                        .await;
                    Err(CycleError(format!("finalizer removal: {e}")))
                }
            }
        }
    }
}
