//! `ork init` (docs/cli.md §9): both packs write every file of their source, each Katalog
//! validates, each E2E and Simulate document loads, and nothing is overwritten without --force.
//! The security pack's rbac scenario also holds offline what its steps cannot check
//! (docs/security.md §4): no wildcard rule, and a bundle with no finding at high or above.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{ork, repo, run};

/// Every regular file under `dir`, by its path relative to `dir` (with `/`), with its text.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                let text =
                    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.insert(rel, text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn init(args: &[&str], dir: &Path) -> (i32, String, String) {
    let mut c = ork();
    c.arg("init").args(args).arg(dir);
    run(c)
}

fn katalogs(files: &BTreeMap<String, String>) -> Vec<String> {
    files
        .keys()
        .filter(|f| f.ends_with("katalog.yaml"))
        .cloned()
        .collect()
}

fn validates(katalog: &Path) {
    let mut c = ork();
    c.arg("validate").arg("-f").arg(katalog);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{}: {out}{err}", katalog.display());
    assert!(out.contains(", 0 warnings"), "{}: {out}", katalog.display());
}

/// Every E2E document under `dir` loads: strict keys, referenced files present, each Katalog
/// valid, each object file readable.
fn scenarios(dir: &Path) -> Vec<ork_scenario::Scenario> {
    ork_scenario::load_paths(&[dir.to_path_buf()], &ork_limits::Limits::default()).unwrap_or_else(
        |diags| {
            panic!(
                "{}:\n{}",
                dir.display(),
                diags
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        },
    )
}

#[test]
fn the_basic_pack_is_the_website_example_and_it_validates_simulates_and_loads() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("site");
    let (code, out, err) = init(&[], &dir);
    assert_eq!(code, 0, "{out}{err}");
    let written = tree(&dir);
    let example = repo().join("examples/website");
    let mut want = BTreeMap::new();
    for f in [
        "katalog.yaml",
        "crd.yaml",
        "cr.yaml",
        "setup.yaml",
        "simulate.yaml",
        "e2e.yaml",
    ] {
        want.insert(
            f.to_string(),
            std::fs::read_to_string(example.join(f)).unwrap_or_default(),
        );
    }
    want.insert(
        "README.md".to_string(),
        std::fs::read_to_string(repo().join("crates/ork-cli/packs/basic/README.md"))
            .unwrap_or_default(),
    );
    assert_eq!(written, want);
    for next in ["ork validate -f", "ork simulate -f", "ork e2e"] {
        assert!(out.contains(next), "next steps name {next}: {out}");
    }
    validates(&dir.join("katalog.yaml"));
    let mut c = ork();
    c.arg("simulate").arg("-f").arg(dir.join("simulate.yaml"));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASS"), "{out}");
    let s = scenarios(&dir);
    assert_eq!(
        s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["website"]
    );
}

/// The six scenario folders of docs/security.md §4, each with the files the brief names.
const SCENARIOS: [&str; 6] = [
    "admission",
    "deletion-protection",
    "namespace-protection",
    "gateway-only",
    "pod-security",
    "rbac",
];

#[test]
fn the_security_pack_writes_every_file_of_its_source_and_each_scenario_loads() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = init(&["--pack", "security"], tmp.path());
    assert_eq!(code, 0, "{out}{err}");
    let written = tree(&tmp.path().join("security"));
    // a file added to the pack but not embedded (or embedded but deleted) fails here
    assert_eq!(
        written,
        tree(&repo().join("crates/ork-cli/packs/security")),
        "ork init --pack security differs from crates/ork-cli/packs/security"
    );
    assert_eq!(
        tree(tmp.path()).len(),
        written.len(),
        "only security/ is written"
    );
    for s in SCENARIOS {
        for f in [
            "katalog.yaml",
            "crd.yaml",
            "cr.yaml",
            "e2e.yaml",
            "README.md",
        ] {
            assert!(written.contains_key(&format!("{s}/{f}")), "{s}/{f}");
        }
    }
    let ks = katalogs(&written);
    assert_eq!(ks.len(), SCENARIOS.len(), "{ks:?}");
    for k in ks {
        validates(&tmp.path().join("security").join(k));
    }
    // the suite imports the six scenarios, in the documented order, and has no spec of its own
    let loaded = scenarios(&tmp.path().join("security/e2e.yaml"));
    assert_eq!(
        loaded.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        SCENARIOS
    );
    // and a directory run finds each scenario once
    assert_eq!(
        scenarios(&tmp.path().join("security")).len(),
        SCENARIOS.len()
    );
}

#[test]
fn nothing_is_overwritten_without_force() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for pack in ["basic", "security"] {
        let dir = tmp.path().join(pack);
        let (code, _, err) = init(&["--pack", pack], &dir);
        assert_eq!(code, 0, "{err}");
        let probe: PathBuf = if pack == "basic" {
            dir.join("katalog.yaml")
        } else {
            dir.join("security/rbac/katalog.yaml")
        };
        std::fs::write(&probe, "# mine\n").unwrap_or_else(|e| panic!("{e}"));
        let (code, out, err) = init(&["--pack", pack], &dir);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("use --force"), "{err}");
        assert!(err.contains(&probe.display().to_string()), "{err}");
        assert_eq!(
            std::fs::read_to_string(&probe).unwrap_or_default(),
            "# mine\n",
            "{pack}: overwritten without --force"
        );
        let (code, _, err) = init(&["--pack", pack, "--force"], &dir);
        assert_eq!(code, 0, "{err}");
        assert_ne!(
            std::fs::read_to_string(&probe).unwrap_or_default(),
            "# mine\n"
        );
    }
    let (code, _, err) = init(&["--pack", "nope"], tmp.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("available: basic, security"), "{err}");
    let mut c = ork();
    c.args(["init", "--list"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert!(
        out.lines().any(|l| l.starts_with("basic "))
            && out.lines().any(|l| l.starts_with("security ")),
        "{out}"
    );
}

/// The rbac scenario's offline half (docs/security.md §4): `ork validate --full` shows no
/// wildcard and a clean RBAC self-scan, and the generated bundle has no finding at high or above.
#[test]
fn the_rbac_scenario_derives_no_wildcard_and_a_bundle_without_high_findings() {
    let katalog = repo().join("crates/ork-cli/packs/security/rbac/katalog.yaml");
    let mut c = ork();
    c.args(["validate", "--full", "-f"]).arg(&katalog);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rbac self-scan: 0 findings"), "{out}");
    let permissions = out
        .split("\npermissions\n")
        .nth(1)
        .and_then(|p| p.split("\nconfiguration\n").next())
        .unwrap_or_default();
    assert!(
        permissions.contains("Role team-a/orkestra-runtime"),
        "{out}"
    );
    assert!(!permissions.contains('*'), "a wildcard in:\n{permissions}");
    let mut c = ork();
    c.args(["generate", "bundle", "-f"]).arg(&katalog);
    let (code, bundle, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = tmp.path().join("bundle.yaml");
    std::fs::write(&file, &bundle).unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("scan")
        .arg(&file)
        .args(["--min-severity", "high", "-o", "json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["summary"]["findings"], 0, "{out}");
    assert!(
        v["summary"]["objects"].as_u64().unwrap_or(0) > 10,
        "the bundle was scanned: {out}"
    );
}
