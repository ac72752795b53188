//! Text and JSON reports (checks.md §8). Deterministic: no timestamps, no absolute paths.

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

pub fn text(r: &Report, min: Severity) -> String {
    let mut out = String::new();
    let mut file = "";
    let visible: Vec<&Located> = r.visible(min).collect();
    for f in &visible {
        if f.file != file {
            file = &f.file;
            out.push_str(&format!("{file}\n"));
        }
        let container = f
            .container
            .as_ref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<4} {:<9} {}  {} {}{container}\n",
            f.line,
            f.severity.as_str(),
            f.check,
            f.kind,
            object_name(f)
        ));
        out.push_str(&format!(
            "      {}\n      fix: {}\n",
            f.message, f.remediation
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

/// One compact document; keys in the order checks.md §8 gives.
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
