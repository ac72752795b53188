//! Every broken Katalog under tests/fixtures/broken yields its expected message at the right
//! line (marked `# <- message` in the file), its hint, and exit 1 — never a panic.

mod common;

use common::{ork, repo, run};

struct Expect {
    line: usize,
    message: String,
    hint: Option<String>,
}

fn expectation(text: &str) -> Option<Expect> {
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("# hint: ").map(str::to_string));
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("# <- "))?;
    let message = line.split("# <- ").nth(1)?.trim().to_string();
    Some(Expect {
        line: i + 1,
        message,
        hint,
    })
}

#[test]
fn broken_katalogs_report_message_line_and_exit_1() {
    let dir = repo().join("tests/fixtures/broken");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".katalog.yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap_or_default();
        let Some(want) = expectation(&text) else {
            failures.push(format!("{}: no `# <- message` marker", case.display()));
            continue;
        };
        let mut c = ork();
        c.arg("validate").arg("-f").arg(case);
        let (code, _out, err) = run(c);
        let file = case.display().to_string();
        let located = format!("{file}:{}:", want.line);
        let ok = code == 1
            && err
                .lines()
                .any(|l| l.starts_with(&located) && l.contains(&want.message))
            && want
                .hint
                .as_ref()
                .is_none_or(|h| err.contains(&format!("hint: {h}")))
            && !err.contains("panicked");
        if !ok {
            failures.push(format!(
                "{}\n  want exit 1, line {}: {}{}\n  got exit {code}:\n{err}",
                case.display(),
                want.line,
                want.message,
                want.hint
                    .as_ref()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default()
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
fn protect_crs_without_protect_crd_is_a_warning_with_exit_0() {
    let case = repo().join("tests/fixtures/warn/protect-crs-only.katalog.yaml");
    let text = std::fs::read_to_string(&case).unwrap_or_default();
    let want = expectation(&text).unwrap_or_else(|| panic!("no marker"));
    let mut c = ork();
    c.arg("validate").arg("-f").arg(&case);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    let msg = want.message.trim_start_matches("warning: ");
    assert!(
        err.lines().any(
            |l| l.starts_with(&format!("{}:{}:", case.display(), want.line))
                && l.contains("warning:")
                && l.contains(msg)
        ),
        "{err}"
    );
    assert!(
        out.contains("CRs only (CRD not protected – warning)"),
        "{out}"
    );
    assert!(
        out.contains("1 CRD valid (0 built-in, 1 custom), 1 warning"),
        "{out}"
    );
    let mut strict = ork();
    strict.arg("validate").arg("-W").arg("-f").arg(&case);
    assert_eq!(run(strict).0, 1, "-W turns warnings into exit 1");
}

#[test]
fn yaml_syntax_errors_and_missing_files_exit_2() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: [unclosed\n").unwrap_or_else(|e| panic!("{e}"));
    let mut c = ork();
    c.arg("validate").arg("-f").arg(&bad);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("YAML syntax error"), "{err}");
    let mut c = ork();
    c.arg("validate")
        .arg("-f")
        .arg(tmp.path().join("nope.yaml"));
    assert_eq!(run(c).0, 2);
}

#[test]
fn json_output_has_diagnostics_with_locations() {
    let case = repo().join("tests/fixtures/broken/01-unknown-key.katalog.yaml");
    let mut c = ork();
    c.arg("validate").arg("-o").arg("json").arg("-f").arg(&case);
    let (code, out, _) = run(c);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let e = &v["errors"][0];
    assert_eq!(
        e["message"],
        "unknown field \"replica\" at spec.crds.web.operatorBox.onCreate.deployments[0]"
    );
    assert_eq!(e["hint"], "did you mean \"replicas\"?");
    assert_eq!(
        e["path"],
        "spec.crds.web.operatorBox.onCreate.deployments[0].replica"
    );
    assert_eq!(e["line"], 14);
    assert_eq!(e["column"], 15);
}

#[test]
fn workload_warnings_point_at_their_lines() {
    let case = repo().join("tests/fixtures/warn/workload-warnings.katalog.yaml");
    let text = std::fs::read_to_string(&case).unwrap_or_default();
    let mut c = ork();
    c.arg("validate").arg("-f").arg(&case);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    for (i, line) in text.lines().enumerate() {
        if let Some(m) = line.split("# <- warning: ").nth(1) {
            let at = format!("{}:{}:", case.display(), i + 1);
            assert!(
                err.lines()
                    .any(|l| l.starts_with(&at) && l.contains("warning:") && l.contains(m.trim())),
                "missing {at} {m}\n{err}"
            );
        }
    }
    assert!(out.contains("2 warnings"), "{out}");
}
