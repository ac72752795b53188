//! Every reference in the code to the product documentation (`docs/security.md §2.4`) names a
//! file of the repository's `docs/` and, when it gives a section, a heading that exists there:
//! a contributor can follow each one.

mod common;

use std::path::Path;

use common::repo;

/// The documents the code cites.
const DOCS: &[&str] = &[
    "katalog",
    "security",
    "checks",
    "cli",
    "e2e",
    "limits",
    "architecture",
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "fixtures" {
                sources(&p, out);
            }
        } else if name.ends_with(".rs") || name.ends_with(".toml") || name.ends_with(".py") {
            out.push(p);
        }
    }
}

/// `§2.4` → `2.4`; trailing dots dropped.
fn section(after: &str) -> Option<String> {
    let rest = after
        .strip_prefix(" §")
        .or_else(|| after.strip_prefix('§'))?;
    let s: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let s = s.trim_end_matches('.').to_string();
    (!s.is_empty()).then_some(s)
}

fn has_heading(doc: &str, sec: &str) -> bool {
    doc.lines().any(|l| {
        let h = l.trim_start_matches('#');
        l.starts_with('#')
            && (h.trim_start().starts_with(&format!("{sec}. "))
                || h.trim_start().starts_with(&format!("{sec} ")))
    })
}

#[test]
fn every_documentation_reference_resolves() {
    let root = repo();
    let mut files = Vec::new();
    for d in ["crates", "tests", "fuzz", "scripts"] {
        sources(&root.join(d), &mut files);
    }
    files.push(root.join(".ci/run"));
    let mut refs = 0;
    let mut broken = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for name in DOCS {
            // a citation without the docs/ prefix points outside the repository
            let bare = format!("{name}.md");
            for (i, _) in text.match_indices(&bare) {
                let before = &text[..i];
                if !before.ends_with("docs/") && !before.ends_with('/') && !before.ends_with('[') {
                    broken.push(format!("{}: {bare} without docs/", f.display()));
                }
            }
            let cited = format!("docs/{name}.md");
            let doc_path = root.join(&cited);
            for (i, _) in text.match_indices(&cited) {
                refs += 1;
                let Ok(doc) = std::fs::read_to_string(&doc_path) else {
                    broken.push(format!("{}: {cited} does not exist", f.display()));
                    continue;
                };
                if let Some(sec) = section(&text[i + cited.len()..])
                    && !has_heading(&doc, &sec)
                {
                    broken.push(format!(
                        "{}: {cited} §{sec} has no such heading",
                        f.display()
                    ));
                }
            }
        }
    }
    assert!(
        refs > 50,
        "only {refs} references found: is the scan working?"
    );
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
