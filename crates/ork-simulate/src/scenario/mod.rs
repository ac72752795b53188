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
//! ([`admission`], the Gateway's verdicts from `ork_policy::decide`). An allowed step that is
//! not a dry run changes the in-memory cluster, which the runtime then reconciles and the
//! Gateway's watcher repairs, as in a real run. `scale` stops or starts a component. Steps and
//! checks that are not verdicts (`assert`, `audit`, `resources`, `commands`) are reported as
//! not simulated.

pub mod admission;
pub mod authz;

use std::path::Path;

use chrono::{DateTime, Utc};
use ork_katalog::Operation;
use ork_limits::Limits;
use ork_policy::{PreparedKatalog, User};
use ork_scenario::{
    Action, Component, Expectation, Identity, ObjectRef, PatchBody, Phase, RequestOpts, Scenario,
    Step, Verdict,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cluster::{ApiError, Cluster, Key, text};
use crate::{Error, Settings, Simulation};
use admission::{Admission, Call};
use authz::Attributes;

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

/// The scenario's own namespace: `e2e-<name>`, cut to a DNS label (as the runner names it).
pub fn namespace_for(name: &str) -> String {
    let mut n = format!("e2e-{name}");
    n.truncate(63);
    n.trim_end_matches('-').to_string()
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

/// The Katalog as the runner decommissions it (docs/security.md §2.4): deletion protection
/// and strict mode off, no CRD or CR protected.
fn decommissioned(path: &Path, limits: &Limits) -> Result<PreparedKatalog, Error> {
    let input = ork_io::read_text(path, limits).map_err(|e| Error::Input(e.to_string()))?;
    let docs =
        ork_yaml::parse_stream_with(&input.text, limits).map_err(|e| Error::Input(e.message))?;
    let mut src = String::new();
    for d in docs.iter().filter(|d| !d.is_null()) {
        let mut v = d.to_json();
        if v["kind"] == "Katalog" {
            v["security"]["deletionProtection"]["enabled"] = json!(false);
            if let Some(m) = v["security"]["deletionProtection"].as_object_mut() {
                m.remove("strictMode");
            }
            if let Some(crds) = v["spec"]["crds"].as_object_mut() {
                for entry in crds.values_mut() {
                    if let Some(dp) = entry
                        .pointer_mut("/operatorBox/runtime/deletionProtection")
                        .and_then(Value::as_object_mut)
                    {
                        dp.insert("protectCRD".into(), json!(false));
                        dp.insert("protectCRs".into(), json!(false));
                    }
                }
            }
        }
        src.push_str(&ork_yaml::to_yaml_document(&v));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let o = ork_katalog::load_str_with(&src, &input.name, dir, limits);
    let Some(katalog) = o.katalog else {
        let errs: Vec<String> = o.diagnostics.iter().map(ToString::to_string).collect();
        return Err(Error::Input(format!(
            "the decommissioned Katalog does not load:\n{}",
            errs.join("\n")
        )));
    };
    PreparedKatalog::with_limits(&katalog, *limits).map_err(|e| Error::Input(e.to_string()))
}

/// A kind as the API server serves it.
#[derive(Debug, Clone)]
struct Served {
    group: String,
    version: String,
    kind: String,
    resource: String,
    namespaced: bool,
}

/// The in-memory cluster of a scenario and ork's components in it.
struct World<'s> {
    s: &'s Scenario,
    limits: &'s Limits,
    now: DateTime<Utc>,
    ns: String,
    cluster: Option<Cluster>,
    crs: Vec<Key>,
    gateway: bool,
    gateway_up: bool,
    runtime_up: bool,
}

fn api(e: ApiError) -> Error {
    match e {
        ApiError::Budget(b) => Error::Budget(b),
        other => Error::Input(other.to_string()),
    }
}

impl<'s> World<'s> {
    fn new(s: &'s Scenario, limits: &'s Limits, now: DateTime<Utc>) -> Result<World<'s>, Error> {
        let cluster = Cluster::new(limits, Some(0), &ork_render::reconcile::stamp(now));
        let mut w = World {
            s,
            limits,
            now,
            ns: namespace_for(&s.name),
            cluster: Some(cluster),
            crs: Vec::new(),
            gateway: false,
            gateway_up: false,
            runtime_up: false,
        };
        // the namespaces every cluster has, and the scenario's own with its ServiceAccount
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            w.put(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))?;
        }
        let own = w.ns.clone();
        w.put(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": own}}))?;
        Ok(w)
    }

    fn c(&mut self) -> Result<&mut Cluster, Error> {
        self.cluster
            .as_mut()
            .ok_or_else(|| Error::Input("the in-memory cluster is gone".into()))
    }

    fn cluster(&self) -> Result<&Cluster, Error> {
        self.cluster
            .as_ref()
            .ok_or_else(|| Error::Input("the in-memory cluster is gone".into()))
    }

    /// The served kind: CRDs in the cluster, then the Katalog's, then the built-in table.
    fn served(
        &self,
        k: Option<&PreparedKatalog>,
        kind: &str,
        group: Option<&str>,
        version: Option<&str>,
    ) -> Result<Served, String> {
        let cluster = self.cluster().map_err(|e| e.to_string())?;
        for crd in cluster.list("apiextensions.k8s.io", "customresourcedefinitions", None) {
            let g = text(crd, "/spec/group");
            if text(crd, "/spec/names/kind") != kind || group.is_some_and(|x| x != g) {
                continue;
            }
            let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
            let storage = versions
                .into_iter()
                .flatten()
                .find(|v| v["storage"] == true)
                .and_then(|v| v["name"].as_str())
                .unwrap_or("v1");
            return Ok(Served {
                group: g.to_string(),
                version: version.unwrap_or(storage).to_string(),
                kind: kind.to_string(),
                resource: text(crd, "/spec/names/plural").to_string(),
                namespaced: text(crd, "/spec/scope") != "Cluster",
            });
        }
        let katalog = k.and_then(|k| {
            k.crds
                .iter()
                .find(|c| c.api.kind == kind && group.is_none_or(|g| g == c.api.group))
        });
        if let Some(c) = katalog {
            return Ok(Served {
                group: c.api.group.clone(),
                version: version.unwrap_or(&c.api.version).to_string(),
                kind: kind.to_string(),
                resource: c.api.plural.clone(),
                namespaced: c.api.namespaced,
            });
        }
        // the core group first, as discovery lists it
        let mut builtin: Vec<_> = ork_katalog::kinds::BUILTIN_KINDS
            .iter()
            .filter(|(g, k, _, _)| *k == kind && group.is_none_or(|x| x == *g))
            .collect();
        builtin.sort_by_key(|(g, _, _, _)| !g.is_empty());
        match builtin.first() {
            Some((g, _, r, namespaced)) => Ok(Served {
                group: g.to_string(),
                version: version.unwrap_or("v1").to_string(),
                kind: kind.to_string(),
                resource: r.to_string(),
                namespaced: *namespaced,
            }),
            None => Err(format!(
                "the API server does not serve kind {kind}{}",
                group
                    .map(|g| format!(" in group {g:?}"))
                    .unwrap_or_default()
            )),
        }
    }

    fn served_object(&self, k: Option<&PreparedKatalog>, obj: &Value) -> Result<Served, String> {
        let av = text(obj, "/apiVersion");
        let (g, v) = match av.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", av),
        };
        self.served(k, text(obj, "/kind"), Some(g), Some(v))
    }

    fn served_ref(&self, k: &PreparedKatalog, r: &ObjectRef) -> Result<Served, String> {
        let version = r
            .kind
            .api_version
            .as_deref()
            .map(|av| av.rsplit_once('/').map_or(av, |(_, v)| v));
        self.served(Some(k), &r.kind.kind, r.kind.group.as_deref(), version)
    }

    /// The key of an object of a served kind, in the scenario namespace unless it names one.
    fn key(&self, s: &Served, obj: &Value) -> Key {
        let ns = if s.namespaced {
            match text(obj, "/metadata/namespace") {
                "" => self.ns.clone(),
                n => n.to_string(),
            }
        } else {
            String::new()
        };
        Key {
            group: s.group.clone(),
            resource: s.resource.clone(),
            namespace: ns,
            name: text(obj, "/metadata/name").to_string(),
        }
    }

    fn ref_key(&self, s: &Served, r: &ObjectRef) -> Key {
        Key {
            group: s.group.clone(),
            resource: s.resource.clone(),
            namespace: if s.namespaced {
                r.namespace.clone().unwrap_or_else(|| self.ns.clone())
            } else {
                String::new()
            },
            name: r.name.clone().unwrap_or_default(),
        }
    }

    /// The runner's server-side apply without admission (before ork is installed, or as ork's
    /// own installer). A Namespace gets its `default` ServiceAccount.
    fn put(&mut self, obj: &Value) -> Result<(), Error> {
        let served = self.served_object(None, obj).map_err(Error::Input)?;
        self.put_served(&served, obj, E2E_MANAGER)
    }

    fn put_served(&mut self, served: &Served, obj: &Value, manager: &str) -> Result<(), Error> {
        let key = self.key(served, obj);
        let mut body = obj.clone();
        if served.namespaced {
            body["metadata"]["namespace"] = json!(key.namespace);
        }
        self.c()?.apply(&key, &body, manager).map_err(api)?;
        if served.group.is_empty() && served.resource == "namespaces" {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": key.name}});
            let sa_key = Key {
                group: String::new(),
                resource: "serviceaccounts".into(),
                namespace: key.name.clone(),
                name: "default".into(),
            };
            self.c()?.apply(&sa_key, &sa, manager).map_err(api)?;
        }
        Ok(())
    }

    /// ork installed in-process: the operator namespace, the derived RBAC of both components,
    /// and, when a Gateway runs, its configurations and guard.
    fn install(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
        let s = &k.settings;
        let ns = s.operator_namespace.clone();
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        self.put_with(k, &namespace)?;
        let derived = ork_generate::rbac::derive_prepared(
            k,
            &ork_generate::rbac::Options {
                namespace: ns.clone(),
                component: ork_generate::rbac::Component::Both,
            },
        )
        .map_err(|e| Error::Input(e.to_string()))?;
        for o in derived.objects() {
            let mut o = o.clone();
            if o.pointer("/metadata/namespace").is_none()
                && o["kind"] != "ClusterRole"
                && o["kind"] != "ClusterRoleBinding"
            {
                o["metadata"]["namespace"] = json!(ns);
            }
            self.put_with(k, &o)?;
        }
        self.gateway = s.gateway || s.gateway_only;
        self.gateway_up = self.gateway;
        self.runtime_up = !s.gateway_only;
        self.register(k)
    }

    fn put_with(&mut self, k: &PreparedKatalog, obj: &Value) -> Result<(), Error> {
        let served = self.served_object(Some(k), obj).map_err(Error::Input)?;
        self.put_served(&served, obj, E2E_MANAGER)
    }

    /// The Gateway's registrar: its configurations and guard applied, those of features now
    /// off deleted. Nothing while it is down.
    fn register(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
        if !self.gateway || !self.gateway_up {
            return Ok(());
        }
        // the Gateway labels its namespace and keeps its certificate Secrets, all as part of
        // the control plane the guard protects
        let ns = k.settings.operator_namespace.clone();
        let labels = ork_webhooks::control_plane_labels();
        let own = [
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "labels": labels}}),
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "metadata": {"name": ork_katalog::names::TLS_SECRET, "namespace": ns, "labels": labels}}),
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": ork_katalog::names::CA_SECRET, "namespace": ns, "labels": labels}}),
        ];
        for o in &own {
            let served = self.served_object(Some(k), o).map_err(Error::Input)?;
            self.put_served(&served, o, GATEWAY_MANAGER)?;
        }
        let target = ork_webhooks::Target::Url("https://127.0.0.1:8443".into());
        let mut plan = ork_webhooks::configurations(k, &target, "");
        plan.extend(ork_webhooks::guard(k));
        for d in &plan {
            let key = Key {
                group: "admissionregistration.k8s.io".into(),
                resource: d.kind.plural().into(),
                namespace: String::new(),
                name: d.name.to_string(),
            };
            self.c()?
                .apply(&key, &d.object, GATEWAY_MANAGER)
                .map_err(api)?;
        }
        for (kind, name) in ork_webhooks::all_configurations() {
            if !plan.iter().any(|d| d.kind == kind && d.name == name) {
                let key = Key {
                    group: "admissionregistration.k8s.io".into(),
                    resource: kind.plural().into(),
                    namespace: String::new(),
                    name: name.to_string(),
                };
                match self.c()?.delete(&key, None) {
                    Ok(()) | Err(ApiError::NotFound(_)) => {}
                    Err(e) => return Err(api(e)),
                }
            }
        }
        Ok(())
    }

    /// The runtime reconciles the CRs until a cycle changes nothing (the controllers run in
    /// any case), and the Gateway's watcher restores its configurations.
    fn settle(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
        let cluster = self
            .cluster
            .take()
            .ok_or_else(|| Error::Input("the in-memory cluster is gone".into()))?;
        let settings = Settings {
            cycles: SETTLE_CYCLES.max(DELETE_CYCLES),
            seed: Some(0),
            now: self.now,
            ..Settings::default()
        };
        let mut sim = Simulation::on(k, cluster, settings, self.limits)?;
        if self.runtime_up {
            for key in &self.crs {
                sim.track(key.clone());
            }
        }
        let result = sim.until_steady(SETTLE_CYCLES);
        self.cluster = Some(sim.into_cluster());
        result?;
        self.register(k)
    }

    /// Applies one CR as the runner, through admission; a refusal fails the phase.
    fn apply_cr(&mut self, k: &PreparedKatalog, cr: &Value) -> Result<Key, Error> {
        let served = self.served_object(Some(k), cr).map_err(Error::Input)?;
        let key = self.key(&served, cr);
        let v = self.apply_one(k, &served, &key, cr, &runner(), false)?;
        match v {
            (Outcome::Allowed, _) => Ok(key),
            (_, reason) => Err(Error::Phase {
                phase: "cr-applied",
                message: format!("applying {} {}: {reason}", served.kind, key.show()),
            }),
        }
    }

    /// The runner deletes every CR (through admission) and waits until they are gone.
    fn delete_crs(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
        for key in self.crs.clone() {
            let Some(old) = self.cluster()?.get(&key).cloned() else {
                continue;
            };
            let served = self.served_object(Some(k), &old).map_err(Error::Input)?;
            let call = self.call(
                &served,
                &key,
                Operation::Delete,
                None,
                Some(old),
                &runner(),
                false,
            );
            match self.admit(k, call)? {
                Admission::Allowed { .. } => {}
                Admission::Denied(m) => {
                    return Err(Error::Phase {
                        phase: "cr-deleted",
                        message: format!("deleting {}: {m}", key.show()),
                    });
                }
            }
            self.c()?.delete(&key, None).map_err(api)?;
        }
        for _ in 0..DELETE_CYCLES / SETTLE_CYCLES {
            self.settle(k)?;
        }
        let left: Vec<String> = self
            .crs
            .iter()
            .filter(|key| self.cluster.as_ref().is_some_and(|c| c.get(key).is_some()))
            .map(Key::show)
            .collect();
        if !left.is_empty() {
            return Err(Error::Phase {
                phase: "cr-deleted",
                message: format!(
                    "{} still exist after {DELETE_CYCLES} cycles (finalizers?)",
                    left.join(", ")
                ),
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        served: &Served,
        key: &Key,
        operation: Operation,
        object: Option<Value>,
        old_object: Option<Value>,
        user: &User,
        dry_run: bool,
    ) -> Call {
        Call {
            operation,
            group: served.group.clone(),
            version: served.version.clone(),
            kind: served.kind.clone(),
            resource: served.resource.clone(),
            subresource: None,
            namespace: Some(key.namespace.clone()).filter(|n| !n.is_empty()),
            name: key.name.clone(),
            object,
            old_object,
            target: None,
            user: user.clone(),
            dry_run,
        }
    }

    fn admit(&self, k: &PreparedKatalog, call: Call) -> Result<Admission, Error> {
        admission::admit(k, self.cluster()?, self.gateway_up, call).map_err(|e| Error::Input(e.0))
    }

    fn authorize(&self, user: &User, a: &Attributes) -> Result<Result<String, String>, Error> {
        authz::authorize(self.cluster()?, user, a, self.limits).map_err(Error::Input)
    }

    /// A server-side apply of one object by `user`: authorization (patch, and create for a new
    /// object), admission of the merged object, then the write unless it is a dry run.
    fn apply_one(
        &mut self,
        k: &PreparedKatalog,
        served: &Served,
        key: &Key,
        obj: &Value,
        user: &User,
        dry_run: bool,
    ) -> Result<(Outcome, String), Error> {
        let current = self.cluster()?.get(key).cloned();
        let mut verbs = vec!["patch"];
        if current.is_none() {
            verbs.push("create");
        }
        let mut why = String::new();
        for verb in verbs {
            match self.authorize(user, &attrs(verb, served, key, None))? {
                Ok(r) => why = r,
                Err(m) => return Ok((Outcome::Denied, m)),
            }
        }
        let mut body = obj.clone();
        if served.namespaced {
            body["metadata"]["namespace"] = json!(key.namespace);
        }
        // the merged object, computed on a copy
        let mut scratch = self.cluster()?.clone();
        let merged = scratch.apply(key, &body, E2E_MANAGER).map_err(api)?;
        let op = if current.is_some() {
            Operation::Update
        } else {
            Operation::Create
        };
        let call = self.call(served, key, op, Some(merged), current, user, dry_run);
        match self.admit(k, call)? {
            Admission::Denied(m) => Ok((Outcome::Denied, m)),
            Admission::Allowed { object, warnings } => {
                if !dry_run {
                    let c = self.c()?;
                    let stored = c.apply(key, &body, E2E_MANAGER).map_err(api)?;
                    // what a mutating webhook changed is stored too
                    if let Some(m) = object
                        && !same_but_meta(&m, &stored)
                    {
                        c.update(key, &m, GATEWAY_MANAGER).map_err(api)?;
                    }
                }
                Ok((Outcome::Allowed, allowed_reason(&why, &warnings)))
            }
        }
    }

    /// The expectations of `phase`, in file order.
    fn phase(
        &mut self,
        k: &PreparedKatalog,
        phase: Phase,
        out: &mut Vec<StepVerdict>,
    ) -> Result<(), Error> {
        let s = self.s;
        for e in s.expect.iter().filter(|e| e.after == phase) {
            for (i, step) in e.steps.iter().enumerate() {
                let v = self.step(k, step)?;
                out.push(self.verdict(e, Some(i), v));
            }
            for r in &e.resources {
                let what = format!(
                    "resources: {} {}{}",
                    r.kind,
                    r.namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default(),
                    r.name.as_deref().unwrap_or("*")
                );
                out.push(self.verdict(
                    e,
                    None,
                    not_simulated(what, "an observation, not a verdict"),
                ));
            }
            for c in &e.commands {
                out.push(self.verdict(
                    e,
                    None,
                    not_simulated(format!("command: {}", c.command), "commands are not run"),
                ));
            }
        }
        Ok(())
    }

    fn verdict(&self, e: &Expectation, step: Option<usize>, v: Played) -> StepVerdict {
        let judged = v.expected.filter(|_| v.verdict != Outcome::NotSimulated);
        let passed = judged.map(|want| {
            v.verdict.as_str() == want
                && v.message_contains
                    .as_deref()
                    .is_none_or(|m| v.reason.contains(m))
        });
        StepVerdict {
            scenario: self.s.name.clone(),
            expect: e.name.clone(),
            after: e.after.as_str(),
            step,
            action: v.action,
            verdict: v.verdict,
            expected: v.expected,
            reason: v.reason,
            passed,
        }
    }

    /// Plays one step.
    fn step(&mut self, k: &PreparedKatalog, step: &Step) -> Result<Played, Error> {
        let played = match &step.action {
            Action::Apply { file, opts } => {
                let objs = read(file, self.limits)?;
                let name = file
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut last = (Outcome::Allowed, String::new());
                let user = user_of(&opts.identity);
                for o in &objs {
                    let served = match self.served_object(Some(k), o) {
                        Ok(s) => s,
                        Err(m) => {
                            last = (Outcome::Error, m);
                            break;
                        }
                    };
                    let key = self.key(&served, o);
                    last = self.apply_one(k, &served, &key, o, &user, opts.dry_run)?;
                    if last.0 != Outcome::Allowed {
                        break;
                    }
                }
                request(format!("apply {name}"), opts, last)
            }
            Action::Delete { target, opts } => {
                let action = format!("delete {}", self.show(target, opts));
                let v = self.delete(k, target, opts)?;
                request(action, opts, v)
            }
            Action::Patch {
                target,
                subresource,
                body,
                opts,
            } => {
                let action = format!(
                    "patch {}{}",
                    self.show(target, opts),
                    subresource
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                );
                let v = self.patch(k, target, subresource.as_deref(), body, opts)?;
                request(action, opts, v)
            }
            Action::Exec {
                pod,
                namespace,
                container,
                command,
                subresource,
                opts,
            } => {
                let ns = namespace.clone().unwrap_or_else(|| self.ns.clone());
                let action = format!(
                    "{subresource} Pod {ns}/{pod}{}",
                    suffix(&opts.identity, opts.dry_run)
                );
                let v = self.exec(
                    k,
                    pod,
                    &ns,
                    container.as_deref(),
                    command,
                    subresource,
                    opts,
                )?;
                request(action, opts, v)
            }
            Action::CanI {
                verb,
                resource,
                group,
                subresource,
                namespace,
                name,
                identity,
                expect,
            } => {
                let a = Attributes {
                    verb: verb.clone(),
                    group: group.clone(),
                    resource: resource.clone(),
                    subresource: subresource.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                };
                let (verdict, reason) = match self.authorize(&user_of(identity), &a)? {
                    Ok(r) => (Outcome::Allowed, r),
                    Err(m) => (Outcome::Denied, m),
                };
                let what = format!(
                    "{resource}{}{}",
                    if group.is_empty() {
                        String::new()
                    } else {
                        format!(".{group}")
                    },
                    subresource
                        .as_deref()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default()
                );
                Played {
                    action: format!(
                        "can {verb} {what} in {}{}",
                        namespace.as_deref().unwrap_or("the cluster"),
                        suffix(identity, false)
                    ),
                    verdict,
                    expected: Some(if *expect { "allowed" } else { "denied" }),
                    message_contains: None,
                    reason,
                }
            }
            Action::Assert { target, absent, .. } => not_simulated(
                format!(
                    "assert {} {}{}",
                    target.kind,
                    self.target_name(target),
                    if *absent { " absent" } else { "" }
                ),
                "object state is the runner's to check, not a verdict",
            ),
            Action::Audit { webhook, .. } => not_simulated(
                format!("audit {}", webhook.as_deref().unwrap_or("*")),
                "the Gateway's audit lines are not simulated",
            ),
            Action::Scale {
                component,
                replicas,
            } => {
                let up = *replicas > 0;
                match component {
                    Component::Gateway => self.gateway_up = up && self.gateway,
                    Component::Runtime => self.runtime_up = up,
                }
                if up {
                    self.settle(k)?;
                }
                Played {
                    action: format!("scale {} to {replicas}", component.as_str()),
                    verdict: Outcome::Applied,
                    expected: None,
                    message_contains: None,
                    reason: match (component, up) {
                        (Component::Gateway, false) => {
                            "the Gateway answers nothing: each webhook's failurePolicy decides"
                                .into()
                        }
                        (Component::Runtime, false) => "the runtime reconciles nothing".into(),
                        _ => "running".into(),
                    },
                }
            }
        };
        // an allowed change is reconciled and repaired before the next step, as the runner's
        // polling lets it be
        let changed = played.verdict == Outcome::Allowed
            && step.request().is_some_and(|o| !o.dry_run)
            && !matches!(step.action, Action::Exec { .. });
        if changed {
            self.settle(k)?;
        }
        Ok(played)
    }

    fn target_name(&self, t: &ObjectRef) -> String {
        let name = t.name.as_deref().unwrap_or("*");
        match &t.namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        }
    }

    /// `App default/demo as dev (dry-run)`
    fn show(&self, t: &ObjectRef, o: &RequestOpts) -> String {
        format!(
            "{} {}{}",
            t.kind,
            self.target_name(t),
            suffix(&o.identity, o.dry_run)
        )
    }

    fn delete(
        &mut self,
        k: &PreparedKatalog,
        target: &ObjectRef,
        opts: &RequestOpts,
    ) -> Result<(Outcome, String), Error> {
        let served = match self.served_ref(k, target) {
            Ok(s) => s,
            Err(m) => return Ok((Outcome::Error, m)),
        };
        let key = self.ref_key(&served, target);
        let user = user_of(&opts.identity);
        let why = match self.authorize(&user, &attrs("delete", &served, &key, None))? {
            Ok(r) => r,
            Err(m) => return Ok((Outcome::Denied, m)),
        };
        let Some(old) = self.cluster()?.get(&key).cloned() else {
            return Ok((Outcome::Error, not_found(&served, &key)));
        };
        let call = self.call(
            &served,
            &key,
            Operation::Delete,
            None,
            Some(old),
            &user,
            opts.dry_run,
        );
        Ok(match self.admit(k, call)? {
            Admission::Denied(m) => (Outcome::Denied, m),
            Admission::Allowed { warnings, .. } => {
                if !opts.dry_run {
                    self.c()?.delete(&key, None).map_err(api)?;
                }
                (Outcome::Allowed, allowed_reason(&why, &warnings))
            }
        })
    }

    fn patch(
        &mut self,
        k: &PreparedKatalog,
        target: &ObjectRef,
        subresource: Option<&str>,
        body: &PatchBody,
        opts: &RequestOpts,
    ) -> Result<(Outcome, String), Error> {
        let served = match self.served_ref(k, target) {
            Ok(s) => s,
            Err(m) => return Ok((Outcome::Error, m)),
        };
        if let Some(sub) = subresource
            && sub != "status"
        {
            return Ok((
                Outcome::NotSimulated,
                format!("a patch of the {sub} subresource is not simulated"),
            ));
        }
        let key = self.ref_key(&served, target);
        let user = user_of(&opts.identity);
        let why = match self.authorize(&user, &attrs("patch", &served, &key, subresource))? {
            Ok(r) => r,
            Err(m) => return Ok((Outcome::Denied, m)),
        };
        let Some(old) = self.cluster()?.get(&key).cloned() else {
            return Ok((Outcome::Error, not_found(&served, &key)));
        };
        let mut new = old.clone();
        match body {
            PatchBody::Merge(p) => crate::cluster::merge_patch(&mut new, p),
            PatchBody::Json(ops) => {
                let patch: json_patch::Patch = match serde_json::from_value(ops.clone()) {
                    Ok(p) => p,
                    Err(e) => return Ok((Outcome::Error, format!("the JSON patch: {e}"))),
                };
                if let Err(e) = json_patch::patch(&mut new, &patch) {
                    return Ok((
                        Outcome::Error,
                        format!("the JSON patch does not apply: {e}"),
                    ));
                }
            }
        }
        // a subresource writes only its part; the main resource never writes status
        let status = new.get("status").cloned();
        let mut object = old.clone();
        match subresource {
            Some(_) => set(&mut object, "status", status),
            None => {
                object = new;
                set(&mut object, "status", old.get("status").cloned());
            }
        }
        let mut call = self.call(
            &served,
            &key,
            Operation::Update,
            Some(object),
            Some(old),
            &user,
            opts.dry_run,
        );
        call.subresource = subresource.map(str::to_string);
        Ok(match self.admit(k, call)? {
            Admission::Denied(m) => (Outcome::Denied, m),
            Admission::Allowed { object, warnings } => {
                if !opts.dry_run
                    && let Some(o) = object
                {
                    let c = self.c()?;
                    match subresource {
                        Some(_) => {
                            let body =
                                json!({"status": o.get("status").cloned().unwrap_or(Value::Null)});
                            c.patch_status(&key, &body, E2E_MANAGER).map_err(api)?;
                        }
                        None => {
                            c.update(&key, &o, E2E_MANAGER).map_err(api)?;
                        }
                    }
                }
                (Outcome::Allowed, allowed_reason(&why, &warnings))
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        k: &PreparedKatalog,
        pod: &str,
        ns: &str,
        container: Option<&str>,
        command: &[String],
        subresource: &str,
        opts: &RequestOpts,
    ) -> Result<(Outcome, String), Error> {
        let served = Served {
            group: String::new(),
            version: "v1".into(),
            kind: if subresource == "attach" {
                "PodAttachOptions".into()
            } else {
                "PodExecOptions".into()
            },
            resource: "pods".into(),
            namespaced: true,
        };
        let key = Key {
            group: String::new(),
            resource: "pods".into(),
            namespace: ns.to_string(),
            name: pod.to_string(),
        };
        let user = user_of(&opts.identity);
        let why = match self.authorize(&user, &attrs("create", &served, &key, Some(subresource)))? {
            Ok(r) => r,
            Err(m) => return Ok((Outcome::Denied, m)),
        };
        let Some(mut target) = self.cluster()?.get(&key).cloned() else {
            return Ok((Outcome::Error, format!("pods {pod:?} not found")));
        };
        // what the Gateway reads of the Pod (its `target_pod`): no status, no managedFields
        if let Some(m) = target.as_object_mut() {
            m.remove("status");
        }
        if let Some(m) = target.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        let options = json!({"apiVersion": "v1", "kind": served.kind, "command": command,
            "container": container, "stdout": true, "stderr": true});
        let mut call = self.call(
            &served,
            &key,
            Operation::Connect,
            Some(options),
            None,
            &user,
            opts.dry_run,
        );
        call.subresource = Some(subresource.to_string());
        call.target = Some(target);
        Ok(match self.admit(k, call)? {
            Admission::Denied(m) => (Outcome::Denied, m),
            Admission::Allowed { warnings, .. } => {
                (Outcome::Allowed, allowed_reason(&why, &warnings))
            }
        })
    }
}

/// One played step before it is tied to its expectation.
struct Played {
    action: String,
    verdict: Outcome,
    expected: Option<&'static str>,
    message_contains: Option<String>,
    reason: String,
}

fn request(action: String, opts: &RequestOpts, (verdict, reason): (Outcome, String)) -> Played {
    Played {
        action,
        verdict,
        expected: Some(match opts.expect {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
        }),
        message_contains: opts.message_contains.clone(),
        reason,
    }
}

fn not_simulated(action: String, why: &str) -> Played {
    Played {
        action,
        verdict: Outcome::NotSimulated,
        expected: None,
        message_contains: None,
        reason: why.to_string(),
    }
}

/// ` as dev (system:masters) (dry-run)`
fn suffix(i: &Option<Identity>, dry_run: bool) -> String {
    let who = match i {
        Some(i) if i.groups.is_empty() => format!(" as {}", i.user),
        Some(i) => format!(" as {} ({})", i.user, i.groups.join(", ")),
        None => String::new(),
    };
    format!("{who}{}", if dry_run { " (dry-run)" } else { "" })
}

fn attrs(verb: &str, s: &Served, key: &Key, subresource: Option<&str>) -> Attributes {
    Attributes {
        verb: verb.to_string(),
        group: s.group.clone(),
        resource: s.resource.clone(),
        subresource: subresource.map(str::to_string),
        namespace: Some(key.namespace.clone()).filter(|n| !n.is_empty()),
        name: Some(key.name.clone()),
    }
}

fn not_found(s: &Served, key: &Key) -> String {
    let what = if s.group.is_empty() {
        s.resource.clone()
    } else {
        format!("{}.{}", s.resource, s.group)
    };
    format!("{what} {:?} not found", key.name)
}

fn allowed_reason(why: &str, warnings: &[String]) -> String {
    if warnings.is_empty() {
        why.to_string()
    } else {
        format!("{why}; warnings: {}", warnings.join("; "))
    }
}

fn set(obj: &mut Value, key: &str, v: Option<Value>) {
    if let Some(o) = obj.as_object_mut() {
        match v {
            Some(v) => o.insert(key.to_string(), v),
            None => o.remove(key),
        };
    }
}

/// Equal but for the metadata the server keeps.
fn same_but_meta(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["resourceVersion", "generation", "managedFields"] {
                m.remove(k);
            }
        }
        v
    };
    strip(a) == strip(b)
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
