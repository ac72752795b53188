//! The Katalog schema registry: every key, its type, default and meaning.
//!
//! One table serves the strict loader (closed mappings, types, "not supported yet") and
//! `ork notes --fields`, so the reference cannot drift from what the loader accepts.

/// How a string-typed child field is coerced after templating (docs/katalog.md §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coerce {
    None,
    /// integer ≥ 0
    Count,
    /// integer ≥ 1
    Positive,
    /// 1..=100
    Percent,
    Port,
    /// port number or IANA port name
    PortOrName,
    /// integer ≥ 0 or `N%`
    IntOrPercent,
    Bool,
    Quantity,
    Duration,
    Enum(&'static [&'static str]),
    /// DNS-1123 subdomain
    Name,
    Schedule,
}

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// A scalar kept as its literal text; templated unless `Field::literal`.
    Str(Coerce),
    Bool,
    Int,
    /// A closed mapping.
    Obj(&'static [Field]),
    List(&'static Ty),
    /// A list of strings, or one comma-separated string.
    StrList,
    /// Free keys, string values (labels, data, nodeSelector).
    StrMap,
    /// Free keys, values of one type.
    MapOf(&'static Ty),
    /// Kubernetes-native structure passed through (volumes, ingress rules, custom spec).
    Any,
    /// `dependsOn`: `{db: healthy}`, `{db: {condition: started}}` or `[db]`.
    DependsOn,
    /// A `when`/`or` list of conditions (docs/katalog.md §4).
    Conditions,
    /// A scalar of any type (mutation `default`/`override`, status `value`).
    Scalar,
    /// One validation rule: a condition plus message, action, when, or, fires.
    Rule,
    /// A key of a feature listed as "Later": rejected with "not supported yet".
    Later,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub default: &'static str,
    pub doc: &'static str,
    pub required: bool,
}

pub const fn f(name: &'static str, ty: Ty, default: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        default,
        doc,
        required: false,
    }
}
pub const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        default: "",
        doc,
        required: true,
    }
}
pub const fn later(name: &'static str) -> Field {
    Field {
        name,
        ty: Ty::Later,
        default: "",
        doc: "not supported yet",
        required: false,
    }
}

const S: Ty = Ty::Str(Coerce::None);
const NAME: Ty = Ty::Str(Coerce::Name);
const COUNT: Ty = Ty::Str(Coerce::Count);
const PORT: Ty = Ty::Str(Coerce::Port);
const BOOLS: Ty = Ty::Str(Coerce::Bool);
const PROTOCOL: Ty = Ty::Str(Coerce::Enum(&["TCP", "UDP", "SCTP"]));

/// Keys whose feature is listed in docs/katalog.md §8 wherever they appear.
pub const LATER_ANYWHERE: &[&str] = &[
    "external",
    "cross",
    "crossAccess",
    "observe",
    "preReconcile",
    "imports",
    "include",
    "publish",
    "serve",
    "endpoints",
    "notification",
    "providers",
    "rollback",
    "rollBackOnError",
    "conversion",
    "hooks",
    "constructor",
    "remote",
    "autoscale",
    "enrich",
    "enrichAll",
    "normalize",
    "ignoreStatusPatch",
    "ignoreObservedGeneration",
    "removeFinalizers",
    "finalizers",
    "sleep",
    "fromConfigMap",
    "fromSecret",
    "fromNetworkPolicy",
    "fromNamespace",
    "toNamespaces",
    "labelSelector",
    "fieldSelector",
];

/// Child kinds of docs/katalog.md §8 (rejected in onCreate/onReconcile/onDelete).
pub const LATER_KINDS: &[&str] = &[
    "pods",
    "replicaSets",
    "daemonSets",
    "namespaces",
    "persistentVolumes",
    "clusterRoles",
    "clusterRoleBindings",
    "limitRanges",
    "resourceQuotas",
];

// ----- top level ------------------------------------------------------------------------------

pub static KATALOG: &[Field] = &[
    req(
        "apiVersion",
        S,
        "orkestra.orkspace.io/v1, the only accepted value",
    ),
    req("kind", S, "Katalog"),
    req(
        "metadata",
        Ty::Obj(METADATA),
        "name (DNS-1123 label), version, description, author, tags",
    ),
    f(
        "security",
        Ty::Obj(SECURITY),
        "",
        "security layers (docs/security.md §1.1)",
    ),
    f(
        "gateway",
        Ty::Obj(GATEWAY),
        "",
        "how the admission Gateway runs",
    ),
    f(
        "profiles",
        Ty::Obj(PROFILES),
        "",
        "user pod-security profiles",
    ),
    req("spec", Ty::Obj(SPEC), "the CRDs this operator serves"),
];

static METADATA: &[Field] = &[
    req("name", S, "Katalog name, a DNS-1123 label"),
    f(
        "version",
        S,
        "",
        "version of this Katalog (bundle and chart version)",
    ),
    f("description", S, "", "free text"),
    f("author", S, "", "free text"),
    f("tags", Ty::StrList, "", "free labels"),
];

static SPEC: &[Field] = &[f(
    "crds",
    Ty::MapOf(&Ty::Obj(CRD_ENTRY)),
    "",
    "map from entry name to CRD entry",
)];

static GATEWAY: &[Field] = &[
    f(
        "enabled",
        Ty::Bool,
        "false",
        "the Gateway runs beside the runtime",
    ),
    f(
        "standalone",
        Ty::Bool,
        "false",
        "gateway-only mode: no runtime (docs/security.md §2.9)",
    ),
    f(
        "endpoint",
        S,
        "",
        "address of an existing Gateway (also env ORK_GATEWAY_ENDPOINT)",
    ),
    later("api"),
    later("webhooks"),
    later("clusters"),
];

// ----- security ---------------------------------------------------------------------------------

static SERVICE_NAMES: &[Field] = &[
    f(
        "runtime",
        S,
        "orkestra-runtime",
        "runtime Service name (env ORK_SERVICE_NAME)",
    ),
    f(
        "gateway",
        S,
        "orkestra-gateway",
        "Gateway Service name (env ORK_GATEWAY_SERVICE_NAME)",
    ),
];

static SECURITY: &[Field] = &[
    f("serviceName", Ty::Obj(SERVICE_NAMES), "", "Service names"),
    f(
        "deletionProtection",
        Ty::Obj(DELETION_PROTECTION),
        "",
        "deletion protection and strict mode (§2.4)",
    ),
    f(
        "namespaceProtection",
        Ty::Obj(NAMESPACE_PROTECTION),
        "",
        "namespace allow/deny lists (§2.5)",
    ),
    f(
        "webhooks",
        Ty::Obj(WEBHOOKS),
        "",
        "admission webhooks for validation and mutation rules",
    ),
    f(
        "podSecurity",
        Ty::Obj(POD_SECURITY),
        "",
        "pod-security defaults and enforcement (§2.7)",
    ),
    f(
        "execProtection",
        Ty::Obj(EXEC_PROTECTION),
        "",
        "deny exec/attach into privileged pods",
    ),
    f(
        "audit",
        Ty::Obj(AUDIT),
        "",
        "audit log of admission decisions",
    ),
    f(
        "certManager",
        Ty::Obj(CERT_MANAGER),
        "",
        "Gateway TLS certificates",
    ),
    f("conversion", Ty::Later, "", "not supported yet"),
    f(
        "rbac",
        Ty::Any,
        "",
        "legacy block: accepted and ignored with a warning (ork never applies RBAC)",
    ),
];

static DELETION_PROTECTION: &[Field] = &[
    f(
        "enabled",
        Ty::Bool,
        "true when the block is present",
        "deny deletes of protected objects (env ENABLE_DELETION_PROTECTION)",
    ),
    f(
        "failurePolicy",
        S,
        "Fail",
        "Fail | Ignore (env DELETION_PROTECTION_POLICY)",
    ),
    f(
        "serviceName",
        S,
        "serviceName.gateway",
        "Service of the webhook",
    ),
    f(
        "cleanupOnShutdown",
        Ty::Bool,
        "false",
        "remove the configuration on uninstall",
    ),
    f(
        "strictMode",
        Ty::Bool,
        "false",
        "the protection label cannot be removed",
    ),
    f(
        "protectedResources",
        Ty::StrList,
        "services, configmaps, secrets, …",
        "resources whose labelled objects are protected",
    ),
];

static NAMESPACE_PROTECTION: &[Field] = &[
    f(
        "enabled",
        Ty::Bool,
        "true when the block is present",
        "admission check of CR namespaces (env ENABLE_NAMESPACE_PROTECTION)",
    ),
    f(
        "failurePolicy",
        S,
        "Fail",
        "Fail | Ignore (env NAMESPACE_PROTECTION_FAILURE_POLICY)",
    ),
    f(
        "cleanupOnShutdown",
        Ty::Bool,
        "false",
        "remove the configuration on uninstall",
    ),
    f(
        "allowedNamespaces",
        Ty::StrList,
        "[]",
        "Katalog-level allow-list: exact | prefix* | *suffix | *",
    ),
    f(
        "restrictedNamespaces",
        Ty::StrList,
        "[]",
        "Katalog-level deny-list",
    ),
];

static ADMISSION: &[Field] = &[f(
    "enabled",
    Ty::Bool,
    "false",
    "register the validation and mutation webhooks (env ENABLE_ADMISSION_WEBHOOK)",
)];

static WEBHOOKS: &[Field] = &[
    f(
        "admission",
        Ty::Obj(ADMISSION),
        "",
        "admission webhooks; must be enabled explicitly",
    ),
    f(
        "failurePolicy",
        S,
        "Fail",
        "Fail | Ignore (env WEBHOOK_FAILURE_POLICY)",
    ),
    f(
        "serviceName",
        S,
        "orkestra-gateway",
        "Service of the webhooks",
    ),
    f(
        "cleanupOnShutdown",
        Ty::Bool,
        "false",
        "remove configurations on uninstall",
    ),
    f(
        "timeoutSeconds",
        Ty::Int,
        "3",
        "1..5, every ork webhook configuration",
    ),
    f(
        "excludeNamespaces",
        Ty::StrList,
        "[]",
        "exact names added to the fixed exclusions",
    ),
    f(
        "breakGlassGroups",
        Ty::StrList,
        "[system:masters]",
        "groups that may change ork's webhook configurations",
    ),
];

static PS_ADMISSION: &[Field] = &[
    f(
        "enabled",
        Ty::Bool,
        "false",
        "pod-security admission webhook",
    ),
    f("failurePolicy", S, "Fail", "Fail | Ignore"),
    f(
        "namespaces",
        Ty::StrList,
        "[]",
        "enforced namespaces (empty: objects labelled orkestra-owner)",
    ),
];

static POD_SECURITY: &[Field] = &[
    f(
        "default",
        S,
        "hardened",
        "profile for templates declaring none: baseline | restricted | hardened | none",
    ),
    f(
        "level",
        S,
        "restricted",
        "level enforced by backstop and Gateway: baseline | restricted | privileged",
    ),
    f(
        "admission",
        Ty::Obj(PS_ADMISSION),
        "",
        "pod-security admission",
    ),
];

static EXEC_PROTECTION: &[Field] = &[
    f(
        "enabled",
        Ty::Bool,
        "true",
        "deny exec/attach into privileged or host-namespace pods",
    ),
    f("failurePolicy", S, "Fail", "Fail | Ignore"),
    f(
        "namespaces",
        Ty::StrList,
        "[]",
        "covered namespaces (empty: all not excluded)",
    ),
];

static AUDIT: &[Field] = &[
    f(
        "enabled",
        Ty::Bool,
        "true",
        "one JSON line per admission decision",
    ),
    f("sink", S, "stdout", "stdout | file:<path>"),
];

static CERT_MANAGER: &[Field] = &[
    f(
        "autoRotate",
        Ty::Bool,
        "true",
        "renew certificates (env TLS_AUTO_ROTATE)",
    ),
    f(
        "rotationThreshold",
        S,
        "30d",
        "renew when less remains (env TLS_ROTATION_THRESHOLD)",
    ),
    f(
        "validFor",
        S,
        "1y",
        "serving certificate validity (env TLS_VALID_FOR)",
    ),
    f("caValidFor", S, "5y", "generated CA validity"),
];

// ----- profiles -----------------------------------------------------------------------------------

static CAPABILITIES: &[Field] = &[
    f("add", Ty::StrList, "", "Linux capabilities to add"),
    f(
        "drop",
        Ty::StrList,
        "",
        "Linux capabilities to drop (ALL for all)",
    ),
];
static SECCOMP: &[Field] = &[
    f(
        "type",
        Ty::Str(Coerce::Enum(&["RuntimeDefault", "Localhost", "Unconfined"])),
        "",
        "RuntimeDefault | Localhost | Unconfined",
    ),
    f("localhostProfile", S, "", "profile file for Localhost"),
];
static SELINUX: &[Field] = &[
    f("user", S, "", ""),
    f("role", S, "", ""),
    f("type", S, "", ""),
    f("level", S, "", ""),
];
static WINDOWS: &[Field] = &[
    f("hostProcess", BOOLS, "", "run as a Windows host process"),
    f("gmsaCredentialSpecName", S, "", ""),
    f("gmsaCredentialSpec", S, "", ""),
    f("runAsUserName", S, "", ""),
];

/// Container security-context fields (explicit form).
const CONTAINER_FIELDS: [Field; 12] = [
    f("privileged", BOOLS, "", "run privileged"),
    f(
        "allowPrivilegeEscalation",
        BOOLS,
        "",
        "allow setuid escalation",
    ),
    f(
        "readOnlyRootFilesystem",
        BOOLS,
        "",
        "read-only root filesystem",
    ),
    f("runAsNonRoot", BOOLS, "", "refuse to run as UID 0"),
    f("runAsUser", COUNT, "", "UID"),
    f("runAsGroup", COUNT, "", "GID"),
    f("capabilities", Ty::Obj(CAPABILITIES), "", "add / drop"),
    f("seccompProfile", Ty::Obj(SECCOMP), "", "seccomp profile"),
    f("appArmorProfile", Ty::Obj(SECCOMP), "", "AppArmor profile"),
    f("seLinuxOptions", Ty::Obj(SELINUX), "", "SELinux labels"),
    f(
        "procMount",
        Ty::Str(Coerce::Enum(&["Default", "Unmasked"])),
        "",
        "Default | Unmasked",
    ),
    f("windowsOptions", Ty::Obj(WINDOWS), "", "Windows options"),
];
/// Container security-context fields (explicit form).
pub static CONTAINER_SC_FIELDS: &[Field] = &CONTAINER_FIELDS;
const PROFILE: Field = f(
    "profile",
    S,
    "",
    "baseline | restricted | hardened | none | a user profile",
);
const PROFILE_NAME: Field = req("name", S, "profile name");
/// `securityContext` of a workload entry: a profile or explicit fields.
static CONTAINER_SC: [Field; 13] = cat::<1, 12, 13>([PROFILE], CONTAINER_FIELDS);
/// `podSecurity` of a workload entry: a profile or explicit fields.
static POD_SC: [Field; 12] = cat::<1, 11, 12>([PROFILE], POD_FIELDS);
const POD_FIELDS: [Field; 11] = [
    f("runAsNonRoot", BOOLS, "", "refuse to run as UID 0"),
    f("runAsUser", COUNT, "", "UID"),
    f("runAsGroup", COUNT, "", "GID"),
    f("fsGroup", COUNT, "", "volume group"),
    f(
        "fsGroupChangePolicy",
        Ty::Str(Coerce::Enum(&["OnRootMismatch", "Always"])),
        "",
        "OnRootMismatch | Always",
    ),
    f("supplementalGroups", Ty::List(&COUNT), "", "extra GIDs"),
    f("sysctls", Ty::Any, "", "[{name, value}]"),
    f("seccompProfile", Ty::Obj(SECCOMP), "", "seccomp profile"),
    f("appArmorProfile", Ty::Obj(SECCOMP), "", "AppArmor profile"),
    f("seLinuxOptions", Ty::Obj(SELINUX), "", "SELinux labels"),
    f("windowsOptions", Ty::Obj(WINDOWS), "", "Windows options"),
];
static USER_CONTAINER_PROFILE: [Field; 13] = cat::<1, 12, 13>([PROFILE_NAME], CONTAINER_FIELDS);
static USER_POD_PROFILE: [Field; 12] = cat::<1, 11, 12>([PROFILE_NAME], POD_FIELDS);
static PROFILES: &[Field] = &[
    f(
        "containerSecurity",
        Ty::List(&Ty::Obj(&USER_CONTAINER_PROFILE)),
        "[]",
        "named container security profiles",
    ),
    f(
        "podSecurity",
        Ty::List(&Ty::Obj(&USER_POD_PROFILE)),
        "[]",
        "named pod security profiles",
    ),
];

// ----- CRD entry ----------------------------------------------------------------------------------

static API_TYPES: &[Field] = &[
    req("group", S, "API group; contains a dot"),
    req("version", S, "served version"),
    req("kind", S, "Kind"),
    req("plural", S, "lower-case plural"),
    later("location"),
];

static RT_DP: &[Field] = &[
    f("protectCRD", Ty::Bool, "true", "deny deleting the CRD"),
    f("protectCRs", Ty::Bool, "true", "deny deleting labelled CRs"),
    f(
        "strictMode",
        Ty::Bool,
        "true",
        "the protection label cannot be removed (with global strictMode)",
    ),
];

static RUNTIME: &[Field] = &[
    f(
        "deletionProtection",
        Ty::Obj(RT_DP),
        "",
        "per-CRD deletion protection",
    ),
    f(
        "allowedNamespaces",
        Ty::StrList,
        "[]",
        "CRD-level allow-list",
    ),
    f(
        "restrictedNamespaces",
        Ty::StrList,
        "[]",
        "CRD-level deny-list",
    ),
    later("cleanup"),
];

static WEBHOOK_OPTS: &[Field] = &[
    f(
        "validation",
        Ty::Bool,
        "true",
        "validation rules at admission",
    ),
    f("mutation", Ty::Bool, "true", "mutation rules at admission"),
    f(
        "operations",
        Ty::StrList,
        "[CREATE, UPDATE]",
        "CREATE | UPDATE | DELETE",
    ),
];

static FIRES: &[Field] = &[
    f("reconcile", Ty::Bool, "true", "also at reconcile time"),
    f("admission", Ty::Bool, "true", "also at admission"),
];

static VALIDATION: &[Field] = &[f(
    "rules",
    Ty::List(&Ty::Rule),
    "[]",
    "validation rules: a condition plus message, action, when, or, fires",
)];

static MUTATION_RULE: &[Field] = &[
    req("field", S, "static path to set"),
    f("default", Ty::Scalar, "", "set when absent, null or \"\""),
    f("override", Ty::Scalar, "", "always set"),
    f(
        "valueType",
        Ty::Str(Coerce::Enum(&["string", "int", "float", "bool"])),
        "string",
        "string | int | float | bool",
    ),
    f("when", Ty::Conditions, "", "all must hold"),
    f("or", Ty::Conditions, "", "one must hold"),
    f("fires", Ty::Obj(FIRES), "", "where the rule runs"),
];

static MUTATION: &[Field] = &[
    f(
        "mutateFirst",
        Ty::Bool,
        "true",
        "run mutations before validation",
    ),
    f(
        "rules",
        Ty::List(&Ty::Obj(MUTATION_RULE)),
        "[]",
        "mutation rules",
    ),
];

static REQUEUE: &[Field] = &[
    f(
        "after",
        Ty::Str(Coerce::Duration),
        "",
        "duration ≥ 1s after a successful cycle",
    ),
    f("when", Ty::Conditions, "", "all must hold"),
    f("or", Ty::Conditions, "", "one must hold"),
];

static QUEUE: &[Field] = &[
    f(
        "retryBackoff",
        Ty::Any,
        "{initial: 1s, max: 5m, multiplier: 2}",
        "API-error backoff; a bare duration = constant",
    ),
    f(
        "failureThreshold",
        Ty::Int,
        "5",
        "consecutive failures before `degraded`",
    ),
    later("type"),
    later("maxDepth"),
    later("behaviour"),
    later("shared"),
];

static RECONCILER: &[Field] = &[
    f(
        "default",
        Ty::Bool,
        "true",
        "the built-in reconciler (only true)",
    ),
    f("workers", Ty::Int, "3", "parallel reconciles, 1–50"),
    f("resync", S, "10m", "re-queue every CR this often, ≥ 10s"),
    f(
        "requeue",
        Ty::Obj(REQUEUE),
        "",
        "requeue after a successful cycle",
    ),
    f("queue", Ty::Obj(QUEUE), "", "retry behaviour"),
    later("profile"),
    later("mode"),
];

static STATUS_FIELD: &[Field] = &[
    req(
        "path",
        S,
        "status path (not conditions / observedGeneration)",
    ),
    req("value", Ty::Scalar, "template"),
    f(
        "type",
        Ty::Str(Coerce::Enum(&["string", "int", "float", "bool", "auto"])),
        "string",
        "string | int | float | bool | auto",
    ),
    f("when", Ty::Conditions, "", "all must hold"),
    f("or", Ty::Conditions, "", "one must hold"),
    f(
        "clearOnFalse",
        Ty::Bool,
        "false",
        "write \"\" when the conditions fail",
    ),
];

static STATUS: &[Field] = &[
    f(
        "conditions",
        Ty::Bool,
        "true",
        "Ready and validation conditions, observedGeneration",
    ),
    f(
        "fields",
        Ty::List(&Ty::Obj(STATUS_FIELD)),
        "[]",
        "ordered status fields",
    ),
];

static FOR_EACH: &[Field] = &[
    req("field", S, "path to a list or map in the template data"),
    f("as", S, "item", "extra name for the element"),
    f("max", Ty::Int, "100", "largest number of elements"),
];

macro_rules! common {
    () => {
        [
            f("name", NAME, "per kind", "template; DNS-1123 name"),
            f("namespace", S, "the CR's namespace", "template"),
            f("labels", Ty::StrMap, "", "static keys, templated values"),
            f(
                "annotations",
                Ty::StrMap,
                "",
                "static keys, templated values",
            ),
            f(
                "reconcile",
                Ty::Bool,
                "false",
                "onCreate only: apply every cycle with drift correction",
            ),
            f("when", Ty::Conditions, "", "all must hold"),
            f("or", Ty::Conditions, "", "one must hold"),
            f("forEach", Ty::Obj(FOR_EACH), "", "one entry per element"),
            f(
                "forceConflict",
                Ty::Bool,
                "CRD entry value",
                "server-side apply force",
            ),
        ]
    };
}
const COMMON: [Field; 9] = common!();

static ENV_SECRET_REF: &[Field] = &[
    req("name", S, "Secret"),
    req("key", S, "key"),
    f("optional", Ty::Bool, "false", ""),
];
static ENV_FIELD_REF: &[Field] = &[
    req("fieldPath", S, "pod field"),
    f("apiVersion", S, "v1", ""),
];
static ENV_VALUE_FROM: &[Field] = &[
    f("secretKeyRef", Ty::Obj(ENV_SECRET_REF), "", "a Secret key"),
    f(
        "configMapKeyRef",
        Ty::Obj(ENV_SECRET_REF),
        "",
        "a ConfigMap key",
    ),
    f("fieldRef", Ty::Obj(ENV_FIELD_REF), "", "a pod field"),
];
static ENV_VAR: &[Field] = &[
    req("name", S, "variable name"),
    f("value", S, "", "template"),
    f("valueFrom", Ty::Obj(ENV_VALUE_FROM), "", "reference"),
];
static NAME_REF: &[Field] = &[req("name", S, "")];
static ENV_FROM: &[Field] = &[
    f("secretRef", Ty::List(&Ty::Obj(NAME_REF)), "", "Secrets"),
    f(
        "configMapRef",
        Ty::List(&Ty::Obj(NAME_REF)),
        "",
        "ConfigMaps",
    ),
];
static RESOURCES: &[Field] = &[
    f("requests", Ty::StrMap, "", "cpu, memory, …"),
    f("limits", Ty::StrMap, "", "cpu, memory, …"),
];
static PROBE: &[Field] = &[
    f(
        "type",
        Ty::Str(Coerce::Enum(&["http", "tcp"])),
        "http",
        "http | tcp",
    ),
    f("path", S, "/", "HTTP path"),
    f("port", Ty::Str(Coerce::PortOrName), "= port", "probe port"),
    f("initialDelaySeconds", COUNT, "", ""),
    f("periodSeconds", COUNT, "", ""),
    f("failureThreshold", COUNT, "", ""),
];
static PROBES: &[Field] = &[
    f("startup", Ty::Obj(PROBE), "", ""),
    f("liveness", Ty::Obj(PROBE), "", ""),
    f("readiness", Ty::Obj(PROBE), "", ""),
];
static ROLLING: &[Field] = &[
    f("maxSurge", Ty::Str(Coerce::IntOrPercent), "", "int or N%"),
    f(
        "maxUnavailable",
        Ty::Str(Coerce::IntOrPercent),
        "",
        "int or N%",
    ),
];

macro_rules! pod_fields {
    () => {
        [
            f("command", Ty::List(&S), "", "entrypoint"),
            f("args", Ty::List(&S), "", "arguments"),
            f("env", Ty::List(&Ty::Obj(ENV_VAR)), "", "EnvVar list"),
            f(
                "envFrom",
                Ty::Obj(ENV_FROM),
                "",
                "Secrets and ConfigMaps as variables",
            ),
            f("resources", Ty::Obj(RESOURCES), "", "requests and limits"),
            f("serviceAccountName", S, "", "pod ServiceAccount"),
            f("imagePullSecrets", Ty::StrList, "", "Secret names"),
            f("nodeSelector", Ty::StrMap, "", "node labels"),
            f("workingDirectory", S, "", "container working directory"),
            f(
                "automountServiceAccountToken",
                BOOLS,
                "false under hardened",
                "mount the ServiceAccount token: true for a pod that calls the API",
            ),
            f("volumes", Ty::Any, "", "Kubernetes volumes"),
            f("volumeMounts", Ty::Any, "", "Kubernetes volume mounts"),
            f(
                "securityContext",
                Ty::Obj(&CONTAINER_SC),
                "",
                "container security: a profile or explicit fields",
            ),
            f(
                "podSecurity",
                Ty::Obj(&POD_SC),
                "",
                "pod security: a profile or explicit fields",
            ),
        ]
    };
}

const fn cat<const A: usize, const B: usize, const C: usize>(
    a: [Field; A],
    b: [Field; B],
) -> [Field; C] {
    let mut out = [f("", Ty::Any, "", ""); C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}

static DEPLOYMENT: [Field; 30] = cat::<9, 21, 30>(
    COMMON,
    cat::<7, 14, 21>(
        [
            req("image", S, "container image"),
            f("replicas", COUNT, "1", "pod count"),
            f("port", PORT, "", "container port (none when unset)"),
            f("protocol", PROTOCOL, "TCP", "TCP | UDP | SCTP"),
            f(
                "probes",
                Ty::Obj(PROBES),
                "",
                "startup, liveness, readiness",
            ),
            f(
                "rollingUpdate",
                Ty::Obj(ROLLING),
                "",
                "maxSurge, maxUnavailable",
            ),
            later("autoscale"),
        ],
        pod_fields!(),
    ),
);

static VCT: &[Field] = &[
    req("name", S, "claim name"),
    req("storageSize", Ty::Str(Coerce::Quantity), "size"),
    f("storageClass", S, "", "StorageClass"),
    req("mountPath", S, "mount path"),
    f(
        "accessModes",
        Ty::StrList,
        "[ReadWriteOnce]",
        "access modes",
    ),
];

static STATEFULSET: [Field; 32] = cat::<9, 23, 32>(
    COMMON,
    cat::<9, 14, 23>(
        [
            req("image", S, "container image"),
            f("tag", S, "", "appended as :tag when image has none"),
            f("replicas", COUNT, "1", "pod count"),
            f("port", PORT, "", "container port"),
            f("protocol", PROTOCOL, "TCP", "TCP | UDP | SCTP"),
            f(
                "probes",
                Ty::Obj(PROBES),
                "",
                "startup, liveness, readiness",
            ),
            f("serviceName", S, "= name", "governing Service"),
            f(
                "volumeClaimTemplates",
                Ty::List(&Ty::Obj(VCT)),
                "",
                "per-pod claims",
            ),
            later("autoscale"),
        ],
        pod_fields!(),
    ),
);

static JOB: [Field; 24] = cat::<9, 15, 24>(
    COMMON,
    cat::<1, 14, 15>([req("image", S, "container image")], pod_fields!()),
);
static JOB_EXTRA: [Field; 25] = cat::<24, 1, 25>(JOB, [f("backoffLimit", COUNT, "3", "retries")]);

static CRONJOB: [Field; 32] = cat::<25, 7, 32>(
    JOB_EXTRA,
    [
        req(
            "schedule",
            Ty::Str(Coerce::Schedule),
            "5-field cron or @hourly…",
        ),
        f("suspend", BOOLS, "false", "pause scheduling"),
        f(
            "concurrencyPolicy",
            Ty::Str(Coerce::Enum(&["Allow", "Forbid", "Replace"])),
            "Allow",
            "Allow | Forbid | Replace",
        ),
        f("successfulJobsHistoryLimit", COUNT, "3", ""),
        f("failedJobsHistoryLimit", COUNT, "1", ""),
        f("startingDeadlineSeconds", COUNT, "", ""),
        f("timeZone", S, "", "IANA time zone"),
    ],
);

static SERVICE: [Field; 17] = cat::<9, 8, 17>(
    COMMON,
    [
        req("port", PORT, "service port"),
        f(
            "targetPort",
            Ty::Str(Coerce::PortOrName),
            "= port",
            "container port or IANA name",
        ),
        f("protocol", PROTOCOL, "TCP", "TCP | UDP | SCTP"),
        f(
            "type",
            Ty::Str(Coerce::Enum(&["ClusterIP", "NodePort", "LoadBalancer"])),
            "ClusterIP",
            "ClusterIP | NodePort | LoadBalancer",
        ),
        f("headless", BOOLS, "false", "clusterIP: None"),
        f(
            "selector",
            Ty::StrMap,
            "",
            "extra selector labels (orkestra-owner is always added)",
        ),
        f("nodePort", PORT, "", "NodePort number"),
        f("portName", S, "", "port name"),
    ],
);

static CONFIGMAP: [Field; 10] = cat::<9, 1, 10>(
    COMMON,
    [f("data", Ty::StrMap, "", "values templated, not trimmed")],
);

static SECRET: [Field; 14] = cat::<9, 5, 14>(
    COMMON,
    [
        f("type", S, "Opaque", "Secret type"),
        f(
            "data",
            Ty::StrMap,
            "",
            "plain-text values, base64-encoded by ork",
        ),
        f("once", Ty::Bool, "false", "create if absent, never update"),
        f(
            "rotateAfter",
            Ty::Str(Coerce::Duration),
            "",
            "with once: recreate when older",
        ),
        later("tls"),
    ],
);

static SERVICE_ACCOUNT: [Field; 10] = cat::<9, 1, 10>(
    COMMON,
    [f("imagePullSecrets", Ty::StrList, "", "Secret names")],
);

static INGRESS_TLS: &[Field] = &[
    req("secretName", S, "TLS Secret"),
    f("hosts", Ty::StrList, "", "hosts"),
    later("create"),
];
static INGRESS: [Field; 16] = cat::<9, 7, 16>(
    COMMON,
    [
        f("host", S, "", "host name"),
        f("serviceName", S, "<cr>-svc", "backend Service"),
        req("servicePort", Ty::Str(Coerce::PortOrName), "backend port"),
        f("path", S, "/", "HTTP path"),
        f(
            "pathType",
            Ty::Str(Coerce::Enum(&["Prefix", "Exact", "ImplementationSpecific"])),
            "Prefix",
            "Prefix | Exact | ImplementationSpecific",
        ),
        f("className", S, "", "IngressClass"),
        f("tls", Ty::Obj(INGRESS_TLS), "", "TLS"),
    ],
);

static NETPOL: [Field; 14] = cat::<9, 5, 14>(
    COMMON,
    [
        f(
            "profile",
            Ty::Str(Coerce::Enum(&[
                "deny-all",
                "deny-all-ingress",
                "deny-all-egress",
                "allow-same-namespace",
                "allow-dns-egress",
            ])),
            "",
            "deny-all | deny-all-ingress | deny-all-egress | allow-same-namespace | allow-dns-egress",
        ),
        f("ingress", Ty::Any, "", "Kubernetes ingress rules"),
        f("egress", Ty::Any, "", "Kubernetes egress rules"),
        f(
            "podSelector",
            Ty::Any,
            "{matchLabels: {orkestra-owner: <cr>}}",
            "selected pods",
        ),
        f("policyTypes", Ty::StrList, "derived", "Ingress, Egress"),
    ],
);

static PDB: [Field; 12] = cat::<9, 3, 12>(
    COMMON,
    [
        f(
            "minAvailable",
            Ty::Str(Coerce::IntOrPercent),
            "",
            "int or N%",
        ),
        f(
            "maxUnavailable",
            Ty::Str(Coerce::IntOrPercent),
            "",
            "int or N%",
        ),
        f(
            "selector",
            Ty::StrMap,
            "{orkestra-owner: <cr>}",
            "pod labels",
        ),
    ],
);

static SCALE_TARGET: &[Field] = &[
    f("apiVersion", S, "apps/v1", ""),
    f("kind", S, "Deployment", ""),
    req("name", S, "target workload"),
];
static HPA: [Field; 14] = cat::<9, 5, 14>(
    COMMON,
    [
        req("scaleTargetRef", Ty::Obj(SCALE_TARGET), "workload to scale"),
        f("minReplicas", Ty::Str(Coerce::Positive), "1", "≥ 1"),
        req("maxReplicas", Ty::Str(Coerce::Positive), "≥ minReplicas"),
        f(
            "targetCPUUtilizationPercentage",
            Ty::Str(Coerce::Percent),
            "80",
            "1–100",
        ),
        f("behavior", Ty::Any, "", "Kubernetes scaling behavior"),
    ],
);

static RULE: &[Field] = &[
    f("apiGroups", Ty::StrList, "", ""),
    req("resources", Ty::StrList, ""),
    req("verbs", Ty::StrList, ""),
    f("resourceNames", Ty::StrList, "", ""),
];
static ROLE: [Field; 10] =
    cat::<9, 1, 10>(COMMON, [req("rules", Ty::List(&Ty::Obj(RULE)), "≥ 1 rule")]);

static ROLE_REF: &[Field] = &[
    req("name", S, "role name"),
    f(
        "kind",
        Ty::Str(Coerce::Enum(&["Role", "ClusterRole"])),
        "Role",
        "Role | ClusterRole",
    ),
    f("apiGroup", S, "rbac.authorization.k8s.io", ""),
];
static SUBJECT: &[Field] = &[
    req(
        "kind",
        Ty::Str(Coerce::Enum(&["ServiceAccount", "User", "Group"])),
        "ServiceAccount | User | Group",
    ),
    req("name", S, ""),
    f("namespace", S, "", ""),
    f("apiGroup", S, "", ""),
];
static ROLE_BINDING: [Field; 11] = cat::<9, 2, 11>(
    COMMON,
    [
        req("roleRef", Ty::Obj(ROLE_REF), "bound role"),
        req("subjects", Ty::List(&Ty::Obj(SUBJECT)), "≥ 1 subject"),
    ],
);

static PVC: [Field; 14] = cat::<9, 5, 14>(
    COMMON,
    [
        req("storage", Ty::Str(Coerce::Quantity), "requested size"),
        f("storageClassName", S, "", "StorageClass"),
        f("accessModes", Ty::StrList, "[ReadWriteOnce]", ""),
        f(
            "volumeMode",
            Ty::Str(Coerce::Enum(&["Filesystem", "Block"])),
            "Filesystem",
            "Filesystem | Block",
        ),
        f("volumeName", S, "", "bind to this PV"),
    ],
);

static CUSTOM_META: &[Field] = &[
    req("name", NAME, "template"),
    f("namespace", S, "", "template"),
    f("labels", Ty::StrMap, "", ""),
    f("annotations", Ty::StrMap, "", ""),
];
static CUSTOM: &[Field] = &[
    req("apiVersion", S, "group/version"),
    req("kind", S, "Kind"),
    f(
        "plural",
        S,
        "from the Katalog or the built-in table",
        "resource plural",
    ),
    f(
        "namespaced",
        Ty::Bool,
        "true",
        "false only under a cluster-scoped CR",
    ),
    req(
        "metadata",
        Ty::Obj(CUSTOM_META),
        "name, namespace, labels, annotations",
    ),
    f("spec", Ty::Any, "", "free map, string leaves templated"),
    f("reconcile", Ty::Bool, "false", ""),
    f("when", Ty::Conditions, "", ""),
    f("or", Ty::Conditions, "", ""),
    f("forEach", Ty::Obj(FOR_EACH), "", ""),
    f("forceConflict", Ty::Bool, "", ""),
];

/// Child list key → (fields, kind, default name suffix). Kind order is the write order (§3).
pub static CHILD_KINDS: &[(&str, &[Field])] = &[
    ("networkPolicies", &NETPOL),
    ("serviceAccounts", &SERVICE_ACCOUNT),
    ("roles", &ROLE),
    ("roleBindings", &ROLE_BINDING),
    ("secrets", &SECRET),
    ("configMaps", &CONFIGMAP),
    ("persistentVolumeClaims", &PVC),
    ("custom", CUSTOM),
    ("deployments", &DEPLOYMENT),
    ("statefulSets", &STATEFULSET),
    ("services", &SERVICE),
    ("jobs", &JOB_EXTRA),
    ("cronJobs", &CRONJOB),
    ("ingresses", &INGRESS),
    ("hpa", &HPA),
    ("pdb", &PDB),
];

static BLOCK: [Field; 18] = {
    let mut out = [f("", Ty::Any, "", ""); 18];
    let mut i = 0;
    while i < 16 {
        out[i] = f(
            CHILD_KINDS_NAMES[i],
            Ty::List(&CHILD_TY[i]),
            "",
            "child entries",
        );
        i += 1;
    }
    out[16] = f("when", Ty::Conditions, "", "block gate: all must hold");
    out[17] = f("or", Ty::Conditions, "", "block gate: one must hold");
    out
};

const CHILD_KINDS_NAMES: [&str; 16] = [
    "networkPolicies",
    "serviceAccounts",
    "roles",
    "roleBindings",
    "secrets",
    "configMaps",
    "persistentVolumeClaims",
    "custom",
    "deployments",
    "statefulSets",
    "services",
    "jobs",
    "cronJobs",
    "ingresses",
    "hpa",
    "pdb",
];
static CHILD_TY: [Ty; 16] = [
    Ty::Obj(&NETPOL),
    Ty::Obj(&SERVICE_ACCOUNT),
    Ty::Obj(&ROLE),
    Ty::Obj(&ROLE_BINDING),
    Ty::Obj(&SECRET),
    Ty::Obj(&CONFIGMAP),
    Ty::Obj(&PVC),
    Ty::Obj(CUSTOM),
    Ty::Obj(&DEPLOYMENT),
    Ty::Obj(&STATEFULSET),
    Ty::Obj(&SERVICE),
    Ty::Obj(&JOB_EXTRA),
    Ty::Obj(&CRONJOB),
    Ty::Obj(&INGRESS),
    Ty::Obj(&HPA),
    Ty::Obj(&PDB),
];

static ON_DELETE: &[Field] = &[
    f("jobs", Ty::List(&Ty::Obj(&JOB_EXTRA)), "", "cleanup Jobs"),
    f("timeout", Ty::Str(Coerce::Duration), "5m", "give up after"),
    f("when", Ty::Conditions, "", ""),
    f("or", Ty::Conditions, "", ""),
    later("ordered"),
    later("groups"),
];

static OPERATOR_BOX: &[Field] = &[
    f(
        "reconciler",
        Ty::Obj(RECONCILER),
        "",
        "workers, resync, requeue, queue",
    ),
    f(
        "runtime",
        Ty::Obj(RUNTIME),
        "",
        "deletion protection and namespace lists",
    ),
    f(
        "onCreate",
        Ty::Obj(&BLOCK),
        "",
        "children created (or applied with reconcile: true)",
    ),
    f(
        "onReconcile",
        Ty::Obj(&BLOCK),
        "",
        "children applied every cycle",
    ),
    f(
        "onDelete",
        Ty::Obj(ON_DELETE),
        "",
        "cleanup Jobs before the finalizer is removed",
    ),
    f(
        "status",
        Ty::Obj(STATUS),
        "",
        "conditions and status fields",
    ),
];

pub static CRD_ENTRY: &[Field] = &[
    f("enabled", Ty::Bool, "true", "false: validated, never run"),
    f("description", S, "", "shown by ork validate"),
    f(
        "apiTypes",
        Ty::Obj(API_TYPES),
        "",
        "group, version, kind, plural (required unless crdFile)",
    ),
    f("crdFile", S, "", "CRD manifest read at load"),
    f(
        "crFiles",
        Ty::StrList,
        "",
        "CRs the developer ork run applies",
    ),
    f("namespaced", Ty::Bool, "true", "false: cluster-scoped CR"),
    f("namespace", S, "", "watch only this namespace"),
    f(
        "dependsOn",
        Ty::DependsOn,
        "",
        "start order: {db: healthy} or [db]",
    ),
    f(
        "forceConflict",
        Ty::Bool,
        "true",
        "server-side apply force for children",
    ),
    f(
        "validation",
        Ty::Obj(VALIDATION),
        "",
        "rules at reconcile and admission",
    ),
    f("mutation", Ty::Obj(MUTATION), "", "defaults and overrides"),
    f(
        "webhooks",
        Ty::Obj(WEBHOOK_OPTS),
        "",
        "per-CRD admission opt-outs",
    ),
    f(
        "operatorBox",
        Ty::Obj(OPERATOR_BOX),
        "",
        "reconciler, runtime, onCreate, onReconcile, onDelete, status",
    ),
    f(
        "deletionProtection",
        Ty::Obj(RT_DP),
        "",
        "legacy position of operatorBox.runtime.deletionProtection",
    ),
    f(
        "allowedNamespaces",
        Ty::StrList,
        "",
        "legacy position of operatorBox.runtime.allowedNamespaces",
    ),
    f(
        "restrictedNamespaces",
        Ty::StrList,
        "",
        "legacy position of operatorBox.runtime.restrictedNamespaces",
    ),
    later("labels"),
    later("setup"),
];

/// Condition keys besides the operator shorthands.
pub const CONDITION_KEYS: &[&str] = &["field", "operator", "value", "negate"];
/// Extra keys of a validation rule.
pub const RULE_KEYS: &[&str] = &["message", "action", "when", "or", "fires"];

/// Operator names and their aliases (docs/katalog.md §4), canonical name first.
pub const OPERATORS: &[(&str, &[&str])] = &[
    ("exists", &[]),
    ("notExists", &[]),
    ("equals", &[]),
    ("notEquals", &[]),
    ("prefix", &[]),
    ("notPrefix", &[]),
    ("suffix", &[]),
    ("notSuffix", &[]),
    ("contains", &[]),
    ("notContains", &[]),
    ("regex", &[]),
    ("greaterThan", &["gt"]),
    ("lessThan", &["lt"]),
    ("greaterThanOrEqual", &["gte", "min"]),
    ("lessThanOrEqual", &["lte", "max"]),
    ("between", &[]),
    ("notBetween", &[]),
    ("in", &[]),
    ("notIn", &[]),
    ("typeOf", &[]),
    ("unique", &[]),
];

/// The canonical operator for a name or alias.
pub fn operator(name: &str) -> Option<&'static str> {
    OPERATORS
        .iter()
        .find(|(n, aliases)| *n == name || aliases.contains(&name))
        .map(|(n, _)| *n)
}

/// Fields of a child list key (`deployments`, …).
pub fn child_fields(list_key: &str) -> Option<&'static [Field]> {
    CHILD_KINDS
        .iter()
        .find(|(k, _)| *k == list_key)
        .map(|(_, f)| *f)
}

/// The field table below a dotted path (`operatorBox.onCreate.deployments`), for `ork notes --fields`.
pub fn fields_at(path: &str) -> Option<(&'static [Field], String)> {
    let mut fields: &'static [Field] = KATALOG;
    let mut shown = String::new();
    let mut segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    // `operatorBox...` is a shortcut for `spec.crds.<name>.operatorBox...`
    if segs
        .first()
        .is_some_and(|s| CRD_ENTRY.iter().any(|f| f.name == *s))
    {
        fields = CRD_ENTRY;
        shown.push_str("spec.crds.<name>");
    } else if segs.len() >= 2 && segs[0] == "spec" && segs[1] == "crds" {
        fields = CRD_ENTRY;
        shown.push_str("spec.crds.<name>");
        segs.drain(..segs.len().min(3));
    }
    for seg in segs {
        let field = fields.iter().find(|f| f.name == seg)?;
        if !shown.is_empty() {
            shown.push('.');
        }
        shown.push_str(seg);
        fields = match field.ty {
            Ty::Obj(inner) => inner,
            Ty::List(Ty::Obj(inner)) => inner,
            Ty::MapOf(Ty::Obj(inner)) => inner,
            _ => return None,
        };
    }
    Some((fields, shown))
}

/// A readable type name for messages and docs.
pub fn type_name(ty: &Ty) -> &'static str {
    match ty {
        Ty::Str(Coerce::None | Coerce::Name) => "string",
        Ty::Str(Coerce::Count | Coerce::Positive | Coerce::Percent) => "integer",
        Ty::Str(Coerce::Port) => "port",
        Ty::Str(Coerce::PortOrName) => "port or name",
        Ty::Str(Coerce::IntOrPercent) => "int or percent",
        Ty::Str(Coerce::Bool) => "boolean",
        Ty::Str(Coerce::Quantity) => "quantity",
        Ty::Str(Coerce::Duration) => "duration",
        Ty::Str(Coerce::Enum(_)) => "enum",
        Ty::Str(Coerce::Schedule) => "schedule",
        Ty::Bool => "boolean",
        Ty::Int => "integer",
        Ty::Obj(_) => "map",
        Ty::List(_) => "list",
        Ty::StrList => "list of strings",
        Ty::StrMap => "map of strings",
        Ty::MapOf(_) => "map",
        Ty::Any => "any",
        Ty::DependsOn => "map or list",
        Ty::Conditions => "list of conditions",
        Ty::Scalar => "scalar",
        Ty::Rule => "rule",
        Ty::Later => "not supported yet",
    }
}
