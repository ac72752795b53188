//! The staged validation pipeline (docs/security.md §2.6): parse → structure → references →
//! templates → security → cross-entry. Each stage reports all of its errors; the pipeline stops
//! after the first stage that fails. One pipeline serves validate, template, simulate and the
//! start of run and gate.

use std::path::{Path, PathBuf};

use ork_limits::Limits;
use ork_yaml::Node;
use serde_json::Value;

use crate::diag::{Diagnostic, Sink, SpanIndex, did_you_mean};
use crate::model::{ApiInfo, Crd, CrdEntry, Katalog};
use crate::{decode, schema, security, templates};

pub const API_VERSION: &str = "orkestra.orkspace.io/v1";

/// The result of loading one Katalog file.
#[derive(Debug)]
pub struct Outcome {
    pub katalog: Option<Katalog>,
    /// Errors and warnings in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The file could not be read or is not YAML (exit 2 rather than 1).
    pub unreadable: bool,
}

impl Outcome {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

/// Loads and validates a Katalog file (`-` is stdin) within the default budgets. Relative paths
/// inside resolve against its directory (the working directory for stdin).
pub fn load_file(path: &Path) -> Outcome {
    load_file_with(path, &Limits::default())
}

/// [`load_file`] within `limits`: the file and every file it references (`crdFile`) are read
/// through `ork_io::read_text`, so none is read past `limits.file_bytes`.
pub fn load_file_with(path: &Path, limits: &Limits) -> Outcome {
    match ork_io::read_text(path, limits) {
        Ok(input) => {
            let dir = input
                .path
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            load_str_with(&input.text, &input.name, &dir, limits)
        }
        Err(e) => {
            let mut sink = Sink::new(&e.name);
            sink.error(
                ork_yaml::Span { line: 0, col: 0 },
                "",
                format!("cannot read {}: {}", e.name, e.problem),
            );
            Outcome {
                katalog: None,
                diagnostics: sink.diags,
                unreadable: true,
            }
        }
    }
}

/// Loads and validates Katalog text within the default budgets.
pub fn load_str(src: &str, file: &str, dir: &Path) -> Outcome {
    load_str_with(src, file, dir, &Limits::default())
}

/// [`load_str`] within `limits` (they bound the files the Katalog references).
pub fn load_str_with(src: &str, file: &str, dir: &Path, limits: &Limits) -> Outcome {
    let mut sink = Sink::new(file);

    // ---- parse ---------------------------------------------------------------------------
    let mut docs = match ork_yaml::parse_stream_with(src, limits) {
        Ok(d) => d,
        Err(e) => {
            sink.error(e.span, "", format!("{}: {}", e.what(), e.message));
            return Outcome {
                katalog: None,
                diagnostics: sink.diags,
                unreadable: true,
            };
        }
    };
    let Some(index) = pick_document(&docs, &mut sink) else {
        return finish(sink, None);
    };
    // the document moves into the span index, which resolves positions on demand
    let spans = SpanIndex::new(docs.swap_remove(index));

    // ---- structure -------------------------------------------------------------------------
    let raw = match spans.root() {
        Some(doc) => structure(doc, &mut sink, &spans),
        None => Value::Null,
    };
    if sink.has_errors() {
        return finish(sink, None);
    }
    let Some(mut katalog) = build(raw, file, dir, &mut sink, spans) else {
        return finish(sink, None);
    };

    // ---- references ------------------------------------------------------------------------
    references(&mut katalog, &mut sink, limits);
    if sink.has_errors() {
        return finish(sink, None);
    }
    // ---- templates ---------------------------------------------------------------------------
    templates::check(&katalog, &katalog.raw, &mut sink);
    if sink.has_errors() {
        return finish(sink, None);
    }
    // ---- security ------------------------------------------------------------------------------
    katalog.posture = security::check(&katalog, &katalog.raw, &mut sink);
    if sink.has_errors() {
        return finish(sink, None);
    }
    // ---- cross-entry -------------------------------------------------------------------------
    cross_entry(&katalog, &mut sink);
    if sink.has_errors() {
        return finish(sink, None);
    }
    katalog.warnings = sink.diags.clone();
    finish(sink, Some(katalog))
}

fn finish(mut sink: Sink, katalog: Option<Katalog>) -> Outcome {
    sink.diags.sort_by_key(|d| (d.line, d.column));
    if let Some(mut k) = katalog {
        k.warnings = sink.diags.clone();
        return Outcome {
            katalog: Some(k),
            diagnostics: sink.diags,
            unreadable: false,
        };
    }
    Outcome {
        katalog: None,
        diagnostics: sink.diags,
        unreadable: false,
    }
}

/// The index of the one `kind: Katalog` document.
fn pick_document(docs: &[Node], sink: &mut Sink) -> Option<usize> {
    let mut found: Option<usize> = None;
    for (i, d) in docs.iter().enumerate() {
        let kind = d.get("kind").and_then(Node::as_text).unwrap_or("");
        match kind {
            "Katalog" => {
                if found.is_some() {
                    sink.error(
                        d.span,
                        "kind",
                        "a file may hold only one kind: Katalog document",
                    );
                } else {
                    found = Some(i);
                }
            }
            "Komposer" | "Motif" => {
                let span = d.get("kind").map(|k| k.span).unwrap_or(d.span);
                sink.error(span, "kind", format!("kind {kind:?} is not supported yet"));
            }
            "" if docs.len() == 1 => {
                // a lone document without kind is probably a Katalog missing its header
                found = Some(i);
            }
            other => {
                let span = d.get("kind").map(|k| k.span).unwrap_or(d.span);
                sink.warn(
                    span,
                    "kind",
                    format!("skipping document of kind {other:?}: not a Katalog"),
                );
            }
        }
    }
    if found.is_none() && !sink.has_errors() {
        sink.error(
            ork_yaml::Span { line: 1, col: 1 },
            "",
            "no kind: Katalog document in this file",
        );
    }
    found
}

fn structure(doc: &Node, sink: &mut Sink, spans: &SpanIndex) -> Value {
    if doc.as_map().is_none() {
        sink.error(
            doc.span,
            "",
            format!("a Katalog is a map, got {}", doc.type_name()),
        );
        return Value::Null;
    }
    if let Some(v) = doc.get("apiVersion")
        && v.as_text() != Some(API_VERSION)
    {
        sink.error_hint(
            v.span,
            "apiVersion",
            format!(
                "apiVersion {:?} is not supported",
                v.as_text().unwrap_or_default()
            ),
            format!("the supported apiVersion is {API_VERSION}"),
        );
    }
    if let Some(crds) = doc.get("spec").and_then(|s| s.get("crds"))
        && crds.as_seq().is_some()
    {
        sink.error_hint(
            crds.span,
            "spec.crds",
            "crds is a map keyed by entry name",
            "write `crds: {website: {...}}` instead of a list",
        );
        return Value::Null;
    }
    let mut d = decode::Decoder { sink };
    let raw = d.object(doc, schema::KATALOG, "");
    // entry names, metadata.name, legacy locations, reconciler.default
    if let Some(name) = raw.pointer("/metadata/name").and_then(Value::as_str)
        && !crate::coerce::is_dns1123_label(name)
    {
        let span = spans.value("metadata.name");
        sink.error(
            span,
            "metadata.name",
            format!("metadata.name {name:?} is not a DNS-1123 label"),
        );
    }
    if let Some(crds) = raw.pointer("/spec/crds").and_then(Value::as_object) {
        for (name, entry) in crds {
            let path = format!("spec.crds.{name}");
            if !crate::coerce::is_dns1123_label(name) {
                sink.error(
                    spans.key(&path),
                    &path,
                    format!("CRD entry name {name:?} is not a DNS-1123 label"),
                );
            }
            for legacy in [
                "deletionProtection",
                "allowedNamespaces",
                "restrictedNamespaces",
            ] {
                if entry.get(legacy).is_some() {
                    let p = format!("{path}.{legacy}");
                    if entry
                        .pointer(&format!("/operatorBox/runtime/{legacy}"))
                        .is_some()
                    {
                        sink.error(
                            spans.key(&p),
                            &p,
                            format!(
                                "{legacy} is set both here and at operatorBox.runtime.{legacy}"
                            ),
                        );
                    } else {
                        sink.warn(spans.key(&p), &p, format!("{legacy} on the CRD entry is a legacy location; move it to operatorBox.runtime.{legacy}"));
                    }
                }
            }
            if entry.pointer("/operatorBox/reconciler/default") == Some(&Value::Bool(false)) {
                let p = format!("{path}.operatorBox.reconciler.default");
                sink.error(
                    spans.value(&p),
                    &p,
                    "\"reconciler.default: false\" (code reconcilers) is not supported yet",
                );
            }
        }
    }
    if raw.pointer("/security/rbac").is_some() {
        sink.warn(spans.key("security.rbac"), "security.rbac", "security.rbac is ignored: ork derives RBAC from the Katalog and never applies it itself");
    }
    raw
}

/// Builds the typed Katalog. The normalized document and the span index move into it (no
/// copies: they are the largest structures of a load); parts deserialize by reference.
fn build(raw: Value, file: &str, dir: &Path, sink: &mut Sink, spans: SpanIndex) -> Option<Katalog> {
    let empty = Value::Object(Default::default());
    let get = |key: &str| raw.get(key).unwrap_or(&empty);
    let internal = |sink: &mut Sink, what: &str, e: serde_json::Error| {
        sink.error(
            ork_yaml::Span { line: 1, col: 1 },
            what,
            format!("cannot read {what}: {e}"),
        );
    };
    let metadata = serde::Deserialize::deserialize(get("metadata"))
        .map_err(|e| internal(sink, "metadata", e))
        .ok()?;
    let security = serde::Deserialize::deserialize(get("security"))
        .map_err(|e| internal(sink, "security", e))
        .ok()?;
    let gateway = serde::Deserialize::deserialize(get("gateway"))
        .map_err(|e| internal(sink, "gateway", e))
        .ok()?;
    let profiles = serde::Deserialize::deserialize(get("profiles"))
        .map_err(|e| internal(sink, "profiles", e))
        .ok()?;
    let mut crds = Vec::new();
    if let Some(map) = raw.pointer("/spec/crds").and_then(Value::as_object) {
        for (name, v) in map {
            let path = format!("spec.crds.{name}");
            match <CrdEntry as serde::Deserialize>::deserialize(v) {
                Ok(entry) => crds.push(Crd {
                    name: name.clone(),
                    path,
                    entry,
                    api: empty_api(),
                    cr_files: Vec::new(),
                }),
                Err(e) => internal(sink, &path, e),
            }
        }
    }
    // keep file order
    crds.sort_by_cached_key(|c| spans.key(&c.path));
    Some(Katalog {
        file: file.to_string(),
        dir: dir.to_path_buf(),
        metadata,
        security,
        gateway,
        profiles,
        crds,
        spans,
        warnings: Vec::new(),
        raw,
        posture: None,
    })
}

fn empty_api() -> ApiInfo {
    ApiInfo {
        group: String::new(),
        version: String::new(),
        kind: String::new(),
        plural: String::new(),
        namespaced: true,
        status_subresource: None,
    }
}

fn resolve_path(dir: &Path, p: &str) -> Result<PathBuf, String> {
    if p.contains("://") {
        return Err(format!(
            "{p:?} is a URL; offline commands read local files only"
        ));
    }
    let path = Path::new(p);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    })
}

fn references(k: &mut Katalog, sink: &mut Sink, limits: &Limits) {
    let names: Vec<String> = k.crds.iter().map(|c| c.name.clone()).collect();
    let dir = k.dir.clone();
    for crd in &mut k.crds {
        let path = crd.path.clone();
        let mut api: Option<ApiInfo> = None;
        // a crdFile that does not load has its own error; "neither apiTypes nor crdFile" would
        // then be false and hide it
        let mut crd_file_failed = false;
        if let Some(t) = &crd.entry.api_types {
            api = Some(ApiInfo {
                group: t.group.clone(),
                version: t.version.clone(),
                kind: t.kind.clone(),
                plural: t.plural.clone(),
                namespaced: crd.entry.namespaced.unwrap_or(true),
                status_subresource: None,
            });
        }
        if let Some(file) = &crd.entry.crd_file {
            let p = format!("{path}.crdFile");
            let span = k.spans.value(&p);
            match resolve_path(&dir, file)
                .and_then(|f| read_crd(&f, limits).map_err(|e| format!("crdFile {file:?}: {e}")))
            {
                Ok(from_file) => {
                    if let Some(given) = &api {
                        for (what, a, b) in [
                            ("group", &given.group, &from_file.group),
                            ("version", &given.version, &from_file.version),
                            ("kind", &given.kind, &from_file.kind),
                            ("plural", &given.plural, &from_file.plural),
                        ] {
                            if a != b {
                                let ap = format!("{path}.apiTypes.{what}");
                                sink.error(k.spans.value(&ap), &ap, format!("apiTypes.{what} {a:?} disagrees with crdFile {file:?} ({b:?})"));
                            }
                        }
                    }
                    if let Some(ns) = crd.entry.namespaced
                        && ns != from_file.namespaced
                    {
                        let np = format!("{path}.namespaced");
                        let scope = if from_file.namespaced {
                            "Namespaced"
                        } else {
                            "Cluster"
                        };
                        sink.error(
                            k.spans.value(&np),
                            &np,
                            format!(
                                "namespaced: {ns} disagrees with crdFile {file:?} (scope {scope})"
                            ),
                        );
                    }
                    if from_file.status_subresource == Some(false)
                        && !crd.entry.operator_box.status.fields.is_empty()
                    {
                        sink.warn(span, &p, format!("crdFile {file:?} has no status subresource on its storage version: ork writes no status"));
                    }
                    api = Some(from_file);
                }
                Err(e) => {
                    crd_file_failed = true;
                    sink.error(span, &p, e);
                }
            }
        }
        match api {
            Some(a) => {
                if !a.group.contains('.') {
                    let gp = format!("{path}.apiTypes.group");
                    sink.error(
                        k.spans.value(&gp),
                        &gp,
                        format!(
                            "group {:?} must contain a dot (e.g. demo.example.io)",
                            a.group
                        ),
                    );
                }
                crd.api = a;
            }
            None if crd_file_failed => {}
            None => sink.error_hint(
                k.spans.key(&path),
                &path,
                format!("CRD entry {:?} has neither apiTypes nor crdFile", crd.name),
                "add crdFile: ./crd.yaml or apiTypes: {group, version, kind, plural}",
            ),
        }
        for (i, f) in crd.entry.cr_files.clone().iter().enumerate() {
            let p = format!("{path}.crFiles[{i}]");
            match resolve_path(&dir, f) {
                Ok(pb) if pb.is_file() => crd.cr_files.push(pb),
                Ok(_) => sink.error(
                    k.spans.value(&p),
                    &p,
                    format!("crFiles[{i}] {f:?}: no such file"),
                ),
                Err(e) => sink.error(k.spans.value(&p), &p, e),
            }
        }
        for dep in &crd.entry.depends_on {
            if !names.contains(&dep.name) {
                let hint = did_you_mean(&dep.name, names.iter().map(String::as_str))
                    .map(|s| format!("did you mean {s:?}?"));
                sink.push(
                    crate::diag::Severity::Error,
                    k.spans.key(&dep.path),
                    &dep.path,
                    format!("dependsOn names unknown entry {:?}", dep.name),
                    hint,
                );
            } else if dep.name == crd.name {
                sink.error(
                    k.spans.key(&dep.path),
                    &dep.path,
                    format!("entry {:?} depends on itself", crd.name),
                );
            }
        }
    }
}

/// Reads group, storage version, kind, plural, scope and the status subresource from a CRD file
/// (at most `limits.file_bytes`). The error does not repeat the path: callers name the file.
pub fn read_crd(path: &Path, limits: &Limits) -> Result<ApiInfo, String> {
    let src = ork_io::read_text(path, limits)
        .map_err(|e| e.problem.to_string())?
        .text;
    let docs = ork_yaml::parse_stream_with(&src, limits).map_err(|e| {
        format!(
            "{} at {}:{}: {}",
            e.what(),
            e.span.line,
            e.span.col,
            e.message
        )
    })?;
    let doc = docs
        .iter()
        .map(Node::to_json)
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
        .ok_or("no CustomResourceDefinition in the file")?;
    let s = |p: &str| doc.pointer(p).and_then(Value::as_str).map(str::to_string);
    let group = s("/spec/group").ok_or("spec.group is missing")?;
    let kind = s("/spec/names/kind").ok_or("spec.names.kind is missing")?;
    let plural = s("/spec/names/plural").ok_or("spec.names.plural is missing")?;
    let scope = s("/spec/scope").unwrap_or_else(|| "Namespaced".into());
    let versions = doc
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage = versions
        .iter()
        .find(|v| v.get("storage") == Some(&Value::Bool(true)))
        .or_else(|| versions.first())
        .ok_or("spec.versions is empty")?;
    let version = storage
        .get("name")
        .and_then(Value::as_str)
        .ok_or("storage version has no name")?
        .to_string();
    let status = storage.pointer("/subresources/status").is_some();
    Ok(ApiInfo {
        group,
        version,
        kind,
        plural,
        namespaced: scope != "Cluster",
        status_subresource: Some(status),
    })
}

fn cross_entry(k: &Katalog, sink: &mut Sink) {
    for (i, a) in k.crds.iter().enumerate() {
        for b in &k.crds[..i] {
            let plural_clash = a.api.group == b.api.group
                && a.api.plural == b.api.plural
                && a.api.kind != b.api.kind;
            if plural_clash {
                sink.error(
                    k.spans.key(&a.path),
                    &a.path,
                    format!(
                        "duplicate CRD: entries {:?} and {:?} both serve {}.{}",
                        b.name, a.name, a.api.plural, a.api.group
                    ),
                );
            } else if a.api.group == b.api.group && a.api.kind == b.api.kind {
                sink.error(
                    k.spans.key(&a.path),
                    &a.path,
                    format!(
                        "duplicate CRD: entries {:?} and {:?} both serve {}/{}",
                        b.name, a.name, a.api.group, a.api.kind
                    ),
                );
            }
        }
    }
    // dependsOn cycles: depth-first search, each cycle reported once
    let idx = |n: &str| k.crds.iter().position(|c| c.name == n);
    let mut state = vec![0u8; k.crds.len()]; // 0 new, 1 on stack, 2 done
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        k: &Katalog,
        idx: &dyn Fn(&str) -> Option<usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
        sink: &mut Sink,
    ) {
        state[i] = 1;
        stack.push(i);
        for dep in &k.crds[i].entry.depends_on {
            let Some(j) = idx(&dep.name) else { continue };
            if j == i {
                continue;
            }
            if state[j] == 1 {
                let start = stack.iter().position(|&s| s == j).unwrap_or(0);
                let mut names: Vec<&str> = stack[start..]
                    .iter()
                    .map(|&s| k.crds[s].name.as_str())
                    .collect();
                names.push(&k.crds[j].name);
                sink.error(
                    k.spans.key(&dep.path),
                    &dep.path,
                    format!("dependsOn cycle: {}", names.join(" → ")),
                );
            } else if state[j] == 0 {
                visit(j, k, idx, state, stack, sink);
            }
        }
        stack.pop();
        state[i] = 2;
    }
    for i in 0..k.crds.len() {
        if state[i] == 0 {
            visit(i, k, &idx, &mut state, &mut stack, sink);
        }
    }
}

/// A `spec` built from a CRD's schema defaults (storage version), for scanning a Katalog
/// without CRs: `default`s where the schema has them; required fields without one get a
/// placeholder of their type (`example`, 1, false) so the children still render.
pub fn crd_spec_defaults(path: &Path, limits: &Limits) -> Option<Value> {
    let src = ork_io::read_text(path, limits).ok()?.text;
    let docs = ork_yaml::parse_stream_with(&src, limits).ok()?;
    let crd = docs
        .iter()
        .map(Node::to_json)
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))?;
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array)?;
    let storage = versions
        .iter()
        .find(|v| v.get("storage") == Some(&Value::Bool(true)))
        .or_else(|| versions.first())?;
    let spec = storage.pointer("/schema/openAPIV3Schema/properties/spec")?;
    Some(defaults(spec, true).unwrap_or(Value::Object(Default::default())))
}

fn defaults(schema: &Value, required: bool) -> Option<Value> {
    if let Some(d) = schema.get("default") {
        return Some(d.clone());
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let req: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut out = serde_json::Map::new();
            for (k, sub) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(v) = defaults(sub, req.contains(&k.as_str())) {
                    out.insert(k.clone(), v);
                }
            }
            (required || !out.is_empty()).then_some(Value::Object(out))
        }
        Some("string") if required => Some(Value::String("example".into())),
        Some("integer" | "number") if required => Some(Value::from(1)),
        Some("boolean") if required => Some(Value::Bool(false)),
        Some("array") if required => Some(Value::Array(Vec::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spec_defaults_from_the_website_crd() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/website/crd.yaml");
        let spec = super::crd_spec_defaults(&p, &ork_limits::Limits::default());
        assert_eq!(
            spec,
            Some(serde_json::json!({"image": "example", "replicas": 1, "port": 8080}))
        );
    }
}
