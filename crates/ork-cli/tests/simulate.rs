//! `ork simulate` on the command line (docs/cli.md §5): exit codes 0/1/2, the text and JSON
//! reports, strict decoding errors at file:line, and `ork simulate init` round-tripping.

mod common;

use common::{ork, repo, run};
use serde_json::Value;

#[test]
fn the_examples_pass_and_a_katalog_run_prints_the_spec_format() {
    let mut c = ork();
    c.arg("simulate").arg("-f").arg(repo().join("examples"));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("\nPASS\n").count(), 4, "{out}");
    assert!(
        out.contains("Simulating website/my-site (cycles: 5)"),
        "{out}"
    );
    assert!(out.contains("  + serviceaccounts/my-site-sa\n"), "{out}");
    assert!(out.contains("  ~ deployments/my-site (apply)\n"), "{out}");
    assert!(
        out.contains("  ~ my-site finalizers, labels, annotations (patch)\n"),
        "{out}"
    );
    assert!(out.contains("Cycles 3–5: no changes\n"), "{out}");
    assert!(out.contains("✓ Steady state at cycle 3 in "), "{out}");
    // --all-ops shows the applies that changed nothing
    let ex = repo().join("examples/website");
    let mut c = ork();
    c.arg("simulate")
        .arg("-f")
        .arg(ex.join("katalog.yaml"))
        .arg("--cr")
        .arg(ex.join("cr.yaml"))
        .args(["--cycles", "3", "--all-ops"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("  = deployments/my-site (apply)\n"), "{out}");
    assert!(!out.contains("PASS"), "print-only: {out}");
}

#[test]
fn json_has_the_documented_shape() {
    let mut c = ork();
    c.arg("simulate")
        .arg("-f")
        .arg(repo().join("examples/website/simulate.yaml"))
        .args(["-o", "json", "--seed", "3", "--now", "2026-01-01T00:00:00Z"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    for key in ["crd", "cr", "cycles", "steadyAt", "assertions", "passed"] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert_eq!(v["crd"], "website");
    assert_eq!(v["steadyAt"], 3);
    assert_eq!(v["passed"], true);
    let c1 = &v["cycles"][0];
    assert_eq!(c1["n"], 1);
    assert_eq!(c1["ready"]["status"], "True");
    let op = &c1["ops"][0];
    for key in ["cycle", "verb", "resource", "namespace", "name", "changed"] {
        assert!(op.get(key).is_some(), "{key} missing: {op}");
    }
    let a = &v["assertions"][0];
    for key in ["rule", "passed", "detail"] {
        assert!(a.get(key).is_some(), "{key} missing: {a}");
    }
}

#[test]
fn a_ready_false_cycle_is_exit_1_and_bad_input_exit_2() {
    let p = repo().join("examples/platform");
    let mut c = ork();
    c.arg("simulate")
        .arg("-f")
        .arg(p.join("katalog.yaml"))
        .arg("--cr")
        .arg(p.join("cr-bad.yaml"))
        .args(["--cycles", "2"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("  ! legacy Ready=False ValidationFailed: "),
        "{out}"
    );
    // a Katalog without --cr
    let mut c = ork();
    c.arg("simulate").arg("-f").arg(p.join("katalog.yaml"));
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("needs --cr"), "{err}");
    // a strict-decoding error names file, line, column and the near key
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sim = tmp.path().join("simulate.yaml");
    std::fs::write(
        &sim,
        format!(
            "apiVersion: orkestra.orkspace.io/v1\nkind: Simulate\nmetadata: {{name: s}}\nspec:\n  katalog: {}\n  cr: {}\n  cycels: 3\n",
            p.join("katalog.yaml").display(),
            p.join("cr-valid.yaml").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("simulate").arg("-f").arg(tmp.path());
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("simulate.yaml:7:3: error: unknown field \"cycels\""),
        "{err}"
    );
    assert!(err.contains("hint: did you mean \"cycles\"?"), "{err}");
    // a budget is exit 2 naming it
    let mut c = ork();
    c.arg("simulate")
        .arg("-f")
        .arg(p.join("simulate.yaml"))
        .env("ORK_LIMIT_SIMULATE_OBJECTS", "2");
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("budget simulate.objects exceeded"), "{err}");
}

#[test]
fn an_assertion_that_fails_is_exit_1() {
    let ex = repo().join("examples/website");
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sim = tmp.path().join("simulate.yaml");
    std::fs::write(
        &sim,
        format!(
            "apiVersion: orkestra.orkspace.io/v1\nkind: Simulate\nmetadata: {{name: s}}\nspec:\n  katalog: {}\n  cr: {}\n  cycles: 3\n  expect:\n    steadyAt: 2\n    absent: [{{cycle: 1, verb: create, resource: serviceaccounts}}]\n",
            ex.join("katalog.yaml").display(),
            ex.join("cr.yaml").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("simulate").arg("-f").arg(&sim);
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("✗ steadyAt: 2 — steady at cycle 3"), "{out}");
    assert!(
        out.contains("✗ absent[0]: {cycle: 1, verb: create, resource: serviceaccounts} — matched: cycle 1: create serviceaccounts"),
        "{out}"
    );
    assert!(out.ends_with("FAIL\n"), "{out}");
}

#[test]
fn init_writes_a_document_that_passes_and_never_overwrites() {
    let ex = repo().join("examples/pipeline");
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out_file = tmp.path().join("sim/simulate.yaml");
    std::fs::create_dir_all(tmp.path().join("sim")).unwrap_or_else(|e| panic!("{e}"));
    let init = || {
        let mut c = ork();
        c.args(["simulate", "init", "-f"])
            .arg(ex.join("katalog.yaml"))
            .arg("--cr")
            .arg(ex.join("cr.yaml"))
            .arg("--out")
            .arg(&out_file);
        run(c)
    };
    let (code, _, err) = init();
    assert_eq!(code, 0, "{err}");
    let doc = std::fs::read_to_string(&out_file).unwrap_or_else(|e| panic!("{e}"));
    assert!(doc.contains("    steady: true\n"), "{doc}");
    let job = doc
        .lines()
        .find(|l| l.contains("resource: jobs"))
        .unwrap_or_else(|| panic!("the build Job is pinned: {doc}"));
    assert!(
        job.starts_with("      - {cycle: 1, verb: create,")
            && job.ends_with("name: build-and-test-build}"),
        "{job}"
    );
    let mut c = ork();
    c.arg("simulate").arg("-f").arg(&out_file);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("PASS\n"), "{out}");
    let (code, _, err) = init();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not overwritten"), "{err}");
}

#[test]
fn an_e2e_scenario_gets_a_verdict_per_step_and_exit_1_on_a_mismatch() {
    let fixture = repo().join("crates/ork-simulate/tests/fixtures/deletion-protection");
    let mut c = ork();
    c.arg("simulate").arg(&fixture).args(["-o", "json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let steps = v.as_array().unwrap_or_else(|| panic!("an array: {v}"));
    assert_eq!(steps.len(), 17, "{v}");
    for s in steps {
        for key in [
            "scenario", "expect", "after", "step", "action", "verdict", "reason",
        ] {
            assert!(s.get(key).is_some(), "{key}: {s}");
        }
    }
    // the same scenario expecting the opposite of one verdict
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for f in [
        "katalog.yaml",
        "crd.yaml",
        "cr.yaml",
        "setup.yaml",
        "e2e.yaml",
    ] {
        let text = std::fs::read_to_string(fixture.join(f)).unwrap_or_else(|e| panic!("{e}"));
        let text = if f == "e2e.yaml" {
            text.replace(
                "{delete: {kind: ConfigMap, name: scratch, namespace: default}, as: {user: dev}, expect: allowed}",
                "{delete: {kind: ConfigMap, name: scratch, namespace: default}, as: {user: dev}, expect: denied}",
            )
        } else {
            text
        };
        std::fs::write(tmp.path().join(f), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut c = ork();
    c.arg("simulate").arg(tmp.path().join("e2e.yaml"));
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("#1 delete ConfigMap default/scratch as dev: allowed ✗ expected denied"),
        "{out}"
    );
    assert!(
        out.contains("deletion-protection: 9 as expected, 1 not, 7 not simulated"),
        "{out}"
    );
}
