//! `ork run` as a process against the real control plane: two replicas and one Lease, a
//! kill -9 of the leader and the standby taking over, `/readyz` and `/metrics`, SIGTERM
//! releasing the Lease, and an invalid Katalog refused before any request.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use common::{ork, repo, run};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

struct Replica {
    child: Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica(kubeconfig: &std::path::Path, name: &str, apply: bool) -> Replica {
    let port = free_port();
    let mut c = ork();
    c.args(["run", "-f"])
        .arg(repo().join("examples/website/katalog.yaml"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "--health-addr",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("POD_NAME", name)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !apply {
        c.arg("--no-apply");
    }
    let child = c.spawn().unwrap_or_else(|e| panic!("{e}"));
    Replica { child, port }
}

/// GET on the health port: (status, body), or None while it does not answer.
fn probe(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: not true after {secs}s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

fn leads(r: &Replica) -> bool {
    probe(r.port, "/readyz")
        .is_some_and(|(s, b)| s == 200 && b.starts_with("leader") && b.contains("website: healthy"))
}

/// `ork run --local`: a control plane of its own, the CRDs and CRs applied, reconciled; an
/// invalid edit of the Katalog rejected with the last good one still running, a valid one
/// applied; everything stopped on SIGTERM.
#[test]
fn run_local_brings_its_own_control_plane_reloads_and_stops_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = dir.path().join("local");
    for f in ["katalog.yaml", "crd.yaml", "cr.yaml"] {
        std::fs::copy(
            repo().join("examples/protected-apps").join(f),
            dir.path().join(f),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let katalog = dir.path().join("katalog.yaml");
    let good = std::fs::read_to_string(&katalog).unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let mut child = ork()
        .args(["run", "--local", "-f"])
        .arg(&katalog)
        .args([
            "--health-addr",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("ORK_LOCAL_DIR", &state)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let up = std::panic::catch_unwind(|| {
        wait_until("ork run --local leads with app healthy", 90, || {
            probe(port, "/readyz").is_some_and(|(s, b)| s == 200 && b.contains("app: healthy"))
        })
    });
    // the example CR was applied (its namespace created) and reconciled: its ConfigMap exists
    // in the local cluster
    let kubeconfig = state.join("kubeconfig");
    let reconciled = up.is_ok() && {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let client = ork_testenv::client_for(&kubeconfig)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "apps");
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if cms.get_opt("demo-config").await.ok().flatten().is_some() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            false
        })
    };
    // hot reload: an invalid Katalog is rejected and the entries keep running
    let metric = |result: &str| {
        probe(port, "/metrics").is_some_and(|(_, m)| {
            m.contains(&format!(
                "ork_katalog_reload_total{{result=\"{result}\"}} 1"
            ))
        })
    };
    let healthy =
        || probe(port, "/readyz").is_some_and(|(s, b)| s == 200 && b.contains("app: healthy"));
    let rejected = up.is_ok() && reconciled && {
        std::fs::write(&katalog, good.replace("configMaps:", "configMapz:"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::panic::catch_unwind(|| wait_until("rejected", 20, || metric("rejected"))).is_ok()
            && healthy()
    };
    let applied = rejected && {
        std::fs::write(
            &katalog,
            good.replace("greeting:", "greeting2: hi, greeting:"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::panic::catch_unwind(|| {
            wait_until("applied and healthy", 30, || metric("applied") && healthy())
        })
        .is_ok()
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(up.is_ok(), "never ready: {err}");
    assert!(reconciled, "demo-config never appeared: {err}");
    assert!(
        rejected,
        "the invalid Katalog was not rejected with the old one kept: {err}"
    );
    assert!(applied, "the valid Katalog was not applied: {err}");
    assert!(status.success(), "exit {status:?}: {err}");
    // the control plane it started is gone with it
    let apiserver_left = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .any(|c| String::from_utf8_lossy(&c).contains(&*state.to_string_lossy()));
    assert!(
        !apiserver_left,
        "a control plane process of {} survived",
        state.display()
    );
}

#[test]
fn an_invalid_katalog_exits_2_before_any_request() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let k = dir.path().join("k.yaml");
    std::fs::write(&k, "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: x}\nspec: {crds: {a: {replica: 1}}}\n")
        .unwrap_or_else(|e| panic!("{e}"));
    // a kubeconfig that would fail loudly if it were read
    let mut c = ork();
    c.args(["run", "-f"])
        .arg(&k)
        .args(["--kubeconfig", "/nonexistent/kubeconfig"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown field"), "{err}");
    assert!(
        !err.contains("nonexistent"),
        "the kubeconfig was read: {err}"
    );
}

#[test]
fn two_replicas_one_leader_failover_after_kill_9_and_sigterm_releases() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let cp = rt
        .block_on(ork_testenv::ControlPlane::start(
            ork_testenv::Options::default(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let client = rt.block_on(cp.client()).unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({"metadata": {"name": "orkestra-system"}}))
                .unwrap_or_else(|e| panic!("{e}"));
        let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await;
    });
    // the first applies the CRD and the example CR (developer mode); the second only runs
    let a = replica(&cp.kubeconfig, "replica-a", true);
    wait_until("replica-a leads with website healthy", 60, || leads(&a));
    let b = replica(&cp.kubeconfig, "replica-b", false);
    wait_until("replica-b is up", 30, || {
        probe(b.port, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    // a standby is ready too, and says it is a standby
    wait_until("replica-b ready as standby", 30, || {
        probe(b.port, "/readyz").is_some_and(|(s, body)| s == 200 && body.starts_with("standby"))
    });
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("demo.orkestra.io", "v1alpha1", "Website"),
        "websites",
    );
    // the example's namespace, which the developer `ork run` created to apply its CR
    let sites: Api<DynamicObject> = Api::namespaced_with(client.clone(), "web", &ar);
    let ready = |name: &str| {
        rt.block_on(sites.get_opt(name))
            .ok()
            .flatten()
            .is_some_and(|o| {
                o.data
                    .pointer("/status/conditions")
                    .and_then(|c| c.as_array())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
    };
    wait_until("the example CR Ready", 30, || ready("my-site"));
    // metrics of the leader. A CR's status is written inside its reconcile and the counters
    // when the reconcile returns, so a Ready CR may be seen a moment before its count.
    let needles = [
        "ork_reconcile_total{crd=\"website\",result=\"success\"}",
        "ork_crd_health{crd=\"website\",state=\"healthy\"} 1",
        "ork_reconcile_duration_seconds_count{crd=\"website\"}",
        "ork_queue_depth{crd=\"website\"}",
    ];
    let counted = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (status, text) = probe(a.port, "/metrics").unwrap_or_default();
        assert_eq!(status, 200);
        if needles.iter().all(|n| text.contains(n)) || Instant::now() > counted {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for needle in needles {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }
    // kill -9 of the leader: the standby takes the Lease and reconciles within 15 s
    let mut a = a;
    let killed = Instant::now();
    let _ = a.child.kill();
    let _ = a.child.wait();
    let cr = json!({"apiVersion": "demo.orkestra.io/v1alpha1", "kind": "Website",
        "metadata": {"name": "after-failover", "namespace": "web"},
        "spec": {"image": "nginxinc/nginx-unprivileged:1.25", "replicas": 1, "port": 8080}});
    let obj: DynamicObject = serde_json::from_value(cr).unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(sites.create(&PostParams::default(), &obj))
        .unwrap_or_else(|e| panic!("{e}"));
    wait_until("the standby reconciles after the kill", 15, || {
        ready("after-failover")
    });
    let took = killed.elapsed();
    println!(
        "failover: the new CR was Ready {} ms after kill -9 of the leader",
        took.as_millis()
    );
    assert!(leads(&b), "replica-b does not report itself the leader");
    let leases: Api<Lease> = Api::namespaced(client.clone(), "orkestra-system");
    let holder = |l: &Lease| l.spec.as_ref().and_then(|s| s.holder_identity.clone());
    let lease = rt
        .block_on(leases.get("orkestra-runtime"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holder(&lease).as_deref(), Some("replica-b"));
    // SIGTERM: exit 0 and the Lease released at once
    let mut b = b;
    let _ = Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status();
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(s)) = b.child.try_wait() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = b.child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "exit {status:?}: {err}");
    let lease = rt
        .block_on(leases.get("orkestra-runtime"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holder(&lease), None, "the Lease was not released");
    assert!(!err.contains("my-site-secret"), "stderr: {err}");
    drop(cp);
}
