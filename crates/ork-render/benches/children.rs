//! Rendering throughput: 1,000 Website CRs (docs/katalog.md §9.1), three children each
//! (target ≥ 20,000 children/s). Criterion reports elements/s = children/s.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/website/katalog.yaml");
    let outcome = ork_katalog::load_file(&path);
    let Some(k) = outcome.katalog else {
        panic!("{:?}", outcome.diagnostics)
    };
    let k = match ork_policy::PreparedKatalog::new(&k) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let crd = &k.crds[0];
    let crs: Vec<_> = (0..1000)
        .map(|i| {
            json!({"apiVersion": "demo.orkestra.io/v1alpha1", "kind": "Website",
                   "metadata": {"name": format!("site-{i}"), "namespace": "default", "uid": format!("00000000-0000-0000-0000-{i:012}")},
                   "spec": {"image": "nginxinc/nginx-unprivileged:1.25", "replicas": 2, "port": 8080, "exposePublicly": i % 2 == 0}})
        })
        .collect();
    let opts = ork_render::Options {
        seed: Some(1),
        ..Default::default()
    };
    let children: usize = crs
        .iter()
        .map(|cr| {
            ork_render::render_cycle(&k, crd, cr, &opts)
                .map(|c| c.children.len())
                .unwrap_or(0)
        })
        .sum();
    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements(children as u64));
    g.bench_function(format!("1000 Website CRs ({children} children)"), |b| {
        b.iter(|| {
            for cr in &crs {
                let _ = std::hint::black_box(ork_render::render_cycle(&k, crd, cr, &opts));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
