//! `ork e2e [PATH...] (--kubeconfig FILE [--context C] | --local)` (docs/e2e.md §5, docs/cli.md
//! §10): loads and checks every scenario offline (exit 2 before any request), then runs them
//! with `ork-e2e` against the given cluster or a fresh local control plane.

use std::path::PathBuf;

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// E2E files, or directories searched recursively for e2e.yaml (default ./e2e.yaml)
    paths: Vec<PathBuf>,
    /// the cluster to test (no implicit cluster: this or --local is required)
    #[arg(long, conflicts_with = "local")]
    kubeconfig: Option<PathBuf>,
    /// kubeconfig context
    #[arg(long, requires = "kubeconfig")]
    context: Option<String>,
    /// start a fresh local control plane for the run and stop it afterwards
    #[arg(long)]
    local: bool,
    /// how ork is installed: in-process (the runtime and the Gateway as child processes
    /// with their own ServiceAccount tokens)
    #[arg(long, default_value = "in-process", value_parser = ["in-process"])]
    mode: String,
    /// HOST:PORT the API server reaches the Gateway at (default loopback)
    #[arg(long)]
    advertise: Option<String>,
    /// write a JUnit XML report
    #[arg(long)]
    junit: Option<PathBuf>,
    /// print the JSON report on stdout
    #[arg(long)]
    json: bool,
    /// run only expectations whose name matches
    #[arg(long)]
    filter: Option<String>,
    /// stop at the first failure
    #[arg(long = "fail-fast")]
    fail_fast: bool,
    /// skip teardown after a failure and say how to reach the cluster
    #[arg(long)]
    keep: bool,
    /// reject scenarios that run commands
    #[arg(long = "no-commands")]
    no_commands: bool,
    /// overrides every scenario's spec.timeout (e.g. 5m)
    #[arg(long)]
    timeout: Option<String>,
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    // 1. everything offline first: a bad spec is exit 2 before any request
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from("e2e.yaml")]
    } else {
        a.paths.clone()
    };
    let scenarios = match ork_scenario::load_paths(&paths, &g.limits) {
        Ok(s) => s,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("✗ the E2E spec is invalid: nothing was run");
            return exit::USAGE;
        }
    };
    if a.no_commands
        && let Some(s) = scenarios.iter().find(|s| {
            s.expect
                .iter()
                .any(|x| !x.commands.is_empty() || !x.on_failure.commands.is_empty())
                || !s.on_failure.commands.is_empty()
        })
    {
        eprintln!(
            "{}: scenario {:?} runs commands, and --no-commands rejects them",
            s.file.display(),
            s.name
        );
        return exit::USAGE;
    }
    let filter = match a.filter.as_deref().map(regex::Regex::new).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("--filter: {e}");
            return exit::USAGE;
        }
    };
    let timeout = match a
        .timeout
        .as_deref()
        .map(ork_template::duration::parse_duration)
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("--timeout: {e}");
            return exit::USAGE;
        }
    };
    if a.kubeconfig.is_none() && !a.local {
        eprintln!(
            "ork e2e: name the cluster with --kubeconfig FILE, or use --local (there is no implicit cluster)"
        );
        return exit::USAGE;
    }
    let ork = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ork e2e: cannot find the ork binary: {e}");
            return exit::NEGATIVE;
        }
    };
    let work = match tempfile::Builder::new().prefix("ork-e2e-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ork e2e: scratch directory: {e}");
            return exit::NEGATIVE;
        }
    };
    let rt = match super::online::tokio_runtime("ork e2e") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let report = rt.block_on(async {
        // 2. the cluster
        let mut plane = None;
        let kubeconfig = match &a.kubeconfig {
            Some(k) => k.clone(),
            None => {
                let started = std::time::Instant::now();
                eprintln!("starting a local control plane …");
                let opts = ork_testenv::Options {
                    dir: Some(work.path().join("control-plane")),
                    ..ork_testenv::Options::default()
                };
                match ork_testenv::ControlPlane::start(opts).await {
                    Ok(cp) => {
                        eprintln!("local control plane ready in {:.1}s ({})", started.elapsed().as_secs_f64(), cp.server);
                        let k = cp.kubeconfig.clone();
                        plane = Some(cp);
                        k
                    }
                    Err(e) => return Err(format!("local control plane: {e}")),
                }
            }
        };
        let client = super::online::client_for(Some(&kubeconfig), a.context.as_deref()).await?;
        let opts = ork_e2e::Options {
            ork,
            kubeconfig,
            context: a.context.clone(),
            advertise: a.advertise.clone(),
            filter,
            fail_fast: a.fail_fast,
            keep: a.keep,
            timeout,
            limits: g.limits,
            work: work.path().to_path_buf(),
        };
        let report = ork_e2e::run(&scenarios, client, &opts).await;
        if let Some(mut cp) = plane {
            if a.keep && !report.passed {
                eprintln!("--keep with --local: the control plane stops with ork e2e; use --kubeconfig to keep a cluster");
            }
            cp.stop();
        }
        Ok(report)
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ork e2e: {e}");
            return exit::NEGATIVE;
        }
    };
    if let Some(path) = &a.junit
        && let Err(e) = std::fs::write(path, report.to_junit())
    {
        eprintln!("--junit {}: {e}", path.display());
        return exit::NEGATIVE;
    }
    if a.json {
        println!("{}", report.to_json());
    }
    let (p, f, s) = report
        .scenarios
        .iter()
        .map(|s| s.counts())
        .fold((0, 0, 0), |x, y| (x.0 + y.0, x.1 + y.1, x.2 + y.2));
    eprintln!(
        "{} scenarios: {p} passed, {f} failed, {s} skipped in {:.1}s",
        report.scenarios.len(),
        report.duration_ms as f64 / 1000.0
    );
    if report.passed {
        exit::OK
    } else {
        exit::NEGATIVE
    }
}
