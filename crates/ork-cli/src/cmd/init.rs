//! `ork init` (docs/cli.md §9): writes an embedded example pack; never overwrites without --force.

use std::path::{Path, PathBuf};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// the pack to write
    #[arg(long, default_value = "basic")]
    pack: String,
    /// list the packs
    #[arg(long)]
    list: bool,
    /// overwrite existing files
    #[arg(long)]
    force: bool,
    /// target directory
    #[arg(default_value = ".")]
    dir: PathBuf,
}

/// (path inside the pack, contents)
type Files = &'static [(&'static str, &'static str)];

/// `(root; "a.yaml", "b/c.yaml", …)` → the files, embedded at build time.
macro_rules! embed {
    ($root:literal; $($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!($root, $file)))),*]
    };
}

/// The Website example of docs/katalog.md §9.1, as it lives in `examples/website/`.
const BASIC_EXAMPLE: Files = embed!("../../../../examples/website/";
    "katalog.yaml", "crd.yaml", "cr.yaml", "setup.yaml", "simulate.yaml", "e2e.yaml",
);
const BASIC_README: Files = embed!("../../packs/basic/"; "README.md");

/// The security suite of docs/security.md §4, as it lives in `crates/ork-cli/packs/security/`.
const SECURITY: Files = embed!("../../packs/security/";
    "README.md",
    "e2e.yaml",
    "admission/README.md",
    "admission/katalog.yaml",
    "admission/crd.yaml",
    "admission/cr.yaml",
    "admission/setup.yaml",
    "admission/e2e.yaml",
    "admission/cr-second.yaml",
    "admission/cr-latest.yaml",
    "admission/cr-too-many.yaml",
    "admission/cr-while-down.yaml",
    "admission/cr-stored-anyway.yaml",
    "deletion-protection/README.md",
    "deletion-protection/katalog.yaml",
    "deletion-protection/crd.yaml",
    "deletion-protection/crd-report.yaml",
    "deletion-protection/cr.yaml",
    "deletion-protection/setup.yaml",
    "deletion-protection/e2e.yaml",
    "namespace-protection/README.md",
    "namespace-protection/katalog.yaml",
    "namespace-protection/crd.yaml",
    "namespace-protection/cr.yaml",
    "namespace-protection/setup.yaml",
    "namespace-protection/e2e.yaml",
    "namespace-protection/cr-default.yaml",
    "namespace-protection/cr-team-b.yaml",
    "namespace-protection/cr-team-a-prod.yaml",
    "namespace-protection/cr-held.yaml",
    "namespace-protection/cr-kube-system.yaml",
    "gateway-only/README.md",
    "gateway-only/katalog.yaml",
    "gateway-only/crd.yaml",
    "gateway-only/cr.yaml",
    "gateway-only/setup.yaml",
    "gateway-only/e2e.yaml",
    "gateway-only/cr-too-many.yaml",
    "gateway-only/cr-elsewhere.yaml",
    "pod-security/README.md",
    "pod-security/katalog.yaml",
    "pod-security/crd.yaml",
    "pod-security/cr.yaml",
    "pod-security/setup.yaml",
    "pod-security/e2e.yaml",
    "pod-security/cr-privileged.yaml",
    "pod-security/cr-unknown-profile.yaml",
    "pod-security/pod-restricted.yaml",
    "pod-security/pod-privileged.yaml",
    "pod-security/pod-hostpid.yaml",
    "rbac/README.md",
    "rbac/katalog.yaml",
    "rbac/crd.yaml",
    "rbac/cr.yaml",
    "rbac/setup.yaml",
    "rbac/e2e.yaml",
);

struct Pack {
    name: &'static str,
    about: &'static str,
    /// the subdirectory of DIR the pack is written to (none: DIR itself)
    subdir: Option<&'static str>,
    files: &'static [Files],
    /// what to run next, with `{}` for the pack's directory
    next: &'static [&'static str],
}

const PACKS: &[Pack] = &[
    Pack {
        name: "basic",
        about: "a Website operator: Deployment, Services, status, simulate and e2e (docs/katalog.md §9.1)",
        subdir: None,
        files: &[BASIC_EXAMPLE, BASIC_README],
        next: &[
            "ork validate -f {}/katalog.yaml",
            "ork simulate -f {}/simulate.yaml",
            "ork e2e {}/e2e.yaml --local",
        ],
    },
    Pack {
        name: "security",
        about: "the security suite: six e2e scenarios, one per layer (docs/security.md §4)",
        subdir: Some("security"),
        files: &[SECURITY],
        next: &[
            "ork validate -f {}/pod-security/katalog.yaml",
            "ork scan {}",
            "ork e2e {} --local",
        ],
    },
];

fn files(p: &Pack) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    p.files.iter().flat_map(|f| f.iter())
}

pub fn run(a: &Args) -> u8 {
    if a.list {
        for p in PACKS {
            println!("{:10} {}", p.name, p.about);
        }
        return exit::OK;
    }
    let Some(pack) = PACKS.iter().find(|p| p.name == a.pack) else {
        eprintln!(
            "unknown pack {:?}; available: {}",
            a.pack,
            PACKS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        );
        return exit::USAGE;
    };
    let root = match pack.subdir {
        Some(s) => a.dir.join(s),
        None => a.dir.clone(),
    };
    let existing: Vec<PathBuf> = files(pack)
        .map(|(f, _)| root.join(f))
        .filter(|p| p.exists())
        .collect();
    if !existing.is_empty() && !a.force {
        eprintln!("these files exist (use --force to overwrite; nothing was written):");
        for p in existing {
            eprintln!("  {}", p.display());
        }
        return exit::NEGATIVE;
    }
    for (name, body) in files(pack) {
        let p = root.join(name);
        if let Err(e) = write(&p, body) {
            eprintln!("{}: {e}", p.display());
            return exit::NEGATIVE;
        }
        println!("wrote {}", p.display());
    }
    println!("next:");
    for step in pack.next {
        println!("  {}", step.replace("{}", &root.display().to_string()));
    }
    exit::OK
}

fn write(p: &Path, body: &str) -> std::io::Result<()> {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(p, body)
}
