//! `ork validate` (docs/cli.md §3, docs/security.md §3).

use std::path::PathBuf;

use ork_generate::rbac::{Component, Derived, Options, Scope};
use ork_io::escape_control;
use ork_katalog::posture::{crd_posture, summary_lines};
use ork_katalog::{Diagnostic, Outcome, load_file_with};
use serde_json::{Value, json};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Katalog files (repeatable, comma lists; `-` reads stdin)
    #[arg(
        short = 'f',
        long = "file",
        value_delimiter = ',',
        default_value = "katalog.yaml"
    )]
    files: Vec<PathBuf>,
    /// add the derived permissions, each with the construct that needs it, and the effective
    /// configuration with the source of each value
    #[arg(long)]
    full: bool,
    /// treat warnings as errors (exit 1)
    #[arg(short = 'W', long = "deny-warnings")]
    deny_warnings: bool,
    /// text | json
    #[arg(short, long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    let mut code = exit::OK;
    let mut json_out = Vec::new();
    for f in &a.files {
        if is_e2e(f, &g.limits) {
            let (c, v) = validate_e2e(f, &g.limits, a.output == "json", g.quiet);
            code = code.max(c);
            json_out.extend(v);
            continue;
        }
        let mut outcome = load_file_with(f, &g.limits);
        let derived = derive_rbac(&mut outcome);
        let c = if outcome.unreadable {
            exit::USAGE
        } else if outcome.katalog.is_none()
            || (a.deny_warnings && outcome.warnings().next().is_some())
        {
            exit::NEGATIVE
        } else {
            exit::OK
        };
        code = code.max(c);
        if a.output == "json" {
            json_out.push(to_json(&outcome, derived.as_ref(), a.full));
        } else {
            print_text(&outcome, derived.as_ref(), a.full, g.quiet);
        }
    }
    if a.output == "json" {
        let v = if json_out.len() == 1 {
            json_out.remove(0)
        } else {
            Value::Array(json_out)
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    code
}

/// An E2E scenario file (docs/e2e.md §1): its first document says `kind: E2E`.
fn is_e2e(f: &std::path::Path, limits: &ork_limits::Limits) -> bool {
    // stdin can be read once: it is a Katalog
    if f.as_os_str() == "-" {
        return false;
    }
    let Ok(input) = ork_io::read_text(f, limits) else {
        return false; // the Katalog loader reports the unreadable file
    };
    ork_yaml::parse_stream_with(&input.text, limits)
        .ok()
        .and_then(|docs| docs.into_iter().find(|d| !d.is_null()))
        .is_some_and(|d| d.get("kind").and_then(ork_yaml::Node::as_text) == Some("E2E"))
}

/// Checks an E2E file and everything it references (imports, Katalogs, CRDs, CRs, setup and
/// step files) offline, as `ork e2e` does before its first request.
fn validate_e2e(
    f: &std::path::Path,
    limits: &ork_limits::Limits,
    json: bool,
    quiet: bool,
) -> (u8, Option<Value>) {
    let shown = escape_control(&f.display().to_string()).into_owned();
    match ork_scenario::load_paths(&[f.to_path_buf()], limits) {
        Ok(scenarios) => {
            let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
            if json {
                return (
                    exit::OK,
                    Some(
                        json!({"file": shown, "kind": "E2E", "valid": true, "scenarios": names, "diagnostics": []}),
                    ),
                );
            }
            if !quiet {
                let steps: usize = scenarios
                    .iter()
                    .flat_map(|s| &s.expect)
                    .map(|x| x.steps.len() + x.resources.len() + x.commands.len())
                    .sum();
                println!(
                    "✓ {shown}: E2E, {} scenario{} ({}), {steps} checks valid",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", ")
                );
            }
            (exit::OK, None)
        }
        Err(diags) => {
            if json {
                let d: Vec<Value> = diags.iter().map(diag_json).collect();
                return (
                    exit::NEGATIVE,
                    Some(json!({"file": shown, "kind": "E2E", "valid": false, "diagnostics": d})),
                );
            }
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("✗ {shown}: the E2E file is invalid");
            (exit::NEGATIVE, None)
        }
    }
}

/// The derived-artefacts stage (docs/security.md §2.6): the RBAC of both components for the
/// operator namespace the posture resolved. A Katalog whose RBAC would need a wildcard is
/// invalid: its errors join the diagnostics.
fn derive_rbac(o: &mut Outcome) -> Option<Derived> {
    let k = o.katalog.as_ref()?;
    let namespace = k.posture.as_ref()?.operator_namespace.clone();
    let opts = Options {
        namespace,
        component: Component::Both,
    };
    match ork_generate::rbac::derive(k, &opts) {
        Ok(d) => Some(d),
        Err(e) => {
            o.diagnostics.extend(e.diagnostics(k));
            o.katalog = None;
            None
        }
    }
}

/// `--full`: each rule next to the construct that needs it, grouped by ServiceAccount and
/// role, then the warnings of docs/security.md §2.2 and the `rbac-*` self-scan.
fn print_permissions(d: &Derived) {
    println!("permissions");
    for c in [Component::Runtime, Component::Gateway] {
        let mut rules: Vec<_> = d.rules().iter().filter(|r| r.component == c).collect();
        if rules.is_empty() {
            continue;
        }
        rules.sort_by(|a, b| (&a.scope, &a.role).cmp(&(&b.scope, &b.role)));
        println!(
            "  {}  ServiceAccount {}/{}",
            c.as_str(),
            escape_control(d.namespace()),
            c.service_account().unwrap_or_default()
        );
        let mut holder = String::new();
        for r in rules {
            if r.holder() != holder {
                holder = r.holder();
                println!("    {}", escape_control(&holder));
            }
            println!(
                "      {}  ← {}",
                escape_control(&r.describe()),
                escape_control(&r.because)
            );
        }
    }
    for w in d.warnings() {
        println!("  ⚠ warning: {}", escape_control(w));
    }
    let findings = d.self_scan();
    println!(
        "  rbac self-scan: {} finding{}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    for f in findings {
        println!(
            "    {} {} {}: {}",
            f.severity.as_str(),
            f.check,
            escape_control(&f.object),
            escape_control(&f.message)
        );
    }
}

fn permissions_json(d: &Derived) -> Value {
    let rules: Vec<Value> = d
        .rules()
        .iter()
        .map(|r| {
            let (kind, ns) = match &r.scope {
                Scope::Cluster => ("ClusterRole", None),
                Scope::Namespace(n) => ("Role", Some(n.as_str())),
            };
            json!({"component": r.component.as_str(), "kind": kind, "namespace": ns, "role": r.role,
                   "apiGroups": [r.api_group], "resources": r.resources, "verbs": r.verbs,
                   "resourceNames": r.resource_names, "reason": r.because})
        })
        .collect();
    rules.into()
}

fn print_text(o: &Outcome, derived: Option<&Derived>, full: bool, quiet: bool) {
    if let Some(k) = &o.katalog
        && let Some(r) = &k.posture
        && !quiet
    {
        let [l1, l2] = summary_lines(r);
        println!("security  {}", escape_control(&l1));
        println!("          {}", escape_control(&l2));
        let mut crds: Vec<&ork_katalog::Crd> = k.crds.iter().collect();
        crds.sort_by(|a, b| a.name.cmp(&b.name));
        let width = crds.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in crds {
            let p = crd_posture(c, r);
            let mark = if p.warning.is_some() { "⚠" } else { "✓" };
            let scope = if c.api.namespaced {
                "Namespaced"
            } else {
                "Cluster"
            };
            let disabled = if c.entry.enabled { "" } else { " · disabled" };
            println!(
                "{mark} {:width$}  {} {}/{} · plural {} · {scope}{disabled}",
                escape_control(&c.name),
                escape_control(&c.api.kind),
                escape_control(&c.api.crd_name()),
                escape_control(&c.api.version),
                escape_control(&c.api.plural)
            );
            let pad = " ".repeat(width + 4);
            println!("{pad}{}", escape_control(&p.label));
            let (allow, deny) = (c.allowed_namespaces(), c.restricted_namespaces());
            if !allow.is_empty() || !deny.is_empty() {
                println!(
                    "{pad}namespaces: allow [{}] · deny [{}]",
                    escape_control(&allow.join(", ")),
                    escape_control(&deny.join(", "))
                );
            }
            if let Some(w) = &p.warning {
                println!("{pad}⚠ warning: {}", escape_control(w));
            }
            if let Some(d) = &c.entry.description {
                println!("{pad}{}", escape_control(d));
            }
        }
        if full {
            if let Some(d) = derived {
                print_permissions(d);
            }
            println!("configuration");
            for s in &r.settings {
                println!(
                    "  {:48} {:24} ({:?})",
                    s.key,
                    escape_control(&s.value),
                    s.source
                );
            }
        }
    }
    for d in &o.diagnostics {
        eprintln!("{d}");
    }
    match &o.katalog {
        Some(k) => {
            let n = k.crds.len();
            let w = o.warnings().count();
            println!(
                "{n} CRD{} valid (0 built-in, {n} custom), {w} warning{}",
                if n == 1 { "" } else { "s" },
                if w == 1 { "" } else { "s" }
            );
        }
        None => {
            let e = o.errors().count();
            let file = o
                .diagnostics
                .first()
                .map(|d| d.file.as_str())
                .unwrap_or("katalog");
            eprintln!(
                "✗ {}: {e} error{}",
                escape_control(file),
                if e == 1 { "" } else { "s" }
            );
        }
    }
}

fn diag_json(d: &Diagnostic) -> Value {
    json!({"file": d.file, "line": d.line, "column": d.column, "path": d.path, "message": d.message, "hint": d.hint})
}

fn to_json(o: &Outcome, derived: Option<&Derived>, full: bool) -> Value {
    let errors: Vec<Value> = o.errors().map(diag_json).collect();
    let warnings: Vec<Value> = o.warnings().map(diag_json).collect();
    let (Some(k), Some(r)) = (
        &o.katalog,
        o.katalog.as_ref().and_then(|k| k.posture.as_ref()),
    ) else {
        return json!({"katalog": null, "crds": [], "warnings": warnings, "errors": errors});
    };
    let crds: Vec<Value> = k
        .crds
        .iter()
        .map(|c| {
            let p = crd_posture(c, r);
            let crd_warnings: Vec<Value> = o.warnings().filter(|d| d.path.starts_with(&c.path)).map(diag_json).collect();
            json!({"name": c.name, "kind": c.api.kind, "group": c.api.group, "version": c.api.version, "plural": c.api.plural,
                   "scope": if c.api.namespaced { "Namespaced" } else { "Cluster" }, "protection": p.protection, "strict": p.strict,
                   "warnings": crd_warnings})
        })
        .collect();
    let mut out =
        json!({"katalog": k.metadata.name, "crds": crds, "warnings": warnings, "errors": errors});
    if full {
        if let Some(d) = derived {
            out["permissions"] = permissions_json(d);
            out["permissionWarnings"] = json!(d.warnings());
            out["rbacFindings"] = d
                .self_scan()
                .iter()
                .map(|f| json!({"object": f.object, "check": f.check, "severity": f.severity.as_str(), "message": f.message}))
                .collect();
        }
        out["config"] = serde_json::to_value(&r.settings).unwrap_or(Value::Null);
    }
    out
}
