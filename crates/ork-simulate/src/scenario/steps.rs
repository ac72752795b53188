//! Playing the steps of an expectation: each request step through authorization and
//! admission ([`World`]), its effect kept unless it is a dry run or was refused, and the verdict
//! tied to what the step expects.

use ork_katalog::Operation;
use ork_policy::PreparedKatalog;
use ork_scenario::{
    Action, Component, Expectation, Identity, ObjectRef, Phase, RequestOpts, Step, Verdict,
};
use serde_json::json;

use super::admission::Admission;
use super::authz::Attributes;
use super::world::{Served, World, allowed_reason, api, attrs, not_found};
use super::{Outcome, StepVerdict, read, user_of};
use crate::Error;
use crate::cluster::Key;

impl World<'_> {
    /// The expectations of `phase`, in file order.
    pub(super) fn phase(
        &mut self,
        k: &PreparedKatalog,
        phase: Phase,
        out: &mut Vec<StepVerdict>,
    ) -> Result<(), Error> {
        let s = self.s;
        for e in s.expect.iter().filter(|e| e.after == phase) {
            for (i, step) in e.steps.iter().enumerate() {
                let v = self.step(k, step)?;
                out.push(self.verdict(e, Some(i), v));
            }
            for r in &e.resources {
                let what = format!(
                    "resources: {} {}{}",
                    r.kind,
                    r.namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default(),
                    r.name.as_deref().unwrap_or("*")
                );
                out.push(self.verdict(
                    e,
                    None,
                    not_simulated(what, "an observation, not a verdict"),
                ));
            }
            for c in &e.commands {
                out.push(self.verdict(
                    e,
                    None,
                    not_simulated(format!("command: {}", c.command), "commands are not run"),
                ));
            }
        }
        Ok(())
    }

    fn verdict(&self, e: &Expectation, step: Option<usize>, v: Played) -> StepVerdict {
        let judged = v.expected.filter(|_| v.verdict != Outcome::NotSimulated);
        let passed = judged.map(|want| {
            v.verdict.as_str() == want
                && v.message_contains
                    .as_deref()
                    .is_none_or(|m| v.reason.contains(m))
        });
        StepVerdict {
            scenario: self.s.name.clone(),
            expect: e.name.clone(),
            after: e.after.as_str(),
            step,
            action: v.action,
            verdict: v.verdict,
            expected: v.expected,
            reason: v.reason,
            passed,
        }
    }

    /// Plays one step.
    fn step(&mut self, k: &PreparedKatalog, step: &Step) -> Result<Played, Error> {
        let played = match &step.action {
            Action::Apply { file, opts } => {
                let objs = read(file, self.limits)?;
                let name = file
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut last = (Outcome::Allowed, String::new());
                let user = user_of(&opts.identity);
                for o in &objs {
                    let served = match self.served_object(Some(k), o) {
                        Ok(s) => s,
                        Err(m) => {
                            last = (Outcome::Error, m);
                            break;
                        }
                    };
                    let key = self.key(&served, o);
                    last = self.apply_one(k, &served, &key, o, &user, opts.dry_run)?;
                    if last.0 != Outcome::Allowed {
                        break;
                    }
                }
                request(format!("apply {name}"), opts, last)
            }
            Action::Delete { target, opts } => {
                let action = format!("delete {}", self.show(target, opts));
                let v = self.delete(k, target, opts)?;
                request(action, opts, v)
            }
            Action::Patch {
                target,
                subresource,
                body,
                opts,
            } => {
                let action = format!(
                    "patch {}{}",
                    self.show(target, opts),
                    subresource
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                );
                let v = self.patch(k, target, subresource.as_deref(), body, opts)?;
                request(action, opts, v)
            }
            Action::Exec {
                pod,
                namespace,
                container,
                command,
                subresource,
                opts,
            } => {
                let ns = namespace.clone().unwrap_or_else(|| self.ns.clone());
                let action = format!(
                    "{subresource} Pod {ns}/{pod}{}",
                    suffix(&opts.identity, opts.dry_run)
                );
                let v = self.exec(
                    k,
                    pod,
                    &ns,
                    container.as_deref(),
                    command,
                    subresource,
                    opts,
                )?;
                request(action, opts, v)
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
                let a = Attributes {
                    verb: verb.clone(),
                    group: group.clone(),
                    resource: resource.clone(),
                    subresource: subresource.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                };
                let (verdict, reason) = match self.authorize(&user_of(identity), &a)? {
                    Ok(r) => (Outcome::Allowed, r),
                    Err(m) => (Outcome::Denied, m),
                };
                let what = format!(
                    "{resource}{}{}",
                    if group.is_empty() {
                        String::new()
                    } else {
                        format!(".{group}")
                    },
                    subresource
                        .as_deref()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default()
                );
                Played {
                    action: format!(
                        "can {verb} {what} in {}{}",
                        namespace.as_deref().unwrap_or("the cluster"),
                        suffix(identity, false)
                    ),
                    verdict,
                    expected: Some(if *expect { "allowed" } else { "denied" }),
                    message_contains: None,
                    reason,
                }
            }
            Action::Assert { target, absent, .. } => not_simulated(
                format!(
                    "assert {} {}{}",
                    target.kind,
                    self.target_name(target),
                    if *absent { " absent" } else { "" }
                ),
                "object state is the runner's to check, not a verdict",
            ),
            Action::Audit { webhook, .. } => not_simulated(
                format!("audit {}", webhook.as_deref().unwrap_or("*")),
                "the Gateway's audit lines are not simulated",
            ),
            Action::Scale {
                component,
                replicas,
            } => {
                let up = *replicas > 0;
                match component {
                    Component::Gateway => self.gateway_up = up && self.gateway,
                    Component::Runtime => self.runtime_up = up,
                }
                if up {
                    self.settle(k)?;
                }
                Played {
                    action: format!("scale {} to {replicas}", component.as_str()),
                    verdict: Outcome::Applied,
                    expected: None,
                    message_contains: None,
                    reason: match (component, up) {
                        (Component::Gateway, false) => {
                            "the Gateway answers nothing: each webhook's failurePolicy decides"
                                .into()
                        }
                        (Component::Runtime, false) => "the runtime reconciles nothing".into(),
                        _ => "running".into(),
                    },
                }
            }
        };
        // an allowed change is reconciled and repaired before the next step, as the runner's
        // polling lets it be
        let changed = played.verdict == Outcome::Allowed
            && step.request().is_some_and(|o| !o.dry_run)
            && !matches!(step.action, Action::Exec { .. });
        if changed {
            self.settle(k)?;
        }
        Ok(played)
    }

    fn target_name(&self, t: &ObjectRef) -> String {
        let name = t.name.as_deref().unwrap_or("*");
        match &t.namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        }
    }

    /// `App default/demo as dev (dry-run)`
    fn show(&self, t: &ObjectRef, o: &RequestOpts) -> String {
        format!(
            "{} {}{}",
            t.kind,
            self.target_name(t),
            suffix(&o.identity, o.dry_run)
        )
    }

    fn delete(
        &mut self,
        k: &PreparedKatalog,
        target: &ObjectRef,
        opts: &RequestOpts,
    ) -> Result<(Outcome, String), Error> {
        let served = match self.served_ref(k, target) {
            Ok(s) => s,
            Err(m) => return Ok((Outcome::Error, m)),
        };
        let key = self.ref_key(&served, target);
        let user = user_of(&opts.identity);
        let why = match self.authorize(&user, &attrs("delete", &served, &key, None))? {
            Ok(r) => r,
            Err(m) => return Ok((Outcome::Denied, m)),
        };
        let Some(old) = self.cluster()?.get(&key).cloned() else {
            return Ok((Outcome::Error, not_found(&served, &key)));
        };
        let call = self.call(
            &served,
            &key,
            Operation::Delete,
            None,
            Some(old),
            &user,
            opts.dry_run,
        );
        Ok(match self.admit(k, call)? {
            Admission::Denied(m) => (Outcome::Denied, m),
            Admission::Allowed { warnings, .. } => {
                if !opts.dry_run {
                    self.c()?.delete(&key, None).map_err(api)?;
                }
                (Outcome::Allowed, allowed_reason(&why, &warnings))
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        k: &PreparedKatalog,
        pod: &str,
        ns: &str,
        container: Option<&str>,
        command: &[String],
        subresource: &str,
        opts: &RequestOpts,
    ) -> Result<(Outcome, String), Error> {
        let served = Served {
            group: String::new(),
            version: "v1".into(),
            kind: if subresource == "attach" {
                "PodAttachOptions".into()
            } else {
                "PodExecOptions".into()
            },
            resource: "pods".into(),
            namespaced: true,
        };
        let key = Key {
            group: String::new(),
            resource: "pods".into(),
            namespace: ns.to_string(),
            name: pod.to_string(),
        };
        let user = user_of(&opts.identity);
        let why = match self.authorize(&user, &attrs("create", &served, &key, Some(subresource)))? {
            Ok(r) => r,
            Err(m) => return Ok((Outcome::Denied, m)),
        };
        let Some(pod) = self.cluster()?.get(&key).cloned() else {
            return Ok((Outcome::Error, format!("pods {pod:?} not found")));
        };
        // the Pod as the Gateway reads it
        let target = ork_policy::review::exec_target(pod);
        let options = json!({"apiVersion": "v1", "kind": served.kind, "command": command,
            "container": container, "stdout": true, "stderr": true});
        let mut call = self.call(
            &served,
            &key,
            Operation::Connect,
            Some(options),
            None,
            &user,
            opts.dry_run,
        );
        call.subresource = Some(subresource.to_string());
        call.target = Some(target);
        Ok(match self.admit(k, call)? {
            Admission::Denied(m) => (Outcome::Denied, m),
            Admission::Allowed { warnings, .. } => {
                (Outcome::Allowed, allowed_reason(&why, &warnings))
            }
        })
    }
}

/// One played step before it is tied to its expectation.
struct Played {
    action: String,
    verdict: Outcome,
    expected: Option<&'static str>,
    message_contains: Option<String>,
    reason: String,
}

fn request(action: String, opts: &RequestOpts, (verdict, reason): (Outcome, String)) -> Played {
    Played {
        action,
        verdict,
        expected: Some(match opts.expect {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
        }),
        message_contains: opts.message_contains.clone(),
        reason,
    }
}

fn not_simulated(action: String, why: &str) -> Played {
    Played {
        action,
        verdict: Outcome::NotSimulated,
        expected: None,
        message_contains: None,
        reason: why.to_string(),
    }
}

/// ` as dev (system:masters) (dry-run)`
fn suffix(i: &Option<Identity>, dry_run: bool) -> String {
    let who = match i {
        Some(i) if i.groups.is_empty() => format!(" as {}", i.user),
        Some(i) => format!(" as {} ({})", i.user, i.groups.join(", ")),
        None => String::new(),
    };
    format!("{who}{}", if dry_run { " (dry-run)" } else { "" })
}
