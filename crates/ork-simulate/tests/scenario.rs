//! `ork simulate` of E2E scenarios: the deletion-protection example of docs/e2e.md §6 gets the
//! verdict every step expects, and the API server's own parts — RBAC before admission, which
//! webhook receives what, a Gateway scaled to zero leaving the failurePolicy to decide — give
//! the answers a real run gets.

use std::path::{Path, PathBuf};

use ork_limits::Limits;
use ork_simulate::scenario::{Outcome, StepVerdict, verdicts};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/deletion-protection")
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap_or_else(|e| panic!("{e}"))
        .with_timezone(&chrono::Utc)
}

fn play(path: &Path) -> Vec<StepVerdict> {
    let scenarios = ork_scenario::load_paths(&[path.to_path_buf()], &Limits::default())
        .unwrap_or_else(|d| {
            panic!(
                "{}",
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    assert_eq!(scenarios.len(), 1);
    verdicts(&scenarios[0], &Limits::default(), now()).unwrap_or_else(|e| panic!("{e}"))
}

fn report(v: &[StepVerdict]) -> String {
    ork_simulate::scenario::lines(v)
}

#[test]
fn every_step_of_the_deletion_protection_example_gets_its_expected_verdict() {
    let v = play(&fixture().join("e2e.yaml"));
    let judged: Vec<&StepVerdict> = v.iter().filter(|x| x.passed.is_some()).collect();
    assert_eq!(judged.len(), 10, "{}", report(&v));
    for x in &judged {
        assert_eq!(x.passed, Some(true), "{}", report(&v));
        assert_eq!(Some(x.verdict.as_str()), x.expected, "{}", report(&v));
    }
    // what is not a verdict is said to be so: 4 asserts and audits, 3 resource checks
    let not: Vec<&StepVerdict> = v
        .iter()
        .filter(|x| x.verdict == Outcome::NotSimulated)
        .collect();
    assert_eq!(not.len(), 7, "{}", report(&v));
    // the denials come from where the example says: admission, not RBAC
    let find = |expect: &str, step: usize| {
        v.iter()
            .find(|x| x.expect == expect && x.step == Some(step))
            .unwrap_or_else(|| panic!("{expect} #{step}: {}", report(&v)))
    };
    let crd = find("CRD cannot be deleted", 0);
    assert!(crd.reason.contains("deletion-protected"), "{}", crd.reason);
    let guard = find(
        "the guard protects the webhook configuration; break-glass deletion is repaired",
        0,
    );
    assert!(
        guard.reason.contains("orkestra-control-plane-guard"),
        "{}",
        guard.reason
    );
    let strict = find("strict mode keeps the label, other updates pass", 0);
    assert!(strict.reason.contains("strict-mode"), "{}", strict.reason);
    assert_eq!(
        strict.action,
        "patch App default/demo as dev",
        "{}",
        report(&v)
    );
    let json = serde_json::to_value(&v[1]).unwrap_or_default();
    for key in [
        "scenario", "expect", "after", "step", "action", "verdict", "reason",
    ] {
        assert!(json.get(key).is_some(), "{key}: {json}");
    }
    assert_eq!(json["scenario"], "deletion-protection");
    assert_eq!(json["after"], "setup-complete");
    assert_eq!(json["verdict"], "allowed");
}

/// The example's Katalog, CRD and CR with another setup and other steps.
fn scenario(dir: &Path, setup: &str, expect: &str) -> PathBuf {
    for f in ["katalog.yaml", "crd.yaml", "cr.yaml"] {
        std::fs::copy(fixture().join(f), dir.join(f)).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(dir.join("setup.yaml"), setup).unwrap_or_else(|e| panic!("{e}"));
    let e2e = dir.join("e2e.yaml");
    std::fs::write(
        &e2e,
        format!(
            "apiVersion: orkestra.orkspace.io/v1\nkind: E2E\nmetadata: {{name: api}}\nspec:\n  katalog: ./katalog.yaml\n  crd: ./crd.yaml\n  cr: ./cr.yaml\n  setup: [./setup.yaml]\n  expect:\n{expect}"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    e2e
}

const SETUP: &str = "{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: dev}, rules: [
  {apiGroups: [security.orkestra.io], resources: [apps], verbs: [get, patch, delete]},
  {apiGroups: [\"\"], resources: [configmaps], verbs: [delete]},
  {apiGroups: [\"\"], resources: [pods/exec], verbs: [create]}]}
---
{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: dev},
 roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: dev}, subjects: [{kind: User, name: dev}]}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: scratch, namespace: default}}
---
{apiVersion: v1, kind: Pod, metadata: {name: plain, namespace: default},
 spec: {containers: [{name: c, image: \"busybox:1.36\"}]}}
---
{apiVersion: v1, kind: Pod, metadata: {name: root, namespace: default},
 spec: {hostPID: true, containers: [{name: c, image: \"busybox:1.36\", securityContext: {privileged: true}}]}}
";

#[test]
fn rbac_comes_first_and_exec_protection_judges_the_target_pod() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let e2e = scenario(
        tmp.path(),
        SETUP,
        "    - name: rbac and exec
      steps:
        - {delete: {kind: ConfigMap, name: scratch, namespace: default}, as: {user: nobody}, dryRun: true, expect: denied, messageContains: forbidden}
        - canI: {verb: delete, resource: configmaps, namespace: default, as: {user: nobody}, expect: no}
        - canI: {verb: delete, resource: configmaps, namespace: default, as: {user: x, groups: [system:masters]}, expect: yes}
        - {exec: {pod: root, namespace: default, command: [sh]}, as: {user: dev}, expect: denied, messageContains: exec-escalation}
        - {exec: {pod: plain, namespace: default, command: [sh]}, as: {user: dev}, expect: allowed}
        - {exec: {pod: plain, namespace: default, command: [sh]}, as: {user: nobody}, expect: denied, messageContains: forbidden}
        - {delete: {kind: ConfigMap, name: gone, namespace: default}, expect: denied}
",
    );
    let v = play(&e2e);
    let verdict: Vec<&str> = v.iter().map(|x| x.verdict.as_str()).collect();
    assert_eq!(
        verdict,
        [
            "denied", "denied", "allowed", "denied", "allowed", "denied", "error"
        ],
        "{}",
        report(&v)
    );
    // a missing object is a step error, never a "denied"
    assert_eq!(v[6].passed, Some(false), "{}", report(&v));
    assert!(
        v[..6].iter().all(|x| x.passed == Some(true)),
        "{}",
        report(&v)
    );
    assert!(v[3].reason.contains("privileged"), "{}", v[3].reason);
}

#[test]
fn a_gateway_scaled_to_zero_leaves_the_failure_policy_to_decide() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let e2e = scenario(
        tmp.path(),
        SETUP,
        "    - name: gateway down
      after: cr-applied
      steps:
        - scale: {component: gateway, replicas: 0}
        - {delete: {kind: App, name: demo, namespace: default}, as: {user: dev}, dryRun: true, expect: denied, messageContains: failed calling webhook}
        - {patch: {kind: App, name: demo, namespace: default, merge: {spec: {greeting: hi}}}, as: {user: dev}, expect: denied, messageContains: validate.orkestra.orkspace.io}
        - {delete: {kind: ConfigMap, name: scratch, namespace: default}, as: {user: dev}, dryRun: true, expect: allowed}
        - scale: {component: gateway, replicas: 1}
        - {patch: {kind: App, name: demo, namespace: default, merge: {spec: {greeting: hi}}}, as: {user: dev}, expect: allowed}
        - {delete: {kind: App, name: demo, namespace: default}, as: {user: dev}, dryRun: true, expect: denied, messageContains: deletion-protected}
",
    );
    let v = play(&e2e);
    let verdict: Vec<&str> = v.iter().map(|x| x.verdict.as_str()).collect();
    assert_eq!(
        verdict,
        [
            "applied", "denied", "denied", "allowed", "applied", "allowed", "denied"
        ],
        "{}",
        report(&v)
    );
    assert!(v.iter().all(|x| x.passed != Some(false)), "{}", report(&v));
}

#[test]
fn a_cr_refused_at_admission_fails_the_phase() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let e2e = scenario(
        tmp.path(),
        SETUP,
        "    - name: nothing\n      steps:\n        - canI: {verb: get, resource: pods, expect: yes}\n",
    );
    // the runner may not set the label only ork sets
    std::fs::write(
        tmp.path().join("cr.yaml"),
        "{apiVersion: security.orkestra.io/v1, kind: App, metadata: {name: demo, namespace: default, labels: {orkestra.io/strict-mode-exempt: \"true\"}}, spec: {greeting: hello}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let scenarios =
        ork_scenario::load_paths(&[e2e], &Limits::default()).unwrap_or_else(|d| panic!("{d:?}"));
    let Err(e) = verdicts(&scenarios[0], &Limits::default(), now()) else {
        panic!("a refused CR passed");
    };
    assert!(
        matches!(
            &e,
            ork_simulate::Error::Phase {
                phase: "cr-applied",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("reserved-key"), "{e}");
}

/// A restricted Pod, a Deployment, and a user who may patch their subresources.
const SUBRESOURCES: &str = "
---
{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: debug}, rules: [
  {apiGroups: [\"\"], resources: [pods/ephemeralcontainers, pods/foo, configmaps/scale], verbs: [patch]},
  {apiGroups: [apps], resources: [deployments/scale], verbs: [patch]},
  {apiGroups: [security.orkestra.io], resources: [apps/status, apps/scale], verbs: [patch]}]}
---
{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: debug},
 roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: debug}, subjects: [{kind: User, name: dev}]}
---
{apiVersion: v1, kind: Pod, metadata: {name: target, namespace: default},
 spec: {automountServiceAccountToken: false,
  securityContext: {runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: {type: RuntimeDefault}},
  containers: [{name: app, image: \"busybox:1.36\", resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 100m, memory: 32Mi}},
   securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}}]}}
---
{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: default},
 spec: {replicas: 2, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}},
  spec: {containers: [{name: c, image: \"busybox:1.36\"}]}}}}
";

#[test]
fn patches_of_subresources_are_admitted_as_the_api_server_routes_them() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let debugger = |privileged: bool| {
        format!(
            "{{name: debugger, image: \"busybox:1.36\", securityContext: {{privileged: {privileged}, allowPrivilegeEscalation: {privileged}, capabilities: {{drop: [ALL]}}}}}}"
        )
    };
    let e2e = scenario(
        tmp.path(),
        &format!("{SETUP}{SUBRESOURCES}"),
        &format!(
            "    - name: subresources
      steps:
        - {{patch: {{kind: Pod, name: target, namespace: default, subresource: ephemeralcontainers,
            merge: {{spec: {{ephemeralContainers: [{}]}}}}}}, as: {{user: dev}}, dryRun: true, expect: denied, messageContains: privileged-container}}
        - {{patch: {{kind: Pod, name: target, namespace: default, subresource: ephemeralcontainers,
            merge: {{spec: {{ephemeralContainers: [{}]}}}}}}, as: {{user: nobody}}, dryRun: true, expect: denied, messageContains: forbidden}}
        - {{patch: {{kind: Pod, name: target, namespace: default, subresource: ephemeralcontainers,
            merge: {{spec: {{ephemeralContainers: [{}]}}}}}}, as: {{user: dev}}, expect: allowed}}
        - {{patch: {{kind: Pod, name: target, namespace: default, subresource: ephemeralcontainers,
            merge: {{spec: {{ephemeralContainers: []}}}}}}, as: {{user: dev}}, expect: allowed}}
        - {{patch: {{kind: Pod, name: target, namespace: default, subresource: foo, merge: {{}}}}, as: {{user: dev}}, expect: allowed}}
        - {{patch: {{kind: Deployment, name: web, namespace: default, subresource: scale, merge: {{spec: {{replicas: 5}}}}}}, as: {{user: dev}}, expect: allowed}}
        - {{patch: {{kind: Deployment, name: web, namespace: default, subresource: scale, merge: {{spec: {{replicas: -1}}}}}}, as: {{user: dev}}, expect: allowed}}
        - {{patch: {{kind: ConfigMap, name: scratch, namespace: default, subresource: scale, merge: {{spec: {{replicas: 1}}}}}}, as: {{user: dev}}, expect: allowed}}
        - {{patch: {{kind: App, name: demo, namespace: default, subresource: scale, merge: {{spec: {{replicas: 1}}}}}}, as: {{user: dev}}, expect: allowed}}
",
            debugger(true),
            debugger(true),
            debugger(false)
        ),
    );
    // pod security admission in the default namespace
    let katalog = std::fs::read_to_string(tmp.path().join("katalog.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace(
            "security: {deletionProtection: {enabled: true, strictMode: true}}",
            "security: {deletionProtection: {enabled: true, strictMode: true}, podSecurity: {level: restricted, admission: {enabled: true, namespaces: [default]}}}",
        );
    std::fs::write(tmp.path().join("katalog.yaml"), katalog).unwrap_or_else(|e| panic!("{e}"));
    let v = play(&e2e);
    let verdict: Vec<&str> = v.iter().map(|x| x.verdict.as_str()).collect();
    assert_eq!(
        verdict,
        [
            "denied", "denied", "allowed", "error", "error", "allowed", "error", "error", "error"
        ],
        "{}",
        report(&v)
    );
    // the privileged debugger is refused by pod security, as the Gateway refuses it
    assert!(
        v[0].reason
            .contains("admission webhook \"pod-security.orkestra.orkspace.io\" denied"),
        "{}",
        v[0].reason
    );
    assert!(
        v[0].reason
            .contains("spec.ephemeralContainers[debugger].securityContext.privileged is true"),
        "{}",
        v[0].reason
    );
    // the restricted one was added: it may not be removed again
    assert!(
        v[3].reason.contains("may not be removed"),
        "{}",
        v[3].reason
    );
    assert!(v[4].reason.contains("could not find"), "{}", v[4].reason);
    assert!(v[6].reason.contains("spec.replicas"), "{}", v[6].reason);
    // the App CRD serves status, not scale
    assert!(v[8].reason.contains("apps/scale"), "{}", v[8].reason);
}

/// The website example creates and deletes its CR in steps, and completes the cleanup Job itself
/// because the local control plane runs no Jobs: the runtime reconciles a CR a step created,
/// and its onDelete Job waits for that step.
#[test]
fn a_cr_created_by_a_step_is_reconciled_and_its_cleanup_job_waits_for_the_step_completing_it() {
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/website/e2e.yaml");
    let v = play(&e2e);
    let judged: Vec<&StepVerdict> = v.iter().filter(|x| x.passed.is_some()).collect();
    assert_eq!(judged.len(), 3, "{}", report(&v));
    assert!(
        judged.iter().all(|x| x.passed == Some(true)),
        "{}",
        report(&v)
    );
    let job = judged
        .iter()
        .find(|x| x.action.starts_with("patch Job web/my-site-cleanup"))
        .unwrap_or_else(|| panic!("{}", report(&v)));
    assert_eq!(job.verdict, Outcome::Allowed, "{}", report(&v));
}
