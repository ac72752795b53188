//! docs/checks.md is generated from the registry where the registry is the truth: the check
//! catalogue of §2 (`CATALOGUE`) and the level sets of §5 (`level_checks`, `EXEC_CHECKS`).
//!
//! Each generated section sits between a start marker naming this test and
//! `<!-- end generated -->`. The test renders the sections from the registry and fails when the
//! committed text differs; `ORK_BLESS=1 cargo test -p ork-policy --test catalogue_doc`
//! rewrites them (review the diff, then commit it with the registry change).

#[path = "../../../tests/support/generated_doc.rs"]
mod generated_doc;

use std::path::PathBuf;

use ork_katalog::PodSecurityLevel;
use ork_policy::checks::{CATALOGUE, EXEC_CHECKS, Severity, level_checks};

const CATALOGUE_START: &str = "<!-- generated: checks catalogue (cargo test -p ork-policy --test catalogue_doc; ORK_BLESS=1 to regenerate) -->";
const LEVELS_START: &str = "<!-- generated: pod-security level sets (cargo test -p ork-policy --test catalogue_doc; ORK_BLESS=1 to regenerate) -->";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/checks.md")
}

/// Markdown-safe table cell: `|` is escaped everywhere (GFM splits cells on it even inside
/// code spans); outside code spans `\`, `*`, `~` and `<` are escaped so the registry's text
/// (`<id>`, `*`, `~KSV-…`) renders literally.
fn cell(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let in_code = i % 2 == 1;
        for ch in part.chars() {
            match ch {
                '|' => out.push_str("\\|"),
                '\\' | '*' | '~' if !in_code => {
                    out.push('\\');
                    out.push(ch);
                }
                '<' if !in_code => out.push_str("&lt;"),
                _ => out.push(ch),
            }
        }
    }
    out
}

/// An equivalent check of another tool; the registry leaves it empty when there is none.
fn equivalent(text: &str) -> String {
    if text.is_empty() {
        "—".to_string()
    } else {
        cell(text)
    }
}

fn ids(list: &[&str]) -> String {
    list.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn catalogue_section() -> String {
    let count = |s: Severity| CATALOGUE.iter().filter(|c| c.severity == s).count();
    let mut out = format!(
        "{} checks: {} critical, {} high, {} medium, {} low.\n\n",
        CATALOGUE.len(),
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    );
    out.push_str(
        "| id | severity | triggers when | remediation | Trivy | Checkov | KubeLinter |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for c in CATALOGUE {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            c.id,
            c.severity.as_str(),
            cell(c.trigger),
            cell(c.remediation),
            equivalent(c.trivy),
            equivalent(c.checkov),
            equivalent(c.kube_linter),
        ));
    }
    out
}

fn levels_section() -> String {
    let baseline = level_checks(PodSecurityLevel::Baseline);
    let mut out = String::from("| `security.podSecurity.level` | checks enforced |\n|---|---|\n");
    for level in PodSecurityLevel::ALL {
        let set = level_checks(*level);
        let text = match level {
            _ if set.is_empty() => {
                "none: the backstop and pod-security admission pass every pod".to_string()
            }
            PodSecurityLevel::Baseline => format!("{} ({})", ids(set), set.len()),
            _ => {
                let extra: Vec<&str> = set
                    .iter()
                    .copied()
                    .filter(|id| !baseline.contains(id))
                    .collect();
                let all_baseline = baseline.iter().all(|id| set.contains(id));
                if all_baseline {
                    format!(
                        "everything in `baseline`, plus {} ({} in all)",
                        ids(&extra),
                        set.len()
                    )
                } else {
                    format!("{} ({})", ids(set), set.len())
                }
            }
        };
        out.push_str(&format!("| `{}` | {text} |\n", level.as_str()));
    }
    out.push_str(&format!(
        "\nExec protection checks the target Pod with {}.\n",
        ids(EXEC_CHECKS)
    ));
    out
}

#[test]
fn checks_md_is_generated_from_the_registry() {
    generated_doc::check(
        &doc_path(),
        |doc| {
            generated_doc::splice(doc, CATALOGUE_START, &catalogue_section())
                .and_then(|d| generated_doc::splice(&d, LEVELS_START, &levels_section()))
        },
        "ORK_BLESS=1 cargo test -p ork-policy --test catalogue_doc",
    );
}

#[test]
fn every_check_has_a_row_and_escaping_keeps_the_table_intact() {
    let table = catalogue_section();
    for c in CATALOGUE {
        assert!(table.contains(&format!("| `{}` |", c.id)), "{}", c.id);
    }
    // seven cells per row: a stray `|` in the registry's text would add one
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 8, "{row}");
    }
    assert_eq!(cell("a|b <id> `x|<y>*` *"), "a\\|b &lt;id> `x\\|<y>*` \\*");
}
