//! `ork rbac who-can` and `ork rbac audit` on tests/fixtures/rbac (docs/cli.md §14).

mod common;

use common::{ork, repo, run};

fn rbac(args: &[&str]) -> (i32, String, String) {
    let mut c = ork();
    c.current_dir(repo()).arg("rbac").args(args);
    run(c)
}

#[test]
fn who_can_get_secrets_in_team_a_lists_exactly_the_expected_subjects_and_chains() {
    let (code, out, err) = rbac(&[
        "who-can",
        "get",
        "secrets",
        "-f",
        "tests/fixtures/rbac",
        "-n",
        "team-a",
    ]);
    assert_eq!(code, 0, "{err}");
    let want = "\
SUBJECT                    SCOPE             VIA
Group auditors             cluster           ClusterRoleBinding auditors → ClusterRole auditor ← ClusterRole auditor-secrets (aggregated)
Group platform-admins      cluster           ClusterRoleBinding platform-secrets → ClusterRole secret-reader
ServiceAccount team-a/app  namespace team-a  RoleBinding team-a/app-secrets → ClusterRole secret-reader
User oncall                cluster           ClusterRoleBinding break-glass → ClusterRole everything
";
    assert_eq!(out, want);
    assert!(err.contains("system:masters bypass RBAC"), "{err}");
}

#[test]
fn resource_names_match_only_with_a_name_and_expect_none_fails() {
    let (_, out, _) = rbac(&[
        "who-can",
        "get",
        "secrets",
        "-f",
        "tests/fixtures/rbac",
        "-n",
        "team-a",
        "--name",
        "tls",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let subjects: Vec<&str> = v["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["subject"].as_str())
        .collect();
    assert!(subjects.contains(&"User cert-bot"), "{out}");
    let (code, out, _) = rbac(&[
        "who-can",
        "delete",
        "nodes",
        "-f",
        "tests/fixtures/rbac/team-a.yaml",
        "--expect-none",
    ]);
    assert_eq!((code, out.trim()), (0, "nobody can delete nodes"));
    let (code, _, _) = rbac(&[
        "who-can",
        "get",
        "secrets",
        "-f",
        "tests/fixtures/rbac",
        "--expect-none",
    ]);
    assert_eq!(code, 1, "--expect-none fails when someone can");
}

#[test]
fn audit_flags_wildcards_escalation_impersonation_and_cluster_wide_secret_reads() {
    let (code, out, _) = rbac(&["audit", "-f", "tests/fixtures/rbac", "-o", "json"]);
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
    let want: Vec<(String, String)> = [
        ("rbac-bind", "ServiceAccount platform/rbac-manager"),
        ("rbac-escalate", "ServiceAccount platform/rbac-manager"),
        ("rbac-full-wildcard", "User oncall"),
        ("rbac-impersonate", "ServiceAccount platform/rbac-manager"),
        ("rbac-secrets-read", "Group auditors"),
        ("rbac-secrets-read", "Group platform-admins"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{out}");
    let (code, _, _) = rbac(&[
        "audit",
        "-f",
        "tests/fixtures/rbac",
        "--min-severity",
        "critical",
    ]);
    assert_eq!(code, 1);
    let (code, out, _) = rbac(&["audit", "-f", "tests/fixtures/rbac/team-a.yaml"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("0 findings\n\nEffective permissions\n  User cert-bot\n    namespace team-a  RoleBinding team-a/cert-bot → Role team-a/tls-only\n      get secrets (core) names tls"), "{out}");
}

#[test]
fn audit_reports_effective_permissions_and_sarif() {
    let (_, out, _) = rbac(&["audit", "-f", "tests/fixtures/rbac", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let auditors = v["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["subject"] == "Group auditors")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        auditors["grants"][0]["via"],
        "ClusterRoleBinding auditors → ClusterRole auditor"
    );
    assert_eq!(
        auditors["grants"][0]["rules"][0]["from"],
        "ClusterRole auditor-secrets (aggregated)"
    );
    let (code, out, _) = rbac(&["audit", "-f", "tests/fixtures/rbac", "-o", "sarif"]);
    assert_eq!(code, 1);
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(6)
    );
}
