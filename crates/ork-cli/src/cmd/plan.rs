//! `ork plan` (docs/cli.md §7): an offline diff between a bundle generated earlier and the one
//! the Katalog generates now. The plan itself is `ork_generate::plan`; this reads the bundle,
//! regenerates with the recorded options (flags override them) and prints.

use std::path::{Path, PathBuf};

use ork_generate::options::BundleOptions;
use ork_io::escape_control;
use serde_json::Value;

use super::generate::{BundleFlags, bundle_for};
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// the bundle generated earlier: a directory of `-o DIR`, or a file
    #[arg(long = "bundle")]
    bundle: PathBuf,
    /// the Katalog (`-` reads stdin)
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    /// exit 1 on any change, not only on a permission widening or protection weakening
    #[arg(long = "fail-on-change")]
    fail_on_change: bool,
    /// text | json
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json"])]
    output: String,
    #[command(flatten)]
    flags: BundleFlags,
}

/// The objects of a bundle file or directory (every YAML or JSON file below it), within the
/// budgets.
fn read_bundle(path: &Path, limits: &ork_limits::Limits) -> Result<Vec<Value>, String> {
    let files: Vec<(PathBuf, bool)> = if path.is_dir() {
        let walk = ork_io::walk(path, ork_io::MANIFEST_EXTENSIONS).map_err(|e| e.to_string())?;
        walk.files.into_iter().map(|f| (f, true)).collect()
    } else {
        vec![(path.to_path_buf(), false)]
    };
    let mut out = Vec::new();
    for (f, walked) in files {
        let input = if walked {
            ork_io::read_walked(&f, limits)
        } else {
            ork_io::read_text(&f, limits)
        }
        .map_err(|e| e.to_string())?;
        let docs = ork_yaml::parse_stream_with(&input.text, limits).map_err(|e| {
            format!(
                "{}:{}:{}: {}: {}",
                input.name,
                e.span.line,
                e.span.col,
                e.what(),
                e.message
            )
        })?;
        out.extend(
            docs.iter()
                .map(ork_yaml::Node::to_json)
                .filter(|d| !d.is_null()),
        );
    }
    Ok(out)
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    let old = match read_bundle(&a.bundle, &g.limits) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ork plan: the bundle: {}", escape_control(&e));
            return exit::USAGE;
        }
    };
    let recorded = match ork_generate::plan::recorded(&old) {
        Ok(r) => r,
        Err(e) => {
            for m in &e.0 {
                eprintln!("ork plan: {}", escape_control(m));
            }
            return exit::USAGE;
        }
    };
    if recorded.is_none() && !g.quiet {
        eprintln!("the bundle has no ConfigMap orkestra-katalog: planned as a fresh install");
    }
    let base: Option<BundleOptions> = recorded.map(|r| r.options);
    let new = match bundle_for(&a.file, &a.flags, base, &g.limits) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let plan = match ork_generate::plan::plan(&old, &new, &g.limits) {
        Ok(p) => p,
        Err(e) => {
            for m in &e.0 {
                eprintln!("ork plan: {}", escape_control(m));
            }
            return exit::USAGE;
        }
    };
    let text = if a.output == "json" {
        match serde_json::to_string_pretty(&plan) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("ork plan: {e}");
                return exit::USAGE;
            }
        }
    } else {
        escape_control_lines(&plan.text())
    };
    print!("{text}");
    if plan.is_security_relevant() || (a.fail_on_change && !plan.is_empty()) {
        exit::NEGATIVE
    } else {
        exit::OK
    }
}

/// The report names objects and quotes Katalog paths: no control character reaches the
/// terminal.
fn escape_control_lines(s: &str) -> String {
    s.lines()
        .map(|l| escape_control(l).into_owned() + "\n")
        .collect()
}
