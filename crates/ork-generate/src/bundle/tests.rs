//! The bundle of every example and of small Katalogs: what it installs, that it runs the
//! production binaries as they take their input, and that its webhooks are the Gateway's.

use std::path::Path;

use serde_json::json;

use super::*;

const EXAMPLES: [&str; 4] = ["website", "pipeline", "platform", "protected-apps"];

fn example(name: &str) -> Katalog {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .join("katalog.yaml");
    match ork_katalog::load_file(&path).katalog {
        Some(k) => k,
        None => panic!("{name} does not load"),
    }
}

fn katalog(src: &str) -> Katalog {
    let o = ork_katalog::load_str(src, "t.yaml", Path::new("."));
    match o.katalog {
        Some(k) => k,
        None => panic!("{:?}", o.diagnostics),
    }
}

fn bundle(k: &Katalog, opts: &BundleOptions) -> Bundle {
    match generate(k, opts, &Limits::default()) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

fn find<'a>(b: &'a Bundle, kind: &str, name: &str) -> Option<&'a Value> {
    b.objects()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn container(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn every_example_bundles_deterministically_in_the_documented_order() {
    for ex in EXAMPLES {
        let k = example(ex);
        let opts = BundleOptions::new("orkestra-system");
        let (a, b) = (bundle(&k, &opts), bundle(&k, &opts));
        assert_eq!(a.to_yaml(), b.to_yaml(), "{ex}: two runs differ");
        let names: Vec<&str> = a.files.iter().map(|f| f.name).collect();
        assert_eq!(names, FILES, "{ex}");
        let first = a.objects().next().map(|o| o["kind"].clone());
        assert_eq!(first, Some(json!("Namespace")), "{ex}");
        for o in a.objects() {
            assert_eq!(
                o["metadata"]["labels"]["app.kubernetes.io/tag"], "orkestra-internal",
                "{ex}: {o}"
            );
        }
        // the single stream is the files' objects in order
        let joined: String = a
            .files
            .iter()
            .filter(|f| !f.objects.is_empty())
            .map(File::text)
            .collect();
        assert_eq!(joined, a.to_yaml(), "{ex}");
        assert!(a.runs(Component::Runtime), "{ex}");
        assert_eq!(
            a.runs(Component::Gateway),
            ex == "protected-apps",
            "{ex}: only protected-apps runs a Gateway"
        );
    }
}

/// The Deployments start `ork-runtime run` / `ork-gateway gate` with the mounted Katalog, the
/// operator namespace, the health port and the webhook port, hardened.
#[test]
fn the_deployments_run_the_production_binaries_hardened() {
    let b = bundle(&example("protected-apps"), &BundleOptions::new("ork-ops"));
    let rt = find(&b, "Deployment", "orkestra-runtime").unwrap_or_else(|| panic!("runtime"));
    let gw = find(&b, "Deployment", "orkestra-gateway").unwrap_or_else(|| panic!("gateway"));
    assert_eq!(
        container(rt)["args"],
        json!([
            "run",
            "-f",
            "/etc/orkestra/katalog.yaml",
            "--health-addr",
            ":8080",
            "--log-format",
            "json"
        ])
    );
    assert_eq!(
        container(gw)["args"],
        json!([
            "gate",
            "-f",
            "/etc/orkestra/katalog.yaml",
            "--addr",
            ":8443",
            "--health-addr",
            ":8080",
            "--log-format",
            "json"
        ])
    );
    assert_eq!(
        container(rt)["image"],
        format!("ork-runtime:{}", crate::options::VERSION)
    );
    for (d, sa) in [(rt, "orkestra"), (gw, "orkestra-gateway")] {
        assert_eq!(d["spec"]["replicas"], 2);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], sa);
        let c = container(d);
        assert_eq!(
            c["env"][0],
            json!({"name": "ORK_NAMESPACE", "value": "ork-ops"})
        );
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsUser"], 65532);
        assert_eq!(sc["runAsGroup"], 65532);
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        assert!(c["resources"]["requests"]["memory"].is_string());
        assert!(c["resources"]["limits"]["memory"].is_string());
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        // the components call the API: the token is mounted explicitly where kube-rs reads it
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert!(
            c["volumeMounts"]
                .as_array()
                .is_some_and(|m| m.iter().any(|v| v["mountPath"]
                    == "/var/run/secrets/kubernetes.io/serviceaccount"
                    && v["readOnly"] == true)),
            "{c}"
        );
        assert!(
            c["volumeMounts"]
                .as_array()
                .is_some_and(|m| m.iter().any(|v| v["mountPath"] == "/etc/orkestra")),
            "{c}"
        );
    }
    // each replica's Lease identity: without it two Gateways on one node could share one
    for d in [rt, gw] {
        assert_eq!(
            container(d)["env"][1],
            json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
            "the Lease identity"
        );
    }
    let svc = find(&b, "Service", "orkestra-gateway").unwrap_or_else(|| panic!("Service"));
    assert_eq!(
        svc["spec"]["ports"][0],
        json!({"name": "webhooks", "port": 443, "protocol": "TCP", "targetPort": "webhooks"})
    );
    let ports = &container(gw)["ports"];
    assert_eq!(
        ports[0],
        json!({"containerPort": 8443, "name": "webhooks", "protocol": "TCP"})
    );
    let pdb = find(&b, "PodDisruptionBudget", "orkestra-gateway").unwrap_or_else(|| panic!("PDB"));
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        gw["spec"]["selector"]["matchLabels"]
    );
}

/// The webhooks are the Gateway's own (ork_webhooks), pointed at the bundle's Service.
#[test]
fn the_webhooks_are_what_the_gateway_registers() {
    let b = bundle(&example("protected-apps"), &BundleOptions::new("ork-ops"));
    let target = ork_webhooks::Target::Service {
        namespace: "ork-ops".into(),
        name: "orkestra-gateway".into(),
    };
    let p = &b.installed.prepared;
    let mut want: Vec<Value> = ork_webhooks::configurations(p, &target, "")
        .into_iter()
        .map(|d| d.object)
        .collect();
    want.extend(ork_webhooks::guard(p).into_iter().map(|d| d.object));
    let got = b
        .file("webhooks.yaml")
        .map(|f| f.objects.clone())
        .unwrap_or_default();
    assert_eq!(got, want);
    assert!(got.len() >= 3, "{got:?}");
    for c in got.iter().filter(|o| o.get("webhooks").is_some()) {
        for w in c["webhooks"].as_array().into_iter().flatten() {
            assert_eq!(
                w["clientConfig"]["service"]["port"],
                i64::from(ork_webhooks::SERVICE_PORT)
            );
            assert_eq!(w["clientConfig"]["service"]["namespace"], "ork-ops");
            assert_eq!(w["clientConfig"]["caBundle"], "");
        }
    }
    let guard_user = got
        .iter()
        .find(|o| o["kind"] == "ValidatingAdmissionPolicy")
        .map(|o| o.to_string())
        .unwrap_or_default();
    assert!(
        guard_user.contains("system:serviceaccount:ork-ops:orkestra-gateway"),
        "the guard lets the Gateway of this namespace through"
    );
}

#[test]
fn no_runtime_is_gateway_only_and_no_gateway_drops_it() {
    let k = example("protected-apps");
    let mut opts = BundleOptions::new("orkestra-system");
    opts.no_runtime = true;
    let b = bundle(&k, &opts);
    assert!(!b.runs(Component::Runtime));
    assert!(b.runs(Component::Gateway));
    assert!(
        b.file("rbac-runtime.yaml")
            .is_some_and(|f| f.objects.is_empty())
    );
    assert!(
        !b.objects()
            .any(|o| o["metadata"]["name"] == "orkestra-runtime"
                || o["metadata"]["name"] == "orkestra"),
        "no runtime object, Role or ServiceAccount"
    );
    assert!(b.installed.prepared.settings.gateway_only);
    assert!(b.installed.text.contains("standalone: true"));
    let empty = b.file("runtime.yaml").map(File::text).unwrap_or_default();
    assert!(
        empty.starts_with("# runtime.yaml: gateway-only mode"),
        "{empty}"
    );

    opts.no_runtime = false;
    opts.no_gateway = true;
    let b = bundle(&k, &opts);
    assert!(b.runs(Component::Runtime) && !b.runs(Component::Gateway));
    assert!(
        b.file("webhooks.yaml")
            .is_some_and(|f| f.objects.is_empty())
    );
    assert!(
        !b.objects()
            .any(|o| o["metadata"]["name"] == "orkestra-gateway"),
        "no Gateway object"
    );
    assert!(
        !b.objects()
            .any(|o| o["metadata"]["name"] == "orkestra-gateway-webhooks"),
        "no webhook ingress without a Gateway"
    );
}

#[test]
fn network_policies_deny_by_default_and_open_only_what_is_needed() {
    let mut opts = BundleOptions::new("orkestra-system");
    opts.metrics_from = vec!["kubernetes.io/metadata.name=monitoring".into()];
    let b = bundle(&example("protected-apps"), &opts);
    let np = |n: &str| find(&b, "NetworkPolicy", n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(
        np("orkestra-default-deny")["spec"],
        json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    );
    let egress = np("orkestra-egress")["spec"]["egress"].to_string();
    for port in ["53", "443", "6443"] {
        assert!(egress.contains(&format!("\"port\":{port}")), "{egress}");
    }
    let webhooks = np("orkestra-gateway-webhooks");
    assert_eq!(
        webhooks["spec"]["ingress"],
        json!([{"ports": [{"port": 8443, "protocol": "TCP"}]}]),
        "from anywhere: the API server has no labels"
    );
    assert_eq!(
        np("orkestra-metrics")["spec"]["ingress"][0]["from"],
        json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}])
    );
    // without --metrics-from nobody reaches 8080
    let b = bundle(
        &example("protected-apps"),
        &BundleOptions::new("orkestra-system"),
    );
    assert!(find(&b, "NetworkPolicy", "orkestra-metrics").is_none());
}

#[test]
fn the_configmap_records_the_options_and_holds_the_installed_katalog() {
    let mut opts = BundleOptions::new("orkestra-system");
    opts.runtime_image = Some("reg.example/ork-runtime:9".into());
    let b = bundle(&example("website"), &opts);
    let cm = find(&b, "ConfigMap", "orkestra-katalog").unwrap_or_else(|| panic!("ConfigMap"));
    let recorded = cm["metadata"]["annotations"][crate::options::GENERATE_OPTIONS]
        .as_str()
        .map(BundleOptions::from_annotation);
    assert_eq!(recorded, Some(Ok(opts)));
    assert_eq!(cm["data"]["katalog.yaml"], b.installed.text.as_str());
    let rt = find(&b, "Deployment", "orkestra-runtime").unwrap_or_else(|| panic!("runtime"));
    assert_eq!(container(rt)["image"], "reg.example/ork-runtime:9");
}

#[test]
fn an_audit_file_gets_a_writable_directory_and_a_bad_path_is_refused() {
    let src = |sink: &str| {
        format!(
            "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {{name: t}}\ngateway: {{enabled: true}}\nsecurity: {{audit: {{sink: \"{sink}\"}}}}\nspec:\n  crds:\n    app:\n      apiTypes: {{group: t.example.io, version: v1, kind: App, plural: apps}}\n"
        )
    };
    let opts = BundleOptions::new("orkestra-system");
    let b = bundle(&katalog(&src("file:/var/log/orkestra/audit.log")), &opts);
    let gw = find(&b, "Deployment", "orkestra-gateway").unwrap_or_else(|| panic!("gateway"));
    assert!(
        container(gw)["volumeMounts"]
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v["mountPath"] == "/var/log/orkestra")),
        "{gw}"
    );
    for bad in [
        "file:/audit.log",
        "file:audit.log",
        "file:/etc/orkestra/a.log",
    ] {
        match generate(&katalog(&src(bad)), &opts, &Limits::default()) {
            Err(e) => assert!(e.to_string().contains("read-only root filesystem"), "{e}"),
            Ok(_) => panic!("{bad} was accepted"),
        }
    }
}

#[test]
fn both_components_off_or_a_bad_option_is_refused() {
    let mut opts = BundleOptions::new("orkestra-system");
    opts.no_runtime = true;
    opts.no_gateway = true;
    assert!(generate(&example("website"), &opts, &Limits::default()).is_err());
    let opts = BundleOptions::new("Bad_NS");
    assert!(generate(&example("website"), &opts, &Limits::default()).is_err());
}
