//! The CR as it stands after a cycle (docs/katalog.md §6.2 step 3, §6.4): the label manager's
//! labels and annotations, the finalizer, and the status — conditions, `observedGeneration`
//! and the Katalog's status fields. `ork template --status` prints it; the runtime patches it.

use ork_katalog::RuleAction;
use ork_katalog::StatusType;
use ork_policy::conditions::{Eval, Scope};
use ork_policy::prepared::{EXEMPTION_LABEL, PROTECTION_LABEL};
use ork_policy::{PreparedCrd, PreparedKatalog};
use ork_template::Ctx;
use serde_json::{Map, Value, json};

use crate::{Cycle, Failure, MANAGED};

pub const FINALIZER: &str = "orkestra.orkspace.io/cleanup";
pub const MANAGED_BY: &str = "orkestra.orkspace.io/managed-by";
pub const MANAGED_SINCE: &str = "orkestra.orkspace.io/managed-since";

/// `message` of a condition: at most 1024 bytes (docs/katalog.md §6.4).
const MAX_MESSAGE: usize = 1024;

pub(crate) fn cut(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_string();
    }
    let mut end = MAX_MESSAGE - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn condition(
    ty: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: &Value,
    now: &str,
) -> Value {
    json!({"type": ty, "status": if status { "True" } else { "False" }, "reason": reason,
           "message": cut(message), "observedGeneration": generation, "lastTransitionTime": now})
}

/// The CR after the cycle. `outcome` is the cycle's result; `cr` the CR as read (with its
/// pre-cycle status); `now` the RFC 3339 time stamps use. Offline, so `.children` is empty.
pub fn after_cycle(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
    cr: &Value,
    outcome: &Result<Cycle, Failure>,
    now: &str,
    ctx: &mut Ctx,
) -> Result<Value, Failure> {
    // mutations at reconcile time change only the in-memory copy: the stored spec stays as the
    // user wrote it (docs/katalog.md §7); only metadata and status are written
    let mut out = cr.clone();
    // a CR outside its permitted namespaces is not reconciled at all: nothing is written
    if matches!(outcome, Err(f) if f.reason == crate::NOT_PERMITTED) {
        return Ok(out);
    }
    if let Some(obj) = out.as_object_mut() {
        obj.insert("metadata".into(), managed_metadata(k, crd, cr, now));
    }
    if let Some(status) = status_after(k, crd, cr, outcome, &json!({}), now, ctx)? {
        obj_status(&mut out, status);
    }
    Ok(out)
}

/// The CR's metadata as the label manager leaves it (docs/katalog.md §6.2 step 3,
/// docs/security.md §2.4): the finalizer, `managed: "true"`, the protection label as the
/// Katalog says, the exemption label removed, `managed-by` corrected and `managed-since`
/// written once.
pub fn managed_metadata(k: &PreparedKatalog, crd: &PreparedCrd, cr: &Value, now: &str) -> Value {
    let mut meta = cr.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        let finalizers = meta.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(list) = finalizers.as_array_mut()
            && !list.iter().any(|f| f == FINALIZER)
        {
            list.push(json!(FINALIZER));
        }
        if let Some(labels) = meta
            .entry("labels")
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            labels.insert(MANAGED.into(), json!("true"));
            labels.remove(EXEMPTION_LABEL);
            if k.settings.dp_enabled && crd.protection.protect_crs {
                labels.insert(PROTECTION_LABEL.into(), json!("true"));
            } else {
                labels.remove(PROTECTION_LABEL);
            }
        }
        if let Some(ann) = meta
            .entry("annotations")
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            // managed-by is corrected when tampered with; managed-since is written once
            ann.insert(MANAGED_BY.into(), json!(k.name));
            ann.entry(MANAGED_SINCE).or_insert_with(|| json!(now));
        }
    }
    meta
}

/// The status after the cycle (docs/katalog.md §6.4), or `None` when the CRD keeps none.
/// `children` is the `.children` data of [`crate::children_data`]; a condition keeps its
/// `lastTransitionTime` unless its `status` flips.
pub fn status_after(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
    cr: &Value,
    outcome: &Result<Cycle, Failure>,
    children: &Value,
    now: &str,
    ctx: &mut Ctx,
) -> Result<Option<Map<String, Value>>, Failure> {
    if !crd.status_conditions && crd.status_fields.is_empty() {
        return Ok(None);
    }
    let generation = cr
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let pre_status = cr.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut status: Map<String, Value> = pre_status.as_object().cloned().unwrap_or_default();
    if crd.status_conditions {
        status.insert("observedGeneration".into(), generation.clone());
        let mut conditions = Vec::new();
        match outcome {
            Ok(_) => conditions.push(condition(
                "Ready",
                true,
                "ReconcileSucceeded",
                "",
                &generation,
                now,
            )),
            Err(f) => conditions.push(condition(
                "Ready",
                false,
                f.reason,
                &f.message,
                &generation,
                now,
            )),
        }
        let has = |a: RuleAction| crd.validation.iter().any(|r| r.action == a);
        if has(RuleAction::Deny) {
            conditions.push(match outcome {
                Err(f) if f.reason == "ValidationFailed" => condition(
                    "ValidationFailed",
                    true,
                    "DenyRuleViolation",
                    &f.message,
                    &generation,
                    now,
                ),
                // a rule that needs cluster state was not evaluated: never reported as passed
                Ok(c) if !c.validation.not_evaluated.is_empty() => {
                    let mut cond = condition(
                        "ValidationFailed",
                        false,
                        "NotEvaluated",
                        &format!(
                            "not evaluated (needs cluster state): {}",
                            c.validation.not_evaluated.join(", ")
                        ),
                        &generation,
                        now,
                    );
                    cond["status"] = json!("Unknown");
                    cond
                }
                _ => condition(
                    "ValidationFailed",
                    false,
                    "ValidationPassed",
                    "",
                    &generation,
                    now,
                ),
            });
        }
        if has(RuleAction::Warn) {
            let warned: Vec<String> = match outcome {
                Ok(c) => c
                    .validation
                    .violations
                    .iter()
                    .filter(|v| !v.denies())
                    .map(|v| v.describe())
                    .collect(),
                Err(_) => Vec::new(),
            };
            conditions.push(if warned.is_empty() {
                condition(
                    "ValidationWarning",
                    false,
                    "NoWarnings",
                    "",
                    &generation,
                    now,
                )
            } else {
                condition(
                    "ValidationWarning",
                    true,
                    "WarnRuleViolation",
                    &warned.join("; "),
                    &generation,
                    now,
                )
            });
        }
        // condition types ork does not own are kept
        let mut merged: Vec<Value> = pre_status
            .get("conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| {
                let t = c.get("type").and_then(Value::as_str).unwrap_or("");
                !["Ready", "ValidationFailed", "ValidationWarning"].contains(&t)
            })
            .cloned()
            .collect();
        // lastTransitionTime moves only when a condition's status flips
        for c in &mut conditions {
            let before = pre_status
                .get("conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| p.get("type") == c.get("type"));
            if let Some(p) = before
                && p.get("status") == c.get("status")
                && let Some(t) = p.get("lastTransitionTime")
            {
                c["lastTransitionTime"] = t.clone();
            }
        }
        merged.extend(conditions);
        status.insert("conditions".into(), Value::Array(merged));
    }
    // status fields, in order, against the pre-patch status and the CR after its in-memory
    // mutations; `.children` is empty offline
    let mut data = match outcome {
        Ok(c) => c.cr.clone(),
        Err(_) => cr.clone(),
    };
    if let Some(m) = data.as_object_mut() {
        m.insert("status".into(), pre_status);
        m.insert("children".into(), children.clone());
        m.insert("ork".into(), json!({"katalog": k.name, "crd": crd.name}));
    }
    let ready = outcome.is_ok();
    for f in &crd.status_fields {
        if !ready && f.gate.is_empty() {
            continue;
        }
        let gate = {
            let mut scope = Scope {
                data: &data,
                ctx,
                peers: None,
            };
            f.gate.evaluate(&mut scope).map_err(|e| Failure {
                reason: "TemplateError",
                message: format!("status.{}: {e}", f.path),
            })?
        };
        if gate == Eval::False {
            if f.clear_on_false {
                set_path(&mut status, &f.path, json!(""));
            }
            continue;
        }
        let text = f.value.render(&data, ctx).map_err(|e| Failure {
            reason: "TemplateError",
            message: format!("status.{}: {e}", f.path),
        })?;
        let typed = match typed(&text, f.r#type) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(e) => {
                return Err(Failure {
                    reason: "InvalidValue",
                    message: format!("status.{}: {e}", f.path),
                });
            }
        };
        set_path(&mut status, &f.path, typed);
    }
    Ok(Some(status))
}

fn obj_status(out: &mut Value, status: Map<String, Value>) {
    if let Some(o) = out.as_object_mut() {
        o.insert("status".into(), Value::Object(status));
    }
}

/// A status value of its declared type; an empty result writes nothing for non-string types.
fn typed(text: &str, ty: StatusType) -> Result<Option<Value>, String> {
    let t = text.trim();
    let shown = ork_policy::redact::quoted(t);
    Ok(match ty {
        StatusType::String => Some(json!(text)),
        _ if t.is_empty() => None,
        StatusType::Int => Some(json!(
            t.parse::<i64>()
                .map_err(|_| format!("{shown} is not an integer"))?
        )),
        StatusType::Float => Some(
            ork_template::value::float(
                t.parse::<f64>()
                    .map_err(|_| format!("{shown} is not a float"))?,
            )
            .ok_or_else(|| format!("{shown} is not a finite float"))?,
        ),
        StatusType::Bool => Some(json!(
            ork_template::funcs::parse_bool_word(t)
                .ok_or_else(|| format!("{shown} is not a bool"))?
        )),
        StatusType::Auto => Some(if let Ok(i) = t.parse::<i64>() {
            json!(i)
        } else if let Some(f) = t.parse::<f64>().ok().and_then(ork_template::value::float) {
            f
        } else if let Some(b) = ork_template::funcs::parse_bool_word(t) {
            json!(b)
        } else {
            json!(text)
        }),
    })
}

/// Sets a dotted status path (`phase`, `endpoint.url`), creating maps on the way.
fn set_path(status: &mut Map<String, Value>, path: &str, v: Value) {
    let segs = ork_katalog::diag::split_path(path);
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = status;
    for s in parents {
        let slot = cur.entry(s.clone()).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        let Some(m) = slot.as_object_mut() else {
            return;
        };
        cur = m;
    }
    cur.insert(last.clone(), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(src: &str) -> PreparedKatalog {
        let o = ork_katalog::load_str(src, "k.yaml", std::path::Path::new("."));
        let k = o.katalog.unwrap_or_else(|| panic!("{:?}", o.diagnostics));
        PreparedKatalog::new(&k).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_denied_cycle_reports_validation_failed_and_protection_labels() {
        let k = prepared(
            r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: t}
gateway: {enabled: true}
security: {deletionProtection: {enabled: true}}
spec:
  crds:
    apps:
      apiTypes: {group: t.example.io, version: v1, kind: App, plural: apps}
      validation:
        rules:
          - {field: spec.replicas, max: "5", message: "at most 5"}
          - {field: spec.image, exists: true, message: "an image", action: warn}
      operatorBox:
        status:
          fields:
            - {path: phase, value: Failed, when: [{field: spec.replicas, gt: "5"}]}
            - {path: image, value: "{{ .spec.image }}"}
"#,
        );
        let crd = &k.crds[0];
        let cr = json!({"apiVersion": "t.example.io/v1", "kind": "App",
            "metadata": {"name": "a", "namespace": "n", "generation": 3,
                         "labels": {"orkestra.io/strict-mode-exempt": "true"}},
            "spec": {"replicas": 9}, "status": {"conditions": [{"type": "Other", "status": "True"}]}});
        let outcome = crate::render_cycle(&k, crd, &cr, &crate::Options::default());
        assert!(outcome.is_err());
        let mut ctx = Ctx::new(Some(0), None);
        let after = after_cycle(&k, crd, &cr, &outcome, "2026-11-27T10:00:00Z", &mut ctx)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let labels = &after["metadata"]["labels"];
        assert_eq!(labels[PROTECTION_LABEL], "true");
        assert!(
            labels.get(EXEMPTION_LABEL).is_none(),
            "the exemption label is removed"
        );
        let status = &after["status"];
        assert_eq!(status["observedGeneration"], 3);
        // after a failed cycle only fields with conditions are evaluated
        assert_eq!(status["phase"], "Failed");
        assert!(status.get("image").is_none(), "{status}");
        let types: Vec<&str> = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(
            types,
            ["Other", "Ready", "ValidationFailed", "ValidationWarning"]
        );
        let failed = &status["conditions"][2];
        assert_eq!(failed["reason"], "DenyRuleViolation");
        assert!(
            failed["message"]
                .as_str()
                .is_some_and(|m| m.contains("field \"spec.replicas\": at most 5 (got: 9)")),
            "{failed}"
        );
        assert_eq!(status["conditions"][1]["reason"], "ValidationFailed");
    }
}
