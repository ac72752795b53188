//! Loading E2E files: the documented example decodes into the steps it says; every kind of bad
//! spec is an error at file:line naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ork_limits::Limits;
use ork_scenario::{Action, Phase, Verdict, load_paths};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn the_documented_deletion_protection_example_loads() {
    let s = load_paths(&[fixture("deletion-protection")], &Limits::default()).unwrap();
    assert_eq!(s.len(), 1);
    let s = &s[0];
    assert_eq!(s.name, "deletion-protection");
    assert_eq!((s.crds.len(), s.crs.len(), s.setup.len()), (1, 1, 1));
    assert_eq!(s.expect.len(), 7);
    assert_eq!(s.expect[2].after, Phase::CrApplied);
    assert_eq!(s.expect[6].after, Phase::CrDeleted);
    let Action::Delete { target, opts } = &s.expect[1].steps[0].action else {
        panic!("not a delete: {:?}", s.expect[1].steps[0]);
    };
    assert_eq!(target.kind.kind, "CustomResourceDefinition");
    assert_eq!(opts.expect, Verdict::Denied);
    assert!(opts.dry_run);
    assert_eq!(opts.identity.as_ref().unwrap().user, "dev");
    assert_eq!(opts.message_contains.as_deref(), Some("deletion-protected"));
    let Action::CanI {
        resource,
        group,
        expect,
        ..
    } = &s.expect[3].steps[0].action
    else {
        panic!("not canI");
    };
    assert_eq!(
        (resource.as_str(), group.as_str(), *expect),
        ("apps", "security.orkestra.io", true)
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A scenario directory with the fixture's Katalog, CRD and CR, and `e2e` as its E2E file.
fn scenario(e2e: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    for f in ["katalog.yaml", "crd.yaml", "cr.yaml", "setup.yaml"] {
        std::fs::copy(fixture("deletion-protection").join(f), d.path().join(f)).unwrap();
    }
    let p = write(d.path(), "e2e.yaml", e2e);
    (d, p)
}

const HEAD: &str = "apiVersion: orkestra.orkspace.io/v1\nkind: E2E\nmetadata: {name: t}\nspec:\n  katalog: ./katalog.yaml\n  crd: ./crd.yaml\n  cr: ./cr.yaml\n";

fn errors(e2e: &str) -> Vec<String> {
    let (_d, p) = scenario(e2e);
    match load_paths(&[p], &Limits::default()) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn an_unknown_key_is_an_error_with_line_and_hint() {
    let e = errors(&format!(
        "{HEAD}  expect:\n    - name: a\n      stepz: []\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("e2e.yaml:10:7") && m.contains("unknown field \"stepz\"")),
        "{e:?}"
    );
}

#[test]
fn a_bad_step_is_an_error_with_line() {
    // two actions in one step
    let e = errors(&format!(
        "{HEAD}  expect:\n    - name: a\n      steps:\n        - {{delete: {{kind: ConfigMap, name: x}}, assert: {{kind: ConfigMap, name: x}}}}\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("e2e.yaml:11:") && m.contains("exactly one action")),
        "{e:?}"
    );
    // a wrong expect value
    let e = errors(&format!(
        "{HEAD}  expect:\n    - name: a\n      steps:\n        - {{delete: {{kind: ConfigMap, name: x}}, expect: refused}}\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("e2e.yaml:11:") && m.contains("refused")),
        "{e:?}"
    );
    // a bad assert path
    let e = errors(&format!(
        "{HEAD}  expect:\n    - name: a\n      steps:\n        - assert: {{kind: App, name: demo, fields: {{'status.conditions[type': x}}}}\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("e2e.yaml:11:") && m.contains("field path")),
        "{e:?}"
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e = errors(
        "apiVersion: orkestra.orkspace.io/v1\nkind: E2E\nmetadata: {name: t}\nspec:\n  katalog: ./katalog.yaml\n  crd: ./nope.yaml\n  expect: [{name: a, resources: [{kind: ConfigMap, name: x}]}]\n",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("e2e.yaml:6:") && m.contains("nope.yaml")),
        "{e:?}"
    );
}

#[test]
fn orkestra_keys_ork_does_not_run_are_not_supported_yet() {
    let e = errors(&format!(
        "{HEAD}  freshCluster: true\n  expect: [{{name: a, resources: [{{kind: ConfigMap, name: x}}]}}]\n"
    ));
    assert!(e.iter().any(|m| m.contains("not supported yet")), "{e:?}");
}

#[test]
fn suites_import_in_order_each_file_once_and_cycles_are_errors() {
    let (d, _) = scenario(&format!(
        "{HEAD}  expect: [{{name: a, resources: [{{kind: ConfigMap, name: x}}]}}]\n"
    ));
    let sub = d.path().join("b");
    std::fs::create_dir(&sub).unwrap();
    for f in ["katalog.yaml", "crd.yaml", "cr.yaml"] {
        std::fs::copy(d.path().join(f), sub.join(f)).unwrap();
    }
    write(
        &sub,
        "e2e.yaml",
        &format!(
            "{}  expect: [{{name: a, resources: [{{kind: ConfigMap, name: x}}]}}]\n",
            HEAD.replace("name: t", "name: b")
        ),
    );
    let suite = write(
        d.path(),
        "suite.yaml",
        "apiVersion: orkestra.orkspace.io/v1\nkind: E2E\nmetadata: {name: all}\nimports: [./b/e2e.yaml, {path: ./e2e.yaml}]\n",
    );
    // the suite, then the directory (which finds both e2e.yaml files again): each runs once
    let s = load_paths(&[suite, d.path().to_path_buf()], &Limits::default()).unwrap();
    let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["b", "t"]);
    let looped = write(
        d.path(),
        "loop.yaml",
        "apiVersion: orkestra.orkspace.io/v1\nkind: E2E\nmetadata: {name: l}\nimports: [./loop.yaml]\n",
    );
    let e = load_paths(&[looped], &Limits::default()).err().unwrap();
    assert!(
        e.iter().any(|d| d.message.contains("import cycle")),
        "{e:?}"
    );
}

#[test]
fn imports_nested_past_the_budget_are_an_error_not_a_hang() {
    let d = tempfile::tempdir().unwrap();
    // a chain of suites, each importing the next: deeper than MAX_IMPORT_DEPTH
    let n = ork_scenario::load::MAX_IMPORT_DEPTH + 3;
    for i in 0..n {
        write(
            d.path(),
            &format!("s{i}.yaml"),
            &format!(
                "apiVersion: orkestra.orkspace.io/v1\nkind: E2E\nmetadata: {{name: s{i}}}\nimports: [./s{}.yaml]\n",
                i + 1
            ),
        );
    }
    let e = load_paths(&[d.path().join("s0.yaml")], &Limits::default())
        .err()
        .unwrap();
    assert!(
        e.iter().any(|d| d.message.contains("nest deeper than")),
        "{e:?}"
    );
}
