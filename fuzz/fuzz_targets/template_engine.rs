//! Parse, analyse and execute arbitrary templates against a fixed CR: errors are fine, panics
//! and runaway execution are not (the engine has a work budget).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(t) = ork_template::Template::parse(src) else { return };
    let _ = t.root_paths();
    let _ = t.volatile_functions();
    let cr = serde_json::json!({
        "metadata": {"name": "x", "namespace": "ns", "labels": {"a": "b"}},
        "spec": {"image": "nginx:1", "replicas": 3, "ratio": 0.5, "list": [1, "two", {"three": 3}], "map": {"k": "v"}, "flag": true, "nil": null}
    });
    let mut ctx = ork_template::Ctx::new(Some(1), None);
    let _ = t.render_with(&cr, &mut ctx);
    let _ = t.render_value(&cr, &mut ctx);
});
