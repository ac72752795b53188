//! Counting outcomes and latencies, and the report printed at the end of a run.

use std::time::Duration;

use serde_json::{Value, json};

/// Why a request counts as an error.
#[derive(Clone, Copy, Debug)]
pub enum ErrorKind {
    /// Connection, TLS, HTTP framing or a reset stream.
    Transport,
    /// A status other than 200.
    Status,
    /// Not JSON, or `response.allowed` is not a boolean.
    Body,
    /// `response.uid` is not the `request.uid` that was sent.
    Uid,
}

/// What one request came to.
pub enum Outcome {
    Allowed,
    Denied,
    Error(ErrorKind, String),
}

/// Counters and latencies of one worker; workers' stats are merged at the end.
#[derive(Default)]
pub struct Stats {
    pub allowed: u64,
    pub denied: u64,
    pub transport: u64,
    pub status: u64,
    pub body: u64,
    pub uid: u64,
    /// The first error seen, so that a failing run says why.
    pub first_error: Option<String>,
    /// Nanoseconds, one per request (errors included): sorted only once, at the end.
    latencies_ns: Vec<u64>,
}

impl Stats {
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Allowed => self.allowed += 1,
            Outcome::Denied => self.denied += 1,
            Outcome::Error(kind, message) => {
                match kind {
                    ErrorKind::Transport => self.transport += 1,
                    ErrorKind::Status => self.status += 1,
                    ErrorKind::Body => self.body += 1,
                    ErrorKind::Uid => self.uid += 1,
                }
                self.first_error.get_or_insert(message);
            }
        }
        self.latencies_ns
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: Stats) {
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.transport += other.transport;
        self.status += other.status;
        self.body += other.body;
        self.uid += other.uid;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_ns.extend(other.latencies_ns);
    }

    pub fn errors(&self) -> u64 {
        self.transport + self.status + self.body + self.uid
    }

    pub fn requests(&self) -> u64 {
        self.allowed + self.denied + self.errors()
    }

    /// Sorts the latencies and freezes the figures of the run.
    pub fn report(mut self, run: RunInfo) -> Report {
        self.latencies_ns.sort_unstable();
        let sorted = &self.latencies_ns;
        let at = |q: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            // Nearest rank: the smallest value with at least q of the samples at or below it.
            let rank = (q * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1_000.0
        };
        let mean = if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().map(|&ns| ns as f64).sum::<f64>() / sorted.len() as f64 / 1_000.0
        };
        let latency_us = Latencies {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: sorted.last().map_or(0.0, |&ns| ns as f64 / 1_000.0),
            mean,
        };
        let throughput = self.requests() as f64 / run.duration.as_secs_f64();
        Report {
            run,
            latency_us,
            throughput,
            stats: self,
        }
    }
}

/// How the run was made, for the report.
pub struct RunInfo {
    pub mode: &'static str,
    pub protocol: &'static str,
    pub url: String,
    pub connections: usize,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub duration: Duration,
    pub warmup: Duration,
}

pub struct Latencies {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

pub struct Report {
    pub run: RunInfo,
    pub stats: Stats,
    pub latency_us: Latencies,
    /// Requests completed per second of the measured window.
    pub throughput: f64,
}

impl Report {
    pub fn to_json(&self) -> Value {
        let (s, l) = (&self.stats, &self.latency_us);
        let round = |v: f64| (v * 10.0).round() / 10.0;
        json!({
            "mode": self.run.mode,
            "protocol": self.run.protocol,
            "url": self.run.url,
            "connections": self.run.connections,
            "concurrency": self.run.concurrency,
            "rate": self.run.rate,
            "duration_s": self.run.duration.as_secs_f64(),
            "warmup_s": self.run.warmup.as_secs_f64(),
            "requests": s.requests(),
            "throughput_rps": round(self.throughput),
            "allowed": s.allowed,
            "denied": s.denied,
            "errors": s.errors(),
            "error_kinds": { "transport": s.transport, "status": s.status, "body": s.body, "uid": s.uid },
            "first_error": s.first_error,
            "latency_us": {
                "p50": round(l.p50), "p90": round(l.p90), "p99": round(l.p99),
                "p99_9": round(l.p999), "max": round(l.max), "mean": round(l.mean),
            },
        })
    }

    pub fn to_text(&self) -> String {
        let (s, l, r) = (&self.stats, &self.latency_us, &self.run);
        let load = match r.rate {
            Some(rate) => {
                format!("open loop at {rate} req/s (latency from the intended send time)")
            }
            None => format!("closed loop, {} in flight", r.concurrency),
        };
        let mut out = format!(
            "{} {}, {} connection(s), {load}\n\
             measured {:.1} s after {:.1} s warm-up\n\
             requests   {} ({:.0} req/s)\n\
             allowed    {}\n\
             denied     {}\n\
             errors     {} (transport {}, status {}, body {}, uid {})\n\
             latency    p50 {:.0} µs  p90 {:.0} µs  p99 {:.0} µs  p99.9 {:.0} µs  max {:.0} µs  mean {:.0} µs\n",
            r.protocol,
            r.url,
            r.connections,
            r.duration.as_secs_f64(),
            r.warmup.as_secs_f64(),
            s.requests(),
            self.throughput,
            s.allowed,
            s.denied,
            s.errors(),
            s.transport,
            s.status,
            s.body,
            s.uid,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            l.mean,
        );
        if let Some(first) = &s.first_error {
            out.push_str(&format!("first error: {first}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut stats = Stats::default();
        for us in 1..=1000u64 {
            stats.record(Outcome::Allowed, Duration::from_micros(us));
        }
        stats.record(Outcome::Denied, Duration::from_micros(5));
        stats.record(
            Outcome::Error(ErrorKind::Uid, "uid".into()),
            Duration::from_micros(5),
        );
        let report = stats.report(RunInfo {
            mode: "rate",
            protocol: "h2",
            url: String::new(),
            connections: 1,
            concurrency: 1,
            rate: Some(100.0),
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
        });
        assert_eq!(report.stats.requests(), 1002);
        assert_eq!(report.stats.errors(), 1);
        assert_eq!(report.latency_us.max, 1000.0);
        assert_eq!(report.latency_us.p50, 499.0);
        assert_eq!(report.latency_us.p99, 990.0);
    }
}
