//! Template engine: parse and render a typical child-field template.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let src = "{{ .metadata.name }}-{{ .spec.tier | default \"std\" | toLower }}.{{ .metadata.namespace }}.svc";
    let data =
        json!({"metadata": {"name": "shop", "namespace": "team-a"}, "spec": {"tier": "Gold"}});
    c.bench_function("template parse", |b| {
        b.iter(|| ork_template::Template::parse(std::hint::black_box(src)))
    });
    let t = ork_template::Template::parse(src).unwrap_or_else(|e| panic!("{e}"));
    let mut ctx = ork_template::Ctx::new(Some(1), None);
    c.bench_function("template render", |b| {
        b.iter(|| t.render_with(std::hint::black_box(&data), &mut ctx))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
