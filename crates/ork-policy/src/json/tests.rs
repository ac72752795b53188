use serde_json::{Value, json};

use super::{Json, Tape};

fn tape(text: &str) -> Tape<'_> {
    Tape::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn root<'a>(t: &'a Tape) -> Json<'a> {
    t.root().unwrap_or_else(|| panic!("an empty tape"))
}

fn refused(text: &str) -> String {
    match Tape::parse(text) {
        Ok(_) => panic!("{text}: decoded"),
        Err(e) => e.to_string(),
    }
}

/// Every read of [`Json`] answers the same for a `Value` and for the tape of the same text, at
/// every node of the document.
fn same_answers(a: Json, b: Json, at: &str) {
    assert_eq!(a.as_str(), b.as_str(), "as_str at {at:?}");
    assert_eq!(a.as_bool(), b.as_bool(), "as_bool at {at:?}");
    assert_eq!(a.as_i64(), b.as_i64(), "as_i64 at {at:?}");
    assert_eq!(a.is_null(), b.is_null(), "is_null at {at:?}");
    assert_eq!(a.is_true(), b.is_true(), "is_true at {at:?}");
    assert_eq!(a.is_false(), b.is_false(), "is_false at {at:?}");
    assert_eq!(a.is_object(), b.is_object(), "is_object at {at:?}");
    assert_eq!(a.is_array(), b.is_array(), "is_array at {at:?}");
    assert_eq!(a.len(), b.len(), "len at {at:?}");
    assert_eq!(a.to_value(), b.to_value(), "to_value at {at:?}");
    for (i, (x, y)) in a.items().zip(b.items()).enumerate() {
        same_answers(x, y, &format!("{at}/{i}"));
        assert_eq!(a.index(i), Some(x));
        assert_eq!(b.index(i), Some(y));
    }
    assert_eq!(a.items().count(), b.items().count());
    assert_eq!(a.index(a.len()), None);
    // members: the same set (a Value in key order, a tape in document order)
    let mut ka: Vec<&str> = a.keys().collect();
    let mut kb: Vec<&str> = b.keys().collect();
    ka.sort_unstable();
    kb.sort_unstable();
    assert_eq!(ka, kb, "keys at {at:?}");
    for k in ka {
        let (x, y) = (a.get(k), b.get(k));
        let (Some(x), Some(y)) = (x, y) else {
            panic!("get({k:?}) at {at:?}: {x:?} against {y:?}");
        };
        same_answers(x, y, &format!("{at}/{k}"));
    }
    assert!(a.get("no such key").is_none() && b.get("no such key").is_none());
}

fn both(text: &str) {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let tape = tape(text);
    let root = root(&tape);
    same_answers(Json::Value(&value), root, "");
    assert_eq!(root.to_value().into_owned(), value);
}

const REVIEWS: &[&str] = &[
    include_str!("../../../ork-loadgen/fixtures/deployment-review.json"),
    include_str!("../../../ork-loadgen/fixtures/deployment-privileged-review.json"),
];

#[test]
fn a_tape_answers_every_read_as_the_value_of_the_same_text() {
    for review in REVIEWS {
        both(review);
    }
    both(
        r#"{"s": "plain", "e": "tab\tquote\"slash\/ \u00e9 \ud83d\ude00", "k\u0041": 1,
            "n": [0, -1, 1.5, -0.0, 1e3, 18446744073709551615, -9223372036854775808,
                  9223372036854775808, 123456789012345678901234567890],
            "b": [true, false, null], "empty": {}, "none": [], "nested": [[[]], [{}], {"a": [{"b": null}]}],
            "": "empty key", "a/b": 1, "c~d": 2}"#,
    );
    for scalar in ["1", "\"x\"", "true", "null", "[]", "{}", "-5", "2.5"] {
        both(scalar);
    }
}

#[test]
fn pointers_answer_as_value_pointer_for_values_and_tapes() {
    let v = json!({
        "a": {"b": [10, {"c": "x"}], "": 1, "d/e": 2, "f~g": 3},
        "list": [[1, 2], []],
    });
    let text = v.to_string();
    let tape = tape(&text);
    for p in [
        "",
        "/",
        "/a",
        "/a/b",
        "/a/b/0",
        "/a/b/1/c",
        "/a/b/2",
        "/a/b/01",
        "/a/b/+1",
        "/a/b/-1",
        "/a/",
        "/a/d~1e",
        "/a/f~0g",
        "/a/d/e",
        "/list/0/1",
        "/list/1/0",
        "a",
        "/a/b/1/c/d",
        "/missing",
        "/a/b/18446744073709551616",
    ] {
        let want = v.pointer(p);
        assert_eq!(crate::path::At::at(&v, p), want, "At, pointer {p:?}");
        assert_eq!(
            Json::Value(&v).at(p).map(|j| j.to_value().into_owned()),
            want.cloned(),
            "{p:?}"
        );
        let got = root(&tape).at(p).map(|j| j.to_value().into_owned());
        assert_eq!(got, want.cloned(), "tape, pointer {p:?}");
    }
}

#[test]
fn a_duplicate_key_is_refused_in_a_small_and_in_a_large_object() {
    for text in [
        r#"{"a": 1, "a": 2}"#,
        r#"{"spec": {"x": {"privileged": false, "privileged": true}}}"#,
        r#"{"a": [{"k": 1, "j": 2, "k": 3}]}"#,
        // the same key, one spelt with an escape
        r#"{"ab": 1, "a\u0062": 2}"#,
    ] {
        let e = refused(text);
        assert!(e.contains("duplicate key"), "{text}: {e}");
    }
    let mut large: String = (0..5000).map(|i| format!("\"k{i}\": {i},")).collect();
    large.push_str("\"k4999\": 0");
    let e = refused(&format!("{{{large}}}"));
    assert!(e.contains("duplicate key \"k4999\""), "{e}");
    // and many distinct keys are fine
    let distinct: Vec<String> = (0..5000).map(|i| format!("\"k{i}\": {i}")).collect();
    both(&format!("{{{}}}", distinct.join(",")));
}

#[test]
fn a_hostile_document_is_an_error_not_a_crash() {
    // serde_json's recursion limit holds for the tape as for a Value
    let deep = "[".repeat(100_000);
    assert!(Tape::parse(&deep).is_err());
    let deep_objects = "{\"a\":".repeat(100_000);
    assert!(Tape::parse(&deep_objects).is_err());
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\" 1}",
        "1 2",
        "\"\\ud800\"",
        "nul",
        "{\"a\":1}x",
        "1e400",
    ] {
        assert!(Tape::parse(bad).is_err(), "{bad:?}");
        assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn strings_without_escapes_borrow_from_the_text() {
    let text = r#"{"name": "web", "escaped": "a\nb"}"#;
    let tape = tape(text);
    let name = root(&tape)
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let range = text.as_bytes().as_ptr_range();
    assert!(range.contains(&name.as_ptr()), "borrowed from the text");
    assert_eq!(
        root(&tape).get("escaped").and_then(Json::as_str),
        Some("a\nb")
    );
}
