//! Requests exactly as a client sends them: raw HTTP through kube's client (so a step sees the
//! status, message and warnings the API server answered), impersonation by header, kinds
//! resolved through discovery, and one classification of an answer into allowed, denied or a
//! step error (docs/e2e.md §2.1).

use std::sync::Mutex;

use http::Request;
use ork_scenario::{Identity, KindRef};
use serde_json::{Value, json};

/// A kind the API server serves.
#[derive(Debug, Clone)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection path; `ns` is ignored for a cluster-scoped kind.
    pub fn collection(&self, ns: &str) -> String {
        if self.namespaced {
            format!("{}/namespaces/{ns}/{}", self.prefix(), self.plural)
        } else {
            format!("{}/{}", self.prefix(), self.plural)
        }
    }

    pub fn object(&self, ns: &str, name: &str) -> String {
        format!("{}/{name}", self.collection(ns))
    }
}

/// What the API server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

/// An answer to a request step, classified (docs/e2e.md §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// refused by admission (a webhook, a failing webhook under failurePolicy Fail, or a
    /// ValidatingAdmissionPolicy) or by authorization (403)
    Denied(String),
    /// NotFound, AlreadyExists, Conflict, invalid, timeouts, transport errors: never a denial,
    /// so a missing object cannot pass as "denied"
    Error(String),
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    pub fn outcome(&self) -> Outcome {
        if self.ok() {
            return Outcome::Allowed;
        }
        let m = self.message();
        let by_admission = m.contains("admission webhook")
            || m.contains("failed calling webhook")
            || m.contains("ValidatingAdmissionPolicy");
        if self.status == 403 || by_admission {
            Outcome::Denied(m)
        } else {
            Outcome::Error(format!("{} {}", self.status, m))
        }
    }
}

pub fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// `299 - "text"` → `text`
fn warning_text(h: &str) -> String {
    let t = h.splitn(3, ' ').nth(2).unwrap_or(h);
    t.trim_matches('"').replace("\\\"", "\"")
}

pub struct Api {
    pub client: kube::Client,
    kinds: Mutex<Vec<Resource>>,
}

pub const JSON: &str = "application/json";
pub const MERGE: &str = "application/merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";
pub const APPLY: &str = "application/apply-patch+yaml";

/// The field manager of the runner's server-side applies.
pub const MANAGER: &str = "ork-e2e";

impl Api {
    pub fn new(client: kube::Client) -> Api {
        Api {
            client,
            kinds: Mutex::new(Vec::new()),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        who: Option<&Identity>,
    ) -> Result<Answer, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("Accept", JSON);
        if let Some((ct, _)) = &body {
            req = req.header("Content-Type", *ct);
        }
        if let Some(who) = who {
            req = req.header("Impersonate-User", &who.user);
            for g in &who.groups {
                req = req.header("Impersonate-Group", g);
            }
        }
        let bytes = body.map(|(_, b)| b).unwrap_or_default();
        let req = req.body(kube::client::Body::from(bytes)).map_err(e)?;
        let resp = self.client.send(req).await.map_err(e)?;
        let status = resp.status().as_u16();
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warning_text)
            .collect();
        let bytes = resp.into_body().collect_bytes().await.map_err(e)?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"message": String::from_utf8_lossy(&bytes)}));
        Ok(Answer {
            status,
            body,
            warnings,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let a = self.send("GET", path, None, None).await?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            s => Err(format!("GET {path}: {s} {}", a.message())),
        }
    }

    /// Every served kind, from discovery (each call re-reads it: CRDs come and go).
    async fn discover(&self) -> Result<Vec<Resource>, String> {
        let d = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|x| format!("discovery: {x}"))?;
        let mut out = Vec::new();
        for g in d.groups() {
            // the preferred version first, so a kind without apiVersion resolves to it
            let mut versions: Vec<String> = g.versions().map(str::to_string).collect();
            let preferred = g.preferred_version_or_latest().to_string();
            versions.sort_by_key(|v| *v != preferred);
            for v in versions {
                for (ar, caps) in g.versioned_resources(&v) {
                    out.push(Resource {
                        group: ar.group.clone(),
                        version: ar.version.clone(),
                        kind: ar.kind.clone(),
                        plural: ar.plural.clone(),
                        namespaced: caps.scope == kube::discovery::Scope::Namespaced,
                    });
                }
            }
        }
        Ok(out)
    }

    fn find(
        &self,
        kind: &str,
        group: Option<&str>,
        version: Option<&str>,
    ) -> Result<Option<Resource>, String> {
        let kinds = self
            .kinds
            .lock()
            .map_err(|_| "discovery cache poisoned".to_string())?;
        let mut hits = kinds.iter().filter(|r| {
            r.kind == kind
                && group.is_none_or(|g| r.group == g)
                && version.is_none_or(|v| r.version == v)
        });
        let first = hits.next().cloned();
        if group.is_none()
            && let Some(f) = &first
            && let Some(other) = hits.find(|r| r.group != f.group)
            && !f.group.is_empty()
        {
            return Err(format!(
                "kind {kind} is served by {} and {}: write {kind}.<group>",
                f.group, other.group
            ));
        }
        Ok(first)
    }

    /// `Kind`, `Kind.group` or an apiVersion-pinned kind → the served resource.
    pub async fn resolve(&self, k: &KindRef) -> Result<Resource, String> {
        let (group, version) = match &k.api_version {
            Some(av) => match av.rsplit_once('/') {
                Some((g, v)) => (Some(g.to_string()), Some(v.to_string())),
                None => (Some(String::new()), Some(av.clone())),
            },
            None => (k.group.clone(), None),
        };
        for attempt in 0..2 {
            if attempt == 1 || self.kinds.lock().map(|k| k.is_empty()).unwrap_or(true) {
                let fresh = self.discover().await?;
                if let Ok(mut kinds) = self.kinds.lock() {
                    *kinds = fresh;
                }
            }
            if let Some(r) = self.find(&k.kind, group.as_deref(), version.as_deref())? {
                return Ok(r);
            }
        }
        Err(format!(
            "the API server does not serve kind {}{}",
            k.kind,
            group
                .map(|g| format!(" in group {g:?}"))
                .unwrap_or_default()
        ))
    }

    /// The served resource of an object from a file (its apiVersion and kind).
    pub async fn resolve_object(&self, obj: &Value) -> Result<Resource, String> {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let av = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.resolve(&KindRef {
            kind: kind.to_string(),
            group: None,
            api_version: Some(av.to_string()),
        })
        .await
    }

    /// Server-side apply of one object as the runner or `who`; `ns` fills in a namespaced
    /// object's missing namespace.
    pub async fn apply(
        &self,
        obj: &Value,
        ns: &str,
        who: Option<&Identity>,
        dry_run: bool,
    ) -> Result<Answer, String> {
        let r = self.resolve_object(obj).await?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(ns);
        let mut body = obj.clone();
        if r.namespaced
            && let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.insert("namespace".into(), Value::String(ns.to_string()));
        }
        let mut path = format!("{}?fieldManager={MANAGER}&force=true", r.object(ns, name));
        if dry_run {
            path.push_str("&dryRun=All");
        }
        self.send(
            "PATCH",
            &path,
            Some((APPLY, body.to_string().into_bytes())),
            who,
        )
        .await
    }

    /// Deletes an object as the runner; a missing one is fine.
    pub async fn delete_quietly(&self, path: &str) -> Result<(), String> {
        let a = self.send("DELETE", path, None, None).await?;
        if a.ok() || a.status == 404 {
            Ok(())
        } else {
            Err(format!("DELETE {path}: {} {}", a.status, a.message()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, message: &str) -> Answer {
        Answer {
            status,
            body: json!({"message": message}),
            warnings: vec![],
        }
    }

    #[test]
    fn only_admission_and_authorization_refusals_are_denials() {
        assert_eq!(answer(201, "").outcome(), Outcome::Allowed);
        assert!(matches!(
            answer(403, "forbidden").outcome(),
            Outcome::Denied(_)
        ));
        assert!(matches!(
            answer(400, "admission webhook \"x\" denied the request: no").outcome(),
            Outcome::Denied(_)
        ));
        assert!(matches!(
            answer(
                500,
                "Internal error occurred: failed calling webhook \"x\": connection refused"
            )
            .outcome(),
            Outcome::Denied(_)
        ));
        for (s, m) in [
            (404, "not found"),
            (409, "already exists"),
            (422, "spec.x: Invalid value"),
            (500, "etcd"),
        ] {
            assert!(
                matches!(answer(s, m).outcome(), Outcome::Error(_)),
                "{s} {m}"
            );
        }
    }
}
