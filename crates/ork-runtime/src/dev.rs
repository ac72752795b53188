//! What only the developer `ork run` does (docs/cli.md §11): apply the entries' `crdFile`
//! CRDs and wait until they are Established, and apply their `crFiles` CRs, with field
//! manager `ork-dev`. `ork-runtime` never calls this: in a cluster it has no permission to.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use ork_katalog::Katalog;
use serde_json::Value;

use crate::Error;

const MANAGER: &str = "ork-dev";

/// Creates a namespace when it does not exist: the operator namespace (where the Lease lives)
/// and the namespaces of the `crFiles` CRs, so an example runs on a fresh cluster.
pub async fn namespace(client: &kube::Client, name: &str) -> Result<(), Error> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: Api<Namespace> = Api::all(client.clone());
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(name, &PatchParams::apply(MANAGER), &Patch::Apply(&ns))
        .await
        .map(|_| ())
        .map_err(|source| Error::Kube {
            what: format!("create namespace {name}"),
            source,
        })
}

/// Applies every enabled entry's CRD and waits (up to `timeout`) until each is Established.
pub async fn apply_crds(
    client: &kube::Client,
    katalog: &Katalog,
    docs: impl Fn(&std::path::Path) -> Result<Vec<Value>, String>,
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for crd in katalog.crds.iter().filter(|c| c.entry.enabled) {
        let Some(file) = &crd.entry.crd_file else {
            continue;
        };
        let path = katalog.dir.join(file);
        for doc in docs(&path).map_err(Error::Setting)? {
            if doc.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&doc),
            )
            .await
            .map_err(|source| Error::Kube {
                what: format!("apply CRD {name}"),
                source,
            })?;
            names.push(name);
        }
    }
    let deadline = Instant::now() + timeout;
    for name in &names {
        loop {
            match crate::entry::established(client, name).await {
                Ok(true) => break,
                Ok(false) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(false) => {
                    return Err(Error::Setting(format!(
                        "CRD {name} is not Established after {timeout:?}"
                    )));
                }
                Err(source) => {
                    return Err(Error::Kube {
                        what: format!("read CRD {name}"),
                        source,
                    });
                }
            }
        }
    }
    Ok(names)
}

/// Applies every enabled entry's `crFiles`, in order; a CR without a namespace goes to
/// `default_namespace` when its kind is namespaced, and a CR's namespace is created if absent.
pub async fn apply_crs(
    client: &kube::Client,
    katalog: &Katalog,
    docs: impl Fn(&std::path::Path) -> Result<Vec<Value>, String>,
    default_namespace: &str,
) -> Result<usize, Error> {
    let mut n = 0;
    for crd in katalog.crds.iter().filter(|c| c.entry.enabled) {
        let api_info = &crd.api;
        let ar = ork_kube::api_resource(api_info);
        for file in &crd.cr_files {
            // crFiles are resolved against the Katalog's directory when it loads
            for mut doc in docs(file).map_err(Error::Setting)? {
                // server-owned fields an example may carry (a uid for `ork template`)
                if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                    for k in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
                        meta.remove(k);
                    }
                }
                if doc.get("kind").and_then(Value::as_str) != Some(api_info.kind.as_str()) {
                    continue;
                }
                let name = doc
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let api: Api<DynamicObject> = if api_info.namespaced {
                    let ns = doc
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(default_namespace);
                    namespace(client, ns).await?;
                    Api::namespaced_with(client.clone(), ns, &ar)
                } else {
                    Api::all_with(client.clone(), &ar)
                };
                api.patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&doc),
                )
                .await
                .map_err(|source| Error::Kube {
                    what: format!("apply {} {name}", api_info.kind),
                    source,
                })?;
                n += 1;
            }
        }
    }
    Ok(n)
}
