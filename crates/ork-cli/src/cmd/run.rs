//! `ork run -f KATALOG` and `ork-runtime run` (docs/cli.md §11): the runtime. Everything it
//! does lives in the `ork-runtime` crate; this is flags, loading, the client, the developer
//! conveniences (apply the CRDs and CRs, `--local`) and signals.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::exit;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// the Katalog
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context
    #[arg(long)]
    pub context: Option<String>,
    /// the operator namespace, where the Lease lives (default ORK_NAMESPACE or orkestra-system)
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// the plain listener for /healthz, /readyz and /metrics
    #[arg(long = "health-addr", default_value = ":8080")]
    pub health_addr: String,
    /// apply nothing, as `ork-runtime` in a cluster: not the operator namespace, the Katalog's
    /// crdFile CRDs or its crFiles CRs (developer binary; `ork e2e` runs the runtime so)
    #[arg(long = "no-apply")]
    pub no_apply: bool,
    /// log format: json | text (default: text on a terminal, else json)
    #[arg(long = "log-format")]
    pub log_format: Option<String>,
    /// run against the project's own control plane: the one `ork local up` left running, else
    /// one started here and stopped on exit
    #[arg(long)]
    pub local: bool,
}

/// How the binary runs: the developer `ork run` applies CRDs and CRs and may start a local
/// control plane; `ork-runtime` does neither.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Developer,
    Cluster,
}

fn documents(path: &Path, limits: &ork_limits::Limits) -> Result<Vec<serde_json::Value>, String> {
    let input = ork_io::read_text(path, limits).map_err(|e| e.to_string())?;
    let docs = ork_yaml::parse_stream_with(&input.text, limits).map_err(|e| {
        format!(
            "{}:{}:{}: {}",
            ork_io::escape_control(&input.name),
            e.span.line,
            e.span.col,
            e.message
        )
    })?;
    Ok(docs.iter().map(|d| d.to_json()).collect())
}

/// Re-reads the Katalog every 2 s; a changed one that validates replaces the running one, an
/// invalid one is logged and the last good one keeps running (docs/cli.md §11).
async fn watch_katalog(file: PathBuf, limits: ork_limits::Limits, reloader: ork_runtime::Reloader) {
    let read = |f: &Path| ork_io::read_text(f, &limits).map(|t| t.text).ok();
    let mut last = read(&file);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = read(&file);
        if now.is_none() || now == last {
            continue;
        }
        last = now;
        let outcome = ork_katalog::load_file_with(&file, &limits);
        let prepared = outcome
            .katalog
            .as_ref()
            .map(|k| ork_policy::PreparedKatalog::with_limits(k, limits));
        match (outcome.katalog, prepared) {
            (Some(k), Some(Ok(p))) => match reloader.reload(&k, Arc::new(p)) {
                Ok(()) => {
                    tracing::info!(katalog = %file.display(), "Katalog changed and valid: entries restarting")
                }
                Err(e) => {
                    tracing::error!(error = %e, "Katalog rejected; the last good one keeps running")
                }
            },
            (_, Some(Err(e))) => {
                reloader.rejected();
                tracing::error!(error = %e, "Katalog rejected; the last good one keeps running");
            }
            _ => {
                reloader.rejected();
                for d in outcome.diagnostics.iter().filter(|d| d.is_error()) {
                    tracing::error!(diagnostic = %d, "Katalog rejected");
                }
                tracing::error!(katalog = %file.display(), "Katalog invalid; the last good one keeps running");
            }
        }
    }
}

/// Runs until SIGTERM or SIGINT. Exit 0 on a signal, 1 on a fatal error (a lost Lease, no
/// cluster), 2 for usage or an invalid Katalog — before any request.
pub fn run(a: &Args, limits: &ork_limits::Limits, mode: Mode) -> u8 {
    let outcome = ork_katalog::load_file_with(&a.file, limits);
    let path_text = a.file.display().to_string();
    let shown = ork_io::escape_control(&path_text);
    let Some(katalog) = outcome.katalog else {
        for d in &outcome.diagnostics {
            eprintln!("{d}");
        }
        eprintln!("✗ {shown}: the Katalog is invalid");
        return exit::USAGE;
    };
    let prepared = match ork_policy::PreparedKatalog::with_limits(&katalog, *limits) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("✗ {shown}: {e}");
            return exit::USAGE;
        }
    };
    if a.local && mode == Mode::Cluster {
        eprintln!("ork-runtime: --local is for the developer binary (ork run --local)");
        return exit::USAGE;
    }
    super::online::init_logging(a.log_format.as_deref());
    let rt = match super::online::tokio_runtime("ork run") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        #[cfg(feature = "dev")]
        let mut local_plane = None;
        // `--local` (developer binary only) replaces it
        #[cfg_attr(not(feature = "dev"), allow(unused_mut))]
        let mut kubeconfig = a.kubeconfig.clone();
        #[cfg(feature = "dev")]
        if a.local {
            let dir = super::local::default_dir();
            match super::local::running_kubeconfig(&dir) {
                Some(k) => {
                    tracing::info!(kubeconfig = %k.display(), "using the running local control plane");
                    kubeconfig = Some(k);
                }
                None => {
                    let _ = std::fs::remove_dir_all(&dir);
                    let opts = ork_testenv::Options {
                        dir: Some(dir),
                        ..ork_testenv::Options::default()
                    };
                    match ork_testenv::ControlPlane::start(opts).await {
                        Ok(cp) => {
                            tracing::info!(server = %cp.server, kubeconfig = %cp.kubeconfig.display(), "local control plane ready");
                            kubeconfig = Some(cp.kubeconfig.clone());
                            local_plane = Some(cp);
                        }
                        Err(e) => {
                            eprintln!("ork run --local: {e}");
                            return exit::NEGATIVE;
                        }
                    }
                }
            }
        }
        let client = match super::online::client_for(kubeconfig.as_deref(), a.context.as_deref()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ork run: no cluster: {e}");
                return exit::NEGATIVE;
            }
        };
        let mut cfg = ork_runtime::Config::new(ork_kube::lease::identity("ork-runtime"));
        if let Some(ns) = &a.namespace {
            cfg.namespace = ns.clone();
        }
        cfg.health_addr = a.health_addr.clone();
        if mode == Mode::Developer
            && !a.no_apply
            && let Err(e) = ork_runtime::dev::namespace(&client, &cfg.namespace).await
        {
            eprintln!("ork run: {e}");
            return exit::NEGATIVE;
        }
        if mode == Mode::Developer && !a.no_apply {
            let docs = |p: &Path| documents(p, limits);
            if let Err(e) =
                ork_runtime::dev::apply_crds(&client, &katalog, docs, Duration::from_secs(60)).await
            {
                eprintln!("ork run: {e}");
                return exit::NEGATIVE;
            }
        }
        let mut running = match ork_runtime::start(cfg, client.clone(), &katalog, prepared).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ork run: {e}");
                return exit::NEGATIVE;
            }
        };
        tracing::info!(health = %running.health_addr, "runtime started");
        tokio::spawn(watch_katalog(a.file.clone(), *limits, running.reloader()));
        if mode == Mode::Developer && !a.no_apply {
            let docs = |p: &Path| documents(p, limits);
            match ork_runtime::dev::apply_crs(&client, &katalog, docs, "default").await {
                Ok(n) if n > 0 => tracing::info!(crs = n, "applied the Katalog's crFiles"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "crFiles not applied"),
            }
        }
        let fatal = tokio::select! {
            _ = super::online::wait_for_signal() => None,
            e = running.fatal() => Some(e),
        };
        let code = match fatal {
            None => {
                tracing::info!("stopping: finishing in-flight reconciles");
                running.shutdown().await;
                exit::OK
            }
            Some(e) => {
                tracing::error!(error = %e, "stopping");
                exit::NEGATIVE
            }
        };
        #[cfg(feature = "dev")]
        drop(local_plane);
        code
    })
}
