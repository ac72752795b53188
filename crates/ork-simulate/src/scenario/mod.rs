//! `ork simulate` of an E2E scenario (docs/e2e.md, docs/cli.md §5): the scenario played in
//! memory, and for every step with an allowed/denied outcome the verdict a real run gets.
//!
//! The phases are the runner's (`crates/ork-e2e`, docs/e2e.md §3): the scenario namespace,
//! CRDs and setup objects (before ork exists, so without admission); ork installed as the
//! in-process runner installs it — the operator namespace, the RBAC `ork generate rbac`
//! derives, and the configurations and guard the Gateway registers
//! (`ork_webhooks::configurations`, `ork_webhooks::guard`); the CRs applied as the runner
//! through admission, then reconciled by the runtime's own cycles ([`crate::Simulation`]) until
//! steady; and, for `cr-deleted`, the decommission of a protecting Katalog, the deletion of the
//! CRs and their cleanup. The expectations of each phase run in file order.
//!
//! A request step gets its verdict as the API server would give it: authorization first
//! ([`authz`], the RBAC the cluster holds; the runner is `system:masters`), then admission
//! ([`admission`], the Gateway's verdicts from `ork_policy::decide`); a patch of a subresource
//! (`status`, `ephemeralcontainers`, `scale`) is admitted as an UPDATE of that subresource
//! (`patch`). An allowed step that is not a dry run changes the in-memory cluster, which the
//! runtime then reconciles and the Gateway's watcher repairs, as in a real run. `scale` stops
//! or starts a component. Steps and checks that are not verdicts (`assert`, `audit`,
//! `resources`, `commands`) are reported as not simulated.

pub mod admission;
pub mod authz;
mod patch;
mod steps;
mod world;

use std::path::Path;

use chrono::{DateTime, Utc};
use ork_limits::Limits;
use ork_policy::{PreparedKatalog, User};
use ork_scenario::{Identity, Phase, Scenario};
use serde::Serialize;
use serde_json::Value;

use crate::Error;
use world::World;

/// What a step got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    #[serde(rename = "allowed")]
    Allowed,
    #[serde(rename = "denied")]
    Denied,
    /// neither: NotFound and the like, as the runner's step errors
    #[serde(rename = "error")]
    Error,
    /// a state change that is not a verdict (`scale`)
    #[serde(rename = "applied")]
    Applied,
    /// `assert`, `audit`, `resources`, `commands`
    #[serde(rename = "not simulated")]
    NotSimulated,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
            Outcome::Applied => "applied",
            Outcome::NotSimulated => "not simulated",
        }
    }
}

/// The verdict of one step (or check) of an expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepVerdict {
    pub scenario: String,
    /// the expectation's name
    pub expect: String,
    /// its phase
    pub after: &'static str,
    /// the step's index within the expectation; `None` for a `resources` or `commands` check
    pub step: Option<usize>,
    /// `delete App default/demo as dev (dry-run)`
    pub action: String,
    pub verdict: Outcome,
    /// what the step expects (`allowed`/`denied`; a canI's yes/no as allowed/denied)
    pub expected: Option<&'static str>,
    /// the API server's message, or why the step is not simulated
    pub reason: String,
    /// the verdict is the expected one (and the message contains `messageContains`); `None`
    /// for what is not a verdict
    pub passed: Option<bool>,
}

/// The identity of the runner: the local control plane's admin certificate.
const RUNNER: &str = "admin";
/// Field manager of the runner's server-side applies.
const E2E_MANAGER: &str = "ork-e2e";
const GATEWAY_MANAGER: &str = "ork-gateway";
/// Cycles the runtime gets to settle after a change (the runner polls as long as a check's
/// timeout allows; a steady state comes within a few cycles).
const SETTLE_CYCLES: u32 = 50;
/// Cycles the deletion of the CRs may take (the runner waits at most 2 minutes).
const DELETE_CYCLES: u32 = 100;

fn runner() -> User {
    User {
        name: RUNNER.into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    }
}

fn user_of(i: &Option<Identity>) -> User {
    match i {
        Some(i) => User {
            name: i.user.clone(),
            groups: authz::with_authenticated(&i.groups),
        },
        None => runner(),
    }
}

/// Every step's verdict, expectations in phase and file order. An error is a phase the real
/// run would fail too (a CR refused at admission, CRs that are never deleted), or input the
/// simulation cannot use.
pub fn verdicts(
    s: &Scenario,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Vec<StepVerdict>, Error> {
    let k = crate::input::katalog(&s.katalog, limits).map_err(|e| Error::Input(e.join("\n")))?;
    let mut w = World::new(s, limits, now)?;
    let mut out = Vec::new();
    // 3. namespaces, CRDs, setup — before ork, so without admission
    for f in &s.crds {
        for o in read(f, limits)? {
            w.put(&o)?;
        }
    }
    for f in &s.setup {
        for o in read(&f.path, limits)? {
            w.put(&o)?;
        }
    }
    // 4. ork, in-process
    w.install(&k)?;
    w.settle(&k)?;
    w.phase(&k, Phase::SetupComplete, &mut out)?;
    // 5. the CRs, as the runner, through admission
    let mut crs = Vec::new();
    for f in &s.crs {
        crs.extend(read(f, limits)?);
    }
    for cr in &crs {
        let key = w.apply_cr(&k, cr)?;
        if !w.crs.contains(&key) {
            w.crs.push(key);
        }
    }
    w.settle(&k)?;
    w.phase(&k, Phase::CrApplied, &mut out)?;
    // 6. decommission a protecting Katalog, delete the CRs, wait until they are gone
    let k = if k.settings.dp_enabled && !crs.is_empty() {
        let d = decommissioned(&s.katalog, limits)?;
        w.register(&d)?;
        w.settle(&d)?;
        d
    } else {
        k
    };
    w.delete_crs(&k)?;
    w.phase(&k, Phase::CrDeleted, &mut out)?;
    Ok(out)
}

fn read(f: &Path, limits: &Limits) -> Result<Vec<Value>, Error> {
    ork_scenario::read_objects(f, limits).map_err(Error::Input)
}

/// The Katalog the runner decommissions with (`ork_scenario::decommission`), prepared.
fn decommissioned(path: &Path, limits: &Limits) -> Result<PreparedKatalog, Error> {
    let d = ork_scenario::decommission(path, limits).map_err(Error::Input)?;
    let o = ork_katalog::load_str_with(&d.text, &d.name, &d.dir, limits);
    let Some(katalog) = o.katalog else {
        let errs: Vec<String> = o.diagnostics.iter().map(ToString::to_string).collect();
        return Err(Error::Input(format!(
            "the decommissioned Katalog does not load:\n{}",
            errs.join("\n")
        )));
    };
    PreparedKatalog::with_limits(&katalog, *limits).map_err(|e| Error::Input(e.to_string()))
}

/// One text line per verdict: `[scenario] phase › expectation › #i action: verdict ✓ — reason`.
pub fn lines(verdicts: &[StepVerdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        let step = v.step.map(|i| format!("#{i} ")).unwrap_or_default();
        let mark = match v.passed {
            Some(true) => " ✓".to_string(),
            Some(false) => format!(" ✗ expected {}", v.expected.unwrap_or_default()),
            None => String::new(),
        };
        out.push_str(&format!(
            "[{}] {} › {} › {step}{}: {}{mark}",
            ork_io::escape_control(&v.scenario),
            v.after,
            ork_io::escape_control(&v.expect),
            ork_io::escape_control(&v.action),
            v.verdict.as_str(),
        ));
        if !v.reason.is_empty() {
            out.push_str(&format!(" — {}", ork_io::escape_control(&v.reason)));
        }
        out.push('\n');
    }
    out
}

/// `name: N as expected, M not, K not simulated`
pub fn summary(name: &str, verdicts: &[StepVerdict]) -> String {
    let count = |p: Option<bool>| verdicts.iter().filter(|v| v.passed == p).count();
    format!(
        "{}: {} as expected, {} not, {} not simulated\n",
        ork_io::escape_control(name),
        count(Some(true)),
        count(Some(false)),
        count(None)
    )
}
