//! Template stage: every templated value parses, reads only known data roots, and calls no
//! volatile function where the value is written every cycle; static values coerce to their
//! target type; conditions are well-formed.

use ork_template::Template;
use serde_json::Value;

use crate::coerce::coerce;
use crate::diag::{Sink, did_you_mean, split_path};
use crate::model::Katalog;
use crate::schema::{self, Coerce, Field, Ty};

/// Data roots of the template data (docs/katalog.md §5.1).
const ROOTS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status", "ork"];
const LATER_ROOTS: &[&str] = &[
    "cross", "external", "inputs", "request", "health", "metrics",
];
pub(crate) const RESERVED_PREFIXES: &[&str] = &["orkestra.orkspace.io/", "orkestra.io/"];

#[derive(Clone, Default)]
struct Ctx {
    /// the value is written every cycle (onReconcile, reconcile: true, status, requeue)
    applied: bool,
    children: bool,
    for_each: Option<String>,
    what: &'static str,
    /// validation rules also see `.oldObject` (the stored object on UPDATE at admission; G13)
    old_object: bool,
}

/// One child entry of a block.
pub(crate) struct EntryRef<'a> {
    pub block: &'static str,
    pub kind: &'static str,
    pub fields: &'static [Field],
    pub path: String,
    pub value: &'a Value,
}

/// Every child entry of every block of a CRD entry, in block and kind order.
pub(crate) fn entries<'a>(crd_raw: &'a Value, crd_path: &str) -> Vec<EntryRef<'a>> {
    let mut out = Vec::new();
    for block in ["onCreate", "onReconcile", "onDelete"] {
        let Some(b) = crd_raw.pointer(&format!("/operatorBox/{block}")) else {
            continue;
        };
        for (kind, fields) in schema::CHILD_KINDS {
            if block == "onDelete" && *kind != "jobs" {
                continue;
            }
            if let Some(list) = b.get(*kind).and_then(Value::as_array) {
                for (i, v) in list.iter().enumerate() {
                    out.push(EntryRef {
                        block,
                        kind,
                        fields,
                        path: format!("{crd_path}.operatorBox.{block}.{kind}[{i}]"),
                        value: v,
                    });
                }
            }
        }
    }
    out
}

pub fn check(k: &Katalog, raw: &Value, sink: &mut Sink) {
    let mut c = Checker { k, sink };
    for crd in &k.crds {
        let Some(base) = raw.pointer("/spec/crds").and_then(|m| m.get(&crd.name)) else {
            continue;
        };
        let p = &crd.path;
        // validation and mutation rules
        if let Some(rules) = base.pointer("/validation/rules").and_then(Value::as_array) {
            for (i, r) in rules.iter().enumerate() {
                let rp = format!("{p}.validation.rules[{i}]");
                let rule_ctx = Ctx {
                    what: "validation rules",
                    old_object: true,
                    ..Ctx::default()
                };
                c.condition(r, &rp, true, &rule_ctx);
                let gate_ctx = Ctx {
                    old_object: true,
                    ..Ctx::default()
                };
                c.conditions(r.get("when"), &format!("{rp}.when"), &gate_ctx);
                c.conditions(r.get("or"), &format!("{rp}.or"), &gate_ctx);
            }
        }
        if let Some(rules) = base.pointer("/mutation/rules").and_then(Value::as_array) {
            for (i, r) in rules.iter().enumerate() {
                c.mutation_rule(r, &format!("{p}.mutation.rules[{i}]"));
            }
        }
        // children
        let all = entries(base, p);
        for e in &all {
            c.entry(e);
        }
        c.cross_entry_warnings(&all);
        if let Some(b) = base.pointer("/operatorBox/onCreate") {
            c.conditions(
                b.get("when"),
                &format!("{p}.operatorBox.onCreate.when"),
                &Ctx::default(),
            );
            c.conditions(
                b.get("or"),
                &format!("{p}.operatorBox.onCreate.or"),
                &Ctx::default(),
            );
        }
        if let Some(b) = base.pointer("/operatorBox/onReconcile") {
            c.conditions(
                b.get("when"),
                &format!("{p}.operatorBox.onReconcile.when"),
                &Ctx::default(),
            );
            c.conditions(
                b.get("or"),
                &format!("{p}.operatorBox.onReconcile.or"),
                &Ctx::default(),
            );
        }
        if let Some(t) = base
            .pointer("/operatorBox/onDelete/timeout")
            .and_then(Value::as_str)
        {
            c.static_value(
                t,
                Coerce::Duration,
                &format!("{p}.operatorBox.onDelete.timeout"),
            );
        }
        // status fields
        if let Some(fields) = base
            .pointer("/operatorBox/status/fields")
            .and_then(Value::as_array)
        {
            let ctx = Ctx {
                applied: true,
                children: true,
                what: "status fields",
                ..Ctx::default()
            };
            for (i, f) in fields.iter().enumerate() {
                let fp = format!("{p}.operatorBox.status.fields[{i}]");
                if let Some(path) = f.get("path").and_then(Value::as_str) {
                    let first = path.trim_start_matches('.').split('.').next().unwrap_or("");
                    if first == "conditions" || first == "observedGeneration" {
                        let pp = format!("{fp}.path");
                        c.sink.error(
                            c.k.spans.value(&pp),
                            &pp,
                            format!("status path {path:?} is reserved"),
                        );
                    }
                }
                if let Some(v) = f.get("value").and_then(Value::as_str) {
                    c.template(v, &format!("{fp}.value"), &ctx);
                }
                if let Some(t) = f.get("type").and_then(Value::as_str) {
                    c.static_value(
                        t,
                        Coerce::Enum(&["string", "int", "float", "bool", "auto"]),
                        &format!("{fp}.type"),
                    );
                }
                c.conditions(f.get("when"), &format!("{fp}.when"), &ctx);
                c.conditions(f.get("or"), &format!("{fp}.or"), &ctx);
            }
        }
        // reconciler
        let rp = format!("{p}.operatorBox.reconciler");
        if let Some(w) = crd.entry.operator_box.reconciler.workers
            && !(1..=50).contains(&w)
        {
            let wp = format!("{rp}.workers");
            c.sink.error(
                c.k.spans.value(&wp),
                &wp,
                format!("workers {w} is outside 1–50"),
            );
        }
        if let Some(r) = &crd.entry.operator_box.reconciler.resync {
            let sp = format!("{rp}.resync");
            match ork_template::duration::parse_duration(r) {
                Ok(d) if d.as_secs() < 10 => c.sink.error(
                    c.k.spans.value(&sp),
                    &sp,
                    format!("resync {r:?} is shorter than 10s"),
                ),
                Ok(_) => {}
                Err(e) => c
                    .sink
                    .error(c.k.spans.value(&sp), &sp, format!("resync: {e}")),
            }
        }
        if let Some(after) = base
            .pointer("/operatorBox/reconciler/requeue/after")
            .and_then(Value::as_str)
        {
            let ap = format!("{rp}.requeue.after");
            let ctx = Ctx {
                applied: true,
                children: true,
                what: "requeue",
                ..Ctx::default()
            };
            if ork_template::is_template(after) {
                c.template(after, &ap, &ctx);
            } else if let Ok(d) = ork_template::duration::parse_duration(after) {
                if !d.is_zero() && d.as_secs_f64() < 1.0 {
                    c.sink.error(
                        c.k.spans.value(&ap),
                        &ap,
                        format!("requeue.after {after:?} is shorter than 1s"),
                    );
                }
            } else {
                c.static_value(after, Coerce::Duration, &ap);
            }
        }
        if let Some(rq) = base.pointer("/operatorBox/reconciler/requeue") {
            let ctx = Ctx {
                applied: true,
                children: true,
                ..Ctx::default()
            };
            c.conditions(rq.get("when"), &format!("{rp}.requeue.when"), &ctx);
            c.conditions(rq.get("or"), &format!("{rp}.requeue.or"), &ctx);
        }
    }
}

struct Checker<'a> {
    k: &'a Katalog,
    sink: &'a mut Sink,
}

impl Checker<'_> {
    /// Warnings that need several entries of one CRD (docs/katalog.md §6.3).
    fn cross_entry_warnings(&mut self, all: &[EntryRef]) {
        let workloads: Vec<&EntryRef> = all
            .iter()
            .filter(|e| matches!(e.kind, "deployments" | "statefulSets"))
            .collect();
        if workloads.len() > 1 {
            for svc in all
                .iter()
                .filter(|e| e.kind == "services" && e.value.get("selector").is_none())
            {
                self.sink.warn(
                    self.k.spans.value(&svc.path),
                    &svc.path,
                    format!("this Service has no selector, so it selects all {} workloads of the CR (orkestra-owner only)", workloads.len()),
                );
            }
        }
        for hpa in all.iter().filter(|e| e.kind == "hpa") {
            let Some(target) = hpa
                .value
                .pointer("/scaleTargetRef/name")
                .and_then(Value::as_str)
            else {
                continue;
            };
            for w in &workloads {
                if w.value.get("name").and_then(Value::as_str) == Some(target)
                    && w.value.get("replicas").is_some()
                {
                    let rp = format!("{}.replicas", w.path);
                    self.sink.warn(self.k.spans.value(&rp), &rp, format!("replicas has no effect: {} scales this workload, so ork sends it without spec.replicas", hpa.path));
                }
            }
        }
    }

    fn entry(&mut self, e: &EntryRef) {
        let v = e.value;
        let reconcile = v.get("reconcile") == Some(&Value::Bool(true));
        let once = v.get("once") == Some(&Value::Bool(true));
        let create_once =
            e.kind == "jobs" || e.kind == "serviceAccounts" || (e.kind == "secrets" && once);
        if reconcile {
            let rp = format!("{}.reconcile", e.path);
            if create_once {
                self.sink.error(
                    self.k.spans.value(&rp),
                    &rp,
                    format!(
                        "reconcile: true is not allowed on {} (created once, never updated)",
                        if once { "once Secrets" } else { e.kind }
                    ),
                );
            } else if e.block != "onCreate" {
                self.sink.warn(
                    self.k.spans.value(&rp),
                    &rp,
                    format!(
                        "reconcile has no effect in {}: its entries are applied every cycle",
                        e.block
                    ),
                );
            }
        }
        let applied = !create_once && (e.block == "onReconcile" || reconcile);
        let for_each = v.get("forEach").map(|f| {
            f.get("as")
                .and_then(Value::as_str)
                .unwrap_or("item")
                .to_string()
        });
        if let Some(a) = &for_each {
            if ROOTS.contains(&a.as_str()) || a == "children" {
                let ap = format!("{}.forEach.as", e.path);
                self.sink.error(
                    self.k.spans.value(&ap),
                    &ap,
                    format!("forEach.as {a:?} shadows a data root"),
                );
            }
            if let Some(f) = v.pointer("/forEach/field").and_then(Value::as_str) {
                self.path_field(f, &format!("{}.forEach.field", e.path), &Ctx::default());
            }
        }
        let ctx = Ctx {
            applied,
            children: false,
            for_each,
            what: if e.block == "onReconcile" {
                "onReconcile entries"
            } else {
                "entries with reconcile: true"
            },
            old_object: false,
        };
        self.fields(v, e.fields, &e.path, &ctx);
        self.conditions(
            v.get("when"),
            &format!("{}.when", e.path),
            &Ctx {
                applied: false,
                ..ctx.clone()
            },
        );
        self.conditions(
            v.get("or"),
            &format!("{}.or", e.path),
            &Ctx {
                applied: false,
                ..ctx.clone()
            },
        );
        // reserved label and annotation keys
        for m in ["labels", "annotations"] {
            for (obj, base) in [
                (v.get(m), format!("{}.{m}", e.path)),
                (
                    v.pointer(&format!("/metadata/{m}")),
                    format!("{}.metadata.{m}", e.path),
                ),
            ] {
                if let Some(map) = obj.and_then(Value::as_object) {
                    for key in map.keys() {
                        if RESERVED_PREFIXES.iter().any(|p| key.starts_with(p)) {
                            let kp = crate::diag::join(&base, key);
                            self.sink.error(
                                self.k.spans.key(&kp),
                                &kp,
                                format!("{m} key {key:?} is reserved for ork"),
                            );
                        }
                    }
                }
            }
        }
        // kind-specific shape rules
        match e.kind {
            "pdb" => {
                let (a, b) = (
                    v.get("minAvailable").is_some(),
                    v.get("maxUnavailable").is_some(),
                );
                if a == b {
                    self.sink.error(
                        self.k.spans.value(&e.path),
                        &e.path,
                        "pdb needs exactly one of minAvailable and maxUnavailable",
                    );
                }
            }
            "networkPolicies"
                if v.get("profile").is_some()
                    && (v.get("ingress").is_some() || v.get("egress").is_some()) =>
            {
                self.sink.error(
                    self.k.spans.value(&e.path),
                    &e.path,
                    "networkPolicies: profile cannot be combined with ingress/egress rules",
                );
            }
            "roles"
                if v.get("rules")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty) =>
            {
                self.sink.error(
                    self.k.spans.value(&e.path),
                    &e.path,
                    "roles: rules needs at least one rule",
                );
            }
            "roleBindings"
                if v.get("subjects")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty) =>
            {
                self.sink.error(
                    self.k.spans.value(&e.path),
                    &e.path,
                    "roleBindings: subjects needs at least one subject",
                );
            }
            "services" => {
                if let Some(n) = v
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !ork_template::is_template(n))
                    && !crate::coerce::is_dns1123_label(n)
                {
                    let np = format!("{}.name", e.path);
                    self.sink.error(
                        self.k.spans.value(&np),
                        &np,
                        format!("service name {n:?} is not a DNS-1123 label"),
                    );
                }
            }
            "hpa" => {
                let min = v
                    .get("minReplicas")
                    .and_then(Value::as_str)
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .unwrap_or(1);
                if let Some(max) = v
                    .get("maxReplicas")
                    .and_then(Value::as_str)
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    && max < min
                {
                    let mp = format!("{}.maxReplicas", e.path);
                    self.sink.error(
                        self.k.spans.value(&mp),
                        &mp,
                        format!("maxReplicas {max} is below minReplicas {min}"),
                    );
                }
            }
            _ => {}
        }
    }

    /// Walks a closed object by its schema: templates parse, static values coerce.
    fn fields(&mut self, v: &Value, fields: &'static [Field], path: &str, ctx: &Ctx) {
        let Some(obj) = v.as_object() else { return };
        for f in fields {
            let Some(val) = obj.get(f.name) else { continue };
            let p = crate::diag::join(path, f.name);
            if matches!(f.name, "when" | "or" | "forEach") {
                continue;
            }
            self.typed(val, &f.ty, &p, ctx);
        }
    }

    fn typed(&mut self, val: &Value, ty: &Ty, p: &str, ctx: &Ctx) {
        match ty {
            Ty::Str(c) => {
                if let Some(s) = val.as_str() {
                    if ork_template::is_template(s) {
                        self.template(s, p, ctx);
                    } else {
                        self.static_value(s, *c, p);
                    }
                }
            }
            Ty::Obj(inner) => self.fields(val, inner, p, ctx),
            Ty::List(inner) => {
                if let Some(items) = val.as_array() {
                    for (i, x) in items.iter().enumerate() {
                        self.typed(x, inner, &format!("{p}[{i}]"), ctx);
                    }
                }
            }
            Ty::StrList | Ty::StrMap | Ty::Any => self.strings(val, p, ctx),
            _ => {}
        }
    }

    /// Parses every string leaf that is a template.
    fn strings(&mut self, val: &Value, p: &str, ctx: &Ctx) {
        match val {
            Value::String(s) if ork_template::is_template(s) => {
                self.template(s, p, ctx);
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.strings(x, &format!("{p}[{i}]"), ctx);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    self.strings(x, &crate::diag::join(p, k), ctx);
                }
            }
            _ => {}
        }
    }

    fn static_value(&mut self, s: &str, c: Coerce, p: &str) {
        if let Err(e) = coerce(s, c) {
            self.sink
                .error(self.k.spans.value(p), p, format!("{p}: {e}"));
        }
    }

    fn template(&mut self, s: &str, p: &str, ctx: &Ctx) -> Option<Template> {
        match Template::parse(s) {
            Ok(t) => {
                for root in t.root_paths() {
                    self.root(&root.segments, p, ctx);
                }
                if ctx.applied {
                    for f in t.volatile_functions() {
                        let span = self.k.spans.value(p);
                        self.sink.error(span, p, format!("volatile function {f:?} is not allowed in {}: the value is written every cycle", ctx.what));
                    }
                }
                Some(t)
            }
            Err(e) => {
                let span = self.k.spans.value(p);
                let line = span.line + u32::try_from(e.line.saturating_sub(1)).unwrap_or(0);
                let col = if e.line == 1 { span.col } else { 1 };
                let mut msg = format!("template error: {}", e.message);
                if s.len() > 1 {
                    msg.push_str(&format!(" (template column {})", e.col));
                }
                self.sink.push(
                    crate::diag::Severity::Error,
                    ork_yaml::Span { line, col },
                    p,
                    msg,
                    e.hint,
                );
                None
            }
        }
    }

    fn root(&mut self, segs: &[String], p: &str, ctx: &Ctx) {
        let Some(first) = segs.first() else { return };
        let first = first.as_str();
        if ROOTS.contains(&first) {
            return;
        }
        // resolved only now: a valid template never needs its position
        let span = self.k.spans.value(p);
        if LATER_ROOTS.contains(&first) {
            self.sink
                .error(span, p, format!("\".{first}\" is not supported yet"));
            return;
        }
        if first == "oldObject" {
            if !ctx.old_object {
                self.sink.error(
                    span,
                    p,
                    "\".oldObject\" is only available in validation rules",
                );
            }
            return;
        }
        if first == "children" {
            if !ctx.children {
                self.sink.error(
                    span,
                    p,
                    "\".children\" is only available in status fields and requeue",
                );
            }
            return;
        }
        if let Some(a) = &ctx.for_each
            && (first == "item" || first == "index" || first == "value" || first == a)
        {
            return;
        }
        if matches!(first, "item" | "index" | "value") {
            self.sink.error(
                span,
                p,
                format!("\".{first}\" is only available in entries with forEach"),
            );
            return;
        }
        if first.starts_with(|c: char| c.is_ascii_uppercase()) {
            let fixed = match first {
                "Name" | "Namespace" | "Labels" | "Annotations" | "Uid" | "UID" => {
                    let mut v = vec!["metadata".to_string(), first.to_ascii_lowercase()];
                    v.extend(segs[1..].iter().map(|s| lower_first(s)));
                    v
                }
                _ => segs.iter().map(|s| lower_first(s)).collect(),
            };
            self.sink.error_hint(
                span,
                p,
                format!("paths are lowercase: \".{}\"", segs.join(".")),
                format!("did you mean \".{}\"?", fixed.join(".")),
            );
            return;
        }
        let hint =
            did_you_mean(first, ROOTS.iter().copied()).map(|s| format!("did you mean \".{s}\"?"));
        self.sink.push(
            crate::diag::Severity::Error,
            span,
            p,
            format!(
                "\".{first}\" is not a data root (apiVersion, kind, metadata, spec, status, ork)"
            ),
            hint,
        );
    }

    /// A condition `field` that is a path (not a template).
    fn path_field(&mut self, field: &str, p: &str, ctx: &Ctx) {
        if ork_template::is_template(field) {
            self.template(field, p, ctx);
            return;
        }
        let segs: Vec<String> = split_path(field);
        self.root(&segs, p, ctx);
    }

    fn conditions(&mut self, list: Option<&Value>, p: &str, ctx: &Ctx) {
        if let Some(items) = list.and_then(Value::as_array) {
            for (i, c) in items.iter().enumerate() {
                self.condition(c, &format!("{p}[{i}]"), false, ctx);
            }
        }
    }

    fn condition(&mut self, c: &Value, p: &str, rule: bool, ctx: &Ctx) {
        let field = c.get("field").and_then(Value::as_str).unwrap_or("");
        let op = c
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or("equals");
        let value = c.get("value").and_then(Value::as_str);
        let ctx = Ctx {
            applied: false,
            ..ctx.clone()
        };
        self.path_field(field, &format!("{p}.field"), &ctx);
        let vp = format!("{p}.value");
        // positions are resolved only for diagnostics
        let k = self.k;
        if let Some(v) = value {
            if ork_template::is_template(v) {
                self.template(v, &vp, &ctx);
                return;
            }
            match op {
                "regex" => {
                    if let Err(e) = regex::Regex::new(v) {
                        self.sink.error(
                            k.spans.value(&vp),
                            p,
                            format!("invalid regex {v:?}: {}", first_line(&e.to_string())),
                        );
                    }
                }
                "exists" | "notExists"
                    if !v.trim().is_empty()
                        && ork_template::funcs::parse_bool_word(v.trim()).is_none() =>
                {
                    self.sink.error(
                        k.spans.value(&vp),
                        p,
                        format!("{op} takes true or false, got {v:?}"),
                    );
                }
                "greaterThan" | "lessThan" | "greaterThanOrEqual" | "lessThanOrEqual"
                    if !v.trim().parse::<f64>().is_ok_and(f64::is_finite) =>
                {
                    self.sink.error(
                        k.spans.value(&vp),
                        p,
                        format!("{op} needs a number, got {v:?}"),
                    );
                }
                "between" | "notBetween" => {
                    let parts: Vec<&str> = v.split(',').collect();
                    if parts.len() != 2
                        || parts
                            .iter()
                            .any(|x| !x.trim().parse::<f64>().is_ok_and(f64::is_finite))
                    {
                        self.sink.error(
                            k.spans.value(&vp),
                            p,
                            format!("{op} needs \"lo,hi\" numbers, got {v:?}"),
                        );
                    }
                }
                "typeOf" => {
                    if !["string", "number", "bool", "list", "map", "null"].contains(&v) {
                        self.sink.error(
                            k.spans.value(&vp),
                            p,
                            format!("typeOf {v:?} is not string, number, bool, list, map or null"),
                        );
                    }
                    if ork_template::is_template(field) {
                        self.sink
                            .error(k.spans.value(&vp), p, "typeOf works on path fields only");
                    }
                }
                _ => {}
            }
        }
        if op == "unique" && !rule {
            self.sink.error(
                k.spans.value(&vp),
                p,
                "unique is only allowed in validation rules",
            );
        }
    }

    fn mutation_rule(&mut self, r: &Value, p: &str) {
        let field = r.get("field").and_then(Value::as_str).unwrap_or("");
        // a mutation that writes a reserved key would be refused by the reserved-key check at
        // admission, or change ork's own bookkeeping at reconcile time (G12)
        let segs = split_path(field);
        if let [m, which, key] = segs.as_slice()
            && m == "metadata"
            && (which == "labels" || which == "annotations")
            && RESERVED_PREFIXES.iter().any(|r| key.starts_with(r))
        {
            let fp = format!("{p}.field");
            self.sink.error(
                self.k.spans.value(&fp),
                &fp,
                format!("{key:?} is a reserved key: only ork writes keys under orkestra.orkspace.io/ and orkestra.io/"),
            );
        }
        if ork_template::is_template(field) {
            let fp = format!("{p}.field");
            self.sink.error(
                self.k.spans.value(&fp),
                &fp,
                "mutation field must be a static path",
            );
        }
        let (d, o) = (r.get("default"), r.get("override"));
        if d.is_some() == o.is_some() {
            self.sink.error(
                self.k.spans.value(p),
                p,
                "a mutation rule needs exactly one of default and override",
            );
        }
        let vt = r
            .get("valueType")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let target = match vt.to_ascii_lowercase().as_str() {
            "string" => Coerce::None,
            "int" => Coerce::Count,
            "float" => Coerce::None,
            "bool" => Coerce::Bool,
            other => {
                let tp = format!("{p}.valueType");
                self.sink.error(
                    self.k.spans.value(&tp),
                    &tp,
                    format!("valueType {other:?} is not string, int, float or bool"),
                );
                return;
            }
        };
        for (key, v) in [("default", d), ("override", o)] {
            let Some(s) = v.and_then(Value::as_str) else {
                continue;
            };
            let vp = format!("{p}.{key}");
            if ork_template::is_template(s) {
                self.template(s, &vp, &Ctx::default());
            } else if vt == "int" && s.trim().parse::<i64>().is_err() {
                self.sink.error(
                    self.k.spans.value(&vp),
                    &vp,
                    format!("{key} {s:?} is not an int"),
                );
            } else if vt == "float" && s.trim().parse::<f64>().is_err() {
                self.sink.error(
                    self.k.spans.value(&vp),
                    &vp,
                    format!("{key} {s:?} is not a float"),
                );
            } else if target == Coerce::Bool {
                self.static_value(s, target, &vp);
            }
        }
        self.conditions(r.get("when"), &format!("{p}.when"), &Ctx::default());
        self.conditions(r.get("or"), &format!("{p}.or"), &Ctx::default());
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use crate::diag::split_path;

    #[test]
    fn split_paths() {
        assert_eq!(split_path(".spec.steps.1"), vec!["spec", "steps", "1"]);
        assert_eq!(
            split_path("metadata.labels[\"app.kubernetes.io/name\"]"),
            vec!["metadata", "labels", "app.kubernetes.io/name"]
        );
        assert_eq!(split_path("spec.list[0].x"), vec!["spec", "list", "0", "x"]);
    }
}
