//! Text, JSON, SARIF and JUnit reports (docs/checks.md §8). Deterministic: no timestamps, no
//! absolute paths. Each is written to an `io::Write` as it is produced (a report of 440,000
//! findings is over 100 MB of JSON, and would be twice that as a String and its copy); the
//! `String` functions are for callers that want the text.

use std::collections::HashMap;
use std::io::{self, Write};

use ork_io::escape_control;
use ork_policy::checks::{Check, Severity};
use serde::Serialize;

use crate::{Located, Report, Scanned, Subject};

fn object_name(f: &Located) -> String {
    match f.namespace() {
        Some(ns) => format!("{ns}/{}", f.name()),
        None => f.name().to_string(),
    }
}

/// What a writer wrote into memory, as text (every writer writes UTF-8).
fn to_string(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    // writing to a Vec cannot fail
    let _ = write(&mut out);
    String::from_utf8(out).unwrap_or_default()
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
pub fn write_text(w: &mut impl Write, r: &Report, min: Severity) -> io::Result<()> {
    let mut file = "";
    let mut shown = 0;
    for f in r.visible(min) {
        shown += 1;
        if f.file() != file {
            file = f.file();
            writeln!(w, "{}", escape_control(file))?;
        }
        let container = f
            .container
            .as_ref()
            .map(|c| format!(" [{}]", escape_control(c)))
            .unwrap_or_default();
        writeln!(
            w,
            "  {:<4} {:<9} {}  {} {}{container}",
            f.line,
            f.severity.as_str(),
            f.check,
            escape_control(f.kind()),
            escape_control(&object_name(f))
        )?;
        writeln!(
            w,
            "      {}\n      fix: {}",
            escape_control(&f.message),
            f.remediation()
        )?;
    }
    let [c, h, m, l] = counts(r.visible(min));
    writeln!(
        w,
        "{}, {}, {} (critical {c}, high {h}, medium {m}, low {l})",
        plural(r.files, "file"),
        plural(r.objects, "object"),
        plural(shown, "finding")
    )
}

/// [`write_text`] as a String.
pub fn text(r: &Report, min: Severity) -> String {
    to_string(|w| write_text(w, r, min))
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
    findings: JsonFindings<'a>,
    summary: Summary,
}

/// The findings, serialised one at a time from the report.
struct JsonFindings<'a> {
    report: &'a Report,
    min: Severity,
}

impl Serialize for JsonFindings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.report.visible(self.min).map(|f| JsonFinding {
            check: f.check,
            severity: f.severity.as_str(),
            file: f.file(),
            line: f.line,
            kind: f.kind(),
            namespace: f.namespace(),
            name: f.name(),
            container: f.container.as_deref(),
            message: &f.message,
            remediation: f.remediation(),
        }))
    }
}

/// One compact document and a newline; keys in the order docs/checks.md §8 gives.
pub fn write_json(w: &mut impl Write, r: &Report, min: Severity) -> io::Result<()> {
    let [critical, high, medium, low] = counts(r.visible(min));
    let report = JsonReport {
        version: 1,
        findings: JsonFindings { report: r, min },
        summary: Summary {
            objects: r.objects,
            findings: critical + high + medium + low,
            by_severity: BySeverity {
                critical,
                high,
                medium,
                low,
            },
        },
    };
    serde_json::to_writer(&mut *w, &report)?;
    writeln!(w)
}

/// [`write_json`] as a String, without the newline.
pub fn json(r: &Report, min: Severity) -> String {
    let mut s = to_string(|w| write_json(w, r, min));
    s.pop();
    s
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
/// with an inSource suppression, fingerprints without the line so they survive edits. One
/// indented document and a newline.
pub fn write_sarif(
    w: &mut impl Write,
    r: &Report,
    min: Severity,
    skip: &[String],
) -> io::Result<()> {
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
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

/// [`write_sarif`] as a String, without the newline.
pub fn sarif(r: &Report, min: Severity, skip: &[String]) -> String {
    let mut s = to_string(|w| write_sarif(w, r, min, skip));
    s.pop();
    s
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
    let ns = f.namespace().unwrap_or("");
    let container = f.container.as_deref().unwrap_or("");
    let fqn = if container.is_empty() {
        format!("{}/{ns}/{}", f.kind(), f.name())
    } else {
        format!("{}/{ns}/{}/{container}", f.kind(), f.name())
    };
    let digest = sha2::Sha256::digest(
        format!(
            "{}|{}|{}|{ns}|{}|{container}",
            f.check,
            f.file(),
            f.kind(),
            f.name()
        )
        .as_bytes(),
    );
    let mut fp = String::with_capacity(64);
    for b in digest {
        // writing to a String cannot fail
        let _ = write!(fp, "{b:02x}");
    }
    let mut res = json!({"ruleId": f.check, "ruleIndex": index, "level": level(f.severity), "message": {"text": &*f.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.file(), "uriBaseId": "%SRCROOT%"}, "region": {"startLine": f.line.max(1)}},
                       "logicalLocations": [{"fullyQualifiedName": fqn}]}],
        "partialFingerprints": {"orkFinding/v1": fp}});
    if let Some(reason) = &f.suppressed {
        res["suppressions"] = json!([{"kind": "inSource", "justification": &**reason}]);
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
///
/// The counts come before the testcases in the document, so the testcases are gone through
/// twice, counted and then written; findings are looked up by object and check in a sorted
/// index, so each pass is O(n log n) however many objects and findings there are.
pub fn write_junit(w: &mut impl Write, r: &Report, min: Severity) -> io::Result<()> {
    let junit = Junit::new(r, min);
    let files = junit.files();
    let mut counts = Vec::with_capacity(files.len());
    let (mut total, mut failed) = (0, 0);
    for objects in &files {
        let (mut tests, mut fails) = (0, 0);
        for o in objects {
            for check in junit.checks(o) {
                tests += 1;
                if junit
                    .hits(&o.subject, check.id)
                    .any(|f| f.suppressed.is_none())
                {
                    fails += 1;
                }
            }
        }
        total += tests;
        failed += fails;
        counts.push((tests, fails));
    }
    write!(
        w,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ork scan\" tests=\"{total}\" failures=\"{failed}\">\n"
    )?;
    for (objects, (tests, fails)) in files.iter().zip(counts) {
        let Some(file) = objects.first().map(|o| &*o.subject.file) else {
            continue;
        };
        let file = xml(file);
        writeln!(
            w,
            "  <testsuite name=\"{file}\" tests=\"{tests}\" failures=\"{fails}\">"
        )?;
        for o in objects {
            let s = &o.subject;
            let obj = match &s.namespace {
                Some(ns) => format!("{ns}/{}", s.name),
                None => s.name.to_string(),
            };
            for check in junit.checks(o) {
                let name = format!("{} {} {obj}", check.id, s.kind);
                write!(
                    w,
                    "    <testcase classname=\"{file}\" name=\"{}\"",
                    xml(&name)
                )?;
                let open: Vec<&Located> = junit
                    .hits(s, check.id)
                    .filter(|f| f.suppressed.is_none())
                    .collect();
                if let Some(first) = open.first() {
                    let lines: Vec<String> =
                        open.iter().map(|f| xml(&f.message).into_owned()).collect();
                    write!(
                        w,
                        ">\n      <failure type=\"{}\" message=\"{}\">{}\nfix: {}</failure>\n    </testcase>\n",
                        check.severity.as_str(),
                        xml(&first.message),
                        lines.join("\n"),
                        xml(check.remediation)
                    )?;
                } else if let Some(reason) =
                    junit.hits(s, check.id).find_map(|f| f.suppressed.as_ref())
                {
                    write!(
                        w,
                        ">\n      <skipped message=\"suppressed: {}\"/>\n    </testcase>\n",
                        xml(reason)
                    )?;
                } else {
                    w.write_all(b"/>\n")?;
                }
            }
        }
        w.write_all(b"  </testsuite>\n")?;
    }
    w.write_all(b"</testsuites>\n")
}

/// [`write_junit`] as a String.
pub fn junit(r: &Report, min: Severity) -> String {
    to_string(|w| write_junit(w, r, min))
}

/// The indexes the JUnit report is written from.
struct Junit<'r> {
    report: &'r Report,
    /// the findings ordered by object identity and check, output order kept among equals
    by_subject: Vec<&'r Located>,
    /// the testcases of each kind of object (group, kind, pod-bearing, render failure)
    checks: HashMap<(&'r str, &'r str, bool, bool), Vec<&'static Check>>,
}

impl<'r> Junit<'r> {
    fn new(report: &'r Report, min: Severity) -> Junit<'r> {
        let mut by_subject: Vec<&Located> = report.findings.iter().collect();
        by_subject.sort_by(|a, b| (&*a.subject, a.check).cmp(&(&*b.subject, b.check)));
        let mut checks = HashMap::new();
        for o in &report.scanned {
            checks
                .entry((&*o.group, &*o.subject.kind, o.pod_bearing, o.render_failed))
                .or_insert_with(|| {
                    o.checks(&report.skipped_checks)
                        .into_iter()
                        .filter_map(ork_policy::checks::check)
                        .filter(|c| c.severity >= min)
                        .collect()
                });
        }
        Junit {
            report,
            by_subject,
            checks,
        }
    }

    /// The objects of each file, files in byte order, objects in input order.
    fn files(&self) -> Vec<Vec<&'r Scanned>> {
        let mut objects: Vec<&Scanned> = self.report.scanned.iter().collect();
        objects.sort_by(|a, b| a.subject.file.cmp(&b.subject.file));
        let mut files: Vec<Vec<&Scanned>> = Vec::new();
        for o in objects {
            match files.last_mut() {
                Some(last)
                    if last
                        .first()
                        .is_some_and(|f| f.subject.file == o.subject.file) =>
                {
                    last.push(o)
                }
                _ => files.push(vec![o]),
            }
        }
        files
    }

    fn checks(&self, o: &'r Scanned) -> &[&'static Check] {
        self.checks
            .get(&(&*o.group, &*o.subject.kind, o.pod_bearing, o.render_failed))
            .map_or(&[], Vec::as_slice)
    }

    /// The findings of a check on objects of this identity (file, kind, namespace, name: two
    /// objects alike in all four share their findings), in output order.
    fn hits<'a>(&'a self, s: &'a Subject, id: &'a str) -> impl Iterator<Item = &'r Located> + 'a {
        fn key<'f>(f: &&'f Located) -> (&'f Subject, &'static str) {
            (&f.subject, f.check)
        }
        let start = self.by_subject.partition_point(|f| key(f) < (s, id));
        self.by_subject[start..]
            .iter()
            .take_while(move |f| key(f) == (s, id))
            .copied()
    }
}
