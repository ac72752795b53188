//! The decision corpus through `ork gate check` (tests/fixtures/decisions/): every case an
//! offline admission request can express gives the verdict the corpus expects, and the same
//! verdict, codes and patch as `decide` itself.

mod common;
#[path = "../../../tests/support/decisions.rs"]
mod decisions;

use std::collections::HashMap;

use common::{ork, run};
use decisions::{Case, Observed};
use ork_policy::{Point, PreparedKatalog, Request, User, decide};
use serde_json::Value;

fn gate_check(case: &Case, dir: &std::path::Path, i: usize) -> (Observed, i32) {
    let write = |name: &str, v: &Value| {
        let p = dir.join(format!("{i}-{name}.yaml"));
        std::fs::write(&p, ork_yaml::to_yaml_string(v)).unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let mut c = ork();
    c.arg("gate").arg("check").arg("-f").arg(&case.katalog);
    let subject = case
        .subject()
        .unwrap_or_else(|| panic!("{}: no object", case.name));
    c.arg("--cr").arg(write("object", subject));
    if case.operation == "UPDATE"
        && let Some(old) = &case.old_object
    {
        c.arg("--old").arg(write("old", old));
    }
    c.args([
        "--operation",
        &case.operation,
        "--user",
        &case.user,
        "-o",
        "json",
    ]);
    for g in &case.groups {
        c.args(["--group", g]);
    }
    if let Some(s) = &case.subresource {
        c.args(["--subresource", s]);
    }
    for (k, v) in &case.namespace_labels {
        c.args(["--namespace-labels", &format!("{k}={v}")]);
    }
    let (code, out, err) = run(c);
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: {e}: {out}{err}", case.name));
    let o = Observed {
        decision: v["decision"].as_str().unwrap_or_default().to_string(),
        codes: v["denials"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["code"].as_str().map(str::to_string))
            .collect(),
        message: v["message"].as_str().unwrap_or_default().to_string(),
        warnings: v["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect(),
        patch: v["patch"].clone(),
        error: !v["evaluationError"].is_null(),
        code: u16::try_from(v["code"].as_u64().unwrap_or_default()).unwrap_or_default(),
        skipped: v["skipped"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["layer"].as_str().map(str::to_string))
            .collect(),
    };
    (o, code)
}

/// The same case through `decide` in this process, for the parity check.
fn direct(k: &PreparedKatalog, case: &Case) -> Observed {
    let subject = case.subject().cloned().unwrap_or(Value::Null);
    let api = subject["apiVersion"].as_str().unwrap_or_default();
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let resource = k
        .resource_of(group, subject["kind"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let op = case.operation.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut req = Request::for_object(Point::Admission, op, &subject, &resource);
    req.object = case.object.as_ref();
    req.old_object = case.old_object.as_ref();
    req.subresource = case.subresource.clone();
    req.user = User {
        name: case.user.clone(),
        groups: case.groups_with_authenticated(),
    };
    req.namespace_labels = case.namespace_labels.iter().cloned().collect();
    let v = decide(k, &req);
    let error = !v.errors.is_empty();
    Observed {
        decision: v.decision().as_str().into(),
        codes: v.denials.iter().map(|d| d.code.to_string()).collect(),
        message: v.message(),
        warnings: v.warnings.clone(),
        patch: serde_json::to_value(&v.patch).unwrap_or(Value::Null),
        error,
        code: v.code(),
        skipped: v
            .skipped
            .iter()
            .map(|s| s.layer.as_str().to_string())
            .collect(),
    }
}

#[test]
fn the_corpus_through_gate_check() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases: Vec<Case> = decisions::load()
        .into_iter()
        .filter(Case::replayable_by_gate_check)
        .collect();
    assert!(cases.len() >= 60, "only {} cases replay", cases.len());
    let mut katalogs: HashMap<std::path::PathBuf, PreparedKatalog> = HashMap::new();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let (o, code) = gate_check(case, dir.path(), i);
        let want_code = match o.decision.as_str() {
            "allow" => 0,
            "deny" => 1,
            _ => 3,
        };
        if code != want_code {
            failures.push(format!("{}: exit {code} for {}", case.name, o.decision));
        }
        if let Err(e) = decisions::judge(case, &o) {
            failures.push(e);
        }
        let k = katalogs.entry(case.katalog.clone()).or_insert_with(|| {
            let outcome = ork_katalog::load_file(&case.katalog);
            let k = outcome
                .katalog
                .unwrap_or_else(|| panic!("{:?}", outcome.diagnostics));
            PreparedKatalog::new(&k).unwrap_or_else(|e| panic!("{e}"))
        });
        let d = direct(k, case);
        if (&d.decision, &d.codes, &d.patch) != (&o.decision, &o.codes, &o.patch) {
            failures.push(format!(
                "{}: gate check {:?} {:?} {} differs from decide {:?} {:?} {}",
                case.name, o.decision, o.codes, o.patch, d.decision, d.codes, d.patch
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn gate_check_prints_the_decision_in_webhook_order() {
    let k = decisions::root().join("katalogs/admission.yaml");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cr = dir.path().join("cr.yaml");
    std::fs::write(
        &cr,
        "apiVersion: corpus.orkestra.io/v1\nkind: App\nmetadata: {name: web, namespace: team-a}\nspec: {image: nginx:1.25, replicas: 9}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("gate")
        .arg("check")
        .arg("-f")
        .arg(&k)
        .arg("--cr")
        .arg(&cr);
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{out}{err}");
    let expected = [
        "App team-a/web · CREATE · developer",
        "  mutation      ↳ spec.tier (absent) → standard   default",
        "                ↳ metadata.annotations[\"corpus.io/owner\"] (absent) → nobody   default",
        "  validation    ✗ spec.replicas: at most 5 replicas (got: 9)",
        "                ✗ spec.image: images come from the internal registry (got: nginx:1.25)",
        "DENIED · 2 of 4 validation rules failed",
    ];
    for line in expected {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    // the alias `ork gate -f K --cr CR` is the same command
    let mut c = ork();
    c.arg("gate").arg("-f").arg(&k).arg("--cr").arg(&cr);
    let (code2, out2, _) = run(c);
    assert_eq!((code2, out2), (code, out));
}
