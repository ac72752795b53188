//! The load: keep-alive TLS connections (HTTP/2 multiplexed, or HTTP/1.1 one request at a time
//! per connection), each request an AdmissionReview with its own `request.uid`, each answer
//! judged. Closed loop (`--max`) measures throughput; open loop (`--rate`) measures latency from
//! the time a request was due, so that a slow answer delays no one's clock (no coordinated
//! omission).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

use crate::Error;
use crate::stats::{ErrorKind, Outcome, Report, RunInfo, Stats};

pub struct RunOptions {
    pub url: String,
    pub ca: PathBuf,
    pub body: PathBuf,
    pub http2: bool,
    pub connections: usize,
    pub concurrency: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// `None`: closed loop (`--max`).
    pub rate: Option<f64>,
    pub uid_check: bool,
    pub timeout: Duration,
}

pub async fn run(options: RunOptions) -> Result<Report, Error> {
    if options.connections == 0 || options.concurrency == 0 {
        return Err("--connections and --concurrency must be at least 1".into());
    }
    if options
        .rate
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        return Err("--rate must be a positive number".into());
    }
    let target = Target::new(&options)?;
    let mut connections = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        connections.push(target.connect().await?);
    }
    let sender = Arc::new(Sender {
        connections,
        body: BodyTemplate::load(&options.body)?,
        uri: target.request_uri,
        host: target.host_header,
        next_uid: AtomicU64::new(0),
        run_id: run_id(),
        uid_check: options.uid_check,
        timeout: options.timeout,
    });

    // A little slack so that the first intended send time is not already past.
    let start = Instant::now() + Duration::from_millis(10);
    let measure_from = start + options.warmup;
    let until = measure_from + options.duration;
    let stats = match options.rate {
        None => closed_loop(&sender, options.concurrency, measure_from, until).await?,
        Some(rate) => {
            open_loop(
                &sender,
                rate,
                options.concurrency,
                start,
                measure_from,
                until,
            )
            .await?
        }
    };
    Ok(stats.report(RunInfo {
        mode: if options.rate.is_some() {
            "rate"
        } else {
            "max"
        },
        protocol: if options.http2 { "h2" } else { "http/1.1" },
        url: options.url,
        connections: options.connections,
        concurrency: options.concurrency,
        rate: options.rate,
        duration: options.duration,
        warmup: options.warmup,
    }))
}

/// `concurrency` workers, each sending its next request as soon as the last one is answered.
async fn closed_loop(
    sender: &Arc<Sender>,
    concurrency: usize,
    measure_from: Instant,
    until: Instant,
) -> Result<Stats, Error> {
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut stats = Stats::default();
                loop {
                    let sent = Instant::now();
                    if sent >= until {
                        return stats;
                    }
                    let outcome = sender.exchange(worker).await;
                    if sent >= measure_from {
                        stats.record(outcome, sent.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut total = Stats::default();
    for worker in workers {
        total.merge(worker.await?);
    }
    Ok(total)
}

/// Requests due at fixed intervals, each on its own task; at most `concurrency` in flight (a
/// request waiting for a slot is already late, and its latency says so).
async fn open_loop(
    sender: &Arc<Sender>,
    rate: f64,
    concurrency: usize,
    start: Instant,
    measure_from: Instant,
    until: Instant,
) -> Result<Stats, Error> {
    // tokio's timer ticks in milliseconds, too coarse for a schedule of 2,000 req/s: a plain
    // thread sleeps to each due time (the kernel's timer slack is ~50 µs) and hands it over.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let interval_ns = 1e9 / rate;
    let ticker = std::thread::spawn(move || {
        for k in 0u64.. {
            let due = start + Duration::from_nanos((k as f64 * interval_ns) as u64);
            if due >= until {
                return;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if due_tx.send(due).is_err() {
                return;
            }
        }
    });

    let slots = Arc::new(Semaphore::new(concurrency));
    let stats = Arc::new(Mutex::new(Stats::default()));
    let mut k = 0usize;
    while let Some(due) = due_rx.recv().await {
        let slot = slots.clone().acquire_owned().await?;
        let (sender, stats) = (sender.clone(), stats.clone());
        tokio::spawn(async move {
            let outcome = sender.exchange(k).await;
            let latency = due.elapsed();
            if due >= measure_from {
                stats
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(outcome, latency);
            }
            drop(slot);
        });
        k = k.wrapping_add(1);
    }
    let _ = ticker.join();
    // Every slot back: every request answered.
    let _ = slots.acquire_many(u32::try_from(concurrency)?).await?;
    let mut total = Stats::default();
    total.merge(std::mem::take(
        &mut *stats.lock().unwrap_or_else(|e| e.into_inner()),
    ));
    Ok(total)
}

/// Where to connect and how to verify it.
struct Target {
    connect_host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    http2: bool,
    request_uri: Uri,
    host_header: HeaderValue,
}

impl Target {
    fn new(options: &RunOptions) -> Result<Self, Error> {
        let uri: Uri = options.url.parse()?;
        if uri.scheme_str() != Some("https") {
            return Err(format!("{}: only https:// URLs", options.url).into());
        }
        let authority = uri.authority().ok_or("the URL has no host")?.clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(443);

        let pem = std::fs::read(&options.ca)
            .map_err(|e| format!("reading {}: {e}", options.ca.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert?)?;
        }
        if roots.is_empty() {
            return Err(format!("no certificate in {}", options.ca.display()).into());
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![if options.http2 {
            b"h2".to_vec()
        } else {
            b"http/1.1".to_vec()
        }];

        // HTTP/2 takes :scheme and :authority from an absolute URI; HTTP/1.1 wants the path and a
        // Host header.
        let request_uri = if options.http2 {
            uri.clone()
        } else {
            uri.path_and_query().map_or("/", |p| p.as_str()).parse()?
        };
        Ok(Target {
            connect_host: host.to_string(),
            port,
            server_name: ServerName::try_from(host.to_string())?,
            tls: TlsConnector::from(Arc::new(tls)),
            http2: options.http2,
            request_uri,
            host_header: HeaderValue::from_str(authority.as_str())?,
        })
    }

    async fn connect(&self) -> Result<Connection, Error> {
        let where_ = format!("{}:{}", self.connect_host, self.port);
        let tcp = TcpStream::connect((self.connect_host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to {where_}: {e}"))?;
        tcp.set_nodelay(true)?;
        let stream = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with {where_}: {e}"))?;
        let io = TokioIo::new(stream);
        if self.http2 {
            if io.inner().get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(format!("{where_} did not negotiate h2 (try --http1)").into());
            }
            let (send, connection) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(connection);
            Ok(Connection::H2(send))
        } else {
            let (send, connection) = http1::handshake(io).await?;
            tokio::spawn(connection);
            Ok(Connection::H1(tokio::sync::Mutex::new(send)))
        }
    }
}

enum Connection {
    /// Shared by every worker: requests are multiplexed.
    H2(http2::SendRequest<Full<Bytes>>),
    /// One request at a time: workers take turns.
    H1(tokio::sync::Mutex<http1::SendRequest<Full<Bytes>>>),
}

impl Connection {
    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Error> {
        match self {
            Connection::H2(send) => {
                let response = send.clone().send_request(request).await?;
                let status = response.status();
                Ok((status, response.into_body().collect().await?.to_bytes()))
            }
            Connection::H1(send) => {
                let mut send = send.lock().await;
                send.ready().await?;
                let response = send.send_request(request).await?;
                let status = response.status();
                Ok((status, response.into_body().collect().await?.to_bytes()))
            }
        }
    }
}

/// Everything a request needs, shared by all tasks.
struct Sender {
    connections: Vec<Connection>,
    body: BodyTemplate,
    uri: Uri,
    host: HeaderValue,
    next_uid: AtomicU64,
    run_id: u32,
    uid_check: bool,
    timeout: Duration,
}

impl Sender {
    /// One AdmissionReview on connection `n` (modulo their number), judged.
    async fn exchange(&self, n: usize) -> Outcome {
        let serial = self.next_uid.fetch_add(1, Ordering::Relaxed);
        let uid = format!("{:08x}-0000-4000-8000-{serial:012x}", self.run_id);
        let mut request = Request::new(Full::new(self.body.with_uid(&uid)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(HOST, self.host.clone());

        let connection = &self.connections[n % self.connections.len()];
        match tokio::time::timeout(self.timeout, connection.exchange(request)).await {
            Err(_) => Outcome::Error(
                ErrorKind::Transport,
                format!("no answer within {:?}", self.timeout),
            ),
            Ok(Err(e)) => Outcome::Error(ErrorKind::Transport, e.to_string()),
            Ok(Ok((status, body))) => judge(status, &body, self.uid_check.then_some(uid.as_str())),
        }
    }
}

/// Whether an answer is a valid AdmissionReview response to the request with `uid`.
pub fn judge(status: StatusCode, body: &[u8], uid: Option<&str>) -> Outcome {
    if status != StatusCode::OK {
        return Outcome::Error(ErrorKind::Status, format!("status {status}"));
    }
    let review: Value = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(e) => return Outcome::Error(ErrorKind::Body, format!("the answer is not JSON: {e}")),
    };
    let response = review.get("response");
    let Some(allowed) = response
        .and_then(|r| r.get("allowed"))
        .and_then(Value::as_bool)
    else {
        return Outcome::Error(ErrorKind::Body, "response.allowed is not a boolean".into());
    };
    if let Some(uid) = uid {
        let answered = response.and_then(|r| r.get("uid")).and_then(Value::as_str);
        if answered != Some(uid) {
            return Outcome::Error(
                ErrorKind::Uid,
                format!(
                    "response.uid {} is not the request's {uid:?}",
                    match answered {
                        Some(answered) => format!("{answered:?}"),
                        None => "missing".into(),
                    }
                ),
            );
        }
    }
    if allowed {
        Outcome::Allowed
    } else {
        Outcome::Denied
    }
}

/// The request body split around the value of `request.uid`, so that each request costs two
/// copies and a formatted uid instead of a JSON round trip.
struct BodyTemplate {
    before: Bytes,
    after: Bytes,
}

impl BodyTemplate {
    const MARK: &str = "ork-loadgen-uid-goes-here";

    fn load(path: &PathBuf) -> Result<Self, Error> {
        let text = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut review: Value = serde_json::from_slice(&text)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let Some(uid) = review.pointer_mut("/request/uid") else {
            return Err(format!("{}: no request.uid", path.display()).into());
        };
        *uid = Value::String(Self::MARK.into());
        let compact = serde_json::to_string(&review)?;
        let mut parts = compact.split(Self::MARK);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(before), Some(after), None) => Ok(BodyTemplate {
                before: Bytes::copy_from_slice(before.as_bytes()),
                after: Bytes::copy_from_slice(after.as_bytes()),
            }),
            _ => Err(format!("{}: contains {:?} elsewhere", path.display(), Self::MARK).into()),
        }
    }

    fn with_uid(&self, uid: &str) -> Bytes {
        let mut body = BytesMut::with_capacity(self.before.len() + uid.len() + self.after.len());
        body.extend_from_slice(&self.before);
        body.extend_from_slice(uid.as_bytes());
        body.extend_from_slice(&self.after);
        body.freeze()
    }
}

/// A per-run prefix of the uids, so that two runs against one server do not repeat uids.
fn run_id() -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.subsec_nanos() ^ std::process::id().rotate_left(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_answers() {
        let ok = br#"{"response":{"uid":"u1","allowed":true}}"#;
        let no = br#"{"response":{"uid":"u1","allowed":false,"status":{"code":403}}}"#;
        assert!(matches!(
            judge(StatusCode::OK, ok, Some("u1")),
            Outcome::Allowed
        ));
        assert!(matches!(
            judge(StatusCode::OK, no, Some("u1")),
            Outcome::Denied
        ));
        assert!(matches!(
            judge(StatusCode::OK, ok, Some("u2")),
            Outcome::Error(ErrorKind::Uid, _)
        ));
        assert!(matches!(judge(StatusCode::OK, ok, None), Outcome::Allowed));
        let not_bool = br#"{"response":{"uid":"u1","allowed":"yes"}}"#;
        assert!(matches!(
            judge(StatusCode::OK, not_bool, None),
            Outcome::Error(ErrorKind::Body, _)
        ));
        assert!(matches!(
            judge(StatusCode::OK, b"<html>", None),
            Outcome::Error(ErrorKind::Body, _)
        ));
        let status = judge(StatusCode::INTERNAL_SERVER_ERROR, ok, None);
        assert!(matches!(status, Outcome::Error(ErrorKind::Status, _)));
    }

    #[test]
    fn patches_the_uid_into_the_template() -> Result<(), Error> {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/deployment-review.json"
        ));
        let template = BodyTemplate::load(&path)?;
        let body: Value = serde_json::from_slice(&template.with_uid("abc-123"))?;
        assert_eq!(
            body.pointer("/request/uid"),
            Some(&Value::String("abc-123".into()))
        );
        assert_eq!(
            body.pointer("/request/name"),
            Some(&Value::String("web".into()))
        );
        Ok(())
    }
}
