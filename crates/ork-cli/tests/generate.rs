//! `ork generate rbac` and `ork validate --full` on the examples (docs/cli.md §3, §6;
//! docs/security.md §2.2): exit codes, determinism, the namespace, and the generated RBAC read
//! back through `ork rbac`.

mod common;

use std::path::{Path, PathBuf};

use common::{ork, repo, run};
use serde_json::Value;

const EXAMPLES: [&str; 4] = ["website", "pipeline", "platform", "protected-apps"];

fn katalog(example: &str) -> String {
    repo()
        .join("examples")
        .join(example)
        .join("katalog.yaml")
        .display()
        .to_string()
}

fn ork_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = ork();
    c.current_dir(dir).args(args).env_remove("ORK_NAMESPACE");
    for (k, v) in env {
        c.env(k, v);
    }
    run(c)
}

fn generate(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["generate", "rbac"];
    all.extend_from_slice(args);
    ork_in(&repo(), &all, &[])
}

fn docs(yaml: &str) -> Vec<Value> {
    ork_yaml::parse_stream(yaml)
        .unwrap_or_else(|e| panic!("output is not YAML: {e:?}\n{yaml}"))
        .iter()
        .map(|d| d.to_json())
        .collect()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_example_generates_deterministic_rbac() {
    for ex in EXAMPLES {
        let k = katalog(ex);
        let (code, first, err) = generate(&["-f", &k]);
        assert_eq!(code, 0, "{ex}: {err}");
        let (_, second, _) = generate(&["-f", &k]);
        assert_eq!(first, second, "{ex}: two runs differ");
        let objs = docs(&first);
        let kinds: Vec<&str> = objs.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(kinds.first(), Some(&"ServiceAccount"), "{ex}");
        assert!(
            kinds.contains(&"ClusterRole") && kinds.contains(&"RoleBinding"),
            "{ex}: {kinds:?}"
        );
        for o in &objs {
            assert_eq!(
                o["metadata"]["labels"]["app.kubernetes.io/tag"], "orkestra-internal",
                "{ex}: {o}"
            );
        }
        // sorted keys: the emitter writes serde_json's sorted maps as they are
        assert!(
            first.contains("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  labels:"),
            "{first}"
        );
        // no wildcard anywhere (docs/security.md §2.2)
        assert!(!first.contains('*'), "{ex}: {first}");
    }
}

#[test]
fn the_namespace_comes_from_the_flag_then_ork_namespace() {
    let k = katalog("protected-apps");
    let (code, out, err) = generate(&["-f", &k, "-n", "ork-ops"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("orkestra-system"), "{out}");
    let objs = docs(&out);
    for o in &objs {
        if let Some(ns) = o["metadata"].get("namespace") {
            // the Gateway's events Role lives in default; everything else is ork's namespace
            assert!(
                ns == "ork-ops" || o["metadata"]["name"] == "orkestra-gateway" && ns == "default",
                "{o}"
            );
        }
        for s in o["subjects"].as_array().into_iter().flatten() {
            assert_eq!(s["namespace"], "ork-ops");
        }
    }
    assert!(
        out.contains("- ork-ops\n"),
        "the Gateway's namespace patch names it: {out}"
    );
    let (code, env_out, err) = ork_in(
        &repo(),
        &["generate", "rbac", "-f", &k],
        &[("ORK_NAMESPACE", "ork-ops")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(env_out, out, "ORK_NAMESPACE is the default of -n");
    let (code, _, err) = generate(&["-f", &k, "-n", "Not_A_Namespace"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a valid namespace name"), "{err}");
}

#[test]
fn for_picks_one_service_account() {
    let k = katalog("protected-apps");
    for (who, sa, other) in [
        ("runtime", "orkestra", "orkestra-gateway"),
        ("gateway", "orkestra-gateway", "orkestra-runtime"),
    ] {
        let (code, out, err) = generate(&["-f", &k, "--for", who]);
        assert_eq!(code, 0, "{err}");
        let objs = docs(&out);
        let sas: Vec<&Value> = objs
            .iter()
            .filter(|o| o["kind"] == "ServiceAccount")
            .collect();
        assert_eq!(sas.len(), 1, "{who}");
        assert_eq!(sas[0]["metadata"]["name"], sa);
        assert!(
            !objs.iter().any(|o| o["metadata"]["name"] == other),
            "{who}: {out}"
        );
    }
    let (code, _, err) = generate(&["-f", &k, "--for", "everyone"]);
    assert_eq!(code, 2, "{err}");
    // a Katalog without a Gateway: nothing for it, and a warning that says so
    let (code, out, err) = generate(&["-f", &katalog("website"), "--for", "gateway"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("runs no Gateway"), "{err}");
}

#[test]
fn output_file_and_write_failures() {
    let dir = tmp();
    let file = dir.path().join("rbac.yaml");
    let k = katalog("website");
    let (code, _, err) = generate(&["-f", &k, "-o", &file.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let (_, stdout, _) = generate(&["-f", &k]);
    assert_eq!(std::fs::read_to_string(&file).unwrap_or_default(), stdout);
    let (code, out, err) = generate(&[
        "-f",
        &k,
        "-o",
        &dir.path().join("missing/rbac.yaml").display().to_string(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("cannot write"), "{err}");
}

#[test]
fn an_invalid_katalog_is_exit_2_with_the_messages_of_validate() {
    let broken = repo()
        .join("tests/fixtures/broken/01-unknown-key.katalog.yaml")
        .display()
        .to_string();
    let (code, out, err) = generate(&["-f", &broken]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    let (vcode, _, verr) = ork_in(&repo(), &["validate", "-f", &broken], &[]);
    assert_eq!(vcode, 1);
    let diags = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains(": error: "))
            .map(str::to_string)
            .collect()
    };
    assert!(!diags(&err).is_empty(), "{err}");
    assert_eq!(diags(&err), diags(&verr));
    let (code, _, _) = generate(&["-f", "/nonexistent/katalog.yaml"]);
    assert_eq!(code, 2);
}

/// A Katalog whose RBAC would need a wildcard: `generate` refuses it (exit 2), `validate`
/// reports it invalid (exit 1), with the same located message.
#[test]
fn a_katalog_that_needs_a_wildcard_is_refused() {
    let dir = tmp();
    let file = dir.path().join("katalog.yaml");
    std::fs::write(
        &file,
        "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: wild}\nspec:\n  crds:\n    app:\n      apiTypes: {group: t.example.io, version: v1, kind: App, plural: apps}\n      operatorBox:\n        onCreate:\n          custom: [{apiVersion: \"{{ .spec.api }}\", kind: Widget, plural: widgets, metadata: {name: w}}]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let f = file.display().to_string();
    let (code, out, err) = generate(&["-f", &f]);
    assert_eq!(code, 2, "{out}{err}");
    let want = ":10:33: error: a custom child with a templated apiVersion needs a wildcard rule";
    assert!(err.contains(want), "{err}");
    let (code, _, verr) = ork_in(dir.path(), &["validate", "-f", &f], &[]);
    assert_eq!(code, 1, "{verr}");
    assert!(verr.contains(want), "{verr}");
}

#[test]
fn validate_full_prints_each_permission_with_its_construct() {
    let k = katalog("website");
    let (code, plain, err) = ork_in(&repo(), &["validate", "-f", &k], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !plain.contains("permissions"),
        "without --full nothing changes: {plain}"
    );
    let (code, full, err) = ork_in(&repo(), &["validate", "--full", "-f", &k], &[]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "permissions\n  runtime  ServiceAccount orkestra-system/orkestra\n    ClusterRole orkestra-runtime\n",
        "      get customresourcedefinitions.apiextensions.k8s.io [websites.demo.orkestra.io]  ← spec.crds.website: the runtime starts the entry once CRD websites.demo.orkestra.io is Established\n",
        "      get,list,watch,create,patch,delete deployments.apps  ← spec.crds.website.operatorBox.onCreate.deployments[0] (server-side apply; deleted when its entry stops rendering it)\n",
        "      get,list,watch,create,patch serviceaccounts  ← spec.crds.website.operatorBox.onCreate.serviceAccounts[0] (created once, never deleted)\n",
        "      get,patch websites.demo.orkestra.io/status  ← spec.crds.website.operatorBox.status: the status patch\n",
        "    Role orkestra-system/orkestra-runtime-lease\n      get,update leases.coordination.k8s.io [orkestra-runtime]  ← leader election (Lease orkestra-runtime)\n",
        "  ⚠ warning: gateway: the Katalog runs no Gateway",
        "  rbac self-scan: 0 findings\n",
    ] {
        assert!(full.contains(line), "missing {line:?} in:\n{full}");
    }
    // the rest of the output is what it was
    for line in plain.lines() {
        assert!(full.contains(line), "{line:?} is gone from --full:\n{full}");
    }
    let (code, json, err) = ork_in(
        &repo(),
        &[
            "validate",
            "--full",
            "-o",
            "json",
            "-f",
            &katalog("protected-apps"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap_or_default();
    let perms = v["permissions"].as_array().cloned().unwrap_or_default();
    assert!(
        perms.iter().any(|p| p["component"] == "gateway"
            && p["reason"]
                .as_str()
                .is_some_and(|r| r.contains("single writer"))),
        "{json}"
    );
    assert!(
        perms
            .iter()
            .all(|p| p["reason"].as_str().is_some_and(|r| !r.is_empty()))
    );
    // even the Gateway's creates of admission objects are by name (server-side apply)
    assert_eq!(v["rbacFindings"], serde_json::json!([]), "{json}");
    let (_, json, _) = ork_in(
        &repo(),
        &["validate", "-o", "json", "-f", &katalog("protected-apps")],
        &[],
    );
    assert!(!json.contains("permissions"), "{json}");
}

/// The generated RBAC read back through `ork rbac`: the runtime reads no Secret, and no
/// high or critical finding is the runtime's.
#[test]
fn generated_rbac_passes_ork_rbac() {
    let dir = tmp();
    for ex in EXAMPLES {
        let file: PathBuf = dir.path().join(format!("{ex}.yaml"));
        let (code, _, err) = generate(&["-f", &katalog(ex), "-o", &file.display().to_string()]);
        assert_eq!(code, 0, "{err}");
        let f = file.display().to_string();
        for verb in ["get", "list", "watch"] {
            let (code, out, err) = ork_in(
                &repo(),
                &[
                    "rbac",
                    "who-can",
                    verb,
                    "secrets",
                    "-f",
                    &f,
                    "--expect-none",
                ],
                &[],
            );
            assert_eq!(
                code, 0,
                "{ex}: someone can {verb} secrets anywhere:\n{out}{err}"
            );
        }
        let (code, out, err) = ork_in(
            &repo(),
            &[
                "rbac",
                "who-can",
                "create",
                "pods/exec",
                "-f",
                &f,
                "-n",
                "default",
                "--expect-none",
            ],
            &[],
        );
        assert_eq!(code, 0, "{ex}: {out}{err}");
        let (_, out, err) = ork_in(
            &repo(),
            &[
                "rbac",
                "audit",
                "-f",
                &f,
                "-o",
                "json",
                "--katalog",
                &katalog(ex),
            ],
            &[],
        );
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{ex}: {e}: {out}{err}"));
        for finding in v["findings"].as_array().into_iter().flatten() {
            let runtime = finding["subject"] == "ServiceAccount orkestra-system/orkestra";
            let severe = matches!(finding["severity"].as_str(), Some("high" | "critical"));
            assert!(
                !(runtime && severe),
                "{ex}: the runtime has a finding: {finding}"
            );
        }
    }
}

/// The Gateway's rules name exactly the configurations the Gateway writes, by kind: a renamed
/// or added configuration fails here before it fails in a cluster.
#[test]
fn gateway_rules_name_the_gateways_own_configurations() {
    let k = ork_katalog::load_file(Path::new(&katalog("protected-apps")))
        .katalog
        .unwrap_or_else(|| panic!("protected-apps does not load"));
    let opts = ork_generate::rbac::Options {
        component: ork_generate::rbac::Component::Gateway,
        ..Default::default()
    };
    let d = ork_generate::rbac::derive(&k, &opts).unwrap_or_else(|e| panic!("{e}"));
    let named = |resource: &str| -> Vec<String> {
        d.rules()
            .iter()
            .filter(|r| {
                r.resources.iter().any(|x| x == resource) && r.verbs.iter().any(|v| v == "patch")
            })
            .flat_map(|r| r.resource_names.clone())
            .collect()
    };
    let mut want: Vec<(String, String)> = ork_gateway::webhooks::all_configurations()
        .into_iter()
        .map(|(kind, name)| (kind.plural().to_string(), name.to_string()))
        .collect();
    for plural in [
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
    ] {
        want.push((plural.into(), ork_policy::prepared::GUARD_POLICY.into()));
    }
    for (plural, name) in &want {
        assert!(
            named(plural).contains(name),
            "{plural} {name} is not granted: {:?}",
            named(plural)
        );
    }
    for plural in [
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    ] {
        for n in named(plural) {
            assert!(
                want.contains(&(plural.to_string(), n.clone())),
                "{plural} {n} is granted but the Gateway never writes it"
            );
        }
    }
}
