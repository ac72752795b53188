//! The options of `ork generate bundle` (docs/cli.md §6), recorded in the bundle so that `ork
//! plan` regenerates it identically (docs/cli.md §7).

use serde::{Deserialize, Serialize};

/// The annotation on ConfigMap `orkestra-katalog` that records the options a bundle was
/// generated with, as compact JSON.
pub const GENERATE_OPTIONS: &str = "orkestra.orkspace.io/generate-options";

/// ork's version: the tag of the default images.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `ork generate bundle` was asked for. Unknown fields are refused when read back: an
/// option this ork does not know would be silently dropped from the regenerated bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleOptions {
    /// the operator namespace
    pub namespace: String,
    /// gateway-only mode (docs/security.md §2.9): the installed Katalog gets
    /// `gateway.standalone: true`, and no runtime is installed
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_runtime: bool,
    /// no Gateway, its RBAC, Service or webhook configurations
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_gateway: bool,
    /// the runtime's image; `None` is `ork-runtime:<version>`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_image: Option<String>,
    /// the Gateway's image; `None` is `ork-gateway:<version>`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_image: Option<String>,
    /// `KEY=VALUE` namespace labels whose namespaces may reach the metrics port (8080)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics_from: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl BundleOptions {
    /// The defaults in `namespace`.
    pub fn new(namespace: &str) -> BundleOptions {
        BundleOptions {
            namespace: namespace.to_string(),
            no_runtime: false,
            no_gateway: false,
            runtime_image: None,
            gateway_image: None,
            metrics_from: Vec::new(),
        }
    }

    pub fn runtime_image(&self) -> String {
        self.runtime_image
            .clone()
            .unwrap_or_else(|| format!("ork-runtime:{VERSION}"))
    }

    pub fn gateway_image(&self) -> String {
        self.gateway_image
            .clone()
            .unwrap_or_else(|| format!("ork-gateway:{VERSION}"))
    }

    /// The same options with an image equal to its default written as the default: a bundle
    /// and its Helm chart then record the same options for the same images.
    pub fn normalised(&self) -> BundleOptions {
        let mut o = self.clone();
        if o.runtime_image.as_deref() == Some(format!("ork-runtime:{VERSION}").as_str()) {
            o.runtime_image = None;
        }
        if o.gateway_image.as_deref() == Some(format!("ork-gateway:{VERSION}").as_str()) {
            o.gateway_image = None;
        }
        o
    }

    /// The value of [`GENERATE_OPTIONS`].
    pub fn to_annotation(&self) -> String {
        // a struct of strings, booleans and lists always serializes
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads [`GENERATE_OPTIONS`] back and checks it as the flags are checked.
    pub fn from_annotation(text: &str) -> Result<BundleOptions, String> {
        let o: BundleOptions = serde_json::from_str(text)
            .map_err(|e| format!("annotation {GENERATE_OPTIONS}: {e}"))?;
        o.check()
            .map_err(|e| format!("annotation {GENERATE_OPTIONS}: {e}"))?;
        Ok(o)
    }

    /// Every option a Kubernetes object can carry: the namespace a namespace name, the images
    /// image references, each `metricsFrom` a label selector term; not both components off.
    pub fn check(&self) -> Result<(), String> {
        if !valid_namespace(&self.namespace) {
            return Err(format!(
                "namespace {:?} is not a valid namespace name (lower-case letters, digits and '-', at most 63)",
                self.namespace
            ));
        }
        if self.no_runtime && self.no_gateway {
            return Err("--no-runtime and --no-gateway together leave nothing to install".into());
        }
        for (flag, image) in [
            ("--runtime-image", &self.runtime_image),
            ("--gateway-image", &self.gateway_image),
        ] {
            if let Some(i) = image
                && !valid_image(i)
            {
                return Err(format!(
                    "{flag} {i:?} is not an image reference (no spaces or control characters, at most 512 characters)"
                ));
            }
        }
        for m in &self.metrics_from {
            metrics_selector(m)?;
        }
        Ok(())
    }

    /// `metricsFrom` as (key, value) pairs.
    pub fn metrics_selectors(&self) -> Vec<(String, String)> {
        self.metrics_from
            .iter()
            .filter_map(|m| metrics_selector(m).ok())
            .collect()
    }
}

/// A namespace name Kubernetes accepts (RFC 1123 label).
pub fn valid_namespace(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn valid_image(i: &str) -> bool {
    !i.is_empty() && i.len() <= 512 && !i.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A label name or value segment: alphanumerics, `-`, `_`, `.`, starting and ending
/// alphanumeric, at most 63.
fn label_segment(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_none_or(u8::is_ascii_alphanumeric)
        && b.last().is_none_or(u8::is_ascii_alphanumeric)
}

/// `KEY=VALUE`, a namespace label the metrics NetworkPolicy selects on.
fn metrics_selector(m: &str) -> Result<(String, String), String> {
    let bad = || {
        format!(
            "--metrics-from {m:?} is not KEY=VALUE with a label key and value (e.g. kubernetes.io/metadata.name=monitoring)"
        )
    };
    let (k, v) = m.split_once('=').ok_or_else(bad)?;
    let name = match k.rsplit_once('/') {
        Some((prefix, name)) => {
            let prefix_ok = !prefix.is_empty()
                && prefix.len() <= 253
                && prefix.split('.').all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                });
            if !prefix_ok {
                return Err(bad());
            }
            name
        }
        None => k,
    };
    if name.is_empty() || !label_segment(name) || !label_segment(v) {
        return Err(bad());
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_round_trips_and_refuses_what_it_does_not_know() {
        let mut o = BundleOptions::new("ork-ops");
        o.no_runtime = true;
        o.metrics_from = vec!["kubernetes.io/metadata.name=monitoring".into()];
        let text = o.to_annotation();
        assert_eq!(
            text,
            r#"{"namespace":"ork-ops","noRuntime":true,"metricsFrom":["kubernetes.io/metadata.name=monitoring"]}"#
        );
        assert_eq!(BundleOptions::from_annotation(&text), Ok(o));
        assert!(
            BundleOptions::from_annotation(r#"{"namespace":"a","helmValues":{}}"#)
                .is_err_and(|e| e.contains("helmValues"))
        );
        assert!(BundleOptions::from_annotation(r#"{"namespace":"Not_A_NS"}"#).is_err());
        assert!(BundleOptions::from_annotation("not json").is_err());
    }

    #[test]
    fn options_are_checked() {
        let mut o = BundleOptions::new("orkestra-system");
        assert_eq!(o.check(), Ok(()));
        assert_eq!(o.runtime_image(), format!("ork-runtime:{VERSION}"));
        o.metrics_from = vec!["team=monitoring".into(), "a.b/c=".into()];
        assert_eq!(o.check(), Ok(()));
        for bad in ["novalue", "=x", "k=v v", "UPPER.case/x=y", "k=-v"] {
            o.metrics_from = vec![bad.into()];
            assert!(o.check().is_err(), "{bad}");
        }
        o.metrics_from.clear();
        o.gateway_image = Some("ork gateway".into());
        assert!(o.check().is_err());
        o.gateway_image = Some(format!("ork-gateway:{VERSION}"));
        assert_eq!(o.normalised().gateway_image, None);
        o.gateway_image = None;
        o.no_runtime = true;
        o.no_gateway = true;
        assert!(o.check().is_err());
    }
}
