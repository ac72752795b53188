//! `ork notes` (docs/cli.md §8): printed from the same registries the engine and loader use.

use ork_katalog::schema::{self, Ty};
use ork_template::{Ctx, FUNCS, Template};
use serde_json::{Value, json};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// a function name or a topic (break-glass, decommission, exit-codes)
    name: Option<String>,
    /// only functions of this domain
    #[arg(long)]
    domain: Option<String>,
    /// the Katalog field reference below a dotted path
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    fields: Option<String>,
    /// text | json
    #[arg(short, long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

const TOPICS: &[(&str, &str)] = &[
    (
        "break-glass",
        "A member of security.webhooks.breakGlassGroups (default system:masters) scales the Gateway to 0, which stops the\n\
         watcher that restores ork's webhook configurations, then deletes the configurations. A CR stuck on its finalizer\n\
         can be released by removing orkestra.orkspace.io/cleanup by hand.",
    ),
    (
        "decommission",
        "Set security.deletionProtection.enabled: false (or the per-CRD flags), redeploy the Gateway so it narrows or\n\
         unregisters its configurations, let the runtime drop the protection labels, then delete normally.",
    ),
    (
        "exit-codes",
        "0 success (warnings allowed)\n1 negative verdict: invalid, denied, failed, findings, render error\n\
         2 usage error, unreadable file or input that does not load\n3 gate check only: undetermined",
    ),
];

fn example_output(src: &str) -> String {
    match Template::parse(src) {
        Ok(t) => t
            .render_with(&json!({"spec": {}}), &mut Ctx::new(Some(1), None))
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

pub fn run(a: &Args) -> u8 {
    if let Some(path) = &a.fields {
        return fields(path, &a.output);
    }
    match &a.name {
        None => {
            let list: Vec<_> = FUNCS
                .iter()
                .filter(|f| a.domain.as_deref().is_none_or(|d| d == f.domain))
                .collect();
            if list.is_empty() {
                eprintln!(
                    "no functions in domain {:?}",
                    a.domain.as_deref().unwrap_or("")
                );
                return exit::NEGATIVE;
            }
            if a.output == "json" {
                let v: Vec<Value> = list.iter().map(|f| json!({"name": f.name, "domain": f.domain, "signature": f.signature, "description": f.description, "volatile": f.volatile})).collect();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                let mut domain = "";
                for f in list {
                    if f.domain != domain {
                        domain = f.domain;
                        println!("{domain}");
                    }
                    println!("  {:20} {:28} {}", f.name, f.signature, f.description);
                }
            }
            exit::OK
        }
        Some(name) => {
            if let Some(f) = ork_template::lookup(name) {
                let (ex, _) = f.example;
                let out = if ex.is_empty() {
                    String::new()
                } else {
                    example_output(ex)
                };
                if a.output == "json" {
                    println!(
                        "{}",
                        json!({"name": f.name, "domain": f.domain, "signature": f.signature, "description": f.description,
                        "volatile": f.volatile, "example": ex, "output": if f.volatile { Value::Null } else { json!(out) }})
                    );
                } else {
                    println!("{}\n  {}", f.signature, f.description);
                    if f.volatile {
                        println!(
                            "  volatile: rejected where a value is written every cycle (onReconcile, reconcile: true, status, requeue)"
                        );
                    }
                    if !ex.is_empty() {
                        println!("  example: {ex}");
                        if !f.volatile {
                            println!("        → {out}");
                        }
                    }
                }
                return exit::OK;
            }
            if let Some((_, text)) = TOPICS.iter().find(|(t, _)| t == name) {
                println!("{text}");
                return exit::OK;
            }
            let names = FUNCS
                .iter()
                .map(|f| f.name)
                .chain(TOPICS.iter().map(|(t, _)| *t));
            eprintln!("unknown function or topic {name:?}");
            if let Some(s) = ork_katalog::diag::did_you_mean(name, names) {
                eprintln!("  hint: did you mean {s:?}?");
            }
            exit::NEGATIVE
        }
    }
}

fn fields(path: &str, output: &str) -> u8 {
    let Some((fields, shown)) = schema::fields_at(path) else {
        eprintln!("no Katalog fields below {path:?}");
        return exit::NEGATIVE;
    };
    if output == "json" {
        let v: Vec<Value> = fields
            .iter()
            .map(|f| json!({"key": f.name, "type": schema::type_name(&f.ty), "default": f.default, "required": f.required, "meaning": f.doc}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"path": shown, "fields": v})).unwrap_or_default()
        );
        return exit::OK;
    }
    println!("{}", if shown.is_empty() { "Katalog" } else { &shown });
    for f in fields {
        let ty = if matches!(f.ty, Ty::Later) {
            "not supported yet".to_string()
        } else {
            schema::type_name(&f.ty).to_string()
        };
        let default = if f.required {
            "required".to_string()
        } else if f.default.is_empty() {
            String::new()
        } else {
            format!("({})", f.default)
        };
        println!("  {:28} {:20} {:24} {}", f.name, ty, default, f.doc);
    }
    exit::OK
}
