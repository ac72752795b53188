//! Renders the children a CR produces in one cycle, exactly as the runtime writes them
//! (docs/katalog.md §3, §5, §6.2–§6.3): conditions, forEach, templating, coercion, pod-security
//! profiles, labels and owner references. Pure: no cluster access.
//!
//! Rendering, not deciding: whether the CR may be reconciled at all (namespace rules,
//! mutation, validation) and whether each rendered pod-bearing child passes the pod-security
//! backstop are asked of the one decision core, `ork_policy::decide`, at `Point::Reconcile`.

mod profiles;
pub mod reconcile;
pub mod status;

use base64::Engine as _;
use ork_katalog::coerce::{coerce, is_dns1123_subdomain};
use ork_katalog::schema::Coerce;
use ork_katalog::{ChildKind, Operation};
use ork_policy::admission::{EvalError, EvalErrorKind, Layer};
use ork_policy::conditions::{Eval, FieldRef, Scope, TemplateSource, lookup};
use ork_policy::prepared::{PreparedBlock, PreparedEntry};
use ork_policy::{
    MutationChange, Point, PreparedCrd, PreparedKatalog, Request, RuleOutcome, decide,
};
use std::sync::Arc;

use ork_template::value::quote;
use ork_template::{Ctx, ExecError, Template};
use serde_json::{Map, Value, json};

pub use ork_policy::WriteOp as Op;

pub const MANAGED: &str = "orkestra.orkspace.io/managed";
pub const OWNER: &str = ork_policy::prepared::OWNER_LABEL;
pub const OWNER_UID: &str = "orkestra.orkspace.io/owner-uid";
pub const WORKLOAD: &str = "orkestra.orkspace.io/workload";
pub const NIL_UID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub seed: Option<u64>,
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Skip the pod-security backstop: `ork scan` reports what the children would violate
    /// instead of stopping at the first refusal. The runtime never sets this.
    pub without_backstop: bool,
}

#[derive(Debug, Clone)]
pub struct Child {
    /// `onCreate.deployments[0]`
    pub entry: String,
    pub op: Op,
    /// lower-case plural (`deployments`)
    pub resource: String,
    pub object: Value,
    /// data values of a Secret are never shown unless asked for
    pub kind: ChildKind,
    /// server-side apply `force` (the entry's, else the CRD entry's `forceConflict`)
    pub force: bool,
    /// `once` Secrets with `rotateAfter`: recreated when older than this
    pub rotate_after: Option<std::time::Duration>,
}

/// The reason of a CR outside its permitted namespaces: not reconciled, no status written, a
/// Warning event (docs/katalog.md §6.2 step 2).
pub const NOT_PERMITTED: &str = "NamespaceNotPermitted";

/// A cycle that ends before any write: Ready=False with this reason (or, for
/// [`NOT_PERMITTED`], not reconciled at all).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Cycle {
    pub children: Vec<Child>,
    /// The CR after in-memory mutations.
    pub cr: Value,
    pub validation: RuleOutcome,
    pub mutations: Vec<MutationChange>,
    /// admission-style warnings of warn rules
    pub warnings: Vec<String>,
}

fn fail(reason: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        reason,
        message: message.into(),
    }
}

/// The Ready=False reason of an evaluation error (docs/katalog.md §6.4).
fn eval_failure(e: EvalError) -> Failure {
    let reason = match e.kind {
        EvalErrorKind::InvalidValue => "InvalidValue",
        EvalErrorKind::Template | EvalErrorKind::Undecodable | EvalErrorKind::Unavailable => {
            "TemplateError"
        }
    };
    fail(reason, e.message)
}

/// Renders one CR's first cycle against an empty cluster.
pub fn render_cycle(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
    cr: &Value,
    opts: &Options,
) -> Result<Cycle, Failure> {
    // the decision core: namespace guard, mutation, validation (docs/katalog.md §6.2 steps 2, 4)
    let mut req = Request::for_object(Point::Reconcile, Operation::Update, cr, &crd.api.plural);
    // the entry that serves the CR decides, whatever spelling of apiVersion the CR carries
    req.group = crd.api.group.clone();
    let verdict = decide(k, &req);
    if let Some(e) = verdict.errors.first() {
        return Err(eval_failure(e.clone()));
    }
    if let Some(d) = verdict.denials.first() {
        return Err(match d.layer {
            Layer::NamespaceProtection => fail(NOT_PERMITTED, d.message.clone()),
            _ => {
                let msg: Vec<&str> = verdict
                    .denials
                    .iter()
                    .filter(|d| d.layer == Layer::Validation)
                    .map(|d| d.message.as_str())
                    .collect();
                fail("ValidationFailed", msg.join("; "))
            }
        });
    }
    let obj = verdict.mutated.clone().unwrap_or_else(|| cr.clone());
    let blocks: Vec<&PreparedBlock> = crd.blocks.iter().collect();
    let children = render_blocks(k, crd, &obj, &blocks, opts)?;
    Ok(Cycle {
        children,
        cr: obj,
        validation: verdict.validation.unwrap_or_default(),
        mutations: verdict.mutations,
        warnings: verdict.warnings,
    })
}

/// The children of `blocks` for `obj` (the CR after its in-memory mutations): block gates,
/// entries in write order, one object per active entry, a `ChildConflict` when two render the
/// same object, and the pod-security backstop over every pod-bearing child.
fn render_blocks(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
    obj: &Value,
    blocks: &[&PreparedBlock],
    opts: &Options,
) -> Result<Vec<Child>, Failure> {
    let mut ctx = Ctx::with_limits(opts.seed, opts.now, k.limits);
    let mut data = obj.clone();
    if let Some(m) = data.as_object_mut() {
        m.insert("ork".into(), json!({"katalog": k.name, "crd": crd.name}));
        m.entry("status").or_insert_with(|| json!({}));
    }
    let owner = Owner::of(crd, obj);
    let mut children = Vec::new();
    for block in blocks {
        let gate = {
            let mut scope = Scope {
                data: &data,
                ctx: &mut ctx,
                peers: None,
            };
            block
                .gate
                .evaluate(&mut scope)
                .map_err(|e| fail("TemplateError", format!("{}: {e}", block.name.as_str())))?
        };
        if gate == Eval::False {
            continue;
        }
        for entry in &block.entries {
            render_entry(k, crd, entry, &mut data, &mut ctx, &owner, &mut children)?;
        }
    }
    // two active entries rendering the same object
    let mut seen = std::collections::HashMap::new();
    for c in &children {
        let key = (
            c.resource.as_str(),
            c.object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str),
            c.object.pointer("/metadata/name").and_then(Value::as_str),
        );
        if let Some(first) = seen.insert(key, c.entry.as_str()) {
            return Err(fail(
                "ChildConflict",
                format!(
                    "{first} and {} both render {} {}",
                    c.entry,
                    c.resource,
                    text_at(&c.object, "/metadata/name")
                ),
            ));
        }
    }
    // the backstop: every pod-bearing child is decided at the Katalog's level before any write
    if !opts.without_backstop {
        let mut violations = Vec::new();
        // every child that carries a pod template, `custom:` ones included (a custom Pod or
        // DaemonSet is as much a workload as a Deployment)
        for c in children
            .iter()
            .filter(|c| ork_policy::checks::is_workload_kind(&c.object))
        {
            let req =
                Request::for_object(Point::Reconcile, Operation::Create, &c.object, &c.resource);
            let v = decide(k, &req);
            if let Some(e) = v.errors.first() {
                return Err(eval_failure(e.clone()));
            }
            if let Some(d) = v.denials.first() {
                violations.push(format!("{}: {}", c.entry, d.checks.join(", ")));
            }
        }
        if !violations.is_empty() {
            return Err(fail("PodSecurityViolation", violations.join("; ")));
        }
    }
    // an HPA owns the replica count of its target
    let targets: Vec<(String, String)> = children
        .iter()
        .filter(|c| c.kind == ChildKind::Hpa)
        .map(|c| {
            (
                text_at(&c.object, "/spec/scaleTargetRef/kind"),
                text_at(&c.object, "/spec/scaleTargetRef/name"),
            )
        })
        .collect();
    for c in &mut children {
        let kind = text_at(&c.object, "/kind");
        let name = text_at(&c.object, "/metadata/name");
        if targets.iter().any(|(k, n)| *k == kind && *n == name)
            && let Some(spec) = c.object.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.remove("replicas");
        }
    }
    Ok(children)
}

/// The `onDelete` jobs of a CR being deleted (docs/katalog.md §6.5), rendered and owned like
/// any job. Validation rules do not run on this path; mutations do, so templates see the CR
/// as every other cycle does, and the pod-security backstop still applies.
pub fn render_on_delete(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
    cr: &Value,
    opts: &Options,
) -> Result<Vec<Child>, Failure> {
    let Some(block) = &crd.on_delete else {
        return Ok(Vec::new());
    };
    let mut req = Request::for_object(Point::Reconcile, Operation::Update, cr, &crd.api.plural);
    req.group = crd.api.group.clone();
    req.layers = ork_policy::admission::Layers::only(&[Layer::Mutation]);
    let verdict = decide(k, &req);
    if let Some(e) = verdict.errors.first() {
        return Err(eval_failure(e.clone()));
    }
    let obj = verdict.mutated.unwrap_or_else(|| cr.clone());
    render_blocks(k, crd, &obj, &[block], opts)
}

/// `.children` for status fields and `requeue` (docs/katalog.md §6.4): per kind a map by name
/// under the lower-cased list key (`deployments`, `pdbs`, `customs`), and under the singular
/// (`deployment`, `pdb`, `custom`) the first declared child of the kind that exists. `existing`
/// is in declaration order, each child as read back; Secrets expose `metadata` and `type`, never
/// `data`.
pub fn children_data<'a>(existing: impl IntoIterator<Item = (ChildKind, &'a Value)>) -> Value {
    let mut out = Map::new();
    for (kind, obj) in existing {
        let shown = if kind == ChildKind::Secrets {
            json!({"metadata": obj.get("metadata").cloned().unwrap_or(Value::Null),
                   "type": obj.get("type").cloned().unwrap_or(Value::Null)})
        } else {
            obj.clone()
        };
        let name = text_at(obj, "/metadata/name");
        let (plural, singular) = children_keys(kind);
        out.entry(singular).or_insert_with(|| shown.clone());
        if let Some(m) = out
            .entry(plural)
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            m.insert(name, shown);
        }
    }
    Value::Object(out)
}

/// The `.children` keys of a kind: the lower-cased list key and its singular.
fn children_keys(kind: ChildKind) -> (String, String) {
    let plural = match kind {
        ChildKind::Pdb => "pdbs".to_string(),
        ChildKind::Hpa => "hpas".to_string(),
        ChildKind::Custom => "customs".to_string(),
        other => other.list_key().to_lowercase(),
    };
    let singular = match kind {
        ChildKind::PersistentVolumeClaims => "pvc".to_string(),
        ChildKind::Pdb => "pdb".to_string(),
        ChildKind::Hpa => "hpa".to_string(),
        ChildKind::Custom => "custom".to_string(),
        ChildKind::Ingresses => "ingress".to_string(),
        ChildKind::NetworkPolicies => "networkpolicy".to_string(),
        _ => plural.trim_end_matches('s').to_string(),
    };
    (plural, singular)
}

/// The resource (plural) of a `custom:` child: the entry's `plural`, else the Katalog CRD
/// serving the kind, else ork's built-in table, else the kind's default plural.
pub fn custom_plural(k: &PreparedKatalog, fields: &Value, api_version: &str, kind: &str) -> String {
    fields
        .get("plural")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            k.crds
                .iter()
                .find(|c| c.api.kind == kind && c.api.api_version() == api_version)
                .map(|c| c.api.plural.clone())
        })
        .or_else(|| {
            let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            ork_katalog::kinds::builtin_resource(group, kind).map(str::to_string)
        })
        .unwrap_or_else(|| ork_katalog::kinds::default_plural(kind))
}

/// A kind of child an entry declares, as the runtime watches and lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeclaredKind {
    pub api_version: String,
    pub kind: String,
    pub resource: String,
    pub namespaced: bool,
}

/// Every kind of child the CRD's blocks (`onDelete` included) declare, in write order, each
/// once, with whether some entry of it is written by server-side apply (only those are ever
/// deleted, and never PersistentVolumeClaims). A `custom:` entry whose apiVersion or kind is a
/// template is left out: its kind is known only per CR.
pub fn declared_kinds(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
) -> Vec<(DeclaredKind, ChildKind, bool)> {
    let mut out: Vec<(DeclaredKind, ChildKind, bool)> = Vec::new();
    let entries = crd
        .blocks
        .iter()
        .chain(crd.on_delete.iter())
        .flat_map(|b| &b.entries);
    for e in entries {
        let declared = match e.kind.info() {
            Some(i) => DeclaredKind {
                api_version: i.api_version.to_string(),
                kind: i.kind.to_string(),
                resource: i.resource.to_string(),
                namespaced: true,
            },
            None => {
                let text = |key: &str| e.fields.get(key).and_then(Value::as_str).unwrap_or("");
                let (api_version, kind) = (text("apiVersion"), text("kind"));
                if api_version.is_empty()
                    || kind.is_empty()
                    || ork_template::is_template(api_version)
                    || ork_template::is_template(kind)
                {
                    continue;
                }
                DeclaredKind {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    resource: custom_plural(k, &e.fields, api_version, kind),
                    namespaced: e.fields.get("namespaced") != Some(&Value::Bool(false)),
                }
            }
        };
        // PersistentVolumeClaims are never deleted, `custom:` ones included
        let pvc =
            declared.resource == "persistentvolumeclaims" && !declared.api_version.contains('/');
        let deletes = e.op == Op::Apply && !pvc;
        match out.iter_mut().find(|(d, _, _)| *d == declared) {
            Some(slot) => slot.2 |= deletes,
            None => out.push((declared, e.kind, deletes)),
        }
    }
    out
}

fn text_at(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Renders one entry: once, or once per `forEach` element. The element keys are set on the one
/// data value in turn (never a copy of the data per element), so a large list stays linear.
fn render_entry(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
    entry: &PreparedEntry,
    data: &mut Value,
    ctx: &mut Ctx,
    owner: &Owner,
    children: &mut Vec<Child>,
) -> Result<(), Failure> {
    let Some(fe) = &entry.for_each else {
        let mut r = Renderer::new(k, crd, entry, data, ctx, owner, entry.path.clone());
        if let Some(child) = r.child()? {
            children.push(child);
        }
        return Ok(());
    };
    let path = &entry.path;
    let list = match &fe.field {
        FieldRef::Template(t) => t.render_value(data, ctx).map_err(|e| {
            let msg = exec_message(crd, entry, t, &e);
            fail("TemplateError", format!("{path}.forEach.field: {msg}"))
        })?,
        FieldRef::Path(p) => lookup(data, p).cloned(),
    };
    let items: Vec<(Value, Option<Value>)> = match list {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.into_iter().map(|x| (x, None)).collect(),
        Some(Value::Object(m)) => {
            // map keys in sorted order; serde_json's map is ordered, sort to be explicit
            let mut kv: Vec<(String, Value)> = m.into_iter().collect();
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            kv.into_iter()
                .map(|(key, v)| (Value::String(key), Some(v)))
                .collect()
        }
        Some(other) => {
            return Err(fail(
                "InvalidValue",
                format!(
                    "{path}.forEach.field: {:?} is a {}, not a list or map",
                    fe.field_text,
                    ork_template::value::kind(&Some(other))
                ),
            ));
        }
    };
    if items.len() > fe.max {
        return Err(fail(
            "InvalidValue",
            format!(
                "{path}.forEach.field: {} elements exceed max {}",
                items.len(),
                fe.max
            ),
        ));
    }
    for (i, (item, value)) in items.into_iter().enumerate() {
        if let Some(m) = data.as_object_mut() {
            m.insert("item".into(), item.clone());
            m.insert(fe.as_name.clone(), item);
            m.insert("index".into(), Value::from(i as u64));
            match value {
                Some(v) => m.insert("value".into(), v),
                None => m.remove("value"),
            };
        }
        let mut r = Renderer::new(k, crd, entry, data, ctx, owner, format!("{path}[{i}]"));
        if let Some(child) = r.child()? {
            children.push(child);
        }
    }
    if let Some(m) = data.as_object_mut() {
        for key in ["item", "index", "value", fe.as_name.as_str()] {
            m.remove(key);
        }
    }
    Ok(())
}

struct Owner {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
    uid: String,
}

impl Owner {
    fn of(crd: &PreparedCrd, cr: &Value) -> Owner {
        Owner {
            api_version: cr
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| crd.api.api_version()),
            kind: cr
                .get("kind")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| crd.api.kind.clone()),
            name: text_at(cr, "/metadata/name"),
            namespace: cr
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            uid: cr
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or(NIL_UID)
                .to_string(),
        }
    }
}

struct Renderer<'a> {
    k: &'a PreparedKatalog,
    crd: &'a PreparedCrd,
    prepared: &'a PreparedEntry,
    data: &'a Value,
    ctx: &'a mut Ctx,
    path: String,
    /// the entry's fields
    entry: &'a Value,
    owner: &'a Owner,
}

impl<'a> Renderer<'a> {
    fn new(
        k: &'a PreparedKatalog,
        crd: &'a PreparedCrd,
        prepared: &'a PreparedEntry,
        data: &'a Value,
        ctx: &'a mut Ctx,
        owner: &'a Owner,
        path: String,
    ) -> Self {
        Renderer {
            k,
            crd,
            prepared,
            data,
            ctx,
            path,
            entry: &prepared.fields,
            owner,
        }
    }
}

/// True when a message about this template may not show values (docs/katalog.md §6.4): the
/// entry is a Secret, or the template reads a CR path this CRD renders into a Secret.
fn withholds(crd: &PreparedCrd, entry: &PreparedEntry, t: &Template) -> bool {
    entry.kind == ChildKind::Secrets
        || t.root_paths().iter().any(|p| {
            crd.secret_bound
                .iter()
                .any(|s| s.starts_with(&p.segments) || p.segments.starts_with(s))
        })
}

/// The message of a template error: without values when [`withholds`] says so.
fn exec_message(crd: &PreparedCrd, entry: &PreparedEntry, t: &Template, e: &ExecError) -> String {
    if withholds(crd, entry, t) {
        e.without_values()
    } else {
        e.to_string()
    }
}

impl Renderer<'_> {
    fn withholds(&self, t: &Template) -> bool {
        withholds(self.crd, self.prepared, t)
    }

    fn exec_err(&self, key: &str, t: &Template, e: ExecError) -> Failure {
        let msg = exec_message(self.crd, self.prepared, t, &e);
        fail("TemplateError", format!("{}.{key}: {msg}", self.path))
    }

    /// The parsed template of a field value: prepared once, never parsed per render.
    fn template(&self, key: &str, s: &str) -> Result<Arc<Template>, Failure> {
        // a parse error quotes Katalog text, never data
        self.k
            .template(s)
            .map_err(|e| fail("TemplateError", format!("{}.{key}: {e}", self.path)))
    }

    fn render_str(&mut self, key: &str, s: &str, trim: bool) -> Result<String, Failure> {
        if !ork_template::is_template(s) {
            return Ok(if trim {
                s.trim().to_string()
            } else {
                s.to_string()
            });
        }
        let t = self.template(key, s)?;
        let out = t
            .render_with(self.data, self.ctx)
            .map_err(|e| self.exec_err(key, &t, e))?;
        Ok(if trim { out.trim().to_string() } else { out })
    }
    /// A string field of `obj`; empty means unset.
    fn text_in(&mut self, obj: &Value, key: &str) -> Result<Option<String>, Failure> {
        match obj.get(key) {
            Some(Value::String(s)) => {
                let r = self.render_str(key, s, true)?;
                Ok((!r.is_empty()).then_some(r))
            }
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            _ => Ok(None),
        }
    }

    fn text(&mut self, key: &str) -> Result<Option<String>, Failure> {
        let e = self.entry;
        self.text_in(e, key)
    }

    /// `rotateAfter` of a `once` Secret (docs/katalog.md §3.2); `None` for every other entry.
    fn rotate_after(&mut self) -> Result<Option<std::time::Duration>, Failure> {
        if self.prepared.kind != ChildKind::Secrets
            || self.entry.get("once") != Some(&Value::Bool(true))
        {
            return Ok(None);
        }
        let Some(text) = self.text("rotateAfter")? else {
            return Ok(None);
        };
        ork_template::duration::parse_duration(&text)
            .map(Some)
            .map_err(|e| fail("InvalidValue", format!("{}.rotateAfter: {e}", self.path)))
    }

    fn coerced_in(
        &mut self,
        obj: &Value,
        key: &str,
        c: Coerce,
        prefix: &str,
    ) -> Result<Option<Value>, Failure> {
        let Some(t) = self.text_in(obj, key)? else {
            return Ok(None);
        };
        coerce(&t, c).map_err(|e| {
            let withheld = match obj.get(key).and_then(Value::as_str) {
                Some(src) if ork_template::is_template(src) => self
                    .k
                    .template(src)
                    .map_or(true, |tpl| self.withholds(&tpl)),
                _ => false,
            };
            let msg = if withheld {
                "the rendered value does not convert (value withheld: it reads a value bound for a Secret)".to_string()
            } else {
                e
            };
            fail("InvalidValue", format!("{}.{prefix}{key}: {msg}", self.path))
        })
    }

    fn coerced(&mut self, key: &str, c: Coerce) -> Result<Option<Value>, Failure> {
        let e = self.entry;
        self.coerced_in(e, key, c, "")
    }

    /// A structured field: a bare-path template yields the raw value; otherwise string leaves
    /// are rendered (trimmed).
    fn tree_in(&mut self, obj: &Value, key: &str) -> Result<Option<Value>, Failure> {
        let Some(v) = obj.get(key) else {
            return Ok(None);
        };
        if let Value::String(s) = v
            && ork_template::is_template(s)
        {
            let t = self.template(key, s)?;
            if t.is_bare_path() {
                return t
                    .render_value(self.data, self.ctx)
                    .map_err(|e| self.exec_err(key, &t, e));
            }
        }
        self.leaves(v, key).map(Some)
    }

    fn tree(&mut self, key: &str) -> Result<Option<Value>, Failure> {
        let e = self.entry;
        self.tree_in(e, key)
    }

    fn leaves(&mut self, v: &Value, key: &str) -> Result<Value, Failure> {
        Ok(match v {
            Value::String(s) => Value::String(self.render_str(key, s, true)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.leaves(x, key))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.leaves(x, key)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    fn string_map(&mut self, key: &str, trim: bool) -> Result<Map<String, Value>, Failure> {
        let mut out = Map::new();
        if let Some(m) = self.entry.get(key).and_then(Value::as_object) {
            for (k, v) in m {
                let s = v.as_str().unwrap_or_default();
                out.insert(
                    k.clone(),
                    Value::String(self.render_str(&format!("{key}.{k}"), s, trim)?),
                );
            }
        }
        Ok(out)
    }

    fn name(&mut self, default: Option<String>) -> Result<String, Failure> {
        let n = match self.text("name")? {
            Some(n) => n,
            None => default.ok_or_else(|| {
                fail(
                    "InvalidValue",
                    format!("{}.name: a name is required", self.path),
                )
            })?,
        };
        if !is_dns1123_subdomain(&n) {
            return Err(fail(
                "InvalidValue",
                format!("{}.name: {} is not a DNS-1123 name", self.path, quote(&n)),
            ));
        }
        Ok(n)
    }

    fn namespace(&mut self, namespaced_kind: bool) -> Result<Option<String>, Failure> {
        if !namespaced_kind {
            return Ok(None);
        }
        let given = self.text("namespace")?;
        match (&self.owner.namespace, given) {
            (Some(cr_ns), Some(ns)) if *cr_ns != ns => Err(fail(
                "InvalidValue",
                format!(
                    "{}.namespace: {} differs from the CR's namespace {}",
                    self.path,
                    quote(&ns),
                    quote(cr_ns)
                ),
            )),
            (Some(cr_ns), _) => Ok(Some(cr_ns.clone())),
            (None, Some(ns)) => Ok(Some(ns)),
            (None, None) => Err(fail(
                "InvalidValue",
                format!(
                    "{}.namespace: required under a cluster-scoped CR",
                    self.path
                ),
            )),
        }
    }

    fn managed_labels(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(MANAGED.into(), json!("true"));
        m.insert(OWNER.into(), json!(self.owner.name));
        m.insert(OWNER_UID.into(), json!(self.owner.uid));
        m
    }

    fn metadata(&mut self, name: &str, ns: Option<String>) -> Result<Value, Failure> {
        let mut labels = self.string_map("labels", true)?;
        labels.extend(self.managed_labels());
        let annotations = self.string_map("annotations", true)?;
        let mut md = Map::new();
        md.insert("name".into(), json!(name));
        if let Some(ns) = ns {
            md.insert("namespace".into(), json!(ns));
        }
        md.insert("labels".into(), Value::Object(labels));
        if !annotations.is_empty() {
            md.insert("annotations".into(), Value::Object(annotations));
        }
        md.insert(
            "ownerReferences".into(),
            json!([{"apiVersion": self.owner.api_version, "kind": self.owner.kind, "name": self.owner.name, "uid": self.owner.uid,
                    "controller": true, "blockOwnerDeletion": true}]),
        );
        Ok(Value::Object(md))
    }

    fn child(&mut self) -> Result<Option<Child>, Failure> {
        let gate = {
            let mut scope = Scope {
                data: self.data,
                ctx: self.ctx,
                peers: None,
            };
            self.prepared
                .gate
                .evaluate(&mut scope)
                .map_err(|e| fail("TemplateError", format!("{}: {e}", self.path)))?
        };
        if gate == Eval::False {
            return Ok(None);
        }
        let kind = self.prepared.kind;
        let op = self.prepared.op;
        let cr = self.owner.name.clone();
        let Some(info) = kind.info() else {
            return self.custom(op).map(Some);
        };
        let name = self.name(info.default_suffix.map(|sfx| format!("{cr}{sfx}")))?;
        let ns = self.namespace(true)?;
        let metadata = self.metadata(&name, ns.clone())?;
        let mut obj =
            json!({"apiVersion": info.api_version, "kind": info.kind, "metadata": metadata});
        let body: Map<String, Value> = match kind {
            ChildKind::Deployments | ChildKind::StatefulSets => self.workload(kind, &name)?,
            ChildKind::Jobs => {
                let mut m = Map::new();
                m.insert("spec".into(), self.job_spec(&name)?);
                m
            }
            ChildKind::CronJobs => self.cronjob(&name)?,
            ChildKind::Services => self.service()?,
            ChildKind::ConfigMaps => {
                let data = self.string_map("data", false)?;
                let mut m = Map::new();
                if !data.is_empty() {
                    m.insert("data".into(), Value::Object(data));
                }
                m
            }
            ChildKind::Secrets => self.secret()?,
            ChildKind::ServiceAccounts => {
                let mut m = Map::new();
                if let Some(list) = self.name_list("imagePullSecrets")? {
                    m.insert("imagePullSecrets".into(), list);
                }
                m
            }
            ChildKind::Ingresses => self.ingress()?,
            ChildKind::NetworkPolicies => self.network_policy()?,
            ChildKind::Pdb => self.pdb()?,
            ChildKind::Hpa => self.hpa()?,
            ChildKind::Roles => {
                let mut m = Map::new();
                let rules = self.tree("rules")?.unwrap_or(json!([]));
                let rules: Vec<Value> = rules
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut r| {
                        if let Some(o) = r.as_object_mut() {
                            o.entry("apiGroups").or_insert(json!([""]));
                        }
                        r
                    })
                    .collect();
                m.insert("rules".into(), Value::Array(rules));
                m
            }
            ChildKind::RoleBindings => self.role_binding(ns.as_deref())?,
            ChildKind::PersistentVolumeClaims => {
                let mut m = Map::new();
                m.insert("spec".into(), self.pvc_spec()?);
                m
            }
            // `info()` is None for custom, handled above
            ChildKind::Custom => Map::new(),
        };
        if let Some(o) = obj.as_object_mut() {
            o.extend(body);
        }
        Ok(Some(Child {
            entry: self.path.clone(),
            op,
            resource: info.resource.into(),
            object: obj,
            kind,
            force: self.prepared.force,
            rotate_after: self.rotate_after()?,
        }))
    }

    fn name_list(&mut self, key: &str) -> Result<Option<Value>, Failure> {
        let Some(v) = self.tree(key)? else {
            return Ok(None);
        };
        let names: Vec<Value> = match v {
            Value::Array(a) => a
                .into_iter()
                .filter_map(|x| x.as_str().map(|s| json!({"name": s})))
                .collect(),
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!({"name": s}))
                .collect(),
            _ => Vec::new(),
        };
        Ok((!names.is_empty()).then_some(Value::Array(names)))
    }

    fn pod_labels(&mut self, name: &str) -> Result<Map<String, Value>, Failure> {
        let mut labels = self.string_map("labels", true)?;
        labels.insert(OWNER.into(), json!(self.owner.name));
        labels.insert(WORKLOAD.into(), json!(name));
        Ok(labels)
    }

    fn probe(&mut self, key: &str, port: &Option<Value>) -> Result<Option<Value>, Failure> {
        let Some(p) = self.entry.pointer(&format!("/probes/{key}")).cloned() else {
            return Ok(None);
        };
        let prefix = format!("probes.{key}.");
        let ty = self
            .coerced_in(&p, "type", Coerce::Enum(&["http", "tcp"]), &prefix)?
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "http".into());
        let pport = self
            .coerced_in(&p, "port", Coerce::PortOrName, &prefix)?
            .or_else(|| port.clone());
        let Some(pport) = pport else {
            return Err(fail(
                "InvalidValue",
                format!(
                    "{}.probes.{key}.port: no probe port and no container port",
                    self.path
                ),
            ));
        };
        let mut out = if ty == "tcp" {
            json!({"tcpSocket": {"port": pport}})
        } else {
            let path = self.text_in(&p, "path")?.unwrap_or_else(|| "/".into());
            json!({"httpGet": {"path": path, "port": pport}})
        };
        for k in ["initialDelaySeconds", "periodSeconds", "failureThreshold"] {
            if let Some(v) = self.coerced_in(&p, k, Coerce::Count, &prefix)? {
                out[k] = v;
            }
        }
        Ok(Some(out))
    }

    /// The pod template spec of a workload entry, with its security contexts.
    fn pod_spec(&mut self, name: &str, extra_mounts: Vec<Value>) -> Result<Value, Failure> {
        let mut image = self
            .text("image")?
            .ok_or_else(|| fail("InvalidValue", format!("{}.image: required", self.path)))?;
        if let Some(tag) = self.text("tag")? {
            let last = image.rsplit('/').next().unwrap_or(&image);
            if !last.contains(':') && !image.contains('@') {
                image = format!("{image}:{tag}");
            }
        }
        let mut c = Map::new();
        c.insert("name".into(), json!(name));
        c.insert("image".into(), json!(image));
        for key in ["command", "args"] {
            if let Some(v) = self.tree(key)?
                && !matches!(&v, Value::Array(a) if a.is_empty())
            {
                c.insert(key.into(), v);
            }
        }
        let port = self.coerced("port", Coerce::Port)?;
        if let Some(p) = &port {
            let proto = self
                .coerced("protocol", Coerce::Enum(&["TCP", "UDP", "SCTP"]))?
                .unwrap_or(json!("TCP"));
            c.insert(
                "ports".into(),
                json!([{"containerPort": p, "protocol": proto}]),
            );
        }
        if let Some(env) = self.tree("env")?
            && env.as_array().is_some_and(|a| !a.is_empty())
        {
            c.insert("env".into(), env);
        }
        if let Some(ef) = self.entry.get("envFrom").cloned() {
            let mut list = Vec::new();
            for (key, out_key) in [("configMapRef", "configMapRef"), ("secretRef", "secretRef")] {
                for r in ef
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    let n = self.text_in(&r, "name")?.unwrap_or_default();
                    list.push(json!({ out_key: {"name": n} }));
                }
            }
            if !list.is_empty() {
                c.insert("envFrom".into(), Value::Array(list));
            }
        }
        if let Some(res) = self.entry.get("resources").cloned() {
            let mut out = Map::new();
            for k in ["requests", "limits"] {
                if let Some(m) = res.get(k).and_then(Value::as_object) {
                    let mut q = Map::new();
                    for (rk, rv) in m {
                        let s = self.render_str(
                            &format!("resources.{k}.{rk}"),
                            rv.as_str().unwrap_or_default(),
                            true,
                        )?;
                        if let Some(v) = coerce(&s, Coerce::Quantity).map_err(|e| {
                            fail(
                                "InvalidValue",
                                format!("{}.resources.{k}.{rk}: {e}", self.path),
                            )
                        })? {
                            q.insert(rk.clone(), v);
                        }
                    }
                    if !q.is_empty() {
                        out.insert(k.into(), Value::Object(q));
                    }
                }
            }
            if !out.is_empty() {
                c.insert("resources".into(), Value::Object(out));
            }
        }
        let mut mounts = match self.tree("volumeMounts")? {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        mounts.extend(extra_mounts);
        if !mounts.is_empty() {
            c.insert("volumeMounts".into(), Value::Array(mounts));
        }
        if let Some(wd) = self.text("workingDirectory")? {
            c.insert("workingDir".into(), json!(wd));
        }
        for (key, k8s) in [
            ("startup", "startupProbe"),
            ("liveness", "livenessProbe"),
            ("readiness", "readinessProbe"),
        ] {
            if let Some(p) = self.probe(key, &port)? {
                c.insert(k8s.into(), p);
            }
        }
        // security contexts: profiles resolved, explicit fields rendered
        let sc = match self.entry.get("securityContext").cloned() {
            Some(v) => Some(self.leaves(&v, "securityContext")?),
            None => None,
        };
        let psc = match self.entry.get("podSecurity").cloned() {
            Some(v) => Some(self.leaves(&v, "podSecurity")?),
            None => None,
        };
        let profiles::Resolved {
            container: csc,
            pod: podsc,
            pod_spec: profile_pod_spec,
        } = match profiles::resolve(self.k, sc.as_ref(), psc.as_ref()) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                return Err(fail(
                    "InvalidValue",
                    format!("{}.securityContext: {e}", self.path),
                ));
            }
            Err(profiles::UnknownProfile(p)) => {
                return Err(fail(
                    "UnknownSecurityProfile",
                    format!("{}: unknown security profile {}", self.path, quote(&p)),
                ));
            }
        };
        if csc.as_object().is_some_and(|m| !m.is_empty()) {
            c.insert("securityContext".into(), csc);
        }
        let mut pod = Map::new();
        if let Some(sa) = self.text("serviceAccountName")? {
            pod.insert("serviceAccountName".into(), json!(sa));
        }
        if podsc.as_object().is_some_and(|m| !m.is_empty()) {
            pod.insert("securityContext".into(), podsc);
        }
        // the entry's own choice wins over what its profile sets
        match self.coerced("automountServiceAccountToken", Coerce::Bool)? {
            Some(v) => {
                pod.insert("automountServiceAccountToken".into(), v);
            }
            None => {
                if let Value::Object(m) = profile_pod_spec {
                    pod.extend(m);
                }
            }
        }
        if let Some(v) = self.tree("volumes")?
            && v.as_array().is_some_and(|a| !a.is_empty())
        {
            pod.insert("volumes".into(), v);
        }
        if let Some(list) = self.name_list("imagePullSecrets")? {
            pod.insert("imagePullSecrets".into(), list);
        }
        let ns = self.string_map("nodeSelector", true)?;
        if !ns.is_empty() {
            pod.insert("nodeSelector".into(), Value::Object(ns));
        }
        pod.insert("containers".into(), json!([Value::Object(c)]));
        Ok(Value::Object(pod))
    }

    fn workload(&mut self, kind: ChildKind, name: &str) -> Result<Map<String, Value>, Failure> {
        let labels = self.pod_labels(name)?;
        let selector = json!({OWNER: self.owner.name, WORKLOAD: name});
        let mut vct = Vec::new();
        let mut mounts = Vec::new();
        if kind == ChildKind::StatefulSets {
            for (i, t) in self
                .entry
                .get("volumeClaimTemplates")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let prefix = format!("volumeClaimTemplates[{i}].");
                let n = self.text_in(t, "name")?.unwrap_or_default();
                let size = self.coerced_in(t, "storageSize", Coerce::Quantity, &prefix)?;
                let mount = self.text_in(t, "mountPath")?.unwrap_or_default();
                let modes = self
                    .tree_in(t, "accessModes")?
                    .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                    .unwrap_or(json!(["ReadWriteOnce"]));
                let mut spec =
                    json!({"accessModes": modes, "resources": {"requests": {"storage": size}}});
                if let Some(sc) = self.text_in(t, "storageClass")? {
                    spec["storageClassName"] = json!(sc);
                }
                vct.push(json!({"metadata": {"name": n}, "spec": spec}));
                mounts.push(json!({"name": n, "mountPath": mount}));
            }
        }
        let pod = self.pod_spec(name, mounts)?;
        let replicas = self.coerced("replicas", Coerce::Count)?.unwrap_or(json!(1));
        let mut spec = Map::new();
        spec.insert("replicas".into(), replicas);
        spec.insert("selector".into(), json!({"matchLabels": selector}));
        spec.insert(
            "template".into(),
            json!({"metadata": {"labels": labels}, "spec": pod}),
        );
        if kind == ChildKind::StatefulSets {
            let svc = self
                .text("serviceName")?
                .unwrap_or_else(|| name.to_string());
            spec.insert("serviceName".into(), json!(svc));
            if !vct.is_empty() {
                spec.insert("volumeClaimTemplates".into(), Value::Array(vct));
            }
        } else if let Some(ru) = self.entry.get("rollingUpdate").cloned() {
            let mut r = Map::new();
            for k in ["maxSurge", "maxUnavailable"] {
                if let Some(v) = self.coerced_in(&ru, k, Coerce::IntOrPercent, "rollingUpdate.")? {
                    r.insert(k.into(), v);
                }
            }
            spec.insert(
                "strategy".into(),
                json!({"type": "RollingUpdate", "rollingUpdate": r}),
            );
        }
        let mut m = Map::new();
        m.insert("spec".into(), Value::Object(spec));
        Ok(m)
    }

    fn job_spec(&mut self, name: &str) -> Result<Value, Failure> {
        let labels = self.pod_labels(name)?;
        let mut pod = self.pod_spec(name, Vec::new())?;
        if let Some(p) = pod.as_object_mut() {
            p.insert("restartPolicy".into(), json!("Never"));
        }
        let backoff = self
            .coerced("backoffLimit", Coerce::Count)?
            .unwrap_or(json!(3));
        Ok(
            json!({"backoffLimit": backoff, "template": {"metadata": {"labels": labels}, "spec": pod}}),
        )
    }

    fn cronjob(&mut self, name: &str) -> Result<Map<String, Value>, Failure> {
        let job = self.job_spec(name)?;
        let mut spec = Map::new();
        spec.insert(
            "schedule".into(),
            self.coerced("schedule", Coerce::Schedule)?
                .unwrap_or(Value::Null),
        );
        spec.insert(
            "suspend".into(),
            self.coerced("suspend", Coerce::Bool)?
                .unwrap_or(json!(false)),
        );
        spec.insert(
            "concurrencyPolicy".into(),
            self.coerced(
                "concurrencyPolicy",
                Coerce::Enum(&["Allow", "Forbid", "Replace"]),
            )?
            .unwrap_or(json!("Allow")),
        );
        spec.insert(
            "successfulJobsHistoryLimit".into(),
            self.coerced("successfulJobsHistoryLimit", Coerce::Count)?
                .unwrap_or(json!(3)),
        );
        spec.insert(
            "failedJobsHistoryLimit".into(),
            self.coerced("failedJobsHistoryLimit", Coerce::Count)?
                .unwrap_or(json!(1)),
        );
        if let Some(v) = self.coerced("startingDeadlineSeconds", Coerce::Count)? {
            spec.insert("startingDeadlineSeconds".into(), v);
        }
        if let Some(tz) = self.text("timeZone")? {
            spec.insert("timeZone".into(), json!(tz));
        }
        spec.insert("jobTemplate".into(), json!({"spec": job}));
        let mut m = Map::new();
        m.insert("spec".into(), Value::Object(spec));
        Ok(m)
    }

    fn service(&mut self) -> Result<Map<String, Value>, Failure> {
        let port = self.coerced("port", Coerce::Port)?.ok_or_else(|| {
            fail(
                "InvalidValue",
                format!("{}.port: a Service needs a port", self.path),
            )
        })?;
        let target = self
            .coerced("targetPort", Coerce::PortOrName)?
            .unwrap_or_else(|| port.clone());
        let proto = self
            .coerced("protocol", Coerce::Enum(&["TCP", "UDP", "SCTP"]))?
            .unwrap_or(json!("TCP"));
        let ty = self
            .coerced(
                "type",
                Coerce::Enum(&["ClusterIP", "NodePort", "LoadBalancer"]),
            )?
            .unwrap_or(json!("ClusterIP"));
        let mut selector = self.string_map("selector", true)?;
        selector.insert(OWNER.into(), json!(self.owner.name));
        let mut p = json!({"port": port, "targetPort": target, "protocol": proto});
        if let Some(n) = self.text("portName")? {
            p["name"] = json!(n);
        }
        if let Some(np) = self.coerced("nodePort", Coerce::Port)? {
            p["nodePort"] = np;
        }
        let mut spec = json!({"type": ty, "selector": selector, "ports": [p]});
        if self.coerced("headless", Coerce::Bool)? == Some(json!(true)) {
            spec["clusterIP"] = json!("None");
        }
        let mut m = Map::new();
        m.insert("spec".into(), spec);
        Ok(m)
    }

    fn secret(&mut self) -> Result<Map<String, Value>, Failure> {
        let ty = self.text("type")?.unwrap_or_else(|| "Opaque".into());
        let data = self.string_map("data", false)?;
        let mut m = Map::new();
        m.insert("type".into(), json!(ty));
        if !data.is_empty() {
            let enc: Map<String, Value> = data
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        json!(
                            base64::engine::general_purpose::STANDARD
                                .encode(v.as_str().unwrap_or_default())
                        ),
                    )
                })
                .collect();
            m.insert("data".into(), Value::Object(enc));
        }
        Ok(m)
    }

    fn ingress(&mut self) -> Result<Map<String, Value>, Failure> {
        let svc = self
            .text("serviceName")?
            .unwrap_or_else(|| format!("{}-svc", self.owner.name));
        let port = self
            .coerced("servicePort", Coerce::PortOrName)?
            .ok_or_else(|| {
                fail(
                    "InvalidValue",
                    format!("{}.servicePort: required", self.path),
                )
            })?;
        let port = if port.is_string() {
            json!({"name": port})
        } else {
            json!({"number": port})
        };
        let path = self.text("path")?.unwrap_or_else(|| "/".into());
        let path_type = self
            .coerced(
                "pathType",
                Coerce::Enum(&["Prefix", "Exact", "ImplementationSpecific"]),
            )?
            .unwrap_or(json!("Prefix"));
        let mut rule = json!({"http": {"paths": [{"path": path, "pathType": path_type, "backend": {"service": {"name": svc, "port": port}}}]}});
        if let Some(h) = self.text("host")? {
            rule["host"] = json!(h);
        }
        let mut spec = json!({"rules": [rule]});
        if let Some(c) = self.text("className")? {
            spec["ingressClassName"] = json!(c);
        }
        if let Some(tls) = self.entry.get("tls").cloned() {
            let secret = self.text_in(&tls, "secretName")?.unwrap_or_default();
            let hosts = self.tree_in(&tls, "hosts")?;
            let mut t = json!({"secretName": secret});
            if let Some(h) = hosts {
                t["hosts"] = h;
            }
            spec["tls"] = json!([t]);
        }
        let mut m = Map::new();
        m.insert("spec".into(), spec);
        Ok(m)
    }

    fn owner_selector(&self) -> Value {
        json!({"matchLabels": {OWNER: self.owner.name}})
    }

    fn network_policy(&mut self) -> Result<Map<String, Value>, Failure> {
        let selector = self
            .tree("podSelector")?
            .unwrap_or_else(|| self.owner_selector());
        let profile = self.coerced(
            "profile",
            Coerce::Enum(&[
                "deny-all",
                "deny-all-ingress",
                "deny-all-egress",
                "allow-same-namespace",
                "allow-dns-egress",
            ]),
        )?;
        let mut spec = json!({"podSelector": selector});
        match profile.as_ref().and_then(Value::as_str) {
            Some("deny-all") => spec["policyTypes"] = json!(["Ingress", "Egress"]),
            Some("deny-all-ingress") => spec["policyTypes"] = json!(["Ingress"]),
            Some("deny-all-egress") => spec["policyTypes"] = json!(["Egress"]),
            Some("allow-same-namespace") => {
                spec["policyTypes"] = json!(["Ingress"]);
                spec["ingress"] = json!([{"from": [{"podSelector": {}}]}]);
            }
            Some("allow-dns-egress") => {
                spec["policyTypes"] = json!(["Egress"]);
                spec["egress"] = json!([{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]);
            }
            // the enum coercion above refuses any other profile name
            Some(other) => {
                return Err(fail(
                    "InvalidValue",
                    format!(
                        "{}.profile: unknown network policy profile {}",
                        self.path,
                        quote(other)
                    ),
                ));
            }
            None => {
                let mut types = Vec::new();
                for (k, t) in [("ingress", "Ingress"), ("egress", "Egress")] {
                    if let Some(v) = self.tree(k)? {
                        spec[k] = v;
                        types.push(t);
                    }
                }
                let explicit = self.tree("policyTypes")?;
                spec["policyTypes"] = explicit.unwrap_or_else(|| {
                    json!(if types.is_empty() {
                        vec!["Ingress"]
                    } else {
                        types
                    })
                });
            }
        }
        let mut m = Map::new();
        m.insert("spec".into(), spec);
        Ok(m)
    }

    fn pdb(&mut self) -> Result<Map<String, Value>, Failure> {
        let mut sel = self.string_map("selector", true)?;
        if sel.is_empty() {
            sel.insert(OWNER.into(), json!(self.owner.name));
        }
        let mut spec = json!({"selector": {"matchLabels": sel}});
        for k in ["minAvailable", "maxUnavailable"] {
            if let Some(v) = self.coerced(k, Coerce::IntOrPercent)? {
                spec[k] = v;
            }
        }
        let mut m = Map::new();
        m.insert("spec".into(), spec);
        Ok(m)
    }

    fn hpa(&mut self) -> Result<Map<String, Value>, Failure> {
        let t = self
            .entry
            .get("scaleTargetRef")
            .cloned()
            .unwrap_or(json!({}));
        let target = json!({
            "apiVersion": self.text_in(&t, "apiVersion")?.unwrap_or_else(|| "apps/v1".into()),
            "kind": self.text_in(&t, "kind")?.unwrap_or_else(|| "Deployment".into()),
            "name": self.text_in(&t, "name")?.unwrap_or_default(),
        });
        let min = self
            .coerced("minReplicas", Coerce::Positive)?
            .unwrap_or(json!(1));
        let max = self
            .coerced("maxReplicas", Coerce::Positive)?
            .ok_or_else(|| {
                fail(
                    "InvalidValue",
                    format!("{}.maxReplicas: required", self.path),
                )
            })?;
        if max.as_i64() < min.as_i64() {
            return Err(fail(
                "InvalidValue",
                format!(
                    "{}.maxReplicas: {max} is below minReplicas {min}",
                    self.path
                ),
            ));
        }
        let cpu = self
            .coerced("targetCPUUtilizationPercentage", Coerce::Percent)?
            .unwrap_or(json!(80));
        let mut spec = json!({"scaleTargetRef": target, "minReplicas": min, "maxReplicas": max,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]});
        if let Some(b) = self.tree("behavior")? {
            spec["behavior"] = b;
        }
        let mut m = Map::new();
        m.insert("spec".into(), spec);
        Ok(m)
    }

    fn role_binding(&mut self, ns: Option<&str>) -> Result<Map<String, Value>, Failure> {
        let rr = self.entry.get("roleRef").cloned().unwrap_or(json!({}));
        let kind = self
            .coerced_in(
                &rr,
                "kind",
                Coerce::Enum(&["Role", "ClusterRole"]),
                "roleRef.",
            )?
            .unwrap_or(json!("Role"));
        let role = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": self.text_in(&rr, "name")?.unwrap_or_default()});
        let mut subjects = Vec::new();
        for s in self
            .entry
            .get("subjects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let kind = self.text_in(&s, "kind")?.unwrap_or_default();
            let mut o =
                json!({"kind": kind, "name": self.text_in(&s, "name")?.unwrap_or_default()});
            if kind == "ServiceAccount" {
                o["namespace"] = json!(
                    self.text_in(&s, "namespace")?
                        .or_else(|| ns.map(str::to_string))
                        .unwrap_or_default()
                );
            } else {
                o["apiGroup"] = json!("rbac.authorization.k8s.io");
            }
            subjects.push(o);
        }
        let mut m = Map::new();
        m.insert("roleRef".into(), role);
        m.insert("subjects".into(), Value::Array(subjects));
        Ok(m)
    }

    fn pvc_spec(&mut self) -> Result<Value, Failure> {
        let storage = self
            .coerced("storage", Coerce::Quantity)?
            .ok_or_else(|| fail("InvalidValue", format!("{}.storage: required", self.path)))?;
        let modes = self
            .tree("accessModes")?
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            .unwrap_or(json!(["ReadWriteOnce"]));
        let mode = self
            .coerced("volumeMode", Coerce::Enum(&["Filesystem", "Block"]))?
            .unwrap_or(json!("Filesystem"));
        let mut spec = json!({"accessModes": modes, "volumeMode": mode, "resources": {"requests": {"storage": storage}}});
        if let Some(sc) = self.text("storageClassName")? {
            spec["storageClassName"] = json!(sc);
        }
        if let Some(v) = self.text("volumeName")? {
            spec["volumeName"] = json!(v);
        }
        Ok(spec)
    }

    fn custom(&mut self, op: Op) -> Result<Child, Failure> {
        let api_version = self.text("apiVersion")?.unwrap_or_default();
        let kind = self.text("kind")?.unwrap_or_default();
        let md = self.entry.get("metadata").cloned().unwrap_or(json!({}));
        let name = self.text_in(&md, "name")?.ok_or_else(|| {
            fail(
                "InvalidValue",
                format!("{}.metadata.name: required", self.path),
            )
        })?;
        if !is_dns1123_subdomain(&name) {
            return Err(fail(
                "InvalidValue",
                format!(
                    "{}.metadata.name: {} is not a DNS-1123 name",
                    self.path,
                    quote(&name)
                ),
            ));
        }
        let namespaced = self
            .entry
            .get("namespaced")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let ns = if namespaced {
            match (&self.owner.namespace, self.text_in(&md, "namespace")?) {
                (Some(cr), _) => Some(cr.clone()),
                (None, Some(ns)) => Some(ns),
                (None, None) => {
                    return Err(fail(
                        "InvalidValue",
                        format!(
                            "{}.metadata.namespace: required under a cluster-scoped CR",
                            self.path
                        ),
                    ));
                }
            }
        } else {
            None
        };
        let mut labels = Map::new();
        if let Some(m) = md.get("labels").and_then(Value::as_object) {
            for (k, v) in m {
                labels.insert(
                    k.clone(),
                    json!(self.render_str(k, v.as_str().unwrap_or_default(), true)?),
                );
            }
        }
        labels.extend(self.managed_labels());
        let mut meta = json!({"name": name, "labels": labels, "ownerReferences": [{"apiVersion": self.owner.api_version, "kind": self.owner.kind,
            "name": self.owner.name, "uid": self.owner.uid, "controller": true, "blockOwnerDeletion": true}]});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        if let Some(a) = md.get("annotations").and_then(Value::as_object) {
            let mut out = Map::new();
            for (k, v) in a {
                out.insert(
                    k.clone(),
                    json!(self.render_str(k, v.as_str().unwrap_or_default(), true)?),
                );
            }
            meta["annotations"] = Value::Object(out);
        }
        let mut obj = json!({"apiVersion": api_version, "kind": kind, "metadata": meta});
        if let Some(spec) = self.entry.get("spec").cloned() {
            obj["spec"] = self.custom_spec(&spec)?;
        }
        let plural = custom_plural(self.k, self.entry, &api_version, &kind);
        Ok(Child {
            entry: self.path.clone(),
            op,
            resource: plural,
            object: obj,
            kind: ChildKind::Custom,
            force: self.prepared.force,
            rotate_after: None,
        })
    }

    /// `custom.spec`: string leaves templated; a bare-path value yields the raw value and a
    /// missing one omits the key.
    fn custom_spec(&mut self, v: &Value) -> Result<Value, Failure> {
        Ok(match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    if let Value::String(s) = x
                        && ork_template::is_template(s)
                    {
                        let t = self.template(k, s)?;
                        if t.is_bare_path() {
                            if let Some(val) = t
                                .render_value(self.data, self.ctx)
                                .map_err(|e| self.exec_err(k, &t, e))?
                            {
                                out.insert(k.clone(), val);
                            }
                            continue;
                        }
                    }
                    out.insert(k.clone(), self.custom_spec(x)?);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.custom_spec(x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::String(s) => Value::String(self.render_str("spec", s, true)?),
            other => other.clone(),
        })
    }
}
