//! SARIF output validates against the official SARIF 2.1.0 JSON schema (shipped in the
//! serde-sarif crate, a dev-dependency, so it is on disk whenever this test builds).

use std::path::PathBuf;

fn schema_path() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        });
    let registry = cargo_home.join("registry/src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&registry)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("serde-sarif-0.8"))
        })
        .map(|p| p.join("src/schema.json"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "serde-sarif's schema.json not found under {}",
            registry.display()
        )
    })
}

fn fix_pattern(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" => {
            *s = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into()
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(fix_pattern),
        serde_json::Value::Object(m) => m.values_mut().for_each(fix_pattern),
        _ => {}
    }
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let opts = ork_scan::Options {
        skip: vec!["image-no-digest".into()],
        ..Default::default()
    };
    let report = ork_scan::scan(
        &[
            repo.join("tests/fixtures/scan"),
            repo.join("examples/website/katalog.yaml"),
        ],
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = ork_scan::sarif(&report, ork_policy::checks::Severity::Low, &opts.skip);
    let instance: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        schema["title"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    // The published schema's `language` pattern has a stray `]` that the validator rejects as a
    // regex; use the pattern it means (two letters, optionally `-` and two more).
    let mut schema = schema;
    fix_pattern(&mut schema);
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF is invalid:\n{}",
        errors.join("\n")
    );
    // the validator does bite: a result with a level SARIF does not define is rejected
    let mut broken = instance.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));
    // and it reads back through serde-sarif's typed model
    let typed: serde_sarif::sarif::Sarif =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(typed.runs.len(), 1);
    // content the spec requires
    let run = &instance["runs"][0];
    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rules.len(), ork_policy::checks::CATALOGUE.len());
    let skipped = rules
        .iter()
        .find(|r| r["id"] == "image-no-digest")
        .cloned()
        .unwrap_or_default();
    assert_eq!(skipped["defaultConfiguration"]["enabled"], false);
    let privileged = rules
        .iter()
        .find(|r| r["id"] == "privileged-container")
        .cloned()
        .unwrap_or_default();
    assert_eq!(privileged["properties"]["security-severity"], "9.5");
    assert_eq!(
        privileged["properties"]["equivalents"]["checkov"],
        "CKV_K8S_16"
    );
    let results = run["results"].as_array().cloned().unwrap_or_default();
    let suppressed = results
        .iter()
        .find(|r| r["ruleId"] == "privileged-port")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        suppressed["suppressions"][0]["kind"], "inSource",
        "suppressed findings stay, marked: {suppressed}"
    );
    assert!(results.iter().all(|r| {
        r["partialFingerprints"]["orkFinding/v1"]
            .as_str()
            .is_some_and(|f| f.len() == 64)
    }));
}
