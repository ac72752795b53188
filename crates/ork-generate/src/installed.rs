//! The Katalog as a bundle installs it (docs/cli.md §6): the text of ConfigMap
//! `orkestra-katalog`, and that text loaded back the way the components in the cluster load it.
//!
//! Everything else in a bundle is derived from the *installed* Katalog, not from the file on
//! disk: the runtime and the Gateway read only the ConfigMap and their environment, so what ork
//! generates and what they compute agree by construction.
//!
//! - `crdFile` and `crFiles` name files the pods do not have: each `crdFile` is replaced by the
//!   `apiTypes` and `namespaced` read from it, and `crFiles` are dropped (only the developer `ork
//!   run` applies them).
//! - The pods' environment holds `ORK_NAMESPACE` and nothing else that the security resolver
//!   reads, so the installed Katalog's settings are resolved from the Katalog, `ORK_NAMESPACE`
//!   and the defaults; a setting that comes from this shell's environment is reported and left
//!   out.

use std::path::Path;

use ork_katalog::Katalog;
use ork_katalog::posture::{Resolved, Source};
use ork_limits::Limits;
use ork_policy::PreparedKatalog;
use serde_json::{Value, json};

use crate::Error;

/// The ConfigMap the components read their Katalog from, and its key.
pub const KATALOG_CONFIGMAP: &str = "orkestra-katalog";
pub const KATALOG_KEY: &str = "katalog.yaml";
/// Where the components mount it.
pub const KATALOG_DIR: &str = "/etc/orkestra";

/// The file name diagnostics about the installed Katalog carry.
const INSTALLED_FILE: &str = "orkestra-katalog/katalog.yaml";

/// The installed Katalog.
#[derive(Debug)]
pub struct Installed {
    /// the Katalog document as installed (`crdFile`/`crFiles` replaced)
    pub document: Value,
    /// its text: the ConfigMap's `katalog.yaml`
    pub text: String,
    /// the text loaded back, its settings resolved as in the pods
    pub katalog: Katalog,
    pub prepared: PreparedKatalog,
    /// settings of this environment the pods will not see
    pub warnings: Vec<String>,
}

/// The Katalog document with every `crdFile` replaced by what it declares and `crFiles`
/// dropped; `standalone` adds `gateway.standalone: true` (gateway-only mode).
pub fn document(k: &Katalog, standalone: bool) -> Result<Value, Error> {
    let Some(mut doc) = k.spans.root().map(ork_yaml::Node::to_json) else {
        return Err(Error::one(format!("{}: no Katalog document", k.file)));
    };
    let mut problems = Vec::new();
    for crd in &k.crds {
        let Some(entry) = doc
            .pointer_mut(&format!("/spec/crds/{}", crd.name))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if entry.remove("crdFile").is_some() {
            // apiTypes cannot say "no status subresource": the installed runtime would patch a
            // status the API server does not serve
            if crd.api.status_subresource == Some(false) {
                let span = k.spans.value(&format!("{}.crdFile", crd.path));
                problems.push(format!(
                    "{}:{}:{}: error: the crdFile of {} has no status subresource on its storage version, which the installed Katalog cannot express (apiTypes): add `subresources: {{status: {{}}}}` to the CRD",
                    k.file, span.line, span.col, crd.path
                ));
            }
            entry.insert(
                "apiTypes".into(),
                json!({
                    "group": crd.api.group, "version": crd.api.version,
                    "kind": crd.api.kind, "plural": crd.api.plural,
                }),
            );
            entry.insert("namespaced".into(), Value::Bool(crd.api.namespaced));
        }
        entry.remove("crFiles");
    }
    if !problems.is_empty() {
        return Err(Error(problems));
    }
    if standalone {
        match doc.as_object_mut() {
            Some(m) => {
                let gw = m.entry("gateway").or_insert_with(|| json!({}));
                match gw.as_object_mut() {
                    Some(g) => {
                        g.insert("standalone".into(), Value::Bool(true));
                    }
                    None => *gw = json!({"standalone": true}),
                }
            }
            None => return Err(Error::one(format!("{}: not a map", k.file))),
        }
    }
    Ok(doc)
}

/// Installs `k` in `namespace`: the ConfigMap text, loaded back and prepared as the pods will.
pub fn install(
    k: &Katalog,
    namespace: &str,
    standalone: bool,
    limits: &Limits,
) -> Result<Installed, Error> {
    let doc = document(k, standalone)?;
    let text = ork_yaml::to_yaml_string(&doc);
    let (installed, warnings) = load_pinned(&text, namespace, limits)?;
    let prepared = PreparedKatalog::with_limits(&installed, *limits)
        .map_err(|e| Error::one(format!("{INSTALLED_FILE}: {e}")))?;
    Ok(Installed {
        document: doc,
        text,
        katalog: installed,
        prepared,
        warnings,
    })
}

/// Loads the text of an installed Katalog (this bundle's, or an older one's in `ork plan`) as
/// the pods in `namespace` do; with the warnings of [`pin_settings`].
pub fn load_pinned(
    text: &str,
    namespace: &str,
    limits: &Limits,
) -> Result<(Katalog, Vec<String>), Error> {
    let mut k = load(text, limits)?;
    let warnings = pin_settings(&mut k, namespace)?;
    Ok((k, warnings))
}

fn load(text: &str, limits: &Limits) -> Result<Katalog, Error> {
    // no relative path is left to resolve: the directory is never read
    let outcome = ork_katalog::load_str_with(text, INSTALLED_FILE, Path::new("/"), limits);
    match outcome.katalog {
        Some(k) => Ok(k),
        None => {
            let mut msgs: Vec<String> = outcome
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            msgs.push(format!(
                "{INSTALLED_FILE}: the Katalog as installed (crdFile and crFiles replaced) does not load"
            ));
            Err(Error(msgs))
        }
    }
}

/// Resolves the settings from the Katalog, `ORK_NAMESPACE` = `namespace` and the defaults, as
/// the pods do; returns a warning for each setting this environment changed.
fn pin_settings(k: &mut Katalog, namespace: &str) -> Result<Vec<String>, Error> {
    let here = k.posture.clone();
    let ns = namespace.to_string();
    let pods_env = move |name: &str| (name == "ORK_NAMESPACE").then(|| ns.clone());
    let pinned: Resolved = ork_katalog::posture::resolve(k, &pods_env).map_err(|errors| {
        Error(
            errors
                .into_iter()
                .map(|e| format!("{INSTALLED_FILE}: error: {} at {}", e.message, e.path))
                .collect(),
        )
    })?;
    let mut warnings = Vec::new();
    if let Some(here) = &here {
        for s in here
            .settings
            .iter()
            .filter(|s| s.source == Source::Env && s.key != "ORK_NAMESPACE")
        {
            let installed = pinned
                .settings
                .iter()
                .find(|p| p.key == s.key)
                .map(|p| p.value.as_str())
                .unwrap_or_default();
            warnings.push(format!(
                "{} is {} in this environment, but the bundle's components read only the Katalog: they use {installed}; write it into the Katalog to keep it",
                s.key, s.value
            ));
        }
        if here.gateway != pinned.gateway {
            return Err(Error::one(format!(
                "{}: the Katalog runs a Gateway only because ORK_GATEWAY_ENDPOINT is set here; the bundle's components would not: set gateway.enabled in the Katalog",
                k.file
            )));
        }
    }
    k.posture = Some(pinned);
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_example(name: &str) -> Katalog {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name)
            .join("katalog.yaml");
        match ork_katalog::load_file(&path).katalog {
            Some(k) => k,
            None => panic!("{name} does not load"),
        }
    }

    #[test]
    fn crd_files_become_api_types_and_the_text_loads_back_the_same_api() {
        for ex in ["website", "pipeline", "platform", "protected-apps"] {
            let k = load_example(ex);
            let i = match install(&k, "ork-ops", false, &Limits::default()) {
                Ok(i) => i,
                Err(e) => panic!("{ex}: {e}"),
            };
            assert!(!i.text.contains("crdFile"), "{ex}: {}", i.text);
            assert!(!i.text.contains("crFiles"), "{ex}: {}", i.text);
            for (a, b) in k.crds.iter().zip(&i.katalog.crds) {
                assert_eq!(a.api.crd_name(), b.api.crd_name(), "{ex}");
                assert_eq!(a.api.namespaced, b.api.namespaced, "{ex}");
                assert_eq!(a.api.version, b.api.version, "{ex}");
            }
            assert_eq!(i.prepared.settings.operator_namespace, "ork-ops");
            assert_eq!(
                i.prepared.identities.gateway,
                "system:serviceaccount:ork-ops:orkestra-gateway"
            );
        }
    }

    #[test]
    fn standalone_makes_a_gateway_only_katalog() {
        let k = load_example("website");
        let i = match install(&k, "orkestra-system", true, &Limits::default()) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        };
        assert!(i.prepared.settings.gateway_only && i.prepared.settings.gateway);
        assert_eq!(i.document["gateway"]["standalone"], true);
    }

    #[test]
    fn a_crd_file_without_status_subresource_is_refused() {
        let tmp = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let dir = tmp.path().to_path_buf();
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: apps.t.example.io}\nspec: {group: t.example.io, scope: Namespaced, names: {kind: App, plural: apps}, versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]}\n";
        let _ = std::fs::write(dir.join("crd.yaml"), crd);
        let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: t}\nspec:\n  crds:\n    app: {crdFile: ./crd.yaml}\n";
        let o = ork_katalog::load_str(src, "k.yaml", &dir);
        let Some(k) = o.katalog else {
            panic!("{:?}", o.diagnostics)
        };
        match install(&k, "orkestra-system", false, &Limits::default()) {
            Ok(_) => panic!("installed a Katalog that loses its CRD's missing status"),
            Err(e) => assert!(
                e.to_string()
                    .contains("k.yaml:6:20: error: the crdFile of spec.crds.app has no status"),
                "{e}"
            ),
        }
    }
}
