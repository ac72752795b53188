//! `ork gate check` (docs/cli.md §12): the Gateway's answer to one request, offline, from the
//! same function the Gateway calls (`ork_policy::decide`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ork_katalog::Operation;
use ork_policy::admission::{Decision, Verdict};
use ork_policy::json::Json;
use ork_policy::{Layer, Point, PreparedKatalog, Request, User, decide};
use serde_json::{Value, json};

use crate::exit;

/// `gate check` exits 3 when nothing is denied but a rule needs cluster state.
const UNDETERMINED: u8 = 3;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<GateCmd>,
    /// `ork gate -f K` runs the Gateway; `ork gate -f K --cr OBJ` is `ork gate check`
    #[command(flatten)]
    check: CheckArgs,
    #[command(flatten)]
    serve: super::gateway::ServeArgs,
}

#[derive(clap::Subcommand, Debug)]
enum GateCmd {
    /// The admission decision for one request, offline
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// the Katalog
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    /// the object of the request (a CR, a CRD, any object; for CONNECT the target Pod);
    /// `-` reads stdin
    #[arg(long)]
    cr: Option<PathBuf>,
    /// the stored object, for UPDATE
    #[arg(long)]
    old: Option<PathBuf>,
    /// CREATE | UPDATE | DELETE | CONNECT
    #[arg(long, default_value = "CREATE", value_parser = parse_operation)]
    operation: Operation,
    /// subresource (`exec`, `attach` with CONNECT)
    #[arg(long)]
    subresource: Option<String>,
    /// the requesting user
    #[arg(long, default_value = "developer")]
    user: String,
    /// the user's groups (system:authenticated is always added)
    #[arg(long = "group")]
    groups: Vec<String>,
    /// labels of the object's namespace, K=V
    #[arg(long = "namespace-labels", value_parser = parse_label)]
    namespace_labels: Vec<(String, String)>,
    /// text | json
    #[arg(short, long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

fn parse_operation(s: &str) -> Result<Operation, String> {
    s.parse()
        .map_err(|e: ork_katalog::settings::UnknownValue| e.to_string())
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not K=V"))
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    match &a.cmd {
        Some(GateCmd::Check(c)) => check(c, g),
        None if a.check.cr.is_some() => check(&a.check, g),
        None => super::gateway::serve(&a.serve, &a.check.file, &g.limits),
    }
}

/// One object from a file: exactly one document.
fn read_object(path: &Path, g: &crate::Global) -> Result<Value, String> {
    let (name, docs) = super::read_documents(path, &g.limits)?;
    let name = ork_io::escape_control(&name);
    match docs.as_slice() {
        [(_, one)] => Ok(one.clone()),
        [] => Err(format!("{name}: no object in this file")),
        more => Err(format!(
            "{name}: {} documents; gate check decides one request, give one object",
            more.len()
        )),
    }
}

fn check(a: &CheckArgs, g: &crate::Global) -> u8 {
    let Some(cr) = a.cr.as_deref() else {
        eprintln!("ork gate check: give the object of the request: --cr OBJ.yaml");
        return exit::USAGE;
    };
    let Some(k) = super::load_prepared(&a.file, &g.limits) else {
        return exit::USAGE;
    };
    let obj = match read_object(cr, g) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let old = match a.old.as_deref().map(|p| read_object(p, g)).transpose() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    if a.operation == Operation::Update && old.is_none() {
        eprintln!("--operation UPDATE needs the stored object: --old OLD.yaml");
        return exit::USAGE;
    }
    let mut groups = a.groups.clone();
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    let resource = match resource_of(&k, &obj) {
        Some(r) => r,
        None => {
            let guess = ork_katalog::kinds::default_plural(text(&obj, "/kind"));
            eprintln!(
                "warning: {}: kind {:?} of {:?} is neither a built-in kind nor one of the Katalog's CRDs; its resource is taken to be {guess:?}",
                ork_io::escape_control(&cr.display().to_string()),
                text(&obj, "/kind"),
                text(&obj, "/apiVersion")
            );
            guess
        }
    };
    // as the API server sends it: DELETE carries the stored object only
    let (object, old_object) = match a.operation {
        Operation::Delete => (None, Some(&obj)),
        _ => (Some(&obj), old.as_ref()),
    };
    let mut req = Request::for_object(Point::Admission, a.operation, &obj, &resource);
    req.object = object.map(Json::from);
    req.old_object = old_object.map(Json::from);
    req.subresource = a.subresource.clone();
    req.user = User {
        name: a.user.clone(),
        groups,
    };
    // as kubectl and the API server do: a namespaced object written without a namespace is
    // created in `default`
    if req.namespace.is_none() {
        let namespaced = k
            .crd_for_kind(&req.group, &req.kind)
            .map(|c| c.api.namespaced)
            .or_else(|| ork_katalog::kinds::builtin_namespaced(&req.group, &req.kind))
            .unwrap_or(true);
        if namespaced {
            req.namespace = Some("default".into());
        }
    }
    req.namespace_labels = a
        .namespace_labels
        .iter()
        .cloned()
        .collect::<BTreeMap<_, _>>();
    let subject = format!("{} · {} · {}", describe(&obj), a.operation, req.user.name);
    let verdict = decide(&k, &req);
    let errors: Vec<String> = verdict.errors.iter().map(ToString::to_string).collect();
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    if a.output == "json" {
        let v = to_json(&verdict, error.as_deref());
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_text(&subject, &verdict, error.as_deref());
    }
    match verdict.decision() {
        Decision::Allow => exit::OK,
        Decision::Deny => exit::NEGATIVE,
        Decision::Undetermined => UNDETERMINED,
    }
}

fn text<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn describe(obj: &Value) -> String {
    let ns = text(obj, "/metadata/namespace");
    let name = text(obj, "/metadata/name");
    if ns.is_empty() {
        format!("{} {name}", text(obj, "/kind"))
    } else {
        format!("{} {ns}/{name}", text(obj, "/kind"))
    }
}

/// The resource of the object: a Katalog CRD's plural, else a built-in kind's.
fn resource_of(k: &PreparedKatalog, obj: &Value) -> Option<String> {
    let api = text(obj, "/apiVersion");
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    k.resource_of(group, text(obj, "/kind"))
}

fn to_json(v: &Verdict, error: Option<&str>) -> Value {
    let denials: Vec<Value> = v
        .denials
        .iter()
        .map(|d| {
            json!({"code": d.code, "layer": d.layer.as_str(), "field": d.field, "message": d.message,
                   "hint": d.hint, "checks": d.checks})
        })
        .collect();
    let skipped: Vec<Value> = v
        .skipped
        .iter()
        .map(|s| json!({"layer": s.layer.as_str(), "why": s.why}))
        .collect();
    json!({
        "decision": v.decision().as_str(),
        "code": v.code(),
        "message": v.message(),
        "patch": serde_json::to_value(&v.patch).unwrap_or(Value::Null),
        "denials": denials,
        "warnings": v.warnings,
        "notEvaluated": v.not_evaluated,
        "layers": v.evaluated.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        "skipped": skipped,
        "evaluationError": error,
    })
}

fn show(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => "(absent)".into(),
        Some(Value::String(s)) => ork_policy::redact::shown(s),
        Some(other) => ork_policy::redact::shown(&other.to_string()),
    }
}

fn print_text(subject: &str, v: &Verdict, error: Option<&str>) {
    println!("{subject}");
    let pad = |layer: &str| format!("  {layer:<14}");
    for layer in Layer::ORDER {
        let name = match layer {
            Layer::NamespaceProtection => "namespace",
            Layer::DeletionProtection => "deletion",
            Layer::ReservedKeys => "reserved",
            Layer::ExecProtection => "exec",
            other => other.as_str(),
        };
        let mut lines: Vec<String> = Vec::new();
        if layer == Layer::Mutation {
            for m in &v.mutations {
                lines.push(format!(
                    "↳ {} {} → {}   {}",
                    m.field,
                    show(&m.old),
                    show(&Some(m.new.clone())),
                    m.kind.as_str()
                ));
            }
        }
        if layer == Layer::Validation
            && let Some(o) = &v.validation
        {
            for viol in &o.violations {
                let mark = if viol.denies() { "✗" } else { "⚠" };
                lines.push(format!(
                    "{mark} {}: {} (got: {})",
                    viol.field, viol.message, viol.got
                ));
            }
            for f in &o.not_evaluated {
                lines.push(format!("? {f}: not evaluated (needs cluster state)"));
            }
            if !o.passed.is_empty() {
                let passed: Vec<String> = o.passed.iter().map(|p| format!("✓ {p}")).collect();
                lines.push(passed.join("   "));
            }
        } else {
            for d in v.denials.iter().filter(|d| d.layer == layer) {
                lines.push(format!("✗ {}: {}", d.code, d.message));
                if let Some(h) = &d.hint {
                    lines.push(format!("  hint: {h}"));
                }
            }
        }
        if lines.is_empty() {
            if v.evaluated.contains(&layer) && layer != Layer::Mutation {
                lines.push("✓".into());
            } else if let Some(s) = v.skipped.iter().find(|s| s.layer == layer) {
                lines.push(format!("– {}", s.why));
                if layer == Layer::Validation && s.why.contains("admission is off") {
                    lines.push(
                        "  the runtime still enforces the rules at reconcile time: `ork template` shows that verdict"
                            .into(),
                    );
                }
            }
        }
        for (i, l) in lines.iter().enumerate() {
            let head = if i == 0 { pad(name) } else { pad("") };
            println!("{head}{l}");
        }
    }
    for w in &v.warnings {
        println!("  ⚠ {w}");
    }
    if let Some(e) = error {
        println!("  evaluation error: {e}");
    }
    let summary = match v.decision() {
        Decision::Allow => "ALLOWED".to_string(),
        Decision::Undetermined => format!(
            "UNDETERMINED · {} rule{} not evaluated (needs cluster state)",
            v.not_evaluated.len(),
            if v.not_evaluated.len() == 1 { "" } else { "s" }
        ),
        Decision::Deny => {
            let validation = v.validation.as_ref();
            let failed =
                validation.map_or(0, |o| o.violations.iter().filter(|x| x.denies()).count());
            let total = validation.map_or(0, |o| {
                o.violations.len() + o.passed.len() + o.not_evaluated.len()
            });
            let security: Vec<&str> = v
                .denials
                .iter()
                .filter(|d| d.layer != Layer::Validation)
                .map(|d| d.code)
                .collect();
            let mut parts = Vec::new();
            if failed > 0 {
                parts.push(format!("{failed} of {total} validation rules failed"));
            }
            if !security.is_empty() {
                parts.push(security.join(", "));
            }
            format!("DENIED · {}", parts.join(" · "))
        }
    };
    println!("{summary}");
}
