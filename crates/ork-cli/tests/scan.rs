//! `ork scan` over the fixture corpora (docs/checks.md §6–§9).

mod common;

use common::{ork, repo, run};

fn scan(args: &[&str]) -> (i32, String, String) {
    let mut c = ork();
    c.current_dir(repo()).arg("scan").args(args);
    run(c)
}

#[test]
fn a_hardened_corpus_yields_no_finding() {
    let (code, out, err) = scan(&["tests/fixtures/scan/clean"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 file, 6 objects, 0 findings"), "{out}");
}

#[test]
fn the_vulnerable_corpus_yields_exactly_the_golden_findings() {
    let (code, out, err) = scan(&["tests/fixtures/scan/vulnerable", "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with("{\"version\":1,\"findings\":[{\"check\":"),
        "keys in the documented order: {out}"
    );
    let got: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let path = repo().join("tests/fixtures/scan/vulnerable.golden.json");
    if std::env::var_os("ORK_BLESS").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&got).unwrap_or_default() + "\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(got, want, "ork scan differs from {}", path.display());
    // the literal secrets never reach the output
    assert!(
        !out.contains("hunter2") && !out.contains("AKIAIOSFODNN7EXAMPLE"),
        "{out}"
    );
}

#[test]
fn suppression_needs_a_reason_and_a_known_id() {
    let (_, out, _) = scan(&[
        "tests/fixtures/scan/vulnerable/workloads.yaml",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let checks: Vec<&str> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["check"].as_str())
        .collect();
    assert!(
        !checks.contains(&"privileged-port"),
        "a reasoned suppression hides the check"
    );
    assert!(
        checks.contains(&"low-uid"),
        "an empty reason voids the suppression"
    );
    assert_eq!(
        checks
            .iter()
            .filter(|c| **c == "suppression-without-reason")
            .count(),
        1
    );
    assert_eq!(
        checks
            .iter()
            .filter(|c| **c == "suppression-unknown-check")
            .count(),
        1
    );
}

#[test]
fn min_severity_and_skip_filter_and_set_the_exit_code() {
    let (code, out, _) = scan(&[
        "tests/fixtures/scan/vulnerable/rbac.yaml",
        "--min-severity",
        "critical",
        "--skip",
        "rbac-full-wildcard,rbac-escalate,rbac-bind,rbac-cluster-admin-sa,rbac-anonymous-binding",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 findings"), "{out}");
    let (code, _, err) = scan(&["tests/fixtures/scan/clean", "--skip", "no-such-check"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = scan(&["tests/fixtures/scan/clean", "--min-severity", "severe"]);
    assert_eq!(code, 2);
}

#[test]
fn lists_stdin_lines_and_bad_input() {
    let (_, out, _) = scan(&[
        "tests/fixtures/scan/vulnerable/workloads.yaml",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let svc = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["check"] == "service-external-ips")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        svc["line"], 40,
        "a List item's finding points into the item: {svc}"
    );
    let mut c = ork();
    c.arg("scan")
        .arg("-")
        .arg("-o")
        .arg("json")
        .stdin(std::process::Stdio::piped());
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\", \"namespace\": \"a\"}, \"spec\": {\"type\": \"NodePort\"}}\n");
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"file\":\"<stdin>\"") && text.contains("service-nodeport"),
        "{text}"
    );
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dup = tmp.path().join("dup.yaml");
    std::fs::write(
        &dup,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("scan").arg(&dup);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "a duplicate key is bad input: {err}");
    assert!(err.contains(":4:1: duplicate key \"metadata\""), "{err}");
}

#[test]
fn katalog_children_are_scanned_at_their_template_lines() {
    // the example scans clean; a second CR with an untagged image gives its Deployment a finding
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cr = tmp.path().join("untagged.yaml");
    std::fs::write(
        &cr,
        "{apiVersion: demo.orkestra.io/v1alpha1, kind: Website, metadata: {name: untagged, namespace: web}, spec: {image: nginx, replicas: 1, port: 8080}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cr = cr.display().to_string();
    let (_, out, _) = scan(&["examples/website/katalog.yaml", "--cr", &cr, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        findings
            .iter()
            .map(|f| (f["check"].as_str(), f["name"].as_str()))
            .collect::<Vec<_>>(),
        vec![(Some("image-latest-tag"), Some("untagged"))],
        "{out}"
    );
    // the rendered Deployment comes from onCreate.deployments[0] (the line after
    // `deployments:`) and carries the hardened profile: no privilege, root or seccomp finding
    let text = std::fs::read_to_string(common::repo().join("examples/website/katalog.yaml"))
        .unwrap_or_default();
    let entry_line = text
        .lines()
        .position(|l| l.trim() == "deployments:")
        .map(|i| i as u64 + 2)
        .unwrap_or_default();
    let deploy: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["kind"] == "Deployment")
        .collect();
    assert!(
        deploy
            .iter()
            .all(|f| f["line"] == entry_line && f["file"] == "examples/website/katalog.yaml"),
        "{entry_line}: {deploy:?}"
    );
    for hardened in [
        "privileged-container",
        "run-as-root",
        "seccomp-profile-missing",
        "capabilities-not-dropped",
        "writable-root-filesystem",
    ] {
        assert!(
            !deploy.iter().any(|f| f["check"] == hardened),
            "{hardened}: {deploy:?}"
        );
    }
    // ServiceAccount, NetworkPolicy, Deployment and Service of each of the two CRs
    assert_eq!(v["summary"]["objects"], 8);
}

#[test]
fn output_is_deterministic() {
    let a = scan(&["tests/fixtures/scan", "-o", "json"]).1;
    let b = scan(&["tests/fixtures/scan", "-o", "json"]).1;
    assert_eq!(a, b);
}

#[test]
fn junit_has_failures_and_skipped_suppressions() {
    let (code, out, _) = scan(&[
        "tests/fixtures/scan/vulnerable/workloads.yaml",
        "-o",
        "junit",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ork scan\""
        ),
        "{out}"
    );
    assert!(out.contains("<failure type=\"critical\" message=\"spec.template.spec.initContainers[setup].securityContext.privileged is true\">"), "{out}");
    assert!(
        out.contains("<skipped message=\"suppressed: the image binds 80; tracked in OPS-12\"/>"),
        "{out}"
    );
}

#[test]
fn a_katalog_without_crs_is_scanned_with_a_cr_from_the_schema_defaults() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src =
        std::fs::read_to_string(repo().join("examples/website/katalog.yaml")).unwrap_or_default();
    std::fs::write(
        tmp.path().join("katalog.yaml"),
        src.replace("      crFiles: [./cr.yaml]\n", ""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        repo().join("examples/website/crd.yaml"),
        tmp.path().join("crd.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("scan")
        .arg(tmp.path().join("katalog.yaml"))
        .args(["-o", "json"]);
    let (_, out, err) = run(c);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(v["summary"]["objects"], 4, "{out}");
    assert!(
        v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["name"] == "example"),
        "{out}"
    );
}

#[test]
fn a_katalog_cr_that_does_not_render_is_a_finding_not_a_silent_skip() {
    // the platform example with its invalid CR: validation denies it, so no child renders
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src =
        std::fs::read_to_string(repo().join("examples/platform/katalog.yaml")).unwrap_or_default();
    std::fs::write(tmp.path().join("katalog.yaml"), src).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        repo().join("examples/platform/cr-valid.yaml"),
        tmp.path().join("cr-valid.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("scan")
        .arg(tmp.path().join("katalog.yaml"))
        .arg("--cr")
        .arg(repo().join("examples/platform/cr-bad.yaml"))
        .args(["-o", "json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let failed: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["check"] == "katalog-render-failed")
        .collect();
    assert_eq!(failed.len(), 1, "{out}");
    let f = failed[0];
    assert_eq!(
        (f["kind"].as_str(), f["name"].as_str()),
        (Some("Platform"), Some("legacy"))
    );
    assert_eq!(f["severity"], "high");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("Ready=False ValidationFailed")),
        "{f}"
    );
}

/// A List of 20,000 objects as `kubectl get -o json` and `-o yaml` print it (`items` before
/// `kind`), read item by item within an address space of 1 GiB: ConfigMaps in `default` (one
/// low finding each) and NodePort Services (one medium each).
#[test]
fn a_list_of_20000_objects_is_scanned_item_by_item_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let n = 20_000;
    let item = |i: usize| {
        if i.is_multiple_of(2) {
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i}"), "namespace": "default"}, "data": {"k": "v"}})
        } else {
            serde_json::json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("svc-{i}"), "namespace": "a"},
                "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
        }
    };
    let items: Vec<serde_json::Value> = (0..n).map(item).collect();
    let list = serde_json::json!({"apiVersion": "v1", "items": items, "kind": "List",
        "metadata": {"resourceVersion": ""}});
    let json = serde_json::to_string_pretty(&list).unwrap_or_default();
    std::fs::write(tmp.path().join("list.json"), json).unwrap_or_else(|e| panic!("{e}"));
    let mut yaml = String::from("apiVersion: v1\nitems:\n");
    for v in &items {
        yaml.push_str(&format!("- {v}\n"));
    }
    yaml.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
    std::fs::write(tmp.path().join("list.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    for file in ["list.json", "list.yaml"] {
        let run = common::ork_bounded(tmp.path(), &["scan", file, "-o", "json"], None);
        assert_eq!(run.code, 1, "{file}: {}", run.err);
        let v: serde_json::Value = serde_json::from_str(&run.out).unwrap_or_default();
        assert_eq!(
            v["summary"],
            serde_json::json!({"objects": n, "findings": n,
                "by_severity": {"critical": 0, "high": 0, "medium": n / 2, "low": n / 2}}),
            "{file}"
        );
        let first = &v["findings"][0];
        assert_eq!(
            (first["name"].as_str(), first["file"].as_str()),
            (Some("cm-0"), Some(file))
        );
    }
}

/// A document that is not a List but has a top-level `items` is one object, checked whole:
/// its items are a field like any other, never objects of their own, even when other
/// documents of the file are Lists (read item by item) and `kind` comes after `items`.
#[test]
fn top_level_items_of_a_non_list_are_not_objects() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = tmp.path().join("inventory.yaml");
    std::fs::write(
        &file,
        "apiVersion: example.io/v1\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: inner, namespace: a}\n  spec: {type: NodePort}\nkind: Inventory\nmetadata: {name: inv, namespace: default}\n---\napiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: listed, namespace: a}\n  spec: {type: NodePort}\nkind: List\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("scan").arg(&file).arg("-o").arg("json");
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let found: Vec<(String, String, u64)> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["check"].as_str().unwrap_or("").to_string(),
                format!(
                    "{}/{}",
                    f["kind"].as_str().unwrap_or(""),
                    f["name"].as_str().unwrap_or("")
                ),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "default-namespace".to_string(),
                "Inventory/inv".to_string(),
                8
            ),
            (
                "service-nodeport".to_string(),
                "Service/listed".to_string(),
                15
            ),
        ]
    );
    assert_eq!(v["summary"]["objects"], 2);
}

/// What ork ships scans clean (docs/checks.md §7): every example (its Katalog's rendered
/// children, its CRs and golden files) and every file both `ork init` packs write. A finding
/// that is right to keep carries a reasoned suppression in its file; anything else that
/// appears fails here.
#[test]
fn the_examples_and_the_init_packs_scan_clean() {
    fn clean(path: &std::path::Path) {
        let mut c = ork();
        c.arg("scan").arg(path).args(["-o", "json"]);
        let (code, out, err) = run(c);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{}: {e}: {out}{err}", path.display()));
        assert_eq!(
            (code, &v["findings"]),
            (0, &serde_json::json!([])),
            "{}: {err}",
            path.display()
        );
        assert!(
            v["summary"]["objects"].as_u64().unwrap_or(0) > 0,
            "{}: nothing was scanned",
            path.display()
        );
    }
    let examples = repo().join("examples");
    clean(&examples);
    // each Katalog on its own too: the set-level NetworkPolicy check sees only its own children
    for e in std::fs::read_dir(&examples)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let k = e.path().join("katalog.yaml");
        if k.is_file() {
            clean(&k);
        }
    }
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for pack in ["basic", "security"] {
        let dir = tmp.path().join(pack);
        let mut c = ork();
        c.args(["init", "--pack", pack]).arg(&dir);
        let (code, _, err) = run(c);
        assert_eq!(code, 0, "{err}");
        clean(&dir);
    }
    for scenario in [
        "admission",
        "deletion-protection",
        "namespace-protection",
        "gateway-only",
        "pod-security",
        "rbac",
    ] {
        clean(
            &tmp.path()
                .join("security/security")
                .join(scenario)
                .join("katalog.yaml"),
        );
    }
}
