//! `ork validate`'s pipeline on a generated 100-CRD Katalog (target ≤ 20 ms).
//! The generated file is also written to target/bench/katalog-100.yaml so the whole CLI can
//! be timed with hyperfine (see BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};

/// A Katalog with `n` CRD entries, each with rules, a mutation, four child kinds and status.
pub fn generate(n: usize) -> String {
    let mut s = String::from(
        "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: bench, version: 1.0.0}\n",
    );
    s.push_str("gateway: {enabled: true}\nsecurity:\n  deletionProtection: {enabled: true, strictMode: true}\n  namespaceProtection: {allowedNamespaces: [\"team-*\"]}\n");
    s.push_str("spec:\n  crds:\n");
    for i in 0..n {
        s.push_str(&format!(
            r#"    app{i}:
      apiTypes: {{group: g{i}.bench.example.io, version: v1, kind: App{i}, plural: app{i}s}}
      dependsOn: [{dep}]
      validation:
        rules:
          - {{field: spec.image, prefix: "registry.internal/", message: "internal images only"}}
          - {{field: spec.replicas, between: "1,10", message: "1 to 10 replicas"}}
      mutation:
        rules:
          - {{field: spec.replicas, default: 2, valueType: int}}
      operatorBox:
        reconciler: {{workers: 4, resync: 5m}}
        runtime:
          deletionProtection: {{protectCRD: true, protectCRs: true}}
          allowedNamespaces: ["team-a*"]
        onCreate:
          serviceAccounts: [{{name: "{{{{ .metadata.name }}}}-sa"}}]
          configMaps:
            - {{name: "{{{{ .metadata.name }}}}-config", reconcile: true, data: {{mode: "{{{{ .spec.mode | default \"prod\" }}}}"}}}}
          deployments:
            - name: "{{{{ .metadata.name }}}}"
              image: "{{{{ .spec.image }}}}"
              replicas: "{{{{ .spec.replicas }}}}"
              port: 8080
              reconcile: true
              resources: {{requests: {{cpu: 100m, memory: 128Mi}}, limits: {{cpu: 500m, memory: 256Mi}}}}
              env: [{{name: MODE, value: "{{{{ .spec.mode }}}}"}}]
          services:
            - {{name: "{{{{ .metadata.name }}}}-svc", port: 80, targetPort: 8080, reconcile: true}}
        status:
          fields:
            - {{path: phase, value: Running}}
            - {{path: endpoint, value: "{{{{ .metadata.name }}}}.{{{{ .metadata.namespace }}}}.svc"}}
"#,
            dep = if i == 0 { String::new() } else { format!("app{}", i - 1) }
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let src = generate(100);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("katalog-100.yaml"), &src);
    let dir = std::path::Path::new("/nonexistent");
    let check = ork_katalog::load_str(&src, "katalog-100.yaml", dir);
    assert!(check.katalog.is_some(), "{:?}", check.diagnostics.first());
    c.bench_function("parse only: YAML of the 100-CRD Katalog", |b| {
        b.iter(|| ork_yaml::parse_stream(std::hint::black_box(&src)))
    });
    c.bench_function("validate 100-CRD Katalog (load_str)", |b| {
        b.iter(|| ork_katalog::load_str(std::hint::black_box(&src), "katalog-100.yaml", dir))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
