//! The Gateway on a real control plane: the API server calls it over TLS (docs/security.md
//! §2.3–§2.11).
//!
//! A custom harness (harness = false): one control plane for the binary, tests in sequence,
//! each starting the Gateways it needs in-process and removing them after. With
//! ORK_TEST_KUBECONFIG set, they run against that cluster instead (it must reach this machine's
//! loopback, since the Gateway registers `https://127.0.0.1:PORT`).

mod support {
    pub mod cluster;
    pub mod replay;
}
#[path = "../../../tests/support/decisions.rs"]
mod decisions;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ork_gateway::{Certificates, Config, Running};
use ork_testenv::ControlPlane;
use serde_json::{Value, json};

use support::cluster::{self, As, e};
use support::replay;

type TestFn = ork_testenv::harness::Test<Env>;

struct Env {
    /// held so the control plane lives as long as the tests; dropping it stops it
    #[allow(dead_code)]
    cp: ControlPlane,
    admin: kube::Client,
    /// the admin's credentials, impersonating the Gateway's ServiceAccount: the Gateway runs
    /// as itself, as it would in a pod
    as_gateway: kube::Client,
    dir: tempfile::TempDir,
    /// serving material from files (leaf, key, CA), so no test's setup touches the Gateway's
    /// Secrets
    cert: (PathBuf, PathBuf, PathBuf),
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Gateway for `katalog` on loopback, registered by URL, ready when this returns.
async fn gateway(
    env: &Env,
    katalog: &Path,
    tweak: impl FnOnce(&mut Config),
) -> Result<Running, String> {
    let mut cfg = Config::new(katalog.to_path_buf());
    cfg.addr = "127.0.0.1:0".into();
    cfg.health_addr = "127.0.0.1:0".into();
    cfg.advertise = Some("127.0.0.1:0".into());
    cfg.certificates = Certificates::Files {
        cert: env.cert.0.clone(),
        key: env.cert.1.clone(),
        ca: Some(env.cert.2.clone()),
    };
    cfg.identity = format!("test-{}", unique_identity());
    cfg.audit_sink = Some(ork_gateway::audit::Sink::File(
        env.dir.path().join("audit.log"),
    ));
    tweak(&mut cfg);
    let running = ork_gateway::start(cfg, env.as_gateway.clone())
        .await
        .map_err(e)?;
    // the API server's admission plugins learn of new configurations through a watch
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(running)
}

/// A Lease identity no other Gateway of this run has: two with the same identity would both
/// hold the Lease.
fn unique_identity() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{n}", std::process::id())
}

/// The corpus's admission cases through the API server, compared with `decide`.
fn corpus_replay(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let cases = decisions::load();
        let mut by_katalog: Vec<(PathBuf, Vec<decisions::Case>)> = Vec::new();
        let mut skipped: HashMap<&'static str, usize> = HashMap::new();
        let mut prepared = HashMap::new();
        for c in cases {
            let k = decisions::prepared(&mut prepared, &c.katalog);
            if let Some(why) = replay::unreplayable(&c, k) {
                *skipped.entry(why).or_default() += 1;
                continue;
            }
            match by_katalog.iter_mut().find(|(k, _)| *k == c.katalog) {
                Some((_, l)) => l.push(c),
                None => by_katalog.push((c.katalog.clone(), vec![c])),
            }
        }
        let (mut replayed, mut failures) = (0usize, Vec::new());
        for (path, cases) in by_katalog {
            let k = decisions::prepared(&mut prepared, &path);
            let versions: Vec<(String, String)> = cases
                .iter()
                .filter_map(|c| c.subject()?.get("apiVersion")?.as_str()?.split_once('/'))
                .map(|(g, v)| (g.to_string(), v.to_string()))
                .collect();
            cluster::crds_serving(&env.admin, k, &versions).await?;
            for batch in replay::batches(cases, k) {
                let created = replay::set_up(&env.admin, k, &batch).await?;
                // a Katalog without a Gateway registers nothing: the API server admits alone
                let gw = if k.settings.gateway {
                    Some(gateway(env, &path, |_| {}).await?)
                } else {
                    None
                };
                for case in &batch {
                    match replay::send(&env.admin, k, case).await {
                        Ok(None) => {
                            *skipped
                                .entry("ork's object is not registered for this Katalog")
                                .or_default() += 1;
                        }
                        Ok(Some(answer)) => {
                            replayed += 1;
                            if let Err(d) = replay::compare(k, case, &answer) {
                                failures.push(d);
                            }
                        }
                        Err(err) => failures.push(format!("{} / {}: {err}", case.file, case.name)),
                    }
                }
                if let Some(gw) = gw {
                    gw.uninstall().await;
                }
                replay::tear_down(&env.admin, k, &created).await?;
            }
        }
        println!(
            "    replayed {replayed} cases through the API server; not replayable: {skipped:?}"
        );
        if replayed < 100 {
            failures.push(format!("only {replayed} cases replayed"));
        }
        outcome(failures)
    })
}

fn yaml_file(path: &Path) -> Result<Value, String> {
    let src = std::fs::read_to_string(path).map_err(|x| format!("{}: {x}", path.display()))?;
    let docs = ork_yaml::parse_stream(&src).map_err(|x| format!("{}: {x}", path.display()))?;
    docs.first()
        .map(ork_yaml::Node::to_json)
        .ok_or_else(|| format!("{}: empty", path.display()))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(e)?;
    Ok(p)
}

const ALICE: &[&str] = &["dev"];

async fn create(env: &Env, obj: &Value, who: &As) -> Result<cluster::Answer, String> {
    let path = cluster::path_of(obj, None, false)
        .or_else(|| {
            (obj["kind"] == "App")
                .then(|| "/apis/security.orkestra.io/v1/namespaces/shop/apps".to_string())
        })
        .ok_or("no path")?;
    cluster::send(&env.admin, "POST", &path, Some(obj), who).await
}

async fn delete(env: &Env, path: &str, who: &As) -> Result<cluster::Answer, String> {
    cluster::send(&env.admin, "DELETE", path, None, who).await
}

async fn exists(env: &Env, path: &str) -> Result<bool, String> {
    let a = cluster::send(&env.admin, "GET", path, None, &As::admin()).await?;
    match a.status {
        200 => Ok(a.body.pointer("/metadata/deletionTimestamp").is_none()),
        404 => Ok(false),
        s => Err(format!("GET {path}: {s} {}", a.message())),
    }
}

/// A test's result from the differences it collected: every one is reported, not the first.
fn outcome(errors: Vec<String>) -> Result<(), String> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n    "))
    }
}

fn must(cond: bool, what: impl Into<String>, errors: &mut Vec<String>) {
    if !cond {
        errors.push(what.into());
    }
}

/// Gateway-only mode on the protected-apps example (docs/security.md §2.9): no runtime runs;
/// the labels a person applied are what protects. Deleting the protected CRD, a labelled CR,
/// a labelled child or the operator namespace is denied; unlabelled ones are deleted; strict
/// mode keeps the label, even with the exemption label added in the same request.
fn protection_without_runtime(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let ex = repo().join("examples/protected-apps");
        let text = std::fs::read_to_string(ex.join("katalog.yaml"))
            .map_err(e)?
            .replace("gateway: {enabled: true}", "gateway: {standalone: true}");
        let dir = env.dir.path().join("gateway-only");
        std::fs::create_dir_all(&dir).map_err(e)?;
        std::fs::copy(ex.join("crd.yaml"), dir.join("crd.yaml")).map_err(e)?;
        std::fs::copy(ex.join("cr.yaml"), dir.join("cr.yaml")).map_err(e)?;
        let katalog = write(&dir, "katalog.yaml", &text)?;
        cluster::apply(&env.admin, &yaml_file(&ex.join("crd.yaml"))?).await?;
        cluster::namespace(&env.admin, "shop", &[]).await?;
        let gw = gateway(env, &katalog, |_| {}).await?;
        let alice = As::user("alice", ALICE);
        let mut errors = Vec::new();
        let labelled = json!({"orkestra.io/deletion-protection": "true"});
        let apps = "/apis/security.orkestra.io/v1/namespaces/shop/apps";
        for (name, labels) in [("kept", labelled.clone()), ("free", json!({}))] {
            let cr = json!({"apiVersion": "security.orkestra.io/v1", "kind": "App",
                "metadata": {"name": name, "namespace": "shop", "labels": labels}, "spec": {"greeting": "hi"}});
            // a label applied by hand: the runtime is not there to apply it
            let a = create(
                env,
                &cr,
                &As::user("system:serviceaccount:orkestra-system:orkestra", &[]),
            )
            .await?;
            must(
                a.ok(),
                format!("create App {name}: {} {}", a.status, a.message()),
                &mut errors,
            );
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("{name}-config"), "namespace": "shop", "labels": labels}});
            let a = create(env, &cm, &alice).await?;
            must(
                a.ok(),
                format!("create ConfigMap {name}: {}", a.message()),
                &mut errors,
            );
        }
        let a = delete(env, &format!("{apps}/kept"), &alice).await?;
        must(
            a.denied_by_ork() && a.message().contains("deletion-protected"),
            format!("delete of a labelled App: {} {}", a.status, a.message()),
            &mut errors,
        );
        must(
            exists(env, &format!("{apps}/kept")).await?,
            "the labelled App is gone",
            &mut errors,
        );
        let a = delete(
            env,
            "/api/v1/namespaces/shop/configmaps/kept-config",
            &alice,
        )
        .await?;
        must(
            a.denied_by_ork(),
            format!("delete of a labelled ConfigMap: {}", a.message()),
            &mut errors,
        );
        let a = delete(
            env,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/apps.security.orkestra.io",
            &alice,
        )
        .await?;
        must(
            a.denied_by_ork()
                && a.message()
                    .contains("CustomResourceDefinition apps.security.orkestra.io is protected"),
            format!("delete of the CRD: {}", a.message()),
            &mut errors,
        );
        let a = delete(env, "/api/v1/namespaces/orkestra-system", &alice).await?;
        must(
            a.denied_by_ork() && a.message().contains("control-plane"),
            format!(
                "delete of the Gateway's namespace: {} {}",
                a.status,
                a.message()
            ),
            &mut errors,
        );
        // strict mode: the label stays, and the exemption label does not help
        let live = cluster::send(
            &env.admin,
            "GET",
            &format!("{apps}/kept"),
            None,
            &As::admin(),
        )
        .await?
        .body;
        let mut edited = live.clone();
        edited["metadata"]["labels"] = json!({"orkestra.io/strict-mode-exempt": "true"});
        let a = cluster::send(
            &env.admin,
            "PUT",
            &format!("{apps}/kept"),
            Some(&edited),
            &alice,
        )
        .await?;
        must(
            a.denied_by_ork() && a.message().contains("strict-mode"),
            format!(
                "label removal with the exemption label: {} {}",
                a.status,
                a.message()
            ),
            &mut errors,
        );
        // unprotected ones go
        for path in [
            format!("{apps}/free"),
            "/api/v1/namespaces/shop/configmaps/free-config".to_string(),
        ] {
            let a = delete(env, &path, &alice).await?;
            must(
                a.ok(),
                format!("delete {path}: {}", a.message()),
                &mut errors,
            );
            let gone = cluster::eventually(
                &format!("{path} deleted"),
                Duration::from_secs(10),
                || async { Ok(!exists(env, &path).await?) },
            )
            .await;
            must(gone.is_ok(), format!("{path} is still there"), &mut errors);
        }
        // a rejected create leaves nothing in etcd
        let bad = json!({"apiVersion": "security.orkestra.io/v1", "kind": "App",
            "metadata": {"name": "sneaky", "namespace": "shop", "labels": {"orkestra.orkspace.io/managed": "true"}}});
        let a = create(env, &bad, &alice).await?;
        must(
            a.denied_by_ork() && a.message().contains("reserved-key"),
            format!("create with a reserved label: {}", a.message()),
            &mut errors,
        );
        must(
            !exists(env, &format!("{apps}/sneaky")).await?,
            "a rejected App is in etcd",
            &mut errors,
        );
        gw.uninstall().await;
        // clean up as break-glass (the protection webhooks are gone with the Gateway)
        let _ = delete(env, &format!("{apps}/kept"), &As::admin()).await;
        let _ = delete(
            env,
            "/api/v1/namespaces/shop/configmaps/kept-config",
            &As::admin(),
        )
        .await;
        outcome(errors)
    })
}

/// Namespace patterns (exact, `prefix*`, `*suffix`): the same verdict at admission, through
/// the API server, as `decide` at the reconcile point.
fn namespace_patterns(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let katalog = write(
            env.dir.path(),
            "namespaces.yaml",
            r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: ns-patterns}
gateway: {enabled: true}
security:
  namespaceProtection: {enabled: true}
spec:
  crds:
    tenants:
      apiTypes: {group: patterns.orkestra.io, version: v1, kind: Tenant, plural: tenants}
      operatorBox:
        runtime:
          allowedNamespaces: ["payments", "team-*", "*-sandbox"]
          restrictedNamespaces: ["team-legacy", "*-prod"]
"#,
        )?;
        let k = ork_gateway::load(&katalog, &ork_limits::Limits::default())
            .map_err(|x| x.join("; "))?;
        cluster::crds(&env.admin, &k).await?;
        let table = [
            "payments",
            "payments-2",
            "team-a",
            "team-legacy",
            "team-a-prod",
            "qa-sandbox",
            "sandbox",
            "other",
            "x-sandbox-prod",
        ];
        for ns in table {
            cluster::namespace(&env.admin, ns, &[]).await?;
        }
        let gw = gateway(env, &katalog, |_| {}).await?;
        let mut errors = Vec::new();
        for ns in table {
            let cr = json!({"apiVersion": "patterns.orkestra.io/v1", "kind": "Tenant", "metadata": {"name": "t", "namespace": ns}});
            let a = cluster::send(
                &env.admin,
                "POST",
                &format!("/apis/patterns.orkestra.io/v1/namespaces/{ns}/tenants?dryRun=All"),
                Some(&cr),
                &As::user("alice", ALICE),
            )
            .await?;
            let mut req = ork_policy::Request::for_object(
                ork_policy::Point::Reconcile,
                ork_katalog::Operation::Update,
                &cr,
                "tenants",
            );
            req.layers = ork_policy::Layers::only(&[ork_policy::Layer::NamespaceProtection]);
            let v = ork_policy::decide(&k, &req);
            let admitted = a.ok();
            if admitted != v.allowed() {
                errors.push(format!(
                    "{ns}: admission {} ({}), decide at reconcile {}",
                    if admitted { "allowed" } else { "denied" },
                    a.message(),
                    v.decision().as_str()
                ));
            } else if !admitted && !a.message().ends_with(&v.message()) {
                errors.push(format!(
                    "{ns}: {:?} vs decide {:?}",
                    a.message(),
                    v.message()
                ));
            }
        }
        gw.uninstall().await;
        outcome(errors)
    })
}

const PRIVILEGED_POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": "guarded"},
  "spec": {"containers": [{"name": "app", "image": "x", "securityContext": {"privileged": true}}]}}"#;

/// Pod-security admission and the exec guard through the API server: a privileged Deployment
/// in a guarded namespace is denied; exec and attach into a privileged Pod are denied (the API
/// server runs CONNECT admission before it looks for a kubelet), into a plain Pod not.
fn pod_security_and_exec(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let katalog = write(
            env.dir.path(),
            "podsecurity.yaml",
            r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: pod-security}
gateway: {enabled: true}
security:
  podSecurity:
    level: restricted
    admission: {enabled: true, namespaces: [guarded]}
  execProtection: {enabled: true}
spec: {}
"#,
        )?;
        cluster::namespace(&env.admin, "guarded", &[]).await?;
        // the Pods exist before the Gateway: only the exec guard is under test for them
        let root: Value = serde_json::from_str(PRIVILEGED_POD).map_err(e)?;
        let mut plain = root.clone();
        plain["metadata"]["name"] = json!("plain");
        plain["spec"]["containers"][0]["securityContext"] = json!({});
        for p in [&root, &plain] {
            let a = create(env, p, &As::admin()).await?;
            must_ok(&a, "create Pod")?;
        }
        let gw = gateway(env, &katalog, |_| {}).await?;
        let alice = As::user("alice", ALICE);
        let mut errors = Vec::new();
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "guarded"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
              "spec": {"containers": [{"name": "app", "image": "x", "securityContext": {"privileged": true}}]}}}});
        let a = create(env, &deployment, &alice).await?;
        must(
            a.denied_by_ork()
                && a.message().contains("pod-security: ")
                && a.message().contains("privileged-container"),
            format!("privileged Deployment: {} {}", a.status, a.message()),
            &mut errors,
        );
        must(
            !exists(env, "/apis/apps/v1/namespaces/guarded/deployments/web").await?,
            "a denied Deployment is in etcd",
            &mut errors,
        );
        for sub in [
            "exec?command=sh&stdin=true&stdout=true&tty=true",
            "attach?stdout=true",
        ] {
            let a = cluster::send(
                &env.admin,
                "POST",
                &format!("/api/v1/namespaces/guarded/pods/root/{sub}"),
                None,
                &alice,
            )
            .await?;
            must(
                a.denied_by_ork() && a.message().contains("exec-escalation"),
                format!("{sub} into a privileged Pod: {} {}", a.status, a.message()),
                &mut errors,
            );
            let a = cluster::send(
                &env.admin,
                "POST",
                &format!("/api/v1/namespaces/guarded/pods/plain/{sub}"),
                None,
                &alice,
            )
            .await?;
            must(
                !a.denied_by_ork(),
                format!("{sub} into a plain Pod was denied: {}", a.message()),
                &mut errors,
            );
        }
        gw.uninstall().await;
        for p in ["root", "plain"] {
            let _ = delete(
                env,
                &format!("/api/v1/namespaces/guarded/pods/{p}?gracePeriodSeconds=0"),
                &As::admin(),
            )
            .await;
        }
        outcome(errors)
    })
}

fn must_ok(a: &cluster::Answer, what: &str) -> Result<(), String> {
    if a.ok() {
        Ok(())
    } else {
        Err(format!("{what}: {} {}", a.status, a.message()))
    }
}

const GUARDED_KATALOG: &str = r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: lockout}
gateway: {enabled: true}
security:
  deletionProtection: {enabled: true, failurePolicy: POLICY}
  webhooks: {breakGlassGroups: [ork-admins]}
spec: {}
"#;

/// Lockout safety (docs/security.md §2.3): with the Gateway down, kube-system and the
/// Gateway's namespace still change; with failurePolicy Ignore the guarded objects too, with
/// Fail they do not. Only break-glass members and the Gateway change ork's configurations; a
/// deleted configuration is back within 5 s.
fn lockout_safety(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let mut errors = Vec::new();
        cluster::namespace(&env.admin, "locked", &[]).await?;
        let alice = As::user("alice", ALICE);
        for policy in ["Fail", "Ignore"] {
            let katalog = write(
                env.dir.path(),
                &format!("lockout-{policy}.yaml"),
                &GUARDED_KATALOG.replace("POLICY", policy),
            )?;
            let gw = gateway(env, &katalog, |_| {}).await?;
            // the guard: alice may neither edit nor delete a configuration; break-glass may edit
            let path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/orkestra-deletion-protection";
            let live = cluster::send(&env.admin, "GET", path, None, &As::admin())
                .await?
                .body;
            let mut ignore = live.clone();
            if let Some(hooks) = ignore["webhooks"].as_array_mut() {
                for h in hooks {
                    h["failurePolicy"] = json!("Ignore");
                }
            }
            let a = cluster::send(
                &env.admin,
                "PUT",
                &format!("{path}?dryRun=All"),
                Some(&ignore),
                &alice,
            )
            .await?;
            if std::env::var_os("ORK_DEBUG_VAP").is_some() {
                let vap = cluster::send(&env.admin, "GET", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/orkestra-control-plane-guard", None, &As::admin()).await?;
                println!("VAP {}", vap.body);
            }
            must(
                a.denied_by_ork() && a.message().contains("control-plane"),
                format!("alice edits a configuration: {} {}", a.status, a.message()),
                &mut errors,
            );
            let a = delete(env, &format!("{path}?dryRun=All"), &alice).await?;
            must(
                a.denied_by_ork(),
                format!("alice deletes a configuration: {}", a.message()),
                &mut errors,
            );
            let a = delete(
                env,
                &format!("{path}?dryRun=All"),
                &As::user("bob", &["ork-admins"]),
            )
            .await?;
            must(
                a.ok(),
                format!("break-glass delete: {}", a.message()),
                &mut errors,
            );
            // the watcher: a deletion is undone within 5 s
            let a = delete(env, path, &As::user("bob", &["ork-admins"])).await?;
            must_ok(&a, "break-glass deletes a configuration")?;
            let t = Instant::now();
            let back =
                cluster::eventually("configuration restored", Duration::from_secs(5), || async {
                    exists(env, path).await
                })
                .await;
            must(
                back.is_ok(),
                "a deleted configuration was not back within 5 s",
                &mut errors,
            );
            println!("    ({policy}) restored in {} ms", t.elapsed().as_millis());
            // a labelled object for the Gateway to guard
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "guarded", "namespace": "locked",
                "labels": {"orkestra.io/deletion-protection": "true"}}});
            must_ok(&create(env, &cm, &As::admin()).await?, "create ConfigMap")?;
            // the Gateway stops; its configurations stay
            gw.shutdown().await;
            for ns in ["kube-system", "orkestra-system"] {
                let probe = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "lockout-probe", "namespace": ns,
                    "labels": {"orkestra.io/deletion-protection": "true"}}});
                let a = create(env, &probe, &As::admin()).await?;
                must(
                    a.ok(),
                    format!(
                        "({policy}) with the Gateway down, a create in {ns} failed: {}",
                        a.message()
                    ),
                    &mut errors,
                );
                let a = delete(
                    env,
                    &format!("/api/v1/namespaces/{ns}/configmaps/lockout-probe"),
                    &As::admin(),
                )
                .await?;
                must(
                    a.ok(),
                    format!(
                        "({policy}) with the Gateway down, a labelled ConfigMap in {ns} could not be deleted: {}",
                        a.message()
                    ),
                    &mut errors,
                );
            }
            let a = delete(env, "/api/v1/namespaces/locked/configmaps/guarded", &alice).await?;
            match policy {
                "Ignore" => must(
                    a.ok(),
                    format!(
                        "(Ignore) the guarded ConfigMap could not be deleted with the Gateway down: {}",
                        a.message()
                    ),
                    &mut errors,
                ),
                _ => must(
                    !a.ok() && a.message().contains("failed calling webhook"),
                    format!("(Fail) the guarded ConfigMap: {} {}", a.status, a.message()),
                    &mut errors,
                ),
            }
            // clean up: remove what the stopped Gateway left
            let cleanup = gateway(env, &katalog, |_| {}).await?;
            cleanup.uninstall().await;
            let _ = delete(
                env,
                "/api/v1/namespaces/locked/configmaps/guarded",
                &As::admin(),
            )
            .await;
        }
        outcome(errors)
    })
}

/// What the Gateway registers reads back as it was written: the watcher sees no drift in its
/// own writes, and sees a change to a field ork owns.
fn registration_round_trip(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let katalog = repo().join("tests/fixtures/decisions/katalogs/protection.yaml");
        let gw = gateway(env, &katalog, |_| {}).await?;
        let k = ork_gateway::load(&katalog, &ork_limits::Limits::default())
            .map_err(|x| x.join("; "))?;
        let target =
            ork_gateway::webhooks::Target::Url(format!("https://127.0.0.1:{}", gw.addr.port()));
        let ca = std::fs::read_to_string(&env.cert.2).map_err(e)?;
        let mut plan = ork_gateway::webhooks::configurations(&k, &target, &ca);
        plan.extend(ork_gateway::webhooks::guard(&k));
        let mut errors = Vec::new();
        for d in plan {
            let path = format!(
                "/apis/admissionregistration.k8s.io/v1/{}/{}",
                d.kind.plural(),
                d.name
            );
            let live = cluster::send(&env.admin, "GET", &path, None, &As::admin())
                .await?
                .body;
            // the live copy has the real target and caBundle; compare what does not depend on them
            let desired = &d.object;
            if ork_gateway::webhooks::drifted(desired, &live) {
                errors.push(format!(
                    "{} reads back drifted:\n      desired {}\n      live    {}",
                    d.name,
                    ork_gateway::webhooks::owned_view(desired, desired),
                    ork_gateway::webhooks::owned_view(desired, &live)
                ));
            }
        }
        gw.uninstall().await;
        outcome(errors)
    })
}

/// Every restore is reported once (docs/security.md §2.3), whichever path re-creates the
/// deleted configuration: with the watcher off, the resync re-creates it and still writes the
/// RESTORE audit line and the Warning Event; with the watcher and a fast resync racing, three
/// deletions give exactly three reports.
fn every_restore_is_reported(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let katalog = write(
            env.dir.path(),
            "restores.yaml",
            &GUARDED_KATALOG.replace("POLICY", "Ignore"),
        )?;
        let path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/orkestra-deletion-protection";
        let bob = As::user("bob", &["ork-admins"]);
        let mut errors = Vec::new();
        for (watcher, deletions) in [(false, 1), (true, 3)] {
            let audit = env.dir.path().join(format!("restores-{watcher}.log"));
            let identity = format!("restores-{}", unique_identity());
            let (sink, id) = (audit.clone(), identity.clone());
            let gw = gateway(env, &katalog, move |c| {
                c.audit_sink = Some(ork_gateway::audit::Sink::File(sink));
                c.identity = id;
                c.housekeeper = watcher;
                c.sync_interval = Duration::from_secs(1);
            })
            .await?;
            for _ in 0..deletions {
                must_ok(
                    &delete(env, path, &bob).await?,
                    "break-glass deletes a configuration",
                )?;
                cluster::eventually(
                    "configuration restored",
                    Duration::from_secs(10),
                    || async { exists(env, path).await },
                )
                .await?;
            }
            // two more resyncs: a late second report would show here
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let lines = std::fs::read_to_string(&audit).map_err(e)?;
            let restores = lines
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|l| {
                    l["operation"] == "RESTORE" && l["name"] == "orkestra-deletion-protection"
                })
                .count();
            must(
                restores == deletions,
                format!(
                    "(watcher {watcher}) {deletions} deletions, {restores} RESTORE audit lines"
                ),
                &mut errors,
            );
            let events = cluster::send(
                &env.admin,
                "GET",
                "/apis/events.k8s.io/v1/namespaces/default/events",
                None,
                &As::admin(),
            )
            .await?
            .body;
            let ours = events["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|ev| {
                    ev["reportingInstance"] == identity.as_str() && ev["reason"] == "Restored"
                })
                .count();
            must(
                ours >= 1,
                format!("(watcher {watcher}) no Restored event from {identity}"),
                &mut errors,
            );
            gw.uninstall().await;
        }
        outcome(errors)
    })
}

/// A plain HTTPS client for the Gateway's own port, trusting the test certificate.
async fn https(
    env: &Env,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    use http_body_util::BodyExt;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&env.cert.2).map_err(e)?;
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.map_err(e)?).map_err(e)?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(e)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(e)?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(e)?;
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(e)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .map_err(e)?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(e)?;
    let resp = send.send_request(req).await.map_err(e)?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(e)?
        .to_bytes()
        .to_vec();
    Ok((status, bytes))
}

async fn plain_get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.map_err(e)?;
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(e)?;
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.map_err(e)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, out))
}

/// The Gateway's own surface (docs/security.md §2.3, §2.11): POST only, an undecodable review
/// is denied with code 400, a body over 8 MiB is refused, the plain port serves probes and
/// metrics only, and every decision is one audit line without object data.
fn direct_requests_audit_and_metrics(
    env: &Env,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let katalog = repo().join("tests/fixtures/decisions/katalogs/protection.yaml");
        let audit = env.dir.path().join("direct-audit.log");
        let sink = audit.clone();
        let gw = gateway(env, &katalog, move |c| {
            c.audit_sink = Some(ork_gateway::audit::Sink::File(sink))
        })
        .await?;
        let mut errors = Vec::new();
        let (status, body) =
            https(env, gw.addr, "POST", "/validate", b"{not json".to_vec()).await?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        must(
            status == 200
                && v.pointer("/response/allowed") == Some(&json!(false))
                && v.pointer("/response/status/code") == Some(&json!(400)),
            format!("undecodable review: {status} {v}"),
            &mut errors,
        );
        let (status, _) = https(env, gw.addr, "GET", "/validate", vec![]).await?;
        must(
            status == 405,
            format!("GET on a webhook: {status}"),
            &mut errors,
        );
        let (status, _) = https(env, gw.addr, "POST", "/nothing", b"{}".to_vec()).await?;
        must(
            status == 404,
            format!("unknown path: {status}"),
            &mut errors,
        );
        let (status, _) = https(
            env,
            gw.addr,
            "POST",
            "/validate",
            vec![b' '; ork_gateway::server::MAX_BODY + 1],
        )
        .await
        .unwrap_or((0, vec![]));
        must(
            status == 413 || status == 0,
            format!("a body over 8 MiB: {status}"),
            &mut errors,
        );
        // a real decision through the API server, then its audit line
        cluster::namespace(&env.admin, "direct", &[]).await?;
        cluster::crds(
            &env.admin,
            &ork_gateway::load(&katalog, &ork_limits::Limits::default())
                .map_err(|x| x.join("; "))?,
        )
        .await?;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "secretive", "namespace": "direct",
            "labels": {"orkestra.io/deletion-protection": "true"}}, "data": {"password": "hunter2-very-secret"}});
        must_ok(&create(env, &cm, &As::admin()).await?, "create ConfigMap")?;
        let a = delete(
            env,
            "/api/v1/namespaces/direct/configmaps/secretive?dryRun=All",
            &As::user("alice", ALICE),
        )
        .await?;
        must(
            a.denied_by_ork(),
            format!("delete of a labelled ConfigMap: {}", a.message()),
            &mut errors,
        );
        let (status, _) = plain_get(gw.health_addr, "/readyz").await?;
        must(status == 200, format!("/readyz: {status}"), &mut errors);
        let (status, metrics) = plain_get(gw.health_addr, "/metrics").await?;
        must(status == 200 && metrics.contains("ork_admission_requests_total{webhook=\"deletion-protection\",decision=\"deny\"}")
            && metrics.contains("ork_admission_duration_seconds_bucket"), format!("/metrics: {status}\n{metrics}"), &mut errors);
        let (status, _) = plain_get(gw.health_addr, "/validate").await?;
        must(
            status == 404,
            format!("the plain port serves a webhook path: {status}"),
            &mut errors,
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let lines = std::fs::read_to_string(&audit).map_err(e)?;
        let line = lines
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["webhook"] == "deletion-protection" && l["name"] == "secretive");
        match line {
            Some(l) => {
                must(
                    l["decision"] == "deny"
                        && l["user"] == "alice"
                        && l["operation"] == "DELETE"
                        && l["kind"] == "/v1/ConfigMap"
                        && l["dryRun"] == json!(true)
                        && l["reasons"][0]["code"] == "deletion-protected",
                    format!("audit line: {l}"),
                    &mut errors,
                );
            }
            None => errors.push(format!("no audit line for the denied delete in:\n{lines}")),
        }
        must(
            !lines.contains("hunter2"),
            "an audit line carries object data",
            &mut errors,
        );
        must(
            lines.lines().any(|l| {
                l.contains("\"webhook\":\"validate\"") && l.contains("\"code\":\"undecodable\"")
            }),
            "no audit line for the undecodable review",
            &mut errors,
        );
        gw.uninstall().await;
        let _ = delete(
            env,
            "/api/v1/namespaces/direct/configmaps/secretive",
            &As::admin(),
        )
        .await;
        outcome(errors)
    })
}

/// Hot reload (docs/cli.md §12): a Katalog that fails validation keeps the last good one
/// serving; a valid change takes effect, configurations included.
fn katalog_reload(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let protected = GUARDED_KATALOG.replace("POLICY", "Fail");
        let path = write(env.dir.path(), "reload.yaml", &protected)?;
        cluster::namespace(&env.admin, "reload", &[]).await?;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept", "namespace": "reload",
            "labels": {"orkestra.io/deletion-protection": "true"}}});
        must_ok(&create(env, &cm, &As::admin()).await?, "create ConfigMap")?;
        let gw = gateway(env, &path, |c| {
            c.reload_interval = Duration::from_millis(200)
        })
        .await?;
        let del = "/api/v1/namespaces/reload/configmaps/kept?dryRun=All";
        let alice = As::user("alice", ALICE);
        let mut errors = Vec::new();
        must(
            delete(env, del, &alice).await?.denied_by_ork(),
            "protected before the reload",
            &mut errors,
        );
        std::fs::write(
            &path,
            "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nspec: {crds: [not, a, map]}\n",
        )
        .map_err(e)?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        must(
            delete(env, del, &alice).await?.denied_by_ork(),
            "an invalid Katalog replaced the good one",
            &mut errors,
        );
        let (_, metrics) = plain_get(gw.health_addr, "/metrics").await?;
        must(
            metrics.contains("ork_katalog_reload_total{result=\"rejected\"} 1"),
            format!("no rejected reload counted:\n{metrics}"),
            &mut errors,
        );
        std::fs::write(
            &path,
            protected.replace(
                "deletionProtection: {enabled: true, failurePolicy: Fail}",
                "deletionProtection: {enabled: false}",
            ),
        )
        .map_err(e)?;
        let off = cluster::eventually(
            "protection off after a valid reload",
            Duration::from_secs(10),
            || async { Ok(delete(env, del, &alice).await?.ok()) },
        )
        .await;
        must(
            off.is_ok(),
            "a valid Katalog did not take effect",
            &mut errors,
        );
        gw.uninstall().await;
        let _ = delete(
            env,
            "/api/v1/namespaces/reload/configmaps/kept",
            &As::admin(),
        )
        .await;
        outcome(errors)
    })
}

/// Certificate rotation under load (docs/security.md §2.10): generated material with short
/// lives, so the leaf renews every few seconds and the CA rotates once, while requests flow
/// through the API server to the Gateway. Not one admission may fail.
fn rotation_under_load(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let katalog = write(
            env.dir.path(),
            "rotation.yaml",
            r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: rotation}
gateway: {enabled: true}
security:
  certManager: {autoRotate: true, validFor: 12s, rotationThreshold: 8s, caValidFor: 30s}
spec:
  crds:
    widgets:
      apiTypes: {group: rotation.orkestra.io, version: v1, kind: Widget, plural: widgets}
"#,
        )?;
        let k = ork_gateway::load(&katalog, &ork_limits::Limits::default())
            .map_err(|x| x.join("; "))?;
        cluster::crds(&env.admin, &k).await?;
        cluster::namespace(&env.admin, "rotation", &[]).await?;
        let audit = env.dir.path().join("rotation-audit.log");
        let sink = audit.clone();
        let gw = gateway(env, &katalog, move |c| {
            c.certificates = Certificates::Generated;
            c.ca_overlap_wait = Duration::from_secs(3);
            c.audit_sink = Some(ork_gateway::audit::Sink::File(sink));
        })
        .await?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..4 {
            let client = env.admin.clone();
            let stop = stop.clone();
            workers.push(tokio::spawn(async move {
                let (mut ok, mut failed, mut first) = (0u64, 0u64, None);
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let obj = json!({"apiVersion": "rotation.orkestra.io/v1", "kind": "Widget",
                        "metadata": {"name": format!("w{w}-{i}"), "namespace": "rotation"}});
                    match cluster::send(
                        &client,
                        "POST",
                        "/apis/rotation.orkestra.io/v1/namespaces/rotation/widgets?dryRun=All",
                        Some(&obj),
                        &As::user("alice", &[]),
                    )
                    .await
                    {
                        Ok(a) if a.ok() => ok += 1,
                        Ok(a) => {
                            failed += 1;
                            first.get_or_insert(format!("{} {}", a.status, a.message()));
                        }
                        Err(x) => {
                            failed += 1;
                            first.get_or_insert(x);
                        }
                    }
                }
                (ok, failed, first)
            }));
        }
        tokio::time::sleep(Duration::from_secs(40)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (mut ok, mut failed, mut first) = (0, 0, None);
        for w in workers {
            let (o, f, x) = w.await.map_err(e)?;
            ok += o;
            failed += f;
            first = first.or(x);
        }
        let rotations: Vec<String> = std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"operation\":\"ROTATE\""))
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v["name"].as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect();
        println!("    {ok} admissions, {failed} failed, rotations: {rotations:?}");
        gw.uninstall().await;
        // the generated Secrets go, so later runs start fresh
        for s in ["orkestra-tls", "orkestra-tls-ca"] {
            let _ = delete(
                env,
                &format!("/api/v1/namespaces/orkestra-system/secrets/{s}"),
                &As::admin(),
            )
            .await;
        }
        let mut errors = Vec::new();
        must(
            failed == 0,
            format!(
                "{failed} of {} admissions failed during rotation; first: {first:?}",
                ok + failed
            ),
            &mut errors,
        );
        must(ok > 100, format!("only {ok} admissions"), &mut errors);
        must(
            rotations.len() >= 2,
            format!("expected leaf renewals and a CA rotation, saw {rotations:?}"),
            &mut errors,
        );
        outcome(errors)
    })
}

/// The single writer (G30): of two Gateways, one holds the Lease `orkestra-gateway-config`
/// and writes; when it stops it releases the Lease and the other takes over at once.
fn single_writer(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let katalog = repo().join("tests/fixtures/decisions/katalogs/protection.yaml");
        let first = gateway(env, &katalog, |_| {}).await?;
        let second = gateway(env, &katalog, |_| {}).await?;
        let mut errors = Vec::new();
        must(
            first.leading() && !second.leading(),
            format!(
                "leading: first {}, second {}",
                first.leading(),
                second.leading()
            ),
            &mut errors,
        );
        let lease = cluster::send(&env.admin, "GET", "/apis/coordination.k8s.io/v1/namespaces/orkestra-system/leases/orkestra-gateway-config", None, &As::admin()).await?;
        must(
            lease
                .body
                .pointer("/metadata/labels/app.kubernetes.io~1tag")
                == Some(&json!("orkestra-internal")),
            format!("the Lease is not labelled: {}", lease.body),
            &mut errors,
        );
        first.shutdown().await;
        let t = Instant::now();
        let took_over = cluster::eventually(
            "the second Gateway leads",
            Duration::from_secs(5),
            || async { Ok(second.leading()) },
        )
        .await;
        must(
            took_over.is_ok(),
            "the second Gateway did not take the released Lease within 5 s",
            &mut errors,
        );
        println!("    took over in {} ms", t.elapsed().as_millis());
        second.uninstall().await;
        outcome(errors)
    })
}
fn main() -> ExitCode {
    let tests: &[(&str, TestFn)] = &[
        ("registration_round_trip", registration_round_trip),
        ("protection_without_runtime", protection_without_runtime),
        ("namespace_patterns", namespace_patterns),
        ("pod_security_and_exec", pod_security_and_exec),
        ("lockout_safety", lockout_safety),
        ("every_restore_is_reported", every_restore_is_reported),
        (
            "direct_requests_audit_and_metrics",
            direct_requests_audit_and_metrics,
        ),
        ("katalog_reload", katalog_reload),
        ("single_writer", single_writer),
        ("corpus_replay", corpus_replay),
        ("rotation_under_load", rotation_under_load),
    ];
    ork_testenv::harness::run(
        tests,
        Duration::from_secs(600),
        async {
            let cp = ControlPlane::from_env_or_start().await.map_err(e)?;
            let admin = cp.client().await.map_err(e)?;
            cluster::open_rbac(&admin).await?;
            let as_gateway = cluster::impersonating(
                &cp.kubeconfig,
                "system:serviceaccount:orkestra-system:orkestra-gateway",
                &[
                    "system:serviceaccounts",
                    "system:serviceaccounts:orkestra-system",
                ],
            )
            .await?;
            let dir = tempfile::tempdir().map_err(e)?;
            let cert = test_pki(dir.path())?;
            println!("control plane ready in {} ms", cp.startup.as_millis());
            Ok(Env {
                cp,
                admin,
                as_gateway,
                dir,
                cert,
            })
        },
        |env: &Env| {
            // the Gateways' audit lines, for a look after a failure
            if let Some(keep) = std::env::var_os("ORK_TEST_KEEP_AUDIT") {
                let _ = std::fs::copy(env.dir.path().join("audit.log"), keep);
            }
        },
    )
}

/// Serving material for 127.0.0.1: a CA and a leaf it signed (docs/security.md §2.10).
fn test_pki(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ork test CA");
    let ca = ca_params.self_signed(&ca_key).map_err(e)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(e)?;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).map_err(e)?;
    let (c, k, a) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.crt"));
    std::fs::write(&c, cert.pem()).map_err(e)?;
    std::fs::write(&k, key.serialize_pem()).map_err(e)?;
    std::fs::write(&a, ca.pem()).map_err(e)?;
    Ok((c, k, a))
}
