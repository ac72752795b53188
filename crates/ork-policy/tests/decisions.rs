//! The decision corpus through `decide` (tests/fixtures/decisions/, format in
//! tests/support/decisions.rs). `ork gate check` replays the same corpus in ork-cli's tests.

#[path = "../../../tests/support/decisions.rs"]
mod decisions;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use decisions::{Case, Observed};
use ork_katalog::Operation;
use ork_policy::conditions::{Peers, lookup};
use ork_policy::{Point, PreparedKatalog, Request, User, decide};
use serde_json::Value;

/// `unique`'s cluster state: the case's peer objects.
struct PeerList<'a>(&'a [Value]);

impl Peers for PeerList<'_> {
    fn values(&self, namespace: &str, name: &str, path: &[String]) -> Vec<String> {
        self.0
            .iter()
            .filter(|o| {
                o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace)
                    && o.pointer("/metadata/name").and_then(Value::as_str) != Some(name)
            })
            .filter_map(|o| lookup(o, path))
            .map(|v| ork_template::value::text(&Some(v.clone())))
            .collect()
    }
}

fn prepared<'a>(
    cache: &'a mut HashMap<PathBuf, PreparedKatalog>,
    path: &Path,
) -> &'a PreparedKatalog {
    cache.entry(path.to_path_buf()).or_insert_with(|| {
        let outcome = ork_katalog::load_file(path);
        let Some(k) = outcome.katalog else {
            panic!("{}: {:?}", path.display(), outcome.diagnostics)
        };
        PreparedKatalog::new(&k).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The case through `decide`, evaluation errors mapped by the layer's failurePolicy.
pub fn observe(k: &PreparedKatalog, case: &Case) -> Observed {
    let subject = case.subject().cloned().unwrap_or(Value::Null);
    let api = subject
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = subject
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resource = case
        .resource
        .clone()
        .or_else(|| k.resource_of(group, kind))
        .unwrap_or_default();
    let operation: Operation = case
        .operation
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let point = match case.point.as_str() {
        "reconcile" => Point::Reconcile,
        _ => Point::Admission,
    };
    let mut req = Request::for_object(point, operation, &subject, &resource);
    req.object = case.object.as_ref();
    req.old_object = case.old_object.as_ref();
    req.subresource = case.subresource.clone();
    req.user = User {
        name: case.user.clone(),
        groups: case.groups_with_authenticated(),
    };
    req.namespace_labels = case.namespace_labels.iter().cloned().collect();
    let peers = case.peers.as_deref().map(PeerList);
    req.peers = peers.as_ref().map(|p| p as &dyn Peers);
    let verdict = decide(k, &req);
    let error = !verdict.errors.is_empty();
    Observed {
        decision: verdict.decision().as_str().to_string(),
        codes: verdict.denials.iter().map(|d| d.code.to_string()).collect(),
        message: verdict.message(),
        warnings: verdict.warnings.clone(),
        patch: serde_json::to_value(&verdict.patch).unwrap_or(Value::Null),
        error,
        code: verdict.code(),
        skipped: verdict
            .skipped
            .iter()
            .map(|s| s.layer.as_str().to_string())
            .collect(),
    }
}

#[test]
fn the_corpus_through_decide() {
    let cases = decisions::load();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut cache = HashMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let k = prepared(&mut cache, &case.katalog);
        if let Err(e) = decisions::judge(case, &observe(k, case)) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
