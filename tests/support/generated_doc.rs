//! Sections of `docs/` generated from a registry, kept current by a test: the test renders the
//! section, compares it with the committed file, and rewrites it when `ORK_BLESS=1`.
//! Shared through `#[path = "…/tests/support/generated_doc.rs"] mod generated_doc;`.

#![allow(dead_code)]

use std::path::Path;

/// Where a generated section ends.
pub const END: &str = "<!-- end generated -->";

/// The document with the section after the marker `start` replaced by `body`.
pub fn splice(doc: &str, start: &str, body: &str) -> Result<String, String> {
    let s = doc
        .find(start)
        .ok_or_else(|| format!("no marker {start}"))?;
    let after = s + start.len();
    if doc[after..].contains(start) {
        return Err(format!("the marker {start} appears twice"));
    }
    let e = doc[after..]
        .find(END)
        .map(|i| i + after)
        .ok_or_else(|| format!("no {END} after {start}"))?;
    Ok(format!(
        "{}\n\n{}\n{}",
        &doc[..after],
        body.trim_end_matches('\n').to_string() + "\n",
        &doc[e..]
    ))
}

/// The first line where two texts differ, for the failure message.
pub fn first_difference(a: &str, b: &str) -> String {
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

/// Compares `path` with `generate(committed)`; rewrites it under `ORK_BLESS=1`, else panics
/// with the first difference and `how` (the command that regenerates it).
pub fn check(path: &Path, generate: impl Fn(&str) -> Result<String, String>, how: &str) {
    let committed =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let generated = generate(&committed).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if generated == committed {
        return;
    }
    if std::env::var_os("ORK_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("rewrote the generated sections of {}", path.display());
        return;
    }
    panic!(
        "{} differs from its registry; regenerate with `{how}` and review the diff.\n{}",
        path.display(),
        first_difference(&committed, &generated)
    );
}
