//! The E2E document's keys (docs/e2e.md §1–§2): one table drives the strict decoder, so an
//! unknown key, a wrong type or an Orkestra key ork does not run is an error at file:line.

use ork_katalog::schema::{Coerce, Field, Ty, f, later, req};

const S: Ty = Ty::Str(Coerce::None);
const EXPECT: Ty = Ty::Str(Coerce::Enum(&["allowed", "denied"]));
const PHASE: Ty = Ty::Str(Coerce::Enum(&[
    "setup-complete",
    "cr-applied",
    "cr-deleted",
]));
const DURATION: Ty = Ty::Str(Coerce::Duration);

pub static E2E: &[Field] = &[
    req("apiVersion", S, "orkestra.orkspace.io/v1"),
    req("kind", S, "E2E"),
    req(
        "metadata",
        Ty::Obj(METADATA),
        "name (the JUnit test suite), description",
    ),
    f(
        "imports",
        Ty::Any,
        "",
        "scenarios run first, in order: a path or {path}",
    ),
    f(
        "spec",
        Ty::Obj(SPEC),
        "",
        "the scenario; absent in a pure suite",
    ),
];

static METADATA: &[Field] = &[
    req("name", S, "scenario name"),
    f("description", S, "", "free text"),
];

static SPEC: &[Field] = &[
    req("katalog", S, "the Katalog, relative to this file"),
    f("crd", S, "", "one CRD file"),
    f("crds", Ty::StrList, "", "CRD files"),
    f("crdFiles", Ty::StrList, "", "alias of crds"),
    f("cr", S, "", "one CR file"),
    f("crs", Ty::StrList, "", "CR files"),
    f("crFiles", Ty::StrList, "", "alias of crs"),
    f(
        "setup",
        Ty::Any,
        "",
        "[files] or {apply: [path | {path, wait}], wait: [...]}",
    ),
    f("timeout", DURATION, "10m", "the whole scenario"),
    f("expect", Ty::List(&Ty::Obj(EXPECTATION)), "", "the checks"),
    f(
        "onFailure",
        Ty::Obj(ON_FAILURE),
        "",
        "run once if anything failed",
    ),
    later("cluster"),
    later("valuesFiles"),
    later("custom"),
    later("notes"),
    later("freshCluster"),
];

pub static WAIT: &[Field] = &[
    req("kind", S, "Kind or Kind.group"),
    req("name", S, "object name"),
    f("namespace", S, "", "the scenario namespace if omitted"),
    f(
        "ready",
        Ty::Bool,
        "true",
        "wait for readiness, not just existence",
    ),
    f("timeout", DURATION, "60s", "how long"),
];

pub static SETUP: &[Field] = &[
    f("apply", Ty::Any, "", "files in order: path or {path, wait}"),
    f(
        "wait",
        Ty::List(&Ty::Obj(WAIT)),
        "",
        "waits after all files",
    ),
    later("helm"),
];

pub static SETUP_FILE: &[Field] = &[
    req("path", S, "a file of objects"),
    f(
        "wait",
        Ty::List(&Ty::Obj(WAIT)),
        "",
        "waits after this file",
    ),
];

static ON_FAILURE: &[Field] = &[
    f(
        "commands",
        Ty::List(&Ty::Obj(COMMAND)),
        "",
        "diagnostics to run",
    ),
    f(
        "dump",
        Ty::List(&Ty::Obj(OBJECT_REF)),
        "",
        "objects to print with their events",
    ),
];

static EXPECTATION: &[Field] = &[
    req("name", S, "unique; the JUnit test case"),
    f("after", PHASE, "setup-complete", "the phase it runs after"),
    f("timeout", DURATION, "60s", "the whole entry"),
    f("wait", DURATION, "", "pause before the first attempt"),
    f("onFailure", Ty::Obj(ON_FAILURE), "", "diagnostics"),
    f(
        "steps",
        Ty::List(&Ty::Obj(STEP)),
        "",
        "native steps, in order",
    ),
    f(
        "resources",
        Ty::List(&Ty::Obj(RESOURCE)),
        "",
        "object checks, polled",
    ),
    f(
        "commands",
        Ty::List(&Ty::Obj(COMMAND)),
        "",
        "sh -c checks, polled",
    ),
    later("kubectl"),
    later("when"),
    later("or"),
];

static RESOURCE: &[Field] = &[
    req("kind", S, "Kind or Kind.group"),
    f("apiVersion", S, "", "when the kind is ambiguous"),
    f("namespace", S, "", "the scenario namespace if omitted"),
    f("name", S, "", "one object"),
    f("labels", Ty::StrMap, "", "or a label selector"),
    f(
        "count",
        Ty::Int,
        "",
        "exactly N (0 = gone); omitted = at least one",
    ),
    f("ready", Ty::Bool, "false", "readiness (docs/e2e.md §2)"),
];

pub static COMMAND: &[Field] = &[
    req("command", S, "run with sh -c in the scenario directory"),
    f("exitCode", Ty::Int, "0", "expected exit code"),
    f("equals", S, "", "output equals"),
    f("notEquals", S, "", "output differs"),
    f("outputContains", S, "", "substring"),
    f("outputNotContains", S, "", "absent substring"),
    f("regex", S, "", "output matches"),
    f("greaterThan", S, "", "numeric output"),
    f("lessThan", S, "", "numeric output"),
    f("greaterThanOrEqual", S, "", "numeric output"),
    f("lessThanOrEqual", S, "", "numeric output"),
    f("between", S, "", "lo,hi"),
    f("notBetween", S, "", "lo,hi"),
    f("exists", Ty::Bool, "", "non-empty output"),
    f("notExists", Ty::Bool, "", "empty output"),
    f("oneOf", Ty::StrList, "", "output is one of"),
    f("notOneOf", Ty::StrList, "", "output is none of"),
];

static IDENTITY: &[Field] = &[
    req("user", S, "impersonated user"),
    f("groups", Ty::StrList, "", "impersonated groups"),
];

static OBJECT_REF: &[Field] = &[
    req("kind", S, "Kind or Kind.group"),
    f("apiVersion", S, "", "when the kind is ambiguous"),
    f("name", S, "", "object name"),
    f("namespace", S, "", "the scenario namespace if omitted"),
];

static PATCH: &[Field] = &[
    req("kind", S, "Kind or Kind.group"),
    f("apiVersion", S, "", "when the kind is ambiguous"),
    req("name", S, "object name"),
    f("namespace", S, "", "the scenario namespace if omitted"),
    f("subresource", S, "", "status, scale, ephemeralcontainers…"),
    f("merge", Ty::Any, "", "a JSON merge patch"),
    f("json", Ty::Any, "", "JSON patch operations"),
];

static EXEC: &[Field] = &[
    req("pod", S, "pod name"),
    f("namespace", S, "", "the scenario namespace if omitted"),
    f("container", S, "", "container name"),
    f("command", Ty::StrList, "", "the command"),
    f(
        "subresource",
        Ty::Str(Coerce::Enum(&["exec", "attach"])),
        "exec",
        "exec or attach",
    ),
];

static CAN_I: &[Field] = &[
    req("verb", S, "get, create, delete…"),
    req("resource", S, "resource[.group][/subresource]"),
    f("namespace", S, "", "cluster-wide if omitted"),
    f("name", S, "", "one object"),
    f(
        "as",
        Ty::Obj(IDENTITY),
        "",
        "whose access; the runner's own if omitted",
    ),
    req("expect", Ty::Str(Coerce::Enum(&["yes", "no"])), "yes or no"),
];

static ASSERT: &[Field] = &[
    req("kind", S, "Kind or Kind.group"),
    f("apiVersion", S, "", "when the kind is ambiguous"),
    req("name", S, "object name"),
    f("namespace", S, "", "the scenario namespace if omitted"),
    f("fields", Ty::Any, "", "PATH: expected value"),
    f("absent", Ty::Bool, "false", "the object does not exist"),
];

static SCALE: &[Field] = &[
    req(
        "component",
        Ty::Str(Coerce::Enum(&["runtime", "gateway"])),
        "runtime or gateway",
    ),
    req("replicas", Ty::Int, "0 stops it, 1 starts it"),
];

static AUDIT: &[Field] = &[
    f("webhook", S, "", "e.g. deletion-protection"),
    f(
        "decision",
        Ty::Str(Coerce::Enum(&["allow", "deny"])),
        "",
        "allow or deny",
    ),
    f("operation", S, "", "CREATE, UPDATE, DELETE, CONNECT"),
    f("kind", S, "", "Kind (or group/version/Kind)"),
    f("namespace", S, "", "object namespace"),
    f("name", S, "", "object name"),
    f(
        "count",
        Ty::Int,
        "",
        "exactly N lines; omitted = at least one",
    ),
];

/// The action keys of a step: exactly one per step.
pub const ACTIONS: &[&str] = &[
    "apply", "delete", "patch", "exec", "canI", "assert", "scale", "audit",
];

static STEP: &[Field] = &[
    f("apply", S, "", "a file: every document, server-side apply"),
    f("delete", Ty::Obj(OBJECT_REF), "", "one object"),
    f("patch", Ty::Obj(PATCH), "", "merge or JSON patch"),
    f("exec", Ty::Obj(EXEC), "", "exec or attach into a pod"),
    f("canI", Ty::Obj(CAN_I), "", "a SubjectAccessReview"),
    f("assert", Ty::Obj(ASSERT), "", "object state"),
    f(
        "scale",
        Ty::Obj(SCALE),
        "",
        "stop or start ork's components",
    ),
    f(
        "audit",
        Ty::Obj(AUDIT),
        "",
        "Gateway audit lines since the entry began",
    ),
    f("expect", EXPECT, "allowed", "allowed or denied"),
    f(
        "messageContains",
        S,
        "",
        "substring of the API status message",
    ),
    f("as", Ty::Obj(IDENTITY), "", "impersonation"),
    f("dryRun", Ty::Bool, "false", "sent as dryRun=All"),
];
