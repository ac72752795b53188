//! The derivation against small Katalogs and every example: each test fails when the rule it
//! names stops holding.

use std::path::Path;

use super::*;

fn katalog(src: &str) -> Katalog {
    let o = ork_katalog::load_str(src, "test.yaml", Path::new("."));
    match o.katalog {
        Some(k) => k,
        None => panic!(
            "test Katalog does not load:\n{}",
            o.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn derived(src: &str, component: Component) -> Derived {
    let opts = Options {
        component,
        ..Options::default()
    };
    derive(&katalog(src), &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// A Katalog with one entry of group `t.example.io`, the given extra entry fields and onCreate.
fn one(entry: &str) -> String {
    format!(
        "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {{name: t}}\nspec:\n  crds:\n    app:\n      apiTypes: {{group: t.example.io, version: v1, kind: App, plural: apps}}\n{entry}"
    )
}

fn object<'a>(d: &'a [Value], kind: &str, ns: Option<&str>, name: &str) -> Option<&'a Value> {
    d.iter().find(|o| {
        o["kind"] == kind
            && o["metadata"]["name"] == name
            && o["metadata"].get("namespace").and_then(Value::as_str) == ns
    })
}

/// The verbs a role object grants on `group`/`resource` (any resourceNames).
fn verbs_on(role: &Value, group: &str, resource: &str) -> BTreeSet<String> {
    role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["apiGroups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|x| x == group))
                && r["resources"]
                    .as_array()
                    .is_some_and(|g| g.iter().any(|x| x == resource))
        })
        .flat_map(|r| r["verbs"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const DEPLOY: &str = "{name: web, image: nginx}";

#[test]
fn pinned_entries_get_roles_in_their_namespaces_others_the_cluster_role() {
    let src = format!(
        "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {{name: t}}\nspec:\n  crds:\n\
         \x20   pinned:\n      apiTypes: {{group: t.example.io, version: v1, kind: Pinned, plural: pinneds}}\n      namespace: team-a\n      operatorBox: {{onCreate: {{deployments: [{DEPLOY}]}}}}\n\
         \x20   listed:\n      apiTypes: {{group: t.example.io, version: v1, kind: Listed, plural: listeds}}\n      operatorBox:\n        runtime: {{allowedNamespaces: [team-c, team-b]}}\n        onCreate: {{configMaps: [{{name: c, data: {{a: b}}}}]}}\n\
         \x20   open:\n      apiTypes: {{group: t.example.io, version: v1, kind: Open, plural: opens}}\n      operatorBox:\n        runtime: {{allowedNamespaces: [team-*]}}\n        onCreate: {{services: [{{name: s, port: 80}}]}}\n"
    );
    let d = derived(&src, Component::Runtime);
    let objs = d.objects();
    let cluster = object(&objs, "ClusterRole", None, "orkestra-runtime")
        .unwrap_or_else(|| panic!("ClusterRole"));
    // the open entry is cluster-wide, the pinned ones are not
    assert_eq!(
        verbs_on(cluster, "t.example.io", "opens"),
        set(&["get", "list", "watch", "patch"])
    );
    assert!(verbs_on(cluster, "", "services").contains("create"));
    for r in ["pinneds", "listeds"] {
        assert!(
            verbs_on(cluster, "t.example.io", r).is_empty(),
            "{r} leaked into the ClusterRole"
        );
    }
    assert!(verbs_on(cluster, "apps", "deployments").is_empty());
    assert!(verbs_on(cluster, "", "configmaps").is_empty());
    // but every CRD is read cluster-wide by name (CRDs are cluster-scoped)
    assert_eq!(
        verbs_on(cluster, "apiextensions.k8s.io", "customresourcedefinitions"),
        set(&["get"])
    );
    let a = object(&objs, "Role", Some("team-a"), "orkestra-runtime")
        .unwrap_or_else(|| panic!("Role team-a"));
    assert_eq!(
        verbs_on(a, "t.example.io", "pinneds"),
        set(&["get", "list", "watch", "patch"])
    );
    assert_eq!(
        verbs_on(a, "t.example.io", "pinneds/status"),
        set(&["get", "patch"])
    );
    assert_eq!(
        verbs_on(a, "events.k8s.io", "events"),
        set(&["create", "patch"])
    );
    assert!(verbs_on(a, "apps", "deployments").contains("create"));
    assert!(
        verbs_on(a, "", "configmaps").is_empty(),
        "listed's children are not team-a's"
    );
    for ns in ["team-b", "team-c"] {
        let r =
            object(&objs, "Role", Some(ns), "orkestra-runtime").unwrap_or_else(|| panic!("Role"));
        assert!(verbs_on(r, "", "configmaps").contains("create"));
        assert!(verbs_on(r, "t.example.io", "listeds").contains("watch"));
        assert!(object(&objs, "RoleBinding", Some(ns), "orkestra-runtime").is_some());
    }
    // the Lease is the operator namespace's
    let lease = object(
        &objs,
        "Role",
        Some("orkestra-system"),
        "orkestra-runtime-lease",
    )
    .unwrap_or_else(|| panic!("lease"));
    assert_eq!(
        verbs_on(lease, "coordination.k8s.io", "leases"),
        set(&["get", "update", "create"])
    );
    let named = lease["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r.get("resourceNames").is_some())
        .unwrap_or_else(|| panic!("named lease rule"));
    assert_eq!(named["resourceNames"], json!(["orkestra-runtime"]));
    assert_eq!(named["verbs"], json!(["get", "update"]));
}

#[test]
fn secrets_only_when_the_katalog_has_secret_entries() {
    let without = derived(
        &one(&format!(
            "      operatorBox: {{onCreate: {{deployments: [{DEPLOY}], configMaps: [{{name: c}}]}}}}\n"
        )),
        Component::Runtime,
    );
    assert!(
        !without
            .rules()
            .iter()
            .any(|r| r.resources.iter().any(|x| x == "secrets")),
        "{:#?}",
        without.rules()
    );
    assert!(!without.warnings().iter().any(|w| w.contains("Secrets")));
    let with = derived(
        &one("      operatorBox: {onCreate: {secrets: [{name: s, data: {k: v}}]}}\n"),
        Component::Runtime,
    );
    let r = with
        .rules()
        .iter()
        .find(|r| r.resources == ["secrets"])
        .unwrap_or_else(|| panic!("a secrets rule"));
    assert_eq!(
        r.because,
        "spec.crds.app.operatorBox.onCreate.secrets[0] (created once, never deleted)"
    );
    assert!(
        with.warnings()
            .iter()
            .any(|w| w.contains("reads Secrets cluster-wide")),
        "{:?}",
        with.warnings()
    );
}

#[test]
fn delete_only_for_applied_kinds_and_never_for_pvcs() {
    let d = derived(
        &one("      operatorBox:\n\
             \x20       onCreate:\n\
             \x20         deployments: [{name: created, image: nginx}]\n\
             \x20         services: [{name: applied, port: 80, reconcile: true}]\n\
             \x20         persistentVolumeClaims: [{name: data, storage: 1Gi, reconcile: true}]\n\
             \x20       onReconcile:\n\
             \x20         configMaps: [{name: c}]\n\
             \x20         serviceAccounts: [{name: sa}]\n\
             \x20         jobs: [{name: j, image: busybox}]\n\
             \x20         secrets: [{name: s, once: true}]\n\
             \x20         persistentVolumeClaims: [{name: more, storage: 1Gi}]\n"),
        Component::Runtime,
    );
    let objs = d.objects();
    let cr = object(&objs, "ClusterRole", None, "orkestra-runtime")
        .unwrap_or_else(|| panic!("ClusterRole"));
    let base = set(&["get", "list", "watch", "create", "patch"]);
    let mut applied = base.clone();
    applied.insert("delete".into());
    assert_eq!(
        verbs_on(cr, "apps", "deployments"),
        base,
        "onCreate without reconcile"
    );
    assert_eq!(verbs_on(cr, "", "services"), applied, "reconcile: true");
    assert_eq!(verbs_on(cr, "", "configmaps"), applied, "onReconcile");
    assert_eq!(
        verbs_on(cr, "", "persistentvolumeclaims"),
        base,
        "PVCs are never deleted"
    );
    assert_eq!(verbs_on(cr, "", "serviceaccounts"), base, "create-once");
    assert_eq!(verbs_on(cr, "batch", "jobs"), base, "create-once");
    assert_eq!(verbs_on(cr, "", "secrets"), base, "once Secrets");
    // a rotated Secret is deleted and created again (docs/katalog.md §6.3)
    let d = derived(
        &one(
            "      operatorBox: {onReconcile: {secrets: [{name: s, once: true, rotateAfter: 24h}]}}\n",
        ),
        Component::Runtime,
    );
    let objs = d.objects();
    let cr = object(&objs, "ClusterRole", None, "orkestra-runtime")
        .unwrap_or_else(|| panic!("ClusterRole"));
    assert!(verbs_on(cr, "", "secrets").contains("delete"));
    // never update (server-side apply), never delete on the CRs, never CRD writes
    for v in cr["rules"].as_array().into_iter().flatten() {
        assert!(
            !v["verbs"]
                .as_array()
                .is_some_and(|x| x.iter().any(|y| y == "update")),
            "{v}"
        );
    }
    assert!(!verbs_on(cr, "t.example.io", "apps").contains("delete"));
}

#[test]
fn templated_role_rules_need_escalate_and_bind_with_a_warning() {
    let d = derived(
        &one("      operatorBox:\n\
             \x20       onCreate:\n\
             \x20         roles: [{name: reader, rules: [{apiGroups: [\"\"], resources: [\"{{ .spec.resource }}\"], verbs: [get]}]}]\n"),
        Component::Runtime,
    );
    let objs = d.objects();
    let cr = object(&objs, "ClusterRole", None, "orkestra-runtime")
        .unwrap_or_else(|| panic!("ClusterRole"));
    assert_eq!(
        verbs_on(cr, "rbac.authorization.k8s.io", "roles"),
        set(&[
            "get", "list", "watch", "create", "patch", "escalate", "bind"
        ])
    );
    assert!(verbs_on(cr, "rbac.authorization.k8s.io", "clusterroles").is_empty());
    for v in ["escalate", "bind"] {
        assert!(
            d.warnings()
                .iter()
                .any(|w| w.starts_with(&format!("runtime: {v} on roles"))
                    && w.contains("roles[0].rules[0].resources is templated")),
            "{v}: {:?}",
            d.warnings()
        );
    }
    // templated names alone stay bounded: the rule is copied for every name
    let d = derived(
        &one(
            "      operatorBox: {onCreate: {roles: [{name: r, rules: [{resources: [configmaps], verbs: [get], resourceNames: [\"{{ .spec.cm }}\"]}]}]}}\n",
        ),
        Component::Runtime,
    );
    assert!(
        !d.rules()
            .iter()
            .any(|r| r.verbs.contains(&"escalate".to_string()))
    );
    let copied = d
        .rules()
        .iter()
        .find(|r| r.because.contains("rules[0] (copied"))
        .unwrap_or_else(|| panic!("copied"));
    assert!(copied.resource_names.is_empty() && copied.because.contains("for every name"));
}

#[test]
fn static_role_rules_are_copied_and_their_binding_needs_no_bind() {
    let d = derived(
        &one("      operatorBox:\n\
             \x20       onCreate:\n\
             \x20         roles: [{name: \"{{ .metadata.name }}-reader\", rules: [{resources: [configmaps], verbs: [get, list]}]}]\n\
             \x20         roleBindings:\n\
             \x20           - {name: own, roleRef: {name: \"{{ .metadata.name }}-reader\"}, subjects: [{kind: ServiceAccount, name: x}]}\n\
             \x20           - {name: view, roleRef: {kind: ClusterRole, name: view}, subjects: [{kind: ServiceAccount, name: x}]}\n"),
        Component::Runtime,
    );
    let copied = d
        .rules()
        .iter()
        .find(|r| r.because.contains("roles[0].rules[0] (copied"))
        .unwrap_or_else(|| panic!("copied rule"));
    assert_eq!(
        (copied.api_group.as_str(), copied.verbs.clone()),
        ("", strings(&["get", "list"]))
    );
    assert!(
        d.warnings()
            .iter()
            .any(|w| w.contains("static rule(s) are granted to the runtime too"))
    );
    // binding the Katalog's own static Role needs nothing; binding `view` needs bind on it only
    let binds: Vec<&DerivedRule> = d
        .rules()
        .iter()
        .filter(|r| r.verbs.contains(&"bind".to_string()))
        .collect();
    assert_eq!(binds.len(), 1, "{binds:#?}");
    assert_eq!(binds[0].resources, ["clusterroles"]);
    assert_eq!(binds[0].resource_names, ["view"]);
    assert!(
        !d.rules()
            .iter()
            .any(|r| r.verbs.contains(&"escalate".to_string()))
    );
}

#[test]
fn a_katalog_that_would_need_a_wildcard_is_an_error() {
    for (entry, path) in [
        (
            "      operatorBox: {onCreate: {roles: [{name: r, rules: [{apiGroups: [\"*\"], resources: [pods], verbs: [get]}]}]}}\n",
            "spec.crds.app.operatorBox.onCreate.roles[0].rules[0]",
        ),
        (
            "      operatorBox: {onCreate: {roles: [{name: r, rules: [{resources: [pods], verbs: []}]}]}}\n",
            "spec.crds.app.operatorBox.onCreate.roles[0].rules[0]",
        ),
        (
            "      operatorBox: {onCreate: {custom: [{apiVersion: \"{{ .spec.api }}\", kind: Widget, plural: widgets, metadata: {name: w}}]}}\n",
            "spec.crds.app.operatorBox.onCreate.custom[0].apiVersion",
        ),
        (
            "      operatorBox: {onCreate: {custom: [{apiVersion: w.example.io/v1, kind: \"{{ .spec.kind }}\", metadata: {name: w}}]}}\n",
            "spec.crds.app.operatorBox.onCreate.custom[0].kind",
        ),
    ] {
        let k = katalog(&one(entry));
        match derive(&k, &Options::default()) {
            Err(DeriveError::Unbounded(list)) => {
                assert_eq!(list.len(), 1, "{list:?}");
                assert_eq!(list[0].path, path);
                let diags = DeriveError::Unbounded(list).diagnostics(&k);
                assert!(diags[0].line > 1, "located: {}", diags[0]);
            }
            other => panic!("{entry}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn custom_children_use_their_group_and_plural() {
    let d = derived(
        &one(
            "      operatorBox:\n        onCreate:\n          custom: [{apiVersion: w.example.io/v1, kind: Widget, plural: widgetz, metadata: {name: w}, reconcile: true}]\n",
        ),
        Component::Runtime,
    );
    let objs = d.objects();
    let cr = object(&objs, "ClusterRole", None, "orkestra-runtime")
        .unwrap_or_else(|| panic!("ClusterRole"));
    assert!(verbs_on(cr, "w.example.io", "widgetz").contains("delete"));
}

#[test]
fn disabled_entries_contribute_nothing() {
    let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: t}\nspec:\n  crds:\n\
               \x20   on:\n      apiTypes: {group: t.example.io, version: v1, kind: On, plural: ons}\n      operatorBox: {onCreate: {configMaps: [{name: c}]}}\n\
               \x20   off:\n      enabled: false\n      apiTypes: {group: t.example.io, version: v1, kind: Off, plural: offs}\n      operatorBox: {onCreate: {secrets: [{name: s}], deployments: [{name: d, image: nginx}]}}\n";
    let d = derived(src, Component::Both);
    for r in d.rules() {
        assert!(!r.because.contains("spec.crds.off"), "{r:?}");
        assert!(
            !r.resources
                .iter()
                .any(|x| x.starts_with("offs") || x == "secrets" || x == "deployments"),
            "{r:?}"
        );
        assert!(
            !r.resource_names.iter().any(|n| n == "offs.t.example.io"),
            "{r:?}"
        );
    }
}

#[test]
fn gateway_rules_follow_what_the_gateway_does() {
    let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: t}\n\
               security: {deletionProtection: {enabled: true, cleanupOnShutdown: true}, execProtection: {namespaces: [apps]}}\n\
               gateway: {enabled: true}\nspec:\n  crds:\n\
               \x20   app:\n      apiTypes: {group: t.example.io, version: v1, kind: App, plural: apps}\n      validation: {rules: [{field: spec.host, unique: true, message: taken}]}\n";
    let d = derived(src, Component::Gateway);
    assert!(d.rules().iter().all(|r| r.component == Component::Gateway));
    let objs = d.objects();
    assert_eq!(objs[0]["kind"], "ServiceAccount");
    assert_eq!(objs[0]["metadata"]["name"], "orkestra-gateway");
    assert_eq!(
        objs.iter()
            .filter(|o| o["kind"] == "ServiceAccount")
            .count(),
        1
    );
    let cr = object(&objs, "ClusterRole", None, "orkestra-gateway")
        .unwrap_or_else(|| panic!("ClusterRole"));
    let adm = "admissionregistration.k8s.io";
    let named = cr["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["resources"] == json!(["validatingwebhookconfigurations"]))
        .unwrap_or_else(|| panic!("named configurations"));
    // server-side apply creates by name: no unnamed write on admission objects
    assert_eq!(
        named["verbs"],
        json!(["list", "watch", "create", "patch", "delete"])
    );
    assert_eq!(named["resourceNames"].as_array().map(Vec::len), Some(6));
    assert_eq!(
        verbs_on(cr, adm, "mutatingwebhookconfigurations"),
        set(&["list", "watch", "create", "patch", "delete"])
    );
    assert_eq!(verbs_on(cr, "", "namespaces"), set(&["patch"]));
    assert_eq!(
        verbs_on(cr, "t.example.io", "apps"),
        set(&["list", "watch"]),
        "unique"
    );
    assert!(
        verbs_on(cr, "", "pods").is_empty(),
        "exec protection is scoped to its namespaces"
    );
    assert!(verbs_on(cr, "", "secrets").is_empty());
    let apps = object(&objs, "Role", Some("apps"), "orkestra-gateway")
        .unwrap_or_else(|| panic!("exec Role"));
    assert_eq!(verbs_on(apps, "", "pods"), set(&["get"]));
    let own = object(&objs, "Role", Some("orkestra-system"), "orkestra-gateway")
        .unwrap_or_else(|| panic!("own Role"));
    assert_eq!(
        verbs_on(own, "", "secrets"),
        set(&["get", "list", "watch", "create", "update"])
    );
    assert_eq!(
        verbs_on(own, "apps", "deployments"),
        set(&["get"]),
        "cleanupOnShutdown"
    );
    let events = object(&objs, "Role", Some("default"), "orkestra-gateway")
        .unwrap_or_else(|| panic!("events Role"));
    assert_eq!(
        verbs_on(events, "events.k8s.io", "events"),
        set(&["create", "patch"])
    );
    assert!(
        cr["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["apiGroups"] == json!([adm]))
            .all(|r| r["resourceNames"].as_array().is_some_and(|n| !n.is_empty())),
        "every admission rule is named: {cr}"
    );
    // the unnamed creates (POST) are reported; the named Secret reads are not
    for what in ["create on leases", "create on secrets"] {
        assert!(
            d.warnings().iter().any(|w| w.contains(what)),
            "{what}: {:?}",
            d.warnings()
        );
    }
    assert!(
        !d.warnings().iter().any(|w| w.contains("reads Secrets")),
        "{:?}",
        d.warnings()
    );
}

#[test]
fn no_gateway_no_gateway_rules() {
    let d = derived(&one(""), Component::Both);
    assert!(d.rules().iter().all(|r| r.component == Component::Runtime));
    assert!(d.warnings().iter().any(|w| w.contains("runs no Gateway")));
    assert!(
        !d.objects()
            .iter()
            .any(|o| o["metadata"]["name"] == "orkestra-gateway")
    );
}

#[test]
fn objects_are_deterministic_labelled_and_in_the_operator_namespace() {
    let src = one(&format!(
        "      operatorBox: {{onCreate: {{deployments: [{DEPLOY}]}}}}\n"
    ));
    let k = katalog(&src);
    let opts = Options {
        namespace: "ork-ops".into(),
        component: Component::Both,
    };
    let a = derive(&k, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .objects();
    let b = derive(&k, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .objects();
    assert_eq!(a, b);
    let kinds: Vec<&str> = a.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "Role",
            "ClusterRoleBinding",
            "RoleBinding"
        ]
    );
    for o in &a {
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/tag"], "orkestra-internal",
            "{o}"
        );
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/name"], "orkestra",
            "{o}"
        );
        if let Some(ns) = o["metadata"].get("namespace") {
            assert_eq!(ns, "ork-ops");
        }
        for s in o["subjects"].as_array().into_iter().flatten() {
            assert_eq!(s["namespace"], "ork-ops");
            assert_eq!(s["name"], "orkestra");
        }
    }
}

/// docs/security.md §2.2's invariant over every example: non-empty groups, resources and verbs,
/// no wildcard, every rule with a reason.
#[test]
fn no_example_needs_a_wildcard() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
        let path = e
            .unwrap_or_else(|e| panic!("{e}"))
            .path()
            .join("katalog.yaml");
        if !path.exists() {
            continue;
        }
        seen += 1;
        let o = ork_katalog::load_file(&path);
        let k = o
            .katalog
            .unwrap_or_else(|| panic!("{} does not load", path.display()));
        let d =
            derive(&k, &Options::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(d.rules().iter().any(|r| r.component == Component::Runtime));
        for r in d.rules() {
            assert!(!r.because.is_empty());
        }
        for o in d.objects() {
            for rule in o["rules"].as_array().into_iter().flatten() {
                for key in ["apiGroups", "resources", "verbs"] {
                    let list = rule[key]
                        .as_array()
                        .unwrap_or_else(|| panic!("{key} in {rule}"));
                    assert!(
                        !list.is_empty(),
                        "{}: empty {key} in {rule}",
                        path.display()
                    );
                }
                for key in ["apiGroups", "resources", "verbs", "resourceNames"] {
                    for x in rule[key].as_array().into_iter().flatten() {
                        assert!(
                            !x.as_str().unwrap_or("*").contains('*'),
                            "{}: wildcard in {rule}",
                            path.display()
                        );
                    }
                }
                assert!(
                    !rule["verbs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| v == "escalate" || v == "bind" || v == "impersonate")
                );
            }
        }
    }
    assert!(seen >= 4, "only {seen} examples found in {}", dir.display());
}
