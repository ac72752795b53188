//! The decision corpus through `ork gate check` (tests/fixtures/decisions/): every case an
//! offline admission request can express gives the verdict the corpus expects, and the same
//! verdict, codes and patch as `decide` itself.

mod common;
#[path = "../../../tests/support/decisions.rs"]
mod decisions;

use std::collections::HashMap;

use common::{ork, run};
use decisions::{Case, Observed};
use ork_policy::PreparedKatalog;
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
        let k = decisions::prepared(&mut katalogs, &case.katalog);
        let d = decisions::through_decide(k, case);
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
