//! The whole validation pipeline on arbitrary text: it may reject, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let outcome = ork_katalog::load_str(src, "fuzz.yaml", std::path::Path::new("/nonexistent-ork-fuzz"));
        // every diagnostic must be printable
        for d in &outcome.diagnostics {
            let _ = d.to_string();
        }
    }
});
