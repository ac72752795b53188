//! `ork rbac who-can` and `ork rbac audit` (docs/cli.md §14): offline over YAML; `--cluster` reads
//! RBAC live (the only online mode of these commands).

use std::io::Write;
use std::path::PathBuf;

use ork_io::escape_control;
use ork_policy::checks::{self, Context, Severity};
use ork_policy::rbac::{
    AdmissionExempt, AdmissionWriter, Rbac, Request, admission_config_writers,
    operator_namespace_writers, who_can,
};
use serde_json::{Value, json};

use crate::{Global, exit};

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
    /// the Katalog whose `security.webhooks.breakGlassGroups`, operator namespace and Gateway
    /// Service name decide who may write admission configurations and ork's Deployments
    #[arg(long, value_name = "KATALOG")]
    katalog: Option<PathBuf>,
    /// without --katalog: a break-glass group (repeatable; default system:masters)
    #[arg(
        long = "break-glass-group",
        value_name = "GROUP",
        conflicts_with = "katalog"
    )]
    break_glass_groups: Vec<String>,
    /// low | medium | high | critical
    #[arg(long, default_value = "low")]
    min_severity: String,
    /// text | json | sarif
    #[arg(short, long, default_value = "text", value_parser = ["text", "json", "sarif"])]
    output: String,
}

pub fn run(a: &Args, g: &Global) -> u8 {
    match &a.action {
        Action::WhoCan(w) => who(w, g),
        Action::Audit(au) => audit(au, g),
    }
}

/// The objects and their RBAC index; exit 2 for input that does not load or is over budget.
fn load(input: &Input, g: &Global) -> Result<(Vec<ork_scan::Loaded>, Rbac), u8> {
    let objects = if input.cluster {
        live(input.kubeconfig.as_ref()).map_err(|e| {
            eprintln!("ork rbac --cluster: {}", escape_control(&e));
            exit::NEGATIVE
        })?
    } else {
        let opts = ork_scan::Options {
            limits: g.limits,
            ..Default::default()
        };
        let (objects, skipped) = ork_scan::load(&input.files, &opts).map_err(|e| {
            eprintln!(
                "ork rbac: {}",
                ork_io::escape_control_multiline(&e.to_string())
            );
            exit::USAGE
        })?;
        crate::report_skipped(&skipped, g.verbose);
        objects
    };
    let rbac = Rbac::from_objects(
        objects.iter().map(|o| (o.file.as_str(), &o.value)),
        &g.limits,
    )
    .map_err(|e| {
        eprintln!("ork rbac: {}", escape_control(&e.to_string()));
        exit::USAGE
    })?;
    Ok((objects, rbac))
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

fn who(w: &WhoCan, g: &Global) -> u8 {
    let (_objects, rbac) = match load(&w.input, g) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let req = Request::parse(&w.verb, &w.resource, w.name.as_deref());
    let grants = who_can(&rbac, &req, w.namespace.as_deref());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if w.output == "json" {
        let v: Vec<Value> = grants
            .iter()
            .map(|g| json!({"subject": g.subject.to_string(), "scope": g.scope, "via": g.via}))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            json!({"verb": w.verb, "resource": w.resource, "namespace": w.namespace, "subjects": v})
        );
    } else if grants.is_empty() {
        let _ = writeln!(
            out,
            "nobody can {} {}",
            escape_control(&w.verb),
            escape_control(&w.resource)
        );
    } else {
        // names come from the input: escaped before their width is measured
        let rows: Vec<[String; 3]> = grants
            .iter()
            .map(|g| {
                [
                    escape_control(&g.subject.to_string()).into_owned(),
                    escape_control(&g.scope).into_owned(),
                    escape_control(&g.via).into_owned(),
                ]
            })
            .collect();
        let width = rows.iter().map(|r| r[0].len()).max().unwrap_or(7).max(7);
        let swidth = rows.iter().map(|r| r[1].len()).max().unwrap_or(5).max(5);
        let _ = writeln!(out, "{:width$}  {:swidth$}  VIA", "SUBJECT", "SCOPE");
        for [subject, scope, via] in &rows {
            let _ = writeln!(out, "{subject:width$}  {scope:swidth$}  {via}");
        }
    }
    let _ = out.flush();
    for (i, b) in rbac.bindings().iter().enumerate() {
        if rbac.role_index_of(i).is_none() {
            eprintln!(
                "note: {} references {}, which is not in the input (built-in roles are not known offline)",
                escape_control(&b.label()),
                escape_control(&b.role_label())
            );
        }
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
/// itself, or to a ClusterRole that aggregates it. Only those bindings are visited (from the
/// index), in input order.
fn role_subjects(
    rbac: &Rbac,
    kind: &str,
    name: &str,
    ns: &str,
    f: &checks::Finding,
) -> Vec<(String, String)> {
    let cluster = kind == "ClusterRole";
    let role_label = if cluster {
        format!("ClusterRole {name}")
    } else {
        format!("{kind} {ns}/{name}")
    };
    let mut bound: Vec<(String, String)> = Vec::new();
    if let Some(this) = rbac.find_role(cluster, ns, name) {
        let mut via: Vec<usize> = rbac.bindings_of(this).to_vec();
        // a ClusterRole without rules adds nothing to the roles that aggregate it
        if cluster && !rbac.roles()[this].rules.is_empty() {
            for &agg in rbac.aggregated_by(this) {
                via.extend_from_slice(rbac.bindings_of(agg));
            }
        }
        via.sort_unstable();
        via.dedup();
        for i in via {
            let b = &rbac.bindings()[i];
            // a RoleBinding grants a ClusterRole in one namespace: not a cluster-wide read
            if f.check == "rbac-secrets-read" && !b.cluster {
                continue;
            }
            let chain = if rbac.role_index_of(i) == Some(this) {
                format!("{} → {role_label} → {}", b.label(), f.at)
            } else {
                format!(
                    "{} → {} ← {role_label} (aggregated) → {}",
                    b.label(),
                    b.role_label(),
                    f.at
                )
            };
            bound.extend(b.subjects.iter().map(|s| (s.to_string(), chain.clone())));
        }
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
    kind: &str,
    name: &str,
    ns: &str,
    f: &checks::Finding,
) -> Vec<(String, String)> {
    let b = rbac
        .find_binding(kind == "ClusterRoleBinding", ns, name)
        .map(|i| &rbac.bindings()[i]);
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

/// Who may write admission configurations without a finding: `--katalog`'s breakGlassGroups and
/// operator namespace (the posture resolver's), else `--break-glass-group`, else
/// `system:masters`, with `ORK_NAMESPACE` (default `orkestra-system`) for the Gateway and
/// `ORK_GATEWAY_SERVICE_NAME` (default `orkestra-gateway`) for its Deployment's name.
fn admission_exempt(au: &Audit, g: &Global) -> Option<AdmissionExempt> {
    if let Some(path) = &au.katalog {
        let k = super::load_prepared(path, &g.limits)?;
        return Some(AdmissionExempt {
            break_glass_groups: k.settings.break_glass_groups.clone(),
            operator_namespace: k.settings.operator_namespace.clone(),
            gateway_deployment: k.settings.gateway_service.clone(),
        });
    }
    let groups = if au.break_glass_groups.is_empty() {
        vec!["system:masters".to_string()]
    } else {
        au.break_glass_groups.clone()
    };
    Some(AdmissionExempt {
        break_glass_groups: groups,
        operator_namespace: ork_katalog::posture::process_env("ORK_NAMESPACE")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ork_katalog::names::DEFAULT_OPERATOR_NAMESPACE.to_string()),
        gateway_deployment: ork_katalog::posture::process_env("ORK_GATEWAY_SERVICE_NAME")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ork_katalog::names::DEFAULT_GATEWAY_SERVICE.to_string()),
    })
}

/// The findings only `ork rbac audit` produces, because they need the bindings (docs/security.md
/// §2.3): `rbac-admission-config-writer` — Kubernetes never runs admission on
/// ValidatingAdmissionPolicies and their bindings, so whoever can write them can delete the
/// guard's binding, then ork's webhook configurations — and `rbac-operator-namespace-writer`,
/// whoever can run Pods or change ork's workloads in its namespace, and so act as ork or stop
/// it. One finding per subject and binding, located at the binding.
fn binding_findings(
    objects: &[ork_scan::Loaded],
    rbac: &Rbac,
    exempt: &AdmissionExempt,
) -> Vec<AuditFinding> {
    let admission = admission_config_writers(rbac, exempt);
    let namespace = operator_namespace_writers(rbac, exempt);
    if admission.is_empty() && namespace.is_empty() {
        return Vec::new();
    }
    // the file and line of each binding, the first of a (kind, namespace, name) as in the index
    let mut located: std::collections::HashMap<(&str, &str, &str), (&str, u32)> =
        std::collections::HashMap::new();
    for o in objects {
        let v = &o.value;
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if matches!(kind, "ClusterRoleBinding" | "RoleBinding")
            && v.get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|a| a.starts_with("rbac.authorization.k8s.io/"))
        {
            let text = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
            let ns = if kind == "RoleBinding" {
                text("/metadata/namespace")
            } else {
                ""
            };
            located
                .entry((kind, ns, text("/metadata/name")))
                .or_insert((o.file.as_str(), o.line));
        }
    }
    let groups = exempt.break_glass_groups.join(", ");
    let finding = |check: &'static str, w: AdmissionWriter, message: &dyn Fn(&str) -> String| {
        let b = rbac.bindings().get(w.binding)?;
        let (kind, ns) = if b.cluster {
            ("ClusterRoleBinding", "")
        } else {
            ("RoleBinding", b.namespace.as_str())
        };
        let (file, line) = located
            .get(&(kind, ns, b.name.as_str()))
            .copied()
            .unwrap_or(("", 0));
        Some(AuditFinding {
            check,
            kind: kind.into(),
            name: b.name.clone(),
            severity: Severity::High,
            subject: w.subject.to_string(),
            message: format!(
                "{} can {} through {}, outside breakGlassGroups ({groups})",
                w.subject,
                message(&w.grants),
                b.label()
            ),
            path: w.path,
            file: file.to_string(),
            line,
        })
    };
    let in_group = |grants: &str| format!("{grants} ({})", ork_policy::rbac::ADMISSION_GROUP);
    let in_namespace =
        |grants: &str| format!("{grants} in ork's namespace {}", exempt.operator_namespace);
    admission
        .into_iter()
        .filter_map(|w| finding("rbac-admission-config-writer", w, &in_group))
        .chain(
            namespace
                .into_iter()
                .filter_map(|w| finding("rbac-operator-namespace-writer", w, &in_namespace)),
        )
        .collect()
}

fn audit(au: &Audit, g: &Global) -> u8 {
    let Some(min) = Severity::parse(&au.min_severity) else {
        eprintln!(
            "--min-severity {:?}: use low, medium, high or critical",
            au.min_severity
        );
        return exit::USAGE;
    };
    let Some(exempt) = admission_exempt(au, g) else {
        return exit::USAGE;
    };
    let (objects, rbac) = match load(&au.input, g) {
        Ok(o) => o,
        Err(c) => return c,
    };
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
                binding_subject(&rbac, kind, name, ns, &f)
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
    if Severity::High >= min {
        findings.extend(binding_findings(&objects, &rbac, &exempt));
    }
    findings.sort_by(|a, b| {
        (std::cmp::Reverse(a.severity), a.check, &a.subject, &a.path).cmp(&(
            std::cmp::Reverse(b.severity),
            b.check,
            &b.subject,
            &b.path,
        ))
    });
    // SARIF carries findings only; the effective permissions are for text and JSON
    let effective = || ork_policy::rbac::effective(&rbac);
    match au.output.as_str() {
        "json" => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let effective = effective();
            let _ = serde_json::to_writer(&mut out, &audit_json(&findings, &effective));
            let _ = writeln!(out);
            let _ = out.flush();
        }
        "sarif" => {
            // the scanner's SARIF writer: one format for both commands
            let located = findings
                .iter()
                .map(|f| ork_scan::Located {
                    check: f.check,
                    severity: f.severity,
                    line: f.line.max(1),
                    subject: std::sync::Arc::new(ork_scan::Subject {
                        file: f.file.as_str().into(),
                        kind: f.kind.as_str().into(),
                        namespace: None,
                        name: f.name.as_str().into(),
                    }),
                    container: None,
                    message: format!("{}: {} ({})", f.subject, f.message, f.path).into(),
                    suppressed: None,
                })
                .collect();
            let report = ork_scan::Report {
                findings: located,
                objects: objects.len(),
                ..ork_scan::Report::default()
            };
            println!("{}", ork_scan::sarif(&report, min, &[]));
        }
        _ => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let _ = write_audit_text(&mut out, &findings, &effective());
            let _ = out.flush();
        }
    }
    if findings.is_empty() {
        exit::OK
    } else {
        exit::NEGATIVE
    }
}

/// The text report: subjects, binding and role names, chains and rules come from the input, so
/// each is escaped for the terminal. Buffered: the effective permissions of a large cluster are
/// hundreds of thousands of lines.
fn write_audit_text(
    out: &mut impl Write,
    findings: &[AuditFinding],
    effective: &[(
        ork_policy::rbac::Subject,
        Vec<ork_policy::rbac::Effective<'_>>,
    )],
) -> std::io::Result<()> {
    let remediation = |id: &str| checks::check(id).map(|c| c.remediation).unwrap_or("");
    for f in findings {
        writeln!(
            out,
            "{:<9} {}  {}",
            f.severity.as_str(),
            f.check,
            escape_control(&f.subject)
        )?;
        writeln!(out, "          {}", escape_control(&f.message))?;
        writeln!(out, "          {}", escape_control(&f.path))?;
        writeln!(out, "          fix: {}", remediation(f.check))?;
    }
    writeln!(
        out,
        "{} finding{}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    )?;
    if !effective.is_empty() {
        writeln!(out, "\nEffective permissions")?;
        for (s, grants) in effective {
            writeln!(out, "  {}", escape_control(&s.to_string()))?;
            for e in grants {
                writeln!(
                    out,
                    "    {}  {}",
                    escape_control(&e.scope),
                    escape_control(&e.via)
                )?;
                for r in &e.rules {
                    let from = match r.from {
                        Some(_) => format!("   ← {}", escape_control(&r.origin())),
                        None => String::new(),
                    };
                    writeln!(
                        out,
                        "      {}{from}",
                        escape_control(&ork_policy::rbac::describe_rule(r.rule))
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The JSON report, borrowing from the findings and the input: a cluster's effective
/// permissions are hundreds of thousands of rules, which a `json!` tree would copy (1.3 GB for
/// 5,000 ClusterRoles). Fields in alphabetical order, as serde_json's map writes them.
#[derive(serde::Serialize)]
struct AuditJson<'a> {
    findings: Vec<FindingJson<'a>>,
    subjects: Vec<SubjectJson<'a>>,
}

#[derive(serde::Serialize)]
struct FindingJson<'a> {
    check: &'a str,
    file: &'a str,
    line: u32,
    message: &'a str,
    path: &'a str,
    remediation: &'a str,
    severity: &'a str,
    subject: &'a str,
}

#[derive(serde::Serialize)]
struct SubjectJson<'a> {
    grants: Vec<GrantJson<'a>>,
    subject: String,
}

#[derive(serde::Serialize)]
struct GrantJson<'a> {
    rules: Vec<RuleJson<'a>>,
    scope: &'a str,
    via: &'a str,
}

#[derive(serde::Serialize)]
struct RuleJson<'a> {
    from: Option<Aggregated<'a>>,
    rule: &'a Value,
}

/// `ClusterRole x (aggregated)`, written without building the string.
struct Aggregated<'a>(&'a str);

impl serde::Serialize for Aggregated<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("ClusterRole {} (aggregated)", self.0))
    }
}

fn audit_json<'a>(
    findings: &'a [AuditFinding],
    effective: &'a [(
        ork_policy::rbac::Subject,
        Vec<ork_policy::rbac::Effective<'a>>,
    )],
) -> AuditJson<'a> {
    AuditJson {
        findings: findings
            .iter()
            .map(|f| FindingJson {
                check: f.check,
                file: &f.file,
                line: f.line,
                message: &f.message,
                path: &f.path,
                remediation: checks::check(f.check).map_or("", |c| c.remediation),
                severity: f.severity.as_str(),
                subject: &f.subject,
            })
            .collect(),
        subjects: effective
            .iter()
            .map(|(s, grants)| SubjectJson {
                grants: grants
                    .iter()
                    .map(|e| GrantJson {
                        rules: e
                            .rules
                            .iter()
                            .map(|r| RuleJson {
                                from: r.from.map(|role| Aggregated(&role.name)),
                                rule: r.rule,
                            })
                            .collect(),
                        scope: &e.scope,
                        via: &e.via,
                    })
                    .collect(),
                subject: s.to_string(),
            })
            .collect(),
    }
}
