//! Hostile input through the scanner: control characters in names and messages keep every
//! output format well-formed (JUnit parses as XML, SARIF and JSON as JSON) and the text output
//! free of raw controls; special files in a walked directory are skipped and reported.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::PathBuf;

use ork_policy::checks::Severity;

/// A privileged Deployment whose namespace, name, container and image carry ESC, BEL, NUL, a
/// C1 CSI and a bidi override (YAML double-quoted escapes).
const NASTY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: "web\e[2J\a"
  namespace: "shop\0x"
spec:
  template:
    spec:
      containers:
        - name: "app\e]0;owned\a"
          image: "nginx\x9b31m\u202e:latest"
          securityContext: {privileged: true}
"#;

fn nasty_scan() -> (tempfile::TempDir, ork_scan::Report) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evil\x1b[31m.yaml");
    std::fs::write(&file, NASTY).unwrap();
    let report = ork_scan::scan(&[file], &ork_scan::Options::default()).unwrap();
    assert!(!report.findings.is_empty());
    assert!(
        report.findings.iter().any(|f| f.name().contains('\x1b')),
        "the fixture really carries controls"
    );
    (dir, report)
}

fn has_raw_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && c != '\n' || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[test]
fn text_output_escapes_control_characters() {
    let (_d, report) = nasty_scan();
    let out = ork_scan::text(&report, Severity::Low);
    assert!(!has_raw_control(&out), "{out:?}");
    assert!(out.contains("shop\\x00x/web\\x1b[2J\\x07"), "{out}");
    assert!(out.contains("[app\\x1b]0;owned\\x07]"), "{out}");
    assert!(out.contains("evil\\x1b[31m.yaml"), "{out}");
}

#[test]
fn junit_with_esc_bel_nul_parses_as_xml() {
    let (_d, report) = nasty_scan();
    let xml = ork_scan::junit(&report, Severity::Low);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    let case = failure.parent().unwrap();
    assert!(
        case.attribute("name")
            .unwrap()
            .contains("shop\\x00x/web\\x1b[2J\\x07"),
        "{xml}"
    );
    assert!(!has_raw_control(&xml.replace('\n', "")), "{xml:?}");
}

#[test]
fn sarif_and_json_stay_valid_json_and_round_trip_the_text() {
    let (_d, report) = nasty_scan();
    let sarif = ork_scan::sarif(&report, Severity::Low, &[]);
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let fqn =
        v["runs"][0]["results"][0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap();
    assert!(
        fqn.contains("web\x1b[2J\x07"),
        "serde escapes, the value is intact: {fqn:?}"
    );
    assert!(!sarif.contains('\x1b') && !sarif.contains('\0'), "{sarif}");
    let json = ork_scan::json(&report, Severity::Low);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["findings"][0]["namespace"], "shop\0x");
    assert!(!json.contains('\x1b') && !json.contains('\0'), "{json}");
}

#[cfg(unix)]
#[test]
fn a_fifo_in_a_walked_directory_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.yaml"), NASTY).unwrap();
    let fifo: PathBuf = dir.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let report =
        ork_scan::scan(&[dir.path().to_path_buf()], &ork_scan::Options::default()).unwrap();
    assert_eq!(report.files, 1);
    assert_eq!(
        report.skipped_files,
        vec![ork_io::Skipped {
            path: fifo,
            kind: ork_io::FileKind::Fifo
        }]
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.yaml");
    std::fs::write(&file, format!("\u{feff}{NASTY}")).unwrap();
    let report = ork_scan::scan(&[file], &ork_scan::Options::default()).unwrap();
    assert_eq!(report.objects, 1);
}
