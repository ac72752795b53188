//! `ork rbac --cluster` reads RBAC from a real API server (ork-testenv's control plane) and
//! answers as it does offline for the same objects.

mod common;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, PostParams};

use common::{ork, repo, run};

async fn apply(client: &kube::Client, v: serde_json::Value) -> Result<(), String> {
    let pp = PostParams::default();
    let ns = v
        .pointer("/metadata/namespace")
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    let e = |x: kube::Error| x.to_string();
    let j = |x: serde_json::Error| x.to_string();
    match v.get("kind").and_then(|k| k.as_str()).unwrap_or("") {
        "ClusterRole" => Api::<ClusterRole>::all(client.clone())
            .create(&pp, &serde_json::from_value(v).map_err(j)?)
            .await
            .map(|_| ())
            .map_err(e),
        "ClusterRoleBinding" => Api::<ClusterRoleBinding>::all(client.clone())
            .create(&pp, &serde_json::from_value(v).map_err(j)?)
            .await
            .map(|_| ())
            .map_err(e),
        "Role" => Api::<Role>::namespaced(client.clone(), &ns)
            .create(&pp, &serde_json::from_value(v).map_err(j)?)
            .await
            .map(|_| ())
            .map_err(e),
        "RoleBinding" => Api::<RoleBinding>::namespaced(client.clone(), &ns)
            .create(&pp, &serde_json::from_value(v).map_err(j)?)
            .await
            .map(|_| ())
            .map_err(e),
        other => Err(format!("unexpected kind {other}")),
    }
}

#[test]
fn who_can_and_audit_read_rbac_live() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let cp = rt
        .block_on(ork_testenv::ControlPlane::start(
            ork_testenv::Options::default(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let client = cp.client().await.unwrap_or_else(|e| panic!("{e}"));
        for ns in ["team-a", "team-b", "platform"] {
            let n: Namespace =
                serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))
                    .unwrap_or_default();
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &n)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for f in ["cluster.yaml", "team-a.yaml"] {
            let text = std::fs::read_to_string(repo().join("tests/fixtures/rbac").join(f))
                .unwrap_or_default();
            for doc in ork_yaml::parse_stream(&text).unwrap_or_default() {
                apply(&client, doc.to_json())
                    .await
                    .unwrap_or_else(|e| panic!("{f}: {e}"));
            }
        }
    });
    let kubeconfig = cp.kubeconfig.display().to_string();
    let mut c = ork();
    c.args([
        "rbac",
        "who-can",
        "get",
        "secrets",
        "--cluster",
        "--kubeconfig",
        &kubeconfig,
        "-n",
        "team-a",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    for line in [
        "ClusterRoleBinding auditors → ClusterRole auditor ← ClusterRole auditor-secrets (aggregated)",
        "ClusterRoleBinding platform-secrets → ClusterRole secret-reader",
        "RoleBinding team-a/app-secrets → ClusterRole secret-reader",
        "ClusterRoleBinding break-glass → ClusterRole everything",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(
        !out.contains("cert-bot") && !out.contains("team-b/worker"),
        "{out}"
    );
    // the cluster's own roles are read too: cluster-admin is bound to system:masters
    assert!(out.contains("Group system:masters"), "{out}");
    let mut c = ork();
    c.args([
        "rbac",
        "audit",
        "--cluster",
        "--kubeconfig",
        &kubeconfig,
        "-o",
        "json",
    ]);
    let (code, out, _) = run(c);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let got: Vec<(String, String)> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["check"].as_str().unwrap_or("").to_string(),
                f["subject"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (check, subject) in [
        ("rbac-escalate", "ServiceAccount platform/rbac-manager"),
        ("rbac-full-wildcard", "User oncall"),
        ("rbac-impersonate", "ServiceAccount platform/rbac-manager"),
        ("rbac-secrets-read", "Group auditors"),
        ("rbac-admission-config-writer", "User oncall"),
    ] {
        assert!(
            got.contains(&(check.to_string(), subject.to_string())),
            "missing {check} {subject} in {got:?}"
        );
    }
    // the cluster's own cluster-admin binding is break-glass (system:masters), not a finding
    assert!(
        !got.contains(&(
            "rbac-admission-config-writer".to_string(),
            "Group system:masters".to_string()
        )),
        "{got:?}"
    );
    drop(cp);
}
