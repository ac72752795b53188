//! `ork rbac who-can` and `ork rbac audit` (cli.md §14): offline over YAML.

use std::path::PathBuf;

use ork_policy::checks::{self, Context, Severity};
use ork_policy::rbac::{Rbac, Request, who_can};
use serde_json::{Value, json};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// the subjects that can VERB RESOURCE, each with the binding chain that grants it
    WhoCan(WhoCan),
    /// risky grants: wildcards, escalate/bind/impersonate, cluster-wide Secret reads, …
    Audit(Audit),
}

#[derive(clap::Args, Debug)]
struct WhoCan {
    /// get, list, create, …
    verb: String,
    /// resource[.group][/subresource]: secrets, deployments.apps, pods/exec
    resource: String,
    /// RBAC YAML files or directories (repeatable, comma lists)
    #[arg(short = 'f', long = "file", value_delimiter = ',', required = true)]
    files: Vec<PathBuf>,
    /// the namespace asked about (default: anywhere)
    #[arg(short, long)]
    namespace: Option<String>,
    /// a resource name (resourceNames rules match only with it)
    #[arg(long)]
    name: Option<String>,
    /// exit 1 when anybody can
    #[arg(long)]
    expect_none: bool,
    /// text | json
    #[arg(short, long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

#[derive(clap::Args, Debug)]
struct Audit {
    /// RBAC YAML files or directories (repeatable, comma lists)
    #[arg(short = 'f', long = "file", value_delimiter = ',', required = true)]
    files: Vec<PathBuf>,
    /// low | medium | high | critical
    #[arg(long, default_value = "low")]
    min_severity: String,
    /// text | json
    #[arg(short, long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

pub fn run(a: &Args) -> u8 {
    match &a.action {
        Action::WhoCan(w) => who(w),
        Action::Audit(au) => audit(au),
    }
}

fn load(files: &[PathBuf]) -> Result<Vec<ork_scan::Loaded>, u8> {
    ork_scan::load(files, &ork_scan::Options::default()).map_err(|e| {
        eprintln!("ork rbac: {e}");
        exit::USAGE
    })
}

fn who(w: &WhoCan) -> u8 {
    let objects = match load(&w.files) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let rbac = Rbac::from_objects(objects.iter().map(|o| &o.value));
    let req = Request::parse(&w.verb, &w.resource, w.name.as_deref());
    let grants = who_can(&rbac, &req, w.namespace.as_deref());
    if w.output == "json" {
        let v: Vec<Value> = grants
            .iter()
            .map(|g| json!({"subject": g.subject.to_string(), "scope": g.scope, "via": g.via}))
            .collect();
        println!(
            "{}",
            json!({"verb": w.verb, "resource": w.resource, "namespace": w.namespace, "subjects": v})
        );
    } else if grants.is_empty() {
        println!("nobody can {} {}", w.verb, w.resource);
    } else {
        let width = grants
            .iter()
            .map(|g| g.subject.to_string().len())
            .max()
            .unwrap_or(7)
            .max(7);
        let swidth = grants
            .iter()
            .map(|g| g.scope.len())
            .max()
            .unwrap_or(5)
            .max(5);
        println!("{:width$}  {:swidth$}  VIA", "SUBJECT", "SCOPE");
        for g in &grants {
            println!(
                "{:width$}  {:swidth$}  {}",
                g.subject.to_string(),
                g.scope,
                g.via
            );
        }
    }
    for b in rbac.bindings.iter().filter(|b| rbac.role_of(b).is_none()) {
        eprintln!(
            "note: {} references {}, which is not in the input (built-in roles are not known offline)",
            b.label(),
            b.role_label()
        );
    }
    eprintln!("note: members of system:masters bypass RBAC and can do everything");
    if w.expect_none && !grants.is_empty() {
        exit::NEGATIVE
    } else {
        exit::OK
    }
}

/// A finding of the RBAC checks, attributed to each subject bound to the role.
struct AuditFinding {
    check: &'static str,
    severity: Severity,
    subject: String,
    path: String,
    message: String,
    file: String,
    line: u32,
}

fn audit(au: &Audit) -> u8 {
    let Some(min) = Severity::parse(&au.min_severity) else {
        eprintln!(
            "--min-severity {:?}: use low, medium, high or critical",
            au.min_severity
        );
        return exit::USAGE;
    };
    let objects = match load(&au.files) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let rbac = Rbac::from_objects(objects.iter().map(|o| &o.value));
    let mut findings = Vec::new();
    for o in &objects {
        let kind = o.value.get("kind").and_then(Value::as_str).unwrap_or("");
        if !matches!(
            kind,
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        ) {
            continue;
        }
        let name = o
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = o
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        for f in checks::check_object(&o.value, &Context::default()) {
            if !f.check.starts_with("rbac-") || f.severity() < min {
                continue;
            }
            let role_label = if kind == "ClusterRole" {
                format!("ClusterRole {name}")
            } else {
                format!("{kind} {ns}/{name}")
            };
            let chains: Vec<(String, String)> = if kind.ends_with("Binding") {
                let b = rbac
                    .bindings
                    .iter()
                    .find(|b| b.name == name && (b.cluster || b.namespace == ns));
                let sub =
                    f.at.strip_prefix("subjects[")
                        .and_then(|r| r.strip_suffix(']'))
                        .and_then(|i| i.parse::<usize>().ok());
                match (b, sub) {
                    (Some(b), Some(i)) => b
                        .subjects
                        .get(i)
                        .map(|s| {
                            vec![(
                                s.to_string(),
                                format!("{} → {} → {}", b.label(), b.role_label(), f.at),
                            )]
                        })
                        .unwrap_or_default(),
                    _ => vec![("(binding)".into(), f.at.clone())],
                }
            } else {
                // bindings to this role, or to a ClusterRole that aggregates it
                let is_this = |r: &ork_policy::rbac::Role| {
                    r.name == name
                        && r.cluster == (kind == "ClusterRole")
                        && (r.cluster || r.namespace == ns)
                };
                let mut bound: Vec<(String, String)> = Vec::new();
                for b in &rbac.bindings {
                    // a RoleBinding grants a ClusterRole in one namespace: not a cluster-wide read
                    if f.check == "rbac-secrets-read" && !b.cluster {
                        continue;
                    }
                    let Some(r) = rbac.role_of(b) else { continue };
                    let chain = if is_this(r) {
                        format!("{} → {role_label} → {}", b.label(), f.at)
                    } else if r.cluster
                        && rbac.rules_of(r).iter().any(|(origin, _, _)| {
                            *origin == format!("ClusterRole {name} (aggregated)")
                        })
                    {
                        format!(
                            "{} → {} ← {role_label} (aggregated) → {}",
                            b.label(),
                            b.role_label(),
                            f.at
                        )
                    } else {
                        continue;
                    };
                    bound.extend(b.subjects.iter().map(|s| (s.to_string(), chain.clone())));
                }
                if bound.is_empty() {
                    vec![("(not bound)".into(), format!("{role_label} → {}", f.at))]
                } else {
                    bound
                }
            };
            for (subject, path) in chains {
                findings.push(AuditFinding {
                    check: f.check,
                    severity: f.severity(),
                    subject,
                    path,
                    message: f.message.clone(),
                    file: o.file.clone(),
                    line: o.line,
                });
            }
        }
    }
    findings.sort_by(|a, b| {
        (std::cmp::Reverse(a.severity), a.check, &a.subject, &a.path).cmp(&(
            std::cmp::Reverse(b.severity),
            b.check,
            &b.subject,
            &b.path,
        ))
    });
    if au.output == "json" {
        let v: Vec<Value> = findings
            .iter()
            .map(|f| {
                json!({"check": f.check, "severity": f.severity.as_str(), "subject": f.subject, "path": f.path, "message": f.message,
                       "remediation": checks::check(f.check).map(|c| c.remediation).unwrap_or(""), "file": f.file, "line": f.line})
            })
            .collect();
        println!("{}", json!({"findings": v}));
    } else {
        for f in &findings {
            println!("{:<9} {}  {}", f.severity.as_str(), f.check, f.subject);
            println!("          {}", f.path);
            println!(
                "          fix: {}",
                checks::check(f.check).map(|c| c.remediation).unwrap_or("")
            );
        }
        println!(
            "{} finding{}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        );
    }
    if findings.is_empty() {
        exit::OK
    } else {
        exit::NEGATIVE
    }
}
