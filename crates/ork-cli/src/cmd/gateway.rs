//! `ork gate -f KATALOG` and `ork-gateway gate` (docs/cli.md §12): the admission Gateway.
//! Everything it does lives in the `ork-gateway` crate; this is flags, logging, the client,
//! and signals.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exit;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster)
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context
    #[arg(long)]
    pub context: Option<String>,
    /// the webhook listener (HTTPS)
    #[arg(long, default_value = ":8443")]
    pub addr: String,
    /// the plain listener for /healthz, /readyz and /metrics
    #[arg(long = "health-addr", default_value = ":8080")]
    pub health_addr: String,
    /// register https://HOST:PORT/<path> instead of the Service (local use); port 0 means
    /// the port --addr bound
    #[arg(long)]
    pub advertise: Option<String>,
    /// log format: json | text (default: text on a terminal, else json)
    #[arg(long = "log-format")]
    pub log_format: Option<String>,
}

async fn client(a: &ServeArgs) -> Result<kube::Client, String> {
    super::online::client_for(a.kubeconfig.as_deref(), a.context.as_deref()).await
}

/// Runs the Gateway until SIGTERM or SIGINT. Exit 0 on a signal, 1 when it cannot start or
/// must stop, 2 for an invalid Katalog (docs/cli.md §12).
pub fn serve(a: &ServeArgs, file: &Path, limits: &ork_limits::Limits) -> u8 {
    // a Katalog that fails validation never touches the cluster: the messages of `ork validate`
    if let Err(errors) = ork_gateway::load(file, limits) {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!(
            "✗ {}: the Katalog is invalid",
            ork_io::escape_control(&file.display().to_string())
        );
        return exit::USAGE;
    }
    super::online::init_logging(a.log_format.as_deref());
    let rt = match super::online::tokio_runtime("ork gate") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let certificates = match ork_gateway::Certificates::from_env() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ork gate: {e}");
                return exit::USAGE;
            }
        };
        let sync = match ork_gateway::sync_interval_from_env() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ork gate: {e}");
                return exit::USAGE;
            }
        };
        let housekeeper = match ork_gateway::housekeeper_from_env() {
            Ok(h) => h,
            Err(e) => {
                eprintln!("ork gate: {e}");
                return exit::USAGE;
            }
        };
        let client = match client(a).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ork gate: no cluster: {e}");
                return exit::NEGATIVE;
            }
        };
        let mut cfg = ork_gateway::Config::new(file.to_path_buf());
        cfg.limits = *limits;
        cfg.addr = a.addr.clone();
        cfg.health_addr = a.health_addr.clone();
        cfg.advertise = a.advertise.clone();
        cfg.certificates = certificates;
        cfg.sync_interval = sync;
        cfg.housekeeper = housekeeper;
        let running = match ork_gateway::start(cfg, client).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ork gate: {e}");
                return exit::NEGATIVE;
            }
        };
        tracing::info!(
            webhooks = %running.addr,
            health = %running.health_addr,
            leading = running.leading(),
            "Gateway ready"
        );
        super::online::wait_for_signal().await;
        tracing::info!("stopping: draining open requests");
        let drained = tokio::time::timeout(Duration::from_secs(40), running.shutdown()).await;
        if drained.is_err() {
            tracing::warn!("shutdown did not finish in 40 s");
        }
        exit::OK
    })
}
