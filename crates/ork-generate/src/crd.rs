//! `ork generate crd` (docs/cli.md §6): per enabled entry, the `crdFile` CRD normalised, or one
//! generated from `apiTypes`.
//!
//! A generated CRD serves one version (served and stored) with a status subresource. Its spec
//! properties are what the Katalog reads: the `.spec…` paths of its templates, rules and
//! mutations. A property's type comes from, strongest first, a mutation's `valueType`, the
//! typed child field a bare-path template fills (`replicas: "{{ .spec.replicas }}"` is an
//! integer), a numeric comparison in a rule, else string; a path read below another makes that
//! one an object, and a `forEach` list an array. `required` comes from unconditional deny
//! `exists` rules, defaults from static mutation `default`s. `spec` keeps unknown fields: a path
//! read inside a `range` or `with` body is invisible to the inference, and pruning it would
//! silently drop what the CR says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ork_katalog::schema::{Coerce, Ty};
use ork_katalog::settings::{Operator, RuleAction, ValueType};
use ork_katalog::{Crd, Katalog};
use ork_limits::Limits;
use serde_json::{Value, json};

use crate::Error;

/// The CRDs of `k`'s enabled entries, in file order; `only` names one entry.
pub fn crds(k: &Katalog, only: Option<&str>, limits: &Limits) -> Result<Vec<Value>, Error> {
    if let Some(name) = only
        && k.crd(name).is_none()
    {
        let names: Vec<&str> = k.crds.iter().map(|c| c.name.as_str()).collect();
        return Err(Error::one(format!(
            "--crd {name:?}: no such entry (the Katalog has {})",
            names.join(", ")
        )));
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for c in &k.crds {
        if only.is_some_and(|n| n != c.name) || (only.is_none() && !c.entry.enabled) {
            continue;
        }
        match &c.entry.crd_file {
            Some(file) => match normalised(&k.dir.join(file), c, limits) {
                Ok(v) => out.push(v),
                Err(e) => problems.push(format!("{}: crdFile {file:?}: {e}", c.path)),
            },
            None => out.push(generated(k, c)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error(problems))
    }
}

/// The crdFile's CRD with only what an author writes: server-set metadata and status dropped,
/// the control-plane labels added.
fn normalised(path: &Path, c: &Crd, limits: &Limits) -> Result<Value, String> {
    let text = ork_io::read_text(path, limits)
        .map_err(|e| e.problem.to_string())?
        .text;
    let docs = ork_yaml::parse_stream_with(&text, limits)
        .map_err(|e| format!("{}:{}: {}", e.span.line, e.span.col, e.message))?;
    let crds: Vec<Value> = docs
        .iter()
        .map(ork_yaml::Node::to_json)
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    let mut crd = crds
        .iter()
        .find(|d| d["metadata"]["name"] == c.api.crd_name().as_str())
        .or_else(|| crds.first())
        .cloned()
        .ok_or("no CustomResourceDefinition in the file")?;
    let meta = &crd["metadata"];
    let mut labels = meta["labels"].as_object().cloned().unwrap_or_default();
    if let Some(cp) = ork_webhooks::control_plane_labels().as_object() {
        labels.extend(cp.clone());
    }
    let mut m = json!({"name": meta["name"], "labels": labels});
    let mut annotations = meta["annotations"].as_object().cloned().unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    if !annotations.is_empty() {
        m["annotations"] = Value::Object(annotations);
    }
    if let Some(o) = crd.as_object_mut() {
        o.remove("status");
        o.insert("metadata".into(), m);
    }
    Ok(crd)
}

/// What a property's type was inferred from, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Default,
    Comparison,
    Consumer,
    ValueType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    String,
    Integer,
    Number,
    Boolean,
    IntOrString,
}

#[derive(Debug, Default)]
struct Prop {
    scalar: Option<(Strength, Scalar)>,
    array: bool,
    /// a path below it went through an index or a quoted key: its members are not known
    open: bool,
    children: BTreeMap<String, Prop>,
    required: BTreeSet<String>,
    default: Option<Value>,
}

impl Prop {
    /// The property at `path` below this one (created), or `None` when a segment is not a
    /// plain name (the last plain ancestor is marked open).
    fn at(&mut self, path: &[String]) -> Option<&mut Prop> {
        let mut p = self;
        for seg in path {
            let plain = seg
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !plain {
                p.open = true;
                return None;
            }
            p = p.children.entry(seg.clone()).or_default();
        }
        Some(p)
    }

    fn infer(&mut self, strength: Strength, s: Scalar) {
        self.scalar = match self.scalar {
            None => Some((strength, s)),
            Some((have, _)) if strength > have => Some((strength, s)),
            Some((have, t)) if strength == have && t != s => {
                let int_or_string = matches!(
                    (t, s),
                    (Scalar::Integer | Scalar::IntOrString, Scalar::String)
                        | (Scalar::String, Scalar::Integer | Scalar::IntOrString)
                );
                Some((
                    have,
                    if int_or_string {
                        Scalar::IntOrString
                    } else {
                        t
                    },
                ))
            }
            keep => keep,
        };
    }

    fn schema(&self) -> Value {
        let mut s = if !self.children.is_empty() {
            let props: serde_json::Map<String, Value> = self
                .children
                .iter()
                .map(|(k, v)| (k.clone(), v.schema()))
                .collect();
            let mut o = json!({"type": "object", "properties": props});
            if !self.required.is_empty() {
                o["required"] = json!(self.required);
            }
            if self.open {
                o["x-kubernetes-preserve-unknown-fields"] = json!(true);
            }
            o
        } else if self.array {
            json!({"type": "array", "items": {"x-kubernetes-preserve-unknown-fields": true}})
        } else if self.open {
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        } else {
            match self.scalar.map(|(_, t)| t).unwrap_or(Scalar::String) {
                Scalar::String => json!({"type": "string"}),
                Scalar::Integer => json!({"type": "integer"}),
                Scalar::Number => json!({"type": "number"}),
                Scalar::Boolean => json!({"type": "boolean"}),
                Scalar::IntOrString => json!({"x-kubernetes-int-or-string": true}),
            }
        };
        if let Some(d) = &self.default {
            s["default"] = d.clone();
        }
        s
    }
}

/// The type a typed child field gives the value a bare-path template fills it with.
fn consumer_type(kind: &str, field: &str) -> Option<Scalar> {
    let f = ork_katalog::schema::child_fields(kind)?
        .iter()
        .find(|f| f.name == field)?;
    Some(match f.ty {
        Ty::Int => Scalar::Integer,
        Ty::Bool => Scalar::Boolean,
        Ty::Str(c) => match c {
            Coerce::Count | Coerce::Positive | Coerce::Percent | Coerce::Port => Scalar::Integer,
            Coerce::PortOrName | Coerce::IntOrPercent => Scalar::IntOrString,
            Coerce::Bool => Scalar::Boolean,
            Coerce::None
            | Coerce::Quantity
            | Coerce::Duration
            | Coerce::Enum(_)
            | Coerce::Name
            | Coerce::Schedule => Scalar::String,
        },
        _ => Scalar::String,
    })
}

/// The path below `spec` of a field (`spec.a.b`, `.spec.a`), `None` for anything else.
fn spec_path(field: &str) -> Option<Vec<String>> {
    let segs = ork_katalog::diag::split_path(field);
    (segs.first().map(String::as_str) == Some("spec") && segs.len() > 1).then(|| segs[1..].to_vec())
}

/// Every template string below `v`, with the child kind and field it fills when it is a
/// child entry's own field (`operatorBox.onCreate.deployments[0].replicas`).
fn templates<'a>(
    v: &'a Value,
    at: &[&'a str],
    out: &mut Vec<(&'a str, Option<(&'a str, &'a str)>)>,
) {
    match v {
        Value::String(s) if ork_template::is_template(s) => {
            // operatorBox, block, kind, (index), field
            let consumer = match at {
                [
                    "operatorBox",
                    "onCreate" | "onReconcile" | "onDelete",
                    kind,
                    field,
                ] => Some((*kind, *field)),
                _ => None,
            };
            out.push((s, consumer));
        }
        Value::Object(m) => {
            for (k, x) in m {
                let mut next = at.to_vec();
                next.push(k);
                templates(x, &next, out);
            }
        }
        // list items keep the path of their list: `deployments[0].replicas` reads as
        // `deployments.replicas`
        Value::Array(a) => {
            for x in a {
                templates(x, at, out);
            }
        }
        _ => {}
    }
}

/// The spec schema `c`'s Katalog entry implies.
fn spec_schema(k: &Katalog, c: &Crd) -> Prop {
    let mut spec = Prop::default();
    let raw = k
        .raw
        .pointer(&format!("/spec/crds/{}", c.name))
        .unwrap_or(&Value::Null);
    let mut found = Vec::new();
    templates(raw, &[], &mut found);
    for (src, consumer) in found {
        let Ok(t) = ork_template::Template::parse(src) else {
            continue;
        };
        let bare = t.is_bare_path();
        for p in t.root_paths() {
            if p.segments.first().map(String::as_str) != Some("spec") || p.segments.len() < 2 {
                continue;
            }
            let typed = consumer
                .filter(|_| bare)
                .and_then(|(kind, field)| consumer_type(kind, field));
            if let Some(prop) = spec.at(&p.segments[1..]) {
                match typed {
                    Some(s) => prop.infer(Strength::Consumer, s),
                    None => prop.infer(Strength::Default, Scalar::String),
                }
            }
        }
    }
    // forEach lists
    for block in ["onCreate", "onReconcile", "onDelete"] {
        let Some(b) = raw
            .pointer(&format!("/operatorBox/{block}"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for entries in b.values().filter_map(Value::as_array) {
            for e in entries {
                if let Some(path) = e
                    .pointer("/forEach/field")
                    .and_then(Value::as_str)
                    .filter(|f| !ork_template::is_template(f))
                    .and_then(spec_path)
                    && let Some(prop) = spec.at(&path)
                {
                    prop.array = true;
                }
            }
        }
    }
    for r in &c.entry.validation.rules {
        let Some(path) = spec_path(&r.condition.field) else {
            continue;
        };
        let numeric = matches!(
            r.condition.operator,
            Operator::GreaterThan
                | Operator::LessThan
                | Operator::GreaterThanOrEqual
                | Operator::LessThanOrEqual
                | Operator::Between
                | Operator::NotBetween
        );
        let textual = matches!(
            r.condition.operator,
            Operator::Prefix
                | Operator::NotPrefix
                | Operator::Suffix
                | Operator::NotSuffix
                | Operator::Regex
        );
        if let Some(prop) = spec.at(&path) {
            if numeric {
                prop.infer(Strength::Comparison, Scalar::Integer);
            } else if textual {
                prop.infer(Strength::Comparison, Scalar::String);
            }
        }
        let exists = r.condition.operator == Operator::Exists
            && !r.condition.negate
            && r.condition
                .value
                .as_deref()
                .is_none_or(|v| v.eq_ignore_ascii_case("true"));
        // only a rule the API server would enforce on every request can become `required`
        if exists
            && r.action == RuleAction::Deny
            && r.when.is_empty()
            && r.or.is_empty()
            && r.fires.admission
        {
            let mut parent: &mut Prop = &mut spec;
            for seg in &path {
                parent.required.insert(seg.clone());
                parent = parent.children.entry(seg.clone()).or_default();
            }
        }
    }
    for m in &c.entry.mutation.rules {
        let Some(path) = spec_path(&m.field) else {
            continue;
        };
        let Some(prop) = spec.at(&path) else {
            continue;
        };
        let ty = match m.value_type {
            Some(ValueType::Int) => Scalar::Integer,
            Some(ValueType::Float) => Scalar::Number,
            Some(ValueType::Bool) => Scalar::Boolean,
            Some(ValueType::String) | None => Scalar::String,
        };
        prop.infer(
            if m.value_type.is_some() {
                Strength::ValueType
            } else {
                Strength::Default
            },
            ty,
        );
        if let Some(d) = m
            .default
            .as_deref()
            .filter(|d| !ork_template::is_template(d))
        {
            let v = match ty {
                Scalar::Integer => d.trim().parse::<i64>().ok().map(Value::from),
                Scalar::Number => d.trim().parse::<f64>().ok().map(Value::from),
                Scalar::Boolean => ork_template::funcs::parse_bool_word(d.trim()).map(Value::Bool),
                Scalar::String | Scalar::IntOrString => Some(Value::from(d)),
            };
            prop.default = v;
        }
    }
    spec
}

/// A CRD for an entry given by `apiTypes`.
fn generated(k: &Katalog, c: &Crd) -> Value {
    let spec = spec_schema(k, c);
    let mut spec_schema = if spec.children.is_empty() {
        json!({"type": "object"})
    } else {
        spec.schema()
    };
    spec_schema["x-kubernetes-preserve-unknown-fields"] = json!(true);
    let mut columns = vec![json!({
        "name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status",
    })];
    let has_phase = c
        .entry
        .operator_box
        .status
        .fields
        .iter()
        .any(|f| f.path.trim_start_matches('.') == "phase");
    if has_phase {
        columns.push(json!({"name": "Phase", "type": "string", "jsonPath": ".status.phase"}));
    }
    columns.push(json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}));
    let a = &c.api;
    let mut root = json!({
        "type": "object",
        "properties": {
            "spec": spec_schema,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    });
    if !spec.required.is_empty() {
        root["required"] = json!(["spec"]);
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": a.crd_name(), "labels": ork_webhooks::control_plane_labels()},
        "spec": {
            "group": a.group,
            "names": {
                "kind": a.kind,
                "listKind": format!("{}List", a.kind),
                "plural": a.plural,
                "singular": a.kind.to_ascii_lowercase(),
            },
            "scope": if a.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [{
                "name": a.version,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    })
}

#[cfg(test)]
mod tests;
