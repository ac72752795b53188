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

/// The Gateway decodes a review's objects into tapes (ork_policy::json), everything else holds
/// `Value`s: every case gets the same verdict in both forms, to the message, warning and patch.
#[test]
fn the_corpus_gets_the_same_verdicts_from_tapes_as_from_values() {
    let cases = decisions::load();
    let mut cache = HashMap::new();
    let mut differ = Vec::new();
    for case in &cases {
        let k = prepared(&mut cache, &case.katalog);
        let from_values = decisions::through_decide_as(k, case, decisions::Form::Value);
        let from_tapes = decisions::through_decide_as(k, case, decisions::Form::Tape);
        if from_values != from_tapes {
            differ.push(format!(
                "{}:\n  values: {from_values:?}\n  tapes:  {from_tapes:?}",
                case.name
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
