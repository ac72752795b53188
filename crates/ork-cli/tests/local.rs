//! `ork local up/status/env/down` on the real control plane (needs the binaries that
//! scripts/control-plane/build caches; .ci/run builds them first).

mod common;

use common::{ork, run};

/// Runs `ork local down` however the test ends: `up` leaves processes running by design.
struct Down(std::path::PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = ork().args(["local", "down", "--dir"]).arg(&self.0).output();
    }
}

#[test]
fn local_up_status_env_down() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("local");
    let _cleanup = Down(dir.clone());
    let mut up = ork();
    up.args(["local", "up", "--dir"]).arg(&dir);
    let (code, out, err) = run(up);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "export KUBECONFIG={}",
            dir.join("kubeconfig").display()
        )),
        "{out}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap_or_default())
            .unwrap_or_default();
    let pids: Vec<u64> = state["pids"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p[1].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(pids.len(), 3, "{state}");

    let mut again = ork();
    again.args(["local", "up", "--dir"]).arg(&dir);
    let (code, out, _) = run(again);
    assert_eq!(code, 0);
    assert!(out.contains("already running"), "{out}");

    let mut status = ork();
    status.args(["local", "status", "--dir"]).arg(&dir);
    let (code, out, err) = run(status);
    if code != 0 {
        let logs: Vec<String> = ["etcd", "kube-apiserver", "kube-controller-manager"]
            .iter()
            .map(|c| {
                let text =
                    std::fs::read_to_string(dir.join(format!("{c}.log"))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "--- {c}.log (tail)\n{}",
                    lines[lines.len().saturating_sub(8)..].join("\n")
                )
            })
            .collect();
        panic!(
            "ork local status exited {code}:\n{out}{err}\n{}",
            logs.join("\n")
        );
    }
    assert!(out.contains("kube-apiserver v1.37"), "{out}");

    let mut env = ork();
    env.args(["local", "env", "--dir"]).arg(&dir);
    assert!(run(env).1.starts_with("export KUBECONFIG="));

    let mut down = ork();
    down.args(["local", "down", "--dir"]).arg(&dir);
    let (code, out, err) = run(down);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!dir.exists());
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "process {pid} survived `ork local down`: {stat}"
        );
    }
}
