//! Text and JSON reports (docs/checks.md §8). Deterministic: no timestamps, no absolute paths.

use ork_io::escape_control;
use ork_policy::checks::Severity;
use serde::Serialize;

use crate::{Located, Report};

fn object_name(f: &Located) -> String {
    match &f.namespace {
        Some(ns) => format!("{ns}/{}", f.name),
        None => f.name.clone(),
    }
}

fn counts<'a>(it: impl Iterator<Item = &'a Located>) -> [usize; 4] {
    let mut c = [0; 4];
    for f in it {
        c[match f.severity {
            Severity::Critical => 0,
            Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
        }] += 1;
    }
    c
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// For a terminal: file names, kinds, names, containers and messages come from the scanned
/// files, so their control characters are escaped (one finding cannot forge or hide another).
pub fn text(r: &Report, min: Severity) -> String {
    let mut out = String::new();
    let mut file = "";
    let visible: Vec<&Located> = r.visible(min).collect();
    for f in &visible {
        if f.file != file {
            file = &f.file;
            out.push_str(&format!("{}\n", escape_control(file)));
        }
        let container = f
            .container
            .as_ref()
            .map(|c| format!(" [{}]", escape_control(c)))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<4} {:<9} {}  {} {}{container}\n",
            f.line,
            f.severity.as_str(),
            f.check,
            escape_control(&f.kind),
            escape_control(&object_name(f))
        ));
        out.push_str(&format!(
            "      {}\n      fix: {}\n",
            escape_control(&f.message),
            f.remediation
        ));
    }
    let [c, h, m, l] = counts(visible.iter().copied());
    out.push_str(&format!(
        "{}, {}, {} (critical {c}, high {h}, medium {m}, low {l})\n",
        plural(r.files, "file"),
        plural(r.objects, "object"),
        plural(visible.len(), "finding")
    ));
    out
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    check: &'a str,
    severity: &'a str,
    file: &'a str,
    line: u32,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    container: Option<&'a str>,
    message: &'a str,
    remediation: &'a str,
}

#[derive(Serialize)]
struct BySeverity {
    critical: usize,
    high: usize,
    medium: usize,
    low: usize,
}

#[derive(Serialize)]
struct Summary {
    objects: usize,
    findings: usize,
    by_severity: BySeverity,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    findings: Vec<JsonFinding<'a>>,
    summary: Summary,
}

/// One compact document; keys in the order docs/checks.md §8 gives.
pub fn json(r: &Report, min: Severity) -> String {
    let visible: Vec<&Located> = r.visible(min).collect();
    let [critical, high, medium, low] = counts(visible.iter().copied());
    let report = JsonReport {
        version: 1,
        findings: visible
            .iter()
            .map(|f| JsonFinding {
                check: f.check,
                severity: f.severity.as_str(),
                file: &f.file,
                line: f.line,
                kind: &f.kind,
                namespace: f.namespace.as_deref(),
                name: &f.name,
                container: f.container.as_deref(),
                message: &f.message,
                remediation: f.remediation,
            })
            .collect(),
        summary: Summary {
            objects: r.objects,
            findings: visible.len(),
            by_severity: BySeverity {
                critical,
                high,
                medium,
                low,
            },
        },
    };
    serde_json::to_string(&report).unwrap_or_default()
}

/// `privileged-container` → `Privileged container`.
fn title(id: &str) -> String {
    let words = id.replace('-', " ");
    let mut c = words.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// `privileged-container` → `PrivilegedContainer`.
fn camel(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

fn area(id: &str) -> &'static str {
    if id.starts_with("rbac-") {
        "rbac"
    } else if id.starts_with("service-") || id.starts_with("ingress-") || id.contains("network") {
        "network"
    } else if id.contains("credential") || id.contains("secret") {
        "secrets"
    } else if id.starts_with("suppression-") {
        "suppression"
    } else {
        "workload"
    }
}

/// SARIF 2.1.0: one run, a rule per check (skipped ones disabled), suppressed findings kept
/// with an inSource suppression, fingerprints without the line so they survive edits.
pub fn sarif(r: &Report, min: Severity, skip: &[String]) -> String {
    use serde_json::json;
    let mut checks: Vec<&ork_policy::checks::Check> =
        ork_policy::checks::CATALOGUE.iter().collect();
    checks.sort_by_key(|c| c.id);
    let rules: Vec<serde_json::Value> = checks
        .iter()
        .map(|c| {
            let mut eq = serde_json::Map::new();
            for (tool, v) in [("trivy", c.trivy), ("checkov", c.checkov), ("kube-linter", c.kube_linter)] {
                if !v.is_empty() {
                    eq.insert(tool.into(), json!(v));
                }
            }
            let mut config = json!({"level": level(c.severity)});
            if skip.iter().any(|s| s == c.id) {
                config["enabled"] = json!(false);
            }
            json!({"id": c.id, "name": camel(c.id), "shortDescription": {"text": title(c.id)}, "fullDescription": {"text": c.trigger},
                   "help": {"text": c.remediation}, "defaultConfiguration": config,
                   "properties": {"security-severity": security_severity(c.severity), "tags": ["security", "kubernetes", area(c.id)], "equivalents": eq}})
        })
        .collect();
    let doc = SarifDoc {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [SarifRun {
            results: SarifResults {
                report: r,
                min,
                checks: &checks,
            },
            tool: json!({"driver": {"name": "ork", "version": env!("CARGO_PKG_VERSION"), "rules": rules}}),
        }],
        version: "2.1.0",
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The SARIF document. Results are built one at a time while they are written: as one `json!`
/// tree, 26,000 findings of `ork rbac audit` held 490 MB. Fields are in alphabetical order, the
/// order serde_json's map gave them, so the bytes are the same.
#[derive(Serialize)]
struct SarifDoc<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [SarifRun<'a>; 1],
    version: &'static str,
}

#[derive(Serialize)]
struct SarifRun<'a> {
    results: SarifResults<'a>,
    tool: serde_json::Value,
}

struct SarifResults<'a> {
    report: &'a Report,
    min: Severity,
    checks: &'a [&'a ork_policy::checks::Check],
}

impl Serialize for SarifResults<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.report
                .findings
                .iter()
                .filter(|f| f.severity >= self.min)
                .map(|f| sarif_result(f, self.checks)),
        )
    }
}

fn sarif_result(f: &Located, checks: &[&ork_policy::checks::Check]) -> serde_json::Value {
    use serde_json::json;
    use sha2::Digest;
    use std::fmt::Write;
    let index = checks.iter().position(|c| c.id == f.check).unwrap_or(0);
    let ns = f.namespace.as_deref().unwrap_or("");
    let container = f.container.as_deref().unwrap_or("");
    let fqn = if container.is_empty() {
        format!("{}/{ns}/{}", f.kind, f.name)
    } else {
        format!("{}/{ns}/{}/{container}", f.kind, f.name)
    };
    let digest = sha2::Sha256::digest(
        format!(
            "{}|{}|{}|{ns}|{}|{container}",
            f.check, f.file, f.kind, f.name
        )
        .as_bytes(),
    );
    let mut fp = String::with_capacity(64);
    for b in digest {
        // writing to a String cannot fail
        let _ = write!(fp, "{b:02x}");
    }
    let mut res = json!({"ruleId": f.check, "ruleIndex": index, "level": level(f.severity), "message": {"text": f.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"}, "region": {"startLine": f.line.max(1)}},
                       "logicalLocations": [{"fullyQualifiedName": fqn}]}],
        "partialFingerprints": {"orkFinding/v1": fp}});
    if let Some(reason) = &f.suppressed {
        res["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
    }
    res
}

/// XML 1.0 cannot carry NUL, ESC, BEL …: one such character from a scanned name would make the
/// whole report unparsable, so every text and attribute goes through `ork_io::xml_escape`.
fn xml(s: &str) -> std::borrow::Cow<'_, str> {
    ork_io::xml_escape(s)
}

/// JUnit: a testsuite per file, a testcase per object and applicable check at or above the
/// threshold; a finding is a `<failure>` (one line per affected container, then the fix), a
/// suppressed check `<skipped>`.
pub fn junit(r: &Report, min: Severity) -> String {
    let mut files: Vec<&str> = r.scanned.iter().map(|o| o.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let mut body = String::new();
    let (mut total, mut failed) = (0, 0);
    for file in files {
        let mut suite = String::new();
        let (mut tests, mut fails) = (0, 0);
        for o in r.scanned.iter().filter(|o| o.file == file) {
            let same = |f: &&Located| {
                f.file == o.file
                    && f.kind == o.kind
                    && f.name == o.name
                    && f.namespace == o.namespace
            };
            let obj = match &o.namespace {
                Some(ns) => format!("{ns}/{}", o.name),
                None => o.name.clone(),
            };
            for id in &o.checks {
                let Some(check) = ork_policy::checks::check(id) else {
                    continue;
                };
                if check.severity < min {
                    continue;
                }
                tests += 1;
                let name = format!("{id} {} {obj}", o.kind);
                suite.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\"",
                    xml(file),
                    xml(&name)
                ));
                let hits: Vec<&Located> = r
                    .findings
                    .iter()
                    .filter(same)
                    .filter(|f| f.check == *id)
                    .collect();
                let open: Vec<&&Located> = hits.iter().filter(|f| f.suppressed.is_none()).collect();
                if !open.is_empty() {
                    fails += 1;
                    let lines: Vec<String> =
                        open.iter().map(|f| xml(&f.message).into_owned()).collect();
                    suite.push_str(&format!(
                        ">\n      <failure type=\"{}\" message=\"{}\">{}\nfix: {}</failure>\n    </testcase>\n",
                        check.severity.as_str(),
                        xml(&open[0].message),
                        lines.join("\n"),
                        xml(check.remediation)
                    ));
                } else if let Some(reason) = hits.iter().find_map(|f| f.suppressed.as_ref()) {
                    suite.push_str(&format!(
                        ">\n      <skipped message=\"suppressed: {}\"/>\n    </testcase>\n",
                        xml(reason)
                    ));
                } else {
                    suite.push_str("/>\n");
                }
            }
        }
        total += tests;
        failed += fails;
        body.push_str(&format!("  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{fails}\">\n{suite}  </testsuite>\n", xml(file)));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ork scan\" tests=\"{total}\" failures=\"{failed}\">\n{body}</testsuites>\n"
    )
}
