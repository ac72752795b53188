//! `ork generate` and `ork validate --full` on the examples (docs/cli.md §3, §6;
//! docs/security.md §2.2): exit codes, determinism, the namespace, the generated RBAC read back
//! through `ork rbac`, the bundle scanned by `ork scan`; and `ork plan` (docs/cli.md §7).

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

// ---- generate webhooks | crd | bundle, plan (docs/cli.md §6, §7) -----------------------------

/// Images pinned by digest: the default tags carry the one suppression (`image-no-digest`),
/// which a release makes unnecessary with `--runtime-image`/`--gateway-image`.
const PINNED: [&str; 4] = [
    "--runtime-image",
    "registry.example/ork-runtime@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "--gateway-image",
    "registry.example/ork-gateway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
];

fn bundle_of(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["generate", "bundle"];
    all.extend_from_slice(args);
    ork_in(&repo(), &all, &[])
}

fn kinds_named(objs: &[Value]) -> Vec<(String, String)> {
    objs.iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn every_example_bundles_deterministically_and_scans_clean() {
    let dir = tmp();
    for ex in EXAMPLES {
        let k = katalog(ex);
        let (code, first, err) = bundle_of(&["-f", &k]);
        assert_eq!(code, 0, "{ex}: {err}");
        let (_, second, _) = bundle_of(&["-f", &k]);
        assert_eq!(first, second, "{ex}: two runs differ");
        let objs = docs(&first);
        assert_eq!(objs[0]["kind"], "Namespace", "{ex}");
        assert!(
            first.contains("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  labels:"),
            "sorted keys"
        );
        // ork's own bundle passes its own scanner (docs/security.md §2.1)
        let mut args = vec!["-f", k.as_str()];
        args.extend_from_slice(&PINNED);
        let file = dir.path().join(format!("{ex}.yaml"));
        let f = file.display().to_string();
        args.extend_from_slice(&["-o", &f]);
        let (code, _, err) = bundle_of(&args);
        assert_eq!(code, 0, "{ex}: {err}");
        let (code, out, err) = ork_in(&repo(), &["scan", &f], &[]);
        assert_eq!(code, 0, "{ex}: the bundle has findings:\n{out}{err}");
        assert!(out.contains(" 0 findings"), "{out}");
        // with the default tags the one kept finding is suppressed in the file, with its reason
        let defaults = dir.path().join(format!("{ex}-defaults.yaml"));
        std::fs::write(&defaults, &first).unwrap_or_else(|e| panic!("{e}"));
        let (code, out, err) = ork_in(&repo(), &["scan", &defaults.display().to_string()], &[]);
        assert_eq!(
            code, 0,
            "{ex}: the default bundle has findings:\n{out}{err}"
        );
        assert!(
            first.contains("ork.io/ignore-check.image-no-digest: \"ork's default image tag")
                && !std::fs::read_to_string(&file)
                    .unwrap_or_default()
                    .contains("ork's default image tag"),
            "{ex}: the suppression belongs to the default tags only"
        );
    }
}

#[test]
fn a_directory_gets_one_file_per_part_and_no_runtime_means_none() {
    let dir = tmp();
    let out = format!("{}/bundle/", dir.path().display());
    let k = katalog("protected-apps");
    let (code, _, err) = bundle_of(&["-f", &k, "-o", &out]);
    assert_eq!(code, 0, "{err}");
    let names = [
        "namespace.yaml",
        "rbac-runtime.yaml",
        "rbac-gateway.yaml",
        "katalog-configmap.yaml",
        "runtime.yaml",
        "gateway.yaml",
        "webhooks.yaml",
        "networkpolicies.yaml",
    ];
    let read = |n: &str| std::fs::read_to_string(Path::new(&out).join(n)).unwrap_or_default();
    let joined: String = names.iter().map(|n| read(n)).collect();
    let (_, stream, _) = bundle_of(&["-f", &k]);
    assert_eq!(joined, stream, "the files are the stream, in order");
    let mut listed: Vec<String> = std::fs::read_dir(&out)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    listed.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(listed, want);
    let gateway = docs(&read("gateway.yaml"));
    assert_eq!(
        kinds_named(&gateway),
        [
            ("Deployment".to_string(), "orkestra-gateway".to_string()),
            ("Service".into(), "orkestra-gateway".into()),
            ("PodDisruptionBudget".into(), "orkestra-gateway".into())
        ]
    );

    // --no-runtime into the same directory: the runtime's files are emptied, not left behind
    let (code, _, err) = bundle_of(&["-f", &k, "--no-runtime", "-o", &out]);
    assert_eq!(code, 0, "{err}");
    for n in ["runtime.yaml", "rbac-runtime.yaml"] {
        let text = read(n);
        assert!(docs(&text).is_empty(), "{n}: {text}");
        assert!(
            text.starts_with(&format!("# {n}: gateway-only mode")),
            "{text}"
        );
    }
    let (_, stream, _) = bundle_of(&["-f", &k, "--no-runtime"]);
    let objs = docs(&stream);
    assert!(
        !objs
            .iter()
            .any(|o| o["metadata"]["name"] == "orkestra-runtime"
                || (o["kind"] == "ServiceAccount" && o["metadata"]["name"] == "orkestra")),
        "{stream}"
    );
    assert!(
        objs.iter()
            .any(|o| o["kind"] == "ValidatingAdmissionPolicy")
    );
    assert!(
        stream.contains("standalone: true"),
        "the installed Katalog is gateway-only"
    );
}

#[test]
fn generate_refuses_an_invalid_katalog_and_bad_options_with_exit_2() {
    let broken = repo()
        .join("tests/fixtures/broken/01-unknown-key.katalog.yaml")
        .display()
        .to_string();
    for what in ["bundle", "webhooks", "crd"] {
        let (code, out, err) = ork_in(&repo(), &["generate", what, "-f", &broken], &[]);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(out.is_empty(), "{what}: {out}");
        assert!(err.contains(": error: "), "{what}: {err}");
    }
    let k = katalog("website");
    for bad in [
        vec!["--metrics-from", "monitoring"],
        vec!["--no-runtime", "--no-gateway"],
        vec!["-n", "Not_A_Namespace"],
        vec!["--runtime-image", "has space"],
    ] {
        let mut args = vec!["-f", k.as_str()];
        args.extend_from_slice(&bad);
        let (code, _, err) = bundle_of(&args);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
    let (code, _, err) = ork_in(
        &repo(),
        &["generate", "crd", "-f", &k, "--crd", "nope"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such entry"), "{err}");
    let (code, _, err) = bundle_of(&["-f", &k, "-o", "/nonexistent/dir/bundle.yaml"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn webhooks_target_the_service_and_take_a_ca_bundle() {
    let dir = tmp();
    let k = katalog("protected-apps");
    let (code, out, err) = ork_in(
        &repo(),
        &["generate", "webhooks", "-f", &k, "-n", "ork-ops"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let objs = docs(&out);
    assert_eq!(
        objs.last().map(|o| o["kind"].clone()),
        Some(Value::from("ValidatingAdmissionPolicyBinding"))
    );
    let hook = &objs[0]["webhooks"][0]["clientConfig"];
    assert_eq!(
        hook["service"],
        serde_json::json!({"name": "orkestra-gateway", "namespace": "ork-ops", "path": "/validate", "port": 443})
    );
    assert_eq!(hook["caBundle"], "");
    let (_, bundle, _) = bundle_of(&["-f", &k, "-n", "ork-ops"]);
    assert!(
        bundle.contains(&out),
        "the bundle's webhooks are those of generate webhooks"
    );
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap_or_else(|e| panic!("{e}"));
    let c = ca.display().to_string();
    let (code, out, err) = ork_in(
        &repo(),
        &["generate", "webhooks", "-f", &k, "--ca-bundle", &c],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    use base64::Engine as _;
    let want = base64::engine::general_purpose::STANDARD.encode(pem);
    assert_eq!(
        docs(&out)[0]["webhooks"][0]["clientConfig"]["caBundle"],
        want.as_str()
    );
    std::fs::write(
        &ca,
        format!("{pem}-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = ork_in(
        &repo(),
        &["generate", "webhooks", "-f", &k, "--ca-bundle", &c],
        &[],
    );
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("private key"), "{err}");
    // no Gateway, no configuration
    let (code, out, err) = ork_in(
        &repo(),
        &["generate", "webhooks", "-f", &katalog("website")],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("runs no Gateway"), "{err}");
}

#[test]
fn crd_prints_one_crd_per_entry() {
    let (code, out, err) = ork_in(
        &repo(),
        &["generate", "crd", "-f", &katalog("platform")],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let objs = docs(&out);
    assert_eq!(
        kinds_named(&objs),
        [(
            "CustomResourceDefinition".to_string(),
            "platforms.admission.orkestra.io".to_string()
        )]
    );
    let spec = &objs[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["replicas"]["type"], "integer");
    assert_eq!(spec["properties"]["replicas"]["default"], 2);
}

/// A Katalog in a directory of its own, from an example with `edit` applied to its text.
fn edited(dir: &Path, example: &str, edit: &dyn Fn(&str) -> String) -> String {
    let src = repo().join("examples").join(example);
    for f in ["crd.yaml", "cr.yaml"] {
        if src.join(f).exists() {
            std::fs::copy(src.join(f), dir.join(f)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let text = std::fs::read_to_string(src.join("katalog.yaml")).unwrap_or_default();
    let out = edit(&text);
    assert_ne!(out, text, "the edit changed nothing");
    let path = dir.join("katalog.yaml");
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("{e}"));
    path.display().to_string()
}

fn plan(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    ork_in(&repo(), &all, &[])
}

#[test]
fn plan_reports_no_changes_widening_and_weakening() {
    let dir = tmp();
    let k = katalog("protected-apps");
    let bundle_dir = format!("{}/installed/", dir.path().display());
    let (code, _, err) = bundle_of(&["-f", &k, "-n", "ork-ops", "-o", &bundle_dir]);
    assert_eq!(code, 0, "{err}");

    // identical: the recorded namespace is used, not the default
    let (code, out, err) = plan(&["--bundle", &bundle_dir, "-f", &k]);
    assert_eq!((code, out.as_str()), (0, "No changes.\n"), "{err}");
    let (code, out, _) = plan(&["--bundle", &bundle_dir, "-f", &k, "--fail-on-change"]);
    assert_eq!((code, out.as_str()), (0, "No changes.\n"));

    // an onCreate.secrets entry: a risky widening, with the construct that needs it
    let secret_dir = dir.path().join("secret");
    std::fs::create_dir_all(&secret_dir).unwrap_or_else(|e| panic!("{e}"));
    let with_secret = edited(&secret_dir, "protected-apps", &|t| {
        t.replace(
            "          configMaps:",
            "          secrets: [{name: \"{{ .metadata.name }}-pw\", data: {pw: \"{{ randomAlphanumeric 16 }}\"}}]\n          configMaps:",
        )
    });
    let (code, out, err) = plan(&[
        "--bundle",
        &bundle_dir,
        "-f",
        &with_secret,
        "--fail-on-change",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("Permission widening (1)\n"), "{out}");
    assert!(
        out.contains("  ! ClusterRole orkestra-runtime: + create,get,list,patch,watch secrets (core), cluster-wide\n      because: spec.crds.app.operatorBox.onCreate.secrets[0]"),
        "{out}"
    );
    assert!(
        out.contains("  ~ crd app: operatorBox.onCreate.secrets added\n"),
        "{out}"
    );
    assert!(
        out.contains("  ~ ConfigMap ork-ops/orkestra-katalog: data.katalog.yaml\n"),
        "{out}"
    );
    let (code, json, err) = plan(&["--bundle", &bundle_dir, "-f", &with_secret, "-o", "json"]);
    assert_eq!(
        code, 1,
        "a widening is exit 1 even without --fail-on-change: {err}"
    );
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let w = &v["widening"][0];
    assert_eq!(w["role"], "ClusterRole orkestra-runtime");
    assert_eq!(w["subject"], "ServiceAccount ork-ops/orkestra");
    assert_eq!(w["resource"], "secrets");
    assert_eq!(w["apiGroup"], "");
    assert_eq!(w["scope"], "cluster");
    assert_eq!(w["resourceName"], Value::Null);
    assert_eq!(w["risky"], true);
    assert!(
        w["because"]
            .as_str()
            .is_some_and(|b| b.contains("onCreate.secrets[0]"))
    );
    for key in ["katalog", "objects", "widening", "weakening"] {
        assert!(v.get(key).is_some(), "{key}: {json}");
    }
    assert!(
        v["objects"]["changed"][0]["fields"][0]["path"].is_string(),
        "{json}"
    );

    // failurePolicy Fail → Ignore: a protection weakening
    let ignore_dir = dir.path().join("ignore");
    std::fs::create_dir_all(&ignore_dir).unwrap_or_else(|e| panic!("{e}"));
    let ignore = edited(&ignore_dir, "protected-apps", &|t| {
        t.replace(
            "strictMode: true}",
            "strictMode: true, failurePolicy: Ignore}",
        )
    });
    let (code, out, err) = plan(&["--bundle", &bundle_dir, "-f", &ignore]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("Protection weakening ("), "{out}");
    assert!(
        out.contains("  ! ValidatingWebhookConfiguration orkestra-strict-mode-protection: failurePolicy Fail → Ignore\n"),
        "{out}"
    );

    // a change that widens and weakens nothing: exit 0, unless --fail-on-change
    let image_dir = dir.path().join("image");
    std::fs::create_dir_all(&image_dir).unwrap_or_else(|e| panic!("{e}"));
    let harmless = edited(&image_dir, "protected-apps", &|t| {
        t.replace("busybox:1.36", "busybox:1.37")
    });
    let (code, out, err) = plan(&["--bundle", &bundle_dir, "-f", &harmless]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("1 to change; 0 permission widenings, 0 protection weakenings.\n"),
        "{out}"
    );
    let (code, _, _) = plan(&["--bundle", &bundle_dir, "-f", &harmless, "--fail-on-change"]);
    assert_eq!(code, 1);

    // flags override the recorded options: the namespace moves, every grant is to new subjects
    let (code, out, _) = plan(&["--bundle", &bundle_dir, "-f", &k, "-n", "other"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Permission widening"), "{out}");

    // a single-file bundle reads the same; a bundle that does not parse is exit 2
    let file = dir.path().join("bundle.yaml").display().to_string();
    let (code, _, _) = bundle_of(&["-f", &k, "-n", "ork-ops", "-o", &file]);
    assert_eq!(code, 0);
    let (code, out, _) = plan(&["--bundle", &file, "-f", &k]);
    assert_eq!((code, out.as_str()), (0, "No changes.\n"));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "a: [\n").unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = plan(&["--bundle", &bad.display().to_string(), "-f", &k]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = plan(&["--bundle", "/nonexistent", "-f", &k]);
    assert_eq!(code, 2, "{err}");
    // a bundle without orkestra-katalog is a fresh install
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "# nothing\n").unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = plan(&["--bundle", &empty.display().to_string(), "-f", &k]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fresh install"), "{err}");
    assert!(out.contains("  + Namespace orkestra-system\n"), "{out}");
}

// ---- --helm: a real `helm template` (docs/cli.md §6.3) --------------------------------------

/// Helm built from its Go module by `scripts/helm/build` (first run only; needs Go).
fn helm() -> PathBuf {
    let cache = std::env::var_os("ORK_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ork")
        });
    let bin = cache.join("helm/v3.22.0/helm");
    if !bin.is_file() {
        let status = std::process::Command::new("bash")
            .arg(repo().join("scripts/helm/build"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run scripts/helm/build: {e}"));
        assert!(status.success(), "scripts/helm/build failed: {status}");
    }
    bin
}

/// The objects of a stream, by identity (Helm orders a release by kind; the objects are what
/// must be the same).
fn by_identity(yaml: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = docs(yaml)
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|d| {
            let key = format!(
                "{} {} {} {}",
                d["apiVersion"].as_str().unwrap_or_default(),
                d["kind"].as_str().unwrap_or_default(),
                d["metadata"]["namespace"].as_str().unwrap_or_default(),
                d["metadata"]["name"].as_str().unwrap_or_default()
            );
            (key, d)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn helm_template(chart: &str, set: &[&str]) -> String {
    let mut c = std::process::Command::new(helm());
    c.args(["template", "ork", chart]);
    for s in set {
        c.args(["--set", s]);
    }
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "helm template {chart} {set:?}: {err}");
    out
}

#[test]
fn a_helm_chart_renders_exactly_the_plain_bundle() {
    let dir = tmp();
    for (ex, extra) in [
        ("website", vec![]),
        ("pipeline", vec![]),
        ("platform", vec![]),
        ("protected-apps", vec![]),
        ("protected-apps", vec!["--no-runtime"]),
    ] {
        let k = katalog(ex);
        let chart = dir
            .path()
            .join(format!("{ex}{}", extra.join("")))
            .display()
            .to_string();
        let mut args = vec!["-f", k.as_str()];
        args.extend_from_slice(&extra);
        let (_, plain, _) = bundle_of(&args);
        args.extend_from_slice(&["--helm", &chart]);
        let (code, out, err) = bundle_of(&args);
        assert_eq!((code, out.as_str()), (0, ""), "{ex}: {err}");
        let chart_yaml =
            std::fs::read_to_string(Path::new(&chart).join("Chart.yaml")).unwrap_or_default();
        let name = ork_katalog::load_file(Path::new(&k))
            .katalog
            .map(|x| x.metadata.name)
            .unwrap_or_default();
        assert!(
            chart_yaml.contains("apiVersion: v2\n")
                && chart_yaml.contains(&format!("name: orkestra-{name}\n")),
            "{chart_yaml}"
        );
        // the default values render the plain bundle, object for object
        let rendered = helm_template(&chart, &[]);
        let (got, want) = (by_identity(&rendered), by_identity(&plain));
        assert_eq!(got.len(), want.len(), "{ex} {extra:?}");
        for ((gk, g), (wk, w)) in got.iter().zip(&want) {
            assert_eq!(gk, wk, "{ex} {extra:?}");
            assert_eq!(g, w, "{ex} {extra:?}: {gk}");
        }
        // values stand for the options: the same as the flags would give
        let gateway = plain.contains("kind: PodDisruptionBudget");
        let mut flags = vec![
            "-f",
            k.as_str(),
            "-n",
            "ork-ops",
            "--metrics-from",
            "kubernetes.io/metadata.name=monitoring",
        ];
        let mut set = vec![
            "namespace=ork-ops",
            "metricsFrom={kubernetes.io/metadata.name=monitoring}",
        ];
        if gateway {
            flags.extend_from_slice(&["--gateway-image", "registry.example/ork-gateway:2"]);
            set.push("gateway.image=registry.example/ork-gateway:2");
        }
        flags.extend_from_slice(&extra);
        let (_, flagged, _) = bundle_of(&flags);
        let rendered = helm_template(&chart, &set);
        let (got, want) = (by_identity(&rendered), by_identity(&flagged));
        assert_eq!(got.len(), want.len(), "{ex} {extra:?} with values");
        for ((gk, g), (wk, w)) in got.iter().zip(&want) {
            assert_eq!(gk, wk, "{ex} {extra:?} with values");
            assert_eq!(g, w, "{ex} {extra:?} with values: {gk}");
        }
        // the Katalog's own templates are literal in the chart, not Helm's
        let cm =
            std::fs::read_to_string(Path::new(&chart).join("templates/katalog-configmap.yaml"))
                .unwrap_or_default();
        assert!(cm.contains("{{ \"{{\" }}"), "{ex}: {cm}");
    }
    // --helm writes a chart, not the bundle: -o with it is a usage error
    let (code, _, _) = bundle_of(&["-f", &katalog("website"), "--helm", "x", "-o", "y"]);
    assert_eq!(code, 2);
}
