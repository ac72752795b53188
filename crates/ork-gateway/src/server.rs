//! The two listeners (docs/security.md §2.3): HTTPS for the webhooks (rustls, HTTP/1.1 and
//! HTTP/2, keep-alive) and plain HTTP for `/healthz`, `/readyz` and `/metrics`, which takes no
//! input and reveals nothing of the Katalog (G19).
//!
//! A webhook request is decoded with kube's AdmissionReview types, judged by
//! `ork_policy::decide` at the endpoint's layers, audited and counted. Whatever goes wrong after
//! decoding — a missed deadline, a Pod that cannot be read, a response that cannot be encoded —
//! is answered by the endpoint's failurePolicy, never by an allow.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kube::core::admission::{AdmissionResponse, Operation};
use ork_policy::Verdict;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::audit::{self, Line};
use crate::review::{self, Decoded};
use crate::state::Shared;
use crate::webhooks::Webhook;

/// The largest AdmissionReview the Gateway reads (docs/security.md §2.3).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

type Body = Full<Bytes>;

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r
}

fn json_response(v: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(v) {
        Ok(b) => {
            let mut r = Response::new(Full::new(Bytes::from(b)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            r
        }
        // the API server then applies the webhook's failurePolicy
        Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "response not encodable\n",
        ),
    }
}

/// Serves one webhook request.
pub async fn handle(shared: Arc<Shared>, req: http::Request<Incoming>) -> Response<Body> {
    let Some(webhook) = Webhook::from_path(req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    if req.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body over 8 MiB or unreadable\n",
            );
        }
    };
    let started = Instant::now();
    let response = match review::decode(&body) {
        Ok(d) => admit(&shared, webhook, d, started).await,
        Err(e) => {
            shared
                .metrics
                .requests
                .get_or_create(&crate::metrics::Decision {
                    webhook: webhook.name(),
                    decision: "deny",
                })
                .inc();
            // still a decision: audited, without the body it could not read
            shared.audit.record(&Line {
                time: audit::now(),
                log: "audit",
                webhook: webhook.name(),
                uid: "".into(),
                user: "".into(),
                groups: Cow::Borrowed(&[]),
                operation: "",
                kind: "".into(),
                subresource: None,
                namespace: None,
                name: "".into(),
                decision: "deny",
                reasons: vec![
                    serde_json::json!({"code": "undecodable", "layer": webhook.layer().as_str(),
                    "message": "the body is not an admission.k8s.io/v1 AdmissionReview"}),
                ],
                warnings: Cow::Borrowed(&[]),
                dry_run: false,
                duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            });
            review::undecodable(&e)
        }
    };
    json_response(&response.into_review())
}

async fn admit(shared: &Shared, w: Webhook, d: Decoded<'_>, started: Instant) -> AdmissionResponse {
    let k = shared.katalog();
    let policy = w.layer().failure_policy(&k);
    // the API server gives up after timeoutSeconds; answer before it does
    let deadline = Duration::from_millis(
        (u64::try_from(k.settings.timeout_seconds).unwrap_or(1) * 1000).saturating_sub(500),
    );
    // only an exec waits on anything (one GET of the target Pod); everything else is decided
    // synchronously in microseconds, so the deadline guards that wait alone
    let target: Result<Option<Value>, ()> = match d.request.operation {
        kube::core::admission::Operation::Connect => {
            tokio::time::timeout(deadline, shared.target_pod(&d.request))
                .await
                .map_err(|_| ())
        }
        _ => Ok(None),
    };
    let (response, verdict) = match target {
        Ok(target) => {
            let peers = shared.peers_for(&d.request);
            let v = review::judge(&k, w, &d, target.as_ref(), peers.as_deref().map(|p| p as _));
            (review::respond(&d.request, &v), Some(v))
        }
        Err(()) => (
            review::failure(
                &d.request,
                w.layer(),
                policy,
                "the Gateway's deadline passed",
            ),
            None,
        ),
    };
    let elapsed = started.elapsed();
    let decision = if response.allowed { "allow" } else { "deny" };
    shared
        .metrics
        .requests
        .get_or_create(&crate::metrics::Decision {
            webhook: w.name(),
            decision,
        })
        .inc();
    shared
        .metrics
        .duration
        .get_or_create(&crate::metrics::WebhookLabel { webhook: w.name() })
        .observe(elapsed.as_secs_f64());
    shared
        .audit
        .record(&audit_line(w, &d, &response, verdict.as_ref(), elapsed));
    response
}

fn audit_line<'a>(
    w: Webhook,
    d: &'a Decoded<'_>,
    resp: &'a AdmissionResponse,
    v: Option<&Verdict>,
    elapsed: Duration,
) -> Line<'a> {
    let r = &d.request;
    let kind = format!("{}/{}/{}", r.kind.group, r.kind.version, r.kind.kind);
    let reasons = match v {
        Some(v) => review::audit_reasons(v),
        None if !resp.allowed => vec![serde_json::json!({
            "code": "evaluation-error", "layer": w.layer().as_str(), "message": "the Gateway's deadline passed",
        })],
        None => vec![],
    };
    let non_empty = |s: &'a Option<String>| s.as_deref().filter(|s| !s.is_empty());
    Line {
        time: audit::now(),
        log: "audit",
        webhook: w.name(),
        uid: Cow::Borrowed(&r.uid),
        user: Cow::Borrowed(r.user_info.username.as_deref().unwrap_or_default()),
        groups: Cow::Borrowed(r.user_info.groups.as_deref().unwrap_or_default()),
        operation: match r.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        },
        kind: kind.into(),
        subresource: non_empty(&r.sub_resource),
        namespace: non_empty(&r.namespace),
        name: Cow::Borrowed(&r.name),
        decision: if resp.allowed { "allow" } else { "deny" },
        reasons,
        warnings: Cow::Borrowed(resp.warnings.as_deref().unwrap_or_default()),
        dry_run: r.dry_run,
        duration_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    }
}

/// Serves the webhooks on `listener` over TLS until `stop` turns true, then drains: open
/// requests finish (up to `drain`), new connections are refused.
pub async fn serve_webhooks(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (tcp, _peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // a handshake that stalls must not hold a task forever
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            // boxed: hyper spawns a task per HTTP/2 stream, and a task holding the whole
            // handler state by value is copied into place on every request
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(Box::pin(handle(shared, req)).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; closing them");
    }
}

pub use ork_kube::health::bind;
