//! The bundled examples validate with their posture, and `ork template` renders each exactly
//! as its golden file (regenerate with ORK_BLESS=1 after reviewing the change).

mod common;

use common::{ork, repo, run};

const EXAMPLES: &[(&str, &str, &str)] = &[
    ("website", "cr.yaml", "golden.yaml"),
    ("pipeline", "cr.yaml", "golden.yaml"),
    ("platform", "cr-valid.yaml", "golden.yaml"),
];

#[test]
fn examples_validate_with_posture_and_exit_0() {
    for (name, _, _) in EXAMPLES {
        let mut c = ork();
        c.arg("validate")
            .arg("-f")
            .arg(repo().join("examples").join(name).join("katalog.yaml"));
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.starts_with("security  mode runtime"), "{name}: {out}");
        assert!(
            out.contains("protection: none (deletion protection disabled)"),
            "{name}: {out}"
        );
        assert!(
            out.contains("1 CRD valid (0 built-in, 1 custom), 0 warnings"),
            "{name}: {out}"
        );
    }
    let mut c = ork();
    c.arg("validate")
        .arg("-f")
        .arg(repo().join("examples/protected-apps/katalog.yaml"));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("deletion protection on (Fail, strict)"),
        "{out}"
    );
    assert!(out.contains("strict-protection: full (CRD + CRs)"), "{out}");
}

#[test]
fn template_output_equals_golden_files() {
    for (name, cr, golden) in EXAMPLES {
        let dir = repo().join("examples").join(name);
        let mut c = ork();
        c.arg("template")
            .arg("-f")
            .arg(dir.join("katalog.yaml"))
            .arg("--cr")
            .arg(dir.join(cr));
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{name}: {err}");
        let path = dir.join(golden);
        if std::env::var_os("ORK_BLESS").is_some() {
            std::fs::write(&path, &out).unwrap_or_else(|e| panic!("{e}"));
        }
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            out,
            want,
            "{name}: ork template differs from {}",
            path.display()
        );
    }
}

#[test]
fn a_denied_cr_prints_nothing_and_exits_1() {
    let dir = repo().join("examples/platform");
    let mut c = ork();
    c.arg("template")
        .arg("-f")
        .arg(dir.join("katalog.yaml"))
        .arg("--cr")
        .arg(dir.join("cr-bad.yaml"));
    let (code, out, err) = run(c);
    assert_eq!(code, 1);
    assert!(out.trim().is_empty(), "{out}");
    assert!(err.contains("ValidationFailed: field \"spec.image\": images must come from the internal registry (got: nginx:1.25); field \"spec.environment\": bad environment (got: qa)"), "{err}");
}

#[test]
fn templated_invalid_value_names_the_entry() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cr = tmp.path().join("cr.yaml");
    std::fs::write(&cr, "apiVersion: demo.orkestra.io/v1alpha1\nkind: Website\nmetadata: {name: s, namespace: default}\nspec: {image: x, replicas: two, port: 8080}\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("template")
        .arg("-f")
        .arg(repo().join("examples/website/katalog.yaml"))
        .arg("--cr")
        .arg(&cr);
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("InvalidValue: onCreate.deployments[0].replicas: \"two\" is not an integer"),
        "{err}"
    );
}

#[test]
fn secret_data_is_redacted_unless_asked() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let k = tmp.path().join("katalog.yaml");
    std::fs::write(&k, "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: s}\nspec:\n  crds:\n    app:\n      apiTypes: {group: demo.example.io, version: v1, kind: App, plural: apps}\n      operatorBox:\n        onCreate:\n          secrets: [{once: true, data: {password: \"{{ randomAlphanumeric 24 }}\"}}]\n").unwrap_or_else(|e| panic!("{e}"));
    let cr = tmp.path().join("cr.yaml");
    std::fs::write(
        &cr,
        "{apiVersion: demo.example.io/v1, kind: App, metadata: {name: a, namespace: ns}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("template")
        .arg("-f")
        .arg(&k)
        .arg("--cr")
        .arg(&cr)
        .arg("--seed")
        .arg("7");
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("password: \"<redacted: 24 bytes>\""), "{out}");
    let mut c = ork();
    c.arg("template")
        .arg("-f")
        .arg(&k)
        .arg("--cr")
        .arg(&cr)
        .arg("--seed")
        .arg("7")
        .arg("--show-secrets");
    let (_, shown, _) = run(c);
    assert!(!shown.contains("redacted"), "{shown}");
}

#[test]
fn the_backstop_refuses_a_privileged_template() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let k = tmp.path().join("katalog.yaml");
    let write = |level: &str| {
        std::fs::write(
            &k,
            format!(
                "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {{name: s}}\nsecurity: {{podSecurity: {{level: {level}}}}}\nspec:\n  crds:\n    app:\n      apiTypes: {{group: demo.example.io, version: v1, kind: App, plural: apps}}\n      operatorBox:\n        onCreate:\n          deployments: [{{image: \"nginx:1.25\", securityContext: {{privileged: true}}}}]\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    };
    let cr = tmp.path().join("cr.yaml");
    std::fs::write(
        &cr,
        "{apiVersion: demo.example.io/v1, kind: App, metadata: {name: a, namespace: ns}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write("restricted");
    let mut c = ork();
    c.arg("template").arg("-f").arg(&k).arg("--cr").arg(&cr);
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.trim().is_empty(),
        "nothing is printed for a refused CR: {out}"
    );
    assert!(
        err.contains("PodSecurityViolation: onCreate.deployments[0]: privileged-container"),
        "{err}"
    );
    // level privileged turns the backstop off (and validate warns about it)
    write("privileged");
    let mut c = ork();
    c.arg("template").arg("-f").arg(&k).arg("--cr").arg(&cr);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("privileged: true"), "{out}");
}

#[test]
fn template_status_shows_the_cr_after_the_cycle() {
    let dir = repo().join("examples/website");
    let mut c = ork();
    c.arg("template")
        .arg("-f")
        .arg(dir.join("katalog.yaml"))
        .arg("--cr")
        .arg(dir.join("cr.yaml"))
        .args(["--status", "--now", "2026-11-27T10:00:00Z", "-o", "json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let cr = items.last().cloned().unwrap_or_default();
    assert_eq!(cr["kind"], "Website", "{out}");
    assert_eq!(
        cr["metadata"]["finalizers"],
        serde_json::json!(["orkestra.orkspace.io/cleanup"])
    );
    assert_eq!(
        cr["metadata"]["labels"]["orkestra.orkspace.io/managed"],
        "true"
    );
    assert_eq!(
        cr["metadata"]["annotations"]["orkestra.orkspace.io/managed-by"],
        "website-operator"
    );
    assert_eq!(
        cr["metadata"]["annotations"]["orkestra.orkspace.io/managed-since"],
        "2026-11-27T10:00:00Z"
    );
    let status = &cr["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["endpoint"], "my-site.web.svc.cluster.local");
    // `.children` is empty offline: readyReplicas (type auto) renders empty and is not written
    assert!(status.get("readyReplicas").is_none(), "{status}");
    let ready = &status["conditions"][0];
    assert_eq!(
        (&ready["type"], &ready["status"], &ready["reason"]),
        (
            &serde_json::json!("Ready"),
            &serde_json::json!("True"),
            &serde_json::json!("ReconcileSucceeded")
        )
    );
}

#[test]
fn template_warns_about_an_empty_cr_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "# nothing here\n").unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("template")
        .arg("-f")
        .arg(repo().join("examples/website/katalog.yaml"))
        .arg("--cr")
        .arg(&empty);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no CR in this file"), "{err}");
}

#[test]
fn template_status_keeps_the_stored_spec_unmutated() {
    // reconcile-time mutations change only the in-memory copy; the stored CR keeps its spec
    let dir = repo().join("examples/platform");
    let mut c = ork();
    c.arg("template")
        .arg("-f")
        .arg(dir.join("katalog.yaml"))
        .arg("--cr")
        .arg(dir.join("cr-valid.yaml"))
        .args(["--status", "-o", "json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    let cr = list["items"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(cr["kind"], "Platform", "{out}");
    assert_eq!(
        cr["spec"],
        serde_json::json!({"image": "registry.internal/app:1.0"})
    );
    // the Deployment was rendered from the mutated copy (replicas defaulted to 2)
    let deployment = list["items"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["kind"] == "Deployment"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(deployment["spec"]["replicas"], 2, "{out}");
}
