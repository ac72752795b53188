//! `ork scan` (docs/checks.md): misconfigurations in Kubernetes YAML and Katalog children.

use std::io::Write;
use std::path::PathBuf;

use ork_policy::checks::Severity;

use crate::{Global, exit};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// files, directories (recursive) or `-` for stdin
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// text | json | sarif | junit
    #[arg(short, long, default_value = "text", value_parser = ["text", "json", "sarif", "junit"])]
    output: String,
    /// report and fail only at or above this severity: low | medium | high | critical
    #[arg(long, default_value = "low")]
    min_severity: String,
    /// disable a check entirely (repeatable, comma lists)
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// CR files to render through Katalogs of matching kind (repeatable)
    #[arg(long)]
    cr: Vec<PathBuf>,
}

pub fn run(a: &Args, g: &Global) -> u8 {
    let Some(min) = Severity::parse(&a.min_severity) else {
        eprintln!(
            "--min-severity {:?}: use low, medium, high or critical",
            a.min_severity
        );
        return exit::USAGE;
    };
    let opts = ork_scan::Options {
        skip: a.skip.clone(),
        crs: a.cr.clone(),
        limits: g.limits,
    };
    let report = match ork_scan::scan(&a.paths, &opts) {
        Ok(r) => r,
        Err(e) => {
            // the message quotes names and lines of the input
            eprintln!(
                "ork scan: {}",
                ork_io::escape_control_multiline(&e.to_string())
            );
            return exit::USAGE;
        }
    };
    crate::report_skipped(&report.skipped_files, g.verbose);
    if report.skipped_documents > 0 {
        eprintln!(
            "skipped {} document(s) without apiVersion and kind",
            report.skipped_documents
        );
    }
    // written as produced: the report of 100,000 objects is over 100 MB of JSON
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match a.output.as_str() {
        "json" => ork_scan::write_json(&mut out, &report, min),
        "sarif" => ork_scan::write_sarif(&mut out, &report, min, &a.skip),
        "junit" => ork_scan::write_junit(&mut out, &report, min),
        _ => ork_scan::write_text(&mut out, &report, min),
    }
    .and_then(|()| out.flush());
    if let Err(e) = written {
        // a closed pipe (`ork scan … | head`) is not worth a message, only a failing exit
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("ork scan: writing the report: {e}");
        }
        return exit::USAGE;
    }
    if report.visible(min).next().is_some() {
        exit::NEGATIVE
    } else {
        exit::OK
    }
}
