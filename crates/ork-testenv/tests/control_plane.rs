//! Integration tests against a real kube-apiserver + etcd + kube-controller-manager.
//!
//! A custom harness (harness = false): one control plane per test binary, started once and
//! dropped at the end even when a test panics. Tests isolate themselves by namespace. With
//! ORK_TEST_KUBECONFIG set, they run against that cluster instead.

use std::future::Future;
use std::pin::Pin;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use ork_testenv::ControlPlane;
use serde_json::json;

type TestFn = ork_testenv::harness::Test<Env>;

struct Env {
    cp: ControlPlane,
    client: kube::Client,
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, String>>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(err) if start.elapsed() > timeout => return Err(format!("{what}: {err}")),
            Err(_) => {}
        }
        if start.elapsed() > timeout {
            return Err(format!("{what}: not true after {}s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn namespace(client: &kube::Client, name: &str) -> Result<(), String> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).map_err(e)?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(e)?;
    Ok(())
}

/// Namespace, CRD (Established), CR, a Deployment owned by the CR; deleting the CR lets the
/// garbage collector remove the Deployment; deleting the namespace lets the namespace
/// controller empty and remove it.
fn cascading_deletion(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let c = &env.client;
        let ns = "ork-gc";
        namespace(c, ns).await?;
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "metadata": {"name": "widgets.test.ork.dev"},
            "spec": {"group": "test.ork.dev", "scope": "Namespaced",
                     "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        }))
        .map_err(e)?;
        let crds = Api::<CustomResourceDefinition>::all(c.clone());
        crds.create(&PostParams::default(), &crd).await.map_err(e)?;
        eventually("CRD Established", Duration::from_secs(30), || async {
            let got = crds.get("widgets.test.ork.dev").await.map_err(e)?;
            Ok(got
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        })
        .await?;
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("test.ork.dev", "v1", "Widget"),
            "widgets",
        );
        let widgets: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &ar);
        let cr: DynamicObject =
            serde_json::from_value(json!({"apiVersion": "test.ork.dev/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}})).map_err(e)?;
        // the new kind may take a moment to be served after Established
        let start = Instant::now();
        let created = loop {
            match widgets.create(&PostParams::default(), &cr).await {
                Ok(o) => break o,
                Err(err) if start.elapsed() > Duration::from_secs(20) => {
                    return Err(format!("CR create: {err}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let uid = created.metadata.uid.ok_or("CR has no uid")?;
        let deploy: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "w1", "ownerReferences": [{"apiVersion": "test.ork.dev/v1", "kind": "Widget", "name": "w1", "uid": uid,
                                                             "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w1"}},
                     "template": {"metadata": {"labels": {"app": "w1"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}
        }))
        .map_err(e)?;
        let deploys: Api<Deployment> = Api::namespaced(c.clone(), ns);
        deploys
            .create(&PostParams::default(), &deploy)
            .await
            .map_err(e)?;
        widgets
            .delete("w1", &DeleteParams::background())
            .await
            .map_err(e)?;
        eventually(
            "owned Deployment garbage-collected",
            Duration::from_secs(60),
            || async {
                match deploys.get_opt("w1").await.map_err(e)? {
                    None => Ok(true),
                    Some(_) => Ok(false),
                }
            },
        )
        .await?;
        let nss = Api::<Namespace>::all(c.clone());
        nss.delete(ns, &DeleteParams::default()).await.map_err(e)?;
        eventually(
            "namespace deleted by the namespace controller",
            Duration::from_secs(90),
            || async { Ok(nss.get_opt(ns).await.map_err(e)?.is_none()) },
        )
        .await?;
        Ok(())
    })
}

/// A ValidatingWebhookConfiguration pointing at a rustls server on 127.0.0.1 (URL webhook,
/// the test CA as caBundle): the API server calls it and the denial reaches the client.
fn webhook_denial(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        let Some(pki) = env.cp.pki.as_ref() else {
            println!(
                "    (skipped: an existing cluster cannot reach a webhook on this machine's loopback)"
            );
            return Ok(());
        };
        let calls = Arc::new(AtomicUsize::new(0));
        let (cert, key) = pki.issue_server(&["127.0.0.1"])?;
        let port = webhook::serve(&cert, &key, calls.clone()).await?;
        let c = &env.client;
        let ns = "ork-webhook";
        namespace(c, ns).await?;
        let vwc: k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": "ork-test-deny"},
            "webhooks": [{
                "name": "deny.test.ork.dev",
                "clientConfig": {"url": format!("https://127.0.0.1:{port}/validate"),
                                 "caBundle": base64::engine::general_purpose::STANDARD.encode(&pki.ca_pem)},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5
            }]
        }))
        .map_err(e)?;
        let vwcs =
            Api::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>::all(
                c.clone(),
            );
        vwcs.create(&PostParams::default(), &vwc).await.map_err(e)?;
        let cms: Api<ConfigMap> = Api::namespaced(c.clone(), ns);
        // the API server activates a new configuration within moments: retry until it does
        let start = Instant::now();
        loop {
            let cm: ConfigMap = serde_json::from_value(
                json!({"metadata": {"generateName": "probe-"}, "data": {"k": "v"}}),
            )
            .map_err(e)?;
            match cms.create(&PostParams::default(), &cm).await {
                Ok(created) => {
                    let _ = cms
                        .delete(
                            &created.metadata.name.unwrap_or_default(),
                            &DeleteParams::default(),
                        )
                        .await;
                }
                Err(err) if err.to_string().contains("denied by the ork test webhook") => break,
                Err(err) if start.elapsed() > Duration::from_secs(20) => {
                    return Err(format!("expected the webhook's denial, got: {err}"));
                }
                Err(_) => {}
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err("the webhook never denied a ConfigMap".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if calls.load(Ordering::SeqCst) == 0 {
            return Err("the webhook server saw no request".into());
        }
        vwcs.delete("ork-test-deny", &DeleteParams::default())
            .await
            .map_err(e)?;
        Ok(())
    })
}

/// No process outlives the program that started it: normal exit, panic, abort.
fn no_process_left_behind(env: &Env) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
    Box::pin(async move {
        if env.cp.pki.is_none() {
            println!("    (skipped with ORK_TEST_KUBECONFIG)");
            return Ok(());
        }
        for mode in ["exit", "panic", "abort"] {
            let out = tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_ork-testenv-probe"))
                    .arg(mode)
                    .output()
            })
            .await
            .map_err(e)?
            .map_err(e)?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let pids: Vec<u32> = stdout
                .lines()
                .filter_map(|l| l.strip_prefix("pid "))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
                .collect();
            if pids.len() != 3 {
                return Err(format!(
                    "probe {mode}: expected 3 pids, got {stdout}{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            eventually(
                &format!("probe {mode}: every component gone"),
                Duration::from_secs(10),
                || {
                    let pids = pids.clone();
                    async move { Ok(pids.iter().all(|p| !alive(*p))) }
                },
            )
            .await?;
        }
        Ok(())
    })
}

/// A process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

mod webhook {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use serde_json::{Value, json};

    /// A one-route HTTPS server that denies every AdmissionReview; returns its port.
    pub async fn serve(
        cert_pem: &str,
        key_pem: &str,
        calls: Arc<AtomicUsize>,
    ) -> Result<u16, String> {
        let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .map_err(|e| e.to_string())?
            .ok_or("no private key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| e.to_string())?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let calls = calls.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let calls = calls.clone();
                        async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let review: Value =
                                serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let uid = review
                                .pointer("/request/uid")
                                .cloned()
                                .unwrap_or(Value::Null);
                            let resp = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                "response": {"uid": uid, "allowed": false, "status": {"code": 403, "message": "denied by the ork test webhook"}}});
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from(resp.to_string()),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Ok(port)
    }
}

fn main() -> ExitCode {
    let tests: &[(&str, TestFn)] = &[
        ("cascading_deletion", cascading_deletion),
        ("webhook_denial", webhook_denial),
        ("no_process_left_behind", no_process_left_behind),
    ];
    ork_testenv::harness::run(
        tests,
        Duration::from_secs(180),
        async {
            let cp = ControlPlane::from_env_or_start().await.map_err(e)?;
            let client = cp.client().await.map_err(e)?;
            println!(
                "control plane ready in {} ms ({})",
                cp.startup.as_millis(),
                cp.kubeconfig.display()
            );
            Ok(Env { cp, client })
        },
        |_| {},
    )
}
