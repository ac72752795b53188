//! The audit log (docs/security.md §2.11): one JSON line per decision, allowed ones included,
//! in a fixed key order, never with object bodies, field values or tokens.
//!
//! Admission never waits for the sink: lines go through a bounded queue of 10,000, and a full
//! queue drops the line, counts it in `ork_audit_dropped_total` and logs a warning.

use std::borrow::Cow;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Lines waiting for the sink before new ones are dropped.
pub const QUEUE: usize = 10_000;

/// Where lines go: `stdout` or `file:<path>` (appended; reopened on SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    File(PathBuf),
}

impl Sink {
    pub fn parse(s: &str) -> Result<Sink, String> {
        match s {
            "stdout" => Ok(Sink::Stdout),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(Sink::File(PathBuf::from(p))),
                _ => Err(format!(
                    "security.audit.sink {s:?}: expected stdout or file:<path>"
                )),
            },
        }
    }
}

/// One line, its fields in the order of docs/security.md §2.11. It borrows from the review it
/// describes: a decision's line costs one encoding, not a copy of every field first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line<'a> {
    pub time: String,
    pub log: &'static str,
    pub webhook: &'static str,
    pub uid: Cow<'a, str>,
    pub user: Cow<'a, str>,
    pub groups: Cow<'a, [String]>,
    pub operation: &'static str,
    pub kind: Cow<'a, str>,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Cow<'a, str>,
    pub decision: &'static str,
    pub reasons: Vec<Value>,
    pub warnings: Cow<'a, [String]>,
    #[serde(rename = "dryRun")]
    pub dry_run: bool,
    #[serde(rename = "durationUs")]
    pub duration_us: u64,
}

/// UTC with milliseconds, `2026-11-28T03:33:12.945Z`.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The sending half; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: Option<mpsc::Sender<String>>,
    metrics: Arc<Metrics>,
}

impl Audit {
    /// An audit log that writes nothing (`security.audit.enabled: false`).
    pub fn off(metrics: Arc<Metrics>) -> Audit {
        Audit { tx: None, metrics }
    }

    /// Starts the writer thread for `sink`, and the SIGHUP listener that has it reopen a file.
    pub fn start(sink: Sink, metrics: Arc<Metrics>) -> Audit {
        let (tx, rx) = mpsc::channel(QUEUE);
        let reopen = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            let reopen = reopen.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    reopen.store(true, Ordering::Relaxed);
                }
            });
        }
        let spawned = std::thread::Builder::new()
            .name("ork-audit".into())
            .spawn(move || write_lines(sink, rx, reopen));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "the audit writer could not start; lines are dropped and counted");
        }
        Audit {
            tx: Some(tx),
            metrics,
        }
    }

    pub fn record(&self, line: &Line<'_>) {
        let Some(tx) = &self.tx else { return };
        let text = match serde_json::to_string(line) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "audit line could not be encoded");
                return;
            }
        };
        if tx.try_send(text).is_err() {
            self.metrics.audit_dropped.inc();
            tracing::warn!("audit queue full: a line was dropped (ork_audit_dropped_total)");
        }
    }
}

fn open(path: &PathBuf) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// The writer: a thread of its own with a buffered sink, so a decision never waits for a
/// disk and lines reach it in batches (tokio's file writes would cost a blocking-pool hop per
/// line). It flushes whenever the queue is drained, and reopens a file on SIGHUP.
fn write_lines(sink: Sink, mut rx: mpsc::Receiver<String>, reopen: Arc<AtomicBool>) {
    let target = |sink: &Sink| -> Box<dyn Write + Send> {
        match sink {
            Sink::Stdout => Box::new(std::io::stdout()),
            Sink::File(p) => match open(p) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    tracing::error!(path = %p.display(), error = %e, "audit file could not be opened; lines go to stdout");
                    Box::new(std::io::stdout())
                }
            },
        }
    };
    let mut out = BufWriter::with_capacity(64 * 1024, target(&sink));
    // drain what is queued, flush, then sleep: the writer never registers to be woken, so a
    // decision's `try_send` costs no thread wake-up (a line reaches the sink within ~20 ms)
    loop {
        let mut closed = false;
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    if out
                        .write_all(line.as_bytes())
                        .and_then(|()| out.write_all(b"\n"))
                        .is_err()
                    {
                        tracing::warn!("audit line could not be written");
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let _ = out.flush();
        if closed {
            return;
        }
        if reopen.swap(false, Ordering::Relaxed)
            && let Sink::File(_) = &sink
        {
            out = BufWriter::with_capacity(64 * 1024, target(&sink));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_parse_or_name_the_value() {
        assert_eq!(Sink::parse("stdout"), Ok(Sink::Stdout));
        assert_eq!(
            Sink::parse("file:/var/log/a"),
            Ok(Sink::File("/var/log/a".into()))
        );
        assert!(Sink::parse("file:").is_err());
        assert!(matches!(Sink::parse("syslog"), Err(e) if e.contains("syslog")));
    }

    #[test]
    fn keys_keep_the_documented_order() {
        let l = Line {
            time: "t".into(),
            log: "audit",
            webhook: "deletion-protection",
            uid: "u".into(),
            user: "alice".into(),
            groups: vec!["dev".to_string()].into(),
            operation: "DELETE",
            kind: "apps.example.io/v1/App".into(),
            subresource: None,
            namespace: Some("team-a"),
            name: "web".into(),
            decision: "deny",
            reasons: vec![],
            warnings: Cow::Borrowed(&[]),
            dry_run: false,
            duration_us: 212,
        };
        let s = serde_json::to_string(&l).unwrap_or_default();
        let keys = [
            "time",
            "log",
            "webhook",
            "uid",
            "user",
            "groups",
            "operation",
            "kind",
            "subresource",
            "namespace",
            "name",
            "decision",
            "reasons",
            "warnings",
            "dryRun",
            "durationUs",
        ];
        let pos: Vec<usize> = keys
            .iter()
            .map(|k| s.find(&format!("\"{k}\":")).unwrap_or(usize::MAX))
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{s}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_reach_the_file_in_order_without_drops_at_a_steady_rate() {
        let dir = std::env::temp_dir().join(format!("ork-audit-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("audit.log");
        let _ = std::fs::remove_file(&path);
        let metrics = Arc::new(Metrics::new());
        let audit = Audit::start(Sink::File(path.clone()), metrics.clone());
        let mut line = Line {
            time: now(),
            log: "audit",
            webhook: "validate",
            uid: "".into(),
            user: "alice".into(),
            groups: Cow::Borrowed(&[]),
            operation: "CREATE",
            kind: "/v1/ConfigMap".into(),
            subresource: None,
            namespace: None,
            name: "".into(),
            decision: "allow",
            reasons: vec![],
            warnings: Cow::Borrowed(&[]),
            dry_run: false,
            duration_us: 1,
        };
        for i in 0..20_000 {
            line.uid = i.to_string().into();
            audit.record(&line);
            if i % 1000 == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(metrics.audit_dropped.get(), 0);
        assert_eq!(text.lines().count(), 20_000);
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.contains("\"uid\":\"19999\""))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
