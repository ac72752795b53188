//! The ork command line. One library, three binaries selected by cargo feature (docs/cli.md §1):
//! `ork` (feature `dev`) has every command; `ork-runtime` and `ork-gateway` are built from
//! the same code without the developer commands, which are not compiled in without `dev`.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes shared by every command (docs/cli.md §2).
pub mod exit {
    pub const OK: u8 = 0;
    pub const NEGATIVE: u8 = 1;
    pub const USAGE: u8 = 2;
}

#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// auto | always | never (NO_COLOR is honoured)
    #[arg(long, global = true, default_value = "auto")]
    pub color: String,
    /// print results only
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// more detail on stderr
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// the budgets for hostile input: defaults with `ORK_LIMIT_*` applied, parsed once at start
    #[arg(skip)]
    pub limits: ork_limits::Limits,
}

/// What directory walks skipped: each entry with `-v`; otherwise a count of the special files
/// (FIFOs, sockets, devices) — not of symbolic links, which walks never follow by design.
#[cfg(feature = "dev")]
fn report_skipped(skipped: &[ork_io::Skipped], verbose: bool) {
    if verbose {
        for s in skipped {
            eprintln!(
                "skipped {}: {}, not a regular file",
                ork_io::escape_control(&s.path.display().to_string()),
                s.kind
            );
        }
    } else {
        let special = skipped.iter().filter(|s| s.is_special()).count();
        if special > 0 {
            eprintln!("skipped {special} special file(s) (FIFO, socket or device); -v lists them");
        }
    }
}

#[cfg(feature = "dev")]
#[derive(Parser, Debug)]
#[command(
    name = "ork",
    version,
    about = "Declarative, security-first Kubernetes operators from one Katalog"
)]
struct DevCli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: DevCmd,
}

#[cfg(feature = "dev")]
#[derive(Subcommand, Debug)]
enum DevCmd {
    /// Validate Katalogs offline and print their security posture
    Validate(cmd::validate::Args),
    /// Render the children of CRs exactly as the runtime would write them
    Template(cmd::template::Args),
    /// Run the runtime's reconcile cycles against an in-memory cluster
    Simulate(Box<cmd::simulate::Args>),
    /// Derive what installs ork for a Katalog: rbac, webhooks, crd, bundle
    Generate(cmd::generate::Args),
    /// What a Katalog change does to a bundle generated earlier: widened permissions first
    Plan(cmd::plan::Args),
    /// The admission Gateway's decision for one request (`gate check`), offline
    Gate(Box<cmd::gate::Args>),
    /// Function, field and topic reference
    Notes(cmd::notes::Args),
    /// Scan Kubernetes YAML and Katalog children for misconfigurations
    Scan(cmd::scan::Args),
    /// Offline RBAC analysis: who-can and audit
    Rbac(cmd::rbac::Args),
    /// Write an example pack
    Init(cmd::init::Args),
    /// A local control plane (etcd, kube-apiserver, kube-controller-manager) on loopback
    Local(cmd::local::Args),
    /// Run the operator: reconcile the Katalog's CRs against a cluster
    Run(Box<cmd::run::Args>),
    /// Run E2E scenarios against a real API server (--local or --kubeconfig)
    E2e(Box<cmd::e2e::Args>),
    /// Shell completion script
    Completions(cmd::completions::Args),
    /// Version, features and supported Kubernetes range
    Version(cmd::version::Args),
}

#[cfg(feature = "dev")]
pub fn dev_main() -> ExitCode {
    let mut cli = match DevCli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    cli.global.limits = match ork_limits::Limits::from_env() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ork: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let code = match cli.cmd {
        DevCmd::Validate(a) => cmd::validate::run(&a, &cli.global),
        DevCmd::Template(a) => cmd::template::run(&a, &cli.global),
        DevCmd::Simulate(a) => cmd::simulate::run(&a, &cli.global),
        DevCmd::Generate(a) => cmd::generate::run(&a, &cli.global),
        DevCmd::Plan(a) => cmd::plan::run(&a, &cli.global),
        DevCmd::Gate(a) => cmd::gate::run(&a, &cli.global),
        DevCmd::Notes(a) => cmd::notes::run(&a),
        DevCmd::Scan(a) => cmd::scan::run(&a, &cli.global),
        DevCmd::Rbac(a) => cmd::rbac::run(&a, &cli.global),
        DevCmd::Init(a) => cmd::init::run(&a),
        DevCmd::Local(a) => cmd::local::run(&a),
        DevCmd::Run(a) => cmd::run::run(&a, &cli.global.limits, cmd::run::Mode::Developer),
        DevCmd::E2e(a) => cmd::e2e::run(&a, &cli.global),
        DevCmd::Completions(a) => cmd::completions::run::<DevCli>(&a),
        DevCmd::Version(a) => cmd::version::run(&a),
    };
    ExitCode::from(code)
}

#[cfg(feature = "runtime")]
#[derive(Parser, Debug)]
#[command(
    name = "ork-runtime",
    version,
    about = "ork runtime (production build)"
)]
struct RuntimeCli {
    #[command(subcommand)]
    cmd: RuntimeCmd,
}

#[cfg(feature = "runtime")]
#[derive(Subcommand, Debug)]
enum RuntimeCmd {
    /// Run the operator (in a pod: the CRDs must exist; nothing is applied)
    Run(Box<cmd::run::Args>),
    /// Version, features and supported Kubernetes range
    Version(cmd::version::Args),
}

#[cfg(feature = "gateway")]
#[derive(Parser, Debug)]
#[command(
    name = "ork-gateway",
    version,
    about = "ork admission Gateway (production build)"
)]
struct GatewayCli {
    #[command(subcommand)]
    cmd: GatewayCmd,
}

#[cfg(feature = "gateway")]
#[derive(Subcommand, Debug)]
enum GatewayCmd {
    /// Run the admission Gateway (in a pod)
    Gate {
        /// the Katalog
        #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
        file: std::path::PathBuf,
        #[command(flatten)]
        serve: cmd::gateway::ServeArgs,
    },
    /// Version, features and supported Kubernetes range
    Version(cmd::version::Args),
}

#[cfg(any(feature = "runtime", feature = "gateway"))]
#[derive(Subcommand, Debug)]
enum ProdCmd {
    /// Version, features and supported Kubernetes range
    Version(cmd::version::Args),
}

#[cfg(feature = "runtime")]
pub fn runtime_main() -> ExitCode {
    match RuntimeCli::try_parse() {
        Ok(RuntimeCli {
            cmd: RuntimeCmd::Version(a),
        }) => ExitCode::from(cmd::version::run(&a)),
        Ok(RuntimeCli {
            cmd: RuntimeCmd::Run(a),
        }) => {
            if !cmd::online::in_pod() {
                eprintln!(
                    "ork-runtime runs in a pod; outside one, use the developer binary: ork run -f KATALOG"
                );
                return ExitCode::from(exit::USAGE);
            }
            let limits = match ork_limits::Limits::from_env() {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("ork-runtime: {e}");
                    return ExitCode::from(exit::USAGE);
                }
            };
            ExitCode::from(cmd::run::run(&a, &limits, cmd::run::Mode::Cluster))
        }
        Err(e) => clap_exit(e),
    }
}

#[cfg(feature = "gateway")]
pub fn gateway_main() -> ExitCode {
    match GatewayCli::try_parse() {
        Ok(GatewayCli {
            cmd: GatewayCmd::Version(a),
        }) => ExitCode::from(cmd::version::run(&a)),
        Ok(GatewayCli {
            cmd: GatewayCmd::Gate { file, serve },
        }) => {
            if !cmd::online::in_pod() {
                eprintln!(
                    "ork-gateway runs in a pod; outside one, use the developer binary: ork gate -f KATALOG --advertise HOST:PORT"
                );
                return ExitCode::from(exit::USAGE);
            }
            let limits = match ork_limits::Limits::from_env() {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("ork-gateway: {e}");
                    return ExitCode::from(exit::USAGE);
                }
            };
            ExitCode::from(cmd::gateway::serve(&serve, &file, &limits))
        }
        Err(e) => clap_exit(e),
    }
}

/// clap's own message; usage errors exit 2, --help and --version exit 0.
fn clap_exit(e: clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(exit::USAGE)
    } else {
        ExitCode::SUCCESS
    }
}
