//! The plain health port: `/healthz` (the process is alive), `/readyz` (what [`Probes::ready`]
//! says) and `/metrics` (Prometheus text), GET only, HTTP/1.1. It stays plain HTTP so the
//! kubelet's probes and a scraper need no certificate, and it is a separate listener so a
//! loaded webhook port never fails a liveness probe.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the health port reports.
pub trait Probes: Send + Sync + 'static {
    /// `Ok(detail)` answers `/readyz` with 200, `Err(detail)` with 503; the detail is the body.
    fn ready(&self) -> Result<String, String>;
    /// The metrics in OpenMetrics text.
    fn metrics(&self) -> String;
}

/// Serves until `stop` changes.
pub async fn serve(
    listener: TcpListener,
    probes: Arc<dyn Probes>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let probes = probes.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let probes = probes.clone();
                async move { Ok::<_, Infallible>(answer(probes.as_ref(), &req)) }
            });
            // a client that hangs up mid-request is its own problem, not the server's
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

type Body = Full<Bytes>;

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn answer(probes: &dyn Probes, req: &http::Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/healthz" => plain(StatusCode::OK, "ok\n".into()),
        "/readyz" => match probes.ready() {
            Ok(detail) => plain(StatusCode::OK, detail),
            Err(detail) => plain(StatusCode::SERVICE_UNAVAILABLE, detail),
        },
        "/metrics" => {
            let mut r = Response::new(Full::new(Bytes::from(probes.metrics())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        _ => plain(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// Binds `addr` (`:8080` means every address).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr = if let Some(port) = addr.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        addr.to_string()
    };
    let parsed: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    TcpListener::bind(parsed).await
}
