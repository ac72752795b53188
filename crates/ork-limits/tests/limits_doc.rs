//! docs/limits.md's budget table is generated from `ork_limits::BUDGETS`, the one list of
//! budgets, their variables and their defaults.
//!
//! The table sits between the start marker below and `<!-- end generated -->`. The test renders
//! it from the registry and fails when the committed text differs;
//! `ORK_BLESS=1 cargo test -p ork-limits --test limits_doc` rewrites it (review the diff, then
//! commit it with the change to the defaults).

#[path = "../../../tests/support/generated_doc.rs"]
mod generated_doc;

use std::path::PathBuf;

use ork_limits::{BUDGETS, Limits, human_bytes};

const START: &str = "<!-- generated: budgets (cargo test -p ork-limits --test limits_doc; ORK_BLESS=1 to regenerate) -->";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/limits.md")
}

/// `4,000,000`
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn table() -> String {
    let defaults = Limits::default();
    let mut out =
        String::from("| budget | default | variable | what it bounds |\n|---|---|---|---|\n");
    for b in BUDGETS {
        let v = b.value(&defaults);
        let default = if b.bytes { human_bytes(v) } else { grouped(v) };
        out.push_str(&format!(
            "| `{}` | {default} | `{}` | {} |\n",
            b.name,
            b.env,
            b.doc.replace('|', "\\|")
        ));
    }
    out.push_str(&format!(
        "\n{} budgets. Byte budgets (`{}`) also take the suffixes `Ki`, `Mi` and `Gi`.\n",
        BUDGETS.len(),
        BUDGETS
            .iter()
            .filter(|b| b.bytes)
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join("`, `")
    ));
    out
}

#[test]
fn limits_md_is_generated_from_the_budgets() {
    generated_doc::check(
        &doc_path(),
        |doc| generated_doc::splice(doc, START, &table()),
        "ORK_BLESS=1 cargo test -p ork-limits --test limits_doc",
    );
}

#[test]
fn every_budget_has_a_row() {
    let t = table();
    for b in BUDGETS {
        assert!(t.contains(&format!("| `{}` |", b.name)), "{}", b.name);
        assert!(t.contains(&format!("`{}`", b.env)), "{}", b.env);
    }
    assert_eq!(grouped(4_000_000), "4,000,000");
    assert_eq!(grouped(256), "256");
    assert_eq!(grouped(100_000), "100,000");
}
