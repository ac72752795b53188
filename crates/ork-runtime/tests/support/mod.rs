//! What the runtime's integration tests share: the environment (one control plane, the
//! admin, and the admin impersonating the runtime's ServiceAccount), loading a Katalog,
//! requests as the admin, the derived RBAC, and starting the runtime as itself.

#![allow(dead_code)]

// the API helpers the Gateway's tests use, shared rather than written twice
#[path = "../../../ork-gateway/tests/support/cluster.rs"]
pub mod cluster;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cluster::{As, e, send};
use ork_testenv::ControlPlane;
use serde_json::Value;

pub const RUNTIME_SA: &str = "system:serviceaccount:orkestra-system:orkestra";
pub const OPERATOR_NS: &str = "orkestra-system";

pub struct Env {
    pub cp: ControlPlane,
    pub admin: kube::Client,
    /// the admin's credentials impersonating the runtime's ServiceAccount: the runtime runs as
    /// itself, under the RBAC derived from each Katalog
    pub as_runtime: kube::Client,
    pub dir: tempfile::TempDir,
}

pub type TestFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// The control plane (or `ORK_TEST_KUBECONFIG`), the operator namespace, both clients.
pub async fn setup() -> Result<Env, String> {
    let cp = ControlPlane::from_env_or_start().await.map_err(e)?;
    let admin = cp.client().await.map_err(e)?;
    cluster::namespace(&admin, OPERATOR_NS, &[]).await?;
    let as_runtime = cluster::impersonating(
        &cp.kubeconfig,
        RUNTIME_SA,
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:orkestra-system",
            "system:authenticated",
        ],
    )
    .await?;
    let dir = tempfile::tempdir().map_err(e)?;
    println!("control plane ready in {} ms", cp.startup.as_millis());
    Ok(Env {
        cp,
        admin,
        as_runtime,
        dir,
    })
}

/// A Katalog as the runtime loads it, and the same prepared.
pub fn load(
    path: &Path,
) -> Result<(ork_katalog::Katalog, Arc<ork_policy::PreparedKatalog>), String> {
    let o = ork_katalog::load_file(path);
    let k = o
        .katalog
        .ok_or_else(|| format!("{}: {:?}", path.display(), o.diagnostics))?;
    let p = ork_policy::PreparedKatalog::new(&k).map_err(e)?;
    Ok((k, Arc::new(p)))
}

/// The runtime's RBAC as `ork generate rbac --for runtime` derives it.
pub fn derived(k: &ork_katalog::Katalog) -> Result<Vec<Value>, String> {
    let d = ork_generate::rbac::derive(
        k,
        &ork_generate::rbac::Options {
            namespace: OPERATOR_NS.into(),
            component: ork_generate::rbac::Component::Runtime,
        },
    )
    .map_err(|x| x.to_string())?;
    Ok(d.objects())
}

/// Applies objects as the admin.
pub async fn apply_all(env: &Env, objs: &[Value]) -> Result<(), String> {
    for obj in objs {
        cluster::apply(&env.admin, obj).await?;
    }
    Ok(())
}

/// GET as the admin: the object, or `None` when it does not exist.
pub async fn get(env: &Env, path: &str) -> Result<Option<Value>, String> {
    let a = send(&env.admin, "GET", path, None, &As::admin()).await?;
    match a.status {
        200 => Ok(Some(a.body)),
        404 => Ok(None),
        s => Err(format!("GET {path}: {s} {}", a.message())),
    }
}

/// A request as the admin that must succeed.
pub async fn must(
    env: &Env,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let a = send(&env.admin, method, path, body, &As::admin()).await?;
    if a.ok() {
        Ok(a.body)
    } else {
        Err(format!("{method} {path}: {} {}", a.status, a.message()))
    }
}

/// Starts the runtime as its ServiceAccount and waits until it leads.
pub async fn runtime(
    env: &Env,
    k: &ork_katalog::Katalog,
    p: Arc<ork_policy::PreparedKatalog>,
    identity: &str,
) -> Result<ork_runtime::Running, String> {
    let mut cfg = ork_runtime::Config::new(identity.into());
    cfg.namespace = OPERATOR_NS.into();
    cfg.health_addr = "127.0.0.1:0".into();
    let r = ork_runtime::start(cfg, env.as_runtime.clone(), k, p)
        .await
        .map_err(e)?;
    let start = std::time::Instant::now();
    cluster::eventually("the runtime leads", Duration::from_secs(20), || async {
        Ok(r.leading())
    })
    .await?;
    if start.elapsed() > Duration::from_secs(3) {
        println!("    slow: leading after {} ms", start.elapsed().as_millis());
    }
    Ok(r)
}

/// The condition of `type` in the object's status.
pub fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

/// The events in `ns` about the object `regarding` selects (`/regarding/name` or
/// `/regarding/uid` equal to `id`) with `reason`.
pub async fn events(
    env: &Env,
    ns: &str,
    regarding: &str,
    id: &str,
    reason: &str,
) -> Result<Vec<Value>, String> {
    let list = must(
        env,
        "GET",
        &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"),
        None,
    )
    .await?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|ev| ev.pointer(regarding) == Some(&Value::from(id)) && ev["reason"] == reason)
        .cloned()
        .collect())
}
