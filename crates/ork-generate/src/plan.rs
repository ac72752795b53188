//! `ork plan` (docs/cli.md §7): an offline diff between a bundle generated earlier and the one
//! the Katalog generates now with the options recorded in it, object by object (keyed by group,
//! kind, namespace and name), with what a reviewer must see first: permissions widened and
//! protection weakened.

pub mod diff;
mod weakening;
mod widening;

use std::collections::BTreeSet;

use ork_limits::Limits;
use serde::Serialize;
use serde_json::Value;

use crate::Error;
use crate::bundle::Bundle;
use crate::installed::{KATALOG_CONFIGMAP, KATALOG_KEY};
use crate::options::{BundleOptions, GENERATE_OPTIONS};
use diff::{FieldChange, Key};
pub use weakening::Weakening;
pub use widening::Widening;

/// What a bundle recorded about itself: the options and the installed Katalog's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub options: BundleOptions,
    pub katalog: String,
}

/// The options and Katalog a bundle records on ConfigMap `orkestra-katalog`; `None` for a
/// bundle without it (planned as a fresh install). A ConfigMap whose annotation or Katalog is
/// missing or unreadable is an error: the bundle cannot be regenerated as it was.
pub fn recorded(objects: &[Value]) -> Result<Option<Recorded>, Error> {
    let Some(cm) = objects.iter().find(|o| {
        o["kind"] == "ConfigMap"
            && o["apiVersion"] == "v1"
            && o["metadata"]["name"] == KATALOG_CONFIGMAP
    }) else {
        return Ok(None);
    };
    let at = format!(
        "ConfigMap {}/{KATALOG_CONFIGMAP}",
        cm["metadata"]["namespace"].as_str().unwrap_or_default()
    );
    let annotation = cm["metadata"]["annotations"][GENERATE_OPTIONS]
        .as_str()
        .ok_or_else(|| Error::one(format!("{at}: no annotation {GENERATE_OPTIONS}")))?;
    let options =
        BundleOptions::from_annotation(annotation).map_err(|e| Error::one(format!("{at}: {e}")))?;
    let katalog = cm["data"][KATALOG_KEY]
        .as_str()
        .ok_or_else(|| Error::one(format!("{at}: no data.{KATALOG_KEY}")))?
        .to_string();
    Ok(Some(Recorded { options, katalog }))
}

/// A changed object and its changed fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectChange {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub fields: Vec<FieldChange>,
}

/// An added or removed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    fn of(k: &Key) -> ObjectRef {
        ObjectRef {
            kind: k.kind.clone(),
            namespace: k.namespace.clone(),
            name: k.name.clone(),
        }
    }
}

fn shown(kind: &str, namespace: &Option<String>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Objects {
    pub added: Vec<ObjectRef>,
    pub removed: Vec<ObjectRef>,
    pub changed: Vec<ObjectChange>,
}

/// The Katalog's changes: entries (`crd website …`) and the other settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KatalogChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// The plan (its JSON form is `-o json`, docs/cli.md §7).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub katalog: KatalogChanges,
    pub objects: Objects,
    pub widening: Vec<Widening>,
    pub weakening: Vec<Weakening>,
}

impl Plan {
    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        self.katalog == KatalogChanges::default() && self.objects == Objects::default()
    }

    /// Permissions widened or protection weakened: what `ork plan` exits 1 for.
    pub fn is_security_relevant(&self) -> bool {
        !self.widening.is_empty() || !self.weakening.is_empty()
    }

    /// The text report: security-relevant changes first, then the Katalog, the objects and
    /// the summary; `No changes.` for identical bundles.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        if self.is_empty() {
            return "No changes.\n".into();
        }
        let mut s = String::new();
        if !self.widening.is_empty() {
            let _ = writeln!(s, "Permission widening ({})", self.widening.len());
            for w in &self.widening {
                let mark = if w.risky { '!' } else { '+' };
                let _ = writeln!(s, "  {mark} {}: + {}", w.role, w.describe());
                let because = if w.because.is_empty() {
                    "(nothing in the Katalog: not derived by ork)"
                } else {
                    &w.because
                };
                let _ = writeln!(s, "      because: {because}");
            }
        }
        if !self.weakening.is_empty() {
            let _ = writeln!(s, "Protection weakening ({})", self.weakening.len());
            for w in &self.weakening {
                let _ = writeln!(s, "  ! {}: {}", w.object, w.change);
            }
        }
        let k = &self.katalog;
        if *k != KatalogChanges::default() {
            let _ = writeln!(s, "Katalog");
            for (mark, list) in [('+', &k.added), ('-', &k.removed), ('~', &k.changed)] {
                for line in list {
                    let _ = writeln!(s, "  {mark} {line}");
                }
            }
        }
        let o = &self.objects;
        if *o != Objects::default() {
            let _ = writeln!(s, "Objects");
            for a in &o.added {
                let _ = writeln!(s, "  + {}", shown(&a.kind, &a.namespace, &a.name));
            }
            for r in &o.removed {
                let _ = writeln!(s, "  - {}", shown(&r.kind, &r.namespace, &r.name));
            }
            for c in &o.changed {
                let mut paths: Vec<&str> = c.fields.iter().map(|f| f.path.as_str()).collect();
                let more = paths.len().saturating_sub(4);
                paths.truncate(4);
                let tail = if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "  ~ {}: {}{tail}",
                    shown(&c.kind, &c.namespace, &c.name),
                    paths.join(", ")
                );
            }
        }
        let plural = |n: usize, one: &str| {
            if n == 1 {
                format!("{n} {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        let _ = writeln!(
            s,
            "Plan: {} to add, {} to remove, {} to change; {}, {}.",
            o.added.len(),
            o.removed.len(),
            o.changed.len(),
            plural(self.widening.len(), "permission widening"),
            plural(self.weakening.len(), "protection weakening"),
        );
        s
    }
}

/// The first up-to-three plain segments of a diff path (`operatorBox.onCreate.secrets[0].name`
/// → `operatorBox.onCreate.secrets`): the level a reviewer reads a Katalog change at.
fn summary_path(path: &str) -> String {
    let plain = path.split('[').next().unwrap_or_default();
    plain.split('.').take(3).collect::<Vec<_>>().join(".")
}

fn value_at<'a>(v: &'a Value, dotted: &str) -> &'a Value {
    dotted
        .split('.')
        .filter(|s| !s.is_empty())
        .fold(v, |v, seg| v.get(seg).unwrap_or(&Value::Null))
}

/// `operatorBox.onCreate.secrets added, validation.rules changed`
fn summarise(old: &Value, new: &Value) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for c in diff::fields(old, new) {
        let p = summary_path(&c.path);
        if !seen.insert(p.clone()) {
            continue;
        }
        let how = match (value_at(old, &p).is_null(), value_at(new, &p).is_null()) {
            (true, false) => "added",
            (false, true) => "removed",
            _ => "changed",
        };
        out.push(format!("{p} {how}"));
    }
    out
}

/// `database (demo.orkestra.io/Database)`
fn entry_name(name: &str, entry: &Value) -> String {
    let t = &entry["apiTypes"];
    match (t["group"].as_str(), t["kind"].as_str()) {
        (Some(g), Some(k)) => format!("crd {name} ({g}/{k})"),
        _ => format!("crd {name}"),
    }
}

fn katalog_changes(old: Option<&Value>, new: &Value) -> KatalogChanges {
    let mut out = KatalogChanges::default();
    let crds = |v: Option<&Value>| {
        v.and_then(|d| d.pointer("/spec/crds"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (old_crds, new_crds) = (crds(old), crds(Some(new)));
    for (name, e) in &new_crds {
        match old_crds.get(name) {
            None => out.added.push(entry_name(name, e)),
            Some(o) if o != e => out
                .changed
                .push(format!("crd {name}: {}", summarise(o, e).join(", "))),
            Some(_) => {}
        }
    }
    for (name, e) in &old_crds {
        if !new_crds.contains_key(name) {
            out.removed.push(entry_name(name, e));
        }
    }
    if let Some(old) = old {
        let without_crds = |v: &Value| {
            let mut v = v.clone();
            if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("crds");
            }
            v
        };
        out.changed
            .extend(summarise(&without_crds(old), &without_crds(new)));
    }
    out
}

/// Plans `new` against the objects of an earlier bundle. A bundle without ConfigMap
/// `orkestra-katalog` is planned as a fresh install: every object and permission is new.
pub fn plan(old: &[Value], new: &Bundle, limits: &Limits) -> Result<Plan, Error> {
    let recorded = recorded(old)?;
    let old: Vec<Value> = match &recorded {
        Some(_) => old
            .iter()
            .filter(|o| o.get("kind").is_some())
            .map(diff::authored)
            .collect(),
        None => Vec::new(),
    };
    let new_objects: Vec<Value> = new.objects().cloned().collect();

    let mut objects = Objects::default();
    let find = |list: &[Value], k: &Key| list.iter().find(|o| Key::of(o) == *k).cloned();
    for n in &new_objects {
        let key = Key::of(n);
        match find(&old, &key) {
            None => objects.added.push(ObjectRef::of(&key)),
            Some(o) => {
                let fields = diff::fields(&o, n);
                if !fields.is_empty() {
                    objects.changed.push(ObjectChange {
                        kind: key.kind.clone(),
                        namespace: key.namespace.clone(),
                        name: key.name.clone(),
                        fields,
                    });
                }
            }
        }
    }
    let mut seen_removed = BTreeSet::new();
    for o in &old {
        let key = Key::of(o);
        if find(&new_objects, &key).is_none() && seen_removed.insert(key.clone()) {
            objects.removed.push(ObjectRef::of(&key));
        }
    }

    let old_doc = match &recorded {
        Some(r) => Some(
            ork_yaml::parse_stream_with(&r.katalog, limits)
                .map_err(|e| {
                    Error::one(format!(
                        "ConfigMap {KATALOG_CONFIGMAP}: data.{KATALOG_KEY}:{}:{}: {}",
                        e.span.line, e.span.col, e.message
                    ))
                })?
                .first()
                .map(ork_yaml::Node::to_json)
                .unwrap_or(Value::Null),
        ),
        None => None,
    };
    let katalog = katalog_changes(old_doc.as_ref(), &new.installed.document);

    let widening = widening::widening(&old, &new_objects, &new.rules);
    let mut weakening = weakening::objects(&old, &new_objects);
    if let Some(r) = &recorded {
        let (old_k, _) = crate::installed::load_pinned(&r.katalog, &r.options.namespace, limits)
            .map_err(|e| {
                let mut m = e.0;
                m.push(
                    "the bundle's Katalog no longer loads: regenerate it from its source".into(),
                );
                Error(m)
            })?;
        if let Some(old_settings) = &old_k.posture {
            let object = format!("Katalog {}", new.installed.prepared.name);
            weakening.extend(weakening::pod_security(
                &object,
                old_settings,
                &new.installed.prepared.settings,
            ));
        }
    }
    Ok(Plan {
        katalog,
        objects,
        widening,
        weakening,
    })
}

#[cfg(test)]
mod tests;
