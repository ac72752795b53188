//! Plans between bundles of small Katalogs: each test fails when the change it names is no
//! longer reported (or is reported for nothing).

use std::path::Path;

use serde_json::json;

use super::*;
use crate::bundle;

const HEAD: &str = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: t}\n";

fn katalog(src: &str) -> ork_katalog::Katalog {
    let o = ork_katalog::load_str(src, "t.yaml", Path::new("."));
    match o.katalog {
        Some(k) => k,
        None => panic!("{:?}", o.diagnostics),
    }
}

fn entry(on_create: &str) -> String {
    format!(
        "spec:\n  crds:\n    app:\n      apiTypes: {{group: t.example.io, version: v1, kind: App, plural: apps}}\n      operatorBox:\n        onCreate:\n{on_create}"
    )
}

const CONFIGMAP: &str =
    "          configMaps: [{name: '{{ .metadata.name }}', data: {a: '{{ .spec.a }}'}}]\n";
const SECRET: &str = "          secrets: [{name: '{{ .metadata.name }}-pw', data: {pw: '{{ randomAlphanumeric 16 }}'}}]\n";

fn generated(src: &str, opts: &BundleOptions) -> Bundle {
    match bundle::generate(&katalog(src), opts, &Limits::default()) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

/// A bundle as `ork plan` reads it: the YAML text parsed back.
fn as_read(b: &Bundle) -> Vec<Value> {
    match ork_yaml::parse_stream(&b.to_yaml()) {
        Ok(docs) => docs.iter().map(ork_yaml::Node::to_json).collect(),
        Err(e) => panic!("{e:?}"),
    }
}

fn planned(old: &str, new: &str) -> Plan {
    let opts = BundleOptions::new("orkestra-system");
    let old = as_read(&generated(old, &opts));
    let new = generated(new, &opts);
    match plan(&old, &new, &Limits::default()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// A plan's weakenings as `object: change` lines.
fn weakenings(p: &Plan) -> Vec<String> {
    p.weakening
        .iter()
        .map(|w| format!("{}: {}", w.object, w.change))
        .collect()
}

#[test]
fn an_identical_bundle_has_no_changes() {
    let src = format!("{HEAD}gateway: {{enabled: true}}\n{}", entry(CONFIGMAP));
    let p = planned(&src, &src);
    assert!(p.is_empty(), "{p:?}");
    assert!(!p.is_security_relevant());
    assert_eq!(p.text(), "No changes.\n");
}

#[test]
fn a_secrets_entry_is_a_risky_widening_with_its_construct() {
    let old = format!("{HEAD}{}", entry(CONFIGMAP));
    let new = format!("{HEAD}{}", entry(&format!("{CONFIGMAP}{SECRET}")));
    let p = planned(&old, &new);
    assert_eq!(p.widening.len(), 1, "{:#?}", p.widening);
    let w = &p.widening[0];
    assert_eq!(w.role, "ClusterRole orkestra-runtime");
    assert_eq!(w.subject, "ServiceAccount orkestra-system/orkestra");
    assert_eq!((w.api_group.as_str(), w.resource.as_str()), ("", "secrets"));
    assert_eq!(w.scope, "cluster");
    assert_eq!(w.verbs, ["create", "get", "list", "patch", "watch"]);
    assert!(w.risky, "Secrets access is risky");
    assert_eq!(
        w.because,
        "spec.crds.app.operatorBox.onCreate.secrets[0] (created once, never deleted)"
    );
    assert!(p.weakening.is_empty());
    assert_eq!(
        p.katalog.changed,
        ["crd app: operatorBox.onCreate.secrets added"]
    );
    let text = p.text();
    assert!(
        text.starts_with("Permission widening (1)\n  ! ClusterRole orkestra-runtime: + create,get,list,patch,watch secrets (core), cluster-wide\n      because: spec.crds.app.operatorBox.onCreate.secrets[0]"),
        "{text}"
    );
    assert!(
        text.contains("  ~ ClusterRole orkestra-runtime: rules[0].resources\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Plan: 0 to add, 0 to remove, 2 to change; 1 permission widening, 0 protection weakenings.\n"),
        "{text}"
    );
    // removing it again narrows: no widening, no weakening
    let back = planned(&new, &old);
    assert!(!back.is_security_relevant(), "{back:#?}");
    assert!(!back.is_empty());
}

#[test]
fn fail_to_ignore_and_a_lower_pod_security_level_are_weakenings() {
    let old = format!(
        "{HEAD}gateway: {{enabled: true}}\nsecurity: {{deletionProtection: {{enabled: true}}}}\n{}",
        entry(CONFIGMAP)
    );
    let new = format!(
        "{HEAD}gateway: {{enabled: true}}\nsecurity: {{deletionProtection: {{enabled: true, failurePolicy: Ignore}}, podSecurity: {{level: baseline, default: baseline}}}}\n{}",
        entry(CONFIGMAP)
    );
    let p = planned(&old, &new);
    let got = weakenings(&p);
    assert!(
        got.contains(&"ValidatingWebhookConfiguration orkestra-deletion-protection: webhook protect.crds.orkestra.orkspace.io: failurePolicy Fail → Ignore".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(&"Katalog t: security.podSecurity.level restricted → baseline".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(&"Katalog t: security.podSecurity.default hardened → baseline".to_string()),
        "{got:#?}"
    );
    assert!(p.is_security_relevant());
    // and turning deletion protection off removes its configuration
    let off = format!("{HEAD}gateway: {{enabled: true}}\n{}", entry(CONFIGMAP));
    let p = planned(&old, &off);
    assert!(
        p.weakening.iter().any(|w| w.object
            == "ValidatingWebhookConfiguration orkestra-deletion-protection"
            && w.change == "removed"),
        "{:#?}",
        p.weakening
    );
    assert!(
        p.objects
            .removed
            .iter()
            .any(|o| o.name == "orkestra-deletion-protection")
    );
}

#[test]
fn a_move_from_role_to_cluster_role_is_risky() {
    let pinned = format!(
        "{HEAD}spec:\n  crds:\n    app:\n      namespace: team-a\n      apiTypes: {{group: t.example.io, version: v1, kind: App, plural: apps}}\n      operatorBox:\n        onCreate:\n{CONFIGMAP}"
    );
    let open = format!("{HEAD}{}", entry(CONFIGMAP));
    let p = planned(&pinned, &open);
    let cm = p
        .widening
        .iter()
        .find(|w| w.resource == "configmaps")
        .unwrap_or_else(|| panic!("{:#?}", p.widening));
    assert_eq!(cm.scope, "cluster");
    assert!(cm.risky, "a Role's rule now cluster-wide: {cm:?}");
    assert!(p.objects.removed.iter().any(|o| o.kind == "Role"
        && o.namespace.as_deref() == Some("team-a")
        && o.name == "orkestra-runtime"));
}

#[test]
fn a_bundle_without_the_katalog_configmap_is_a_fresh_install() {
    let src = format!("{HEAD}{}", entry(CONFIGMAP));
    let new = generated(&src, &BundleOptions::new("orkestra-system"));
    let p = match plan(&[], &new, &Limits::default()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(p.objects.added.len(), new.objects().count());
    assert!(p.widening.iter().all(|w| w.risky), "every subject is new");
    assert_eq!(p.katalog.added, ["crd app (t.example.io/App)"]);
}

#[test]
fn the_recorded_options_must_be_readable() {
    let cm = |annotations: Value| {
        vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "orkestra-katalog", "namespace": "o", "annotations": annotations},
                    "data": {"katalog.yaml": "x"}})]
    };
    assert!(recorded(&cm(json!({}))).is_err());
    assert!(
        recorded(&cm(
            json!({GENERATE_OPTIONS: "{\"namespace\":\"o\",\"bogus\":1}"})
        ))
        .is_err()
    );
    let ok = recorded(&cm(
        json!({GENERATE_OPTIONS: "{\"namespace\":\"o\",\"noGateway\":true}"}),
    ));
    assert!(
        matches!(&ok, Ok(Some(r)) if r.options.no_gateway && r.katalog == "x"),
        "{ok:?}"
    );
    assert_eq!(recorded(&[]), Ok(None));
}

#[test]
fn an_object_selector_that_now_filters_is_a_weakening() {
    let scoped = |admission: &str| {
        format!(
            "{HEAD}gateway: {{enabled: true}}\nsecurity: {{podSecurity: {{admission: {admission}}}}}\n{}",
            entry(CONFIGMAP)
        )
    };
    // from every Pod in team-a to ork's own Pods anywhere: cannot be ranked, so it is listed
    let p = planned(
        &scoped("{enabled: true, namespaces: [team-a]}"),
        &scoped("{enabled: true}"),
    );
    let got = weakenings(&p);
    assert!(
        got.iter()
            .any(|g| g.contains("objectSelector now {")
                && g.ends_with("may intercept fewer objects")),
        "{got:#?}"
    );
    assert!(p.is_security_relevant());
    // and back: limited to team-a, which the namespace rules already report
    let back = planned(
        &scoped("{enabled: true}"),
        &scoped("{enabled: true, namespaces: [team-a]}"),
    );
    assert!(
        !back
            .weakening
            .iter()
            .any(|w| w.change.contains("objectSelector")),
        "{:#?}",
        back.weakening
    );
    assert!(
        back.weakening
            .iter()
            .any(|w| w.change.contains("now only in namespaces: team-a")),
        "{:#?}",
        back.weakening
    );
}
