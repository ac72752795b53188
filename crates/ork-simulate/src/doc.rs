//! The `kind: Simulate` document (docs/cli.md §5), decoded strictly by the Katalog's own
//! decoder (`ork_katalog::document::decode`): closed mappings, types, duplicate keys and
//! did-you-mean hints, every error at file:line:column. Values the schema keeps as text (verbs,
//! controller behaviours) and cross-field rules are checked here, at the position of the value.

use std::path::{Path, PathBuf};

use ork_katalog::diag::{Diagnostic, Severity, SpanIndex};
use ork_katalog::schema::{Coerce, Field, Ty, f, req};
use ork_limits::Limits;
use serde_json::Value;

use crate::controllers::{Behaviour, Jobs, Workloads};
use crate::cycle::Verb;

const S: Ty = Ty::Str(Coerce::None);
const VERB: Ty = Ty::Str(Coerce::Enum(VERBS));
const VERBS: &[&str] = &["create", "apply", "update", "patch", "delete"];
const WORKLOADS: &[&str] = &["ready", "pending"];
const JOBS: &[&str] = &["succeed", "fail", "pending"];

pub static SIMULATE: &[Field] = &[
    req("apiVersion", S, "orkestra.orkspace.io/v1"),
    req("kind", S, "Simulate"),
    req("metadata", Ty::Obj(METADATA), "name, description"),
    req("spec", Ty::Obj(SPEC), "what to simulate and what to expect"),
];

static METADATA: &[Field] = &[
    req("name", S, "the simulation's name"),
    f("description", S, "", "free text"),
];

static SPEC: &[Field] = &[
    req("katalog", S, "the Katalog, relative to this file"),
    f("cr", S, "", "one CR file (several documents allowed)"),
    f("crFiles", Ty::StrList, "", "CR files, in order"),
    f("cycles", Ty::Int, "10", "cycles to run"),
    f(
        "deleteAt",
        Ty::Int,
        "",
        "the CRs get a deletionTimestamp at this cycle",
    ),
    f(
        "cluster",
        Ty::Obj(CLUSTER),
        "",
        "how the simulated controllers behave",
    ),
    f(
        "expect",
        Ty::Obj(EXPECT),
        "",
        "assertions; absent: print only",
    ),
];

static CLUSTER: &[Field] = &[
    f(
        "workloads",
        Ty::Str(Coerce::Enum(WORKLOADS)),
        "ready",
        "ready | pending",
    ),
    f(
        "jobs",
        Ty::Str(Coerce::Enum(JOBS)),
        "succeed",
        "succeed | fail | pending",
    ),
];

static EXPECT: &[Field] = &[
    f("steady", Ty::Bool, "", "steady within `cycles`"),
    f("steadyAt", Ty::Int, "", "steady at or before this cycle"),
    f("noErrors", Ty::Bool, "", "no cycle ended Ready=False"),
    f(
        "ops",
        Ty::List(&Ty::Obj(OP_RULE)),
        "",
        "operations that must happen",
    ),
    f(
        "absent",
        Ty::List(&Ty::Obj(ABSENT_RULE)),
        "",
        "operations that must not happen",
    ),
];

static OP_RULE: &[Field] = &[
    f("cycle", Ty::Int, "", "this cycle (any if omitted)"),
    f("verb", VERB, "", "create | apply | update | patch | delete"),
    f(
        "resource",
        S,
        "",
        "lower-case plural, or finalizers | labels | annotations | status",
    ),
    f("namespace", S, "", "namespace"),
    f("name", S, "", "name"),
    f("changed", Ty::Bool, "", "whether it changed something"),
    f("count", Ty::Int, "1", "at least this many match"),
];

static ABSENT_RULE: &[Field] = &[
    f("cycle", Ty::Int, "", "this cycle (any if omitted)"),
    f("verb", VERB, "", "create | apply | update | patch | delete"),
    f(
        "resource",
        S,
        "",
        "lower-case plural, or finalizers | labels | annotations | status",
    ),
    f("namespace", S, "", "namespace"),
    f("name", S, "", "name"),
    f("changed", Ty::Bool, "", "whether it changed something"),
];

/// A decoded Simulate document, its paths resolved against its directory.
#[derive(Debug, Clone)]
pub struct SimulateDoc {
    /// the file as named
    pub file: String,
    pub name: String,
    pub katalog: PathBuf,
    pub crs: Vec<PathBuf>,
    pub cycles: Option<u32>,
    pub delete_at: Option<u32>,
    pub cluster: Behaviour,
    /// `None`: print only
    pub expect: Option<Expect>,
}

/// `spec.expect`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    pub steady: Option<bool>,
    pub steady_at: Option<u32>,
    pub no_errors: Option<bool>,
    pub ops: Vec<OpRule>,
    pub absent: Vec<OpRule>,
}

/// One `ops` or `absent` rule: every field given must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpRule {
    pub cycle: Option<u32>,
    pub verb: Option<Verb>,
    pub resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub changed: Option<bool>,
    /// at least this many (ops rules; 1 by default)
    pub count: u32,
}

/// Decodes the Simulate document `src` of `file`; relative paths resolve against `dir`.
pub fn decode(
    src: &str,
    file: &str,
    dir: &Path,
    limits: &Limits,
) -> Result<SimulateDoc, Vec<Diagnostic>> {
    let d = ork_katalog::document::decode(src, file, "Simulate", SIMULATE, limits)?;
    let mut c = Check {
        file,
        spans: &d.spans,
        errors: Vec::new(),
    };
    let v = &d.value;
    let spec = &v["spec"];
    let katalog = dir.join(spec["katalog"].as_str().unwrap_or_default());
    let mut crs = Vec::new();
    if let Some(cr) = spec.get("cr").and_then(Value::as_str) {
        crs.push(("spec.cr".to_string(), cr.to_string()));
    }
    for (i, cr) in spec
        .get("crFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        crs.push((
            format!("spec.crFiles[{i}]"),
            cr.as_str().unwrap_or_default().to_string(),
        ));
    }
    if spec.get("cr").is_some() && spec.get("crFiles").is_some() {
        c.error("spec.crFiles", "give spec.cr or spec.crFiles, not both");
    }
    if crs.is_empty() {
        c.error(
            "spec",
            "missing spec.cr (or spec.crFiles): the CRs to simulate",
        );
    }
    if !katalog.is_file() {
        c.error(
            "spec.katalog",
            format!(
                "file {:?} does not exist (looked for {})",
                spec["katalog"].as_str().unwrap_or_default(),
                katalog.display()
            ),
        );
    }
    let crs: Vec<PathBuf> = crs
        .into_iter()
        .map(|(path, rel)| {
            let p = dir.join(&rel);
            if !p.is_file() {
                c.error(
                    &path,
                    format!("file {rel:?} does not exist (looked for {})", p.display()),
                );
            }
            p
        })
        .collect();
    let cycles = c.positive(spec, "spec", "cycles");
    let delete_at = c.positive(spec, "spec", "deleteAt");
    if let (Some(n), Some(at)) = (cycles, delete_at)
        && at > n
    {
        c.error(
            "spec.deleteAt",
            format!("deleteAt {at} is after the last cycle ({n})"),
        );
    }
    let cl = &spec["cluster"];
    let workloads = match c.word(cl, "spec.cluster", "workloads", WORKLOADS) {
        Some("pending") => Workloads::Pending,
        _ => Workloads::Ready,
    };
    let jobs = match c.word(cl, "spec.cluster", "jobs", JOBS) {
        Some("fail") => Jobs::Fail,
        Some("pending") => Jobs::Pending,
        _ => Jobs::Succeed,
    };
    let expect = spec.get("expect").map(|e| c.expect(e));
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(SimulateDoc {
        file: file.to_string(),
        name: v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        katalog,
        crs,
        cycles,
        delete_at,
        cluster: Behaviour { workloads, jobs },
        expect,
    })
}

struct Check<'a> {
    file: &'a str,
    spans: &'a SpanIndex,
    errors: Vec<Diagnostic>,
}

impl Check<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        let span = self.spans.value(path);
        self.errors.push(Diagnostic {
            severity: Severity::Error,
            file: self.file.to_string(),
            line: span.line,
            column: span.col,
            path: path.to_string(),
            message: message.into(),
            hint: None,
        });
    }

    /// An integer ≥ 1 that fits a cycle number.
    fn positive(&mut self, v: &Value, at: &str, key: &str) -> Option<u32> {
        let n = v.get(key)?;
        let path = format!("{at}.{key}");
        match n.as_i64().and_then(|i| u32::try_from(i).ok()) {
            Some(i) if i >= 1 => Some(i),
            _ => {
                self.error(&path, format!("{path}: expected an integer ≥ 1, got {n}"));
                None
            }
        }
    }

    /// A value of a closed set of words.
    fn word<'w>(&mut self, v: &Value, at: &str, key: &str, words: &[&'w str]) -> Option<&'w str> {
        let s = v.get(key)?.as_str()?;
        let path = format!("{at}.{key}");
        match words.iter().find(|w| **w == s) {
            Some(w) => Some(w),
            None => {
                let hint = ork_katalog::diag::did_you_mean(s, words.iter().copied());
                let span = self.spans.value(&path);
                self.errors.push(Diagnostic {
                    severity: Severity::Error,
                    file: self.file.to_string(),
                    line: span.line,
                    column: span.col,
                    path: path.clone(),
                    message: format!(
                        "{path}: {} is not one of {}",
                        ork_policy::redact::quoted(s),
                        words.join(", ")
                    ),
                    hint: hint.map(|h| format!("did you mean {h:?}?")),
                });
                None
            }
        }
    }

    fn expect(&mut self, e: &Value) -> Expect {
        let mut x = Expect {
            steady: e.get("steady").and_then(Value::as_bool),
            steady_at: self.positive(e, "spec.expect", "steadyAt"),
            no_errors: e.get("noErrors").and_then(Value::as_bool),
            ..Expect::default()
        };
        for (list, out) in [("ops", &mut x.ops), ("absent", &mut x.absent)] {
            for (i, r) in e
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let at = format!("spec.expect.{list}[{i}]");
                let verb = self.word(r, &at, "verb", VERBS).and_then(Verb::parse);
                let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
                out.push(OpRule {
                    cycle: self.positive(r, &at, "cycle"),
                    verb,
                    resource: text("resource"),
                    namespace: text("namespace"),
                    name: text("name"),
                    changed: r.get("changed").and_then(Value::as_bool),
                    count: if list == "ops" {
                        self.positive(r, &at, "count").unwrap_or(1)
                    } else {
                        1
                    },
                });
            }
        }
        x
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/website")
    }

    #[test]
    fn an_unknown_key_is_an_error_at_its_line_with_a_hint() {
        let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Simulate\nmetadata: {name: s}\nspec:\n  katalog: katalog.yaml\n  cr: cr.yaml\n  cycels: 3\n";
        let Err(d) = decode(src, "sim.yaml", &dir(), &Limits::default()) else {
            panic!("accepted an unknown key");
        };
        assert_eq!((d[0].line, d[0].column), (7, 3), "{d:?}");
        assert_eq!(d[0].hint.as_deref(), Some("did you mean \"cycles\"?"));
        assert!(
            d[0].to_string().starts_with("sim.yaml:7:3: error:"),
            "{}",
            d[0]
        );
    }

    #[test]
    fn a_bad_word_and_a_missing_file_are_errors_at_their_values() {
        let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Simulate\nmetadata: {name: s}\nspec:\n  katalog: katalog.yaml\n  cr: nope.yaml\n  cluster: {jobs: succeeds}\n  expect:\n    ops: [{verb: crate}]\n";
        let Err(d) = decode(src, "sim.yaml", &dir(), &Limits::default()) else {
            panic!("accepted bad values");
        };
        let at: Vec<(u32, &str)> = d.iter().map(|d| (d.line, d.path.as_str())).collect();
        assert!(at.contains(&(6, "spec.cr")), "{at:?}");
        assert!(at.contains(&(7, "spec.cluster.jobs")), "{at:?}");
        assert!(at.contains(&(9, "spec.expect.ops[0].verb")), "{at:?}");
        let jobs = d.iter().find(|d| d.path == "spec.cluster.jobs").unwrap();
        assert_eq!(jobs.hint.as_deref(), Some("did you mean \"succeed\"?"));
    }

    #[test]
    fn a_valid_document_decodes_with_defaults() {
        let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Simulate\nmetadata: {name: s}\nspec:\n  katalog: katalog.yaml\n  cr: cr.yaml\n  cycles: 4\n  expect: {steady: true, ops: [{cycle: 1, verb: create, resource: serviceaccounts}], absent: [{name: x}]}\n";
        let d = decode(src, "sim.yaml", &dir(), &Limits::default()).unwrap();
        assert_eq!(d.cycles, Some(4));
        assert_eq!(d.cluster, Behaviour::default());
        let e = d.expect.unwrap();
        assert_eq!(e.ops[0].count, 1);
        assert_eq!(e.ops[0].verb, Some(Verb::Create));
        assert_eq!(e.absent[0].name.as_deref(), Some("x"));
    }
}
