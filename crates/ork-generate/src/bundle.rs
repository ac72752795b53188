//! `ork generate bundle` (docs/cli.md §6): everything that installs ork for a Katalog, derived
//! from the Katalog as installed (crate::installed), in a fixed order and with sorted keys, so
//! two runs are byte-identical and `ork plan` can regenerate it.

use ork_katalog::Katalog;
use ork_limits::Limits;
use serde_json::Value;

use crate::Error;
use crate::installed::{self, Installed, KATALOG_DIR, KATALOG_KEY};
use crate::options::BundleOptions;
use crate::rbac::{self, DerivedRule};
use crate::workloads::{self, Component, RUNTIME_NAME, Workload};

/// The files of `-o DIR`, in the order of the single stream.
pub const FILES: [&str; 8] = [
    "namespace.yaml",
    "rbac-runtime.yaml",
    "rbac-gateway.yaml",
    "katalog-configmap.yaml",
    "runtime.yaml",
    "gateway.yaml",
    "webhooks.yaml",
    "networkpolicies.yaml",
];

/// One file of the bundle.
#[derive(Debug, Clone)]
pub struct File {
    pub name: &'static str,
    pub objects: Vec<Value>,
    /// why it holds nothing (written into the empty file, so that an older file of the same
    /// name in the directory cannot survive and be applied by mistake)
    pub empty_because: Option<String>,
}

impl File {
    /// The file's text: its objects as a multi-document stream, or a comment saying why none.
    pub fn text(&self) -> String {
        if self.objects.is_empty() {
            return format!(
                "# {}: {}\n",
                self.name,
                self.empty_because
                    .as_deref()
                    .unwrap_or("nothing to install")
            );
        }
        self.objects
            .iter()
            .map(ork_yaml::to_yaml_document)
            .collect()
    }
}

/// A generated bundle.
#[derive(Debug)]
pub struct Bundle {
    pub options: BundleOptions,
    /// [`FILES`], in that order
    pub files: Vec<File>,
    pub installed: Installed,
    /// every permission granted, with the construct that needs it (runtime, then Gateway)
    pub rules: Vec<DerivedRule>,
    pub warnings: Vec<String>,
}

impl Bundle {
    /// Every object, in the order of the single stream.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.files.iter().flat_map(|f| &f.objects)
    }

    /// The single multi-document stream (`-o -` or `-o FILE`).
    pub fn to_yaml(&self) -> String {
        self.objects().map(ork_yaml::to_yaml_document).collect()
    }

    /// Whether the bundle runs a runtime, a Gateway.
    pub fn runs(&self, c: Component) -> bool {
        self.file(match c {
            Component::Runtime => "runtime.yaml",
            Component::Gateway => "gateway.yaml",
        })
        .is_some_and(|f| !f.objects.is_empty())
    }

    pub fn file(&self, name: &str) -> Option<&File> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Where the Gateway's `file:` audit sink is written: a directory of its own, which gets an
/// emptyDir under the read-only root filesystem.
fn audit_dir(sink: Option<&str>) -> Result<Option<String>, Error> {
    let Some(path) = sink.and_then(|s| s.strip_prefix("file:")) else {
        return Ok(None);
    };
    let p = std::path::Path::new(path);
    match p.parent().and_then(|d| d.to_str()) {
        Some(dir) if p.is_absolute() && dir != "/" && !dir.starts_with(KATALOG_DIR) => {
            Ok(Some(dir.to_string()))
        }
        _ => Err(Error::one(format!(
            "security.audit.sink file:{path}: the bundle's pods have a read-only root filesystem, so the audit file needs an absolute path in a directory of its own (e.g. file:/var/log/orkestra/audit.log)"
        ))),
    }
}

/// The bundle of `k` with `opts` (checked here too: a recorded option is not trusted more
/// than a flag).
pub fn generate(k: &Katalog, opts: &BundleOptions, limits: &Limits) -> Result<Bundle, Error> {
    opts.check().map_err(Error::one)?;
    let opts = &opts.normalised();
    let ns = opts.namespace.as_str();
    let inst = installed::install(k, ns, opts.no_runtime, limits)?;
    let p = &inst.prepared;
    let s = &p.settings;
    let mut warnings = inst.warnings.clone();
    let runtime = !s.gateway_only;
    let gateway = s.gateway && !opts.no_gateway;
    if !s.gateway && !opts.no_gateway {
        warnings.push(
            "the Katalog runs no Gateway (gateway.enabled, gateway.standalone or gateway.endpoint): the bundle installs none, and no webhook configuration"
                .into(),
        );
    }

    let derive = |c: rbac::Component| {
        rbac::derive_prepared(
            p,
            &rbac::Options {
                namespace: ns.to_string(),
                component: c,
            },
        )
        .map_err(|e| {
            Error(
                e.diagnostics(&inst.katalog)
                    .iter()
                    .map(|d| d.to_string())
                    .collect(),
            )
        })
    };
    let mut rules = Vec::new();
    let mut rbac_file = |on: bool, c: rbac::Component, off: &str| -> Result<File, Error> {
        let name = match c {
            rbac::Component::Runtime => "rbac-runtime.yaml",
            _ => "rbac-gateway.yaml",
        };
        if !on {
            return Ok(File {
                name,
                objects: Vec::new(),
                empty_because: Some(off.to_string()),
            });
        }
        let d = derive(c)?;
        for w in d.warnings() {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
        rules.extend(d.rules().iter().cloned());
        Ok(File {
            name,
            objects: d.objects(),
            empty_because: Some(off.to_string()),
        })
    };
    let no_runtime = "gateway-only mode (gateway.standalone, --no-runtime): no runtime";
    let no_gateway = if opts.no_gateway {
        "--no-gateway: no Gateway"
    } else {
        "the Katalog runs no Gateway"
    };
    let rbac_runtime = rbac_file(runtime, rbac::Component::Runtime, no_runtime)?;
    let rbac_gateway = rbac_file(gateway, rbac::Component::Gateway, no_gateway)?;

    let katalog_path = format!("{KATALOG_DIR}/{KATALOG_KEY}");
    let mut runtime_objects = Vec::new();
    if runtime {
        let args = [
            "run",
            "-f",
            &katalog_path,
            "--health-addr",
            ":8080",
            "--log-format",
            "json",
        ];
        runtime_objects.push(workloads::deployment(
            ns,
            &Workload {
                component: Component::Runtime,
                name: RUNTIME_NAME,
                image: opts.runtime_image(),
                args: args.iter().map(|a| (*a).to_string()).collect(),
                writable_dir: None,
            },
        ));
        runtime_objects.push(workloads::service(ns, RUNTIME_NAME, Component::Runtime));
    }
    let mut gateway_objects = Vec::new();
    let mut webhooks = Vec::new();
    if gateway {
        let name = s.gateway_service.as_str();
        let args = [
            "gate",
            "-f",
            &katalog_path,
            "--addr",
            ":8443",
            "--health-addr",
            ":8080",
            "--log-format",
            "json",
        ];
        gateway_objects.push(workloads::deployment(
            ns,
            &Workload {
                component: Component::Gateway,
                name,
                image: opts.gateway_image(),
                args: args.iter().map(|a| (*a).to_string()).collect(),
                writable_dir: audit_dir(s.audit.as_deref())?,
            },
        ));
        gateway_objects.push(workloads::service(ns, name, Component::Gateway));
        gateway_objects.push(workloads::gateway_pdb(ns, name));
        webhooks = crate::webhooks::objects(p, "");
    }
    let files = vec![
        File {
            name: FILES[0],
            objects: vec![workloads::namespace(ns)],
            empty_because: None,
        },
        rbac_runtime,
        rbac_gateway,
        File {
            name: FILES[3],
            objects: vec![workloads::katalog_configmap(opts, &inst.text)],
            empty_because: None,
        },
        File {
            name: FILES[4],
            objects: runtime_objects,
            empty_because: Some(no_runtime.into()),
        },
        File {
            name: FILES[5],
            objects: gateway_objects,
            empty_because: Some(no_gateway.into()),
        },
        File {
            name: FILES[6],
            objects: webhooks,
            empty_because: Some(no_gateway.into()),
        },
        File {
            name: FILES[7],
            objects: workloads::network_policies(ns, gateway, &opts.metrics_selectors()),
            empty_because: None,
        },
    ];
    Ok(Bundle {
        options: opts.clone(),
        files,
        installed: inst,
        rules,
        warnings,
    })
}

#[cfg(test)]
mod tests;
