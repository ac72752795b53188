//! `ork e2e` end to end (docs/e2e.md): the security pack on a fresh local control plane is all
//! green; the same protections switched off make the matching expectations fail, and the report
//! names the step and why; a bad spec is exit 2 before any request; no cluster flag is exit 2.
//!
//! `cargo test -p ork-cli --test e2e_cluster` (each `--local` run starts its own control plane;
//! the binaries are cached under ~/.cache/ork).

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{ork, repo, run};
use serde_json::Value;

fn pack() -> PathBuf {
    repo().join("crates/ork-cli/packs/security")
}

/// The documented deletion-protection example (docs/e2e.md §6).
fn example() -> PathBuf {
    repo().join("crates/ork-scenario/tests/fixtures/deletion-protection")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn the_security_pack_passes_on_a_local_control_plane() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let junit = dir.path().join("report.xml");
    let mut c = ork();
    c.arg("e2e")
        .arg(pack())
        .arg("--local")
        .arg("--json")
        .arg("--junit")
        .arg(&junit);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "the pack failed:\n{err}");
    let report = json(&out);
    assert_eq!(report["passed"], true);
    let names: Vec<&str> = report["scenarios"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    for s in [
        "admission",
        "deletion-protection",
        "namespace-protection",
        "gateway-only",
        "pod-security",
        "rbac",
    ] {
        assert!(names.contains(&s), "scenario {s} did not run: {names:?}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    // every request step of the pack was observed allowed or denied, as it expected
    let steps: usize = report["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["expect"].as_array().cloned().unwrap_or_default())
        .flat_map(|x| x["checks"].as_array().cloned().unwrap_or_default())
        .filter(|c| c.get("observed").is_some())
        .count();
    assert!(steps >= 30, "only {steps} request steps in the pack");
    simulate_agrees(&report);
}

/// `ork simulate` of the same pack gives every step the verdict the real run observed.
fn simulate_agrees(report: &Value) {
    let mut c = ork();
    c.arg("simulate").arg(pack()).arg("-o").arg("json");
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "ork simulate of the pack: {err}");
    let simulated = json(&out);
    let verdicts: Vec<&Value> = simulated
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| {
            s.as_array()
                .map(|a| a.iter().collect::<Vec<_>>())
                .unwrap_or_else(|| vec![s])
        })
        .filter(|v| v["verdict"] == "allowed" || v["verdict"] == "denied")
        .collect();
    let mut compared = std::collections::BTreeSet::new();
    for v in &verdicts {
        let real = report["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"] == v["scenario"])
            .flat_map(|s| s["expect"].as_array().cloned().unwrap_or_default())
            .filter(|x| x["name"] == v["expect"])
            .flat_map(|x| x["checks"].as_array().cloned().unwrap_or_default())
            .find(|c| c["step"] == v["step"]);
        let Some(real) = real else {
            panic!("simulated step has no real counterpart: {v}");
        };
        assert_eq!(
            real["observed"],
            v["verdict"],
            "simulate and the real run disagree on {} › {} › step {} ({}): real {}, simulated {} ({})",
            v["scenario"],
            v["expect"],
            v["step"],
            v["action"],
            real["detail"],
            v["verdict"],
            v["reason"]
        );
        compared.insert((
            v["scenario"].to_string(),
            v["expect"].to_string(),
            v["step"].to_string(),
        ));
    }
    let real_steps = report["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["expect"].as_array().cloned().unwrap_or_default())
        .flat_map(|x| x["checks"].as_array().cloned().unwrap_or_default())
        .filter(|c| c.get("observed").is_some())
        .count();
    let mut missing = Vec::new();
    for sc in report["scenarios"].as_array().into_iter().flatten() {
        for x in sc["expect"].as_array().into_iter().flatten() {
            for c in x["checks"].as_array().into_iter().flatten() {
                let key = (
                    sc["name"].to_string(),
                    x["name"].to_string(),
                    c["step"].to_string(),
                );
                if c.get("observed").is_some() && !compared.contains(&key) {
                    missing.push(format!("{key:?} {}", c["detail"]));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "steps simulate gave no verdict: {missing:#?}"
    );
    assert_eq!(
        compared.len(),
        real_steps,
        "simulate gave {} verdicts for {real_steps} observed steps",
        compared.len()
    );
}

#[test]
fn with_protection_switched_off_the_matching_expectations_fail_and_say_why() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scenario = dir.path().join("deletion-protection");
    copy_dir(&example(), &scenario);
    let k = scenario.join("katalog.yaml");
    let text = std::fs::read_to_string(&k).unwrap_or_default();
    let off = text.replace(
        "security: {deletionProtection: {enabled: true, strictMode: true}}",
        "security: {deletionProtection: {enabled: false}}",
    );
    assert_ne!(text, off, "the fixture's security line moved");
    std::fs::write(&k, off).unwrap_or_else(|e| panic!("{e}"));
    // a mismatch is retried until the expectation's timeout: keep them short here
    let e2e = scenario.join("e2e.yaml");
    let text = std::fs::read_to_string(&e2e).unwrap_or_default();
    let short = text
        .replace("      timeout: 10s\n", "")
        .replace("    - name: ", "    - timeout: 5s\n      name: ");
    std::fs::write(&e2e, short).unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("e2e")
        .arg(&scenario)
        .arg("--local")
        .arg("--json")
        .arg("--timeout")
        .arg("3m");
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "expected a failing run:\n{err}");
    let report = json(&out);
    let failed: Vec<(String, String, String)> = report["scenarios"][0]["expect"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["status"] == "failed")
        .flat_map(|x| {
            let name = x["name"].as_str().unwrap_or_default().to_string();
            x["checks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c["status"] == "failed")
                .map(move |c| {
                    (
                        name.clone(),
                        c["detail"].as_str().unwrap_or_default().to_string(),
                        c["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
        })
        .collect();
    assert!(
        failed.iter().any(
            |(n, d, m)| n.starts_with("protected CR and labelled Secret")
                && d.contains("delete App default/demo as dev (dry-run) denied")
                && m.contains("expected denied, was allowed")
        ),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|(n, d, _)| n.starts_with("strict mode") && d.starts_with("patch App")),
        "{failed:#?}"
    );
    // the text report names the step and the reason
    assert!(err.contains("✗ expected denied, was allowed"), "{err}");
}

/// A kubeconfig whose server counts the connections it gets.
fn counting_server(dir: &Path) -> (PathBuf, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or_default();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            let mut s = s;
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
        }
    });
    let kc = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\n"
    );
    let p = dir.join("kubeconfig");
    std::fs::write(&p, kc).unwrap_or_else(|e| panic!("{e}"));
    (p, hits)
}

#[test]
fn a_bad_spec_is_exit_2_with_file_and_line_before_any_request() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (kubeconfig, hits) = counting_server(dir.path());
    let head = "apiVersion: orkestra.orkspace.io/v1\nkind: E2E\nmetadata: {name: t}\nspec:\n  katalog: ./katalog.yaml\n  crd: ./crd.yaml\n";
    let cases = [
        (
            "unknown key",
            format!("{head}  expect:\n    - name: a\n      stepz: []\n"),
            "e2e.yaml:9:7",
        ),
        (
            "bad step",
            format!(
                "{head}  expect:\n    - name: a\n      steps:\n        - {{delete: {{kind: ConfigMap, name: x}}, canI: {{verb: get, resource: pods, expect: yes}}}}\n"
            ),
            "e2e.yaml:10:",
        ),
        (
            "missing file",
            format!(
                "{}  expect: [{{name: a, steps: [{{apply: ./gone.yaml}}]}}]\n",
                head
            ),
            "gone.yaml",
        ),
    ];
    for (what, e2e, want) in cases {
        let s = dir.path().join(what.replace(' ', "-"));
        copy_dir(&example(), &s);
        std::fs::write(s.join("e2e.yaml"), e2e).unwrap_or_else(|e| panic!("{e}"));
        let mut c = ork();
        c.arg("e2e")
            .arg(s.join("e2e.yaml"))
            .arg("--kubeconfig")
            .arg(&kubeconfig);
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains(want), "{what}: wanted {want:?} in\n{err}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a bad spec reached the cluster"
    );
}

#[test]
fn no_cluster_flag_is_exit_2() {
    let mut c = ork();
    c.arg("e2e").arg(example());
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--local"), "{err}");
}

#[test]
fn validate_checks_an_e2e_file_and_what_it_references() {
    let mut c = ork();
    c.arg("validate").arg("-f").arg(example().join("e2e.yaml"));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("E2E, 1 scenario (deletion-protection)"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let s = dir.path().join("s");
    copy_dir(&example(), &s);
    std::fs::remove_file(s.join("setup.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("validate").arg("-f").arg(s.join("e2e.yaml"));
    let (code, _, err) = run(c);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("e2e.yaml:") && err.contains("setup.yaml"),
        "{err}"
    );
}
