//! Offline commands neither read a kubeconfig nor open a socket (docs/cli.md §2, docs/security.md §2.1).
//!
//! Three independent guards, all required:
//! - the command runs in a fresh network namespace (`unshare -n`: no interface is up);
//! - `strace` records every socket/connect/open call: none may be a socket, and no open may
//!   touch the kubeconfig;
//! - KUBECONFIG and ~/.kube/config are FIFOs: opening one would block forever, so the
//!   command would time out instead of finishing.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::repo;

fn offline_invocations(tmp: &Path) -> Vec<Vec<String>> {
    let ex = repo().join("examples/website");
    let s = |p: &Path| p.display().to_string();
    vec![
        vec!["validate".into(), "-f".into(), s(&ex.join("katalog.yaml"))],
        // an E2E file: its Katalog, CRDs, CRs and setup are read and checked, offline
        vec![
            "validate".into(),
            "-f".into(),
            s(&repo().join("crates/ork-scenario/tests/fixtures/deletion-protection/e2e.yaml")),
        ],
        vec![
            "validate".into(),
            "-o".into(),
            "json".into(),
            "-f".into(),
            s(&repo().join("examples/protected-apps/katalog.yaml")),
        ],
        vec![
            "validate".into(),
            "--full".into(),
            "-f".into(),
            s(&repo().join("examples/protected-apps/katalog.yaml")),
        ],
        vec![
            "generate".into(),
            "rbac".into(),
            "-f".into(),
            s(&repo().join("examples/protected-apps/katalog.yaml")),
        ],
        vec![
            "generate".into(),
            "rbac".into(),
            "--for".into(),
            "runtime".into(),
            "-n".into(),
            "ork-ops".into(),
            "-f".into(),
            s(&ex.join("katalog.yaml")),
            "-o".into(),
            s(&tmp.join("rbac.yaml")),
        ],
        vec![
            "generate".into(),
            "webhooks".into(),
            "-f".into(),
            s(&repo().join("examples/protected-apps/katalog.yaml")),
        ],
        vec![
            "generate".into(),
            "crd".into(),
            "-f".into(),
            s(&ex.join("katalog.yaml")),
        ],
        vec![
            "generate".into(),
            "crd".into(),
            "-f".into(),
            s(&repo().join("examples/platform/katalog.yaml")),
        ],
        vec![
            "generate".into(),
            "bundle".into(),
            "-f".into(),
            s(&repo().join("examples/protected-apps/katalog.yaml")),
            "-o".into(),
            format!("{}/", s(&tmp.join("bundle"))),
        ],
        vec![
            "generate".into(),
            "bundle".into(),
            "-f".into(),
            s(&repo().join("examples/protected-apps/katalog.yaml")),
            "--helm".into(),
            s(&tmp.join("chart")),
        ],
        // the bundle just written, planned against the same Katalog and a different one
        vec![
            "plan".into(),
            "--bundle".into(),
            s(&tmp.join("bundle")),
            "-f".into(),
            s(&repo().join("examples/protected-apps/katalog.yaml")),
        ],
        vec![
            "plan".into(),
            "--bundle".into(),
            s(&tmp.join("bundle")),
            "-f".into(),
            s(&ex.join("katalog.yaml")),
            "-o".into(),
            "json".into(),
        ],
        vec![
            "template".into(),
            "-f".into(),
            s(&ex.join("katalog.yaml")),
            "--cr".into(),
            s(&ex.join("cr.yaml")),
        ],
        vec![
            "gate".into(),
            "check".into(),
            "-f".into(),
            s(&repo().join("examples/platform/katalog.yaml")),
            "--cr".into(),
            s(&repo().join("examples/platform/cr-bad.yaml")),
        ],
        vec![
            "gate".into(),
            "check".into(),
            "-f".into(),
            s(&repo().join("tests/fixtures/decisions/katalogs/protection.yaml")),
            "--cr".into(),
            s(&repo().join("examples/protected-apps/cr.yaml")),
            "--operation".into(),
            "DELETE".into(),
            "-o".into(),
            "json".into(),
        ],
        vec!["simulate".into(), "-f".into(), s(&repo().join("examples"))],
        vec![
            "simulate".into(),
            s(&repo().join("crates/ork-simulate/tests/fixtures/deletion-protection")),
        ],
        vec![
            "simulate".into(),
            "-f".into(),
            s(&ex.join("katalog.yaml")),
            "--cr".into(),
            s(&ex.join("cr.yaml")),
            "-o".into(),
            "json".into(),
        ],
        vec![
            "simulate".into(),
            "init".into(),
            "-f".into(),
            s(&ex.join("katalog.yaml")),
            "--cr".into(),
            s(&ex.join("cr.yaml")),
            "--out".into(),
            s(&tmp.join("simulate.yaml")),
        ],
        vec!["notes".into()],
        vec!["notes".into(), "toList".into()],
        vec![
            "notes".into(),
            "--fields".into(),
            "operatorBox.onCreate.deployments".into(),
        ],
        vec!["init".into(), s(&tmp.join("init"))],
        vec![
            "init".into(),
            "--pack".into(),
            "security".into(),
            s(&tmp.join("init")),
        ],
        vec!["scan".into(), s(&repo().join("tests/fixtures/scan/clean"))],
        vec![
            "rbac".into(),
            "who-can".into(),
            "get".into(),
            "secrets".into(),
            "-f".into(),
            s(&repo().join("tests/fixtures/rbac")),
        ],
        vec![
            "rbac".into(),
            "audit".into(),
            "-f".into(),
            s(&repo().join("tests/fixtures/rbac")),
        ],
        vec![
            "scan".into(),
            "-o".into(),
            "json".into(),
            s(&ex.join("katalog.yaml")),
        ],
    ]
}

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo")
        .arg(p)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "mkfifo {}", p.display());
}

fn have(tool: &str, probe: &[&str]) -> bool {
    Command::new(tool)
        .args(probe)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn offline_commands_open_no_socket_and_no_kubeconfig() {
    assert!(
        have("unshare", &["-n", "true"]) || have("unshare", &["-rn", "true"]),
        "unshare is required for this test (util-linux)"
    );
    assert!(
        have("strace", &["-o", "/dev/null", "true"]),
        "strace is required for this test (apt-get install strace)"
    );
    let unshare_flag = if have("unshare", &["-n", "true"]) {
        "-n"
    } else {
        "-rn"
    };
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".kube")).unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = tmp.path().join("kubeconfig");
    mkfifo(&kubeconfig);
    mkfifo(&home.join(".kube/config"));
    for (i, args) in offline_invocations(tmp.path()).into_iter().enumerate() {
        let trace = tmp.path().join(format!("trace-{i}.log"));
        let mut child = Command::new("unshare")
            .arg(unshare_flag)
            .arg("strace")
            .args([
                "-f",
                "-qq",
                "-e",
                "trace=socket,connect,open,openat,openat2",
                "-o",
            ])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_ork"))
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", &home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("ork {args:?} did not finish: it is blocked opening a kubeconfig FIFO");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // 0 or 1 are verdicts (scan reports findings with 1); 2 or a signal is a failure
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "ork {args:?} failed offline: {status}"
        );
        let log = std::fs::read_to_string(&trace).unwrap_or_default();
        let sockets: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("socket(") || l.contains("connect("))
            .collect();
        assert!(
            sockets.is_empty(),
            "ork {args:?} used sockets:\n{}",
            sockets.join("\n")
        );
        let kube: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("kubeconfig") || l.contains(".kube"))
            .collect();
        assert!(
            kube.is_empty(),
            "ork {args:?} touched a kubeconfig:\n{}",
            kube.join("\n")
        );
        assert!(
            log.lines().any(|l| l.contains("open")),
            "strace recorded nothing for {args:?}: the guard is not working"
        );
    }
}
