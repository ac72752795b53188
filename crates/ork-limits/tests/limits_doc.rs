//! docs/limits.md's budget table is generated from `ork_limits::BUDGETS`, the one list of
//! budgets, their variables and their defaults.
//!
//! The table sits between the start marker below and `<!-- end generated -->`. The test renders
//! it from the registry and fails when the committed text differs;
//! `ORK_BLESS=1 cargo test -p ork-limits --test limits_doc` rewrites it (review the diff, then
//! commit it with the change to the defaults).

use std::path::PathBuf;

use ork_limits::{BUDGETS, Limits, human_bytes};

const START: &str = "<!-- generated: budgets (cargo test -p ork-limits --test limits_doc; ORK_BLESS=1 to regenerate) -->";
const END: &str = "<!-- end generated -->";

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

fn splice(doc: &str, body: &str) -> Result<String, String> {
    let s = doc
        .find(START)
        .ok_or_else(|| format!("docs/limits.md has no marker {START}"))?;
    let after = s + START.len();
    if doc[after..].contains(START) {
        return Err("docs/limits.md has the start marker twice".into());
    }
    let e = doc[after..]
        .find(END)
        .map(|i| i + after)
        .ok_or_else(|| format!("docs/limits.md: no {END} after the start marker"))?;
    Ok(format!(
        "{}\n\n{}\n{}",
        &doc[..after],
        body.trim_end_matches('\n').to_string() + "\n",
        &doc[e..]
    ))
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  committed: {x}\n  generated: {y}", i + 1);
        }
    }
    format!(
        "the committed file has {} lines, the generated one {}",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn limits_md_is_generated_from_the_budgets() {
    let path = doc_path();
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let generated = splice(&committed, &table()).unwrap_or_else(|e| panic!("{e}"));
    if generated == committed {
        return;
    }
    if std::env::var_os("ORK_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("rewrote the budget table of {}", path.display());
        return;
    }
    panic!(
        "docs/limits.md differs from ork_limits::BUDGETS (crates/ork-limits/src/lib.rs); \
         regenerate with `ORK_BLESS=1 cargo test -p ork-limits --test limits_doc` and review the diff.\n{}",
        first_difference(&committed, &generated)
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
