//! Writing a cycle's children (docs/katalog.md §6.2 step 6, §6.3): create-if-absent or
//! server-side apply as the entry says, never adopting or touching an object this CR does not
//! control, deleting applied children no entry renders any more, and reading back what exists
//! for `.children`.

use std::collections::HashSet;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    Preconditions,
};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use ork_katalog::ChildKind;
use ork_render::{Child, DeclaredKind, Failure};
use serde_json::{Value, json};

use ork_render::reconcile::{self as rec, CrRef, Stale, Step};
pub use ork_render::reconcile::{GENERATED_AT, MANAGER, controlled_by};

/// What went wrong while writing.
pub enum WriteError {
    /// an input error: not retried until something changes
    Input(Failure),
    /// an API error: Ready=False `ReconcileError`, retried with backoff
    Api(Failure, kube::Error),
}

/// What the writes did.
#[derive(Default)]
pub struct Written {
    pub created: usize,
    pub changed: usize,
    pub deleted: usize,
    /// every existing child, rendered ones first in write order, as read back
    pub existing: Vec<(ChildKind, Value)>,
}

impl Written {
    pub fn touched(&self) -> bool {
        self.created + self.changed + self.deleted > 0
    }
}

/// The metadata of every managed child of an entry's declared kinds, kept by the same
/// metadata-only watches that enqueue their owners: which children a CR controls, whether
/// ork applied them and at which resourceVersion, with no request per cycle. Per declared
/// kind, one store per watched scope.
pub struct ChildCache {
    pub stores: Vec<Vec<Store<PartialObjectMeta<DynamicObject>>>>,
}

impl ChildCache {
    pub(crate) fn owned(
        &self,
        kinds: &[(DeclaredKind, ChildKind, bool)],
        uid: &str,
    ) -> Vec<(usize, Value)> {
        let mut out = Vec::new();
        for (i, stores) in self.stores.iter().enumerate() {
            let Some((d, _, _)) = kinds.get(i) else {
                continue;
            };
            for store in stores {
                for meta in store.state() {
                    let mine = meta
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(ork_render::OWNER_UID))
                        .is_some_and(|u| u == uid);
                    if !mine {
                        continue;
                    }
                    let v = json!({"apiVersion": d.api_version, "kind": d.kind,
                                   "metadata": serde_json::to_value(&meta.metadata).unwrap_or(Value::Null)});
                    if controlled_by(&v, uid) {
                        out.push((i, v));
                    }
                }
            }
        }
        out
    }
}

pub struct Target<'a> {
    pub client: &'a kube::Client,
    /// the entry's child cache; `None` lists from the API server
    pub cache: Option<&'a ChildCache>,
    /// whether status fields or `requeue` read `.children`, so bodies are read back
    pub bodies: bool,
    /// the CR's uid, namespace (None: cluster-scoped), kind and name
    pub uid: &'a str,
    pub namespace: Option<&'a str>,
    pub kind: &'a str,
    pub name: &'a str,
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    };
    ApiResource {
        api_version: api_version.to_string(),
        group,
        version,
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

pub fn api_resource(d: &DeclaredKind) -> ApiResource {
    resource(&d.api_version, &d.kind, &d.resource)
}

fn api_for(client: &kube::Client, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

fn text<'v>(v: &'v Value, p: &str) -> &'v str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn api_failure(entry: &str, what: &str, e: kube::Error) -> WriteError {
    WriteError::Api(rec::api_failure(entry, what, &e.to_string()), e)
}

fn object_key(v: &Value) -> String {
    rec::object_key(v)
}

/// The children this CR controls today, per declared kind: from the entry's cache, or, when
/// `.children` needs their bodies, listed by the owner-uid label from the API server's watch
/// cache.
pub async fn owned(
    t: &Target<'_>,
    kinds: &[(DeclaredKind, ChildKind, bool)],
) -> Result<Vec<(usize, Value)>, WriteError> {
    if !t.bodies
        && let Some(cache) = t.cache
    {
        return Ok(cache.owned(kinds, t.uid));
    }
    let mut out = Vec::new();
    let selector = format!("{}={}", ork_render::OWNER_UID, t.uid);
    for (i, (d, _, _)) in kinds.iter().enumerate() {
        let ar = api_resource(d);
        let api = api_for(t.client, &ar, if d.namespaced { t.namespace } else { None });
        let list = api
            .list(&ListParams::default().labels(&selector).match_any())
            .await
            .map_err(|e| api_failure("children", &format!("list {}", d.resource), e))?;
        for o in list.items {
            let mut v = serde_json::to_value(&o).unwrap_or(Value::Null);
            if v.get("apiVersion").is_none() {
                v["apiVersion"] = json!(d.api_version);
                v["kind"] = json!(d.kind);
            }
            if controlled_by(&v, t.uid) {
                out.push((i, v));
            }
        }
    }
    Ok(out)
}

/// Writes `children` in order; an API error stops the remaining writes. Then deletes the
/// applied children no active entry renders, and returns every existing child. What to write
/// and what is stale is decided by `ork_render::reconcile`, the same as `ork simulate`.
pub async fn write_all(
    t: &Target<'_>,
    kinds: &[(DeclaredKind, ChildKind, bool)],
    children: &[Child],
) -> Result<Written, WriteError> {
    let owned = owned(t, kinds).await?;
    let mut index = rec::index_owned(kinds, &owned);
    let mut w = Written::default();
    let mut rendered = HashSet::new();
    for c in children {
        let key = rec::child_key(&c.resource, &c.object);
        rendered.insert(key.clone());
        let known = index.remove(&key);
        let obj = write_one(t, c, known, &mut w).await?;
        if let Some(obj) = obj {
            w.existing.push((c.kind, obj));
        }
    }
    // applied children of kinds that delete, owned, no longer rendered
    for (i, v, fate) in rec::stale(kinds, &owned, &rendered) {
        let (d, kind, _) = &kinds[i];
        if fate == Stale::Keep {
            w.existing.push((*kind, v.clone()));
            continue;
        }
        let ar = api_resource(d);
        let ns = Some(text(v, "/metadata/namespace")).filter(|s| !s.is_empty());
        let api = api_for(t.client, &ar, ns);
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: v
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(text(v, "/metadata/name"), &dp).await {
            Ok(_) => w.deleted += 1,
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => {
                return Err(api_failure(
                    "children",
                    &format!("delete {} {}", d.kind, object_key(v)),
                    e,
                ));
            }
        }
    }
    Ok(w)
}

fn conflict(c: &Child, t: &Target<'_>) -> WriteError {
    WriteError::Input(rec::conflict(c, cr_ref(t)))
}

fn cr_ref<'a>(t: &Target<'a>) -> CrRef<'a> {
    CrRef {
        uid: t.uid,
        kind: t.kind,
        name: t.name,
    }
}

/// Writes one child; returns it as it stands afterwards (None: not written and absent).
async fn write_one(
    t: &Target<'_>,
    c: &Child,
    known: Option<Value>,
    w: &mut Written,
) -> Result<Option<Value>, WriteError> {
    let ar = resource(
        text(&c.object, "/apiVersion"),
        text(&c.object, "/kind"),
        &c.resource,
    );
    let ns = Some(text(&c.object, "/metadata/namespace")).filter(|s| !s.is_empty());
    let api = api_for(t.client, &ar, ns);
    let name = text(&c.object, "/metadata/name").to_string();
    // not among the owned children: it is absent, or someone else's
    let current = match known {
        Some(v) => Some(v),
        None => api
            .get_opt(&name)
            .await
            .map_err(|e| api_failure(&c.entry, &format!("read {}", object_key(&c.object)), e))?
            .map(|o| serde_json::to_value(&o).unwrap_or(Value::Null)),
    };
    let step =
        rec::step(c, current.as_ref(), cr_ref(t), chrono::Utc::now()).map_err(WriteError::Input)?;
    let body = match step {
        Step::Keep => return Ok(current),
        Step::Apply => return apply(&api, c, current.as_ref(), w).await,
        Step::Create(body) => body,
        Step::Rotate { uid, body } => {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            api.delete(&name, &dp)
                .await
                .map_err(|e| api_failure(&c.entry, "rotate", e))?;
            w.deleted += 1;
            body
        }
    };
    let obj: DynamicObject = serde_json::from_value(body).map_err(|e| {
        WriteError::Input(Failure {
            reason: "InvalidValue",
            message: format!("{}: {e}", c.entry),
        })
    })?;
    let pp = PostParams {
        dry_run: false,
        field_manager: Some(MANAGER.to_string()),
    };
    match api.create(&pp, &obj).await {
        Ok(o) => {
            w.created += 1;
            Ok(Some(serde_json::to_value(&o).unwrap_or(Value::Null)))
        }
        // created meanwhile: whose is it?
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let cur = api
                .get_opt(&name)
                .await
                .map_err(|e| api_failure(&c.entry, "read", e))?
                .map(|o| serde_json::to_value(&o).unwrap_or(Value::Null));
            match cur {
                Some(v) if controlled_by(&v, t.uid) => Ok(Some(v)),
                _ => Err(conflict(c, t)),
            }
        }
        Err(e) => Err(api_failure(
            &c.entry,
            &format!("create {}", object_key(&c.object)),
            e,
        )),
    }
}

/// Server-side apply of one child as ork's field manager.
async fn apply(
    api: &Api<DynamicObject>,
    c: &Child,
    current: Option<&Value>,
    w: &mut Written,
) -> Result<Option<Value>, WriteError> {
    let mut pp = PatchParams::apply(MANAGER);
    pp.force = c.force;
    let before = current.map(|v| text(v, "/metadata/resourceVersion").to_string());
    let name = text(&c.object, "/metadata/name");
    match api.patch(name, &pp, &Patch::Apply(&c.object)).await {
        Ok(o) => {
            let v = serde_json::to_value(&o).unwrap_or(Value::Null);
            match before {
                None => w.created += 1,
                Some(rv) if rv != text(&v, "/metadata/resourceVersion") => w.changed += 1,
                Some(_) => {}
            }
            Ok(Some(v))
        }
        Err(kube::Error::Api(s)) if s.code == 409 && !c.force => {
            Err(WriteError::Input(rec::apply_conflict(c, &s.message)))
        }
        Err(e) => Err(api_failure(
            &c.entry,
            &format!("apply {}", object_key(&c.object)),
            e,
        )),
    }
}

pub fn now_rfc3339() -> String {
    rec::stamp(chrono::Utc::now())
}
