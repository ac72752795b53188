//! `ork generate` (docs/cli.md §6): the objects that install ork for a Katalog. Offline: the
//! Katalog in, YAML out. Today: `rbac` (docs/security.md §2.2).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ork_generate::rbac::{self, Component, Options};
use ork_io::escape_control;

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// The ServiceAccounts and least-privilege RBAC of the runtime and the Gateway
    Rbac(RbacArgs),
}

#[derive(clap::Args, Debug)]
pub struct RbacArgs {
    /// the Katalog (`-` reads stdin)
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    /// the operator namespace (default: ORK_NAMESPACE, else orkestra-system)
    #[arg(short = 'n', long = "namespace")]
    namespace: Option<String>,
    /// only this component's ServiceAccount and RBAC (default: both)
    #[arg(long = "for", value_parser = ["runtime", "gateway"])]
    component: Option<String>,
    /// `-` (stdout) or a file
    #[arg(short = 'o', long = "output", default_value = "-")]
    output: PathBuf,
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    match &a.what {
        What::Rbac(r) => generate_rbac(r, g),
    }
}

/// A namespace name Kubernetes accepts (RFC 1123 label).
fn valid_namespace(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Loads a Katalog and derives its RBAC; prints what `ork validate` prints for a Katalog that
/// does not load (or whose RBAC would need a wildcard) and returns `None`.
pub(crate) fn load_derived(
    file: &Path,
    namespace: Option<&str>,
    component: Component,
    limits: &ork_limits::Limits,
) -> Option<rbac::Derived> {
    let invalid = || {
        eprintln!(
            "✗ {}: the Katalog is invalid",
            escape_control(&file.display().to_string())
        );
    };
    let outcome = ork_katalog::load_file_with(file, limits);
    let Some(k) = outcome.katalog else {
        for d in &outcome.diagnostics {
            eprintln!("{d}");
        }
        invalid();
        return None;
    };
    let ns = namespace
        .map(str::to_string)
        .or_else(|| k.posture.as_ref().map(|p| p.operator_namespace.clone()))
        .unwrap_or_else(|| ork_katalog::names::DEFAULT_OPERATOR_NAMESPACE.to_string());
    if !valid_namespace(&ns) {
        eprintln!(
            "namespace {:?} is not a valid namespace name (lower-case letters, digits and '-', at most 63)",
            escape_control(&ns)
        );
        return None;
    }
    match rbac::derive(
        &k,
        &Options {
            namespace: ns,
            component,
        },
    ) {
        Ok(d) => Some(d),
        Err(e) => {
            for d in e.diagnostics(&k) {
                eprintln!("{d}");
            }
            invalid();
            None
        }
    }
}

fn generate_rbac(a: &RbacArgs, g: &crate::Global) -> u8 {
    let component = match a.component.as_deref() {
        Some("runtime") => Component::Runtime,
        Some("gateway") => Component::Gateway,
        _ => Component::Both,
    };
    let Some(d) = load_derived(&a.file, a.namespace.as_deref(), component, &g.limits) else {
        return exit::USAGE;
    };
    for w in d.warnings() {
        eprintln!("warning: {}", escape_control(w));
    }
    let text: String = d.objects().iter().map(ork_yaml::to_yaml_document).collect();
    let written = if a.output.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    } else {
        std::fs::write(&a.output, text.as_bytes())
    };
    match written {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!(
                "{}: cannot write: {e}",
                escape_control(&a.output.display().to_string())
            );
            exit::NEGATIVE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_namespace;

    #[test]
    fn namespace_names() {
        for ok in ["orkestra-system", "a", "team-1"] {
            assert!(valid_namespace(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "Team", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!valid_namespace(bad), "{bad}");
        }
    }
}
