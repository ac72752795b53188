//! The RBAC of `ork generate rbac` against a real kube-apiserver (ork-testenv; docs/security.md
//! §2.2): for every example Katalog, its CRDs and generated objects are applied and
//! SubjectAccessReviews prove what the runtime's ServiceAccount can and cannot do; `ork rbac
//! audit --cluster` finds nothing high or critical for it; a Gateway started with nothing
//! but its generated RBAC registers, restores and removes its configurations; and the whole
//! bundle of `ork generate bundle` (docs/cli.md §6), gateway-only too, applies by server-side
//! apply, its pods pass Pod Security `restricted`, and `ork generate crd`'s CRDs accept the
//! examples' CRs.
//!
//! `cargo test -p ork-cli --test generate_cluster`; with `ORK_TEST_KUBECONFIG` it runs against
//! an existing cluster instead of starting one.

mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use ork_generate::rbac::{self, Component, Options};
use ork_katalog::Katalog;
use ork_testenv::ControlPlane;
use serde_json::{Value, json};

use common::{ork, repo, run};

const EXAMPLES: [&str; 4] = ["website", "pipeline", "platform", "protected-apps"];
const NS: &str = "orkestra-system";
const RUNTIME: &str = "system:serviceaccount:orkestra-system:orkestra";
const GATEWAY: &str = "system:serviceaccount:orkestra-system:orkestra-gateway";
/// where the test's CRs would live: an ordinary namespace
const CR_NS: &str = "team-a";

struct Env {
    cp: ControlPlane,
    admin: kube::Client,
    dir: tempfile::TempDir,
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

type Test = for<'a> fn(&'a Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

fn main() -> ExitCode {
    let tests: &[(&str, Test)] = &[
        (
            "runtime_rbac_of_every_example",
            runtime_rbac_of_every_example,
        ),
        (
            "gateway_runs_under_its_generated_rbac",
            gateway_runs_under_its_generated_rbac,
        ),
        // last: it deletes and recreates the examples' CRDs
        (
            "bundle_and_crds_apply_by_server_side_apply",
            bundle_and_crds_apply_by_server_side_apply,
        ),
    ];
    ork_testenv::harness::run(
        tests,
        Duration::from_secs(600),
        async {
            let cp = ControlPlane::from_env_or_start().await.map_err(e)?;
            let admin = cp.client().await.map_err(e)?;
            for ns in [NS, CR_NS] {
                apply(
                    &admin,
                    &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                )
                .await?;
            }
            println!("control plane ready in {} ms", cp.startup.as_millis());
            Ok(Env {
                cp,
                admin,
                dir: tempfile::tempdir().map_err(e)?,
            })
        },
        |_| {},
    )
}

// ---- the API server as admin -----------------------------------------------------------------

/// The API resource of one of the built-in kinds this test writes.
fn resource_of(obj: &Value) -> Result<(ApiResource, bool), String> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = ork_katalog::kinds::builtin_resource(group, kind)
        .ok_or_else(|| format!("unknown kind {api_version} {kind}"))?;
    let namespaced = ork_katalog::kinds::builtin_namespaced(group, kind).unwrap_or(true);
    Ok((
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
        },
        namespaced,
    ))
}

fn api(client: &kube::Client, obj: &Value) -> Result<Api<DynamicObject>, String> {
    let (ar, namespaced) = resource_of(obj)?;
    Ok(match obj["metadata"]["namespace"].as_str() {
        Some(ns) if namespaced => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    })
}

fn name(obj: &Value) -> String {
    obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Server-side apply as the admin.
async fn apply(client: &kube::Client, obj: &Value) -> Result<(), String> {
    api(client, obj)?
        .patch(
            &name(obj),
            &PatchParams::apply("ork-test").force(),
            &Patch::Apply(obj),
        )
        .await
        .map(|_| ())
        .map_err(|x| format!("apply {} {}: {x}", obj["kind"], name(obj)))
}

async fn delete(client: &kube::Client, obj: &Value) -> Result<(), String> {
    match api(client, obj)?
        .delete(&name(obj), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(x) => Err(format!("delete {} {}: {x}", obj["kind"], name(obj))),
    }
}

async fn exists(client: &kube::Client, obj: &Value) -> Result<bool, String> {
    api(client, obj)?
        .get_opt(&name(obj))
        .await
        .map(|o| o.is_some())
        .map_err(e)
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, String>>,
{
    let start = Instant::now();
    loop {
        if f().await? {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!("{what}: not within {}s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The example's CRDs: its `crd.yaml`, else one built from `apiTypes` (platform has no
/// crdFile), each Established before this returns.
async fn crds(client: &kube::Client, example: &str, k: &Katalog) -> Result<(), String> {
    let file = repo().join("examples").join(example).join("crd.yaml");
    let mut objs = Vec::new();
    if file.exists() {
        let text = std::fs::read_to_string(&file).map_err(e)?;
        for d in ork_yaml::parse_stream(&text).map_err(|x| format!("{x:?}"))? {
            objs.push(d.to_json());
        }
    }
    for c in &k.crds {
        if objs
            .iter()
            .any(|o| o["metadata"]["name"] == c.api.crd_name())
        {
            continue;
        }
        objs.push(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": c.api.crd_name()},
            "spec": {
                "group": c.api.group,
                "names": {"kind": c.api.kind, "plural": c.api.plural,
                          "singular": c.api.kind.to_ascii_lowercase(), "listKind": format!("{}List", c.api.kind)},
                "scope": if c.api.namespaced { "Namespaced" } else { "Cluster" },
                "versions": [{"name": c.api.version, "served": true, "storage": true,
                              "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                              "subresources": {"status": {}}}],
            },
        }));
    }
    for o in &objs {
        apply(client, o).await?;
    }
    for o in &objs {
        let api = api(client, o)?;
        let n = name(o);
        eventually(
            &format!("CRD {n} Established"),
            Duration::from_secs(30),
            || {
                let api = api.clone();
                let n = n.clone();
                async move {
                    let crd = api.get(&n).await.map_err(e)?;
                    let conditions = crd.data["status"]["conditions"].clone();
                    Ok(conditions
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Established" && c["status"] == "True"))
                }
            },
        )
        .await?;
    }
    Ok(())
}

// ---- SubjectAccessReviews --------------------------------------------------------------------

/// One question to the API server's authorizer.
struct Ask<'a> {
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    subresource: &'a str,
    /// `None`: cluster-wide (a list across namespaces, or a cluster-scoped resource)
    namespace: Option<&'a str>,
    name: &'a str,
}

fn ask<'a>(
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    namespace: Option<&'a str>,
) -> Ask<'a> {
    Ask {
        verb,
        group,
        resource,
        subresource: "",
        namespace,
        name: "",
    }
}

impl<'a> Ask<'a> {
    fn sub(mut self, s: &'a str) -> Self {
        self.subresource = s;
        self
    }
    fn named(mut self, n: &'a str) -> Self {
        self.name = n;
        self
    }
    fn describe(&self, user: &str) -> String {
        format!(
            "{user} {} {}{}{}.{} in {}{}",
            self.verb,
            self.resource,
            if self.subresource.is_empty() { "" } else { "/" },
            self.subresource,
            self.group,
            self.namespace.unwrap_or("(cluster)"),
            if self.name.is_empty() {
                String::new()
            } else {
                format!(" name {}", self.name)
            }
        )
    }
}

async fn allowed(client: &kube::Client, user: &str, a: &Ask<'_>) -> Result<bool, String> {
    let sar: SubjectAccessReview = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:orkestra-system", "system:authenticated"],
            "resourceAttributes": {
                "verb": a.verb, "group": a.group, "resource": a.resource, "subresource": a.subresource,
                "namespace": a.namespace.unwrap_or(""), "name": a.name,
            },
        },
    }))
    .map_err(e)?;
    let out = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &sar)
        .await
        .map_err(e)?;
    Ok(out.status.is_some_and(|s| s.allowed))
}

/// Asks every question; collects each answer that is not the expected one.
async fn expect(
    client: &kube::Client,
    user: &str,
    want: bool,
    asks: &[Ask<'_>],
    wrong: &mut Vec<String>,
) -> Result<(), String> {
    for a in asks {
        if allowed(client, user, a).await? != want {
            wrong.push(format!(
                "{} {}",
                if want { "CANNOT" } else { "CAN" },
                a.describe(user)
            ));
        }
    }
    Ok(())
}

// ---- the tests -------------------------------------------------------------------------------

fn load(example: &str) -> Result<Katalog, String> {
    let path = repo().join("examples").join(example).join("katalog.yaml");
    let o = ork_katalog::load_file(&path);
    o.katalog
        .ok_or_else(|| format!("{} does not load", path.display()))
}

fn runtime_rbac_of_every_example(
    env: &Env,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let mut wrong = Vec::new();
        for ex in EXAMPLES {
            let start = Instant::now();
            let k = load(ex)?;
            let p = ork_policy::PreparedKatalog::new(&k).map_err(e)?;
            crds(&env.admin, ex, &k).await?;
            let d = rbac::derive(&k, &Options::default()).map_err(e)?;
            let objects = d.objects();
            for o in &objects {
                apply(&env.admin, o).await?;
            }
            let rt = RUNTIME;
            let c = &env.admin;
            for crd in p.crds.iter().filter(|c| c.enabled) {
                let ns = crd
                    .pinned_namespaces()
                    .and_then(|l| l.first().cloned())
                    .unwrap_or_else(|| CR_NS.to_string());
                let ns = Some(ns.as_str());
                let (g, plural) = (crd.api.group.as_str(), crd.api.plural.as_str());
                let crd_name = crd.api.crd_name();
                let mut can = vec![
                    ask(
                        "get",
                        "apiextensions.k8s.io",
                        "customresourcedefinitions",
                        None,
                    )
                    .named(&crd_name),
                    ask("create", "events.k8s.io", "events", ns),
                    ask("patch", "events.k8s.io", "events", ns),
                    ask("get", "coordination.k8s.io", "leases", Some(NS)).named("orkestra-runtime"),
                    ask("update", "coordination.k8s.io", "leases", Some(NS))
                        .named("orkestra-runtime"),
                    ask("create", "coordination.k8s.io", "leases", Some(NS)),
                    ask("patch", g, plural, ns).sub("status"),
                ];
                for v in ["get", "list", "watch", "patch"] {
                    can.push(ask(v, g, plural, ns));
                }
                // the child kinds, as the runtime itself lists them (ork_render::declared_kinds)
                let kinds = ork_render::declared_kinds(&p, crd);
                let groups: Vec<String> = kinds
                    .iter()
                    .map(|(dk, _, _)| {
                        dk.api_version
                            .rsplit_once('/')
                            .map(|(g, _)| g)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect();
                let mut cannot = vec![
                    ask("get", "", "secrets", None),
                    ask("list", "", "secrets", None),
                    ask("get", "", "secrets", Some("kube-system")),
                    ask("list", "", "secrets", Some("kube-system")),
                    ask(
                        "delete",
                        "apiextensions.k8s.io",
                        "customresourcedefinitions",
                        None,
                    )
                    .named(&crd_name),
                    ask(
                        "delete",
                        "apiextensions.k8s.io",
                        "customresourcedefinitions",
                        None,
                    ),
                    ask(
                        "list",
                        "apiextensions.k8s.io",
                        "customresourcedefinitions",
                        None,
                    ),
                    ask("create", "", "pods", ns).sub("exec"),
                    ask("update", "coordination.k8s.io", "leases", Some(NS))
                        .named("orkestra-gateway-config"),
                    ask("update", "coordination.k8s.io", "leases", Some(NS)).named("someone-else"),
                    ask("update", g, plural, ns),
                    ask("delete", g, plural, ns),
                    ask("impersonate", "", "serviceaccounts", ns),
                    ask("impersonate", "", "users", None),
                ];
                for r in ["roles", "clusterroles"] {
                    for v in ["escalate", "bind"] {
                        cannot.push(ask(v, "rbac.authorization.k8s.io", r, None));
                        cannot.push(ask(v, "rbac.authorization.k8s.io", r, ns));
                    }
                }
                for ((dk, _, deletes), group) in kinds.iter().zip(&groups) {
                    let at = if dk.namespaced { ns } else { None };
                    for v in ["get", "list", "watch", "create", "patch"] {
                        can.push(ask(v, group, &dk.resource, at));
                    }
                    if *deletes {
                        can.push(ask("delete", group, &dk.resource, at));
                    } else {
                        cannot.push(ask("delete", group, &dk.resource, at));
                    }
                    cannot.push(ask("update", group, &dk.resource, at));
                }
                expect(c, rt, true, &can, &mut wrong).await?;
                expect(c, rt, false, &cannot, &mut wrong).await?;
                if kinds.is_empty() {
                    return Err(format!("{ex}: no child kinds to check"));
                }
            }
            if k.posture.as_ref().is_some_and(|s| s.gateway) {
                gateway_asks(c, &mut wrong).await?;
            }
            // ork rbac audit, live: nothing high or critical is the runtime's
            let kubeconfig = env.cp.kubeconfig.display().to_string();
            let mut cmd = ork();
            cmd.args([
                "rbac",
                "audit",
                "--cluster",
                "--kubeconfig",
                &kubeconfig,
                "-o",
                "json",
            ]);
            let (_, out, err) = run(cmd);
            let v: Value =
                serde_json::from_str(&out).map_err(|x| format!("{ex}: audit: {x}: {err}"))?;
            for f in v["findings"].as_array().into_iter().flatten() {
                let severe = matches!(f["severity"].as_str(), Some("high" | "critical"));
                if f["subject"] == "ServiceAccount orkestra-system/orkestra" && severe {
                    wrong.push(format!("{ex}: rbac audit: {f}"));
                }
            }
            let audited = v["subjects"].to_string();
            if !audited.contains("orkestra-runtime") {
                wrong.push(format!(
                    "{ex}: rbac audit --cluster did not see the generated roles"
                ));
            }
            for o in &objects {
                delete(&env.admin, o).await?;
            }
            println!(
                "    {ex}: {} rules checked in {} ms",
                d.rules().len(),
                start.elapsed().as_millis()
            );
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("\n    "))
        }
    })
}

/// The Gateway's ServiceAccount: its own configurations and Secrets by name, nothing else.
async fn gateway_asks(c: &kube::Client, wrong: &mut Vec<String>) -> Result<(), String> {
    let adm = "admissionregistration.k8s.io";
    let can = [
        ask("patch", adm, "validatingwebhookconfigurations", None)
            .named("orkestra-deletion-protection"),
        ask("delete", adm, "validatingwebhookconfigurations", None)
            .named("orkestra-deletion-protection"),
        ask("patch", adm, "validatingadmissionpolicies", None)
            .named("orkestra-control-plane-guard"),
        ask("get", "", "secrets", Some(NS)).named("orkestra-tls"),
        ask("update", "", "secrets", Some(NS)).named("orkestra-tls-ca"),
        ask("update", "coordination.k8s.io", "leases", Some(NS)).named("orkestra-gateway-config"),
        ask("patch", "", "namespaces", None).named(NS),
    ];
    let cannot = [
        ask("patch", adm, "validatingwebhookconfigurations", None).named("someone-elses-webhook"),
        ask("delete", adm, "mutatingwebhookconfigurations", None).named("someone-elses-webhook"),
        ask("get", "", "secrets", Some(NS)).named("another-secret"),
        ask("list", "", "secrets", Some(NS)),
        ask("get", "", "secrets", Some("kube-system")),
        ask("get", "", "secrets", None),
        ask("patch", "", "namespaces", None).named("kube-system"),
        ask("delete", "", "namespaces", None).named(NS),
        ask("update", "coordination.k8s.io", "leases", Some(NS)).named("orkestra-runtime"),
        ask(
            "escalate",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
        ),
        ask("bind", "rbac.authorization.k8s.io", "clusterroles", None),
        ask("impersonate", "", "users", None),
    ];
    expect(c, GATEWAY, true, &can, wrong).await?;
    expect(c, GATEWAY, false, &cannot, wrong).await
}

/// A client that acts as `user` (the admin impersonates it): what a pod with that
/// ServiceAccount's token could do, and nothing more.
async fn impersonating(kubeconfig: &Path, user: &str) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).map_err(e)?;
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(e)?;
    cfg.auth_info.impersonate = Some(user.to_string());
    cfg.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".into(),
        "system:serviceaccounts:orkestra-system".into(),
        "system:authenticated".into(),
    ]);
    kube::Client::try_from(cfg).map_err(e)
}

/// The Gateway needs nothing beyond its generated RBAC: started as its ServiceAccount with
/// only that RBAC applied, it generates its certificate Secrets, takes its Lease, labels the
/// operator namespace, registers its configurations and guard, restores a deleted one (with a
/// Warning event), and removes them all on uninstall.
fn gateway_runs_under_its_generated_rbac(
    env: &Env,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let start = Instant::now();
        let katalog: PathBuf = repo().join("examples/protected-apps/katalog.yaml");
        let k = load("protected-apps")?;
        crds(&env.admin, "protected-apps", &k).await?;
        let opts = Options {
            namespace: NS.into(),
            component: Component::Gateway,
        };
        let objects = rbac::derive(&k, &opts).map_err(e)?.objects();
        for o in &objects {
            apply(&env.admin, o).await?;
        }
        let as_gateway = impersonating(&env.cp.kubeconfig, GATEWAY).await?;
        let mut cfg = ork_gateway::Config::new(katalog);
        cfg.addr = "127.0.0.1:0".into();
        cfg.health_addr = "127.0.0.1:0".into();
        cfg.advertise = Some("127.0.0.1:0".into());
        cfg.certificates = ork_gateway::Certificates::Generated;
        cfg.identity = "generate-cluster-test".into();
        cfg.audit_sink = Some(ork_gateway::audit::Sink::File(
            env.dir.path().join("audit.log"),
        ));
        let running = ork_gateway::start(cfg, as_gateway)
            .await
            .map_err(|x| format!("the Gateway does not start with its generated RBAC: {x}"))?;
        let result = async {
            if !running.leading() {
                return Err("the Gateway did not take its Lease".to_string());
            }
            let dp = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                            "metadata": {"name": "orkestra-deletion-protection"}});
            let guard = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                               "metadata": {"name": "orkestra-control-plane-guard"}});
            let tls = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "orkestra-tls", "namespace": NS}});
            for o in [&dp, &guard, &tls] {
                if !exists(&env.admin, o).await? {
                    return Err(format!("{} {} was not written", o["kind"], name(o)));
                }
            }
            // the watcher restores what a break-glass admin deletes, and says so in an event
            delete(&env.admin, &dp).await?;
            eventually("orkestra-deletion-protection restored", Duration::from_secs(20), || exists(&env.admin, &dp)).await?;
            let events: Api<DynamicObject> = Api::namespaced_with(
                env.admin.clone(),
                "default",
                &ApiResource {
                    group: "events.k8s.io".into(),
                    version: "v1".into(),
                    api_version: "events.k8s.io/v1".into(),
                    kind: "Event".into(),
                    plural: "events".into(),
                },
            );
            eventually("a Restored event in default", Duration::from_secs(20), || {
                let events = events.clone();
                async move {
                    let list = events.list(&Default::default()).await.map_err(e)?;
                    Ok(list.items.iter().any(|ev| ev.data["reason"] == "Restored"))
                }
            })
            .await?;
            Ok(())
        }
        .await;
        running.uninstall().await;
        let dp = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                        "metadata": {"name": "orkestra-deletion-protection"}});
        let left = exists(&env.admin, &dp).await;
        // the RBAC goes whatever happened: the bundle test applies the same objects as `ork`
        for o in &objects {
            delete(&env.admin, o).await?;
        }
        result?;
        if left? {
            return Err(
                "uninstall under the generated RBAC left orkestra-deletion-protection behind"
                    .into(),
            );
        }
        println!(
            "    the Gateway ran under its generated RBAC in {} ms",
            start.elapsed().as_millis()
        );
        Ok(())
    })
}

// ---- the bundle (docs/cli.md §6) ----------------------------------------------------------------

/// The field manager `ork generate`'s output is applied with.
const MANAGER: &str = "ork";

/// Server-side apply as `ork`, without force: a conflict is a failure, not overwritten.
async fn apply_clean(client: &kube::Client, obj: &Value) -> Result<(), String> {
    api(client, obj)?
        .patch(&name(obj), &PatchParams::apply(MANAGER), &Patch::Apply(obj))
        .await
        .map(|_| ())
        .map_err(|x| format!("apply {} {}: {x}", obj["kind"], name(obj)))
}

/// A server-side dry run of creating `obj` (admission included, nothing stored).
async fn dry_run_create(
    client: &kube::Client,
    ar: &ApiResource,
    obj: &Value,
) -> Result<(), String> {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
    let o: DynamicObject = serde_json::from_value(obj.clone()).map_err(e)?;
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&pp, &o)
        .await
        .map(|_| ())
        .map_err(|x| format!("create {} {}: {x}", obj["kind"], name(obj)))
}

fn pod_resource() -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Pod".into(),
        plural: "pods".into(),
    }
}

/// The pod a Deployment's ReplicaSet would create (no deployment controller runs here).
fn pod_of(deployment: &Value) -> Value {
    let t = &deployment["spec"]["template"];
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{}-dry-run", name(deployment)),
                     "namespace": deployment["metadata"]["namespace"], "labels": t["metadata"]["labels"]},
        "spec": t["spec"],
    })
}

async fn wait_gone(client: &kube::Client, obj: &Value) -> Result<(), String> {
    eventually(
        &format!("{} {} deleted", obj["kind"], name(obj)),
        Duration::from_secs(60),
        || async { exists(client, obj).await.map(|x| !x) },
    )
    .await
}

/// Every example's bundle, and protected-apps' gateway-only bundle, applies by server-side
/// apply as `ork` and again without a conflict; its Deployments' pods pass Pod Security
/// `restricted` in the bundle's namespace (a privileged variant is refused there, so the check
/// is live). `ork generate crd`'s CRDs become Established and accept the examples' CRs.
fn bundle_and_crds_apply_by_server_side_apply(
    env: &Env,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let c = &env.admin;
        let limits = ork_limits::Limits::default();
        for ex in EXAMPLES {
            let start = Instant::now();
            let k = load(ex)?;
            // the CRDs: the generated ones replace whatever the earlier tests applied
            let crds = ork_generate::crd::crds(&k, None, &limits).map_err(e)?;
            for crd in &crds {
                delete(c, crd).await?;
                wait_gone(c, crd).await?;
                apply_clean(c, crd).await?;
            }
            for crd in &crds {
                let a = api(c, crd)?;
                let n = name(crd);
                eventually(
                    &format!("CRD {n} Established"),
                    Duration::from_secs(30),
                    || {
                        let (a, n) = (a.clone(), n.clone());
                        async move {
                            let got = a.get(&n).await.map_err(e)?;
                            Ok(got.data["status"]["conditions"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|x| x["type"] == "Established" && x["status"] == "True"))
                        }
                    },
                )
                .await?;
            }
            let dir = repo().join("examples").join(ex);
            let mut crs = 0;
            for entry in std::fs::read_dir(&dir).map_err(e)? {
                let path = entry.map_err(e)?.path();
                let file = path
                    .file_name()
                    .and_then(|f| f.to_str())
                    .unwrap_or_default();
                if !(file.starts_with("cr") && file.ends_with(".yaml") && file != "crd.yaml") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).map_err(e)?;
                for d in ork_yaml::parse_stream(&text).map_err(|x| format!("{x:?}"))? {
                    let cr = d.to_json();
                    let Some(entry) = k.crds.iter().find(|x| {
                        cr["kind"] == x.api.kind.as_str()
                            && cr["apiVersion"] == x.api.api_version().as_str()
                    }) else {
                        continue;
                    };
                    if let Some(ns) = cr["metadata"]["namespace"].as_str() {
                        apply(c, &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).await?;
                    }
                    let a = &entry.api;
                    let ar = ApiResource {
                        group: a.group.clone(),
                        version: a.version.clone(),
                        api_version: a.api_version(),
                        kind: a.kind.clone(),
                        plural: a.plural.clone(),
                    };
                    dry_run_create(c, &ar, &cr)
                        .await
                        .map_err(|x| format!("{ex}: the CRD refuses {file}: {x}"))?;
                    crs += 1;
                }
            }
            if crs == 0 {
                return Err(format!("{ex}: no CR was checked against its CRD"));
            }

            let mut variants = vec![(ex, false)];
            if ex == "protected-apps" {
                variants.push((ex, true));
            }
            for (_, no_runtime) in variants {
                let ns = format!("bundle-{ex}{}", if no_runtime { "-gw" } else { "" });
                let mut opts = ork_generate::options::BundleOptions::new(&ns);
                opts.no_runtime = no_runtime;
                opts.metrics_from = vec!["kubernetes.io/metadata.name=monitoring".into()];
                let b = ork_generate::bundle::generate(&k, &opts, &limits).map_err(e)?;
                let objects: Vec<Value> = b.objects().cloned().collect();
                for o in &objects {
                    apply_clean(c, o)
                        .await
                        .map_err(|x| format!("{ex} (no_runtime {no_runtime}): {x}"))?;
                }
                // a second apply of the same bundle by the same manager: no conflict
                for o in &objects {
                    apply_clean(c, o)
                        .await
                        .map_err(|x| format!("{ex}: re-apply: {x}"))?;
                }
                for o in &objects {
                    if !exists(c, o).await? {
                        return Err(format!("{ex}: {} {} not stored", o["kind"], name(o)));
                    }
                }
                let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
                let gateway = ex == "protected-apps";
                for want in [
                    "ValidatingWebhookConfiguration",
                    "ValidatingAdmissionPolicy",
                    "ValidatingAdmissionPolicyBinding",
                ] {
                    if gateway != kinds.contains(&want) {
                        return Err(format!("{ex}: {want} present: {}", !gateway));
                    }
                }
                if no_runtime == objects.iter().any(|o| name(o) == "orkestra-runtime") {
                    return Err(format!(
                        "{ex}: no_runtime {no_runtime} and the runtime's objects disagree"
                    ));
                }
                // Pod Security `restricted` admits the pods the Deployments would create
                let pod = pod_resource();
                for d in objects.iter().filter(|o| o["kind"] == "Deployment") {
                    let p = pod_of(d);
                    dry_run_create(c, &pod, &p).await.map_err(|x| {
                        format!("{ex}: Pod Security refuses the pod of {}: {x}", name(d))
                    })?;
                    let mut privileged = p.clone();
                    privileged["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] =
                        json!(true);
                    if dry_run_create(c, &pod, &privileged).await.is_ok() {
                        return Err(format!("{ex}: namespace {ns} does not enforce restricted"));
                    }
                }
                // remove it all: the admission objects first (they point at no Gateway)
                let mut order: Vec<&Value> = objects
                    .iter()
                    .filter(|o| {
                        o["apiVersion"]
                            .as_str()
                            .is_some_and(|a| a.starts_with("admissionregistration"))
                    })
                    .collect();
                order.extend(objects.iter().filter(|o| {
                    !o["apiVersion"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("admissionregistration"))
                }));
                for o in order {
                    delete(c, o).await?;
                }
                println!(
                    "    {ex}{}: {} objects applied twice, {crs} CRs dry-run, in {} ms",
                    if no_runtime { " (gateway-only)" } else { "" },
                    objects.len(),
                    start.elapsed().as_millis()
                );
            }
        }
        Ok(())
    })
}
