//! The YAML reader on arbitrary text, within the default budgets and within tight ones (so the
//! refusal paths run on small inputs): it may reject, never panic, hang or exceed its budget.
//! What it reads must print back, through the emitter, to the same JSON value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ork_limits::Limits;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let tight = Limits {
        yaml_documents: 8,
        yaml_nodes: 300,
        yaml_expanded_bytes: 4096,
        yaml_depth: 16,
        ..Limits::default()
    };
    if let Ok(docs) = ork_yaml::parse_stream_with(src, &tight) {
        assert!(docs.len() <= 8);
    }
    // The default budgets, except nodes: under AddressSanitizer a node costs ten times its
    // native size, and a million of them (a legitimate parse) would pass -rss_limit_mb=512.
    let roomy = Limits {
        yaml_nodes: 100_000,
        ..Limits::default()
    };
    let Ok(docs) = ork_yaml::parse_stream_with(src, &roomy) else {
        return;
    };
    for doc in &docs {
        let value = doc.to_json();
        let text = ork_yaml::to_yaml_string(&value);
        assert_eq!(
            ork_yaml::to_yaml_string_within(&value, text.len()).as_deref(),
            Some(text.as_str())
        );
        let back = ork_yaml::parse_stream(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let back = back
            .first()
            .map(ork_yaml::Node::to_json)
            .unwrap_or(serde_json::Value::Null);
        assert_eq!(back, value, "{text}");
    }
});
