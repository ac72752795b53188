//! `ork-loadgen run` against `ork-loadgen echo`, both as the built binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_ork-loadgen");

/// An `echo` server, killed when dropped.
struct Echo {
    child: Child,
    addr: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Echo {
    fn start(extra: &[&str]) -> Result<Echo> {
        let dir = tempfile::tempdir()?;
        let (ca, port) = (dir.path().join("ca.pem"), dir.path().join("port"));
        let child = Command::new(BIN)
            .args(["--threads", "1", "echo", "--write-ca"])
            .arg(&ca)
            .arg("--port-file")
            .arg(&port)
            .args(extra)
            .stdout(Stdio::null())
            .spawn()?;
        let mut echo = Echo {
            child,
            addr: String::new(),
            ca,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !port.exists() {
            if Instant::now() > deadline || echo.child.try_wait()?.is_some() {
                return Err("echo did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        echo.addr = std::fs::read_to_string(&port)?;
        Ok(echo)
    }

    fn url(&self) -> String {
        format!("https://{}/validate", self.addr)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// `run` against `url` with `ca`, the Deployment fixture, no warm-up and `args`.
fn run(url: &str, ca: &Path, args: &[&str]) -> Result<Output> {
    Ok(Command::new(BIN)
        .args(["--threads", "1", "run", "--url", url, "--ca"])
        .arg(ca)
        .arg("--body")
        .arg(fixture("deployment-review.json"))
        .args(["--warmup", "0s", "--json"])
        .args(args)
        .output()?)
}

fn parse_report(output: &Output) -> Result<Value> {
    serde_json::from_slice(&output.stdout).map_err(|e| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        format!(
            "{e}: stdout {:?}, stderr {stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
        .into()
    })
}

#[test]
fn closed_loop_over_http2_has_no_errors() -> Result {
    let echo = Echo::start(&[])?;
    let args = [
        "--max",
        "--duration",
        "2s",
        "--connections",
        "2",
        "--concurrency",
        "8",
        "--no-uid-check",
    ];
    let output = run(&echo.url(), &echo.ca, &args)?;
    let report = parse_report(&output)?;
    assert!(output.status.success(), "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["protocol"], "h2");
    assert_eq!(report["mode"], "max");
    let requests = report["requests"].as_u64().ok_or("requests")?;
    assert!(requests > 100, "{report}");
    assert_eq!(report["allowed"], requests, "{report}");
    Ok(())
}

#[test]
fn open_loop_over_http1_sends_at_the_rate() -> Result {
    let echo = Echo::start(&[])?;
    let args = [
        "--http1",
        "--rate",
        "200",
        "--duration",
        "2s",
        "--no-uid-check",
    ];
    let output = run(&echo.url(), &echo.ca, &args)?;
    let report = parse_report(&output)?;
    assert!(output.status.success(), "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["protocol"], "http/1.1");
    // 200/s for 2 s is 400 requests due, each sent however late.
    assert_eq!(report["requests"], 400, "{report}");
    let p99 = report["latency_us"]["p99"].as_f64().ok_or("p99")?;
    assert!(
        p99 > 0.0 && p99 <= report["latency_us"]["max"].as_f64().ok_or("max")?,
        "{report}"
    );
    Ok(())
}

#[test]
fn wrong_answers_are_errors_and_exit_1() -> Result {
    // A 500 on every request.
    let failing = Echo::start(&["--status", "500"])?;
    let args = ["--rate", "50", "--duration", "1s", "--no-uid-check"];
    let output = run(&failing.url(), &failing.ca, &args)?;
    let report = parse_report(&output)?;
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["error_kinds"]["status"], 50, "{report}");
    assert_eq!(report["errors"], report["requests"], "{report}");

    // The echo's fixed uid is not the request's: every answer is wrong once uids are checked.
    let echo = Echo::start(&[])?;
    let output = run(&echo.url(), &echo.ca, &["--rate", "50", "--duration", "1s"])?;
    let report = parse_report(&output)?;
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["error_kinds"]["uid"], 50, "{report}");
    assert_eq!(report["allowed"], 0, "{report}");
    Ok(())
}

#[test]
fn a_certificate_from_another_ca_is_refused() -> Result {
    let (echo, other) = (Echo::start(&[])?, Echo::start(&[])?);
    let output = run(
        &echo.url(),
        &other.ca,
        &["--max", "--duration", "1s", "--no-uid-check"],
    )?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    Ok(())
}
