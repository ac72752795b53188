//! The decision corpus through `decide` (tests/fixtures/decisions/, format in
//! tests/support/decisions.rs). `ork gate check` replays the same corpus in ork-cli's tests.

#[path = "../../../tests/support/decisions.rs"]
mod decisions;

use std::collections::HashMap;

use decisions::{prepared, through_decide};

#[test]
fn the_corpus_through_decide() {
    let cases = decisions::load();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut cache = HashMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let k = prepared(&mut cache, &case.katalog);
        if let Err(e) = decisions::judge(case, &through_decide(k, case)) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
