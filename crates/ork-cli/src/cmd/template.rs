//! `ork template` (docs/cli.md §4): the children each CR produces in its first cycle.

use std::path::PathBuf;

use ork_policy::{PreparedCrd, PreparedKatalog};
use ork_render::{Options, render_cycle};
use serde_json::{Value, json};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// the Katalog
    #[arg(short = 'f', long = "file", default_value = "katalog.yaml")]
    file: PathBuf,
    /// CR file (several documents allowed; `-` reads stdin)
    #[arg(long)]
    cr: PathBuf,
    /// yaml | json
    #[arg(short, long, default_value = "yaml", value_parser = ["yaml", "json"])]
    output: String,
    /// render only this CRD entry
    #[arg(long)]
    crd: Option<String>,
    /// make uuidv4 and random* deterministic
    #[arg(long)]
    seed: Option<u64>,
    /// fix `now` (RFC 3339)
    #[arg(long)]
    now: Option<String>,
    /// print Secret data instead of `<redacted: N bytes>`
    #[arg(long)]
    show_secrets: bool,
    /// also print each CR as it stands after the cycle (finalizer, labels, annotations, status)
    #[arg(long)]
    status: bool,
}

pub fn run(a: &Args, g: &crate::Global) -> u8 {
    let Some(k) = super::load_prepared(&a.file, &g.limits) else {
        return exit::USAGE;
    };
    let now = match &a.now {
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(e) => {
                eprintln!("--now {t:?}: {e}");
                return exit::USAGE;
            }
        },
        None => None,
    };
    let (cr_name, docs) = match super::read_documents(&a.cr, &g.limits) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let cr_name = ork_io::escape_control(&cr_name).into_owned();
    let opts = Options {
        seed: a.seed,
        now,
        without_backstop: false,
    };
    if docs.is_empty() {
        eprintln!("warning: {cr_name}: no CR in this file: nothing to render");
    }
    let stamp = now
        .unwrap_or_else(chrono::Utc::now)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut code = exit::OK;
    let mut rendered: Vec<(String, String, Value)> = Vec::new();
    for (line, cr) in &docs {
        let Some(crd) = match_crd(&k, cr, a.crd.as_deref()) else {
            eprintln!(
                "{cr_name}:{line}: warning: skipping {} {}: no CRD entry of this Katalog serves it",
                ork_io::escape_control(
                    cr.get("kind").and_then(Value::as_str).unwrap_or("document")
                ),
                ork_io::escape_control(
                    cr.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            );
            continue;
        };
        let name = cr
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let outcome = render_cycle(&k, crd, cr, &opts);
        let after = if a.status {
            let mut ctx = ork_template::Ctx::with_limits(a.seed, now, g.limits);
            Some(ork_render::status::after_cycle(
                &k, crd, cr, &outcome, &stamp, &mut ctx,
            ))
        } else {
            None
        };
        match outcome {
            Ok(cycle) => {
                for w in cycle.validation.violations.iter().filter(|v| !v.denies()) {
                    eprintln!("warning: {}/{name}: {}", crd.name, w.describe());
                }
                for c in cycle.children {
                    let mut obj = c.object;
                    if !a.show_secrets {
                        redact(&mut obj);
                    }
                    rendered.push((c.entry, c.op.as_str().to_string(), obj));
                }
                match after {
                    Some(Ok(cr)) => {
                        rendered.push((format!("{}/{name}", crd.name), "status".into(), cr))
                    }
                    Some(Err(f)) => {
                        eprintln!(
                            "✗ {}/{name}: Ready=False {}: {}",
                            crd.name, f.reason, f.message
                        );
                        code = exit::NEGATIVE;
                    }
                    None => {}
                }
            }
            Err(f) if f.reason == ork_render::NOT_PERMITTED => {
                eprintln!(
                    "✗ {}/{name}: not reconciled ({}): {}",
                    crd.name, f.reason, f.message
                );
                code = exit::NEGATIVE;
            }
            Err(f) => {
                eprintln!(
                    "✗ {}/{name}: Ready=False {}: {}",
                    crd.name, f.reason, f.message
                );
                code = exit::NEGATIVE;
            }
        }
    }
    if a.output == "json" {
        let items: Vec<Value> = rendered.into_iter().map(|(_, _, o)| o).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"apiVersion": "v1", "kind": "List", "items": items})
            )
            .unwrap_or_default()
        );
    } else {
        let mut out = String::new();
        for (entry, op, obj) in rendered {
            out.push_str(&format!("---\n# {entry} {op}\n"));
            out.push_str(&ork_yaml::to_yaml_string(&obj));
        }
        print!("{out}");
    }
    code
}

fn match_crd<'a>(
    k: &'a PreparedKatalog,
    cr: &Value,
    only: Option<&str>,
) -> Option<&'a PreparedCrd> {
    let api = cr.get("apiVersion").and_then(Value::as_str)?;
    let kind = cr.get("kind").and_then(Value::as_str)?;
    let group = api.split('/').next().unwrap_or("");
    k.crds
        .iter()
        .filter(|c| c.enabled)
        .filter(|c| only.is_none_or(|o| o == c.name))
        .find(|c| c.api.kind == kind && c.api.group == group)
}

/// Secret data never reaches output unless asked for.
fn redact(obj: &mut Value) {
    if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        for v in data.values_mut() {
            let n = v.as_str().map(|s| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(|b| b.len())
                    .unwrap_or(s.len())
            });
            *v = json!(format!("<redacted: {} bytes>", n.unwrap_or(0)));
        }
    }
}
