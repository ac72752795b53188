//! `decide` on the hot path of admission (target ≤ 20 µs per decision on one core):
//! a CR against 5 validation rules (and a mutation), and a Deployment at level restricted.

use criterion::{Criterion, criterion_group, criterion_main};
use ork_katalog::Operation;
use ork_policy::{Point, PreparedKatalog, Request, decide};
use serde_json::json;

const KATALOG: &str = r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: bench}
gateway: {enabled: true}
security:
  webhooks: {admission: {enabled: true}}
  podSecurity: {level: restricted, admission: {enabled: true, namespaces: [apps]}}
spec:
  crds:
    apps:
      apiTypes: {group: bench.orkestra.io, version: v1, kind: App, plural: apps}
      validation:
        rules:
          - {field: spec.replicas, max: "5", message: "at most 5 replicas"}
          - {field: spec.image, prefix: "registry.internal/", message: "internal registry only"}
          - {field: spec.image, regex: ":[0-9]+\\.[0-9]+", message: "pin a version"}
          - {field: spec.environment, in: "development,staging,production", message: "bad environment"}
          - {field: metadata.labels.team, exists: true, message: "label the team"}
      mutation:
        rules:
          - {field: spec.tier, default: standard}
"#;

fn bench(c: &mut Criterion) {
    let outcome = ork_katalog::load_str(KATALOG, "bench.yaml", std::path::Path::new("."));
    let Some(k) = outcome.katalog else {
        panic!("{:?}", outcome.diagnostics)
    };
    let k = PreparedKatalog::new(&k).unwrap_or_else(|e| panic!("{e}"));
    let cr = json!({"apiVersion": "bench.orkestra.io/v1", "kind": "App",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"team": "a"}},
        "spec": {"image": "registry.internal/web:1.2", "replicas": 3, "environment": "staging"}});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "web", "image": "registry.internal/web:1.2",
                        "ports": [{"containerPort": 8080}],
                        "resources": {"limits": {"cpu": "1", "memory": "256Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                            "capabilities": {"drop": ["ALL"]}}}]}}}});
    let cr_req = Request::for_object(Point::Admission, Operation::Create, &cr, "apps");
    let dep_req = Request::for_object(
        Point::Admission,
        Operation::Create,
        &deployment,
        "deployments",
    );
    for (name, req) in [
        ("CR, 5 rules + 1 mutation", &cr_req),
        ("Deployment, restricted", &dep_req),
    ] {
        let v = decide(&k, req);
        assert!(v.allowed(), "{name}: {}", v.message());
    }
    let mut g = c.benchmark_group("decide");
    g.bench_function("CR, 5 rules + 1 mutation", |b| {
        b.iter(|| decide(&k, std::hint::black_box(&cr_req)))
    });
    g.bench_function("Deployment, restricted", |b| {
        b.iter(|| decide(&k, std::hint::black_box(&dep_req)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
