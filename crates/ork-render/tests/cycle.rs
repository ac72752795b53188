//! `render_cycle` asks the decision core about everything it would write: the CR however its
//! apiVersion is spelled, every pod-bearing child (`custom:` ones included), and a rule that
//! needs cluster state is never reported as passed.

use ork_policy::PreparedKatalog;
use ork_render::{Options, render_cycle};
use serde_json::json;

fn prepared(extra: &str) -> PreparedKatalog {
    let src = format!(
        "apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {{name: t}}
spec:
  crds:
    apps:
      apiTypes: {{group: t.example.io, version: v1, kind: App, plural: apps}}
{extra}"
    );
    let o = ork_katalog::load_str(&src, "k.yaml", std::path::Path::new("."));
    let k = o.katalog.unwrap_or_else(|| panic!("{:?}", o.diagnostics));
    PreparedKatalog::new(&k).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_custom_pod_child_goes_through_the_backstop() {
    let k = prepared(
        "      operatorBox:
        onCreate:
          custom:
            - apiVersion: v1
              kind: Pod
              metadata: {name: \"{{ .metadata.name }}-debug\"}
              spec: {hostPID: \"{{ .spec.hostPID }}\", containers: \"{{ .spec.containers }}\"}
",
    );
    let cr = json!({"apiVersion": "t.example.io/v1", "kind": "App",
        "metadata": {"name": "a", "namespace": "n"},
        "spec": {"hostPID": true, "containers": [{"name": "x", "image": "x",
            "securityContext": {"privileged": true}}]}});
    let f = render_cycle(&k, &k.crds[0], &cr, &Options::default()).err();
    let f = f.unwrap_or_else(|| panic!("a privileged custom Pod must not render"));
    assert_eq!(f.reason, "PodSecurityViolation");
    assert!(f.message.contains("privileged-container"), "{}", f.message);
}

#[test]
fn the_cr_is_decided_whatever_spelling_its_api_version_has() {
    let k = prepared(
        "      validation:
        rules:
          - {field: spec.replicas, max: \"5\", message: \"at most 5\"}
      operatorBox:
        onCreate:
          configMaps: [{name: c}]
",
    );
    for api in ["t.example.io/v1", "t.example.io", "t.example.io/v2"] {
        let cr = json!({"apiVersion": api, "kind": "App",
            "metadata": {"name": "a", "namespace": "n"}, "spec": {"replicas": 9}});
        let f = render_cycle(&k, &k.crds[0], &cr, &Options::default()).err();
        assert_eq!(
            f.map(|f| f.reason),
            Some("ValidationFailed"),
            "apiVersion {api}"
        );
    }
}

#[test]
fn a_rule_that_needs_cluster_state_is_never_reported_as_passed() {
    let k = prepared(
        "      validation:
        rules:
          - {field: spec.host, unique: true, message: \"hosts are unique\"}
",
    );
    let cr = json!({"apiVersion": "t.example.io/v1", "kind": "App",
        "metadata": {"name": "a", "namespace": "n"}, "spec": {"host": "h"}});
    let outcome = render_cycle(&k, &k.crds[0], &cr, &Options::default());
    let mut ctx = ork_template::Ctx::new(Some(0), None);
    let after = ork_render::status::after_cycle(
        &k,
        &k.crds[0],
        &cr,
        &outcome,
        "2026-11-27T10:00:00Z",
        &mut ctx,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let cond = after["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "ValidationFailed"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(cond["status"], "Unknown", "{cond}");
    assert_eq!(cond["reason"], "NotEvaluated");
}

#[test]
fn a_workload_child_without_a_usable_pod_template_is_an_error_not_a_pass() {
    let k = prepared(
        "      operatorBox:
        onCreate:
          custom:
            - {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: \"{{ .spec.pod }}\"}
",
    );
    let cr = json!({"apiVersion": "t.example.io/v1", "kind": "App",
        "metadata": {"name": "a", "namespace": "n"}, "spec": {"pod": "not a map"}});
    let f = render_cycle(&k, &k.crds[0], &cr, &Options::default()).err();
    assert_eq!(f.map(|f| f.reason), Some("TemplateError"));
}

/// `hardened` keeps the ServiceAccount token out of the pod (docs/security.md §2.7); an entry
/// that calls the API turns it back on, and the other profiles leave the field alone.
#[test]
fn the_hardened_profile_does_not_mount_the_service_account_token() {
    let k = prepared(
        "      operatorBox:
        onCreate:
          deployments:
            - {name: quiet, image: \"x:1\"}
            - {name: caller, image: \"x:1\", automountServiceAccountToken: \"true\"}
            - {name: explicit, image: \"x:1\", podSecurity: {runAsUser: \"20000\"}}
            - {name: restricted, image: \"x:1\", podSecurity: {profile: restricted}}
            - {name: none, image: \"x:1\", podSecurity: {profile: none}}
          jobs:
            - {name: job, image: \"x:1\"}
",
    );
    let cr = json!({"apiVersion": "t.example.io/v1", "kind": "App",
        "metadata": {"name": "a", "namespace": "n"}});
    let cycle = render_cycle(&k, &k.crds[0], &cr, &Options::default())
        .unwrap_or_else(|f| panic!("{}: {}", f.reason, f.message));
    let automount = |name: &str| {
        let c = cycle
            .children
            .iter()
            .find(|c| c.object["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no child {name}"));
        c.object["spec"]["template"]["spec"]
            .get("automountServiceAccountToken")
            .cloned()
    };
    assert_eq!(automount("quiet"), Some(json!(false)));
    assert_eq!(automount("caller"), Some(json!(true)));
    // explicit pod fields are laid over the hardened default, which still applies
    assert_eq!(automount("explicit"), Some(json!(false)));
    assert_eq!(automount("restricted"), None);
    assert_eq!(automount("none"), None);
    assert_eq!(automount("job"), Some(json!(false)));
}
