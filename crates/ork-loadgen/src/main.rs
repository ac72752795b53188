//! `ork-loadgen`: sends AdmissionReviews over TLS with keep-alive and reports throughput or
//! latency and every wrong answer; `echo` is the bare webhook to compare a real one against.

mod client;
mod echo;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(
    name = "ork-loadgen",
    version,
    about = "AdmissionReview load over TLS, and a bare echo webhook"
)]
struct Cli {
    /// Runtime worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a fixed allow to every POST over TLS (HTTP/1.1 and HTTP/2): the baseline.
    Echo {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// PEM certificate chain; without it a throwaway CA and certificate are generated.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// PEM private key of --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Where to write the generated CA (PEM), for `run --ca`.
        #[arg(long, conflicts_with = "cert")]
        write_ca: Option<PathBuf>,
        /// Where to write the bound address once listening.
        #[arg(long)]
        port_file: Option<PathBuf>,
        /// Answer with this status instead of 200 (tests the client's error counting).
        #[arg(long, default_value_t = 200, hide = true)]
        status: u16,
    },
    /// Send AdmissionReviews: `--max` for throughput, `--rate R` for latency.
    #[command(group(ArgGroup::new("load").required(true).args(["max", "rate"])))]
    Run {
        /// https://HOST:PORT/PATH of the webhook.
        #[arg(long)]
        url: String,
        /// PEM CA that the server certificate must chain to.
        #[arg(long)]
        ca: PathBuf,
        /// AdmissionReview JSON to send; each request gets its own request.uid.
        #[arg(long)]
        body: PathBuf,
        /// HTTP/2, requests multiplexed on each connection (the default).
        #[arg(long, conflicts_with = "http1")]
        http2: bool,
        /// HTTP/1.1, one request at a time per connection.
        #[arg(long)]
        http1: bool,
        /// Keep-alive connections, opened before the run.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Requests in flight: exactly (`--max`) or at most (`--rate`).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Measured time, e.g. 60s, 500ms, 2m.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
        /// Load before measuring, not counted.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        warmup: Duration,
        /// Closed loop: as many requests as --concurrency allows; reports throughput.
        #[arg(long)]
        max: bool,
        /// Open loop at R requests/s; latency from each request's due time.
        #[arg(long)]
        rate: Option<f64>,
        /// Do not require response.uid to equal request.uid (the echo's uid is fixed).
        #[arg(long)]
        no_uid_check: bool,
        /// A request unanswered after this long is a transport error.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        timeout: Duration,
        /// One JSON object instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match start(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ork-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn start(cli: Cli) -> Result<ExitCode, Error> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build()?;
    match cli.command {
        Command::Echo {
            addr,
            cert,
            key,
            write_ca,
            port_file,
            status,
        } => {
            let options = echo::EchoOptions {
                addr,
                cert,
                key,
                write_ca,
                port_file,
                status,
            };
            runtime.block_on(echo::serve(options))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            url,
            ca,
            body,
            http2: _,
            http1,
            connections,
            concurrency,
            duration,
            warmup,
            max: _,
            rate,
            no_uid_check,
            timeout,
            json,
        } => {
            let options = client::RunOptions {
                url,
                ca,
                body,
                http2: !http1,
                connections,
                concurrency,
                duration,
                warmup,
                rate,
                uid_check: !no_uid_check,
                timeout,
            };
            let report = runtime.block_on(client::run(options))?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            Ok(if report.stats.errors() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// `60s`, `500ms`, `2m`, or bare seconds (`1.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration"))?;
    let seconds = match unit {
        "ms" => value / 1_000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit is ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
