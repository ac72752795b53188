//! What a run found, and its three forms (docs/e2e.md §4): progress lines, JUnit XML and
//! JSON. The runner fills it in; the formats never touch a cluster.

use serde::Serialize;

use crate::model::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One check: a step, a resource check or a command.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// `apply`, `delete`, …, `resource`, `command`, or a phase name
    pub kind: String,
    /// what it did, e.g. `delete App default/demo as dev (dry-run) denied`
    pub detail: String,
    pub status: Status,
    pub attempts: u32,
    /// why it failed (with the last observed value), or the API's message
    pub message: String,
    /// the index of the step within its expectation (steps only)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// what the API server did with a request step (allowed or denied), whatever was expected
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Verdict>,
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpectReport {
    pub name: String,
    pub after: String,
    pub status: Status,
    #[serde(rename = "durationMs")]
    pub duration_ms: u64,
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    pub passed: bool,
    #[serde(rename = "durationMs")]
    pub duration_ms: u64,
    /// a failed phase (setup, install, cr-applied, cr-deleted, teardown) and why
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase_failure: Option<PhaseFailure>,
    pub expect: Vec<ExpectReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseFailure {
    pub phase: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub passed: bool,
    #[serde(rename = "durationMs")]
    pub duration_ms: u64,
    pub scenarios: Vec<ScenarioReport>,
}

impl ScenarioReport {
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s: Status| self.expect.iter().filter(|e| e.status == s).count();
        let phase = usize::from(self.phase_failure.is_some());
        (
            n(Status::Passed),
            n(Status::Failed) + phase,
            n(Status::Skipped),
        )
    }

    /// `deletion-protection: 6 passed, 1 failed, 0 skipped in 41.2s`
    pub fn summary_line(&self) -> String {
        let (p, f, s) = self.counts();
        format!(
            "{}: {p} passed, {f} failed, {s} skipped in {:.1}s",
            self.name,
            self.duration_ms as f64 / 1000.0
        )
    }
}

/// One progress line (docs/e2e.md §4):
/// `[scenario] after › expectation › detail ✓ 0.3s`.
pub fn progress_line(
    scenario: &str,
    after: &str,
    expect: &str,
    check: &CheckReport,
    secs: f64,
) -> String {
    let mark = match check.status {
        Status::Passed => format!("✓ {secs:.1}s"),
        Status::Failed => format!("✗ {}", check.message),
        Status::Skipped => "- skipped".to_string(),
    };
    let line = format!("[{scenario}] {after} › {expect} › {} {mark}", check.detail);
    ork_io::escape_control(&line).into_owned()
}

impl RunReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// JUnit XML: one `<testsuite>` per scenario, one `<testcase>` per expectation
    /// (`classname` = `<scenario>.<after>`), a phase failure as a test case named after it.
    pub fn to_junit(&self) -> String {
        let x = |s: &str| ork_io::xml_escape(s).into_owned();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let (tests, failures, skipped): (usize, usize, usize) = self
            .scenarios
            .iter()
            .map(|s| {
                let (p, f, k) = s.counts();
                (p + f + k, f, k)
            })
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
        out.push_str(&format!(
            "<testsuites name=\"ork e2e\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
            self.duration_ms as f64 / 1000.0
        ));
        for s in &self.scenarios {
            let (p, f, k) = s.counts();
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" skipped=\"{k}\" time=\"{:.3}\" file=\"{}\">\n",
                x(&s.name),
                p + f + k,
                s.duration_ms as f64 / 1000.0,
                x(&s.file)
            ));
            if let Some(pf) = &s.phase_failure {
                out.push_str(&format!(
                    "    <testcase name=\"{}\" classname=\"{}.{}\"><failure message=\"{}\"/></testcase>\n",
                    x(&pf.phase),
                    x(&s.name),
                    x(&pf.phase),
                    x(&pf.message)
                ));
            }
            for e in &s.expect {
                out.push_str(&format!(
                    "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{:.3}\">",
                    x(&e.name),
                    x(&s.name),
                    x(&e.after),
                    e.duration_ms as f64 / 1000.0
                ));
                match e.status {
                    Status::Passed => {}
                    Status::Skipped => out.push_str("<skipped/>"),
                    Status::Failed => {
                        let failing = e.checks.iter().find(|c| c.status == Status::Failed);
                        let msg = failing
                            .map(|c| format!("{}: {}", c.detail, c.message))
                            .unwrap_or_else(|| "failed".into());
                        out.push_str(&format!("<failure message=\"{}\"/>", x(&msg)));
                    }
                }
                out.push_str("</testcase>\n");
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RunReport {
        RunReport {
            passed: false,
            duration_ms: 1500,
            scenarios: vec![ScenarioReport {
                name: "dp".into(),
                file: "dp/e2e.yaml".into(),
                passed: false,
                duration_ms: 1500,
                phase_failure: None,
                expect: vec![
                    ExpectReport {
                        name: "ok <one>".into(),
                        after: "cr-applied".into(),
                        status: Status::Passed,
                        duration_ms: 10,
                        checks: vec![],
                    },
                    ExpectReport {
                        name: "bad".into(),
                        after: "cr-applied".into(),
                        status: Status::Failed,
                        duration_ms: 20,
                        checks: vec![CheckReport {
                            kind: "patch".into(),
                            detail: "patch App default/demo as dev".into(),
                            status: Status::Failed,
                            attempts: 1,
                            message: "expected denied, was allowed".into(),
                            step: Some(0),
                            observed: Some(Verdict::Allowed),
                        }],
                    },
                ],
            }],
        }
    }

    #[test]
    fn junit_names_the_failing_check_and_escapes() {
        let j = report().to_junit();
        assert!(j.contains("tests=\"2\" failures=\"1\""), "{j}");
        assert!(j.contains("classname=\"dp.cr-applied\""));
        assert!(j.contains("name=\"ok &lt;one&gt;\""));
        assert!(j.contains(
            "<failure message=\"patch App default/demo as dev: expected denied, was allowed\"/>"
        ));
    }

    #[test]
    fn json_has_the_documented_keys() {
        let v: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap_or_default();
        assert_eq!(v["passed"], false);
        assert_eq!(v["scenarios"][0]["expect"][1]["status"], "failed");
        assert_eq!(
            v["scenarios"][0]["expect"][1]["checks"][0]["observed"],
            "allowed"
        );
        assert_eq!(v["scenarios"][0]["expect"][1]["checks"][0]["attempts"], 1);
        assert!(v["durationMs"].is_u64());
    }

    #[test]
    fn summary_counts() {
        assert_eq!(
            report().scenarios[0].summary_line(),
            "dp: 1 passed, 1 failed, 0 skipped in 1.5s"
        );
    }
}
