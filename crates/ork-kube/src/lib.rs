//! Kubernetes plumbing the runtime and the Gateway share, so neither writes it twice:
//! [`lease`], the single-writer Lease both run on (`orkestra-runtime`, `orkestra-gateway-config`),
//! [`health`], the plain port that serves `/healthz`, `/readyz` and `/metrics`, and
//! [`api_resource`], a Katalog entry's API as kube's dynamic resource.

pub mod health;
pub mod lease;

/// The dynamic resource of a Katalog entry's API (`group/version`, kind, plural).
pub fn api_resource(api: &ork_katalog::ApiInfo) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: api.group.clone(),
        version: api.version.clone(),
        api_version: api.api_version(),
        kind: api.kind.clone(),
        plural: api.plural.clone(),
    }
}
