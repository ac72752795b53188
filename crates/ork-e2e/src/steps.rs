//! One attempt of each check (docs/e2e.md §2): a step, a resource check or a command. The
//! scenario loop retries; here every attempt says passed, retry (with the last observed value)
//! or failed for good (a request that changed state although `denied` was expected).

use std::time::Duration;

use ork_scenario::{
    Action, Command, Identity, ObjectRef, PatchBody, RequestOpts, ResourceCheck, Step, Verdict,
};
use serde_json::{Value, json};

use crate::api::{Api, JSON, JSON_PATCH, MERGE, Outcome, e};
use crate::install::Install;

/// One attempt's result.
pub enum Attempt {
    Passed {
        observed: Option<Verdict>,
        message: String,
    },
    /// try again; the message is the last observed value
    Retry {
        observed: Option<Verdict>,
        message: String,
    },
    /// no retry can help
    Failed {
        observed: Option<Verdict>,
        message: String,
    },
}

/// Where a step runs: the scenario namespace and ork's components.
pub struct Ctx<'a> {
    pub api: &'a Api,
    pub namespace: &'a str,
    pub install: &'a mut Install,
    /// byte offset of the Gateway's audit output when the expectation began
    pub audit_from: u64,
    pub dir: &'a std::path::Path,
    pub limits: &'a ork_limits::Limits,
}

fn who(i: &Option<Identity>) -> String {
    match i {
        Some(i) if i.groups.is_empty() => format!(" as {}", i.user),
        Some(i) => format!(" as {} ({})", i.user, i.groups.join(", ")),
        None => String::new(),
    }
}

fn ns_of<'a>(o: &'a Option<String>, default: &'a str) -> &'a str {
    o.as_deref().unwrap_or(default)
}

/// `App default/demo`; without a namespace in the file just `App demo` (the scenario's own
/// namespace, or a cluster-scoped object: the scope is not known before discovery).
fn target(t: &ObjectRef) -> String {
    let name = t.name.as_deref().unwrap_or("*");
    match &t.namespace {
        Some(n) => format!("{} {n}/{name}", t.kind),
        None => format!("{} {name}", t.kind),
    }
}

/// The progress text of a step: `delete App default/demo as dev (dry-run) denied`.
pub fn describe(step: &Step, ns: &str) -> (String, String) {
    let req = |verb: &str, what: String, o: &RequestOpts| {
        format!(
            "{verb} {what}{}{} {}",
            who(&o.identity),
            if o.dry_run { " (dry-run)" } else { "" },
            o.expect.as_str()
        )
    };
    match &step.action {
        Action::Apply { file, opts } => (
            "apply".into(),
            req(
                "apply",
                file.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                opts,
            ),
        ),
        Action::Delete { target: t, opts } => ("delete".into(), req("delete", target(t), opts)),
        Action::Patch {
            target: t,
            subresource,
            opts,
            ..
        } => (
            "patch".into(),
            req(
                "patch",
                format!(
                    "{}{}",
                    target(t),
                    subresource
                        .as_ref()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default()
                ),
                opts,
            ),
        ),
        Action::Exec {
            pod,
            namespace,
            subresource,
            opts,
            ..
        } => (
            "exec".into(),
            req(
                subresource,
                format!("Pod {}/{pod}", ns_of(namespace, ns)),
                opts,
            ),
        ),
        Action::CanI {
            verb,
            resource,
            group,
            subresource,
            namespace,
            identity,
            expect,
            ..
        } => (
            "canI".into(),
            format!(
                "can{} {verb} {resource}{}{} in {}: {}",
                who(identity),
                if group.is_empty() {
                    String::new()
                } else {
                    format!(".{group}")
                },
                subresource
                    .as_ref()
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default(),
                namespace.as_deref().unwrap_or("the cluster"),
                if *expect { "yes" } else { "no" }
            ),
        ),
        Action::Assert {
            target: t, absent, ..
        } => (
            "assert".into(),
            format!(
                "assert {}{}",
                target(t),
                if *absent { " absent" } else { "" }
            ),
        ),
        Action::Scale {
            component,
            replicas,
        } => (
            "scale".into(),
            format!("scale {} to {replicas}", component.as_str()),
        ),
        Action::Audit {
            webhook,
            decision,
            name,
            ..
        } => (
            "audit".into(),
            format!(
                "audit {} {} {}",
                webhook.as_deref().unwrap_or("*"),
                decision.as_deref().unwrap_or("*"),
                name.as_deref().unwrap_or("*")
            ),
        ),
    }
}

/// Compares a request's outcome with `expect`: a success although `denied` was expected is
/// final (state changed), every other mismatch is retried.
fn judge(outcome: Outcome, opts: &RequestOpts, warnings: &[String]) -> Attempt {
    let (observed, message) = match outcome {
        Outcome::Allowed => (Verdict::Allowed, warnings.join("; ")),
        Outcome::Denied(m) => (Verdict::Denied, m),
        Outcome::Error(m) => {
            return Attempt::Retry {
                observed: None,
                message: format!("step error (neither allowed nor denied): {m}"),
            };
        }
    };
    if observed != opts.expect {
        let msg = format!(
            "expected {}, was {}: {message}",
            opts.expect.as_str(),
            observed.as_str()
        );
        return if observed == Verdict::Allowed && !opts.dry_run {
            Attempt::Failed {
                observed: Some(observed),
                message: msg,
            }
        } else {
            Attempt::Retry {
                observed: Some(observed),
                message: msg,
            }
        };
    }
    if let Some(want) = &opts.message_contains {
        let haystack = if observed == Verdict::Allowed {
            warnings.join("\n")
        } else {
            message.clone()
        };
        if !haystack.contains(want.as_str()) {
            return Attempt::Retry {
                observed: Some(observed),
                message: format!(
                    "{} but the message does not contain {want:?}: {haystack}",
                    observed.as_str()
                ),
            };
        }
    }
    Attempt::Passed {
        observed: Some(observed),
        message,
    }
}

fn with_dry_run(path: String, dry: bool) -> String {
    if !dry {
        return path;
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}dryRun=All")
}

pub async fn attempt(step: &Step, cx: &mut Ctx<'_>) -> Attempt {
    match run(step, cx).await {
        Ok(a) => a,
        Err(m) => Attempt::Retry {
            observed: None,
            message: m,
        },
    }
}

async fn run(step: &Step, cx: &mut Ctx<'_>) -> Result<Attempt, String> {
    let api = cx.api;
    let ns = cx.namespace;
    Ok(match &step.action {
        Action::Apply { file, opts } => {
            let objs = ork_scenario::read_objects(file, cx.limits)?;
            let mut last = Attempt::Passed {
                observed: Some(Verdict::Allowed),
                message: String::new(),
            };
            for o in &objs {
                let a = api
                    .apply(o, ns, opts.identity.as_ref(), opts.dry_run)
                    .await?;
                last = judge(a.outcome(), opts, &a.warnings);
                if !matches!(last, Attempt::Passed { .. }) {
                    break;
                }
            }
            last
        }
        Action::Delete { target, opts } => {
            let r = api.resolve(&target.kind).await?;
            let name = target.name.as_deref().unwrap_or_default();
            let path = with_dry_run(r.object(ns_of(&target.namespace, ns), name), opts.dry_run);
            let a = api
                .send("DELETE", &path, None, opts.identity.as_ref())
                .await?;
            judge(a.outcome(), opts, &a.warnings)
        }
        Action::Patch {
            target,
            subresource,
            body,
            opts,
        } => {
            let r = api.resolve(&target.kind).await?;
            let name = target.name.as_deref().unwrap_or_default();
            let mut path = r.object(ns_of(&target.namespace, ns), name);
            if let Some(s) = subresource {
                path = format!("{path}/{s}");
            }
            let path = with_dry_run(path, opts.dry_run);
            let (ct, bytes) = match body {
                PatchBody::Merge(v) => (MERGE, v.to_string().into_bytes()),
                PatchBody::Json(v) => (JSON_PATCH, v.to_string().into_bytes()),
            };
            let a = api
                .send("PATCH", &path, Some((ct, bytes)), opts.identity.as_ref())
                .await?;
            judge(a.outcome(), opts, &a.warnings)
        }
        Action::Exec {
            pod,
            namespace,
            container,
            command,
            subresource,
            opts,
        } => {
            let mut q = String::from("stdout=true&stderr=true");
            for c in command {
                q.push_str(&format!("&command={}", url_escape(c)));
            }
            if let Some(c) = container {
                q.push_str(&format!("&container={}", url_escape(c)));
            }
            let path = format!(
                "/api/v1/namespaces/{}/pods/{pod}/{subresource}?{q}",
                ns_of(namespace, ns)
            );
            let a = api
                .send("POST", &path, None, opts.identity.as_ref())
                .await?;
            // admission runs before the API server looks for the pod's node; a pod that was
            // admitted but has no node (this control plane runs no kubelet) was allowed
            let outcome = match a.outcome() {
                Outcome::Error(m) if a.status != 404 && no_node(&m) => Outcome::Allowed,
                o => o,
            };
            judge(outcome, opts, &a.warnings)
        }
        Action::CanI {
            verb,
            resource,
            group,
            subresource,
            namespace,
            name,
            identity,
            expect,
        } => {
            let mut attrs = json!({"verb": verb, "resource": resource, "group": group});
            if let Some(s) = subresource {
                attrs["subresource"] = json!(s);
            }
            if let Some(n) = namespace {
                attrs["namespace"] = json!(n);
            }
            if let Some(n) = name {
                attrs["name"] = json!(n);
            }
            let (path, body) = match identity {
                Some(i) => (
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                        "spec": {"user": i.user, "groups": groups_with_authenticated(&i.groups), "resourceAttributes": attrs}}),
                ),
                None => (
                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                        "spec": {"resourceAttributes": attrs}}),
                ),
            };
            let a = api
                .send(
                    "POST",
                    path,
                    Some((JSON, body.to_string().into_bytes())),
                    None,
                )
                .await?;
            if !a.ok() {
                return Err(format!("SubjectAccessReview: {} {}", a.status, a.message()));
            }
            let allowed = a.body["status"]["allowed"].as_bool().unwrap_or(false);
            let reason = a.body["status"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            // a SubjectAccessReview's answer is the verdict `ork simulate` compares with
            let observed = Some(if allowed {
                Verdict::Allowed
            } else {
                Verdict::Denied
            });
            if allowed == *expect {
                Attempt::Passed {
                    observed,
                    message: reason,
                }
            } else {
                Attempt::Retry {
                    observed,
                    message: format!(
                        "allowed = {allowed}, expected {}: {reason}",
                        if *expect { "yes" } else { "no" }
                    ),
                }
            }
        }
        Action::Assert {
            target,
            fields,
            absent,
        } => {
            let r = api.resolve(&target.kind).await?;
            let name = target.name.as_deref().unwrap_or_default();
            let obj = api
                .get(&r.object(ns_of(&target.namespace, ns), name))
                .await?;
            match (obj, absent) {
                (None, true) => Attempt::Passed {
                    observed: None,
                    message: "absent".into(),
                },
                (Some(_), true) => Attempt::Retry {
                    observed: None,
                    message: "the object exists".into(),
                },
                (None, false) => Attempt::Retry {
                    observed: None,
                    message: "not found".into(),
                },
                (Some(o), false) => {
                    let mut bad = Vec::new();
                    for (p, want) in fields {
                        let segs = ork_scenario::path::parse(p)?;
                        let got = ork_scenario::path::lookup(&o, &segs);
                        if !ork_scenario::path::matches(got, want) {
                            bad.push(format!("{p} = {} (want {})", shown(got), shown(Some(want))));
                        }
                    }
                    if bad.is_empty() {
                        Attempt::Passed {
                            observed: None,
                            message: String::new(),
                        }
                    } else {
                        Attempt::Retry {
                            observed: None,
                            message: bad.join("; "),
                        }
                    }
                }
            }
        }
        Action::Scale {
            component,
            replicas,
        } => match cx.install.scale(api, *component, *replicas).await {
            Ok(()) => Attempt::Passed {
                observed: None,
                message: String::new(),
            },
            Err(m) => Attempt::Failed {
                observed: None,
                message: m,
            },
        },
        Action::Audit {
            webhook,
            decision,
            operation,
            kind,
            namespace,
            name,
            count,
        } => {
            let lines = audit_lines(&cx.install.audit_file(), cx.audit_from);
            let hits = lines
                .iter()
                .filter(|l| {
                    let eq = |k: &str, want: &Option<String>| {
                        want.as_ref()
                            .is_none_or(|w| l[k].as_str() == Some(w.as_str()))
                    };
                    eq("webhook", webhook)
                        && eq("decision", decision)
                        && eq("operation", operation)
                        && eq("namespace", namespace)
                        && eq("name", name)
                        && kind.as_ref().is_none_or(|k| {
                            let full = l["kind"].as_str().unwrap_or_default();
                            full == k || full.rsplit('/').next() == Some(k.as_str())
                        })
                })
                .count() as u64;
            let ok = match count {
                Some(n) => hits == *n,
                None => hits > 0,
            };
            let message = format!(
                "{hits} matching audit lines of {} since the entry began",
                lines.len()
            );
            if ok {
                Attempt::Passed {
                    observed: None,
                    message,
                }
            } else {
                Attempt::Retry {
                    observed: None,
                    message,
                }
            }
        }
    })
}

fn groups_with_authenticated(groups: &[String]) -> Vec<String> {
    let mut g = groups.to_vec();
    if !g.iter().any(|x| x == "system:authenticated") {
        g.push("system:authenticated".into());
    }
    g
}

fn no_node(m: &str) -> bool {
    m.contains("does not have a host assigned")
        || m.contains("no kubelet")
        || m.contains("dial tcp")
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn shown(v: Option<&Value>) -> String {
    match v {
        None => "<missing>".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v) => v.to_string(),
    }
}

/// The Gateway's audit lines (JSON with `"log":"audit"`) written after byte `from`.
pub fn audit_lines(file: &std::path::Path, from: u64) -> Vec<Value> {
    let Ok(bytes) = std::fs::read(file) else {
        return Vec::new();
    };
    let from = usize::try_from(from).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..])
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["log"] == "audit")
        .collect()
}

/// One attempt of a resource check: the selected objects, their count and readiness.
pub async fn resource(api: &Api, r: &ResourceCheck, ns: &str) -> Result<Option<String>, String> {
    let res = api.resolve(&r.kind).await?;
    let ns = r.namespace.as_deref().unwrap_or(ns);
    let objs: Vec<Value> = match &r.name {
        Some(n) => api.get(&res.object(ns, n)).await?.into_iter().collect(),
        None => {
            let sel: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let path = format!(
                "{}?labelSelector={}",
                res.collection(ns),
                url_escape(&sel.join(","))
            );
            api.get(&path)
                .await?
                .and_then(|l| l["items"].as_array().cloned())
                .unwrap_or_default()
        }
    };
    let n = objs.len() as u64;
    if let Some(want) = r.count {
        if n != want {
            return Ok(Some(format!("{n} found, want {want}")));
        }
    } else if n == 0 {
        return Ok(Some("none found".into()));
    }
    if r.ready {
        for o in &objs {
            if !ready(&res.kind, o) {
                return Ok(Some(format!(
                    "{} is not ready: {}",
                    o["metadata"]["name"].as_str().unwrap_or_default(),
                    o.get("status")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "no status".into())
                )));
            }
        }
    }
    Ok(None)
}

/// Readiness as docs/e2e.md §2 defines it.
pub fn ready(kind: &str, o: &Value) -> bool {
    let st = &o["status"];
    let cond = |t: &str| {
        st["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    match kind {
        "Deployment" | "StatefulSet" => {
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            st["updatedReplicas"].as_i64().unwrap_or(0) == want
                && st["availableReplicas"].as_i64().unwrap_or(0) == want
        }
        "Job" => cond("Complete"),
        "Pod" => cond("Ready"),
        _ => {
            st["conditions"]
                .as_array()
                .is_none_or(|c| !c.iter().any(|c| c["type"] == "Ready"))
                || cond("Ready")
        }
    }
}

/// One attempt of a command: `sh -c` in the scenario directory with KUBECONFIG set.
pub async fn command(
    c: &Command,
    dir: &std::path::Path,
    kubeconfig: &std::path::Path,
) -> Result<Option<String>, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&c.command)
            .current_dir(dir)
            .env("KUBECONFIG", kubeconfig)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "the command ran longer than 60 s".to_string())?
    .map_err(e)?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let code = i64::from(out.status.code().unwrap_or(-1));
    Ok(c.failure(code, text.trim()))
}
