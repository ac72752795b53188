//! Inputs the fuzzers once hung or crashed on (tests/fixtures/fuzz-regressions) must load to a
//! verdict quickly.

use std::time::{Duration, Instant};

#[test]
fn fuzz_findings_load_to_a_verdict() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/fuzz-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let src = String::from_utf8_lossy(&bytes).into_owned();
        let start = Instant::now();
        let outcome =
            ork_katalog::load_str(&src, "fuzz.yaml", std::path::Path::new("/nonexistent"));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{}: took {:?}",
            entry.path().display(),
            start.elapsed()
        );
        let _ = outcome.diagnostics.iter().map(ToString::to_string).count();
        // and as a bare template (the template_engine target's input)
        let start = Instant::now();
        if let Ok(t) = ork_template::Template::parse(&src) {
            let _ = t.render_with(
                &serde_json::json!({"metadata": {"name": "x"}}),
                &mut ork_template::Ctx::new(Some(1), None),
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{}: template took {:?}",
            entry.path().display(),
            start.elapsed()
        );
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
