//! `ork simulate`'s output (docs/cli.md §5): the text report and the JSON document.

use serde_json::{Value, json};

use crate::cycle::{CR_PARTS, Op, Verb};
use crate::expect::Assertion;
use crate::{CycleLog, Ready, Run};

fn esc(s: &str) -> String {
    ork_io::escape_control(s).into_owned()
}

/// The text report. `all_ops` also shows the applies that changed nothing (`=`).
pub fn text(run: &Run, assertions: Option<&[Assertion]>, all_ops: bool) -> String {
    let mut out = String::new();
    let names: Vec<String> = run
        .cycles
        .first()
        .map(|c| {
            c.crs
                .iter()
                .map(|r| format!("{}/{}", r.crd, short(&r.cr)))
                .collect()
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "Simulating {} (cycles: {})\n",
        esc(&names.join(", ")),
        run.cycles.len()
    ));
    // one namespace for every CR: ops in it are shown without it
    let home = common_namespace(&run.crs);
    let mut i = 0;
    while i < run.cycles.len() {
        let c = &run.cycles[i];
        let lines = op_lines(c, all_ops, home.as_deref());
        let bangs = bang_lines(c);
        if lines.is_empty() {
            // quiet cycles with the same Ready lines print as one range
            let mut j = i;
            while j + 1 < run.cycles.len()
                && op_lines(&run.cycles[j + 1], all_ops, home.as_deref()).is_empty()
                && bang_lines(&run.cycles[j + 1]) == bangs
            {
                j += 1;
            }
            if j == i {
                out.push_str(&format!("Cycle {}: no changes\n", c.n));
            } else {
                out.push_str(&format!("Cycles {}–{}: no changes\n", c.n, run.cycles[j].n));
            }
            for b in &bangs {
                out.push_str(&format!("  {b}\n"));
            }
            i = j + 1;
            continue;
        }
        out.push_str(&format!("Cycle {}:\n", c.n));
        for l in lines.iter().chain(&bangs) {
            out.push_str(&format!("  {l}\n"));
        }
        i += 1;
    }
    let ms = run.elapsed.as_millis();
    match run.steady_at() {
        Some(n) => out.push_str(&format!("✓ Steady state at cycle {n} in {ms} ms\n")),
        None => out.push_str(&format!(
            "~ Max cycles reached ({}) without steady state\n",
            run.cycles.len()
        )),
    }
    if let Some(a) = assertions {
        for x in a {
            out.push_str(&format!(
                "{} {} — {}\n",
                if x.passed { "✓" } else { "✗" },
                x.rule,
                esc(&x.detail)
            ));
        }
        out.push_str(if passed(run, Some(a)) {
            "PASS\n"
        } else {
            "FAIL\n"
        });
    }
    out
}

/// Every assertion holds; print-only: no cycle ended in an error.
pub fn passed(run: &Run, assertions: Option<&[Assertion]>) -> bool {
    match assertions {
        Some(a) => a.iter().all(|x| x.passed),
        None => run.no_errors(),
    }
}

fn short(cr: &str) -> &str {
    cr.rsplit('/').next().unwrap_or(cr)
}

fn common_namespace(crs: &[String]) -> Option<String> {
    let mut nss = crs
        .iter()
        .map(|c| c.split_once('/').map(|(ns, _)| ns).unwrap_or(""));
    let first = nss.next()?;
    nss.all(|n| n == first).then(|| first.to_string())
}

/// The lines of a cycle's ops: `+` create, `~` a changing apply/update/patch, `-` delete, `=`
/// an apply that changed nothing (only with `all_ops`). The parts of the CR one request
/// changed share a line.
fn op_lines(c: &CycleLog, all_ops: bool, home: Option<&str>) -> Vec<String> {
    let shown: Vec<&Op> = c.ops.iter().filter(|o| o.changed || all_ops).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < shown.len() {
        let o = shown[i];
        if CR_PARTS.contains(&o.resource.as_str()) {
            let mut parts = vec![o.resource.as_str()];
            let mut j = i + 1;
            while j < shown.len() && shown[j].request == o.request {
                parts.push(shown[j].resource.as_str());
                j += 1;
            }
            let mark = if o.changed { "~" } else { "=" };
            out.push(format!(
                "{mark} {} {} ({})",
                esc(&o.name),
                parts.join(", "),
                o.verb.as_str()
            ));
            i = j;
            continue;
        }
        let target = match o.namespace.as_deref() {
            Some(ns) if Some(ns) != home => format!("{}/{ns}/{}", o.resource, o.name),
            _ => format!("{}/{}", o.resource, o.name),
        };
        let target = esc(&target);
        out.push(match (o.verb, o.changed) {
            (Verb::Create, _) => format!("+ {target}"),
            (Verb::Delete, _) => format!("- {target}"),
            (v, true) => format!("~ {target} ({})", v.as_str()),
            (v, false) => format!("= {target} ({})", v.as_str()),
        });
        i += 1;
    }
    out
}

/// `! my-site Ready=False PodSecurityViolation: …` for every CR whose cycle ended Ready=False.
fn bang_lines(c: &CycleLog) -> Vec<String> {
    c.crs
        .iter()
        .filter_map(|cr| {
            let r = cr.ready.as_ref().filter(|r| r.status == "False")?;
            let mut line = format!("! {} Ready=False {}", esc(short(&cr.cr)), r.reason);
            if !r.message.is_empty() {
                line.push_str(&format!(": {}", esc(&r.message)));
            }
            Some(line)
        })
        .collect()
}

/// The cycle's Ready: the first CR whose cycle ended Ready=False, else the first CR that
/// still exists; `null` when none does.
fn cycle_ready(c: &CycleLog) -> Option<&Ready> {
    c.crs
        .iter()
        .filter_map(|r| r.ready.as_ref())
        .find(|r| r.status == "False")
        .or_else(|| c.crs.iter().find_map(|r| r.ready.as_ref()))
}

/// The JSON document: `{"crd", "cr", "cycles": [{"n", "ops", "ready", "crs"}], "steadyAt",
/// "assertions", "passed"}`. With several CRs, `crd` and `cr` list them comma-separated and
/// each cycle's `crs` holds every CR's Ready.
pub fn json(run: &Run, assertions: Option<&[Assertion]>) -> Value {
    let cycles: Vec<Value> = run
        .cycles
        .iter()
        .map(|c| json!({"n": c.n, "ops": c.ops, "ready": cycle_ready(c), "crs": c.crs}))
        .collect();
    json!({
        "crd": run.crds.join(", "),
        "cr": run.crs.join(", "),
        "cycles": cycles,
        "steadyAt": run.steady_at(),
        "assertions": assertions.unwrap_or_default(),
        "passed": passed(run, assertions),
    })
}
