//! `ork-runbench`: the runtime at scale on the project's own control plane (BENCHMARKS.md,
//! "Runtime at scale").
//!
//! - **ork**: `ork run` reconciles N CRs, each with a ConfigMap and a headless Service (the
//!   test control plane's service range is small) written by server-side apply; the clock runs from the first CR create to the last CR seen Ready.
//! - **plain**: a plain kube-rs client does the same work for N CRs of a second kind at the
//!   same concurrency: create the CR, apply the two children with the same owner reference
//!   and labels, patch the status Ready. No finalizer, no checks, no events: the floor.
//! - **kill**: `ork run` killed with SIGKILL while N CRs reconcile, then started again; every
//!   CR must end Ready with exactly its two children.
//!
//! The runtime's peak RSS is its `VmHWM` from /proc. Prints a JSON report on stdout.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
struct Args {
    /// the `ork` binary
    #[arg(long)]
    ork: PathBuf,
    /// CRs per run
    #[arg(long, default_value_t = 1000)]
    crs: usize,
    /// reconcile workers of the runtime, and the plain client's concurrency
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// runs: ork, plain, kill (comma-separated)
    #[arg(long, default_value = "plain,ork,kill")]
    runs: String,
    /// kill the runtime once this many CRs are Ready (kill run)
    #[arg(long, default_value_t = 300)]
    kill_at: usize,
    /// a kubeconfig to use instead of starting a control plane
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

type Res<T> = Result<T, String>;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

const GROUP: &str = "bench.orkestra.io";

fn katalog(workers: usize) -> String {
    format!(
        r#"apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {{name: bench}}
spec:
  crds:
    app:
      apiTypes: {{group: {GROUP}, version: v1, kind: App, plural: apps}}
      operatorBox:
        reconciler: {{workers: {workers}}}
        onCreate:
          configMaps: [{{name: "{{{{ .metadata.name }}}}-config", data: {{greeting: "{{{{ .spec.greeting }}}}"}}, reconcile: true}}]
          services: [{{name: "{{{{ .metadata.name }}}}", port: 80, targetPort: 8080, headless: true, reconcile: true}}]
"#
    )
}

fn ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", kind), plural)
}

async fn crd(client: &kube::Client, kind: &str, plural: &str) -> Res<()> {
    let name = format!("{plural}.{GROUP}");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": GROUP, "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let crd_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &crd_ar);
    api.patch(
        &name,
        &PatchParams::apply("bench").force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(e)?;
    let start = Instant::now();
    loop {
        let o = api.get(&name).await.map_err(e)?;
        let ok = o
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
        if ok {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("{name} not Established"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // discovery lags Established a little
    let probe: Api<DynamicObject> = Api::all_with(client.clone(), &ar(kind, plural));
    while probe.list(&ListParams::default().limit(1)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn namespace(client: &kube::Client, ns: &str) -> Res<()> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    api.patch(ns, &PatchParams::apply("bench"), &Patch::Apply(&obj))
        .await
        .map(|_| ())
        .map_err(e)
}

fn cr(kind: &str, ns: &str, i: usize) -> Value {
    json!({"apiVersion": format!("{GROUP}/v1"), "kind": kind,
           "metadata": {"name": format!("app-{i:05}"), "namespace": ns},
           "spec": {"greeting": format!("hello {i}")}})
}

fn ready(o: &DynamicObject) -> bool {
    o.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Watches the kind in `ns` and records when each CR is first seen Ready.
fn watch_ready(
    client: &kube::Client,
    ar: &ApiResource,
    ns: &str,
) -> Arc<Mutex<HashMap<String, Instant>>> {
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
    let out = seen.clone();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            let objs: Vec<DynamicObject> = match ev {
                Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => vec![o],
                _ => continue,
            };
            for o in objs {
                if ready(&o) {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    if let Ok(mut m) = out.lock() {
                        m.entry(name).or_insert_with(Instant::now);
                    }
                }
            }
        }
    });
    seen
}

fn count(seen: &Arc<Mutex<HashMap<String, Instant>>>) -> usize {
    seen.lock().map(|m| m.len()).unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn latencies(
    created: &HashMap<String, Instant>,
    seen: &Arc<Mutex<HashMap<String, Instant>>>,
) -> Value {
    let seen = seen.lock().map(|m| m.clone()).unwrap_or_default();
    let mut ms: Vec<f64> = created
        .iter()
        .filter_map(|(n, t)| {
            seen.get(n)
                .map(|r| r.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    json!({"p50_ms": percentile(&ms, 0.5), "p99_ms": percentile(&ms, 0.99), "max_ms": percentile(&ms, 1.0)})
}

struct Runtime {
    child: tokio::process::Child,
    health: u16,
}

impl Runtime {
    fn start(ork: &Path, katalog: &Path, kubeconfig: &Path, name: &str) -> Res<Runtime> {
        let health = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(e)?
            .port();
        let child = tokio::process::Command::new(ork)
            .args(["run", "-f"])
            .arg(katalog)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--no-apply", "--log-format", "json", "--health-addr"])
            .arg(format!("127.0.0.1:{health}"))
            .env("POD_NAME", name)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(e)?;
        Ok(Runtime { child, health })
    }

    /// `ork_reconcile_total` by result, from the runtime's /metrics.
    async fn reconciles(&self) -> Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut out = String::new();
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.health)).await {
            let _ = s
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let _ = s.read_to_string(&mut out).await;
        }
        let mut m = serde_json::Map::new();
        for line in out
            .lines()
            .filter(|l| l.starts_with("ork_reconcile_total{"))
        {
            if let (Some(r), Some(v)) = (
                line.split("result=\"")
                    .nth(1)
                    .and_then(|x| x.split('"').next()),
                line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()),
            ) {
                m.insert(r.to_string(), json!(v));
            }
        }
        Value::Object(m)
    }

    /// Peak resident set (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// User plus system CPU time so far, in seconds.
    fn cpu_seconds(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|t| t.parse::<f64>().ok()))
            .sum();
        ticks / 100.0
    }

    async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Creates N CRs with `workers` in flight; returns when each was created.
async fn create_all(
    client: &kube::Client,
    ar: &ApiResource,
    kind: &str,
    ns: &str,
    n: usize,
    workers: usize,
    then: Option<&(dyn Fn(Value) -> futures::future::BoxFuture<'static, Res<()>> + Sync)>,
) -> Res<HashMap<String, Instant>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
    let results: Vec<Res<(String, Instant)>> = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(cr(kind, ns, i)).map_err(e)?;
                let t = Instant::now();
                let created = api.create(&PostParams::default(), &obj).await.map_err(e)?;
                let name = created.metadata.name.clone().unwrap_or_default();
                if let Some(f) = then {
                    let v = serde_json::to_value(&created).map_err(e)?;
                    f(v).await?;
                }
                Ok((name, t))
            }
        })
        .buffer_unordered(workers)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn wait_all(seen: &Arc<Mutex<HashMap<String, Instant>>>, n: usize, secs: u64) -> Res<()> {
    let start = Instant::now();
    while count(seen) < n {
        if start.elapsed() > Duration::from_secs(secs) {
            return Err(format!("{} of {n} Ready after {secs}s", count(seen)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The plain client's work for one CR: the two children by server-side apply with the same
/// owner reference and labels the runtime writes, then the status.
async fn plain_reconcile(client: kube::Client, cr: Value) -> Res<()> {
    let name = cr["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = cr["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uid = cr["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let owner = json!([{"apiVersion": format!("{GROUP}/v1"), "kind": "Plain", "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true}]);
    // labels of the same size as the runtime's, but not its managed label: the runtime's
    // watches must not see the plain client's children
    let labels = json!({"bench.orkestra.io/plain": "true", "bench.orkestra.io/owner": name,
        "bench.orkestra.io/owner-uid": uid});
    let pp = PatchParams::apply("plain-kube-rs").force();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-config"), "namespace": ns, "labels": labels, "ownerReferences": owner},
        "data": {"greeting": cr["spec"]["greeting"]}});
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.patch(&format!("{name}-config"), &pp, &Patch::Apply(&cm))
        .await
        .map_err(e)?;
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": owner},
        "spec": {"clusterIP": "None", "ports": [{"name": "p80", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                 "selector": {"orkestra-owner": name}}});
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), &ns);
    svcs.patch(&name, &pp, &Patch::Apply(&svc))
        .await
        .map_err(e)?;
    let crs: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ar("Plain", "plains"));
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconcileSucceeded",
        "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    crs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(e)?;
    Ok(())
}

/// Every CR has exactly its ConfigMap and Service, and nothing else is owned.
async fn audit_children(client: &kube::Client, ns: &str, n: usize) -> Res<Value> {
    let lp = ListParams::default().labels("orkestra.orkspace.io/managed=true");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), ns);
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in cms.list(&lp).await.map_err(e)?.items {
        let owner = c
            .metadata
            .labels
            .unwrap_or_default()
            .remove("orkestra-owner")
            .unwrap_or_default();
        per.entry(owner).or_default().0 += 1;
    }
    for s in svcs.list(&lp).await.map_err(e)?.items {
        let owner = s
            .metadata
            .labels
            .unwrap_or_default()
            .remove("orkestra-owner")
            .unwrap_or_default();
        per.entry(owner).or_default().1 += 1;
    }
    let duplicates = per.values().filter(|(c, s)| *c > 1 || *s > 1).count();
    let complete = per.values().filter(|(c, s)| *c == 1 && *s == 1).count();
    Ok(
        json!({"owners": per.len(), "complete": complete, "duplicates": duplicates,
              "missing": n.saturating_sub(complete)}),
    )
}

async fn main_async(a: Args) -> Res<Value> {
    // the control plane lives until the report is written
    let mut _plane = None;
    let kubeconfig = match &a.kubeconfig {
        Some(k) => k.clone(),
        None => {
            let cp = ork_testenv::ControlPlane::start(ork_testenv::Options::default())
                .await
                .map_err(e)?;
            let k = cp.kubeconfig.clone();
            _plane = Some(cp);
            k
        }
    };
    let client = ork_testenv::client_for(&kubeconfig).await.map_err(e)?;
    namespace(&client, "orkestra-system").await?;
    crd(&client, "App", "apps").await?;
    crd(&client, "Plain", "plains").await?;
    let dir = std::env::temp_dir().join(format!("ork-runbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(e)?;
    let katalog_path = dir.join("katalog.yaml");
    std::fs::write(&katalog_path, katalog(a.workers)).map_err(e)?;
    let runs: Vec<&str> = a.runs.split(',').map(str::trim).collect();
    let mut report = json!({"crs": a.crs, "workers": a.workers, "children_per_cr": 2});

    if runs.contains(&"plain") {
        let ns = "bench-plain";
        namespace(&client, ns).await?;
        let kind_ar = ar("Plain", "plains");
        let seen = watch_ready(&client, &kind_ar, ns);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let c2 = client.clone();
        let then = move |v: Value| -> futures::future::BoxFuture<'static, Res<()>> {
            Box::pin(plain_reconcile(c2.clone(), v))
        };
        let start = Instant::now();
        let created = create_all(
            &client,
            &kind_ar,
            "Plain",
            ns,
            a.crs,
            a.workers,
            Some(&then),
        )
        .await?;
        wait_all(&seen, a.crs, 600).await?;
        let secs = start.elapsed().as_secs_f64();
        report["plain"] = json!({"seconds": secs, "latency": latencies(&created, &seen)});
        eprintln!("plain kube-rs: {} CRs Ready in {secs:.2}s", a.crs);
    }

    if runs.contains(&"ork") {
        let ns = "bench-ork";
        namespace(&client, ns).await?;
        let kind_ar = ar("App", "apps");
        let rt = Runtime::start(&a.ork, &katalog_path, &kubeconfig, "bench-ork")?;
        // the runtime is up when it has the Lease and listed: a first CR goes Ready
        let seen = watch_ready(&client, &kind_ar, ns);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = rt.peak_rss_mib();
        let start = Instant::now();
        let created = create_all(&client, &kind_ar, "App", ns, a.crs, a.workers, None).await?;
        wait_all(&seen, a.crs, 600).await?;
        let secs = start.elapsed().as_secs_f64();
        // keep watching them a little: the resync and the children's watch events
        tokio::time::sleep(Duration::from_secs(5)).await;
        // one CR at a time on the idle runtime: write to Ready without a queue in front
        let mut single = HashMap::new();
        for i in a.crs..a.crs + 50 {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kind_ar);
            let obj: DynamicObject = serde_json::from_value(cr("App", ns, i)).map_err(e)?;
            let t = Instant::now();
            api.create(&PostParams::default(), &obj).await.map_err(e)?;
            single.insert(format!("app-{i:05}"), t);
            wait_all(&seen, i + 1, 60).await?;
        }
        let peak = rt.peak_rss_mib();
        let cpu = rt.cpu_seconds();
        let cycles = rt.reconciles().await;
        let audit = audit_children(&client, ns, a.crs).await?;
        rt.kill().await;
        report["ork"] = json!({"seconds": secs, "latency": latencies(&created, &seen),
            "latency_one_at_a_time": latencies(&single, &seen),
            "peak_rss_mib": peak, "idle_rss_mib": idle, "cpu_seconds": cpu, "cycles": cycles,
            "children": audit});
        eprintln!(
            "ork run: {} CRs Ready in {secs:.2}s, peak RSS {peak:.1} MiB",
            a.crs
        );
        // leave the namespace's CRs to the garbage collector
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kind_ar);
        let _ = api
            .delete_collection(&Default::default(), &ListParams::default())
            .await;
    }

    if runs.contains(&"kill") {
        let ns = "bench-kill";
        namespace(&client, ns).await?;
        let kind_ar = ar("App", "apps");
        let seen = watch_ready(&client, &kind_ar, ns);
        let rt = Runtime::start(&a.ork, &katalog_path, &kubeconfig, "bench-kill-1")?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let start = Instant::now();
        let creating = {
            let client = client.clone();
            let kind_ar = kind_ar.clone();
            let (n, w) = (a.crs, a.workers);
            tokio::spawn(async move { create_all(&client, &kind_ar, "App", ns, n, w, None).await })
        };
        while count(&seen) < a.kill_at.min(a.crs) {
            if start.elapsed() > Duration::from_secs(300) {
                return Err("kill run: too slow to reach the kill point".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let at = count(&seen);
        rt.kill().await;
        let killed = Instant::now();
        let rt2 = Runtime::start(&a.ork, &katalog_path, &kubeconfig, "bench-kill-2")?;
        creating.await.map_err(e)??;
        wait_all(&seen, a.crs, 600).await?;
        let converged = killed.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let audit = audit_children(&client, ns, a.crs).await?;
        rt2.kill().await;
        report["kill"] = json!({"killed_after_ready": at, "converged_seconds_after_kill": converged,
            "children": audit});
        eprintln!(
            "kill -9 at {at} Ready; all {} Ready {converged:.2}s after the kill; {audit}",
            a.crs
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(x) => {
            eprintln!("{x}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(a)) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(x) => {
            eprintln!("ork-runbench: {x}");
            std::process::ExitCode::FAILURE
        }
    }
}
