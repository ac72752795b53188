//! `ork simulate` (docs/cli.md §5): the runtime's reconcile cycles over an in-memory cluster
//! (`ork_simulate`), and `ork simulate init`. Offline: nothing here opens a connection.

use std::path::{Path, PathBuf};

use ork_simulate::doc::SimulateDoc;
use ork_simulate::input::{self, Kind};
use ork_simulate::{Settings, Simulation, expect, report};
use serde_json::Value;

use crate::exit;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<SimCmd>,
    /// Simulate documents, Katalogs (with --cr) or directories searched recursively for
    /// simulate.yaml (repeatable, comma lists); default: katalog.yaml with --cr, else `.`
    #[arg(short = 'f', long = "file", value_delimiter = ',')]
    files: Vec<PathBuf>,
    /// the same as -f: Simulate documents, Katalogs, E2E scenarios or directories
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// CR file for a Katalog (several documents allowed)
    #[arg(long)]
    cr: Option<PathBuf>,
    /// simulate only the CRs of this CRD entry
    #[arg(long)]
    crd: Option<String>,
    /// cycles to run (default: the document's, else 10)
    #[arg(long)]
    cycles: Option<u32>,
    /// also show the applies that changed nothing (`=`)
    #[arg(long)]
    all_ops: bool,
    /// make uuidv4, random* and the cluster's uids deterministic
    #[arg(long)]
    seed: Option<u64>,
    /// fix the clock of every cycle (RFC 3339)
    #[arg(long)]
    now: Option<String>,
    /// text | json
    #[arg(short, long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

#[derive(clap::Subcommand, Debug)]
enum SimCmd {
    /// Write a simulate.yaml whose `expect` pins the cycle-1 operations and `steady: true`
    Init(InitArgs),
}

#[derive(clap::Args, Debug)]
struct InitArgs {
    /// the Katalog
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    /// CR file (several documents allowed)
    #[arg(long)]
    cr: PathBuf,
    /// the document to write (never overwritten)
    #[arg(long, default_value = "simulate.yaml")]
    out: PathBuf,
    /// cycles to run and pin
    #[arg(long, default_value_t = ork_simulate::DEFAULT_CYCLES)]
    cycles: u32,
}

/// One run to make.
enum Job {
    /// a Simulate document, or a Katalog with `--cr`
    Cycles {
        katalog: PathBuf,
        crs: Vec<PathBuf>,
        doc: Option<Box<SimulateDoc>>,
    },
    /// E2E scenario files and directories, loaded together so a scenario a suite imports and
    /// a directory also holds runs once: the verdict of every step
    Scenarios(Vec<PathBuf>),
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    if let Some(SimCmd::Init(i)) = &a.cmd {
        return init(i, g);
    }
    let now = match parse_now(a.now.as_deref()) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let named: Vec<PathBuf> = a.files.iter().chain(&a.paths).cloned().collect();
    let files = if !named.is_empty() {
        named
    } else if a.cr.is_some() {
        vec![PathBuf::from("katalog.yaml")]
    } else {
        vec![PathBuf::from(".")]
    };
    let jobs = match jobs(&files, a.cr.as_deref(), &g.limits) {
        Ok(j) => j,
        Err(lines) => {
            for l in lines {
                eprintln!("{l}");
            }
            return exit::USAGE;
        }
    };
    let mut code = exit::OK;
    let mut docs = Vec::new();
    for job in &jobs {
        match one(job, a, now, g) {
            Ok((passed, text, json)) => {
                if !passed {
                    code = code.max(exit::NEGATIVE);
                }
                if a.output == "json" {
                    docs.push(json);
                } else {
                    print!("{text}");
                }
            }
            Err(lines) => {
                for l in lines {
                    eprintln!("{l}");
                }
                return exit::USAGE;
            }
        }
    }
    if a.output == "json" {
        let v = if docs.len() == 1 {
            docs.remove(0)
        } else {
            Value::Array(docs)
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    code
}

fn parse_now(now: Option<&str>) -> Result<chrono::DateTime<chrono::Utc>, u8> {
    match now {
        None => Ok(chrono::Utc::now()),
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Ok(t.with_timezone(&chrono::Utc)),
            Err(e) => {
                eprintln!("--now {:?}: {e}", ork_io::escape_control(t));
                Err(exit::USAGE)
            }
        },
    }
}

fn shown(p: &Path) -> String {
    ork_io::escape_control(&p.display().to_string()).into_owned()
}

/// The runs `files` ask for: each Simulate document, each Katalog with `--cr`, and the E2E
/// scenarios together.
fn jobs(
    files: &[PathBuf],
    cr: Option<&Path>,
    limits: &ork_limits::Limits,
) -> Result<Vec<Job>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut scenarios = Vec::new();
    for f in files {
        let found = if f.is_dir() {
            let found = input::find(f, "simulate.yaml").map_err(|e| vec![e])?;
            if found.is_empty() {
                if input::find(f, "e2e.yaml").map_err(|e| vec![e])?.is_empty() {
                    errors.push(format!(
                        "{}: no simulate.yaml (or e2e.yaml) under it",
                        shown(f)
                    ));
                } else {
                    // ork_scenario searches it and loads each file once
                    scenarios.push(f.clone());
                }
            }
            found
        } else {
            vec![f.clone()]
        };
        for p in found {
            match input::kind_of(&p, limits) {
                Ok(Kind::Simulate) => {
                    if cr.is_some() {
                        errors.push(format!(
                            "{}: --cr is for a Katalog; a Simulate document names its CRs",
                            shown(&p)
                        ));
                        continue;
                    }
                    match input::simulate_file(&p, limits) {
                        Ok(d) => out.push(Job::Cycles {
                            katalog: d.katalog.clone(),
                            crs: d.crs.clone(),
                            doc: Some(Box::new(d)),
                        }),
                        Err(e) => errors.extend(e),
                    }
                }
                Ok(Kind::Katalog) => match cr {
                    Some(cr) => out.push(Job::Cycles {
                        katalog: p.clone(),
                        crs: vec![cr.to_path_buf()],
                        doc: None,
                    }),
                    None => errors.push(format!(
                        "{}: a Katalog needs --cr CR.yaml (or give a Simulate document)",
                        shown(&p)
                    )),
                },
                Ok(Kind::E2E) => scenarios.push(p.clone()),
                Err(e) => errors.push(e),
            }
        }
    }
    if !scenarios.is_empty() {
        out.push(Job::Scenarios(scenarios));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Runs one job: (passed, text report, JSON report), or the lines of an input error.
fn one(
    job: &Job,
    a: &Args,
    now: chrono::DateTime<chrono::Utc>,
    g: &crate::Global,
) -> Result<(bool, String, Value), Vec<String>> {
    match job {
        Job::Cycles { katalog, crs, doc } => cycles(katalog, crs, doc.as_deref(), a, now, g),
        Job::Scenarios(p) => scenario(p, now, g),
    }
}

/// The verdicts of every step of the scenarios (and of those they import).
fn scenario(
    paths: &[PathBuf],
    now: chrono::DateTime<chrono::Utc>,
    g: &crate::Global,
) -> Result<(bool, String, Value), Vec<String>> {
    let scenarios = ork_scenario::load_paths(paths, &g.limits)
        .map_err(|d| d.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let mut passed = true;
    let mut text = String::new();
    let mut all = Vec::new();
    for s in &scenarios {
        match ork_simulate::scenario::verdicts(s, &g.limits, now) {
            Ok(v) => {
                passed &= v.iter().all(|x| x.passed != Some(false));
                text.push_str(&ork_simulate::scenario::lines(&v));
                text.push_str(&ork_simulate::scenario::summary(&s.name, &v));
                all.extend(v);
            }
            // the real run fails this phase too
            Err(e @ ork_simulate::Error::Phase { .. }) => {
                passed = false;
                text.push_str(&format!(
                    "[{}] ✗ {}\n",
                    ork_io::escape_control(&s.name),
                    ork_io::escape_control(&e.to_string())
                ));
            }
            Err(e) => return Err(vec![format!("✗ {}: {e}", shown(&s.file))]),
        }
    }
    let json = serde_json::to_value(&all).unwrap_or(Value::Null);
    Ok((passed, text, json))
}

fn cycles(
    katalog: &Path,
    cr_files: &[PathBuf],
    doc: Option<&SimulateDoc>,
    a: &Args,
    now: chrono::DateTime<chrono::Utc>,
    g: &crate::Global,
) -> Result<(bool, String, Value), Vec<String>> {
    let k = input::katalog(katalog, &g.limits)?;
    let mut crs = Vec::new();
    for p in cr_files {
        crs.extend(input::crs(p, &g.limits).map_err(|e| vec![e])?);
    }
    let settings = Settings {
        cycles: a
            .cycles
            .or(doc.and_then(|d| d.cycles))
            .unwrap_or(ork_simulate::DEFAULT_CYCLES),
        delete_at: doc.and_then(|d| d.delete_at),
        cluster: doc.map(|d| d.cluster).unwrap_or_default(),
        seed: a.seed,
        now,
        crd: a.crd.clone(),
    };
    let where_ = doc.map_or_else(|| shown(katalog), |d| d.file.clone());
    let sim = Simulation::new(&k, &crs, settings, &g.limits)
        .map_err(|e| vec![format!("✗ {where_}: {e}")])?;
    let run = sim.run().map_err(|e| vec![format!("✗ {where_}: {e}")])?;
    if run.crs.is_empty() {
        return Err(vec![format!("✗ {where_}: no CR to simulate")]);
    }
    let assertions = doc
        .and_then(|d| d.expect.as_ref())
        .map(|e| expect::evaluate(&run, e));
    let passed = report::passed(&run, assertions.as_deref());
    Ok((
        passed,
        report::text(&run, assertions.as_deref(), a.all_ops),
        report::json(&run, assertions.as_deref()),
    ))
}

fn init(i: &InitArgs, g: &crate::Global) -> u8 {
    if i.out.exists() {
        eprintln!("✗ {} exists: not overwritten", shown(&i.out));
        return exit::NEGATIVE;
    }
    let k = match input::katalog(&i.file, &g.limits) {
        Ok(k) => k,
        Err(lines) => {
            for l in lines {
                eprintln!("{l}");
            }
            return exit::USAGE;
        }
    };
    let crs = match input::crs(&i.cr, &g.limits) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let settings = Settings {
        cycles: i.cycles,
        ..Settings::default()
    };
    let run = match Simulation::new(&k, &crs, settings, &g.limits).and_then(Simulation::run) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("✗ {}: {e}", shown(&i.file));
            return exit::USAGE;
        }
    };
    if run.steady_at().is_none() {
        eprintln!(
            "warning: the run is not steady within {} cycles; the document expects it to be",
            i.cycles
        );
    }
    let name = format!("{}-sim", k.name);
    let text = ork_simulate::init::document(
        &name,
        &i.out,
        &i.file,
        std::slice::from_ref(&i.cr),
        i.cycles,
        &run,
    );
    if let Err(e) = std::fs::write(&i.out, text) {
        eprintln!("✗ cannot write {}: {e}", shown(&i.out));
        return exit::USAGE;
    }
    if !g.quiet {
        eprintln!("wrote {}", shown(&i.out));
    }
    exit::OK
}
