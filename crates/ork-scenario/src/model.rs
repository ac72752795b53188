//! The typed scenario (docs/e2e.md): what the runner executes and `ork simulate` replays.
//! Paths are resolved against the scenario's directory and known to exist.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Scenario {
    /// `metadata.name`: the JUnit test suite
    pub name: String,
    pub description: String,
    /// the E2E file
    pub file: PathBuf,
    /// its directory: relative paths and `commands` resolve here
    pub dir: PathBuf,
    pub katalog: PathBuf,
    pub crds: Vec<PathBuf>,
    pub crs: Vec<PathBuf>,
    pub setup: Vec<SetupFile>,
    /// waits after every setup file is applied
    pub setup_wait: Vec<Wait>,
    pub timeout: Duration,
    pub expect: Vec<Expectation>,
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone)]
pub struct SetupFile {
    pub path: PathBuf,
    pub wait: Vec<Wait>,
}

#[derive(Debug, Clone)]
pub struct Wait {
    pub target: ObjectRef,
    pub ready: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct OnFailure {
    pub commands: Vec<Command>,
    pub dump: Vec<ObjectRef>,
}

/// The phase an expectation runs after (docs/e2e.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    SetupComplete,
    CrApplied,
    CrDeleted,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::SetupComplete, Phase::CrApplied, Phase::CrDeleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::SetupComplete => "setup-complete",
            Phase::CrApplied => "cr-applied",
            Phase::CrDeleted => "cr-deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    pub after: Phase,
    pub timeout: Duration,
    pub wait: Option<Duration>,
    pub on_failure: OnFailure,
    pub steps: Vec<Step>,
    pub resources: Vec<ResourceCheck>,
    pub commands: Vec<Command>,
    /// line of the entry in its file, for reports
    pub line: u32,
}

/// A kind as written: `Kind` or `Kind.group`, optionally pinned by `apiVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRef {
    pub kind: String,
    pub group: Option<String>,
    pub api_version: Option<String>,
}

impl KindRef {
    pub fn parse(text: &str, api_version: Option<String>) -> KindRef {
        match text.split_once('.') {
            Some((kind, group)) => KindRef {
                kind: kind.to_string(),
                group: Some(group.to_string()),
                api_version,
            },
            None => KindRef {
                kind: text.to_string(),
                group: api_version
                    .as_deref()
                    .map(|v| v.rsplit_once('/').map(|(g, _)| g).unwrap_or("").to_string()),
                api_version,
            },
        }
    }
}

impl std::fmt::Display for KindRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind)
    }
}

/// One object; `namespace` None means the scenario namespace (ignored for cluster-scoped
/// kinds), `name` None only where a selector is allowed.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    pub kind: KindRef,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allowed,
    Denied,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

/// What every request step carries (`expect`, `messageContains`, `as`, `dryRun`).
#[derive(Debug, Clone)]
pub struct RequestOpts {
    pub expect: Verdict,
    pub message_contains: Option<String>,
    pub identity: Option<Identity>,
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub enum PatchBody {
    Merge(Value),
    Json(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Runtime,
    Gateway,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Runtime => "runtime",
            Component::Gateway => "gateway",
        }
    }
}

/// One step: exactly one action (docs/e2e.md §2.1).
#[derive(Debug, Clone)]
pub enum Action {
    /// every document of the file, server-side applied
    Apply {
        file: PathBuf,
        opts: RequestOpts,
    },
    Delete {
        target: ObjectRef,
        opts: RequestOpts,
    },
    Patch {
        target: ObjectRef,
        subresource: Option<String>,
        body: PatchBody,
        opts: RequestOpts,
    },
    Exec {
        pod: String,
        namespace: Option<String>,
        container: Option<String>,
        command: Vec<String>,
        /// `exec` or `attach`
        subresource: String,
        opts: RequestOpts,
    },
    CanI {
        verb: String,
        resource: String,
        group: String,
        subresource: Option<String>,
        namespace: Option<String>,
        name: Option<String>,
        identity: Option<Identity>,
        expect: bool,
    },
    Assert {
        target: ObjectRef,
        /// (path as written, expected value)
        fields: Vec<(String, Value)>,
        absent: bool,
    },
    Scale {
        component: Component,
        replicas: u32,
    },
    Audit {
        webhook: Option<String>,
        decision: Option<String>,
        operation: Option<String>,
        kind: Option<String>,
        namespace: Option<String>,
        name: Option<String>,
        count: Option<u64>,
    },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub line: u32,
}

impl Step {
    /// The request options of a step that has an allowed/denied outcome.
    pub fn request(&self) -> Option<&RequestOpts> {
        match &self.action {
            Action::Apply { opts, .. }
            | Action::Delete { opts, .. }
            | Action::Patch { opts, .. }
            | Action::Exec { opts, .. } => Some(opts),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResourceCheck {
    pub kind: KindRef,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub count: Option<u64>,
    pub ready: bool,
}

/// An output assertion of a command (docs/e2e.md §2).
#[derive(Debug, Clone, PartialEq)]
pub enum OutputCheck {
    Equals(String),
    NotEquals(String),
    Contains(String),
    NotContains(String),
    Regex(String),
    GreaterThan(f64),
    LessThan(f64),
    GreaterThanOrEqual(f64),
    LessThanOrEqual(f64),
    Between(f64, f64),
    NotBetween(f64, f64),
    Exists,
    NotExists,
    OneOf(Vec<String>),
    NotOneOf(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Command {
    pub command: String,
    pub exit_code: i64,
    pub checks: Vec<OutputCheck>,
}

impl Command {
    /// Why `output` (joined stdout and stderr, trimmed) with `code` fails, or None.
    pub fn failure(&self, code: i64, output: &str) -> Option<String> {
        if code != self.exit_code {
            return Some(format!("exit code {code}, expected {}", self.exit_code));
        }
        let num = output.trim().parse::<f64>().ok().filter(|n| n.is_finite());
        for c in &self.checks {
            let ok = match c {
                OutputCheck::Equals(v) => output == v,
                OutputCheck::NotEquals(v) => output != v,
                OutputCheck::Contains(v) => output.contains(v.as_str()),
                OutputCheck::NotContains(v) => !output.contains(v.as_str()),
                // compiled at load time, so a bad pattern never reaches here; if it did, it fails
                OutputCheck::Regex(p) => regex::Regex::new(p).is_ok_and(|r| r.is_match(output)),
                OutputCheck::GreaterThan(n) => num.is_some_and(|a| a > *n),
                OutputCheck::LessThan(n) => num.is_some_and(|a| a < *n),
                OutputCheck::GreaterThanOrEqual(n) => num.is_some_and(|a| a >= *n),
                OutputCheck::LessThanOrEqual(n) => num.is_some_and(|a| a <= *n),
                OutputCheck::Between(lo, hi) => num.is_some_and(|a| a >= *lo && a <= *hi),
                OutputCheck::NotBetween(lo, hi) => num.is_some_and(|a| !(a >= *lo && a <= *hi)),
                OutputCheck::Exists => !output.is_empty(),
                OutputCheck::NotExists => output.is_empty(),
                OutputCheck::OneOf(v) => v.iter().any(|x| x == output),
                OutputCheck::NotOneOf(v) => !v.iter().any(|x| x == output),
            };
            if !ok {
                return Some(format!("{c:?} does not hold for output {output:?}"));
            }
        }
        None
    }
}
