//! CRDs generated from `apiTypes` and normalised from `crdFile`: each test fails when the
//! inference rule it names stops holding.

use std::path::Path;

use super::*;

fn katalog_in(dir: &Path, src: &str) -> Katalog {
    let o = ork_katalog::load_str(src, "test.yaml", dir);
    match o.katalog {
        Some(k) => k,
        None => panic!("does not load: {:?}", o.diagnostics),
    }
}

fn one(entry: &str) -> Katalog {
    katalog_in(
        Path::new("."),
        &format!(
            "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {{name: t}}\nspec:\n  crds:\n    app:\n      apiTypes: {{group: t.example.io, version: v1, kind: App, plural: apps}}\n{entry}"
        ),
    )
}

fn crd(k: &Katalog) -> Value {
    match crds(k, None, &Limits::default()) {
        Ok(mut v) if v.len() == 1 => v.remove(0),
        other => panic!("{other:?}"),
    }
}

fn spec(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
}

#[test]
fn types_come_from_value_type_then_the_consuming_field_then_comparisons() {
    let k = one(concat!(
        "      validation:\n        rules:\n",
        "          - {field: spec.count, gt: \"0\", message: m}\n",
        "          - {field: spec.image, prefix: registry/, message: m}\n",
        "          - {field: spec.name, exists: true, message: m}\n",
        "          - {field: spec.owner, exists: true, message: m, action: warn}\n",
        "          - {field: spec.db.host, exists: true, message: m}\n",
        "      mutation:\n        rules:\n",
        "          - {field: spec.ratio, default: \"0.5\", valueType: float}\n",
        "          - {field: spec.count, default: 3, valueType: int}\n",
        "          - {field: spec.debug, default: \"false\", valueType: bool}\n",
        "          - {field: spec.tier, default: '{{ .metadata.name }}'}\n",
        "      operatorBox:\n",
        "        status: {fields: [{path: phase, value: Running}]}\n",
        "        onCreate:\n",
        "          deployments:\n",
        "            - {name: '{{ .metadata.name }}', image: '{{ .spec.image }}', replicas: '{{ .spec.replicas }}', port: '{{ .spec.port }}'}\n",
        "          services:\n",
        "            - {name: '{{ .metadata.name }}', port: 80, targetPort: '{{ .spec.target }}'}\n",
        "          configMaps:\n",
        "            - {name: '{{ .metadata.name }}-{{ .item.name }}', forEach: {field: spec.users, as: item}, data: {n: '{{ .spec.label }}-x'}}\n",
    ));
    let c = crd(&k);
    let s = spec(&c);
    let ty = |p: &str| s["properties"][p]["type"].clone();
    assert_eq!(ty("replicas"), "integer", "a Count field: {s}");
    assert_eq!(ty("port"), "integer", "a Port field");
    assert_eq!(
        s["properties"]["target"]["x-kubernetes-int-or-string"], true,
        "a port number or name"
    );
    assert_eq!(ty("image"), "string");
    assert_eq!(ty("count"), "integer");
    assert_eq!(s["properties"]["count"]["default"], 3);
    assert_eq!(ty("ratio"), "number");
    assert_eq!(s["properties"]["ratio"]["default"], 0.5);
    assert_eq!(ty("debug"), "boolean");
    assert_eq!(s["properties"]["debug"]["default"], false);
    assert_eq!(
        s["properties"]["tier"].get("default"),
        None,
        "a templated default is computed per CR, not a schema default"
    );
    assert_eq!(ty("label"), "string", "read inside a larger template");
    assert_eq!(ty("users"), "array", "a forEach list");
    assert_eq!(ty("db"), "object");
    assert_eq!(
        s["properties"]["db"]["properties"]["host"]["type"],
        "string"
    );
    // required: unconditional deny exists rules, with their parents; warn rules are not
    assert_eq!(s["required"], json!(["db", "name"]));
    assert_eq!(s["properties"]["db"]["required"], json!(["host"]));
    let root = &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(root["required"], json!(["spec"]));
    assert_eq!(s["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(
        root["properties"]["status"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    let columns: Vec<&str> = c["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(columns, ["Ready", "Phase", "Age"]);
    assert_eq!(c["metadata"]["name"], "apps.t.example.io");
    assert_eq!(c["spec"]["scope"], "Namespaced");
    assert_eq!(
        c["spec"]["versions"][0]["subresources"],
        json!({"status": {}})
    );
    assert_eq!(
        c["metadata"]["labels"]["app.kubernetes.io/tag"],
        "orkestra-internal"
    );
}

#[test]
fn a_bare_entry_keeps_everything_and_has_no_phase_column() {
    let c = crd(&one("      namespaced: false\n"));
    assert_eq!(
        spec(&c),
        &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    );
    assert_eq!(c["spec"]["scope"], "Cluster");
    let columns = c["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .map(Vec::len);
    assert_eq!(columns, Some(2));
}

#[test]
fn a_crd_file_is_normalised_and_only_enabled_entries_count() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let file = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: apps.t.example.io\n  uid: 1234\n  resourceVersion: \"9\"\n  labels: {team: a}\n  annotations: {kubectl.kubernetes.io/last-applied-configuration: '{}', note: kept}\nspec: {group: t.example.io, scope: Namespaced, names: {kind: App, plural: apps}, versions: [{name: v1, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object}}}]}\nstatus: {acceptedNames: {kind: App}}\n";
    if let Err(e) = std::fs::write(dir.path().join("crd.yaml"), file) {
        panic!("{e}");
    }
    let k = katalog_in(
        dir.path(),
        "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: t}\nspec:\n  crds:\n    app: {crdFile: ./crd.yaml}\n    off: {enabled: false, apiTypes: {group: o.example.io, version: v1, kind: Off, plural: offs}}\n",
    );
    let all = match crds(&k, None, &Limits::default()) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(all.len(), 1, "a disabled entry gets no CRD");
    let c = &all[0];
    assert_eq!(c.get("status"), None);
    assert_eq!(
        c["metadata"],
        json!({"name": "apps.t.example.io", "annotations": {"note": "kept"},
               "labels": {"team": "a", "app.kubernetes.io/name": "orkestra", "app.kubernetes.io/tag": "orkestra-internal"}})
    );
    assert_eq!(c["spec"]["group"], "t.example.io");
    // --crd names one entry, disabled or not; an unknown one is an error naming the others
    let off = crds(&k, Some("off"), &Limits::default()).map(|v| v.len());
    assert_eq!(off, Ok(1));
    match crds(&k, Some("of"), &Limits::default()) {
        Err(e) => assert!(e.to_string().contains("app, off"), "{e}"),
        Ok(v) => panic!("{v:?}"),
    }
}

/// Every example's CRDs: one per enabled entry, each with a structural spec.
#[test]
fn every_example_has_its_crds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for ex in ["website", "pipeline", "platform", "protected-apps"] {
        let Some(k) = ork_katalog::load_file(&root.join(ex).join("katalog.yaml")).katalog else {
            panic!("{ex} does not load");
        };
        let out = match crds(&k, None, &Limits::default()) {
            Ok(v) => v,
            Err(e) => panic!("{ex}: {e}"),
        };
        let enabled = k.crds.iter().filter(|c| c.entry.enabled).count();
        assert_eq!(out.len(), enabled, "{ex}");
        for (c, e) in out.iter().zip(k.crds.iter().filter(|c| c.entry.enabled)) {
            assert_eq!(c["metadata"]["name"], e.api.crd_name(), "{ex}");
        }
    }
}
