#[cfg(feature = "dev")]
pub mod completions;
#[cfg(feature = "dev")]
pub mod gate;
#[cfg(feature = "dev")]
pub mod init;
#[cfg(feature = "dev")]
pub mod local;
#[cfg(feature = "dev")]
pub mod notes;
#[cfg(feature = "dev")]
pub mod rbac;
#[cfg(feature = "dev")]
pub mod scan;
#[cfg(feature = "dev")]
pub mod template;
#[cfg(feature = "dev")]
pub mod validate;
pub mod version;

/// Loads, validates and prepares a Katalog; prints the diagnostics and returns `None` when it
/// does not load (the caller exits 2).
#[cfg(feature = "dev")]
pub(crate) fn load_prepared(path: &std::path::Path) -> Option<ork_policy::PreparedKatalog> {
    let outcome = ork_katalog::load_file(path);
    let Some(k) = outcome.katalog else {
        for d in &outcome.diagnostics {
            eprintln!("{d}");
        }
        eprintln!("✗ {}: the Katalog is invalid", path.display());
        return None;
    };
    match ork_policy::PreparedKatalog::new(&k) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("✗ {}: {e}", path.display());
            None
        }
    }
}

/// The documents of a YAML file (`-` reads stdin), as JSON.
#[cfg(feature = "dev")]
pub(crate) fn read_documents(path: &std::path::Path) -> Result<Vec<serde_json::Value>, String> {
    let src = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let docs = ork_yaml::parse_stream(&src).map_err(|e| {
        format!(
            "{}:{}:{}: error: YAML syntax error: {}",
            path.display(),
            e.span.line,
            e.span.col,
            e.message
        )
    })?;
    Ok(docs.iter().map(ork_yaml::Node::to_json).collect())
}
