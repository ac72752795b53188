//! `ork rbac who-can` and `ork rbac audit` (cli.md §14): offline over YAML; `--cluster` reads
//! RBAC live (the only online mode of these commands).

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
    /// risky grants and each subject's effective permissions
    Audit(Audit),
}

/// Where the RBAC objects come from.
#[derive(clap::Args, Debug)]
struct Input {
    /// RBAC YAML files or directories (repeatable, comma lists)
    #[arg(
        short = 'f',
        long = "file",
        value_delimiter = ',',
        required_unless_present = "cluster"
    )]
    files: Vec<PathBuf>,
    /// read RBAC live from the cluster instead (the only online mode of these commands)
    #[arg(long)]
    cluster: bool,
    /// with --cluster: this kubeconfig instead of KUBECONFIG / ~/.kube/config
    #[arg(long, requires = "cluster")]
    kubeconfig: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct WhoCan {
    /// get, list, create, …
    verb: String,
    /// resource[.group][/subresource]: secrets, deployments.apps, pods/exec
    resource: String,
    #[command(flatten)]
    input: Input,
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
    #[command(flatten)]
    input: Input,
    /// low | medium | high | critical
    #[arg(long, default_value = "low")]
    min_severity: String,
    /// text | json | sarif
    #[arg(short, long, default_value = "text", value_parser = ["text", "json", "sarif"])]
    output: String,
}

pub fn run(a: &Args) -> u8 {
    match &a.action {
        Action::WhoCan(w) => who(w),
        Action::Audit(au) => audit(au),
    }
}

fn load(input: &Input) -> Result<Vec<ork_scan::Loaded>, u8> {
    if input.cluster {
        return live(input.kubeconfig.as_ref()).map_err(|e| {
            eprintln!("ork rbac --cluster: {e}");
            exit::NEGATIVE
        });
    }
    ork_scan::load(&input.files, &ork_scan::Options::default()).map_err(|e| {
        eprintln!("ork rbac: {e}");
        exit::USAGE
    })
}

/// Roles, ClusterRoles and their bindings, read live (`--cluster`).
fn live(kubeconfig: Option<&PathBuf>) -> Result<Vec<ork_scan::Loaded>, String> {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use kube::api::{Api, ListParams};
    fn values<T: serde::Serialize>(items: &[T]) -> Vec<ork_scan::Loaded> {
        items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .map(|value| ork_scan::Loaded {
                file: "<cluster>".into(),
                line: 0,
                value,
            })
            .collect()
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = match kubeconfig {
            Some(k) => ork_testenv::client_for(k)
                .await
                .map_err(|e| e.to_string())?,
            None => kube::Client::try_default()
                .await
                .map_err(|e| e.to_string())?,
        };
        let lp = ListParams::default();
        let mut out = values(
            &Api::<ClusterRole>::all(client.clone())
                .list(&lp)
                .await
                .map_err(|e| e.to_string())?
                .items,
        );
        out.extend(values(
            &Api::<ClusterRoleBinding>::all(client.clone())
                .list(&lp)
                .await
                .map_err(|e| e.to_string())?
                .items,
        ));
        out.extend(values(
            &Api::<Role>::all(client.clone())
                .list(&lp)
                .await
                .map_err(|e| e.to_string())?
                .items,
        ));
        out.extend(values(
            &Api::<RoleBinding>::all(client.clone())
                .list(&lp)
                .await
                .map_err(|e| e.to_string())?
                .items,
        ));
        Ok(out)
    })
}

fn who(w: &WhoCan) -> u8 {
    let objects = match load(&w.input) {
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
    kind: String,
    name: String,
    severity: Severity,
    subject: String,
    path: String,
    message: String,
    file: String,
    line: u32,
}

/// The subjects a finding on a role reaches, each with its binding chain: bindings to the role
/// itself, or to a ClusterRole that aggregates it.
fn role_subjects(
    rbac: &Rbac,
    kind: &str,
    name: &str,
    ns: &str,
    f: &checks::Finding,
) -> Vec<(String, String)> {
    let role_label = if kind == "ClusterRole" {
        format!("ClusterRole {name}")
    } else {
        format!("{kind} {ns}/{name}")
    };
    let is_this = |r: &ork_policy::rbac::Role| {
        r.name == name && r.cluster == (kind == "ClusterRole") && (r.cluster || r.namespace == ns)
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
            && rbac
                .rules_of(r)
                .iter()
                .any(|(origin, _, _)| *origin == format!("ClusterRole {name} (aggregated)"))
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
}

/// The subject a finding on a binding names (`subjects[i]`).
fn binding_subject(
    rbac: &Rbac,
    name: &str,
    ns: &str,
    f: &checks::Finding,
) -> Vec<(String, String)> {
    let b = rbac
        .bindings
        .iter()
        .find(|b| b.name == name && (b.cluster || b.namespace == ns));
    let index =
        f.at.strip_prefix("subjects[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok());
    match (b, index) {
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
}

fn audit(au: &Audit) -> u8 {
    let Some(min) = Severity::parse(&au.min_severity) else {
        eprintln!(
            "--min-severity {:?}: use low, medium, high or critical",
            au.min_severity
        );
        return exit::USAGE;
    };
    let objects = match load(&au.input) {
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
            let chains = if kind.ends_with("Binding") {
                binding_subject(&rbac, name, ns, &f)
            } else {
                role_subjects(&rbac, kind, name, ns, &f)
            };
            for (subject, path) in chains {
                findings.push(AuditFinding {
                    check: f.check,
                    kind: kind.to_string(),
                    name: name.to_string(),
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
    let remediation = |id: &str| checks::check(id).map(|c| c.remediation).unwrap_or("");
    let effective = ork_policy::rbac::effective(&rbac);
    match au.output.as_str() {
        "json" => {
            let v: Vec<Value> = findings
                .iter()
                .map(|f| {
                    json!({"check": f.check, "severity": f.severity.as_str(), "subject": f.subject, "path": f.path, "message": f.message,
                           "remediation": remediation(f.check), "file": f.file, "line": f.line})
                })
                .collect();
            let subjects: Vec<Value> = effective
                .iter()
                .map(|(s, grants)| {
                    let g: Vec<Value> = grants
                        .iter()
                        .map(|e| {
                            let rules: Vec<Value> =
                                e.rules.iter().map(|(origin, r)| json!({"rule": r, "from": (!origin.is_empty()).then_some(origin)})).collect();
                            json!({"scope": e.scope, "via": e.via, "rules": rules})
                        })
                        .collect();
                    json!({"subject": s.to_string(), "grants": g})
                })
                .collect();
            println!("{}", json!({"findings": v, "subjects": subjects}));
        }
        "sarif" => {
            // the scanner's SARIF writer: one format for both commands
            let located = findings
                .iter()
                .map(|f| ork_scan::Located {
                    check: f.check,
                    severity: f.severity,
                    file: f.file.clone(),
                    line: f.line.max(1),
                    kind: f.kind.clone(),
                    namespace: None,
                    name: f.name.clone(),
                    container: None,
                    message: format!("{}: {} ({})", f.subject, f.message, f.path),
                    remediation: remediation(f.check),
                    suppressed: None,
                })
                .collect();
            let report = ork_scan::Report {
                findings: located,
                scanned: Vec::new(),
                objects: objects.len(),
                files: 0,
                skipped_documents: 0,
            };
            println!("{}", ork_scan::sarif(&report, min, &[]));
        }
        _ => {
            for f in &findings {
                println!("{:<9} {}  {}", f.severity.as_str(), f.check, f.subject);
                println!("          {}", f.path);
                println!("          fix: {}", remediation(f.check));
            }
            println!(
                "{} finding{}",
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            );
            if !effective.is_empty() {
                println!("\nEffective permissions");
                for (s, grants) in &effective {
                    println!("  {s}");
                    for e in grants {
                        println!("    {}  {}", e.scope, e.via);
                        for (origin, r) in &e.rules {
                            let from = if origin.is_empty() {
                                String::new()
                            } else {
                                format!("   ← {origin}")
                            };
                            println!("      {}{from}", ork_policy::rbac::describe_rule(r));
                        }
                    }
                }
            }
        }
    }
    if findings.is_empty() {
        exit::OK
    } else {
        exit::NEGATIVE
    }
}
