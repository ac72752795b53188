//! `ork e2e` (docs/e2e.md): runs loaded scenarios against a real API server. Per scenario, in
//! order (§3): its own namespace; CRDs applied and Established; setup applied with its waits;
//! ork installed in-process as its own ServiceAccounts → `setup-complete` expectations; CRs
//! applied → `cr-applied`; CRs deleted (after the decommission path when the Katalog protects
//! them) → `cr-deleted`; teardown in reverse. A failed phase fails the scenario and skips the
//! expectations still to come.

pub mod api;
pub mod install;
pub mod steps;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ork_scenario::report::{
    CheckReport, ExpectReport, PhaseFailure, RunReport, ScenarioReport, Status, progress_line,
};
use ork_scenario::{Component, Expectation, Phase, Scenario};
use serde_json::{Value, json};

use api::{Api, e};
use install::{Install, KatalogFacts, Launch};
use steps::{Attempt, Ctx};

pub struct Options {
    /// the `ork` binary that runs the components
    pub ork: PathBuf,
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
    pub advertise: Option<String>,
    /// only expectations whose name matches
    pub filter: Option<regex::Regex>,
    pub fail_fast: bool,
    /// skip teardown after a failure
    pub keep: bool,
    /// overrides every scenario's `spec.timeout`
    pub timeout: Option<Duration>,
    pub limits: ork_limits::Limits,
    /// scratch directory (kubeconfigs, component logs, audit lines)
    pub work: PathBuf,
}

/// Progress on stderr: a live line per running check on a terminal, plain lines otherwise.
struct Progress {
    tty: bool,
}

impl Progress {
    fn running(&self, text: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{} …", ork_io::escape_control(text));
            let _ = std::io::stderr().flush();
        }
    }

    fn done(&self, line: &str) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{line}");
    }
}

pub async fn run(scenarios: &[Scenario], client: kube::Client, opts: &Options) -> RunReport {
    let started = Instant::now();
    let api = Api::new(client);
    let progress = Progress {
        tty: std::io::stderr().is_terminal(),
    };
    let mut reports = Vec::new();
    let mut stop = false;
    for s in scenarios {
        if stop {
            reports.push(skipped(s, "an earlier scenario failed (--fail-fast)"));
            continue;
        }
        let r = scenario(s, &api, opts, &progress).await;
        progress.done(&r.summary_line());
        if !r.passed && opts.fail_fast {
            stop = true;
        }
        reports.push(r);
    }
    RunReport {
        passed: reports.iter().all(|r| r.passed),
        duration_ms: started.elapsed().as_millis() as u64,
        scenarios: reports,
    }
}

fn skipped(s: &Scenario, why: &str) -> ScenarioReport {
    ScenarioReport {
        name: s.name.clone(),
        file: s.file.display().to_string(),
        passed: false,
        duration_ms: 0,
        phase_failure: Some(PhaseFailure {
            phase: "not run".into(),
            message: why.into(),
        }),
        expect: s
            .expect
            .iter()
            .map(|x| ExpectReport {
                name: x.name.clone(),
                after: x.after.as_str().into(),
                status: Status::Skipped,
                duration_ms: 0,
                checks: Vec::new(),
            })
            .collect(),
    }
}

struct Run<'a> {
    s: &'a Scenario,
    api: &'a Api,
    opts: &'a Options,
    progress: &'a Progress,
    ns: String,
    deadline: Instant,
    expect: Vec<ExpectReport>,
    /// objects the runner created, for teardown in reverse (path)
    created: Vec<String>,
}

async fn scenario(s: &Scenario, api: &Api, opts: &Options, progress: &Progress) -> ScenarioReport {
    let started = Instant::now();
    let timeout = opts.timeout.unwrap_or(s.timeout);
    let mut r = Run {
        s,
        api,
        opts,
        progress,
        ns: ork_scenario::namespace_for(&s.name),
        deadline: started + timeout,
        expect: Vec::new(),
        created: Vec::new(),
    };
    let work = opts.work.join(&s.name);
    let mut phase_failure = None;
    let mut install = None;
    let outcome = r.phases(&work, &mut install).await;
    if let Err((phase, message)) = outcome {
        progress.done(&format!("[{}] {phase} ✗ {message}", s.name));
        phase_failure = Some(PhaseFailure { phase, message });
    }
    // expectations that never ran are skipped
    for x in &s.expect {
        if !r.expect.iter().any(|d| d.name == x.name) {
            r.expect.push(ExpectReport {
                name: x.name.clone(),
                after: x.after.as_str().into(),
                status: Status::Skipped,
                duration_ms: 0,
                checks: Vec::new(),
            });
        }
    }
    let failed = phase_failure.is_some() || r.expect.iter().any(|x| x.status == Status::Failed);
    if failed {
        r.on_failure(&s.on_failure).await;
    }
    if failed && opts.keep {
        progress.done(&format!(
            "[{}] --keep: left in place; namespace {}, logs in {}, KUBECONFIG={}",
            s.name,
            r.ns,
            work.display(),
            opts.kubeconfig.display()
        ));
    } else if let Err(m) = r.teardown(install.as_mut()).await
        && phase_failure.is_none()
    {
        phase_failure = Some(PhaseFailure {
            phase: "teardown".into(),
            message: m,
        });
    }
    // file order in the report, whatever order the phases ran them in
    let order = |n: &str| {
        s.expect
            .iter()
            .position(|x| x.name == n)
            .unwrap_or(usize::MAX)
    };
    r.expect.sort_by_key(|x| order(&x.name));
    let passed = phase_failure.is_none() && r.expect.iter().all(|x| x.status != Status::Failed);
    ScenarioReport {
        name: s.name.clone(),
        file: s.file.display().to_string(),
        passed,
        duration_ms: started.elapsed().as_millis() as u64,
        phase_failure,
        expect: r.expect,
    }
}

type PhaseResult = Result<(), (String, String)>;

fn phase_err(phase: &str) -> impl Fn(String) -> (String, String) + '_ {
    move |m| (phase.to_string(), m)
}

impl Run<'_> {
    async fn phases(&mut self, work: &Path, install: &mut Option<Install>) -> PhaseResult {
        std::fs::create_dir_all(work).map_err(|x| ("setup".to_string(), x.to_string()))?;
        // 3. namespace, CRDs, setup
        let facts =
            KatalogFacts::load(&self.s.katalog, &self.opts.limits).map_err(phase_err("setup"))?;
        self.namespace(&self.ns.clone())
            .await
            .map_err(phase_err("setup"))?;
        for f in &self.s.crds.clone() {
            self.apply_file(f).await.map_err(phase_err("setup"))?;
        }
        self.crds_established().await.map_err(phase_err("setup"))?;
        for f in &self.s.setup.clone() {
            self.apply_file(&f.path).await.map_err(phase_err("setup"))?;
            for w in &f.wait {
                self.wait(w).await.map_err(phase_err("setup"))?;
            }
        }
        for w in &self.s.setup_wait.clone() {
            self.wait(w).await.map_err(phase_err("setup"))?;
        }
        // 4. ork, in-process
        let launch = Launch {
            ork: self.opts.ork.clone(),
            kubeconfig: self.opts.kubeconfig.clone(),
            context: self.opts.context.clone(),
            advertise: self.opts.advertise.clone(),
            work: work.to_path_buf(),
        };
        let inst = install.insert(Install::new(launch, self.s.katalog.clone(), facts.clone()));
        inst.apply_rbac(self.api)
            .await
            .map_err(phase_err("install"))?;
        inst.start(self.api, Component::Gateway)
            .await
            .map_err(phase_err("install"))?;
        inst.start(self.api, Component::Runtime)
            .await
            .map_err(phase_err("install"))?;
        self.expectations(Phase::SetupComplete, inst).await?;
        // 5. CRs
        let mut crs = Vec::new();
        for f in &self.s.crs {
            crs.extend(
                ork_scenario::read_objects(f, &self.opts.limits)
                    .map_err(phase_err("cr-applied"))?,
            );
        }
        for cr in &crs {
            let a = self
                .api
                .apply(cr, &self.ns, None, false)
                .await
                .map_err(phase_err("cr-applied"))?;
            if !a.ok() {
                return Err((
                    "cr-applied".into(),
                    format!("applying {}: {} {}", name_of(cr), a.status, a.message()),
                ));
            }
        }
        self.expectations(Phase::CrApplied, inst).await?;
        // 6. delete the CRs (decommission first when protected) and wait until gone
        if facts.protects && !crs.is_empty() {
            let k = decommissioned(&self.s.katalog, work, &self.opts.limits)
                .map_err(phase_err("cr-deleted"))?;
            inst.restart_with(self.api, k)
                .await
                .map_err(phase_err("cr-deleted"))?;
        }
        for cr in &crs {
            let path = self
                .object_path(cr)
                .await
                .map_err(phase_err("cr-deleted"))?;
            let a = self
                .api
                .send("DELETE", &path, None, None)
                .await
                .map_err(phase_err("cr-deleted"))?;
            if !a.ok() && a.status != 404 {
                return Err((
                    "cr-deleted".into(),
                    format!("deleting {}: {} {}", name_of(cr), a.status, a.message()),
                ));
            }
        }
        let gone_by = Instant::now() + Duration::from_secs(120);
        for cr in &crs {
            let path = self
                .object_path(cr)
                .await
                .map_err(phase_err("cr-deleted"))?;
            while self
                .api
                .get(&path)
                .await
                .map_err(phase_err("cr-deleted"))?
                .is_some()
            {
                if Instant::now() > gone_by {
                    return Err((
                        "cr-deleted".into(),
                        format!(
                            "{} still exists 2 minutes after its deletion (finalizers?)",
                            name_of(cr)
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        self.expectations(Phase::CrDeleted, inst).await?;
        Ok(())
    }

    async fn object_path(&self, obj: &Value) -> Result<String, String> {
        let r = self.api.resolve_object(obj).await?;
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or(&self.ns);
        Ok(r.object(ns, obj["metadata"]["name"].as_str().unwrap_or_default()))
    }

    /// Creates a namespace (and its `default` ServiceAccount: this control plane runs no
    /// ServiceAccount controller, and Pods need one).
    async fn namespace(&mut self, ns: &str) -> Result<(), String> {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let a = self.api.apply(&obj, ns, None, false).await?;
        if !a.ok() {
            return Err(format!("namespace {ns}: {} {}", a.status, a.message()));
        }
        self.default_sa(ns).await
    }

    async fn default_sa(&self, ns: &str) -> Result<(), String> {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        let a = self.api.apply(&sa, ns, None, false).await?;
        if a.ok() {
            Ok(())
        } else {
            Err(format!(
                "ServiceAccount {ns}/default: {} {}",
                a.status,
                a.message()
            ))
        }
    }

    async fn apply_file(&mut self, f: &Path) -> Result<(), String> {
        for obj in ork_scenario::read_objects(f, &self.opts.limits)? {
            let a = self.api.apply(&obj, &self.ns, None, false).await?;
            if !a.ok() {
                return Err(format!(
                    "{}: applying {}: {} {}",
                    f.display(),
                    name_of(&obj),
                    a.status,
                    a.message()
                ));
            }
            let path = self.object_path(&obj).await?;
            if !self.created.contains(&path) {
                self.created.push(path);
            }
            if obj["kind"] == "Namespace" && obj["apiVersion"] == "v1" {
                self.default_sa(obj["metadata"]["name"].as_str().unwrap_or_default())
                    .await?;
            }
        }
        Ok(())
    }

    async fn crds_established(&self) -> Result<(), String> {
        for f in &self.s.crds {
            for crd in ork_scenario::read_objects(f, &self.opts.limits)? {
                if crd["kind"] != "CustomResourceDefinition" {
                    continue;
                }
                let name = crd["metadata"]["name"].as_str().unwrap_or_default();
                let path =
                    format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
                let by = Instant::now() + Duration::from_secs(60);
                loop {
                    let got = self.api.get(&path).await?;
                    let established = got.as_ref().is_some_and(|c| {
                        c["status"]["conditions"].as_array().is_some_and(|a| {
                            a.iter()
                                .any(|x| x["type"] == "Established" && x["status"] == "True")
                        })
                    });
                    if established {
                        break;
                    }
                    if Instant::now() > by {
                        return Err(format!("CRD {name} not Established after 60 s"));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Ok(())
    }

    async fn wait(&self, w: &ork_scenario::Wait) -> Result<(), String> {
        let check = ork_scenario::ResourceCheck {
            kind: w.target.kind.clone(),
            namespace: w.target.namespace.clone(),
            name: w.target.name.clone(),
            labels: Default::default(),
            count: None,
            ready: w.ready,
        };
        let by = Instant::now() + w.timeout;
        loop {
            match steps::resource(self.api, &check, &self.ns).await {
                Ok(None) => return Ok(()),
                Ok(Some(m)) | Err(m) if Instant::now() > by => {
                    return Err(format!(
                        "waiting for {} {}: {m}",
                        w.target.kind,
                        w.target.name.as_deref().unwrap_or_default()
                    ));
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    /// Runs the expectations of one phase in file order, each to completion.
    async fn expectations(&mut self, phase: Phase, inst: &mut Install) -> PhaseResult {
        for x in self.s.expect.iter().filter(|x| x.after == phase) {
            if self
                .opts
                .filter
                .as_ref()
                .is_some_and(|f| !f.is_match(&x.name))
            {
                self.expect.push(ExpectReport {
                    name: x.name.clone(),
                    after: phase.as_str().into(),
                    status: Status::Skipped,
                    duration_ms: 0,
                    checks: Vec::new(),
                });
                continue;
            }
            if Instant::now() > self.deadline {
                return Err((
                    phase.as_str().into(),
                    format!("the scenario's timeout ran out before {:?}", x.name),
                ));
            }
            let report = self.expectation(x, inst).await;
            let failed = report.status == Status::Failed;
            self.expect.push(report);
            if failed {
                self.on_failure(&x.on_failure).await;
                if self.opts.fail_fast {
                    return Err((
                        phase.as_str().into(),
                        format!("{:?} failed (--fail-fast)", x.name),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn expectation(&mut self, x: &Expectation, inst: &mut Install) -> ExpectReport {
        let started = Instant::now();
        let by = started + x.timeout;
        if let Some(w) = x.wait {
            tokio::time::sleep(w).await;
        }
        let audit_from = std::fs::metadata(inst.audit_file())
            .map(|m| m.len())
            .unwrap_or(0);
        let mut checks = Vec::new();
        let mut failed = false;
        let label = |d: &str| format!("[{}] {} › {} › {d}", self.s.name, x.after.as_str(), x.name);
        for (i, step) in x.steps.iter().enumerate() {
            let (kind, detail) = steps::describe(step, &self.ns);
            let t = Instant::now();
            let mut attempts = 0;
            let report = loop {
                attempts += 1;
                self.progress.running(&label(&detail));
                let mut cx = Ctx {
                    api: self.api,
                    namespace: &self.ns,
                    install: inst,
                    audit_from,
                    dir: &self.s.dir,
                    limits: &self.opts.limits,
                };
                let a = steps::attempt(step, &mut cx).await;
                let (status, observed, message) = match a {
                    Attempt::Passed { observed, message } => (Status::Passed, observed, message),
                    Attempt::Failed { observed, message } => (Status::Failed, observed, message),
                    Attempt::Retry { observed, message } if Instant::now() >= by => {
                        (Status::Failed, observed, message)
                    }
                    Attempt::Retry { .. } => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                break CheckReport {
                    kind: kind.clone(),
                    detail: detail.clone(),
                    status,
                    attempts,
                    message,
                    step: Some(i),
                    observed,
                };
            };
            self.progress.done(&progress_line(
                &self.s.name,
                x.after.as_str(),
                &x.name,
                &report,
                t.elapsed().as_secs_f64(),
            ));
            failed |= report.status == Status::Failed;
            checks.push(report);
            if failed {
                break;
            }
        }
        if !failed && (!x.resources.is_empty() || !x.commands.is_empty()) {
            // resources and commands are polled together until all pass or the time is up
            let t = Instant::now();
            let mut attempts = 0;
            let last = loop {
                attempts += 1;
                self.progress.running(&label("resources and commands"));
                let mut problems: Vec<(String, String, Option<String>)> = Vec::new();
                for r in &x.resources {
                    let what = format!(
                        "{} {}",
                        r.kind,
                        r.name.clone().unwrap_or_else(|| format!("{:?}", r.labels))
                    );
                    let p = steps::resource(self.api, r, &self.ns)
                        .await
                        .unwrap_or_else(Some);
                    problems.push(("resource".into(), what, p));
                }
                for c in &x.commands {
                    let p = steps::command(c, &self.s.dir, &self.opts.kubeconfig)
                        .await
                        .unwrap_or_else(Some);
                    problems.push(("command".into(), c.command.clone(), p));
                }
                if problems.iter().all(|p| p.2.is_none()) || Instant::now() >= by {
                    break problems;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            };
            for (kind, detail, problem) in last {
                let report = CheckReport {
                    kind,
                    detail,
                    status: if problem.is_none() {
                        Status::Passed
                    } else {
                        Status::Failed
                    },
                    attempts,
                    message: problem.unwrap_or_default(),
                    step: None,
                    observed: None,
                };
                self.progress.done(&progress_line(
                    &self.s.name,
                    x.after.as_str(),
                    &x.name,
                    &report,
                    t.elapsed().as_secs_f64(),
                ));
                failed |= report.status == Status::Failed;
                checks.push(report);
            }
        }
        ExpectReport {
            name: x.name.clone(),
            after: x.after.as_str().into(),
            status: if failed {
                Status::Failed
            } else {
                Status::Passed
            },
            duration_ms: started.elapsed().as_millis() as u64,
            checks,
        }
    }

    /// `onFailure`: run the commands, print the objects (Secret data redacted) with events.
    async fn on_failure(&self, f: &ork_scenario::OnFailure) {
        for c in &f.commands {
            let out = steps::command(c, &self.s.dir, &self.opts.kubeconfig).await;
            self.progress.done(&format!(
                "[{}] onFailure: {} → {:?}",
                self.s.name, c.command, out
            ));
        }
        for d in &f.dump {
            let Ok(r) = self.api.resolve(&d.kind).await else {
                continue;
            };
            let ns = d.namespace.as_deref().unwrap_or(&self.ns);
            let name = d.name.as_deref().unwrap_or_default();
            let mut obj = self
                .api
                .get(&r.object(ns, name))
                .await
                .ok()
                .flatten()
                .unwrap_or(Value::Null);
            if r.kind == "Secret" {
                for k in ["data", "stringData"] {
                    if let Some(m) = obj.get_mut(k).and_then(Value::as_object_mut) {
                        for v in m.values_mut() {
                            *v = json!("<redacted>");
                        }
                    }
                }
            }
            let events = self
                .api
                .get(&format!(
                    "/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3D{name}"
                ))
                .await
                .ok()
                .flatten()
                .and_then(|l| l["items"].as_array().cloned())
                .unwrap_or_default();
            let ev: Vec<String> = events
                .iter()
                .map(|e| {
                    format!(
                        "{} {}: {}",
                        e["type"].as_str().unwrap_or_default(),
                        e["reason"].as_str().unwrap_or_default(),
                        e["message"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            self.progress.done(&format!(
                "[{}] onFailure dump {} {ns}/{name}:\n{}\nevents:\n{}",
                self.s.name,
                d.kind,
                ork_yaml::to_yaml_string(&obj),
                ev.join("\n")
            ));
        }
    }

    /// Reverse order: ork, CRs left behind, setup objects, CRDs, the scenario namespace.
    async fn teardown(&mut self, install: Option<&mut Install>) -> Result<(), String> {
        let mut errors = Vec::new();
        if let Some(i) = install
            && let Err(m) = i.teardown(self.api).await
        {
            errors.push(m);
        }
        for f in &self.s.crs {
            for cr in ork_scenario::read_objects(f, &self.opts.limits).unwrap_or_default() {
                if let Ok(p) = self.object_path(&cr).await {
                    // a CR whose finalizer no runtime removes any more: drop it
                    let _ = self
                        .api
                        .send(
                            "PATCH",
                            &p,
                            Some((api::MERGE, br#"{"metadata":{"finalizers":null}}"#.to_vec())),
                            None,
                        )
                        .await;
                    if let Err(m) = self.api.delete_quietly(&p).await {
                        errors.push(m);
                    }
                }
            }
        }
        for p in self.created.iter().rev() {
            if let Err(m) = self.api.delete_quietly(p).await {
                errors.push(m);
            }
        }
        if let Err(m) = self
            .api
            .delete_quietly(&format!("/api/v1/namespaces/{}", self.ns))
            .await
        {
            errors.push(m);
        }
        // the next scenario may create the same CRDs: wait until these are gone
        let by = Instant::now() + Duration::from_secs(60);
        for p in self
            .created
            .iter()
            .filter(|p| p.contains("/customresourcedefinitions/"))
        {
            while self.api.get(p).await.ok().flatten().is_some() && Instant::now() < by {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn name_of(obj: &Value) -> String {
    format!(
        "{} {}",
        obj["kind"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The decommission Katalog (`ork_scenario::decommission`, the one `ork simulate` plays),
/// written to `work` for the components to load.
fn decommissioned(
    katalog: &Path,
    work: &Path,
    limits: &ork_limits::Limits,
) -> Result<PathBuf, String> {
    let d = ork_scenario::decommission(katalog, limits)?;
    let path = work.join("katalog-decommission.yaml");
    std::fs::write(&path, d.text).map_err(e)?;
    Ok(path)
}
