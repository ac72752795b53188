//! Structure stage: walks a spanned YAML node against the schema registry. Every mapping is
//! closed; unknown keys get a did-you-mean hint, wrong types name the expected type, duplicate
//! keys and "Later" features are errors. The output is normalized JSON (string-typed fields hold
//! the literal text) plus the position of every path.

use std::collections::HashSet;

use ork_yaml::{Node, NodeKind, ScalarValue};
use serde_json::{Map, Value};

use crate::diag::{Sink, did_you_mean, index, join};
use crate::schema::{self, CONDITION_KEYS, Field, LATER_ANYWHERE, LATER_KINDS, RULE_KEYS, Ty};

pub struct Decoder<'a> {
    pub sink: &'a mut Sink,
}

/// Hints for keys users bring from other tools or older Katalogs (docs/katalog.md §1).
fn targeted_hint(parent: &str, key: &str) -> Option<String> {
    let in_box = parent.ends_with("operatorBox");
    let h = match key {
        "reconcile" if in_box => {
            "reconciler settings live at operatorBox.reconciler; per-entry drift correction is `reconcile: true` on an onCreate entry"
        }
        "emit" if in_box => {
            "events are emitted by the runtime itself (docs/katalog.md §6.6); there is nothing to configure under operatorBox.emit"
        }
        "admission" if !parent.ends_with("webhooks") && !parent.ends_with("podSecurity") => {
            "admission is configured at security.webhooks.admission (Katalog-wide) and spec.crds.<name>.webhooks (per CRD)"
        }
        "anyOf" => "did you mean \"or\"?",
        "configmaps" => "did you mean \"configMaps\"?",
        "cronjobs" => "did you mean \"cronJobs\"?",
        "pvcs" => "did you mean \"persistentVolumeClaims\"?",
        "pdbs" => "did you mean \"pdb\"?",
        "hpas" => "did you mean \"hpa\"?",
        _ => return None,
    };
    Some(h.to_string())
}

impl Decoder<'_> {
    pub fn object(&mut self, node: &Node, fields: &'static [Field], path: &str) -> Value {
        let Some(pairs) = node.as_map() else {
            if !node.is_null() {
                self.sink.error(
                    node.span,
                    path,
                    format!(
                        "field {}: expected a map, got {}",
                        show(path),
                        node.type_name()
                    ),
                );
            }
            return Value::Object(Map::new());
        };
        let mut out = Map::new();
        // a set, not a list: a map of 200,000 keys made the duplicate check quadratic
        let mut seen: HashSet<&str> = HashSet::with_capacity(pairs.len());
        for (k, v) in pairs {
            let Some(key) = k.as_text() else {
                self.sink.error(
                    k.span,
                    path,
                    format!("keys must be strings at {}", show(path)),
                );
                continue;
            };
            let p = join(path, key);
            if !seen.insert(key) {
                self.sink.error(
                    k.span,
                    &p,
                    format!("duplicate key {key:?} at {}", show(path)),
                );
                continue;
            }
            let Some(field) = fields.iter().find(|f| f.name == key) else {
                if LATER_ANYWHERE.contains(&key) || LATER_KINDS.contains(&key) {
                    self.sink
                        .error(k.span, &p, format!("{key:?} is not supported yet"));
                } else {
                    let hint = targeted_hint(path, key).or_else(|| {
                        did_you_mean(
                            key,
                            fields
                                .iter()
                                .filter(|f| !matches!(f.ty, Ty::Later))
                                .map(|f| f.name),
                        )
                        .map(|s| format!("did you mean {s:?}?"))
                    });
                    self.sink.push(
                        crate::diag::Severity::Error,
                        k.span,
                        &p,
                        format!("unknown field {key:?} at {}", show(path)),
                        hint,
                    );
                }
                continue;
            };
            if let Ty::Later = field.ty {
                self.sink
                    .error(k.span, &p, format!("{key:?} is not supported yet"));
                continue;
            }
            if v.is_null() {
                continue; // null means absent
            }
            let val = self.value(v, &field.ty, &p);
            if !val.is_null() {
                out.insert(key.to_string(), val);
            }
        }
        for f in fields.iter().filter(|f| f.required) {
            if !out.contains_key(f.name) && !seen.contains(f.name) {
                self.sink.error(
                    node.span,
                    path,
                    format!("missing required field {:?} at {}", f.name, show(path)),
                );
            }
        }
        Value::Object(out)
    }

    pub fn value(&mut self, node: &Node, ty: &Ty, path: &str) -> Value {
        match ty {
            Ty::Str(_) | Ty::Scalar => match &node.kind {
                NodeKind::Scalar(s) if s.value != ScalarValue::Null => {
                    Value::String(s.text.clone())
                }
                NodeKind::Scalar(_) => Value::Null,
                _ => self.wrong(node, path, schema::type_name(ty)),
            },
            Ty::Bool => match node.scalar().map(|s| &s.value) {
                Some(ScalarValue::Bool(b)) => Value::Bool(*b),
                _ => self.wrong(node, path, "boolean"),
            },
            Ty::Int => match node.scalar().map(|s| &s.value) {
                Some(ScalarValue::Int(i)) => Value::from(*i),
                _ => self.wrong(node, path, "integer"),
            },
            Ty::Obj(fields) => self.object(node, fields, path),
            Ty::List(inner) => match node.as_seq() {
                Some(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, n)| self.value(n, inner, &index(path, i)))
                        .collect(),
                ),
                None => self.wrong(node, path, "list"),
            },
            Ty::StrList => match &node.kind {
                NodeKind::Seq(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, n)| match n.as_text() {
                            Some(t) => Some(Value::String(t.to_string())),
                            None => {
                                self.wrong(n, &index(path, i), "string");
                                None
                            }
                        })
                        .collect(),
                ),
                NodeKind::Scalar(s) if s.value != ScalarValue::Null => Value::Array(
                    s.text
                        .split(',')
                        .map(|p| p.trim())
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.into()))
                        .collect(),
                ),
                _ => self.wrong(node, path, "list of strings"),
            },
            // free keys; a string scalar per value (null is "")
            Ty::StrMap => self.free_map(node, path, "map of strings", |this, v, p| match &v.kind {
                NodeKind::Scalar(s) => Some(Value::String(if s.value == ScalarValue::Null {
                    String::new()
                } else {
                    s.text.clone()
                })),
                _ => {
                    this.wrong(v, p, "string");
                    None
                }
            }),
            Ty::MapOf(inner) => self.free_map(node, path, "map", |this, v, p| {
                Some(this.value(v, inner, p))
            }),
            Ty::Any => {
                self.check_duplicates(node, path);
                node.to_json()
            }
            Ty::DependsOn => self.depends_on(node, path),
            Ty::Conditions => match node.as_seq() {
                Some(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, n)| self.condition(n, &index(path, i), false))
                        .collect(),
                ),
                None => self.wrong(node, path, "list of conditions"),
            },
            Ty::Rule => self.condition(node, path, true),
            Ty::Later => Value::Null,
        }
    }

    /// A map with free keys: duplicate keys are errors, each value decoded by `value`.
    fn free_map(
        &mut self,
        node: &Node,
        path: &str,
        want: &str,
        mut value: impl FnMut(&mut Self, &Node, &str) -> Option<Value>,
    ) -> Value {
        let Some(pairs) = node.as_map() else {
            return self.wrong(node, path, want);
        };
        let mut out = Map::new();
        for (k, v) in pairs {
            let key = k.as_text().unwrap_or_default().to_string();
            let p = join(path, &key);
            if out.contains_key(&key) {
                self.sink.error(
                    k.span,
                    &p,
                    format!("duplicate key {key:?} at {}", show(path)),
                );
                continue;
            }
            if let Some(val) = value(self, v, &p) {
                out.insert(key, val);
            }
        }
        Value::Object(out)
    }

    fn check_duplicates(&mut self, node: &Node, path: &str) {
        match &node.kind {
            NodeKind::Map(pairs) => {
                let mut seen: HashSet<&str> = HashSet::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let key = k.as_text().unwrap_or_default();
                    let p = join(path, key);
                    if !seen.insert(key) {
                        self.sink.error(
                            k.span,
                            &p,
                            format!("duplicate key {key:?} at {}", show(path)),
                        );
                    }
                    self.check_duplicates(v, &p);
                }
            }
            NodeKind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    let p = index(path, i);
                    self.check_duplicates(n, &p);
                }
            }
            NodeKind::Scalar(_) => {}
        }
    }

    fn wrong(&mut self, node: &Node, path: &str, want: &str) -> Value {
        self.sink.error(
            node.span,
            path,
            format!(
                "field {}: expected {want}, got {}",
                show(path),
                node.type_name()
            ),
        );
        Value::Null
    }

    /// `{db: healthy}`, `{db: {condition: started}}` or `[db]` → `[{name, condition}]`.
    fn depends_on(&mut self, node: &Node, path: &str) -> Value {
        let mut out = Vec::new();
        let mut push = |this: &mut Self, name: &str, cond: &str, span, p: &str| {
            if cond != "started" && cond != "healthy" {
                this.sink.error_hint(
                    span,
                    p,
                    format!("dependsOn condition {cond:?} is not started or healthy"),
                    "use started or healthy",
                );
            }
            out.push(serde_json::json!({"name": name, "condition": cond, "path": p}));
        };
        match &node.kind {
            NodeKind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    match n.as_text() {
                        Some(name) => push(self, name, "started", n.span, &index(path, i)),
                        None => {
                            self.wrong(n, &index(path, i), "entry name");
                        }
                    }
                }
            }
            NodeKind::Map(pairs) => {
                for (k, v) in pairs {
                    let name = k.as_text().unwrap_or_default();
                    let p = join(path, name);
                    let cond = match &v.kind {
                        NodeKind::Scalar(s) if s.value == ScalarValue::Null => {
                            "started".to_string()
                        }
                        NodeKind::Scalar(s) => s.text.clone(),
                        NodeKind::Map(_) => {
                            const DEP: &[Field] = &[Field {
                                name: "condition",
                                ty: Ty::Str(schema::Coerce::None),
                                default: "started",
                                doc: "",
                                required: false,
                            }];
                            let o = self.object(v, DEP, &p);
                            o.get("condition")
                                .and_then(Value::as_str)
                                .unwrap_or("started")
                                .to_string()
                        }
                        NodeKind::Seq(_) => {
                            self.wrong(v, &p, "started, healthy or {condition}");
                            continue;
                        }
                    };
                    push(self, name, &cond, k.span, &p);
                }
            }
            _ => {
                self.wrong(node, path, "map or list");
            }
        }
        Value::Array(out)
    }

    /// One condition (or validation rule) → `{field, operator, value, negate, …rule keys}`.
    fn condition(&mut self, node: &Node, path: &str, rule: bool) -> Value {
        let Some(pairs) = node.as_map() else {
            return self.wrong(
                node,
                path,
                if rule {
                    "rule (map)"
                } else {
                    "condition (map)"
                },
            );
        };
        let mut out = Map::new();
        let mut ops: Vec<(String, String, ork_yaml::Span)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::with_capacity(pairs.len());
        for (k, v) in pairs {
            let key = k.as_text().unwrap_or_default();
            let p = join(path, key);
            if !seen.insert(key) {
                self.sink.error(
                    k.span,
                    &p,
                    format!("duplicate key {key:?} at {}", show(path)),
                );
                continue;
            }
            let text = || v.as_text().map(str::to_string);
            match key {
                "field" | "message" => match v.as_text() {
                    Some(t) => {
                        out.insert(key.into(), Value::String(t.into()));
                    }
                    None => {
                        self.wrong(v, &p, "string");
                    }
                },
                "negate" => match v.scalar().map(|s| &s.value) {
                    Some(ScalarValue::Bool(b)) => {
                        out.insert("negate".into(), Value::Bool(*b));
                    }
                    _ => {
                        self.wrong(v, &p, "boolean");
                    }
                },
                "operator" => match text() {
                    Some(t) => match schema::operator(&t) {
                        Some(op) => ops.push(("operator".into(), op.into(), v.span)),
                        None => {
                            let hint = did_you_mean(&t, schema::OPERATORS.iter().map(|(n, _)| *n))
                                .map(|s| format!("did you mean {s:?}?"));
                            self.sink.push(
                                crate::diag::Severity::Error,
                                v.span,
                                &p,
                                format!("unknown operator {t:?}"),
                                hint,
                            );
                        }
                    },
                    None => {
                        self.wrong(v, &p, "operator name");
                    }
                },
                "value" => match text() {
                    Some(t) => {
                        out.insert("value".into(), Value::String(t));
                    }
                    None => {
                        self.wrong(v, &p, "scalar");
                    }
                },
                "action" if rule => match text().as_deref().map(str::to_ascii_lowercase).as_deref()
                {
                    Some("deny") | Some("warn") => {
                        out.insert(
                            "action".into(),
                            Value::String(text().unwrap_or_default().to_ascii_lowercase()),
                        );
                    }
                    _ => {
                        self.sink.error_hint(
                            v.span,
                            &p,
                            format!(
                                "action {:?} is not deny or warn",
                                text().unwrap_or_default()
                            ),
                            "use deny or warn",
                        );
                    }
                },
                "when" | "or" if rule => {
                    let c = self.value(v, &Ty::Conditions, &p);
                    out.insert(key.into(), c);
                }
                "fires" if rule => {
                    const FIRES: &[Field] = &[
                        Field {
                            name: "reconcile",
                            ty: Ty::Bool,
                            default: "true",
                            doc: "",
                            required: false,
                        },
                        Field {
                            name: "admission",
                            ty: Ty::Bool,
                            default: "true",
                            doc: "",
                            required: false,
                        },
                    ];
                    let f = self.object(v, FIRES, &p);
                    out.insert("fires".into(), f);
                }
                other => match schema::operator(other) {
                    Some(op) => match text() {
                        Some(t) => {
                            ops.push((other.into(), op.into(), k.span));
                            // later stages locate the expected value at `<path>.value`
                            out.insert("value".into(), Value::String(t));
                        }
                        None => {
                            self.wrong(v, &p, "scalar");
                        }
                    },
                    None if LATER_ANYWHERE.contains(&other)
                        || ["time", "dayOfWeek", "cron"].contains(&other) =>
                    {
                        self.sink
                            .error(k.span, &p, format!("{other:?} is not supported yet"));
                    }
                    None => {
                        let mut cands: Vec<&str> = CONDITION_KEYS.to_vec();
                        if rule {
                            cands.extend_from_slice(RULE_KEYS);
                        }
                        for (n, aliases) in schema::OPERATORS {
                            cands.push(n);
                            cands.extend_from_slice(aliases);
                        }
                        let hint = targeted_hint(path, other).or_else(|| {
                            did_you_mean(other, cands).map(|s| format!("did you mean {s:?}?"))
                        });
                        self.sink.push(
                            crate::diag::Severity::Error,
                            k.span,
                            &p,
                            format!("unknown field {other:?} at {}", show(path)),
                            hint,
                        );
                    }
                },
            }
        }
        match ops.len() {
            0 if out.contains_key("value") => {
                out.insert("operator".into(), Value::String("equals".into()));
            }
            0 => self.sink.error_hint(
                node.span,
                path,
                format!("condition at {} has no operator", show(path)),
                "add one operator, e.g. equals: VALUE or exists: true",
            ),
            1 => {
                out.insert("operator".into(), Value::String(ops[0].1.clone()));
            }
            _ => self.sink.error(
                ops[1].2,
                path,
                format!(
                    "condition at {} has more than one operator ({})",
                    show(path),
                    ops.iter()
                        .map(|o| o.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
        if !out.contains_key("field") {
            self.sink.error(
                node.span,
                path,
                format!("missing required field \"field\" at {}", show(path)),
            );
        }
        if rule && !out.contains_key("message") {
            self.sink.error(
                node.span,
                path,
                format!("missing required field \"message\" at {}", show(path)),
            );
        }
        Value::Object(out)
    }
}

/// The path as shown in messages (`<root>` for the document itself).
pub fn show(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::diag::Sink;

    /// A map of `n` keys where every tenth repeats the key before it.
    fn many_keys(n: usize) -> String {
        let mut src = String::with_capacity(n * 16);
        for i in 0..n {
            let k = if i % 10 == 9 { i - 1 } else { i };
            src.push_str(&format!("k{k}: v\n"));
        }
        src
    }

    const FIELDS: &[Field] = &[Field {
        name: "k0",
        ty: Ty::Scalar,
        default: "",
        doc: "",
        required: false,
    }];

    #[test]
    fn duplicate_keys_of_a_huge_map_are_found_in_linear_time_and_in_order() {
        let n = 200_000;
        let docs = ork_yaml::parse_stream(&many_keys(n)).unwrap_or_default();
        let node = &docs[0];
        for ty in [Ty::Any, Ty::StrMap, Ty::Obj(FIELDS)] {
            let mut sink = Sink::new("x.yaml");
            let start = Instant::now();
            Decoder { sink: &mut sink }.value(node, &ty, "spec");
            // quadratic, this took minutes; linear, well under a second in a release build
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{:?}",
                start.elapsed()
            );
            let dups: Vec<&str> = sink
                .diags
                .iter()
                .filter(|d| d.message.starts_with("duplicate key"))
                .map(|d| d.message.as_str())
                .collect();
            assert_eq!(dups.len(), n / 10);
            assert_eq!(dups[0], "duplicate key \"k8\" at spec");
            assert_eq!(dups[1], "duplicate key \"k18\" at spec");
            // reported at the repeated occurrence, in source order
            assert_eq!(
                sink.diags
                    .iter()
                    .find(|d| d.message == dups[0])
                    .map(|d| d.line),
                Some(10)
            );
        }
    }
}
