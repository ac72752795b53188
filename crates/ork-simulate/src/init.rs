//! `ork simulate init` (docs/cli.md §5): a Simulate document whose `expect` pins a run's
//! cycle-1 operations and `steady: true`, the start of a regression test.

use std::path::{Component, Path, PathBuf};

use crate::Run;

/// The document for a run of `katalog` with `crs`, written to `out`: paths relative to
/// `out`'s directory where possible.
pub fn document(
    name: &str,
    out: &Path,
    katalog: &Path,
    crs: &[PathBuf],
    cycles: u32,
    run: &Run,
) -> String {
    let base = out.parent().unwrap_or(Path::new(""));
    let mut s = String::new();
    s.push_str("# written by `ork simulate init`: the cycle-1 operations of the run, pinned\n");
    s.push_str("apiVersion: orkestra.orkspace.io/v1\nkind: Simulate\n");
    s.push_str(&format!("metadata: {{name: {}}}\n", quote(name)));
    s.push_str("spec:\n");
    s.push_str(&format!("  katalog: {}\n", quote(&relative(base, katalog))));
    match crs {
        [one] => s.push_str(&format!("  cr: {}\n", quote(&relative(base, one)))),
        many => {
            s.push_str("  crFiles:\n");
            for p in many {
                s.push_str(&format!("    - {}\n", quote(&relative(base, p))));
            }
        }
    }
    s.push_str(&format!("  cycles: {cycles}\n"));
    s.push_str("  expect:\n    steady: true\n");
    let first: Vec<_> = run
        .cycles
        .first()
        .map(|c| c.ops.iter().filter(|o| o.changed).collect())
        .unwrap_or_default();
    if !first.is_empty() {
        s.push_str("    ops:\n");
        for o in first {
            let mut fields = vec![
                "cycle: 1".to_string(),
                format!("verb: {}", o.verb.as_str()),
                format!("resource: {}", quote(&o.resource)),
            ];
            if let Some(ns) = &o.namespace {
                fields.push(format!("namespace: {}", quote(ns)));
            }
            fields.push(format!("name: {}", quote(&o.name)));
            s.push_str(&format!("      - {{{}}}\n", fields.join(", ")));
        }
    }
    s
}

/// A YAML scalar: plain when it is a safe word, else double-quoted (a JSON string is valid
/// YAML).
fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/'))
        && !v.starts_with(['-', '.'])
        && !matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n" | "~"
        )
        && v.parse::<f64>().is_err();
    if plain {
        v.to_string()
    } else {
        serde_json::Value::from(v).to_string()
    }
}

/// `target` relative to `base` when both are relative or both absolute; else `target` as is.
fn relative(base: &Path, target: &Path) -> String {
    let b: Vec<Component> = base
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let t: Vec<Component> = target
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let rooted = |v: &[Component]| {
        v.first()
            .is_some_and(|c| matches!(c, Component::RootDir | Component::Prefix(_)))
    };
    if rooted(&b) != rooted(&t) || b.contains(&Component::ParentDir) {
        return target.display().to_string();
    }
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut p = PathBuf::new();
    for _ in common..b.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c.as_os_str());
    }
    let s = p.display().to_string();
    if s.is_empty() { ".".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_document() {
        assert_eq!(relative(Path::new(""), Path::new("k.yaml")), "k.yaml");
        assert_eq!(
            relative(Path::new("a/b"), Path::new("a/c/k.yaml")),
            "../c/k.yaml"
        );
        assert_eq!(relative(Path::new("/x"), Path::new("y/k.yaml")), "y/k.yaml");
        assert_eq!(quote("my-site"), "my-site");
        assert_eq!(quote("true"), "\"true\"");
        assert_eq!(quote("a: b"), "\"a: b\"");
    }
}
