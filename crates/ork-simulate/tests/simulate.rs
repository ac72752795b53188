//! `ork simulate` through its library: every example reaches a steady state without errors,
//! the pipeline's Job state machine ends Succeeded or Failed as its Jobs do, a spec edit
//! deletes a child the next cycle, deleteAt runs onDelete and removes the finalizer, and a
//! privileged template ends Ready=False with no child written.

use std::path::{Path, PathBuf};

use ork_limits::Limits;
use ork_policy::PreparedKatalog;
use ork_simulate::cluster::Key;
use ork_simulate::controllers::{Behaviour, Jobs};
use ork_simulate::{Settings, Simulation, Verb, expect, input, report};
use serde_json::{Value, json};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn settings(cycles: u32) -> Settings {
    Settings {
        cycles,
        seed: Some(7),
        now: chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timezone(&chrono::Utc),
        ..Settings::default()
    }
}

fn load(dir: &str, cr: &str) -> (PreparedKatalog, Vec<Value>) {
    let d = examples().join(dir);
    let k = input::katalog(&d.join("katalog.yaml"), &Limits::default())
        .unwrap_or_else(|e| panic!("{}", e.join("\n")));
    let crs = input::crs(&d.join(cr), &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    (k, crs)
}

fn phase(sim: &Simulation<'_>) -> String {
    sim.cr(0)
        .and_then(|v| v.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_example_has_a_simulate_yaml_that_passes_steady_and_without_errors() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("katalog.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 4, "{dirs:?}");
    for d in dirs {
        let file = d.join("simulate.yaml");
        let doc = input::simulate_file(&file, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {}", file.display(), e.join("\n")));
        let k = input::katalog(&doc.katalog, &Limits::default())
            .unwrap_or_else(|e| panic!("{}", e.join("\n")));
        let mut crs = Vec::new();
        for p in &doc.crs {
            crs.extend(input::crs(p, &Limits::default()).unwrap_or_else(|e| panic!("{e}")));
        }
        let s = Settings {
            cycles: doc.cycles.unwrap_or(ork_simulate::DEFAULT_CYCLES),
            delete_at: doc.delete_at,
            cluster: doc.cluster,
            ..settings(1)
        };
        let run = Simulation::new(&k, &crs, s, &Limits::default())
            .and_then(Simulation::run)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        let text = report::text(&run, None, false);
        assert!(
            run.steady_at().is_some(),
            "{}: not steady\n{text}",
            d.display()
        );
        assert!(run.no_errors(), "{}: an error\n{text}", d.display());
        let expect = doc
            .expect
            .unwrap_or_else(|| panic!("{}: no expect", d.display()));
        let a = expect::evaluate(&run, &expect);
        assert!(
            report::passed(&run, Some(&a)),
            "{}\n{}",
            d.display(),
            report::text(&run, Some(&a), true)
        );
    }
}

#[test]
fn the_pipeline_ends_succeeded_when_its_jobs_succeed_and_failed_when_they_fail() {
    let (k, crs) = load("pipeline", "cr.yaml");
    for (jobs, want) in [(Jobs::Succeed, "Succeeded"), (Jobs::Fail, "Failed")] {
        let s = Settings {
            cluster: Behaviour {
                jobs,
                ..Behaviour::default()
            },
            ..settings(8)
        };
        let mut sim =
            Simulation::new(&k, &crs, s, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..8 {
            sim.cycle().unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(phase(&sim), want, "jobs {jobs:?}");
        let run = sim.finish();
        assert!(
            run.steady_at().is_some(),
            "{}",
            report::text(&run, None, false)
        );
        let test_job = run
            .cycles
            .iter()
            .flat_map(|c| &c.ops)
            .any(|o| o.verb == Verb::Create && o.name == "build-and-test-test");
        // the test step runs only after a successful build
        assert_eq!(test_job, jobs == Jobs::Succeed);
    }
    // jobs that never finish keep the pipeline running
    let s = Settings {
        cluster: Behaviour {
            jobs: Jobs::Pending,
            ..Behaviour::default()
        },
        ..settings(5)
    };
    let mut sim =
        Simulation::new(&k, &crs, s, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..5 {
        sim.cycle().unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(phase(&sim), "Running/build");
}

#[test]
fn turning_expose_publicly_off_deletes_the_public_service_in_a_later_cycle() {
    let (k, mut crs) = load("website", "cr.yaml");
    crs[0]["spec"]["exposePublicly"] = json!(true);
    let mut sim = Simulation::new(&k, &crs, settings(6), &Limits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let first = sim.cycle().unwrap_or_else(|e| panic!("{e}")).clone();
    assert!(
        first
            .ops
            .iter()
            .any(|o| o.verb == Verb::Apply && o.name == "my-site-public" && o.changed),
        "{:?}",
        first.ops
    );
    sim.cycle().unwrap_or_else(|e| panic!("{e}"));
    sim.cycle().unwrap_or_else(|e| panic!("{e}"));
    let ns = crs[0]["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let public = Key {
        group: String::new(),
        resource: "services".into(),
        namespace: ns.into(),
        name: "my-site-public".into(),
    };
    assert!(sim.cluster.get(&public).is_some());
    // the user turns it off
    let mut edited = sim.cr(0).cloned().unwrap_or_else(|| panic!("the CR"));
    edited["spec"]["exposePublicly"] = json!(false);
    sim.update_cr(0, &edited).unwrap_or_else(|e| panic!("{e}"));
    let fourth = sim.cycle().unwrap_or_else(|e| panic!("{e}")).clone();
    assert!(
        fourth.ops.iter().any(|o| o.verb == Verb::Delete
            && o.resource == "services"
            && o.name == "my-site-public"),
        "{:?}",
        fourth.ops
    );
    assert!(sim.cluster.get(&public).is_none());
    let svc = Key {
        name: "my-site-svc".into(),
        ..public
    };
    assert!(sim.cluster.get(&svc).is_some(), "the other Service stays");
    let run = sim.run().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        run.steady_at(),
        Some(5),
        "{}",
        report::text(&run, None, true)
    );
}

#[test]
fn delete_at_runs_on_delete_jobs_then_removes_the_finalizer_and_the_children_go() {
    let (k, crs) = load("website", "cr.yaml");
    let s = Settings {
        delete_at: Some(3),
        ..settings(6)
    };
    let mut sim =
        Simulation::new(&k, &crs, s, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    sim.cycle().unwrap_or_else(|e| panic!("{e}"));
    sim.cycle().unwrap_or_else(|e| panic!("{e}"));
    assert!(sim.cluster.len() > 3, "the CR and its children");
    let third = sim.cycle().unwrap_or_else(|e| panic!("{e}")).clone();
    assert!(
        third
            .ops
            .iter()
            .any(|o| o.verb == Verb::Create && o.resource == "jobs" && o.name == "my-site-cleanup"),
        "{:?}",
        third.ops
    );
    let ready = third.crs[0]
        .ready
        .clone()
        .unwrap_or_else(|| panic!("Ready"));
    assert_eq!(ready.reason, "Deleting");
    assert!(!ready.is_error(), "a deletion in progress is not an error");
    assert!(
        !third.ops.iter().any(|o| o.resource == "finalizers"),
        "the finalizer stays while the cleanup runs"
    );
    let fourth = sim.cycle().unwrap_or_else(|e| panic!("{e}")).clone();
    assert!(
        fourth
            .ops
            .iter()
            .any(|o| o.verb == Verb::Patch && o.resource == "finalizers"),
        "{:?}",
        fourth.ops
    );
    assert!(sim.cr(0).is_none(), "the CR is gone");
    assert!(
        sim.cluster.is_empty(),
        "its children are garbage-collected: {:?}",
        sim.cluster
            .iter()
            .map(|(k, _)| k.show())
            .collect::<Vec<_>>()
    );
    let run = sim.run().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.steady_at(), Some(5));
    assert!(run.no_errors());
}

#[test]
fn a_failing_cleanup_job_keeps_the_finalizer_and_is_an_error() {
    let (k, crs) = load("website", "cr.yaml");
    let s = Settings {
        delete_at: Some(2),
        cluster: Behaviour {
            jobs: Jobs::Fail,
            ..Behaviour::default()
        },
        ..settings(4)
    };
    let mut sim =
        Simulation::new(&k, &crs, s, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..4 {
        sim.cycle().unwrap_or_else(|e| panic!("{e}"));
    }
    let cr = sim.cr(0).cloned().unwrap_or_else(|| panic!("the CR stays"));
    assert!(
        cr["metadata"]["finalizers"]
            .to_string()
            .contains("orkestra.orkspace.io/cleanup")
    );
    let run = sim.finish();
    let last = run.cycles.last().and_then(|c| c.crs[0].ready.clone());
    assert_eq!(last.map(|r| r.reason), Some("CleanupFailed".to_string()));
    assert!(!run.no_errors());
}

fn privileged_katalog() -> PreparedKatalog {
    let src = "apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: s}
spec:
  crds:
    app:
      apiTypes: {group: demo.example.io, version: v1, kind: App, plural: apps}
      operatorBox:
        onCreate:
          configMaps: [{name: \"{{ .metadata.name }}-c\"}]
          deployments: [{image: \"nginx:1.25\", securityContext: {privileged: true}}]
";
    let o = ork_katalog::load_str(src, "k.yaml", Path::new("."));
    let k = o.katalog.unwrap_or_else(|| panic!("{:?}", o.diagnostics));
    PreparedKatalog::new(&k).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_privileged_template_ends_ready_false_with_no_child() {
    let k = privileged_katalog();
    let cr = json!({"apiVersion": "demo.example.io/v1", "kind": "App",
        "metadata": {"name": "a", "namespace": "ns"}});
    let run = Simulation::new(&k, &[cr], settings(3), &Limits::default())
        .and_then(Simulation::run)
        .unwrap_or_else(|e| panic!("{e}"));
    for c in &run.cycles {
        let ready = c.crs[0].ready.clone().unwrap_or_else(|| panic!("Ready"));
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            ("False", "PodSecurityViolation")
        );
        assert!(
            ready.message.contains("privileged-container"),
            "{}",
            ready.message
        );
        assert!(
            c.ops
                .iter()
                .all(|o| ork_simulate::cycle::CR_PARTS.contains(&o.resource.as_str())),
            "no child is written, not even the harmless ConfigMap: {:?}",
            c.ops
        );
    }
    assert!(!run.no_errors());
    assert_eq!(run.steady_at(), Some(2));
    let text = report::text(&run, None, false);
    assert!(
        text.contains(
            "! a Ready=False PodSecurityViolation: onCreate.deployments[0]: privileged-container"
        ),
        "{text}"
    );
    assert!(!report::passed(&run, None), "print-only fails on an error");
}

#[test]
fn the_budgets_stop_a_run_with_an_error_naming_them() {
    let (k, crs) = load("website", "cr.yaml");
    let small = Limits {
        simulate_objects: 3,
        ..Limits::default()
    };
    let e = Simulation::new(&k, &crs, settings(2), &small)
        .and_then(Simulation::run)
        .err()
        .unwrap_or_else(|| panic!("within 3 objects"));
    assert!(e.to_string().contains("simulate.objects"), "{e}");
    assert!(e.to_string().contains("ORK_LIMIT_SIMULATE_OBJECTS"), "{e}");
    let few = Limits {
        simulate_cycles: 5,
        ..Limits::default()
    };
    let Err(e) = Simulation::new(&k, &crs, settings(6), &few) else {
        panic!("6 cycles within 5");
    };
    assert!(e.to_string().contains("simulate.cycles"), "{e}");
}

#[test]
fn a_cr_no_entry_serves_is_an_input_error() {
    let (k, _) = load("website", "cr.yaml");
    let stray = json!({"apiVersion": "x.io/v1", "kind": "Nope", "metadata": {"name": "n"}});
    let Err(e) = Simulation::new(&k, &[stray], settings(1), &Limits::default()) else {
        panic!("simulated a CR nothing serves");
    };
    assert!(e.to_string().contains("no enabled CRD entry"), "{e}");
}
