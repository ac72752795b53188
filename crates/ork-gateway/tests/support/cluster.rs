//! Talking to the real API server as any user: raw requests with impersonation, so a test sees
//! exactly what a client sees (status, message, warnings, the object after mutation).

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// What the API server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// Denied by an ork webhook or the guard policy (not by RBAC, validation or a missing
    /// object).
    pub fn denied_by_ork(&self) -> bool {
        let m = self.message();
        !self.ok() && (m.contains("[Orkestra Security]") || m.contains("[Orkestra Validation]"))
    }
}

/// Who sends a request.
#[derive(Debug, Clone, Default)]
pub struct As {
    pub user: Option<String>,
    pub groups: Vec<String>,
}

impl As {
    pub fn admin() -> As {
        As::default()
    }

    pub fn user(name: &str, groups: &[&str]) -> As {
        As {
            user: Some(name.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// One raw request as `who`, through the E2E runner's client (`ork_e2e::api`), so the tests
/// and `ork e2e` send and read requests the same way.
pub async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
    who: &As,
) -> Result<Answer, String> {
    let identity = who.user.as_ref().map(|user| ork_scenario::Identity {
        user: user.clone(),
        groups: who.groups.clone(),
    });
    let body = body.map(|b| (ork_e2e::api::JSON, b.to_string().into_bytes()));
    let a = ork_e2e::api::Api::new(client.clone())
        .send(method, path, body, identity.as_ref())
        .await?;
    Ok(Answer {
        status: a.status,
        body: a.body,
        warnings: a.warnings,
    })
}

/// The plural and scope of a kind the tests use.
pub fn api_of(
    api_version: &str,
    kind: &str,
    k: Option<&ork_policy::PreparedKatalog>,
) -> Option<(String, bool)> {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    if let Some(c) = k.and_then(|k| k.crd_for_kind(group, kind)) {
        return Some((c.api.plural.clone(), c.api.namespaced));
    }
    // ork's built-in table names every kind these tests touch, CRDs and admission objects too
    ork_katalog::kinds::BUILTIN_KINDS
        .iter()
        .find(|(g, kd, _, _)| *g == group && *kd == kind)
        .map(|(_, _, plural, namespaced)| (plural.to_string(), *namespaced))
}

/// `/api/v1/namespaces/ns/pods` (collection) or `…/pods/name`.
pub fn path_of(
    obj: &Value,
    k: Option<&ork_policy::PreparedKatalog>,
    with_name: bool,
) -> Option<String> {
    let api = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    let (plural, namespaced) = api_of(api, kind, k)?;
    let base = if api.contains('/') {
        format!("/apis/{api}")
    } else {
        format!("/api/{api}")
    };
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    let mut p = match (namespaced, ns) {
        (true, Some(ns)) => format!("{base}/namespaces/{ns}/{plural}"),
        (true, None) => return None,
        (false, _) => format!("{base}/{plural}"),
    };
    if with_name {
        p.push('/');
        p.push_str(obj.pointer("/metadata/name")?.as_str()?);
    }
    Some(p)
}

pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<(), String>
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
            return Err(format!("{what}: not true after {:?}", timeout));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a namespace with labels, or relabels it, with its `default` ServiceAccount (which
/// Pods need, and which no controller may have made yet).
pub async fn namespace(
    client: &kube::Client,
    name: &str,
    labels: &[(String, String)],
) -> Result<(), String> {
    let labels: serde_json::Map<String, Value> =
        labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}});
    apply(client, &obj).await?;
    default_service_account(client, name).await
}

pub async fn default_service_account(client: &kube::Client, ns: &str) -> Result<(), String> {
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
    let a = send(
        client,
        "POST",
        &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        Some(&sa),
        &As::admin(),
    )
    .await?;
    if a.ok() || a.status == 409 {
        Ok(())
    } else {
        Err(format!("ServiceAccount default in {ns}: {}", a.message()))
    }
}

/// A client with the kubeconfig's credentials, impersonating `user` and `groups`.
pub async fn impersonating(
    kubeconfig: &std::path::Path,
    user: &str,
    groups: &[&str],
) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).map_err(e)?;
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(e)?;
    cfg.auth_info.impersonate = Some(user.to_string());
    cfg.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    kube::Client::try_from(cfg).map_err(e)
}

/// Server-side apply as the admin (`ork-test`).
pub async fn apply(client: &kube::Client, obj: &Value) -> Result<(), String> {
    let path = path_of(obj, None, true).ok_or("no path for object")?;
    let body = (ork_e2e::api::APPLY, obj.to_string().into_bytes());
    let a = ork_e2e::api::Api::new(client.clone())
        .send(
            "PATCH",
            &format!("{path}?fieldManager=ork-test&force=true"),
            Some(body),
            None,
        )
        .await?;
    if a.ok() {
        Ok(())
    } else {
        Err(format!("apply {path}: {}: {}", a.status, a.body))
    }
}

/// A permissive CRD for each Katalog CRD, Established before it returns.
pub async fn crds(client: &kube::Client, k: &ork_policy::PreparedKatalog) -> Result<(), String> {
    crds_serving(client, k, &[]).await
}

/// As [`crds`], each CRD also serving the `extra` (group, version) pairs of its group.
pub async fn crds_serving(
    client: &kube::Client,
    k: &ork_policy::PreparedKatalog,
    extra: &[(String, String)],
) -> Result<(), String> {
    for c in &k.crds {
        let name = format!("{}.{}", c.api.plural, c.api.group);
        let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
        let status = json!({"status": {}});
        let mut versions = vec![
            json!({"name": c.api.version, "served": true, "storage": true, "schema": schema, "subresources": status}),
        ];
        for (g, v) in extra {
            if *g == c.api.group
                && *v != c.api.version
                && !versions.iter().any(|x| x["name"] == json!(v))
            {
                versions.push(json!({"name": v, "served": true, "storage": false, "schema": schema, "subresources": status}));
            }
        }
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": c.api.group,
                "names": {"kind": c.api.kind, "plural": c.api.plural, "singular": c.api.kind.to_lowercase()},
                "scope": if c.api.namespaced { "Namespaced" } else { "Cluster" },
                "versions": versions,
            },
        });
        apply(client, &crd).await?;
        let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
        eventually(
            &format!("CRD {name} Established"),
            Duration::from_secs(30),
            || async {
                let a = send(client, "GET", &path, None, &As::admin()).await?;
                Ok(a.body
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    }))
            },
        )
        .await?;
        // discovery of the new resource lags Established a little
        eventually(
            &format!("{name} served"),
            Duration::from_secs(30),
            || async {
                let a = send(
                    client,
                    "GET",
                    &format!("/apis/{}/{}/{}", c.api.group, c.api.version, c.api.plural),
                    None,
                    &As::admin(),
                )
                .await?;
                Ok(a.ok())
            },
        )
        .await?;
    }
    Ok(())
}

/// Lets every authenticated user do anything RBAC governs: the tests judge admission, not
/// authorization.
pub async fn open_rbac(client: &kube::Client) -> Result<(), String> {
    apply(
        client,
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "ork-test-everyone-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}],
        }),
    )
    .await
}
