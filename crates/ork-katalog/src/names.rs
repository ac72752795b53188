//! The names and labels of ork's own objects (docs/security.md §0, §1.3), in one place for
//! everything that writes them, decides about them or grants access to them: the Gateway, the
//! runtime, the certificate store and the RBAC derived from a Katalog (`ork generate rbac`).
//! A name written twice drifts; RBAC restricted by resourceNames to a stale name is an outage.

/// The label the guard policy selects ork's control-plane objects by.
pub const CONTROL_PLANE_LABEL: &str = "app.kubernetes.io/tag";
pub const CONTROL_PLANE_VALUE: &str = "orkestra-internal";
/// Every label each object of ork's control plane carries (docs/security.md §1.3).
pub const CONTROL_PLANE_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "orkestra"),
    (CONTROL_PLANE_LABEL, CONTROL_PLANE_VALUE),
];

/// The operator namespace when `ORK_NAMESPACE` is not set.
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "orkestra-system";
/// The runtime's ServiceAccount in the operator namespace.
pub const RUNTIME_SERVICE_ACCOUNT: &str = "orkestra";
/// The Gateway's ServiceAccount in the operator namespace.
pub const GATEWAY_SERVICE_ACCOUNT: &str = "orkestra-gateway";
/// The Gateway's Service (and Deployment) when `security.serviceName.gateway` and
/// `ORK_GATEWAY_SERVICE_NAME` name none.
pub const DEFAULT_GATEWAY_SERVICE: &str = "orkestra-gateway";
/// The runtime's Deployment (and Service) in the bundle `ork generate` writes.
pub const RUNTIME_DEPLOYMENT: &str = "orkestra-runtime";
/// The Lease only the active runtime replica holds (docs/katalog.md §6.1).
pub const RUNTIME_LEASE: &str = "orkestra-runtime";
/// The Lease of the Gateway replica that writes configurations and certificates (G30).
pub const GATEWAY_LEASE: &str = "orkestra-gateway-config";
/// The serving Secret of generated certificates: `tls.crt`, `tls.key`, `ca.crt`.
pub const TLS_SECRET: &str = "orkestra-tls";
/// The CA Secret of generated certificates: `ca.crt`, `ca.key`.
pub const CA_SECRET: &str = "orkestra-tls-ca";
