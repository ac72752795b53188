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
        ("rbac-admission-config-writer", "User oncall"),
        ("rbac-operator-namespace-writer", "User oncall"),
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
        Some(8)
    );
}

/// `rbac-admission-config-writer` on tests/fixtures/rbac-guard: (check, subject, message) of
/// each finding of that check, with the extra arguments and environment.
fn guard_writers(extra: &[&str], env: &[(&str, &str)]) -> (i32, Vec<(String, String)>, String) {
    let mut c = ork();
    c.current_dir(repo())
        .args([
            "rbac",
            "audit",
            "-f",
            "tests/fixtures/rbac-guard/rbac.yaml",
            "-o",
            "json",
        ])
        .args(extra)
        .env_remove("ORK_NAMESPACE");
    for (k, v) in env {
        c.env(k, v);
    }
    let (code, out, err) = run(c);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let got = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["check"] == "rbac-admission-config-writer")
        .map(|f| {
            (
                f["subject"].as_str().unwrap_or("").to_string(),
                f["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    (code, got, format!("{out}\n{err}"))
}

fn subjects(got: &[(String, String)]) -> Vec<&str> {
    got.iter().map(|(s, _)| s.as_str()).collect()
}

#[test]
fn audit_flags_every_subject_outside_break_glass_that_can_write_admission_configurations() {
    let (code, got, out) = guard_writers(&[], &[]);
    assert_eq!(code, 1, "{out}");
    // not system:masters (cluster-admin's own binding), not the Gateway, not a RoleBinding
    assert_eq!(
        subjects(&got),
        vec![
            "Group guard-admins",
            "ServiceAccount ci/deployer",
            "User alice"
        ],
        "{out}"
    );
    let all = "create,update,patch,delete,deletecollection validatingwebhookconfigurations,mutatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings";
    assert_eq!(
        got[0].1,
        "Group guard-admins can delete validatingadmissionpolicybindings (admissionregistration.k8s.io) through ClusterRoleBinding guard-admins, outside breakGlassGroups (system:masters)"
    );
    assert_eq!(
        got[2].1,
        format!(
            "User alice can {all} (admissionregistration.k8s.io) through ClusterRoleBinding alice-admin, outside breakGlassGroups (system:masters)"
        )
    );
    // the full report: severity, chain, file and line of the binding, the hint
    let v: serde_json::Value =
        serde_json::from_str(out.split('\n').next().unwrap_or("")).unwrap_or_default();
    let alice = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["check"] == "rbac-admission-config-writer" && f["subject"] == "User alice")
        .cloned()
        .unwrap_or_default();
    assert_eq!(alice["severity"], "high");
    assert_eq!(
        alice["path"],
        "ClusterRoleBinding alice-admin → ClusterRole cluster-admin → rules[0]"
    );
    assert_eq!(alice["file"], "tests/fixtures/rbac-guard/rbac.yaml");
    assert_eq!(alice["line"], 18);
    assert!(
        alice["remediation"].as_str().is_some_and(|r| r
            .contains("can delete the guard's binding, then the webhook configurations")
            && r.contains("breakGlassGroups")),
        "{alice}"
    );
}

#[test]
fn break_glass_groups_and_the_operator_namespace_change_the_exemption() {
    // --break-glass-group replaces system:masters
    let (_, got, out) = guard_writers(&["--break-glass-group", "guard-admins"], &[]);
    assert_eq!(
        subjects(&got),
        vec![
            "Group system:masters",
            "ServiceAccount ci/deployer",
            "User alice"
        ],
        "{out}"
    );
    let (_, got, out) = guard_writers(
        &[
            "--break-glass-group",
            "guard-admins",
            "--break-glass-group",
            "system:masters",
        ],
        &[],
    );
    assert_eq!(
        subjects(&got),
        vec!["ServiceAccount ci/deployer", "User alice"],
        "{out}"
    );
    // the Katalog's security.webhooks.breakGlassGroups: [guard-admins]
    let katalog = [
        "--katalog",
        "tests/fixtures/rbac-guard/katalog/katalog.yaml",
    ];
    let (code, got, out) = guard_writers(&katalog, &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        subjects(&got),
        vec![
            "Group system:masters",
            "ServiceAccount ci/deployer",
            "User alice"
        ],
        "{out}"
    );
    assert!(
        got[0]
            .1
            .ends_with("outside breakGlassGroups (guard-admins)"),
        "{out}"
    );
    // the Gateway is exempt in the operator namespace only (ORK_NAMESPACE, as the runtime)
    let (_, got, out) = guard_writers(&katalog, &[("ORK_NAMESPACE", "ork")]);
    assert!(
        subjects(&got).contains(&"ServiceAccount orkestra-system/orkestra-gateway"),
        "{out}"
    );
    let (_, got, out) = guard_writers(&[], &[("ORK_NAMESPACE", "ork")]);
    assert!(
        subjects(&got).contains(&"ServiceAccount orkestra-system/orkestra-gateway"),
        "{out}"
    );
    // both at once is a usage error; so is a Katalog that does not load
    let (code, _, _) = guard_writers(&["--break-glass-group", "x", "--katalog", katalog[1]], &[]);
    assert_eq!(code, 2);
    let (code, _, _) = guard_writers(
        &[
            "--katalog",
            "tests/fixtures/broken/45-break-glass-everyone.katalog.yaml",
        ],
        &[],
    );
    assert_eq!(code, 2);
    // below the threshold, not reported
    let (code, got, out) = guard_writers(&["--min-severity", "critical"], &[]);
    assert!(got.is_empty(), "{out}");
    assert_eq!(
        code, 1,
        "cluster-admin's wildcards are still critical: {out}"
    );
}

#[test]
fn audit_text_and_sarif_carry_the_admission_finding() {
    let mut c = ork();
    c.current_dir(repo())
        .args(["rbac", "audit", "-f", "tests/fixtures/rbac-guard/rbac.yaml"])
        .env_remove("ORK_NAMESPACE");
    let (code, out, err) = run(c);
    assert_eq!(code, 1, "{err}");
    let want = "\
high      rbac-admission-config-writer  Group guard-admins
          Group guard-admins can delete validatingadmissionpolicybindings (admissionregistration.k8s.io) through ClusterRoleBinding guard-admins, outside breakGlassGroups (system:masters)
          ClusterRoleBinding guard-admins → ClusterRole guard-binding-remover → rules[0]
          fix: Restrict writes on admissionregistration.k8s.io to breakGlassGroups: the subject can delete the guard's binding, then the webhook configurations
";
    assert!(out.contains(want), "{out}");
    let mut c = ork();
    c.current_dir(repo())
        .args([
            "rbac",
            "audit",
            "-f",
            "tests/fixtures/rbac-guard/rbac.yaml",
            "-o",
            "sarif",
        ])
        .env_remove("ORK_NAMESPACE");
    let (_, out, _) = run(c);
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let results: Vec<&serde_json::Value> = sarif["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["ruleId"] == "rbac-admission-config-writer")
        .collect();
    assert_eq!(results.len(), 3, "{out}");
}

/// `rbac-operator-namespace-writer`: a RoleBinding in ork's namespace (ORK_NAMESPACE, else
/// orkestra-system) that lets a user scale the Gateway is reported at the binding's line; the
/// same binding in another namespace is not.
#[test]
fn audit_reports_who_can_scale_the_gateway_in_orks_namespace() {
    let dir = std::env::temp_dir().join(format!("ork-rbac-ns-writer-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("rbac.yaml");
    let doc = |ns: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: scaler, namespace: {ns}}}
rules:
- {{apiGroups: [apps], resources: [deployments/scale], verbs: [patch], resourceNames: [orkestra-gateway]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: scale-gateway, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: scaler}}
subjects: [{{kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}}]
"
        )
    };
    let text = format!("{}---\n{}", doc("ork-ns"), doc("elsewhere"));
    if let Err(e) = std::fs::write(&file, text) {
        panic!("{e}");
    }
    let audit = |gateway_service: Option<&str>| {
        let mut c = ork();
        c.current_dir(repo())
            .args(["rbac", "audit", "-o", "json", "-f"])
            .arg(&file)
            .env("ORK_NAMESPACE", "ork-ns")
            .env_remove("ORK_GATEWAY_SERVICE_NAME");
        if let Some(name) = gateway_service {
            c.env("ORK_GATEWAY_SERVICE_NAME", name);
        }
        run(c)
    };
    let (code, out, err) = audit(None);
    // the Gateway's Deployment is named like its Service: renamed, the role names no
    // Deployment of ork's any more
    let (_, renamed, renamed_err) = audit(Some("edge-gw"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 1, "{err}");
    let writers = |out: &str| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(out).unwrap_or_default();
        v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["check"] == "rbac-operator-namespace-writer")
            .cloned()
            .collect()
    };
    assert_eq!(
        writers(&renamed),
        Vec::<serde_json::Value>::new(),
        "{renamed}\n{renamed_err}"
    );
    let found = writers(&out);
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0]["subject"], "User mallory");
    assert_eq!(found[0]["line"], 7, "{out}");
    assert_eq!(
        found[0]["message"],
        "User mallory can patch deployments/scale in ork's namespace ork-ns through RoleBinding ork-ns/scale-gateway, outside breakGlassGroups (system:masters)"
    );
}
