#[cfg(feature = "dev")]
pub mod completions;
#[cfg(feature = "dev")]
pub mod e2e;
#[cfg(feature = "dev")]
pub mod gate;
#[cfg(any(feature = "dev", feature = "gateway"))]
pub mod gateway;
#[cfg(feature = "dev")]
pub mod generate;
#[cfg(feature = "dev")]
pub mod init;
#[cfg(feature = "dev")]
pub mod local;
#[cfg(feature = "dev")]
pub mod notes;
#[cfg(any(feature = "dev", feature = "runtime", feature = "gateway"))]
pub mod online;
#[cfg(feature = "dev")]
pub mod plan;
#[cfg(feature = "dev")]
pub mod rbac;
#[cfg(any(feature = "dev", feature = "runtime"))]
pub mod run;
#[cfg(feature = "dev")]
pub mod scan;
#[cfg(feature = "dev")]
pub mod simulate;
#[cfg(feature = "dev")]
pub mod template;
#[cfg(feature = "dev")]
pub mod validate;
pub mod version;

/// Loads, validates and prepares a Katalog within the budgets; prints the diagnostics and
/// returns `None` when it does not load (the caller exits 2).
#[cfg(feature = "dev")]
pub(crate) fn load_prepared(
    path: &std::path::Path,
    limits: &ork_limits::Limits,
) -> Option<ork_policy::PreparedKatalog> {
    let outcome = ork_katalog::load_file_with(path, limits);
    let Some(k) = outcome.katalog else {
        for d in &outcome.diagnostics {
            eprintln!("{d}");
        }
        eprintln!(
            "✗ {}: the Katalog is invalid",
            ork_io::escape_control(&path.display().to_string())
        );
        return None;
    };
    match ork_policy::PreparedKatalog::with_limits(&k, *limits) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!(
                "✗ {}: {e}",
                ork_io::escape_control(&path.display().to_string())
            );
            None
        }
    }
}

/// The documents of a YAML file (`-` reads stdin), parsed within the budgets, each with the
/// line it starts on.
#[cfg(feature = "dev")]
pub(crate) fn read_documents(
    path: &std::path::Path,
    limits: &ork_limits::Limits,
) -> Result<(String, Vec<(u32, serde_json::Value)>), String> {
    let input = ork_io::read_text(path, limits).map_err(|e| e.to_string())?;
    let docs = ork_yaml::parse_stream_with(&input.text, limits).map_err(|e| {
        format!(
            "{}:{}:{}: error: {}: {}",
            ork_io::escape_control(&input.name),
            e.span.line,
            e.span.col,
            e.what(),
            e.message
        )
    })?;
    Ok((
        input.name,
        docs.iter().map(|d| (d.span.line, d.to_json())).collect(),
    ))
}
