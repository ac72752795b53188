//! `ork init` (docs/cli.md §9): writes an embedded example pack; never overwrites without --force.

use std::path::PathBuf;

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

const BASIC: &[(&str, &str)] = &[
    (
        "katalog.yaml",
        include_str!("../../../../examples/website/katalog.yaml"),
    ),
    (
        "crd.yaml",
        include_str!("../../../../examples/website/crd.yaml"),
    ),
    (
        "cr.yaml",
        include_str!("../../../../examples/website/cr.yaml"),
    ),
    (
        "README.md",
        "# website-operator\n\nThe Website example of docs/katalog.md §9.1.\n\n    ork validate -f katalog.yaml\n    ork template -f katalog.yaml --cr cr.yaml\n",
    ),
];

/// (file name, contents)
type Files = &'static [(&'static str, &'static str)];

const PACKS: &[(&str, &str, Files)] = &[(
    "basic",
    "a Website operator: Deployment, Services, status (docs/katalog.md §9.1)",
    BASIC,
)];

pub fn run(a: &Args) -> u8 {
    if a.list {
        for (name, about, _) in PACKS {
            println!("{name:10} {about}");
        }
        return exit::OK;
    }
    let Some((_, _, files)) = PACKS.iter().find(|(n, _, _)| *n == a.pack) else {
        eprintln!(
            "unknown pack {:?}; available: {}",
            a.pack,
            PACKS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        );
        return exit::USAGE;
    };
    let existing: Vec<PathBuf> = files
        .iter()
        .map(|(f, _)| a.dir.join(f))
        .filter(|p| p.exists())
        .collect();
    if !existing.is_empty() && !a.force {
        eprintln!("these files exist (use --force to overwrite; nothing was written):");
        for p in existing {
            eprintln!("  {}", p.display());
        }
        return exit::NEGATIVE;
    }
    if let Err(e) = std::fs::create_dir_all(&a.dir) {
        eprintln!("{}: {e}", a.dir.display());
        return exit::USAGE;
    }
    for (name, body) in *files {
        let p = a.dir.join(name);
        if let Err(e) = std::fs::write(&p, body) {
            eprintln!("{}: {e}", p.display());
            return exit::NEGATIVE;
        }
        println!("wrote {}", p.display());
    }
    println!(
        "next: ork validate -f {0}/katalog.yaml && ork template -f {0}/katalog.yaml --cr {0}/cr.yaml",
        a.dir.display()
    );
    exit::OK
}
