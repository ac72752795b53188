//! Loading scenarios (docs/e2e.md §1, §3 step 1): strict decoding, imports, and every
//! referenced file read and checked, so a bad spec is exit 2 before any request is made.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ork_katalog::diag::{Diagnostic, Severity, SpanIndex, index, join};
use ork_limits::Limits;
use ork_yaml::Span;
use serde_json::Value;

use crate::model::*;
use crate::schema::{self, ACTIONS};

/// How deep `imports` may nest: a suite of suites of scenarios is plenty, and the budget
/// keeps a cycle of imports (also detected) or a hostile tree from running away.
pub const MAX_IMPORT_DEPTH: usize = 8;
/// At most this many scenarios in one run.
pub const MAX_SCENARIOS: usize = 256;

/// Loads every scenario of `paths` (files, or directories searched recursively for
/// `e2e.yaml`), imports first, each file once.
pub fn load_paths(paths: &[PathBuf], limits: &Limits) -> Result<Vec<Scenario>, Vec<Diagnostic>> {
    let mut loader = Loader {
        limits,
        seen: HashSet::new(),
        stack: Vec::new(),
        scenarios: Vec::new(),
        errors: Vec::new(),
    };
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            find_e2e(p, 0, &mut found);
            found.sort();
            if found.is_empty() {
                loader.error_at(p, 0, 0, format!("no e2e.yaml under {}", p.display()));
            }
            for f in found {
                loader.file(&f, None);
            }
        } else {
            loader.file(p, None);
        }
    }
    if loader.errors.is_empty() {
        Ok(loader.scenarios)
    } else {
        Err(loader.errors)
    }
}

fn find_e2e(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_IMPORT_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        // symlinked directories are not followed: a loop would never end
        match e.file_type() {
            Ok(t) if t.is_dir() => find_e2e(&p, depth + 1, out),
            Ok(t) if t.is_file() && e.file_name() == "e2e.yaml" => out.push(p),
            _ => {}
        }
    }
}

struct Loader<'a> {
    limits: &'a Limits,
    seen: HashSet<PathBuf>,
    stack: Vec<PathBuf>,
    scenarios: Vec<Scenario>,
    errors: Vec<Diagnostic>,
}

/// One decoded file and where its paths are, for errors found after decoding.
struct Ctx<'s> {
    file: String,
    dir: PathBuf,
    spans: &'s SpanIndex,
    errors: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        let span = self.spans.value(path);
        self.errors
            .push(diag(&self.file, span, path, message.into()));
    }

    /// A file named at `path`: resolved against the scenario directory, it must exist.
    fn file(&mut self, path: &str, rel: &str) -> PathBuf {
        let p = self.dir.join(rel);
        if !p.is_file() {
            self.error(
                path,
                format!("file {rel:?} does not exist (looked for {})", p.display()),
            );
        }
        p
    }

    fn duration(&mut self, v: &Value, path: &str, default: Duration) -> Duration {
        match v.as_str() {
            None => default,
            Some(t) => match ork_template::duration::parse_duration(t) {
                Ok(d) => d,
                Err(e) => {
                    self.error(path, format!("{path}: {e}"));
                    default
                }
            },
        }
    }
}

fn diag(file: &str, span: Span, path: &str, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: file.to_string(),
        line: span.line,
        column: span.col,
        path: path.to_string(),
        message,
        hint: None,
    }
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Loader<'_> {
    fn error_at(&mut self, file: &Path, line: u32, col: u32, message: String) {
        self.errors.push(diag(
            &file.display().to_string(),
            Span { line, col },
            "",
            message,
        ));
    }

    /// Loads one E2E file: its imports first, then its own scenario.
    fn file(&mut self, path: &Path, from: Option<(&str, Span)>) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) {
            let (file, span) = from.unwrap_or(("", Span { line: 0, col: 0 }));
            self.errors.push(diag(
                file,
                span,
                "imports",
                format!("import cycle: {} imports itself", path.display()),
            ));
            return;
        }
        if !self.seen.insert(canonical.clone()) {
            return; // imported by a suite and also found in a directory: run once
        }
        if self.stack.len() >= MAX_IMPORT_DEPTH {
            let (file, span) = from.unwrap_or(("", Span { line: 0, col: 0 }));
            self.errors.push(diag(
                file,
                span,
                "imports",
                format!("imports nest deeper than {MAX_IMPORT_DEPTH} files"),
            ));
            return;
        }
        let input = match ork_io::read_text(path, self.limits) {
            Ok(i) => i,
            Err(e) => {
                let (file, span) = from.unwrap_or(("", Span { line: 0, col: 0 }));
                let file = if file.is_empty() {
                    e.name.clone()
                } else {
                    file.to_string()
                };
                self.errors.push(diag(
                    &file,
                    span,
                    "",
                    format!("cannot read {}: {}", e.name, e.problem),
                ));
                return;
            }
        };
        let decoded = match ork_katalog::document::decode(
            &input.text,
            &input.name,
            "E2E",
            schema::E2E,
            self.limits,
        ) {
            Ok(d) => d,
            Err(diags) => {
                self.errors.extend(diags);
                return;
            }
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.stack.push(canonical);
        // imports: a path, or {path}
        if let Some(imports) = decoded.value.get("imports") {
            let items = match imports {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            for (i, item) in items.iter().enumerate() {
                let p = index("imports", i);
                let span = decoded.spans.value(&p);
                let rel = match item {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(m) if m.len() == 1 => {
                        m.get("path").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                };
                match rel {
                    Some(rel) => self.file(&dir.join(rel), Some((&input.name, span))),
                    None => self.errors.push(diag(
                        &input.name,
                        span,
                        &p,
                        "an import is a path or {path: PATH}".into(),
                    )),
                }
            }
        }
        if let Some(spec) = decoded.value.get("spec") {
            let mut ctx = Ctx {
                file: input.name.clone(),
                dir: dir.clone(),
                spans: &decoded.spans,
                errors: Vec::new(),
            };
            let scenario = scenario(&mut ctx, &decoded.value, spec, path, self.limits);
            self.errors.append(&mut ctx.errors);
            if self.scenarios.len() >= MAX_SCENARIOS {
                self.error_at(path, 1, 1, format!("more than {MAX_SCENARIOS} scenarios"));
            } else if let Some(other) = self.scenarios.iter().find(|o| o.name == scenario.name) {
                let msg = format!(
                    "scenario name {:?} is also used by {}",
                    scenario.name,
                    other.file.display()
                );
                ctx_error(
                    &mut self.errors,
                    &input.name,
                    &decoded.spans,
                    "metadata.name",
                    msg,
                );
            } else {
                self.scenarios.push(scenario);
            }
        } else if decoded.value.get("imports").is_none() {
            ctx_error(
                &mut self.errors,
                &input.name,
                &decoded.spans,
                "",
                "an E2E file needs a spec (a scenario) or imports (a suite)".into(),
            );
        }
        self.stack.pop();
    }
}

fn ctx_error(errors: &mut Vec<Diagnostic>, file: &str, spans: &SpanIndex, path: &str, m: String) {
    errors.push(diag(file, spans.value(path), path, m));
}

fn scenario(ctx: &mut Ctx, doc: &Value, spec: &Value, file: &Path, limits: &Limits) -> Scenario {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !ork_katalog::coerce::is_dns1123_label(&name) {
        ctx.error(
            "metadata.name",
            format!("metadata.name {name:?} is not a DNS-1123 label"),
        );
    }
    let katalog_rel = s(spec, "katalog").unwrap_or_default();
    let katalog = ctx.file("spec.katalog", &katalog_rel);
    if katalog.is_file() {
        let outcome = ork_katalog::load_file_with(&katalog, limits);
        ctx.errors.extend(outcome.errors().cloned());
    }
    let files = |ctx: &mut Ctx, one: &str, many: &[&str]| -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(f) = s(spec, one) {
            out.push((join("spec", one), f));
        }
        for key in many {
            for (i, f) in list(spec, key).into_iter().enumerate() {
                out.push((index(&join("spec", key), i), f));
            }
        }
        out.into_iter()
            .map(|(path, rel)| {
                let p = ctx.file(&path, &rel);
                if p.is_file() {
                    objects_checked(ctx, &path, &p, limits);
                }
                p
            })
            .collect()
    };
    let crds = files(ctx, "crd", &["crds", "crdFiles"]);
    let crs = files(ctx, "cr", &["crs", "crFiles"]);
    let (setup, setup_wait) = setup(ctx, spec.get("setup"), limits);
    let timeout = ctx.duration(
        spec.get("timeout").unwrap_or(&Value::Null),
        "spec.timeout",
        Duration::from_secs(600),
    );
    let mut expect = Vec::new();
    let mut names = HashSet::new();
    if let Some(items) = spec.get("expect").and_then(Value::as_array) {
        for (i, e) in items.iter().enumerate() {
            let path = index("spec.expect", i);
            let x = expectation(ctx, e, &path, limits);
            if !names.insert(x.name.clone()) {
                ctx.error(
                    &join(&path, "name"),
                    format!("expectation name {:?} is used twice", x.name),
                );
            }
            expect.push(x);
        }
    }
    let on_failure = on_failure(ctx, spec.get("onFailure"), "spec.onFailure");
    Scenario {
        name,
        description: doc
            .pointer("/metadata/description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        file: file.to_path_buf(),
        dir: ctx.dir.clone(),
        katalog,
        crds,
        crs,
        setup,
        setup_wait,
        timeout,
        expect,
        on_failure,
    }
}

/// A file of Kubernetes objects: every document a map with apiVersion, kind and metadata.name.
fn objects_checked(ctx: &mut Ctx, path: &str, file: &Path, limits: &Limits) {
    if let Err(e) = read_objects(file, limits) {
        ctx.error(path, e);
    }
}

/// Reads and parses a YAML file within `limits`; the error names the file (and the line).
pub(crate) fn read_documents(
    file: &Path,
    limits: &Limits,
) -> Result<(ork_io::Input, Vec<ork_yaml::Node>), String> {
    let input = ork_io::read_text(file, limits)
        .map_err(|e| format!("cannot read {}: {}", e.name, e.problem))?;
    let docs = ork_yaml::parse_stream_with(&input.text, limits).map_err(|e| {
        format!(
            "{}:{}:{}: {}: {}",
            input.name,
            e.span.line,
            e.span.col,
            e.what(),
            e.message
        )
    })?;
    Ok((input, docs))
}

/// Reads the objects of a manifest file (every document; empty documents skipped) within
/// `limits`. The error names the file and the document.
pub fn read_objects(file: &Path, limits: &Limits) -> Result<Vec<Value>, String> {
    let (input, docs) = read_documents(file, limits)?;
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| !d.is_null()) {
        let v = d.to_json();
        let at = format!("{}:{}:{}", input.name, d.span.line, d.span.col);
        if !v.is_object() {
            return Err(format!("{at}: a Kubernetes object is a map"));
        }
        for key in ["apiVersion", "kind"] {
            if !v.get(key).is_some_and(Value::is_string) {
                return Err(format!("{at}: the object has no {key}"));
            }
        }
        if !v.pointer("/metadata/name").is_some_and(Value::is_string) {
            return Err(format!("{at}: the object has no metadata.name"));
        }
        out.push(v);
    }
    Ok(out)
}

fn setup(ctx: &mut Ctx, v: Option<&Value>, limits: &Limits) -> (Vec<SetupFile>, Vec<Wait>) {
    let mut files = Vec::new();
    let mut waits = Vec::new();
    let Some(v) = v else {
        return (files, waits);
    };
    // `[files]` or `{apply: [...], wait: [...]}`
    let (apply, wait, base) = match v {
        Value::Array(a) => (a.clone(), Vec::new(), "spec.setup".to_string()),
        Value::Object(m) => {
            let known = ["apply", "wait", "helm"];
            for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
                ctx.error(
                    &join("spec.setup", k),
                    format!("unknown field {k:?} at spec.setup"),
                );
            }
            if m.contains_key("helm") {
                ctx.error("spec.setup.helm", "\"helm\" is not supported yet");
            }
            let list = |k: &str| match m.get(k) {
                Some(Value::Array(a)) => a.clone(),
                Some(other) => vec![other.clone()],
                None => Vec::new(),
            };
            (list("apply"), list("wait"), "spec.setup.apply".to_string())
        }
        Value::String(_) => (vec![v.clone()], Vec::new(), "spec.setup".to_string()),
        _ => {
            ctx.error("spec.setup", "setup is a list of files or {apply, wait}");
            return (files, waits);
        }
    };
    for (i, item) in apply.iter().enumerate() {
        let path = if matches!(v, Value::String(_)) {
            base.clone()
        } else {
            index(&base, i)
        };
        match item {
            Value::String(rel) => {
                let p = ctx.file(&path, rel);
                if p.is_file() {
                    objects_checked(ctx, &path, &p, limits);
                }
                files.push(SetupFile {
                    path: p,
                    wait: Vec::new(),
                });
            }
            Value::Object(m) => {
                for k in m.keys().filter(|k| !["path", "wait"].contains(&k.as_str())) {
                    ctx.error(&join(&path, k), format!("unknown field {k:?} at {path}"));
                }
                let Some(rel) = m.get("path").and_then(Value::as_str) else {
                    ctx.error(&path, format!("missing required field \"path\" at {path}"));
                    continue;
                };
                let p = ctx.file(&join(&path, "path"), rel);
                if p.is_file() {
                    objects_checked(ctx, &join(&path, "path"), &p, limits);
                }
                let w = waits_of(ctx, m.get("wait"), &join(&path, "wait"));
                files.push(SetupFile { path: p, wait: w });
            }
            _ => ctx.error(&path, "a setup file is a path or {path, wait}"),
        }
    }
    let w = Value::Array(wait);
    waits.extend(waits_of(ctx, Some(&w), "spec.setup.wait"));
    (files, waits)
}

fn waits_of(ctx: &mut Ctx, v: Option<&Value>, path: &str) -> Vec<Wait> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let p = index(path, i);
            for k in w.as_object().into_iter().flat_map(|m| m.keys()) {
                if !["kind", "name", "namespace", "ready", "timeout"].contains(&k.as_str()) {
                    ctx.error(&join(&p, k), format!("unknown field {k:?} at {p}"));
                }
            }
            let kind = s(w, "kind").unwrap_or_default();
            let name = s(w, "name");
            if kind.is_empty() || name.is_none() {
                ctx.error(&p, "a wait names kind and name");
            }
            Wait {
                target: ObjectRef {
                    kind: KindRef::parse(&kind, None),
                    name,
                    namespace: s(w, "namespace"),
                },
                ready: w.get("ready").and_then(Value::as_bool).unwrap_or(true),
                timeout: ctx.duration(
                    w.get("timeout").unwrap_or(&Value::Null),
                    &join(&p, "timeout"),
                    Duration::from_secs(60),
                ),
            }
        })
        .collect()
}

fn on_failure(ctx: &mut Ctx, v: Option<&Value>, path: &str) -> OnFailure {
    let Some(v) = v else {
        return OnFailure::default();
    };
    let commands = v
        .get("commands")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, c)| command(ctx, c, &index(&join(path, "commands"), i)))
                .collect()
        })
        .unwrap_or_default();
    let dump = v
        .get("dump")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(object_ref).collect())
        .unwrap_or_default();
    OnFailure { commands, dump }
}

fn object_ref(v: &Value) -> ObjectRef {
    ObjectRef {
        kind: KindRef::parse(&s(v, "kind").unwrap_or_default(), s(v, "apiVersion")),
        name: s(v, "name"),
        namespace: s(v, "namespace"),
    }
}

fn number(ctx: &mut Ctx, v: &Value, path: &str) -> f64 {
    match v
        .as_str()
        .map(str::trim)
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|n| n.is_finite())
    {
        Some(n) => n,
        None => {
            ctx.error(path, format!("{path}: expected a number"));
            0.0
        }
    }
}

fn range(ctx: &mut Ctx, v: &Value, path: &str) -> (f64, f64) {
    let text = v.as_str().unwrap_or_default();
    match text.split_once(',') {
        Some((lo, hi)) => {
            let lo = number(ctx, &Value::String(lo.into()), path);
            let hi = number(ctx, &Value::String(hi.into()), path);
            (lo, hi)
        }
        None => {
            ctx.error(path, format!("{path}: expected lo,hi"));
            (0.0, 0.0)
        }
    }
}

fn command(ctx: &mut Ctx, v: &Value, path: &str) -> Command {
    let mut checks = Vec::new();
    let text = |k: &str| s(v, k);
    if let Some(x) = text("equals") {
        checks.push(OutputCheck::Equals(x));
    }
    if let Some(x) = text("notEquals") {
        checks.push(OutputCheck::NotEquals(x));
    }
    if let Some(x) = text("outputContains") {
        checks.push(OutputCheck::Contains(x));
    }
    if let Some(x) = text("outputNotContains") {
        checks.push(OutputCheck::NotContains(x));
    }
    if let Some(x) = text("regex") {
        match regex::RegexBuilder::new(&x).size_limit(1 << 20).build() {
            Ok(_) => checks.push(OutputCheck::Regex(x)),
            Err(e) => ctx.error(&join(path, "regex"), format!("bad regex: {e}")),
        }
    }
    for (k, make) in [
        (
            "greaterThan",
            OutputCheck::GreaterThan as fn(f64) -> OutputCheck,
        ),
        ("lessThan", OutputCheck::LessThan),
        ("greaterThanOrEqual", OutputCheck::GreaterThanOrEqual),
        ("lessThanOrEqual", OutputCheck::LessThanOrEqual),
    ] {
        if let Some(x) = v.get(k) {
            let n = number(ctx, x, &join(path, k));
            checks.push(make(n));
        }
    }
    if let Some(x) = v.get("between") {
        let (lo, hi) = range(ctx, x, &join(path, "between"));
        checks.push(OutputCheck::Between(lo, hi));
    }
    if let Some(x) = v.get("notBetween") {
        let (lo, hi) = range(ctx, x, &join(path, "notBetween"));
        checks.push(OutputCheck::NotBetween(lo, hi));
    }
    if v.get("exists").and_then(Value::as_bool) == Some(true) {
        checks.push(OutputCheck::Exists);
    }
    if v.get("notExists").and_then(Value::as_bool) == Some(true) {
        checks.push(OutputCheck::NotExists);
    }
    if v.get("oneOf").is_some() {
        checks.push(OutputCheck::OneOf(list(v, "oneOf")));
    }
    if v.get("notOneOf").is_some() {
        checks.push(OutputCheck::NotOneOf(list(v, "notOneOf")));
    }
    Command {
        command: s(v, "command").unwrap_or_default(),
        exit_code: v.get("exitCode").and_then(Value::as_i64).unwrap_or(0),
        checks,
    }
}

fn expectation(ctx: &mut Ctx, e: &Value, path: &str, limits: &Limits) -> Expectation {
    let name = s(e, "name").unwrap_or_default();
    let after = match s(e, "after") {
        None => Phase::SetupComplete,
        Some(a) => Phase::parse(&a).unwrap_or_else(|| {
            ctx.error(
                &join(path, "after"),
                format!("after {a:?}: expected setup-complete, cr-applied or cr-deleted"),
            );
            Phase::SetupComplete
        }),
    };
    let timeout = ctx.duration(
        e.get("timeout").unwrap_or(&Value::Null),
        &join(path, "timeout"),
        Duration::from_secs(60),
    );
    let wait = e
        .get("wait")
        .map(|w| ctx.duration(w, &join(path, "wait"), Duration::ZERO));
    let mut steps = Vec::new();
    if let Some(items) = e.get("steps").and_then(Value::as_array) {
        for (i, st) in items.iter().enumerate() {
            let p = index(&join(path, "steps"), i);
            if let Some(step) = step(ctx, st, &p, limits) {
                steps.push(step);
            }
        }
    }
    let resources: Vec<ResourceCheck> = e
        .get("resources")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|r| ResourceCheck {
                    kind: KindRef::parse(&s(r, "kind").unwrap_or_default(), s(r, "apiVersion")),
                    namespace: s(r, "namespace"),
                    name: s(r, "name"),
                    labels: r
                        .get("labels")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_string())
                                })
                                .collect::<BTreeMap<_, _>>()
                        })
                        .unwrap_or_default(),
                    count: r.get("count").and_then(Value::as_u64),
                    ready: r.get("ready").and_then(Value::as_bool).unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    for (i, r) in resources.iter().enumerate() {
        if r.name.is_none() && r.labels.is_empty() {
            ctx.error(
                &index(&join(path, "resources"), i),
                "a resource check names name or labels",
            );
        }
    }
    let commands: Vec<Command> = e
        .get("commands")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, c)| command(ctx, c, &index(&join(path, "commands"), i)))
                .collect()
        })
        .unwrap_or_default();
    if steps.is_empty() && resources.is_empty() && commands.is_empty() {
        ctx.error(
            path,
            format!("expectation {name:?} has no steps, resources or commands"),
        );
    }
    let line = ctx.spans.value(path).line;
    Expectation {
        name,
        after,
        timeout,
        wait,
        on_failure: on_failure(ctx, e.get("onFailure"), &join(path, "onFailure")),
        steps,
        resources,
        commands,
        line,
    }
}

fn identity(v: Option<&Value>) -> Option<Identity> {
    let v = v?;
    Some(Identity {
        user: s(v, "user")?,
        groups: list(v, "groups"),
    })
}

fn step(ctx: &mut Ctx, st: &Value, path: &str, limits: &Limits) -> Option<Step> {
    let present: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| st.get(*a).is_some())
        .collect();
    let line = ctx.spans.value(path).line;
    let [action] = present.as_slice() else {
        ctx.error(
            path,
            format!(
                "a step has exactly one action ({}); this one has {}",
                ACTIONS.join(", "),
                if present.is_empty() {
                    "none".to_string()
                } else {
                    present.join(", ")
                }
            ),
        );
        return None;
    };
    let expect = match s(st, "expect").as_deref() {
        None | Some("allowed") => Verdict::Allowed,
        Some("denied") => Verdict::Denied,
        Some(other) => {
            ctx.error(
                &join(path, "expect"),
                format!("expect {other:?}: expected allowed or denied"),
            );
            Verdict::Allowed
        }
    };
    let opts = RequestOpts {
        expect,
        message_contains: s(st, "messageContains"),
        identity: identity(st.get("as")),
        dry_run: st.get("dryRun").and_then(Value::as_bool).unwrap_or(false),
    };
    let request = matches!(*action, "apply" | "delete" | "patch" | "exec");
    if !request {
        for k in ["expect", "messageContains", "as", "dryRun"] {
            if st.get(k).is_some() {
                ctx.error(
                    &join(path, k),
                    format!("{k:?} applies to apply, delete, patch and exec steps, not {action}"),
                );
            }
        }
    }
    let body = st.get(*action).cloned().unwrap_or(Value::Null);
    let ap = join(path, action);
    let action = match *action {
        "apply" => {
            let rel = body.as_str().unwrap_or_default().to_string();
            let file = ctx.file(&ap, &rel);
            if file.is_file() {
                objects_checked(ctx, &ap, &file, limits);
            }
            Action::Apply { file, opts }
        }
        "delete" => {
            let target = object_ref(&body);
            if target.name.is_none() {
                ctx.error(&ap, "delete names the object (name)");
            }
            Action::Delete { target, opts }
        }
        "patch" => {
            let b = match (body.get("merge"), body.get("json")) {
                (Some(m), None) if m.is_object() => Some(PatchBody::Merge(m.clone())),
                (None, Some(j)) if j.is_array() => Some(PatchBody::Json(j.clone())),
                _ => None,
            };
            let Some(b) = b else {
                ctx.error(
                    &ap,
                    "patch has exactly one of merge (a map) or json (a list of operations)",
                );
                return None;
            };
            Action::Patch {
                target: object_ref(&body),
                subresource: s(&body, "subresource"),
                body: b,
                opts,
            }
        }
        "exec" => Action::Exec {
            pod: s(&body, "pod").unwrap_or_default(),
            namespace: s(&body, "namespace"),
            container: s(&body, "container"),
            command: {
                let c = list(&body, "command");
                if c.is_empty() {
                    vec!["true".to_string()]
                } else {
                    c
                }
            },
            subresource: s(&body, "subresource").unwrap_or_else(|| "exec".into()),
            opts,
        },
        "canI" => {
            let resource = s(&body, "resource").unwrap_or_default();
            // resource[.group][/subresource]
            let (res, sub) = match resource.split_once('/') {
                Some((r, sr)) => (r.to_string(), Some(sr.to_string())),
                None => (resource.clone(), None),
            };
            let (res, group) = match res.split_once('.') {
                Some((r, g)) => (r.to_string(), g.to_string()),
                None => (res, String::new()),
            };
            let expect = match s(&body, "expect").as_deref() {
                Some("yes") => true,
                Some("no") => false,
                other => {
                    ctx.error(
                        &join(&ap, "expect"),
                        format!("expect {other:?}: expected yes or no"),
                    );
                    return None;
                }
            };
            Action::CanI {
                verb: s(&body, "verb").unwrap_or_default(),
                resource: res,
                group,
                subresource: sub,
                namespace: s(&body, "namespace"),
                name: s(&body, "name"),
                identity: identity(body.get("as")),
                expect,
            }
        }
        "assert" => {
            let fields = match body.get("fields") {
                None => Vec::new(),
                Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                Some(_) => {
                    ctx.error(&join(&ap, "fields"), "fields is a map of PATH: value");
                    Vec::new()
                }
            };
            for (p, _) in &fields {
                if let Err(e) = crate::path::parse(p) {
                    ctx.error(&join(&ap, "fields"), format!("field path {p:?}: {e}"));
                }
            }
            let absent = body.get("absent").and_then(Value::as_bool).unwrap_or(false);
            if absent && !fields.is_empty() {
                ctx.error(&ap, "absent: true takes no fields");
            }
            Action::Assert {
                target: object_ref(&body),
                fields,
                absent,
            }
        }
        "scale" => {
            let component = match s(&body, "component").as_deref() {
                Some("runtime") => Component::Runtime,
                Some("gateway") => Component::Gateway,
                other => {
                    ctx.error(
                        &join(&ap, "component"),
                        format!("component {other:?}: expected runtime or gateway"),
                    );
                    return None;
                }
            };
            let replicas = match body.get("replicas").and_then(Value::as_u64) {
                Some(r @ 0..=1) => r as u32,
                other => {
                    ctx.error(
                        &join(&ap, "replicas"),
                        format!(
                            "replicas {other:?}: 0 or 1 (in-process components run one replica)"
                        ),
                    );
                    return None;
                }
            };
            Action::Scale {
                component,
                replicas,
            }
        }
        "audit" => {
            if let Some(d) = s(&body, "decision")
                && d != "allow"
                && d != "deny"
            {
                ctx.error(
                    &join(&ap, "decision"),
                    format!("decision {d:?}: expected allow or deny"),
                );
            }
            Action::Audit {
                webhook: s(&body, "webhook"),
                decision: s(&body, "decision"),
                operation: s(&body, "operation"),
                kind: s(&body, "kind"),
                namespace: s(&body, "namespace"),
                name: s(&body, "name"),
                count: body.get("count").and_then(Value::as_u64),
            }
        }
        _ => return None,
    };
    Some(Step { action, line })
}
