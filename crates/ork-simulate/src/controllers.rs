//! The controllers `ork simulate` plays between two cycles (docs/cli.md §5), on what the
//! previous cycle wrote: workloads report their replicas ready (or not), Jobs succeed, fail or
//! keep running, per the Simulate document's `spec.cluster`. They write `/status` only, as
//! their field manager, so their writes are never ork's operations.

use serde_json::{Value, json};

use crate::cluster::{ApiError, Cluster, Key};

/// `spec.cluster.workloads`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Workloads {
    #[default]
    Ready,
    Pending,
}

/// `spec.cluster.jobs`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jobs {
    #[default]
    Succeed,
    Fail,
    Pending,
}

/// How the simulated cluster behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Behaviour {
    pub workloads: Workloads,
    pub jobs: Jobs,
}

const MANAGER: &str = "ork-simulate-controllers";

/// One pass of every controller over the cluster.
pub fn run(c: &mut Cluster, b: Behaviour, now: &str) -> Result<(), ApiError> {
    let mut writes: Vec<(Key, Value)> = Vec::new();
    for (k, v) in c.iter() {
        if (k.group == "apps" || k.group == "batch")
            && let Some(status) = status_of(k, v, b, now)
        {
            writes.push((k.clone(), status));
        }
    }
    for (k, status) in writes {
        c.patch_status(&k, &json!({ "status": status }), MANAGER)?;
    }
    Ok(())
}

/// The status a controller would write, or None when it leaves the object alone.
fn status_of(k: &Key, v: &Value, b: Behaviour, now: &str) -> Option<Value> {
    let generation = v
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let replicas = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = b.workloads == Workloads::Ready;
    let n = if ready { replicas } else { 0 };
    let status = match (k.group.as_str(), k.resource.as_str()) {
        ("apps", "deployments") => {
            let mut s = json!({"observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas,
                "conditions": [{"type": "Available", "status": if ready { "True" } else { "False" },
                    "reason": if ready { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }}]});
            if ready {
                s["readyReplicas"] = json!(n);
                s["availableReplicas"] = json!(n);
            } else {
                s["unavailableReplicas"] = json!(replicas);
            }
            s
        }
        ("apps", "statefulsets") | ("apps", "replicasets") => {
            let mut s = json!({"observedGeneration": generation, "replicas": replicas,
                "currentReplicas": replicas, "updatedReplicas": replicas});
            if ready {
                s["readyReplicas"] = json!(n);
                s["availableReplicas"] = json!(n);
            }
            s
        }
        ("apps", "daemonsets") => json!({"observedGeneration": generation,
            "desiredNumberScheduled": 1, "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
            "numberReady": if ready { 1 } else { 0 }, "numberAvailable": if ready { 1 } else { 0 },
            "numberMisscheduled": 0}),
        ("batch", "jobs") => {
            // a finished Job stays finished
            let finished = v
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| {
                    (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                });
            if finished {
                return None;
            }
            match b.jobs {
                Jobs::Succeed => json!({"startTime": now, "completionTime": now, "succeeded": 1,
                    "ready": 0, "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                        {"type": "Complete", "status": "True", "lastTransitionTime": now}]}),
                Jobs::Fail => json!({"startTime": now, "failed": 1, "ready": 0, "conditions": [
                        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                         "lastTransitionTime": now},
                        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                         "message": "Job has reached the specified backoff limit",
                         "lastTransitionTime": now}]}),
                Jobs::Pending => json!({"startTime": now, "active": 1, "ready": 0}),
            }
        }
        _ => return None,
    };
    (v.get("status") != Some(&status)).then_some(status)
}
