//! The audit log (docs/security.md §2.11): one JSON line per decision, allowed ones included,
//! in a fixed key order, never with object bodies, field values or tokens.
//!
//! Admission never waits for the sink: lines go through a bounded queue of 10,000, and a full
//! queue drops the line, counts it in `ork_audit_dropped_total` and logs a warning.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
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

/// One line, its fields in the order of docs/security.md §2.11.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    pub time: String,
    pub log: &'static str,
    pub webhook: &'static str,
    pub uid: String,
    pub user: String,
    pub groups: Vec<String>,
    pub operation: String,
    pub kind: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub decision: &'static str,
    pub reasons: Vec<Value>,
    pub warnings: Vec<String>,
    #[serde(rename = "dryRun")]
    pub dry_run: bool,
    #[serde(rename = "durationUs")]
    pub duration_us: u64,
}

pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
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

    /// Starts the writer task for `sink`.
    pub fn start(sink: Sink, metrics: Arc<Metrics>) -> Audit {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_lines(sink, rx));
        Audit {
            tx: Some(tx),
            metrics,
        }
    }

    pub fn record(&self, line: &Line) {
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

async fn open(path: &PathBuf) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

async fn write_lines(sink: Sink, mut rx: mpsc::Receiver<String>) {
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &sink {
        Sink::Stdout => Box::new(tokio::io::stdout()),
        Sink::File(p) => match open(p).await {
            Ok(f) => Box::new(f),
            Err(e) => {
                tracing::error!(path = %p.display(), error = %e, "audit file could not be opened; lines go to stdout");
                Box::new(tokio::io::stdout())
            }
        },
    };
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let reopen = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let reopen = std::future::pending::<Option<()>>();
        tokio::select! {
            line = rx.recv() => {
                let Some(mut line) = line else { break };
                line.push('\n');
                if let Err(e) = out.write_all(line.as_bytes()).await {
                    tracing::warn!(error = %e, "audit line could not be written");
                }
                // flush when the queue is drained, so a quiet Gateway's lines are visible
                if rx.is_empty() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), out.flush()).await;
                }
            }
            _ = reopen => {
                if let Sink::File(p) = &sink {
                    match open(p).await {
                        Ok(f) => { let _ = out.flush().await; out = Box::new(f); }
                        Err(e) => tracing::warn!(path = %p.display(), error = %e, "audit file could not be reopened"),
                    }
                }
            }
        }
    }
    let _ = out.flush().await;
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
            groups: vec!["dev".into()],
            operation: "DELETE".into(),
            kind: "apps.example.io/v1/App".into(),
            subresource: None,
            namespace: Some("team-a".into()),
            name: "web".into(),
            decision: "deny",
            reasons: vec![],
            warnings: vec![],
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
}
