//! `ork generate` (docs/cli.md §6): the objects that install ork for a Katalog. Offline: the
//! Katalog in, YAML out. The derivations live in `ork-generate`; this is flags, loading and
//! writing.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ork_generate::bundle::{self, Bundle};
use ork_generate::options::{BundleOptions, valid_namespace};
use ork_generate::rbac::{self, Component, Options};
use ork_io::escape_control;
use ork_katalog::Katalog;

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
    /// The webhook configurations and the guard policy the Gateway registers
    Webhooks(WebhooksArgs),
    /// The CRDs of the Katalog's entries: the crdFile normalised, or generated from apiTypes
    Crd(CrdArgs),
    /// Everything that installs ork for this Katalog
    Bundle(BundleArgs),
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

#[derive(clap::Args, Debug)]
pub struct WebhooksArgs {
    /// the Katalog (`-` reads stdin)
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    /// the operator namespace (default: ORK_NAMESPACE, else orkestra-system)
    #[arg(short = 'n', long = "namespace")]
    namespace: Option<String>,
    /// PEM CA certificates for `caBundle` (default: empty, for the Gateway to fill)
    #[arg(long = "ca-bundle")]
    ca_bundle: Option<PathBuf>,
    /// `-` (stdout) or a file
    #[arg(short = 'o', long = "output", default_value = "-")]
    output: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CrdArgs {
    /// the Katalog (`-` reads stdin)
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    /// only this entry's CRD
    #[arg(long = "crd")]
    crd: Option<String>,
    /// `-` (stdout) or a file
    #[arg(short = 'o', long = "output", default_value = "-")]
    output: PathBuf,
}

/// The options of a bundle; `ork plan` takes the same flags to override the recorded ones.
#[derive(clap::Args, Debug, Default)]
pub struct BundleFlags {
    /// the operator namespace (default: ORK_NAMESPACE, else orkestra-system)
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
    /// gateway-only mode: no runtime, the installed Katalog gets gateway.standalone
    #[arg(long = "no-runtime")]
    pub no_runtime: bool,
    /// no Gateway and no webhook configurations
    #[arg(long = "no-gateway")]
    pub no_gateway: bool,
    /// the runtime's image (default ork-runtime:<version>)
    #[arg(long = "runtime-image")]
    pub runtime_image: Option<String>,
    /// the Gateway's image (default ork-gateway:<version>)
    #[arg(long = "gateway-image")]
    pub gateway_image: Option<String>,
    /// KEY=VALUE: namespaces with this label may reach the metrics port (repeatable)
    #[arg(long = "metrics-from")]
    pub metrics_from: Vec<String>,
}

impl BundleFlags {
    /// The flags given, over `base` (the defaults, or a bundle's recorded options).
    pub fn apply(&self, base: &mut BundleOptions) {
        if let Some(ns) = &self.namespace {
            base.namespace = ns.clone();
        }
        base.no_runtime |= self.no_runtime;
        base.no_gateway |= self.no_gateway;
        if self.runtime_image.is_some() {
            base.runtime_image = self.runtime_image.clone();
        }
        if self.gateway_image.is_some() {
            base.gateway_image = self.gateway_image.clone();
        }
        if !self.metrics_from.is_empty() {
            base.metrics_from = self.metrics_from.clone();
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct BundleArgs {
    /// the Katalog (`-` reads stdin)
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    #[command(flatten)]
    flags: BundleFlags,
    /// `-` (stdout), a file, or a directory (an existing one, or a path ending in `/`) for one
    /// file per part
    #[arg(short = 'o', long = "output", default_value = "-")]
    output: PathBuf,
    /// write a Helm v3 chart into this directory instead (its default values render exactly
    /// the plain bundle)
    #[arg(long = "helm", conflicts_with = "output")]
    helm: Option<PathBuf>,
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    match &a.what {
        What::Rbac(r) => generate_rbac(r, g),
        What::Webhooks(w) => generate_webhooks(w, g),
        What::Crd(c) => generate_crd(c, g),
        What::Bundle(b) => generate_bundle(b, g),
    }
}

fn invalid(file: &Path) {
    eprintln!(
        "✗ {}: the Katalog is invalid",
        escape_control(&file.display().to_string())
    );
}

/// Loads a Katalog within the budgets; prints what `ork validate` prints for one that does
/// not load and returns `None`.
pub(crate) fn load_katalog(file: &Path, limits: &ork_limits::Limits) -> Option<Katalog> {
    let outcome = ork_katalog::load_file_with(file, limits);
    if outcome.katalog.is_none() {
        for d in &outcome.diagnostics {
            eprintln!("{d}");
        }
        invalid(file);
    }
    outcome.katalog
}

/// `-n`, else the Katalog's resolved `ORK_NAMESPACE` (the environment), else the default;
/// `None` (printed) when it is not a namespace name.
pub(crate) fn namespace_of(flag: Option<&str>, k: &Katalog) -> Option<String> {
    let ns = flag
        .map(str::to_string)
        .or_else(|| k.posture.as_ref().map(|p| p.operator_namespace.clone()))
        .unwrap_or_else(|| ork_katalog::names::DEFAULT_OPERATOR_NAMESPACE.to_string());
    if valid_namespace(&ns) {
        Some(ns)
    } else {
        eprintln!(
            "namespace {:?} is not a valid namespace name (lower-case letters, digits and '-', at most 63)",
            escape_control(&ns)
        );
        None
    }
}

/// Prints generation errors and says the Katalog cannot be installed.
fn failed(file: &Path, e: &ork_generate::Error) {
    for m in &e.0 {
        eprintln!("{}", escape_control(m));
    }
    invalid(file);
}

fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {}", escape_control(w));
    }
}

/// Writes `text` to stdout (`-`) or a file: exit 0, or 1 when it cannot be written.
fn write_output(output: &Path, text: &str) -> u8 {
    let written = if output.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    } else {
        std::fs::write(output, text.as_bytes())
    };
    match written {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!(
                "{}: cannot write: {e}",
                escape_control(&output.display().to_string())
            );
            exit::NEGATIVE
        }
    }
}

fn generate_rbac(a: &RbacArgs, g: &crate::Global) -> u8 {
    let component = match a.component.as_deref() {
        Some("runtime") => Component::Runtime,
        Some("gateway") => Component::Gateway,
        _ => Component::Both,
    };
    let Some(k) = load_katalog(&a.file, &g.limits) else {
        return exit::USAGE;
    };
    let Some(namespace) = namespace_of(a.namespace.as_deref(), &k) else {
        return exit::USAGE;
    };
    let d = match rbac::derive(
        &k,
        &Options {
            namespace,
            component,
        },
    ) {
        Ok(d) => d,
        Err(e) => {
            for d in e.diagnostics(&k) {
                eprintln!("{d}");
            }
            invalid(&a.file);
            return exit::USAGE;
        }
    };
    warn(d.warnings());
    let text: String = d.objects().iter().map(ork_yaml::to_yaml_document).collect();
    write_output(&a.output, &text)
}

fn generate_webhooks(a: &WebhooksArgs, g: &crate::Global) -> u8 {
    let ca = match &a.ca_bundle {
        None => String::new(),
        Some(path) => {
            let shown = escape_control(&path.display().to_string()).into_owned();
            let text = match ork_io::read_text(path, &g.limits) {
                Ok(t) => t.text,
                Err(e) => {
                    eprintln!("--ca-bundle {e}");
                    return exit::USAGE;
                }
            };
            if let Err(e) = ork_generate::webhooks::check_ca_bundle(&text) {
                eprintln!("--ca-bundle {shown}: {e}");
                return exit::USAGE;
            }
            text
        }
    };
    let Some(k) = load_katalog(&a.file, &g.limits) else {
        return exit::USAGE;
    };
    let Some(ns) = namespace_of(a.namespace.as_deref(), &k) else {
        return exit::USAGE;
    };
    let installed = match ork_generate::installed::install(&k, &ns, false, &g.limits) {
        Ok(i) => i,
        Err(e) => {
            failed(&a.file, &e);
            return exit::USAGE;
        }
    };
    warn(&installed.warnings);
    let objects = ork_generate::webhooks::objects(&installed.prepared, &ca);
    if objects.is_empty() {
        warn(&["the Katalog runs no Gateway (gateway.enabled, gateway.standalone or gateway.endpoint): no webhook configuration".into()]);
    }
    let text: String = objects.iter().map(ork_yaml::to_yaml_document).collect();
    write_output(&a.output, &text)
}

fn generate_crd(a: &CrdArgs, g: &crate::Global) -> u8 {
    let Some(k) = load_katalog(&a.file, &g.limits) else {
        return exit::USAGE;
    };
    match ork_generate::crd::crds(&k, a.crd.as_deref(), &g.limits) {
        Ok(crds) => {
            let text: String = crds.iter().map(ork_yaml::to_yaml_document).collect();
            write_output(&a.output, &text)
        }
        Err(e) => {
            failed(&a.file, &e);
            exit::USAGE
        }
    }
}

/// Loads the Katalog and generates its bundle with `flags` over `base` (the defaults when
/// `None`); prints why not and returns the exit code.
pub(crate) fn bundle_for(
    file: &Path,
    flags: &BundleFlags,
    base: Option<BundleOptions>,
    limits: &ork_limits::Limits,
) -> Result<Bundle, u8> {
    let Some(k) = load_katalog(file, limits) else {
        return Err(exit::USAGE);
    };
    let mut opts = match base {
        Some(b) => b,
        None => BundleOptions::new(&namespace_of(None, &k).ok_or(exit::USAGE)?),
    };
    flags.apply(&mut opts);
    if let Err(e) = opts.check() {
        eprintln!("{}", escape_control(&e));
        return Err(exit::USAGE);
    }
    match bundle::generate(&k, &opts, limits) {
        Ok(b) => Ok(b),
        Err(e) => {
            failed(file, &e);
            Err(exit::USAGE)
        }
    }
}

/// `-o DIR`: an existing directory, or a path that ends in `/`.
fn is_dir_output(p: &Path) -> bool {
    p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/')
}

/// `--helm DIR`: the chart's files, its directories created.
fn write_chart(dir: &Path, chart: &ork_generate::helm::Chart) -> u8 {
    for (rel, text) in &chart.files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            eprintln!(
                "{}: cannot create: {e}",
                escape_control(&parent.display().to_string())
            );
            return exit::NEGATIVE;
        }
        let code = write_output(&path, text);
        if code != exit::OK {
            return code;
        }
    }
    exit::OK
}

fn generate_bundle(a: &BundleArgs, g: &crate::Global) -> u8 {
    let b = match bundle_for(&a.file, &a.flags, None, &g.limits) {
        Ok(b) => b,
        Err(code) => return code,
    };
    warn(&b.warnings);
    if let Some(dir) = &a.helm {
        // the chart is derived from the same Katalog and options as the bundle just made
        let Some(k) = load_katalog(&a.file, &g.limits) else {
            return exit::USAGE;
        };
        return match ork_generate::helm::chart(&k, &b.options, &g.limits) {
            Ok(chart) => write_chart(dir, &chart),
            Err(e) => {
                failed(&a.file, &e);
                exit::USAGE
            }
        };
    }
    if a.output.as_os_str() == "-" || !is_dir_output(&a.output) {
        return write_output(&a.output, &b.to_yaml());
    }
    if let Err(e) = std::fs::create_dir_all(&a.output) {
        eprintln!(
            "{}: cannot create: {e}",
            escape_control(&a.output.display().to_string())
        );
        return exit::NEGATIVE;
    }
    // every file, an empty part included: a stale file of an earlier bundle must not survive
    for f in &b.files {
        let code = write_output(&a.output.join(f.name), &f.text());
        if code != exit::OK {
            return code;
        }
    }
    exit::OK
}
