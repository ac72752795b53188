//! The assertions of a Simulate document (`spec.expect`, docs/cli.md §5) over a finished run.

use serde::Serialize;

use crate::Run;
use crate::cycle::Op;
use crate::doc::{Expect, OpRule};

/// One assertion's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assertion {
    pub rule: String,
    pub passed: bool,
    pub detail: String,
}

/// Every assertion of `e`, in document order: steady, steadyAt, noErrors, ops, absent.
pub fn evaluate(run: &Run, e: &Expect) -> Vec<Assertion> {
    let mut out = Vec::new();
    let steady_at = run.steady_at();
    let steady_detail = match steady_at {
        Some(n) => format!("steady at cycle {n}"),
        None => format!("not steady after {} cycles", run.cycles.len()),
    };
    if let Some(want) = e.steady {
        out.push(Assertion {
            rule: format!("steady: {want}"),
            passed: steady_at.is_some() == want,
            detail: steady_detail.clone(),
        });
    }
    if let Some(at) = e.steady_at {
        out.push(Assertion {
            rule: format!("steadyAt: {at}"),
            passed: steady_at.is_some_and(|n| n <= at),
            detail: steady_detail,
        });
    }
    if let Some(want) = e.no_errors {
        let first = run
            .cycles
            .iter()
            .find_map(|c| c.error().map(|cr| (c.n, cr)));
        let detail = match first {
            None => "no cycle ended Ready=False".to_string(),
            Some((n, cr)) => {
                let r = cr.ready.as_ref();
                format!(
                    "cycle {n}: {} Ready=False {}: {}",
                    cr.cr,
                    r.map(|r| r.reason.as_str()).unwrap_or_default(),
                    r.map(|r| r.message.as_str()).unwrap_or_default()
                )
            }
        };
        out.push(Assertion {
            rule: format!("noErrors: {want}"),
            passed: first.is_none() == want,
            detail,
        });
    }
    let ops: Vec<&Op> = run.cycles.iter().flat_map(|c| &c.ops).collect();
    for (i, r) in e.ops.iter().enumerate() {
        let n = ops.iter().filter(|o| matches(r, o)).count();
        out.push(Assertion {
            rule: format!("ops[{i}]: {}", describe(r, true)),
            passed: n >= r.count as usize,
            detail: format!("{n} matching op(s), at least {} wanted", r.count),
        });
    }
    for (i, r) in e.absent.iter().enumerate() {
        let hit = ops.iter().find(|o| matches(r, o));
        out.push(Assertion {
            rule: format!("absent[{i}]: {}", describe(r, false)),
            passed: hit.is_none(),
            detail: match hit {
                None => "no op matched".to_string(),
                Some(o) => format!("matched: {}", show_op(o)),
            },
        });
    }
    out
}

/// True when every field the rule gives equals the op's.
pub fn matches(r: &OpRule, o: &Op) -> bool {
    r.cycle.is_none_or(|c| c == o.cycle)
        && r.verb.is_none_or(|v| v == o.verb)
        && r.resource.as_deref().is_none_or(|x| x == o.resource)
        && r.namespace
            .as_deref()
            .is_none_or(|x| x == o.namespace.as_deref().unwrap_or(""))
        && r.name.as_deref().is_none_or(|x| x == o.name)
        && r.changed.is_none_or(|c| c == o.changed)
}

/// `{cycle: 1, verb: create, resource: services, name: web}`
pub fn describe(r: &OpRule, with_count: bool) -> String {
    let mut parts = Vec::new();
    if let Some(c) = r.cycle {
        parts.push(format!("cycle: {c}"));
    }
    if let Some(v) = r.verb {
        parts.push(format!("verb: {}", v.as_str()));
    }
    for (k, v) in [
        ("resource", &r.resource),
        ("namespace", &r.namespace),
        ("name", &r.name),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}: {}", ork_io::escape_control(v)));
        }
    }
    if let Some(c) = r.changed {
        parts.push(format!("changed: {c}"));
    }
    if with_count && r.count != 1 {
        parts.push(format!("count: {}", r.count));
    }
    format!("{{{}}}", parts.join(", "))
}

/// `cycle 1: create services default/web`
pub fn show_op(o: &Op) -> String {
    let who = match &o.namespace {
        Some(ns) => format!("{ns}/{}", o.name),
        None => o.name.clone(),
    };
    format!(
        "cycle {}: {} {} {}",
        o.cycle,
        o.verb.as_str(),
        o.resource,
        ork_io::escape_control(&who)
    )
}
