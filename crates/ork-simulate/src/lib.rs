//! `ork simulate` (docs/cli.md §5): the runtime's reconcile cycles over an in-memory cluster.
//!
//! One decision core: a simulated cycle ([`cycle`]) calls the same `ork_render` and
//! `ork_policy` functions as `crates/ork-runtime`, in the same order, and only its I/O goes to
//! [`cluster::Cluster`] instead of an API server. Between cycles [`controllers`] play the
//! workload and Job controllers. [`doc`] decodes the `kind: Simulate` document strictly,
//! [`input`] loads what a run needs, [`expect`] checks its assertions and [`report`] prints
//! it. [`scenario`] replays an E2E scenario's allowed/denied steps through the Gateway's own
//! verdicts. Pure: no cluster access, no network, no async runtime.

pub mod cluster;
pub mod controllers;
pub mod cycle;
pub mod doc;
pub mod expect;
pub mod init;
pub mod input;
pub mod report;
pub mod scenario;

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ork_limits::{Exceeded, Limits};
use ork_policy::PreparedKatalog;
use ork_render::Options;
use serde::Serialize;
use serde_json::Value;

use cluster::{Cluster, Key};
use controllers::Behaviour;
pub use cycle::{Op, Ready, Verb};

/// Why a simulation stopped before its last cycle.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// a budget of the in-memory cluster or of the run
    Budget(Exceeded),
    /// an input the run cannot use (a CR no entry serves, a CR that is not an object)
    Input(String),
    /// a scenario phase the real run would fail too (a CR refused at admission, CRs that are
    /// never deleted): a negative verdict, not bad input
    Phase {
        phase: &'static str,
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Budget(e) => write!(f, "{e}"),
            Error::Input(m) => write!(f, "{m}"),
            Error::Phase { phase, message } => write!(f, "{phase}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// cycles to run (default 10)
    pub cycles: u32,
    /// the CRs get a deletionTimestamp at the start of this cycle
    pub delete_at: Option<u32>,
    pub cluster: Behaviour,
    /// makes `uuidv4`, `random*` and the cluster's uids deterministic
    pub seed: Option<u64>,
    /// the clock of every cycle: the simulated time does not advance
    pub now: DateTime<Utc>,
    /// only CRs of this CRD entry
    pub crd: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cycles: DEFAULT_CYCLES,
            delete_at: None,
            cluster: Behaviour::default(),
            seed: None,
            now: Utc::now(),
            crd: None,
        }
    }
}

pub const DEFAULT_CYCLES: u32 = 10;

/// One CR's Ready after a cycle (`ready` is `None` once the CR is gone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrReady {
    pub crd: String,
    /// `namespace/name`
    pub cr: String,
    pub ready: Option<Ready>,
}

/// What one cycle did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleLog {
    pub n: u32,
    pub ops: Vec<Op>,
    pub crs: Vec<CrReady>,
}

impl CycleLog {
    /// No operation changed anything.
    pub fn steady(&self) -> bool {
        !self.ops.iter().any(|o| o.changed)
    }

    /// The first CR whose cycle ended in an error ([`Ready::is_error`]).
    pub fn error(&self) -> Option<&CrReady> {
        self.crs
            .iter()
            .find(|c| c.ready.as_ref().is_some_and(Ready::is_error))
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Run {
    /// the CRD entries of the CRs, in order, each once
    pub crds: Vec<String>,
    /// the CRs as `namespace/name`
    pub crs: Vec<String>,
    pub cycles: Vec<CycleLog>,
    pub elapsed: Duration,
}

impl Run {
    /// The first cycle from which every cycle run was steady (`None`: the last was not).
    pub fn steady_at(&self) -> Option<u32> {
        let mut at = None;
        for c in self.cycles.iter().rev() {
            if !c.steady() {
                break;
            }
            at = Some(c.n);
        }
        at
    }

    /// No cycle ended in an error.
    pub fn no_errors(&self) -> bool {
        self.cycles.iter().all(|c| c.error().is_none())
    }
}

struct Tracked {
    crd: usize,
    key: Key,
}

/// A simulation in progress: a cluster holding the CRs, cycled one at a time.
pub struct Simulation<'k> {
    k: &'k PreparedKatalog,
    pub cluster: Cluster,
    entries: Vec<cycle::Entry<'k>>,
    crs: Vec<Tracked>,
    settings: Settings,
    log: Vec<CycleLog>,
    max_cycles: u64,
    started: Instant,
}

/// The manager of the user's own writes (the CR files, edits, deletes).
const USER: &str = "kubectl";

impl<'k> Simulation<'k> {
    /// Creates the CRs (file order) in an empty cluster. A CR no enabled entry serves is an
    /// error unless `settings.crd` leaves it out.
    pub fn new(
        k: &'k PreparedKatalog,
        crs: &[Value],
        settings: Settings,
        limits: &Limits,
    ) -> Result<Simulation<'k>, Error> {
        let cluster = Cluster::new(limits, settings.seed, &rec_stamp(settings.now));
        let mut sim = Simulation::on(k, cluster, settings, limits)?;
        for cr in crs {
            sim.add_cr(cr)?;
        }
        Ok(sim)
    }

    /// A simulation over `cluster` as it stands; its CRs are reconciled once [`Self::track`]ed.
    pub fn on(
        k: &'k PreparedKatalog,
        mut cluster: Cluster,
        settings: Settings,
        limits: &Limits,
    ) -> Result<Simulation<'k>, Error> {
        if u64::from(settings.cycles) > limits.simulate_cycles {
            return Err(Error::Budget(Exceeded::new(
                "simulate.cycles",
                limits.simulate_cycles,
            )));
        }
        let opts = Options {
            seed: settings.seed,
            now: Some(settings.now),
            without_backstop: false,
        };
        let entries: Vec<cycle::Entry<'k>> = k
            .crds
            .iter()
            .map(|crd| cycle::Entry {
                k,
                crd,
                kinds: ork_render::declared_kinds(k, crd),
                opts: opts.clone(),
                now: settings.now,
            })
            .collect();
        for crd in &k.crds {
            if crd.api.status_subresource == Some(false) {
                cluster.without_status_subresource(&crd.api.group, &crd.api.plural);
            }
        }
        Ok(Simulation {
            k,
            cluster,
            entries,
            crs: Vec::new(),
            settings,
            log: Vec::new(),
            max_cycles: limits.simulate_cycles,
            started: Instant::now(),
        })
    }

    /// Reconciles the CR at `key` (created some other way, e.g. admitted) from the next cycle
    /// on; false when no enabled entry serves its resource.
    pub fn track(&mut self, key: Key) -> bool {
        let served =
            self.k.crds.iter().position(|c| {
                c.enabled && c.api.group == key.group && c.api.plural == key.resource
            });
        match served {
            Some(i) => {
                if !self.crs.iter().any(|t| t.key == key) {
                    self.crs.push(Tracked { crd: i, key });
                }
                true
            }
            None => false,
        }
    }

    /// Runs cycles until one changes nothing, at most `max`; true when it got there.
    pub fn until_steady(&mut self, max: u32) -> Result<bool, Error> {
        for _ in 0..max {
            if self.cycle()?.steady() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The cluster, for a later simulation (another Katalog, the same objects).
    pub fn into_cluster(self) -> Cluster {
        self.cluster
    }

    /// Creates one more CR, as a user's `kubectl create` (no admission runs).
    pub fn add_cr(&mut self, cr: &Value) -> Result<(), Error> {
        let api_version = cr.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = cr.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = cr
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let group = cluster::group_of(api_version);
        let served = self
            .k
            .crds
            .iter()
            .position(|c| c.enabled && c.api.group == group && c.api.kind == kind);
        let Some(i) = served else {
            if self.settings.crd.is_some() {
                return Ok(());
            }
            return Err(Error::Input(format!(
                "{kind} {name:?} ({api_version}): no enabled CRD entry of Katalog {} serves it",
                self.k.name
            )));
        };
        let crd = &self.k.crds[i];
        if self.settings.crd.as_deref().is_some_and(|o| o != crd.name) {
            return Ok(());
        }
        if name.is_empty() {
            return Err(Error::Input(format!("{kind}: a CR without metadata.name")));
        }
        let mut body = cr.clone();
        if crd.api.namespaced && body.pointer("/metadata/namespace").is_none() {
            body["metadata"]["namespace"] = Value::from("default");
        }
        if !crd.api.namespaced
            && let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("namespace");
        }
        let key = Key::of(&crd.api.plural, &body);
        self.cluster
            .create(&key, &body, USER)
            .map_err(|e| match e {
                cluster::ApiError::Budget(b) => Error::Budget(b),
                other => Error::Input(other.to_string()),
            })?;
        self.crs.push(Tracked { crd: i, key });
        Ok(())
    }

    /// Replaces the spec (and labels, annotations) of the `i`-th CR as a user's edit would.
    pub fn update_cr(&mut self, i: usize, cr: &Value) -> Result<(), Error> {
        let Some(t) = self.crs.get(i) else {
            return Err(Error::Input(format!("no CR number {i}")));
        };
        let key = t.key.clone();
        self.cluster
            .update(&key, cr, USER)
            .map(|_| ())
            .map_err(|e| Error::Input(e.to_string()))
    }

    /// A user deletes every CR: each gets its deletionTimestamp (ork's finalizer holds it).
    pub fn delete_crs(&mut self) -> Result<(), Error> {
        for t in &self.crs {
            match self.cluster.delete(&t.key, None) {
                Ok(()) | Err(cluster::ApiError::NotFound(_)) => {}
                Err(e) => return Err(Error::Input(e.to_string())),
            }
        }
        Ok(())
    }

    /// Runs the next cycle: every CR once, in file order, then the controllers.
    pub fn cycle(&mut self) -> Result<&CycleLog, Error> {
        let n = u32::try_from(self.log.len() + 1).unwrap_or(u32::MAX);
        if u64::from(n) > self.max_cycles {
            return Err(Error::Budget(Exceeded::new(
                "simulate.cycles",
                self.max_cycles,
            )));
        }
        if self.settings.delete_at == Some(n) {
            self.delete_crs()?;
        }
        let mut r = cycle::Recorder::new(n);
        let mut crs = Vec::new();
        for t in &self.crs {
            let Some(entry) = self.entries.get(t.crd) else {
                continue;
            };
            let ready = cycle::reconcile(&mut self.cluster, entry, &t.key, &mut r)?;
            crs.push(CrReady {
                crd: entry.crd.name.clone(),
                cr: cr_name(&t.key),
                ready,
            });
        }
        controllers::run(
            &mut self.cluster,
            self.settings.cluster,
            &rec_stamp(self.settings.now),
        )
        .map_err(|e| match e {
            cluster::ApiError::Budget(b) => Error::Budget(b),
            other => Error::Input(other.to_string()),
        })?;
        self.log.push(CycleLog { n, ops: r.ops, crs });
        match self.log.last() {
            Some(l) => Ok(l),
            None => Err(Error::Input("no cycle ran".into())),
        }
    }

    /// The cycles run so far.
    pub fn log(&self) -> &[CycleLog] {
        &self.log
    }

    /// The `i`-th CR as it stands (None once deleted).
    pub fn cr(&self, i: usize) -> Option<&Value> {
        self.crs.get(i).and_then(|t| self.cluster.get(&t.key))
    }

    /// Runs the remaining cycles of `settings.cycles` and ends the run.
    pub fn run(mut self) -> Result<Run, Error> {
        while self.log.len() < self.settings.cycles as usize {
            self.cycle()?;
        }
        Ok(self.finish())
    }

    /// Ends the run with the cycles run so far.
    pub fn finish(self) -> Run {
        let mut crds: Vec<String> = Vec::new();
        for t in &self.crs {
            if let Some(e) = self.entries.get(t.crd)
                && !crds.contains(&e.crd.name)
            {
                crds.push(e.crd.name.clone());
            }
        }
        Run {
            crds,
            crs: self.crs.iter().map(|t| cr_name(&t.key)).collect(),
            cycles: self.log,
            elapsed: self.started.elapsed(),
        }
    }
}

fn cr_name(k: &Key) -> String {
    if k.namespace.is_empty() {
        k.name.clone()
    } else {
        format!("{}/{}", k.namespace, k.name)
    }
}

fn rec_stamp(now: DateTime<Utc>) -> String {
    ork_render::reconcile::stamp(now)
}
