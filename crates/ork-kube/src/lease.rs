//! The single writer: only the holder of a Lease writes. The Gateway holds
//! `orkestra-gateway-config` while it writes configurations and certificates (G30); the runtime
//! holds `orkestra-runtime` while it reconciles (docs/katalog.md §6.1).
//!
//! kube-rs ships no leader election, and the crates that add one trail kube's releases, so
//! this is the coordination.k8s.io Lease protocol in its simplest form: take the Lease when it
//! is free or expired (optimistic concurrency on resourceVersion), renew it every `renew`, and
//! release it on shutdown so a successor need not wait for it to expire.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

/// This process's name in a Lease. It must differ between any two processes that may run at
/// once, or both would take the Lease for their own and write side by side. `POD_NAME` (the
/// downward API; `ork generate` sets it on the runtime and the Gateway) is unique in a
/// namespace. Without it: the host name and the process id, unique on one host — but two pods
/// with `hostNetwork` share the node's host name and may both be pid 1, hence `POD_NAME` first.
/// `component` (`ork-runtime`, `ork-gateway`) stands in when even the host name is unreadable.
pub fn identity(component: &str) -> String {
    identity_from(
        std::env::var("POD_NAME").ok(),
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok(),
        component,
        std::process::id(),
    )
}

fn identity_from(
    pod_name: Option<String>,
    hostname: Option<String>,
    component: &str,
    pid: u32,
) -> String {
    let non_empty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(pod) = non_empty(pod_name) {
        return pod;
    }
    let host = non_empty(hostname).unwrap_or_else(|| component.to_string());
    format!("{host}-{pid}")
}

pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    labels: BTreeMap<String, String>,
    duration: Duration,
    renew: Duration,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl Elector {
    /// An elector for the Lease `namespace/name`; `labels` go on the Lease when this process
    /// creates it. The Lease lasts 15 s and is renewed every 2 s.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: String,
        labels: BTreeMap<String, String>,
    ) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity,
            labels,
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(2),
        }
    }

    /// How long the Lease lasts and how often it is renewed. A standby takes over at most
    /// `duration + renew` after the holder's last renewal.
    pub fn with_timing(mut self, duration: Duration, renew: Duration) -> Elector {
        self.duration = duration;
        self.renew = renew;
        self
    }

    fn spec(&self, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.duration.as_secs()).ok(),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt: true when this process holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.name).await?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    labels: Some(self.labels.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let free = spec.holder_identity.as_deref().is_none_or(str::is_empty);
        let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
            (Some(t), Some(d)) => {
                let until = t.0 + Duration::from_secs(u64::try_from(d).unwrap_or(0));
                until < k8s_openapi::jiff::Timestamp::now()
            }
            _ => true,
        };
        if !(ours || free || expired) {
            return Ok(false);
        }
        let mut next = if ours {
            let mut s = spec.clone();
            s.renew_time = Some(now());
            s
        } else {
            self.spec(spec.lease_transitions.unwrap_or(0) + 1)
        };
        next.lease_duration_seconds = i32::try_from(self.duration.as_secs()).ok();
        lease.spec = Some(next);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Runs until `stop`, publishing whether this process leads. A renewal that fails for
    /// longer than the Lease lasts gives leadership up before another replica can take it.
    pub async fn run(self, leading: watch::Sender<bool>, mut stop: watch::Receiver<bool>) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            match self.try_acquire_or_renew().await {
                Ok(held) => {
                    last_ok = tokio::time::Instant::now();
                    leading.send_if_modified(|l| std::mem::replace(l, held) != held);
                }
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "Lease could not be renewed");
                    if last_ok.elapsed() > self.duration - self.renew {
                        leading.send_if_modified(|l| std::mem::replace(l, false));
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.renew) => {}
                _ = stop.changed() => break,
            }
        }
        if *leading.borrow() {
            self.release().await;
        }
        let _ = leading.send(false);
    }

    /// Gives the Lease up so a successor takes over at once.
    async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.identity.as_str())
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            if let Err(e) = self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                tracing::warn!(lease = %self.name, error = %e, "Lease could not be released");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::identity_from;

    #[test]
    fn identity_prefers_the_pod_name_then_host_and_pid() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            identity_from(some("gw-7f9c-x2"), some("node-1\n"), "ork-gateway", 1),
            "gw-7f9c-x2"
        );
        // two processes on one host differ by pid
        assert_eq!(
            identity_from(None, some("node-1\n"), "ork-gateway", 41),
            "node-1-41"
        );
        assert_eq!(
            identity_from(some(" "), some("node-1"), "ork-gateway", 42),
            "node-1-42"
        );
        assert_eq!(identity_from(None, None, "ork-runtime", 7), "ork-runtime-7");
        assert_eq!(
            identity_from(None, some(""), "ork-runtime", 7),
            "ork-runtime-7"
        );
    }
}
