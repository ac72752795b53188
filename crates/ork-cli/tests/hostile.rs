//! The hostile-input corpus (issue 8, docs/limits.md) through `validate`, `template`, `scan`,
//! `rbac` and `gate check`: every class answers with a clear error naming its budget (or a
//! correct result) within bounded memory and time, and no secret value of a test input appears
//! in any output format or error of any command.
//!
//! The inputs are generated here (the large ones would bloat the repository). Every run goes
//! through `common::ork_bounded`: 1 GiB of address space and a 60 s kill. The time asserted is
//! generous because this is a debug build on a shared machine; release figures are in
//! BENCHMARKS.md.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Run, ork_bounded};

/// Debug-build ceiling per command; the release build answers every case in under a second.
const SLOW: Duration = Duration::from_secs(30);

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.hostile.example.io}
spec:
  group: hostile.example.io
  scope: Namespaced
  names: {kind: Thing, plural: things, singular: thing}
  versions:
    - {name: v1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, properties: {
         spec: {type: object, x-kubernetes-preserve-unknown-fields: true},
         status: {type: object, x-kubernetes-preserve-unknown-fields: true}}}}}
";

/// A Katalog for `Thing` with the given extra CRD-entry YAML (indented by 6).
fn katalog(extra: &str) -> String {
    format!(
        "apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {{name: hostile}}
gateway: {{enabled: true}}
security: {{webhooks: {{admission: {{enabled: true}}}}}}
spec:
  crds:
    things:
      crdFile: ./crd.yaml
{extra}"
    )
}

fn thing(spec: &str) -> String {
    format!(
        "apiVersion: hostile.example.io/v1\nkind: Thing\nmetadata: {{name: t, namespace: team-a}}\nspec: {spec}\n"
    )
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(files: &[(&str, &str)]) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("crd.yaml"), CRD).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Case { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Run {
        let r = ork_bounded(self.path(), args, None);
        assert!(r.took < SLOW, "{args:?} took {:?}", r.took);
        r
    }
}

fn website() -> PathBuf {
    common::repo().join("examples/website/katalog.yaml")
}

/// `a: &a [*b ...]` nine levels deep: 10^9 nodes from a few hundred bytes.
const BILLION_LAUGHS: &str = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
";

fn yaml_classes() -> Vec<(&'static str, String, &'static str)> {
    let big = "x".repeat(1 << 20);
    vec![
        (
            "billion-laughs.yaml",
            BILLION_LAUGHS.to_string(),
            "yaml.nodes",
        ),
        (
            "anchor-x5000.yaml",
            format!("a: &a \"{big}\"\nb: [{}]\n", vec!["*a"; 5000].join(", ")),
            "yaml.expanded-bytes",
        ),
        ("deep.yaml", "- ".repeat(200_000) + "x\n", "yaml.depth"),
        (
            "many-docs.yaml",
            "---\na: 1\n".repeat(100_001),
            "yaml.documents",
        ),
    ]
}

#[test]
fn yaml_bombs_are_refused_by_every_command_with_the_budget_named() {
    for (name, text, budget) in yaml_classes() {
        let c = Case::new(&[(name, &text)]);
        let w = website();
        let w = w.to_str().unwrap();
        for args in [
            vec!["validate", "-f", name],
            vec!["scan", name],
            vec!["rbac", "audit", "-f", name],
            vec!["rbac", "who-can", "get", "secrets", "-f", name],
            vec!["template", "-f", w, "--cr", name],
            vec!["gate", "check", "-f", w, "--cr", name],
        ] {
            let r = c.run(&args);
            assert_eq!(r.code, 2, "{name} {args:?}: {}{}", r.out, r.err);
            assert!(
                r.err.contains(&format!("budget {budget} exceeded")),
                "{name} {args:?}: {}",
                r.err
            );
            assert!(
                r.err.contains(name),
                "{name} {args:?}: names the file: {}",
                r.err
            );
        }
    }
}

#[test]
fn two_hundred_thousand_keys_are_linear() {
    let keys: String = (0..200_000).map(|i| format!("  k{i}: v\n")).collect();
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big, namespace: team-a}}\ndata:\n{keys}"
    );
    let dup = format!("{cm}  k7: again\n");
    let kat = katalog(&format!(
        "      operatorBox:\n        onCreate:\n          configMaps:\n            - name: big\n              data:\n{}",
        (0..200_000)
            .map(|i| format!("                k{i}: v\n"))
            .collect::<String>()
    ));
    let c = Case::new(&[
        ("cm.yaml", &cm),
        ("dup.yaml", &dup),
        ("katalog.yaml", &kat),
        ("cr.yaml", &thing("{}")),
    ]);
    let r = c.run(&["scan", "cm.yaml", "-o", "json"]);
    assert_eq!(r.code, 0, "no finding on a plain ConfigMap: {}", r.err);
    assert!(
        r.out.contains("\"objects\":1"),
        "{}",
        &r.out[..200.min(r.out.len())]
    );
    let r = c.run(&["scan", "dup.yaml"]);
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(
        r.err.contains("duplicate key") && r.err.contains("k7"),
        "{}",
        r.err
    );
    let r = c.run(&["validate", "-f", "katalog.yaml"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let r = c.run(&[
        "template",
        "-f",
        "katalog.yaml",
        "--cr",
        "cr.yaml",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let r = c.run(&["gate", "check", "-f", "katalog.yaml", "--cr", "cr.yaml"]);
    assert_eq!(r.code, 0, "{}", r.err);
}

/// Templates that try to outgrow their budgets: `ork validate` accepts them (they are valid
/// templates), and rendering stops at the budget with a message that names it.
#[test]
fn template_bombs_stop_at_their_budgets() {
    let cases = [
        (
            "range over 10^12",
            "{{ range 1000000000000 }}x{{ end }}",
            "template.range-iterations",
        ),
        (
            "printf doubling",
            "{{ $x := \\\"ab\\\" }}{{ range 64 }}{{ $x = printf \\\"%s%s\\\" $x $x }}{{ end }}{{ $x }}",
            "template.value-bytes",
        ),
        (
            "replace growth",
            "{{ $x := \\\"a\\\" }}{{ range 64 }}{{ $x = replace \\\"a\\\" \\\"aaaa\\\" $x }}{{ end }}{{ $x }}",
            "template.value-bytes",
        ),
        (
            "indent of a million newlines",
            "{{ indent 4096 .spec.text }}",
            "template.value-bytes",
        ),
    ];
    let newlines = "\n".repeat(1_000_000);
    let cr = thing(&format!("{{text: {:?}}}", newlines));
    for (what, tpl, budget) in cases {
        let kat = katalog(&format!(
            "      operatorBox:\n        onCreate:\n          configMaps:\n            - name: c\n              data: {{v: \"{tpl}\"}}\n"
        ));
        let c = Case::new(&[("katalog.yaml", &kat), ("cr.yaml", &cr)]);
        let r = c.run(&["validate", "-f", "katalog.yaml"]);
        assert_eq!(r.code, 0, "{what}: {}", r.err);
        let r = c.run(&["template", "-f", "katalog.yaml", "--cr", "cr.yaml"]);
        assert_eq!(r.code, 1, "{what}: {}", r.err);
        assert!(r.out.is_empty(), "{what}: nothing rendered");
        assert!(
            r.err.contains("TemplateError") && r.err.contains(budget),
            "{what}: {}",
            r.err
        );
        let r = c.run(&["scan", "katalog.yaml", "--cr", "cr.yaml", "-o", "json"]);
        assert_eq!(r.code, 1, "{what}: {}", r.err);
        assert!(r.out.contains("katalog-render-failed"), "{what}: {}", r.out);
    }
    // in a validation rule the same bomb is an evaluation error: gate check denies (Fail)
    let kat = katalog(
        "      validation:\n        rules:\n          - {field: \"{{ range 1000000000000 }}x{{ end }}\", equals: x, message: m}\n",
    );
    let c = Case::new(&[("katalog.yaml", &kat), ("cr.yaml", &thing("{}"))]);
    let r = c.run(&[
        "gate",
        "check",
        "-f",
        "katalog.yaml",
        "--cr",
        "cr.yaml",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("evaluation-error"), "{}", r.out);
    assert!(r.out.contains("template.range-iterations"), "{}", r.out);
}

#[test]
fn for_each_over_ten_thousand_items_is_linear_and_capped() {
    let kat = katalog(
        "      operatorBox:\n        onCreate:\n          configMaps:\n            - {name: \"c-{{ .index }}\", data: {v: \"{{ .item }}\"}, forEach: {field: spec.items, max: 20000}}\n",
    );
    let items = |n: usize| {
        thing(&format!(
            "{{items: [{}]}}",
            (0..n)
                .map(|i| format!("i{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let c = Case::new(&[
        ("katalog.yaml", &kat),
        ("ok.yaml", &items(10_000)),
        ("over.yaml", &items(10_001)),
    ]);
    let r = c.run(&[
        "template",
        "-f",
        "katalog.yaml",
        "--cr",
        "ok.yaml",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let list: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(10_000));
    // `max: 20000` cannot lift the forEach.items budget
    let r = c.run(&["template", "-f", "katalog.yaml", "--cr", "over.yaml"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(
        r.err.contains("10001 elements exceed max 10000"),
        "{}",
        r.err
    );
}

/// A CR value that the Katalog renders into a Secret, and one that looks like a credential,
/// appear in no output of any command, in any format.
#[test]
fn no_secret_value_appears_in_any_output() {
    const MARK: &str = "s3cr3t-Marker-9f2c";
    const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
    let funcs = [
        "toInt",
        "toBool",
        "semverMajor",
        "durationSeconds",
        "fromJson",
        "fromBase64",
    ];
    let mut data = String::new();
    for (i, f) in funcs.iter().enumerate() {
        data.push_str(&format!(
            "                k{i}: \"{{{{ .spec.password | {f} }}}}\"\n"
        ));
    }
    data.push_str("                k8: \"{{ add .spec.password 1 }}\"\n");
    data.push_str("                k9: \"{{ timeFormat \\\"2006\\\" .spec.password }}\"\n");
    let kat = katalog(&format!(
        "      validation:
        rules:
          - {{field: spec.password, regex: \"^[0-9]+$\", message: \"digits only\", fires: {{reconcile: false}}}}
          - {{field: spec.key, prefix: \"K-\", message: \"keys start with K-\", when: [{{field: spec.key, exists: true}}]}}
      operatorBox:
        onCreate:
          secrets:
            - name: creds
              data:
{data}"
    ));
    // cr.yaml passes the reconcile-time rules and fails in the Secret's templates; cr-key.yaml
    // fails a rule on a credential-looking value
    let cr = thing(&format!("{{password: {MARK}}}"));
    let cr_key = thing(&format!("{{password: \"12\", key: {AWS}}}"));
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: leaky, namespace: team-a}}\ndata: {{AWS_ACCESS_KEY_ID: {AWS}, token: ghp_{}}}\n",
        "a".repeat(36)
    );
    let c = Case::new(&[
        ("katalog.yaml", &kat),
        ("cr.yaml", &cr),
        ("cr-key.yaml", &cr_key),
        ("cm.yaml", &cm),
    ]);
    let mut runs: Vec<(Vec<&str>, Run)> = Vec::new();
    let mut run = |args: Vec<&'static str>| {
        let r = c.run(&args);
        runs.push((args, r));
    };
    run(vec!["validate", "-f", "katalog.yaml"]);
    run(vec!["validate", "-f", "katalog.yaml", "-o", "json"]);
    for cr in ["cr.yaml", "cr-key.yaml"] {
        for o in ["yaml", "json"] {
            run(vec!["template", "-f", "katalog.yaml", "--cr", cr, "-o", o]);
            run(vec![
                "template",
                "-f",
                "katalog.yaml",
                "--cr",
                cr,
                "--status",
                "-o",
                o,
            ]);
        }
        for o in ["text", "json"] {
            run(vec![
                "gate",
                "check",
                "-f",
                "katalog.yaml",
                "--cr",
                cr,
                "-o",
                o,
            ]);
        }
    }
    for o in ["text", "json", "sarif", "junit"] {
        run(vec![
            "scan",
            "katalog.yaml",
            "--cr",
            "cr.yaml",
            "--cr",
            "cr-key.yaml",
            "cm.yaml",
            "-o",
            o,
        ]);
    }
    let mut denied_or_failed = 0;
    let mut withheld = 0;
    for (args, r) in &runs {
        if r.err.contains("value withheld") || r.out.contains("<withheld") {
            withheld += 1;
        }
        for secret in [MARK, AWS] {
            assert!(
                !r.out.contains(secret) && !r.err.contains(secret),
                "{args:?} shows {secret}:\n{}\n{}",
                r.out,
                r.err
            );
        }
        assert!(
            !r.out.contains(&"a".repeat(36)),
            "{args:?} shows the GitHub token"
        );
        if r.code == 1 {
            denied_or_failed += 1;
        }
    }
    // the commands did see the values: validation denied, rendering failed, scan found them
    assert_eq!(
        denied_or_failed,
        runs.len() - 2,
        "all but validate report a problem"
    );
    assert!(
        withheld >= 10,
        "the runs reached the withheld paths: {withheld}"
    );
}

#[test]
fn aggregated_cluster_roles_resolve_in_linear_time() {
    let mut rbac = String::new();
    for i in 0..1000 {
        rbac.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: agg-{i}, labels: {{tier: t{}}}}}\naggregationRule: {{clusterRoleSelectors: [{{matchLabels: {{tier: t{}}}}}]}}\nrules: [{{apiGroups: [\"\"], resources: [pods], verbs: [get]}}]\n",
            i % 50,
            (i + 1) % 50
        ));
        rbac.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: b-{i}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-{i}}}\nsubjects: [{{kind: User, name: u{i}, apiGroup: rbac.authorization.k8s.io}}]\n"
        ));
    }
    let c = Case::new(&[("rbac.yaml", &rbac)]);
    let r = c.run(&["rbac", "audit", "-f", "rbac.yaml", "-o", "json"]);
    assert!(matches!(r.code, 0 | 1), "{}", r.err);
    let r = c.run(&["rbac", "who-can", "get", "pods", "-f", "rbac.yaml"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("User u999"),
        "{}",
        &r.out[..300.min(r.out.len())]
    );
}
