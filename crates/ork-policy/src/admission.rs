//! The decision core: one function, [`decide`], gives every verdict ork enforces — the
//! Gateway's webhooks, the reconciler backstop, `ork gate check`, `ork simulate` and
//! `ork template` (docs/architecture.md, docs/security.md §2.3–§2.8).
//!
//! `decide` is pure and synchronous: a prepared Katalog and a typed request in, a verdict out.
//! Cluster state it may need (the target Pod of an exec, the peers of a `unique` rule) comes in
//! the request. A policy that cannot be evaluated — a template that fails, a regex that does not
//! compile, an object that is missing or cannot be read — is an [`EvalError`]. It never means
//! "allowed": each layer's error is mapped by that layer's own failurePolicy (`Fail` denies with
//! `evaluation-error`, `Ignore` admits with a warning), and at reconcile time always denies. One
//! layer's error never discards another layer's verdict: every requested layer is evaluated.
//! The typed errors stay in [`Verdict::errors`] for callers that report them.
//!
//! Layers run in the webhook order of docs/cli.md §12: namespace protection, mutation,
//! validation, reserved keys, deletion protection, strict mode, pod security, exec protection,
//! and the control-plane guard.

use std::collections::BTreeMap;
use std::fmt;

use crate::json::Json;
use ork_katalog::{FailurePolicy, Operation, PodSecurityLevel};
use ork_template::Ctx;
use serde_json::Value;

use crate::checks::{
    EXEC_CHECKS, Finding, is_pod_bearing, is_workload_kind, level_checks, pod_checks,
};
use crate::conditions::{Peers, Scope};
use crate::namespaces;
use crate::prepared::{
    CONTROL_PLANE_LABEL, CONTROL_PLANE_VALUE, EXEMPTION_LABEL, GUARD_POLICY, GroupResource,
    OWNER_LABEL, PROTECTION_LABEL, PreparedCrd, PreparedKatalog, RESERVED_PREFIX,
    WEBHOOK_CONFIGURATIONS,
};
use crate::rules::{self, MutateError, MutationChange, Point, RuleOutcome};

/// One layer of docs/security.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    NamespaceProtection,
    Mutation,
    Validation,
    ReservedKeys,
    DeletionProtection,
    StrictMode,
    PodSecurity,
    ExecProtection,
    ControlPlane,
}

impl Layer {
    /// The webhook order (docs/cli.md §12).
    pub const ORDER: [Layer; 9] = [
        Layer::NamespaceProtection,
        Layer::Mutation,
        Layer::Validation,
        Layer::ReservedKeys,
        Layer::DeletionProtection,
        Layer::StrictMode,
        Layer::PodSecurity,
        Layer::ExecProtection,
        Layer::ControlPlane,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::NamespaceProtection => "namespace-protection",
            Layer::Mutation => "mutation",
            Layer::Validation => "validation",
            Layer::ReservedKeys => "reserved-keys",
            Layer::DeletionProtection => "deletion-protection",
            Layer::StrictMode => "strict-mode",
            Layer::PodSecurity => "pod-security",
            Layer::ExecProtection => "exec-protection",
            Layer::ControlPlane => "control-plane",
        }
    }

    /// The failurePolicy that governs this layer's webhook (docs/security.md §2.3).
    pub fn failure_policy(self, k: &PreparedKatalog) -> FailurePolicy {
        let s = &k.settings;
        match self {
            Layer::Mutation | Layer::Validation | Layer::ReservedKeys => s.admission_policy,
            Layer::DeletionProtection | Layer::StrictMode => s.dp_policy,
            Layer::NamespaceProtection => s.np_policy,
            Layer::PodSecurity => s.ps_admission_policy,
            Layer::ExecProtection => s.exec_policy,
            // the guard is a ValidatingAdmissionPolicy with failurePolicy Fail
            Layer::ControlPlane => FailurePolicy::Fail,
        }
    }

    /// A layer that denies with `[Orkestra Security]` and code 403 (validation: 400).
    fn is_security(self) -> bool {
        !matches!(self, Layer::Validation | Layer::Mutation)
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of layers: the Gateway evaluates its webhook's layers, `ork gate check` all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers(u16);

impl Layers {
    pub const ALL: Layers = Layers(u16::MAX);

    pub fn only(layers: &[Layer]) -> Layers {
        Layers(layers.iter().fold(0, |acc, l| acc | (1 << *l as u16)))
    }

    pub fn contains(self, l: Layer) -> bool {
        self.0 & (1 << l as u16) != 0
    }
}

/// The requester.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// One request to decide. At admission it mirrors an `admission.k8s.io/v1` AdmissionReview
/// request; at reconcile time the runtime builds it for the CR and for each rendered child.
pub struct Request<'a> {
    pub point: Point,
    /// the layers to evaluate (a Gateway webhook evaluates its own)
    pub layers: Layers,
    pub uid: String,
    pub operation: Operation,
    pub user: User,
    /// the object's API group, version and kind (`apps`, `v1`, `Deployment`)
    pub group: String,
    pub version: String,
    pub kind: String,
    /// the resource and subresource (`pods`, `exec`)
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    /// the namespace's labels, when the caller knows them
    pub namespace_labels: BTreeMap<String, String>,
    pub name: String,
    /// the new object; for CONNECT, the target Pod (the Gateway reads it from its cache). A
    /// `Value`, or the Gateway's tape of the request body (`crate::json`).
    pub object: Option<Json<'a>>,
    /// the stored object (UPDATE, DELETE)
    pub old_object: Option<Json<'a>>,
    pub dry_run: bool,
    /// other objects of the kind, for `unique` (the Gateway's informer cache)
    pub peers: Option<&'a dyn Peers>,
}

impl<'a> Request<'a> {
    /// A request about `obj` read from its own `apiVersion`, `kind` and metadata; `resource`
    /// is the lower-case plural (`deployments`).
    pub fn for_object(
        point: Point,
        operation: Operation,
        obj: impl Into<Json<'a>>,
        resource: &str,
    ) -> Self {
        let obj = obj.into();
        let text = |p: &str| obj.at(p).and_then(Json::as_str).unwrap_or_default();
        let api = text("/apiVersion");
        let (group, version) = match api.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api),
        };
        let namespace = Some(text("/metadata/namespace"))
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Request {
            point,
            layers: Layers::ALL,
            uid: String::new(),
            operation,
            user: User::default(),
            group: group.to_string(),
            version: version.to_string(),
            kind: text("/kind").to_string(),
            resource: resource.to_string(),
            subresource: None,
            namespace,
            namespace_labels: BTreeMap::new(),
            name: text("/metadata/name").to_string(),
            object: Some(obj),
            old_object: None,
            dry_run: false,
            peers: None,
        }
    }

    /// The object the request is about: the new one, else the stored one (DELETE).
    fn subject(&self) -> Option<Json<'a>> {
        self.object.or(self.old_object)
    }

    fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    fn is_main_resource(&self) -> bool {
        self.subresource.as_deref().is_none_or(str::is_empty)
    }
}

/// `allow`, `deny`, or `undetermined` (nothing denied, but a rule needs cluster state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    Undetermined,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Undetermined => "undetermined",
        }
    }
}

/// Why a request is denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub layer: Layer,
    /// `deletion-protected`, `strict-mode`, `namespace-not-permitted`, `reserved-key`,
    /// `pod-security`, `exec-escalation`, `control-plane`, `validation`, `evaluation-error`
    pub code: &'static str,
    /// the field a validation rule names
    pub field: Option<String>,
    pub message: String,
    /// how to lift the denial, when there is a way
    pub hint: Option<String>,
    /// check ids (pod security, exec protection)
    pub checks: Vec<&'static str>,
    /// the HTTP status of the denial: 400 for validation and undecodable input, 403 otherwise
    pub http: u16,
}

/// A layer that was not evaluated, and why (shown by `ork gate check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub layer: Layer,
    pub why: String,
}

/// The answer.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub denials: Vec<Denial>,
    /// admission warnings (`orkestra: field "…": …`)
    pub warnings: Vec<String>,
    /// rules that need cluster state the request did not carry (`unique`)
    pub not_evaluated: Vec<String>,
    pub mutations: Vec<MutationChange>,
    /// the RFC 6902 JSON Patch of the mutations (paths escaped per RFC 6901)
    pub patch: json_patch::Patch,
    /// the object after mutation, when mutation ran
    pub mutated: Option<Value>,
    /// the validation rules' outcome, when validation ran
    pub validation: Option<RuleOutcome>,
    pub evaluated: Vec<Layer>,
    pub skipped: Vec<Skipped>,
    /// what the request was about, for messages (`App team-a/web`)
    pub subject: String,
    /// the evaluation errors, each already mapped by its layer's failurePolicy
    pub errors: Vec<EvalError>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.denials.is_empty()
    }

    pub fn decision(&self) -> Decision {
        if !self.denials.is_empty() {
            Decision::Deny
        } else if !self.not_evaluated.is_empty() {
            Decision::Undetermined
        } else {
            Decision::Allow
        }
    }

    /// The HTTP status code of a denial: 403 when a security layer denies, else 400
    /// (validation, undecodable input).
    pub fn code(&self) -> u16 {
        self.denials.iter().map(|d| d.http).max().unwrap_or(200)
    }

    /// The denial message: `[Orkestra Validation] App ns/web: field "…": … (got: …)` and
    /// `[Orkestra Security] <code>: …`, joined by `; `.
    pub fn message(&self) -> String {
        let validation: Vec<&str> = self
            .denials
            .iter()
            .filter(|d| !d.layer.is_security())
            .map(|d| d.message.as_str())
            .collect();
        let mut parts = Vec::new();
        if !validation.is_empty() {
            parts.push(format!(
                "[Orkestra Validation] {}: {}",
                self.subject,
                validation.join("; ")
            ));
        }
        for d in self.denials.iter().filter(|d| d.layer.is_security()) {
            parts.push(format!("[Orkestra Security] {}: {}", d.code, d.message));
        }
        parts.join("; ")
    }

    /// The audit annotations a response carries (docs/security.md §2.11).
    pub fn audit_annotations(&self) -> Vec<(&'static str, String)> {
        let reasons: Vec<&str> = self.denials.iter().map(|d| d.code).collect();
        vec![
            ("decision", self.decision().as_str().to_string()),
            ("reasons", reasons.join(",")),
        ]
    }

    fn deny(&mut self, layer: Layer, code: &'static str, message: String) -> &mut Denial {
        self.denials.push(Denial {
            layer,
            code,
            field: None,
            message,
            hint: None,
            checks: Vec::new(),
            http: if layer.is_security() { 403 } else { 400 },
        });
        let last = self.denials.len() - 1;
        &mut self.denials[last]
    }

    fn skip(&mut self, layer: Layer, why: impl Into<String>) {
        self.skipped.push(Skipped {
            layer,
            why: why.into(),
        });
    }
}

/// What went wrong while evaluating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalErrorKind {
    /// a template failed to render, or a regex did not compile
    Template,
    /// a rendered value does not convert to its type (mutation `valueType`)
    InvalidValue,
    /// the object of the request could not be read
    Undecodable,
    /// state the decision needs was not available (the target Pod of an exec)
    Unavailable,
}

/// A policy that could not be evaluated. Never an "allow": `decide` maps it by the layer's
/// failurePolicy ([`Self::policy`]) and keeps it in [`Verdict::errors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub layer: Layer,
    pub kind: EvalErrorKind,
    pub message: String,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.layer, self.message)
    }
}

impl std::error::Error for EvalError {}

impl EvalError {
    fn new(layer: Layer, kind: EvalErrorKind, message: impl Into<String>) -> Self {
        EvalError {
            layer,
            kind,
            message: message.into(),
        }
    }

    /// The failurePolicy that maps this error: the layer's own at admission; at reconcile time
    /// there is no webhook to fail open, so an error always denies.
    pub fn policy(&self, k: &PreparedKatalog, point: Point) -> FailurePolicy {
        match point {
            Point::Admission => self.layer.failure_policy(k),
            Point::Reconcile => FailurePolicy::Fail,
        }
    }
}

impl Verdict {
    /// Records an evaluation error as its failurePolicy says: `Fail` denies with
    /// `evaluation-error`; `Ignore` admits with a warning naming the error.
    fn fail(&mut self, e: EvalError, policy: FailurePolicy) {
        match policy {
            FailurePolicy::Fail => {
                let d = self.deny(
                    e.layer,
                    "evaluation-error",
                    format!("{} could not be evaluated: {}", e.layer, e.message),
                );
                d.hint = Some(format!(
                    "failurePolicy Fail: a policy that cannot be evaluated denies ({})",
                    e.layer
                ));
                if e.kind == EvalErrorKind::Undecodable {
                    d.http = 400;
                }
            }
            FailurePolicy::Ignore => self.warnings.push(format!(
                "orkestra: {} could not be evaluated and failurePolicy is Ignore: {}",
                e.layer, e.message
            )),
        }
        self.errors.push(e);
    }
}

/// Decides one request. See the module docs.
pub fn decide(k: &PreparedKatalog, req: &Request) -> Verdict {
    let mut v = Verdict {
        subject: req.describe(),
        ..Verdict::default()
    };
    let crd = if req.is_main_resource() {
        k.crd_for_resource(&req.group, &req.resource)
            .filter(|c| c.enabled)
    } else {
        None
    };
    let excluded = (req.point == Point::Admission)
        .then(|| excluded_namespace(k, req))
        .flatten();
    // rules never need randomness; a fixed seed keeps decisions reproducible
    let mut ctx = Ctx::with_limits(Some(0), None, k.limits);
    // the object validation sees: mutated when mutation runs first
    let mut object: Option<Value> = None;
    for layer in Layer::ORDER {
        if !req.layers.contains(layer) {
            continue;
        }
        if let Some(ns) = &excluded
            && layer != Layer::ControlPlane
        {
            v.skip(
                layer,
                format!("namespace {ns} is excluded from ork's webhooks"),
            );
            continue;
        }
        let ran = match layer {
            Layer::NamespaceProtection => namespace_protection(k, crd, req, &mut v),
            Layer::Mutation => mutation(k, crd, req, &mut ctx, &mut object, &mut v),
            Layer::Validation => validation(k, crd, req, &mut ctx, &object, &mut v),
            Layer::ReservedKeys => reserved_keys(k, crd, req, &mut v),
            Layer::DeletionProtection => deletion_protection(k, req, &mut v),
            Layer::StrictMode => strict_mode(k, req, &mut v),
            Layer::PodSecurity => pod_security(k, req, &mut v),
            Layer::ExecProtection => exec_protection(k, req, &mut v),
            Layer::ControlPlane => control_plane(k, req, &mut v),
        };
        match ran {
            Ok(true) => v.evaluated.push(layer),
            Ok(false) => {}
            // the layer's verdict is its failurePolicy's; the other layers still run
            Err(e) => {
                let policy = e.policy(k, req.point);
                v.evaluated.push(layer);
                v.fail(e, policy);
            }
        }
    }
    v
}

/// The fixed exclusions of every ork webhook: kube-system, kube-node-lease, the operator
/// namespace and `excludeNamespaces` (docs/security.md §2.3).
fn excluded_namespace(k: &PreparedKatalog, req: &Request) -> Option<String> {
    // a Namespace object is matched by the namespaceSelector against itself; otherwise the
    // request's namespace decides, its labels only when the request names none
    let ns = if req.group.is_empty() && req.resource == "namespaces" {
        Some(req.name.as_str())
    } else {
        req.namespace.as_deref().or_else(|| {
            req.namespace_labels
                .get("kubernetes.io/metadata.name")
                .map(String::as_str)
        })
    }?;
    let s = &k.settings;
    let fixed = [
        "kube-system",
        "kube-node-lease",
        s.operator_namespace.as_str(),
    ];
    (fixed.contains(&ns) || s.exclude_namespaces.iter().any(|e| e == ns)).then(|| ns.to_string())
}

fn is_terminating(obj: Option<Json>) -> bool {
    obj.and_then(|o| o.at("/metadata/deletionTimestamp"))
        .is_some_and(|t| !t.is_null())
}

/// A CR being deleted must be able to lose its finalizers even if it no longer passes the
/// rules (stored during an outage, or before a rule changed), or the deletion never ends: an
/// admission UPDATE of a terminating object that changes nothing but its finalizers is neither
/// mutated nor validated. Any other change to a terminating object is judged as usual.
fn finalizers_leaving(req: &Request) -> bool {
    req.point == Point::Admission
        && req.operation == Operation::Update
        && is_terminating(req.old_object)
        && only_finalizers_differ(req.old_object, req.object)
}

/// Whether `old` and `new` are the same object but for its finalizers and the metadata only
/// the API server writes (a client cannot change them on an UPDATE). A missing side never is.
fn only_finalizers_differ(old: Option<Json>, new: Option<Json>) -> bool {
    let (Some(old), Some(new)) = (old, new) else {
        return false;
    };
    let strip = |o: Json| {
        let mut o = o.to_value().into_owned();
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "finalizers",
                "resourceVersion",
                "generation",
                "managedFields",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
        o
    };
    strip(old) == strip(new)
}

fn undecodable(layer: Layer, what: &str) -> EvalError {
    EvalError::new(layer, EvalErrorKind::Undecodable, what)
}

type Ran = Result<bool, EvalError>;

fn namespace_protection(
    k: &PreparedKatalog,
    crd: Option<&PreparedCrd>,
    req: &Request,
    v: &mut Verdict,
) -> Ran {
    let layer = Layer::NamespaceProtection;
    let Some(crd) = crd.filter(|c| c.has_namespace_rules()) else {
        return Ok(false);
    };
    if req.point == Point::Admission {
        if !k.settings.np_enabled {
            v.skip(layer, "security.namespaceProtection is off");
            return Ok(false);
        }
        if !matches!(req.operation, Operation::Create | Operation::Update) {
            return Ok(false);
        }
    }
    // an object being deleted may always have its finalizers removed: an UPDATE of an object
    // whose stored copy is terminating (at reconcile time, the CR as read)
    let stored = match req.point {
        Point::Admission if req.operation == Operation::Update => req.old_object,
        Point::Admission => None,
        Point::Reconcile => req.object,
    };
    if is_terminating(stored) {
        v.skip(layer, "the object is terminating");
        return Ok(false);
    }
    let Some(ns) = req.namespace.as_deref() else {
        return Err(undecodable(layer, "a namespaced CR without a namespace"));
    };
    let levels: Vec<(&'static str, &[String], &[String])> = crd
        .namespaces
        .iter()
        .map(|l| (l.level, l.allow.as_slice(), l.deny.as_slice()))
        .collect();
    match namespaces::decide(ns, &levels) {
        namespaces::Decision::Permitted => {}
        namespaces::Decision::NotAllowed { level } => {
            let allow = crd
                .namespaces
                .iter()
                .find(|l| l.level == level)
                .map(|l| l.allow.join(", "))
                .unwrap_or_default();
            v.deny(
                layer,
                "namespace-not-permitted",
                format!(
                    "{}: namespace {ns:?} is not in the {level} allow-list [{allow}]",
                    req.describe()
                ),
            );
        }
        namespaces::Decision::Denied { level, pattern } => {
            v.deny(
                layer,
                "namespace-not-permitted",
                format!(
                    "{}: namespace {ns:?} matches the {level} deny pattern {pattern:?}",
                    req.describe()
                ),
            );
        }
    }
    Ok(true)
}

/// Whether a CR layer applies at admission: the Gateway's admission webhooks are on, the CRD
/// opts in, and the operation is one the CRD lists.
fn admission_applies(
    k: &PreparedKatalog,
    crd: &PreparedCrd,
    req: &Request,
    layer: Layer,
    v: &mut Verdict,
) -> bool {
    if !k.settings.admission_enabled {
        v.skip(layer, "security.webhooks.admission is off");
        return false;
    }
    let opted_in = match layer {
        Layer::Mutation => crd.webhooks.mutation,
        _ => crd.webhooks.validation,
    };
    if !opted_in {
        v.skip(layer, format!("webhooks.{layer} is false for {}", crd.name));
        return false;
    }
    if !crd.webhooks.operations.contains(&req.operation) {
        v.skip(
            layer,
            format!(
                "{} is not in webhooks.operations of {}",
                req.operation, crd.name
            ),
        );
        return false;
    }
    true
}

fn mutation(
    k: &PreparedKatalog,
    crd: Option<&PreparedCrd>,
    req: &Request,
    ctx: &mut Ctx,
    object: &mut Option<Value>,
    v: &mut Verdict,
) -> Ran {
    let layer = Layer::Mutation;
    let Some(crd) = crd.filter(|c| !c.mutation.is_empty()) else {
        return Ok(false);
    };
    if req.point == Point::Admission
        && (!matches!(req.operation, Operation::Create | Operation::Update)
            || !admission_applies(k, crd, req, layer, v))
    {
        return Ok(false);
    }
    if finalizers_leaving(req) {
        v.skip(layer, "a terminating object losing its finalizers");
        return Ok(false);
    }
    let Some(original) = req.object else {
        return Err(undecodable(
            layer,
            "the request carries no object to mutate",
        ));
    };
    let original = original.to_value();
    let mut mutated = original.as_ref().clone();
    let changes = rules::mutate(&crd.mutation, &mut mutated, req.point, ctx).map_err(|e| {
        let kind = match e {
            MutateError::InvalidValue(_) => EvalErrorKind::InvalidValue,
            MutateError::Template(_) => EvalErrorKind::Template,
        };
        EvalError::new(layer, kind, e.to_string())
    })?;
    v.patch = json_patch::diff(&original, &mutated);
    v.mutations = changes;
    // mutateFirst: validation sees the mutated object (at admission the API server applies
    // the patch before validating webhooks run, so it always does)
    if crd.mutate_first || req.point == Point::Admission {
        *object = Some(mutated.clone());
    }
    v.mutated = Some(mutated);
    Ok(true)
}

fn validation(
    k: &PreparedKatalog,
    crd: Option<&PreparedCrd>,
    req: &Request,
    ctx: &mut Ctx,
    object: &Option<Value>,
    v: &mut Verdict,
) -> Ran {
    let layer = Layer::Validation;
    let Some(crd) = crd.filter(|c| !c.validation.is_empty()) else {
        return Ok(false);
    };
    if req.point == Point::Admission && !admission_applies(k, crd, req, layer, v) {
        return Ok(false);
    }
    if finalizers_leaving(req) {
        v.skip(layer, "a terminating object losing its finalizers");
        return Ok(false);
    }
    let from_request;
    let subject: &Value = match (object, req.subject()) {
        (Some(mutated), _) => mutated,
        (None, Some(s)) => {
            from_request = s.to_value();
            &from_request
        }
        (None, None) => {
            return Err(undecodable(
                layer,
                "the request carries no object to validate",
            ));
        }
    };
    // `.oldObject` is the stored object on an admission UPDATE (G13) and missing otherwise; a
    // tenant's own top-level `oldObject` field is never read as one
    let old = match (req.operation, req.point) {
        (Operation::Update, Point::Admission) => req.old_object,
        _ => None,
    };
    let with_old;
    let data = if old.is_some() || subject.get("oldObject").is_some() {
        let mut d = subject.clone();
        if let Some(m) = d.as_object_mut() {
            m.remove("oldObject");
            if let Some(o) = old {
                m.insert("oldObject".into(), o.to_value().into_owned());
            }
        }
        with_old = d;
        &with_old
    } else {
        subject
    };
    let mut scope = Scope {
        data,
        ctx,
        peers: req.peers,
    };
    let outcome = rules::validate(&crd.validation, &mut scope, req.point, &|c| {
        crd.is_secret_bound(c)
    })
    .map_err(|e| EvalError::new(layer, EvalErrorKind::Template, e))?;
    for viol in &outcome.violations {
        if viol.denies() {
            v.deny(layer, "validation", viol.describe()).field = Some(viol.field.clone());
        } else {
            v.warnings.push(format!(
                "orkestra: field {:?}: {}",
                viol.field, viol.message
            ));
        }
    }
    v.not_evaluated
        .extend(outcome.not_evaluated.iter().cloned());
    v.validation = Some(outcome);
    Ok(true)
}

/// The reserved labels and annotations of an object: `orkestra.orkspace.io/*` and the
/// exemption label (docs/security.md §2.3, G12).
fn reserved(obj: Option<Json>) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for (what, ptr) in [
        ("label", "/metadata/labels"),
        ("annotation", "/metadata/annotations"),
    ] {
        for (key, val) in obj
            .and_then(|o| o.at(ptr))
            .into_iter()
            .flat_map(Json::members)
        {
            if key.starts_with(RESERVED_PREFIX) || key == EXEMPTION_LABEL {
                out.insert(format!("{what} {key}"), val);
            }
        }
    }
    out
}

/// G12 applies to every Katalog CRD whenever a Gateway runs, whatever its rules and webhook
/// opt-outs: the Gateway registers the reserved-key check for all of them.
fn reserved_keys(
    k: &PreparedKatalog,
    crd: Option<&PreparedCrd>,
    req: &Request,
    v: &mut Verdict,
) -> Ran {
    let layer = Layer::ReservedKeys;
    if req.point != Point::Admission || crd.is_none() {
        return Ok(false);
    }
    if !k.settings.gateway {
        v.skip(layer, "no Gateway runs for this Katalog");
        return Ok(false);
    }
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Ok(false);
    }
    if req.object.is_none() || (req.operation == Operation::Update && req.old_object.is_none()) {
        return Err(undecodable(
            layer,
            "the request lacks the object to compare",
        ));
    }
    let runtime = req.user.name == k.identities.runtime;
    let gateway = req.user.name == k.identities.gateway;
    let old = reserved(req.old_object);
    let new = reserved(req.object);
    let mut changed: Vec<&str> = Vec::new();
    for (key, val) in &new {
        if old.get(key) != Some(val) {
            changed.push(key);
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            changed.push(key);
        }
    }
    // the runtime writes every reserved key; the Gateway every one but the exemption label,
    // which only the runtime may change (G1)
    let exemption = format!("label {EXEMPTION_LABEL}");
    changed.retain(|key| !(runtime || (gateway && *key != exemption)));
    if !changed.is_empty() {
        changed.sort_unstable();
        changed.dedup();
        v.deny(
            layer,
            "reserved-key",
            format!(
                "{}: {} may only be set or changed by ork itself",
                req.describe(),
                changed.join(", ")
            ),
        )
        .hint = Some(format!(
            "keys under {RESERVED_PREFIX} and {EXEMPTION_LABEL} are written by the runtime"
        ));
    }
    Ok(true)
}

fn label<'v>(obj: Option<Json<'v>>, key: &str) -> Option<&'v str> {
    obj.and_then(|o| o.at("/metadata/labels"))
        .and_then(|l| l.get(key))
        .and_then(Json::as_str)
}

fn protected_label(obj: Option<Json>) -> bool {
    label(obj, PROTECTION_LABEL) == Some("true")
}

fn deletion_protection(k: &PreparedKatalog, req: &Request, v: &mut Verdict) -> Ran {
    let layer = Layer::DeletionProtection;
    if req.point != Point::Admission || req.operation != Operation::Delete {
        return Ok(false);
    }
    if !k.settings.dp_enabled {
        v.skip(layer, "security.deletionProtection is off");
        return Ok(false);
    }
    if req.group == "apiextensions.k8s.io" && req.resource == "customresourcedefinitions" {
        if k.protected_crds.contains(&req.name) {
            v.deny(
                layer,
                "deletion-protected",
                format!(
                    "CustomResourceDefinition {} is protected: deleting it would delete every instance",
                    req.name
                ),
            )
            .hint = Some(
                "set protectCRD: false for this CRD in the Katalog and roll out the Gateway first"
                    .into(),
            );
        }
        return Ok(true);
    }
    let gr = GroupResource::new(&req.group, &req.resource);
    if !k.protected_resources.contains(&gr) || !req.is_main_resource() {
        return Ok(false);
    }
    // the stored object decides (the API server sends it as oldObject on DELETE)
    let Some(stored) = req.old_object.or(req.object) else {
        return Err(undecodable(layer, "the request carries no object to check"));
    };
    if protected_label(Some(stored)) {
        let crd = k.crd_for_resource(&req.group, &req.resource);
        let hint = match crd {
            Some(c) => format!(
                "set protectCRs: false for {} in the Katalog and roll out the Gateway; the runtime then removes the label {PROTECTION_LABEL}",
                c.name
            ),
            None if k.settings.dp_strict => format!(
                "strict mode keeps the label {PROTECTION_LABEL}: turn security.deletionProtection.strictMode off, then remove the label"
            ),
            None => format!("remove the label {PROTECTION_LABEL} first"),
        };
        v.deny(
            layer,
            "deletion-protected",
            format!("{} is protected", req.describe()),
        )
        .hint = Some(hint);
    }
    Ok(true)
}

fn strict_mode(k: &PreparedKatalog, req: &Request, v: &mut Verdict) -> Ran {
    let layer = Layer::StrictMode;
    if req.point != Point::Admission || req.operation != Operation::Update {
        return Ok(false);
    }
    if !(k.settings.dp_enabled && k.settings.dp_strict) {
        v.skip(layer, "strict mode is off");
        return Ok(false);
    }
    let gr = GroupResource::new(&req.group, &req.resource);
    if !k.protected_resources.contains(&gr) || !req.is_main_resource() {
        return Ok(false);
    }
    if req.old_object.is_none() || req.object.is_none() {
        return Err(undecodable(
            layer,
            "an UPDATE needs the stored and the new object",
        ));
    }
    // the exemption label is never consulted, and only the runtime may change it (G1)
    if label(req.old_object, EXEMPTION_LABEL) != label(req.object, EXEMPTION_LABEL)
        && req.user.name != k.identities.runtime
    {
        v.deny(
            layer,
            "strict-mode",
            format!(
                "{}: only the runtime may change the label {EXEMPTION_LABEL}",
                req.describe()
            ),
        );
    }
    if protected_label(req.old_object) && !protected_label(req.object) {
        // allowed only when the Katalog no longer protects this kind strictly
        let crd = k.crd_for_resource(&req.group, &req.resource);
        let unprotected =
            crd.is_some_and(|c| !c.protection.protect_crs || !c.protection.effective_strict);
        if !unprotected {
            v.deny(
                layer,
                "strict-mode",
                format!(
                    "{}: strict mode keeps the label {PROTECTION_LABEL}",
                    req.describe()
                ),
            )
            .hint = Some(match crd {
                Some(c) => format!(
                    "set protectCRs: false (or strictMode: false) for {} and roll out the Gateway; the runtime then removes the label",
                    c.name
                ),
                None => "turn security.deletionProtection.strictMode off first".into(),
            });
        }
    }
    Ok(true)
}

/// The resources pod-security admission covers (docs/security.md §2.7).
fn pod_security_resource(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        ("", "pods" | "replicationcontrollers")
            | (
                "apps",
                "deployments" | "statefulsets" | "daemonsets" | "replicasets"
            )
            | ("batch", "jobs" | "cronjobs")
    )
}

fn describe_findings(found: &[Finding]) -> (Vec<&'static str>, String) {
    let mut ids: Vec<&'static str> = found.iter().map(|f| f.check).collect();
    ids.sort_unstable();
    ids.dedup();
    let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
    (ids, messages.join("; "))
}

fn pod_security(k: &PreparedKatalog, req: &Request, v: &mut Verdict) -> Ran {
    let layer = Layer::PodSecurity;
    let level = k.settings.ps_level;
    match req.point {
        Point::Reconcile => {
            // the backstop: every rendered pod-bearing child, at the Katalog's level
            match req.object {
                Some(o) if is_workload_kind(o) => {}
                Some(_) => return Ok(false),
                None => return Err(undecodable(layer, "the backstop was asked about no object")),
            }
        }
        Point::Admission => {
            if !k.settings.ps_admission {
                v.skip(layer, "security.podSecurity.admission is off");
                return Ok(false);
            }
            if !matches!(req.operation, Operation::Create | Operation::Update)
                || !pod_security_resource(&req.group, &req.resource)
            {
                return Ok(false);
            }
            let sub = req.subresource.as_deref().unwrap_or("");
            if !(sub.is_empty() || (req.resource == "pods" && sub == "ephemeralcontainers")) {
                return Ok(false);
            }
            if req.object.is_none() {
                return Err(undecodable(layer, "the request carries no object to check"));
            }
            // an objectSelector matches when the old or the new object carries the label
            let scoped = if k.settings.ps_admission_namespaces.is_empty() {
                label(req.object, OWNER_LABEL).is_some()
                    || label(req.old_object, OWNER_LABEL).is_some()
            } else {
                req.namespace
                    .as_ref()
                    .is_some_and(|ns| k.settings.ps_admission_namespaces.contains(ns))
            };
            if !scoped {
                v.skip(layer, "outside the pod-security admission scope");
                return Ok(false);
            }
        }
    }
    let Some(obj) = req.object else {
        return Err(undecodable(layer, "the request carries no object to check"));
    };
    if level == PodSecurityLevel::Privileged {
        v.skip(layer, "podSecurity.level is privileged");
        return Ok(false);
    }
    // a pod-bearing kind without a pod template cannot be judged: never "no finding"
    if !is_pod_bearing(obj) {
        return Err(undecodable(
            layer,
            "the object has no pod template where its kind keeps one",
        ));
    }
    let found = pod_checks(obj, level_checks(level));
    if !found.is_empty() {
        let (ids, messages) = describe_findings(&found);
        let d = v.deny(
            layer,
            "pod-security",
            format!("{}: {messages}", ids.join(", ")),
        );
        d.checks = ids;
        d.hint = Some(format!(
            "security.podSecurity.level is {level}; set the fields a profile sets, or choose a profile in the Katalog"
        ));
    }
    Ok(true)
}

fn exec_protection(k: &PreparedKatalog, req: &Request, v: &mut Verdict) -> Ran {
    let layer = Layer::ExecProtection;
    if req.point != Point::Admission
        || req.operation != Operation::Connect
        || !(req.group.is_empty() && req.resource == "pods")
        || !matches!(req.subresource.as_deref(), Some("exec" | "attach"))
    {
        return Ok(false);
    }
    if !k.settings.exec_protection {
        v.skip(layer, "security.execProtection is off");
        return Ok(false);
    }
    if !k.settings.exec_namespaces.is_empty()
        && !req
            .namespace
            .as_ref()
            .is_some_and(|ns| k.settings.exec_namespaces.contains(ns))
    {
        v.skip(layer, "outside security.execProtection.namespaces");
        return Ok(false);
    }
    // the target must be the Pod itself (a CONNECT review carries PodExecOptions; the Gateway
    // reads the Pod from its cache): anything else cannot be judged
    let target = req.object.filter(|&o| {
        o.get("apiVersion").and_then(Json::as_str) == Some("v1")
            && o.get("kind").and_then(Json::as_str) == Some("Pod")
            && o.at("/metadata/name").and_then(Json::as_str) == Some(req.name.as_str())
            && is_pod_bearing(o)
    });
    let Some(pod) = target else {
        return Err(EvalError::new(
            layer,
            EvalErrorKind::Unavailable,
            "the target Pod could not be read",
        ));
    };
    let found = pod_checks(pod, EXEC_CHECKS);
    if !found.is_empty() {
        let (ids, messages) = describe_findings(&found);
        let sub = req.subresource.as_deref().unwrap_or("exec");
        let d = v.deny(
            layer,
            "exec-escalation",
            format!(
                "pods/{sub} into {} denied: {}: {messages}",
                req.describe(),
                ids.join(", ")
            ),
        );
        d.checks = ids;
    }
    Ok(true)
}

/// Kinds the guard protects from deletion when they carry the control-plane label.
fn guarded_kind(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        (
            "",
            "namespaces" | "services" | "serviceaccounts" | "secrets"
        ) | ("apps", "deployments")
            | (
                "rbac.authorization.k8s.io",
                "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings"
            )
    )
}

/// The guard policy (G2). It is a ValidatingAdmissionPolicy in the API server, which never
/// applies admission policies to policies and bindings themselves: those are protected by RBAC
/// and the Gateway's watcher only, and this layer says so instead of claiming a denial.
fn control_plane(k: &PreparedKatalog, req: &Request, v: &mut Verdict) -> Ran {
    let layer = Layer::ControlPlane;
    if req.point != Point::Admission {
        return Ok(false);
    }
    if !k.settings.gateway {
        v.skip(layer, "no Gateway: no guard policy");
        return Ok(false);
    }
    if !matches!(req.operation, Operation::Update | Operation::Delete) {
        return Ok(false);
    }
    if req.group == "admissionregistration.k8s.io"
        && matches!(
            req.resource.as_str(),
            "validatingadmissionpolicies" | "validatingadmissionpolicybindings"
        )
    {
        if req.name == GUARD_POLICY {
            v.skip(
                layer,
                "Kubernetes exempts admission policies and their bindings from admission: RBAC and the Gateway's watcher protect the guard",
            );
        }
        return Ok(false);
    }
    let own_configuration = req.group == "admissionregistration.k8s.io"
        && matches!(
            req.resource.as_str(),
            "validatingwebhookconfigurations" | "mutatingwebhookconfigurations"
        );
    let subject = req.old_object.or(req.object);
    if !own_configuration && guarded_kind(&req.group, &req.resource) && subject.is_none() {
        return Err(undecodable(layer, "the request carries no object to check"));
    }
    let labelled = label(subject, CONTROL_PLANE_LABEL) == Some(CONTROL_PLANE_VALUE);
    let guarded = if own_configuration {
        labelled || WEBHOOK_CONFIGURATIONS.contains(&req.name.as_str())
    } else {
        labelled
            && match req.operation {
                Operation::Delete => guarded_kind(&req.group, &req.resource),
                // an UPDATE that removes the control-plane or the protection label
                _ => {
                    label(req.object, CONTROL_PLANE_LABEL) != Some(CONTROL_PLANE_VALUE)
                        || (protected_label(req.old_object) && !protected_label(req.object))
                }
            }
    };
    if !guarded {
        return Ok(false);
    }
    let s = &k.settings;
    let break_glass = req
        .user
        .groups
        .iter()
        .any(|g| s.break_glass_groups.contains(g));
    if req.user.name != k.identities.gateway && !break_glass {
        v.deny(
            layer,
            "control-plane",
            format!(
                "{} belongs to ork's control plane ({GUARD_POLICY}): only the Gateway and members of {} may {} it",
                req.describe(),
                s.break_glass_groups.join(", "),
                match req.operation {
                    Operation::Delete => "delete",
                    _ => "change",
                }
            ),
        )
        .hint = Some("break-glass: see `ork notes break-glass`".into());
    }
    Ok(true)
}
