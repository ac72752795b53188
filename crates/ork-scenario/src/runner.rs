//! What the runner makes of a scenario besides its steps, in one place for both players of a
//! scenario: `ork e2e` against a cluster and `ork simulate` in memory. Two copies of a name or
//! of the decommission path drift, and the simulation then predicts a run that never happens.

use std::path::{Path, PathBuf};

use ork_limits::Limits;
use serde_json::{Value, json};

/// The scenario's own namespace (docs/e2e.md §3): `e2e-<name>`, cut to a DNS label.
pub fn namespace_for(name: &str) -> String {
    let mut n = format!("e2e-{name}");
    n.truncate(63);
    n.trim_end_matches('-').to_string()
}

/// The Katalog the runner decommissions with before it deletes the CRs.
#[derive(Debug, Clone, PartialEq)]
pub struct Decommission {
    /// the scenario's Katalog, as its diagnostics name it
    pub name: String,
    /// the directory of the scenario's Katalog, absolute
    pub dir: PathBuf,
    /// the decommission Katalog as YAML; its file references are absolute, so it loads from
    /// wherever it is written
    pub text: String,
}

/// The decommission Katalog (docs/security.md §2.4): the scenario's Katalog with deletion
/// protection and strict mode off and no CRD or CR protected, its `crdFile` and `crFiles`
/// made absolute. The error names the file.
pub fn decommission(katalog: &Path, limits: &Limits) -> Result<Decommission, String> {
    let (input, docs) = crate::load::read_documents(katalog, limits)?;
    let parent = match katalog.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir =
        std::fs::canonicalize(parent).map_err(|e| format!("{}: its directory: {e}", input.name))?;
    let mut text = String::new();
    for d in docs.iter().filter(|d| !d.is_null()) {
        let mut v = d.to_json();
        if v["kind"] == "Katalog" {
            decommissioned(&mut v, &dir);
        }
        text.push_str(&ork_yaml::to_yaml_document(&v));
    }
    Ok(Decommission {
        name: input.name,
        dir,
        text,
    })
}

fn decommissioned(v: &mut Value, dir: &Path) {
    v["security"]["deletionProtection"]["enabled"] = json!(false);
    if let Some(m) = v["security"]["deletionProtection"].as_object_mut() {
        m.remove("strictMode");
    }
    let Some(crds) = v.pointer_mut("/spec/crds").and_then(Value::as_object_mut) else {
        return;
    };
    let absolute = |f: &str| json!(dir.join(f).display().to_string());
    for entry in crds.values_mut() {
        if let Some(f) = entry.get("crdFile").and_then(Value::as_str) {
            entry["crdFile"] = absolute(f);
        }
        if let Some(list) = entry.get_mut("crFiles").and_then(Value::as_array_mut) {
            for f in list.iter_mut() {
                if let Some(s) = f.as_str() {
                    *f = absolute(s);
                }
            }
        }
        if let Some(dp) = entry
            .pointer_mut("/operatorBox/runtime/deletionProtection")
            .and_then(Value::as_object_mut)
        {
            dp.insert("protectCRD".into(), json!(false));
            dp.insert("protectCRs".into(), json!(false));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_is_a_dns_label() {
        assert_eq!(namespace_for("demo"), "e2e-demo");
        let long = namespace_for(&format!("{}-{}", "a".repeat(58), "b".repeat(10)));
        assert_eq!(long, format!("e2e-{}", "a".repeat(58)));
        assert!(long.len() <= 63);
    }

    #[test]
    fn the_decommission_katalog_protects_nothing_and_loads_from_anywhere() {
        let tmp = tempfile::tempdir().unwrap();
        let katalog = tmp.path().join("katalog.yaml");
        std::fs::write(
            &katalog,
            "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: k}\n\
             security:\n  deletionProtection: {enabled: true, strictMode: {enabled: true}}\n\
             spec:\n  crds:\n    app:\n      crdFile: ./crd.yaml\n      crFiles: [./cr.yaml]\n\
             \x20     operatorBox: {runtime: {deletionProtection: {protectCRD: true, protectCRs: true}}}\n---\n",
        )
        .unwrap();
        let d = decommission(&katalog, &Limits::default()).unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        assert_eq!(d.dir, dir);
        let docs = ork_yaml::parse_stream_with(&d.text, &Limits::default()).unwrap();
        assert_eq!(docs.len(), 1, "the empty document is dropped");
        let v = docs[0].to_json();
        assert_eq!(
            v["security"]["deletionProtection"],
            json!({"enabled": false})
        );
        let app = &v["spec"]["crds"]["app"];
        assert_eq!(
            app["crdFile"],
            json!(dir.join("./crd.yaml").display().to_string())
        );
        assert_eq!(
            app["crFiles"],
            json!([dir.join("./cr.yaml").display().to_string()])
        );
        assert_eq!(
            app["operatorBox"]["runtime"]["deletionProtection"],
            json!({"protectCRD": false, "protectCRs": false})
        );
        let missing = decommission(&tmp.path().join("nope.yaml"), &Limits::default());
        assert!(missing.unwrap_err().contains("nope.yaml"));
    }
}
