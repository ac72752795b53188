//! The in-memory cluster of a scenario and ork's components in it: kinds served as the API
//! server serves them, the runner's writes, ork's in-process install, the Gateway's registrar
//! and watcher, the runtime settling, and a server-side apply through authorization and
//! admission.

use chrono::{DateTime, Utc};
use ork_katalog::Operation;
use ork_limits::Limits;
use ork_policy::{PreparedKatalog, User};
use ork_scenario::{ObjectRef, Scenario};
use serde_json::{Value, json};

use super::admission::{self, Admission, Call, Kind};
use super::authz::{self, Attributes};
use super::{DELETE_CYCLES, E2E_MANAGER, GATEWAY_MANAGER, Outcome, SETTLE_CYCLES, runner};
use crate::cluster::{ApiError, Cluster, Key, text};
use crate::controllers::{Behaviour, Jobs, Workloads};
use crate::{Error, Settings, Simulation};

/// A kind as the API server serves it.
#[derive(Debug, Clone)]
pub(super) struct Served {
    pub(super) group: String,
    pub(super) version: String,
    pub(super) kind: String,
    pub(super) resource: String,
    pub(super) namespaced: bool,
}

/// The in-memory cluster of a scenario and ork's components in it.
pub(super) struct World<'s> {
    pub(super) s: &'s Scenario,
    pub(super) limits: &'s Limits,
    pub(super) now: DateTime<Utc>,
    pub(super) ns: String,
    pub(super) cluster: Option<Cluster>,
    pub(super) crs: Vec<Key>,
    pub(super) gateway: bool,
    pub(super) gateway_up: bool,
    pub(super) runtime_up: bool,
}

pub(super) fn api(e: ApiError) -> Error {
    match e {
        ApiError::Budget(b) => Error::Budget(b),
        other => Error::Input(other.to_string()),
    }
}

impl<'s> World<'s> {
    pub(super) fn new(
        s: &'s Scenario,
        limits: &'s Limits,
        now: DateTime<Utc>,
    ) -> Result<World<'s>, Error> {
        let cluster = Cluster::new(limits, Some(0), &ork_render::reconcile::stamp(now));
        let mut w = World {
            s,
            limits,
            now,
            ns: ork_scenario::namespace_for(&s.name),
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

    pub(super) fn c(&mut self) -> Result<&mut Cluster, Error> {
        self.cluster
            .as_mut()
            .ok_or_else(|| Error::Input("the in-memory cluster is gone".into()))
    }

    pub(super) fn cluster(&self) -> Result<&Cluster, Error> {
        self.cluster
            .as_ref()
            .ok_or_else(|| Error::Input("the in-memory cluster is gone".into()))
    }

    /// The served kind: CRDs in the cluster, then the Katalog's, then the built-in table.
    pub(super) fn served(
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

    pub(super) fn served_object(
        &self,
        k: Option<&PreparedKatalog>,
        obj: &Value,
    ) -> Result<Served, String> {
        let av = text(obj, "/apiVersion");
        let (g, v) = match av.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", av),
        };
        self.served(k, text(obj, "/kind"), Some(g), Some(v))
    }

    pub(super) fn served_ref(&self, k: &PreparedKatalog, r: &ObjectRef) -> Result<Served, String> {
        let version = r
            .kind
            .api_version
            .as_deref()
            .map(|av| av.rsplit_once('/').map_or(av, |(_, v)| v));
        self.served(Some(k), &r.kind.kind, r.kind.group.as_deref(), version)
    }

    /// The key of an object of a served kind, in the scenario namespace unless it names one.
    pub(super) fn key(&self, s: &Served, obj: &Value) -> Key {
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

    pub(super) fn ref_key(&self, s: &Served, r: &ObjectRef) -> Key {
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
    pub(super) fn put(&mut self, obj: &Value) -> Result<(), Error> {
        let served = self.served_object(None, obj).map_err(Error::Input)?;
        self.put_served(&served, obj, E2E_MANAGER)
    }

    pub(super) fn put_served(
        &mut self,
        served: &Served,
        obj: &Value,
        manager: &str,
    ) -> Result<(), Error> {
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
    pub(super) fn install(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
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

    pub(super) fn put_with(&mut self, k: &PreparedKatalog, obj: &Value) -> Result<(), Error> {
        let served = self.served_object(Some(k), obj).map_err(Error::Input)?;
        self.put_served(&served, obj, E2E_MANAGER)
    }

    /// The Gateway's registrar: its configurations and guard applied, those of features now
    /// off deleted. Nothing while it is down.
    pub(super) fn register(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
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
    /// any case), and the Gateway's watcher restores its configurations. The runtime watches
    /// every CR of its Katalog's CRDs: the phase's, and those steps created. The cluster is the
    /// local control plane `ork e2e --local` starts (docs/e2e.md): no workload controllers, so
    /// Deployments never become available and Jobs never complete unless a step says so.
    pub(super) fn settle(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
        let cluster = self
            .cluster
            .take()
            .ok_or_else(|| Error::Input("the in-memory cluster is gone".into()))?;
        let settings = Settings {
            cycles: SETTLE_CYCLES.max(DELETE_CYCLES),
            seed: Some(0),
            now: self.now,
            cluster: Behaviour {
                workloads: Workloads::Pending,
                jobs: Jobs::Pending,
            },
            ..Settings::default()
        };
        let served = |key: &Key| {
            k.crds
                .iter()
                .any(|c| c.enabled && c.api.group == key.group && c.api.plural == key.resource)
        };
        let others: Vec<Key> = cluster
            .iter()
            .map(|(key, _)| key)
            .filter(|key| served(key) && !self.crs.contains(key))
            .cloned()
            .collect();
        let mut sim = Simulation::on(k, cluster, settings, self.limits)?;
        if self.runtime_up {
            for key in self.crs.iter().chain(&others) {
                sim.track(key.clone());
            }
        }
        let result = sim.until_steady(SETTLE_CYCLES);
        self.cluster = Some(sim.into_cluster());
        result?;
        self.register(k)
    }

    /// Applies one CR as the runner, through admission; a refusal fails the phase.
    pub(super) fn apply_cr(&mut self, k: &PreparedKatalog, cr: &Value) -> Result<Key, Error> {
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
    pub(super) fn delete_crs(&mut self, k: &PreparedKatalog) -> Result<(), Error> {
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
    pub(super) fn call(
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
            kind: Kind {
                group: served.group.clone(),
                version: served.version.clone(),
                kind: served.kind.clone(),
            },
            group: served.group.clone(),
            version: served.version.clone(),
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

    pub(super) fn admit(&self, k: &PreparedKatalog, call: Call) -> Result<Admission, Error> {
        admission::admit(k, self.cluster()?, self.gateway_up, call).map_err(|e| Error::Input(e.0))
    }

    pub(super) fn authorize(
        &self,
        user: &User,
        a: &Attributes,
    ) -> Result<Result<String, String>, Error> {
        authz::authorize(self.cluster()?, user, a, self.limits).map_err(Error::Input)
    }

    /// A server-side apply of one object by `user`: authorization (patch, and create for a new
    /// object), admission of the merged object, then the write unless it is a dry run.
    pub(super) fn apply_one(
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
}

pub(super) fn attrs(verb: &str, s: &Served, key: &Key, subresource: Option<&str>) -> Attributes {
    Attributes {
        verb: verb.to_string(),
        group: s.group.clone(),
        resource: s.resource.clone(),
        subresource: subresource.map(str::to_string),
        namespace: Some(key.namespace.clone()).filter(|n| !n.is_empty()),
        name: Some(key.name.clone()),
    }
}

pub(super) fn not_found(s: &Served, key: &Key) -> String {
    let what = if s.group.is_empty() {
        s.resource.clone()
    } else {
        format!("{}.{}", s.resource, s.group)
    };
    format!("{what} {:?} not found", key.name)
}

pub(super) fn allowed_reason(why: &str, warnings: &[String]) -> String {
    if warnings.is_empty() {
        why.to_string()
    } else {
        format!("{why}; warnings: {}", warnings.join("; "))
    }
}

pub(super) fn set(obj: &mut Value, key: &str, v: Option<Value>) {
    if let Some(o) = obj.as_object_mut() {
        match v {
            Some(v) => o.insert(key.to_string(), v),
            None => o.remove(key),
        };
    }
}

/// Equal but for the metadata the server keeps.
pub(super) fn same_but_meta(a: &Value, b: &Value) -> bool {
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
