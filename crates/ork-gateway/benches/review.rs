//! The Gateway's per-request work without the network: decode an AdmissionReview, decide at the
//! webhook's layers, build and encode the response, and build the audit line — what one
//! request costs a core beyond what the bare echo webhook of `ork-loadgen` does
//! (BENCHMARKS.md, "Gateway webhook load").

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use ork_gateway::review;
use ork_gateway::webhooks::Webhook;

fn katalog() -> ork_policy::PreparedKatalog {
    let dir = std::env::temp_dir().join(format!("ork-gateway-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("katalog.yaml");
    let text = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: bench}\ngateway: {enabled: true}\nsecurity:\n  podSecurity:\n    level: restricted\n    admission: {enabled: true, namespaces: [team-a]}\nspec: {}\n";
    if std::fs::write(&path, text).is_err() {
        std::process::exit(1);
    }
    match ork_gateway::load(&path, &ork_limits::Limits::default()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e:?}");
            std::process::exit(1)
        }
    }
}

fn bench(c: &mut Criterion) {
    let k = katalog();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ork-loadgen/fixtures");
    for (name, file) in [
        ("allow", "deployment-review.json"),
        ("deny", "deployment-privileged-review.json"),
    ] {
        let body = std::fs::read(fixtures.join(file)).unwrap_or_default();
        c.bench_function(&format!("pod-security {name}: decode"), |b| {
            b.iter(|| review::decode(black_box(&body)).is_ok())
        });
        c.bench_function(
            &format!("pod-security {name}: decode, decide, respond"),
            |b| {
                b.iter(|| {
                    let Ok(d) = review::decode(black_box(&body)) else {
                        return 0;
                    };
                    let v = review::judge(&k, Webhook::PodSecurity, &d, None, None);
                    let r = review::respond(&d.request, &v);
                    let reasons = review::audit_reasons(&v);
                    serde_json::to_vec(&r.into_review())
                        .map(|b| b.len())
                        .unwrap_or(0)
                        + reasons.len()
                })
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
