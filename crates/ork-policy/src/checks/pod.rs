//! Pod-bearing objects: where the pod spec sits (docs/checks.md §3), the effective security context
//! (container fields override pod fields; init and ephemeral containers included), and the
//! container and pod checks.

use crate::json::Json;

use super::credentials;
use super::{Automount, Context, Finding, group, kind, namespace};

/// A finding of `check`, built only when the caller wants that check ([`Context::wants`]): its
/// path and message are formatted inside the branch, so pod security and the exec guard do not
/// format the messages of the scan checks they then drop.
macro_rules! push {
    ($ctx:expr, $out:expr, $check:expr, $container:expr, $at:expr, $message:expr $(,)?) => {
        if $ctx.wants($check) {
            super::push($out, $check, $container, $at, $message)
        }
    };
}

/// Where an object keeps its pod spec.
pub(crate) struct PodRef<'a> {
    pub spec: Json<'a>,
    /// dotted path of the pod spec (`spec.template.spec`)
    pub path: &'static str,
    /// the template's annotations and labels, when they are objects
    pub template_annotations: Option<Json<'a>>,
    pub template_labels: Option<Json<'a>>,
    pub kind: &'a str,
}

/// True when the object's group and kind make it a workload (a same-named kind of another
/// group is not one), whether or not it carries a usable pod template.
pub(crate) fn is_workload_kind(obj: Json) -> bool {
    pointers(group(obj), kind(obj)).is_some()
}

/// Where a workload kind keeps its pod spec and template metadata.
fn pointers(g: &str, k: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match (g, k) {
        ("", "Pod") => ("/spec", "/metadata", "spec"),
        ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("", "ReplicationController")
        | ("batch", "Job") => (
            "/spec/template/spec",
            "/spec/template/metadata",
            "spec.template.spec",
        ),
        ("batch", "CronJob") => (
            "/spec/jobTemplate/spec/template/spec",
            "/spec/jobTemplate/spec/template/metadata",
            "spec.jobTemplate.spec.template.spec",
        ),
        ("", "PodTemplate") => ("/template/spec", "/template/metadata", "template.spec"),
        _ => return None,
    })
}

/// The pod spec of a core/apps/batch workload; `None` for other kinds and for a workload
/// whose pod spec is missing or not a map.
pub(crate) fn locate(obj: Json<'_>) -> Option<PodRef<'_>> {
    let k = kind(obj);
    let (spec_ptr, meta_ptr, path) = pointers(group(obj), k)?;
    let spec = obj.at(spec_ptr).filter(|s| s.is_object())?;
    let meta = obj.at(meta_ptr);
    Some(PodRef {
        spec,
        path,
        template_annotations: meta
            .and_then(|m| m.get("annotations"))
            .filter(|a| a.is_object()),
        template_labels: meta.and_then(|m| m.get("labels")).filter(|l| l.is_object()),
        kind: k,
    })
}

struct Container<'a> {
    c: Json<'a>,
    /// the container's `securityContext`, looked up once: every check below reads it
    security_context: Option<Json<'a>>,
    list: &'static str,
    name: String,
    /// `spec.template.spec.containers[app]`
    named: String,
    /// `spec.template.spec.containers[0]`
    indexed: String,
}

impl<'a> Container<'a> {
    fn sc(&self, field: &str) -> Option<Json<'a>> {
        self.security_context
            .and_then(|s| s.get(field))
            .filter(|v| !v.is_null())
    }
}

fn containers<'a>(p: &PodRef<'a>) -> Vec<Container<'a>> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in p
            .spec
            .get(list)
            .into_iter()
            .flat_map(Json::items)
            .enumerate()
        {
            let name = c
                .get("name")
                .and_then(Json::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| i.to_string());
            out.push(Container {
                c,
                security_context: c.get("securityContext"),
                list,
                named: format!("{}.{list}[{name}]", p.path),
                indexed: format!("{}.{list}[{i}]", p.path),
                name,
            });
        }
    }
    out
}

/// A `securityContext` field of a container or of its pod, named for a finding's path.
struct Setting<'a> {
    at: &'a str,
    field: &'static str,
}

impl Setting<'_> {
    fn path(&self) -> String {
        format!("{}.securityContext.{}", self.at, self.field)
    }
}

/// Capability names compare in upper case without `CAP_`.
fn caps(c: &Container, which: &str) -> Vec<String> {
    c.sc("capabilities")
        .and_then(|x| x.get(which))
        .into_iter()
        .flat_map(Json::items)
        .filter_map(Json::as_str)
        .map(|s| {
            let up = s.trim().to_ascii_uppercase();
            up.strip_prefix("CAP_").unwrap_or(&up).to_string()
        })
        .collect()
}

const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_fin_timeout",
];
const SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];
const CORE_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];
const SENSITIVE_PATHS: &[&str] = &[
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/lib",
    "/usr",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
];
const RUNTIME_SOCKETS: &[&str] = &[
    "docker.sock",
    "containerd.sock",
    "crio.sock",
    "cri-dockerd.sock",
];

/// `runtime/default` etc. from the legacy annotations.
fn legacy_profile(v: &str) -> &'static str {
    match v {
        "runtime/default" | "docker/default" => "RuntimeDefault",
        "unconfined" => "Unconfined",
        v if v.starts_with("localhost/") => "Localhost",
        _ => "",
    }
}

fn int(v: Option<Json>) -> Option<i64> {
    v.and_then(Json::as_i64)
}

fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

pub(crate) fn check(obj: Json, p: &PodRef, ctx: &Context, out: &mut Vec<Finding>) {
    let pod = p.spec;
    let psc = pod.get("securityContext");
    let pod_field = |f: &str| psc.and_then(|s| s.get(f)).filter(|v| !v.is_null());
    let windows = pod.at("/os/name").and_then(Json::as_str) == Some("windows");
    let ann = |k: &str| {
        p.template_annotations
            .and_then(|a| a.get(k))
            .and_then(Json::as_str)
    };
    // a legacy per-container annotation: its key is only formatted when there are annotations
    let container_ann = |prefix: &str, container: &str| {
        p.template_annotations
            .is_some_and(|a| !a.is_empty())
            .then(|| ann(&format!("{prefix}{container}")))
            .flatten()
    };
    let pp = p.path;
    let probe_scope = matches!(
        p.kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController"
    );

    for c in containers(p) {
        let cn = Some(c.name.as_str());
        let (named, idx) = (&c.named, &c.indexed);
        let mut local: Vec<Finding> = Vec::new();
        let l = &mut local;
        // --- container-only fields
        if c.sc("privileged").is_some_and(Json::is_true) {
            push!(
                ctx,
                l,
                "privileged-container",
                cn,
                &format!("{idx}.securityContext.privileged"),
                format!("{named}.securityContext.privileged is true"),
            );
        }
        let add = caps(&c, "add");
        let add_at = Setting {
            at: idx,
            field: "capabilities.add",
        };
        if add.iter().any(|x| x == "SYS_ADMIN") {
            push!(
                ctx,
                l,
                "cap-sys-admin",
                cn,
                &add_at.path(),
                format!("{named}.securityContext.capabilities.add contains SYS_ADMIN"),
            );
        }
        if !windows {
            if add.iter().any(|x| x == "NET_RAW") {
                push!(
                    ctx,
                    l,
                    "net-raw-capability",
                    cn,
                    &add_at.path(),
                    format!("{named}.securityContext.capabilities.add contains NET_RAW"),
                );
            }
            let dangerous: Vec<&String> = add
                .iter()
                .filter(|x| {
                    *x == "ALL"
                        || (!BASELINE_CAPS.contains(&x.as_str())
                            && *x != "SYS_ADMIN"
                            && *x != "NET_RAW")
                })
                .collect();
            if !dangerous.is_empty() {
                let list: Vec<&str> = dangerous.iter().map(|s| s.as_str()).collect();
                push!(
                    ctx,
                    l,
                    "dangerous-capability",
                    cn,
                    &add_at.path(),
                    format!(
                        "{named}.securityContext.capabilities.add contains {}",
                        list.join(", ")
                    ),
                );
            }
            let added: Vec<&String> = add
                .iter()
                .filter(|x| BASELINE_CAPS.contains(&x.as_str()) && *x != "NET_BIND_SERVICE")
                .collect();
            if !added.is_empty() {
                let list: Vec<&str> = added.iter().map(|s| s.as_str()).collect();
                push!(
                    ctx,
                    l,
                    "capability-added",
                    cn,
                    &add_at.path(),
                    format!(
                        "{named}.securityContext.capabilities.add contains {}",
                        list.join(", ")
                    ),
                );
            }
            if !caps(&c, "drop").iter().any(|x| x == "ALL") {
                push!(
                    ctx,
                    l,
                    "capabilities-not-dropped",
                    cn,
                    &format!("{idx}.securityContext"),
                    format!("{named}.securityContext.capabilities.drop does not contain ALL"),
                );
            }
            if !c.sc("allowPrivilegeEscalation").is_some_and(Json::is_false) {
                push!(
                    ctx,
                    l,
                    "privilege-escalation-allowed",
                    cn,
                    &format!("{idx}.securityContext"),
                    format!("{named}.securityContext.allowPrivilegeEscalation is not false"),
                );
            }
        }
        if !c.sc("readOnlyRootFilesystem").is_some_and(Json::is_true) {
            push!(
                ctx,
                l,
                "writable-root-filesystem",
                cn,
                &format!("{idx}.securityContext"),
                format!("{named}.securityContext.readOnlyRootFilesystem is not true"),
            );
        }
        if let Some(pm) = c.sc("procMount").and_then(Json::as_str)
            && pm != "Default"
        {
            push!(
                ctx,
                l,
                "proc-mount-unmasked",
                cn,
                &format!("{idx}.securityContext.procMount"),
                format!("{named}.securityContext.procMount is {pm}"),
            );
        }
        // --- inherited fields: the container value when set, else the pod value
        // (value, where it is set): the path is only formatted for a finding
        let eff = |f: &'static str| -> (Option<Json>, Setting) {
            match c.sc(f) {
                Some(v) => (Some(v), Setting { at: idx, field: f }),
                None => (pod_field(f), Setting { at: pp, field: f }),
            }
        };
        let (uid, uid_at) = eff("runAsUser");
        let (non_root, _) = eff("runAsNonRoot");
        let non_root = non_root.is_some_and(Json::is_true);
        let uid = int(uid);
        match uid {
            Some(0) => push!(
                ctx,
                l,
                "run-as-root",
                cn,
                &uid_at.path(),
                format!("{named}: effective runAsUser is 0"),
            ),
            None if !non_root => push!(
                ctx,
                l,
                "run-as-root",
                cn,
                &idx.to_string(),
                format!("{named}: effective runAsNonRoot is not true and runAsUser is unset"),
            ),
            Some(u) if u > 0 => {
                if !non_root {
                    push!(
                        ctx,
                        l,
                        "run-as-non-root-unset",
                        cn,
                        &uid_at.path(),
                        format!("{named}: runAsUser {u} without runAsNonRoot: true"),
                    );
                }
                if u < 10000 {
                    push!(
                        ctx,
                        l,
                        "low-uid",
                        cn,
                        &uid_at.path(),
                        format!("{named}: effective runAsUser {u} is below 10000"),
                    );
                }
            }
            _ => {}
        }
        let (gid, gid_at) = eff("runAsGroup");
        if int(gid) == Some(0) {
            push!(
                ctx,
                l,
                "root-group",
                cn,
                &gid_at.path(),
                format!("{named}: effective runAsGroup is 0"),
            );
        }
        let (seccomp, seccomp_at) = eff("seccompProfile");
        let seccomp_type = seccomp
            .and_then(|s| s.get("type"))
            .and_then(Json::as_str)
            .map(str::to_string)
            .or_else(|| {
                container_ann("container.seccomp.security.alpha.kubernetes.io/", &c.name)
                    .or_else(|| ann("seccomp.security.alpha.kubernetes.io/pod"))
                    .map(|v| legacy_profile(v).to_string())
            });
        match seccomp_type.as_deref() {
            Some("Unconfined") => push!(
                ctx,
                l,
                "seccomp-unconfined",
                cn,
                &seccomp_at.path(),
                format!("{named}: effective seccompProfile is Unconfined"),
            ),
            None | Some("") if !windows => push!(
                ctx,
                l,
                "seccomp-profile-missing",
                cn,
                &idx.to_string(),
                format!("{named}: no seccompProfile (container or pod)"),
            ),
            _ => {}
        }
        let (apparmor, aa_at) = eff("appArmorProfile");
        let aa = apparmor
            .and_then(|s| s.get("type"))
            .and_then(Json::as_str)
            .map(str::to_string)
            .or_else(|| {
                container_ann("container.apparmor.security.beta.kubernetes.io/", &c.name)
                    .map(|v| legacy_profile(v).to_string())
            });
        if aa.as_deref() == Some("Unconfined") {
            push!(
                ctx,
                l,
                "apparmor-unconfined",
                cn,
                &aa_at.path(),
                format!("{named}: effective AppArmor profile is Unconfined"),
            );
        }
        let (selinux, se_at) = eff("seLinuxOptions");
        if let Some(se) = selinux {
            let custom_user_role = se.get("user").is_some_and(|v| !v.is_null())
                || se.get("role").is_some_and(|v| !v.is_null());
            let bad_type = se
                .get("type")
                .and_then(Json::as_str)
                .is_some_and(|t| !SELINUX_TYPES.contains(&t));
            if custom_user_role || bad_type {
                push!(
                    ctx,
                    l,
                    "selinux-custom-options",
                    cn,
                    &se_at.path(),
                    format!("{named}: custom seLinuxOptions"),
                );
            }
        }
        // windowsOptions merge field by field
        let host_process = c
            .sc("windowsOptions")
            .and_then(|w| w.get("hostProcess"))
            .or_else(|| pod_field("windowsOptions").and_then(|w| w.get("hostProcess")));
        if host_process.is_some_and(Json::is_true) {
            push!(
                ctx,
                l,
                "host-process",
                cn,
                &idx.to_string(),
                format!("{named}: windowsOptions.hostProcess is true"),
            );
        }
        // --- ports and resources: not on ephemeral containers (the API forbids them there)
        if c.list != "ephemeralContainers" {
            for (i, port) in
                c.c.get("ports")
                    .into_iter()
                    .flat_map(Json::items)
                    .enumerate()
            {
                if let Some(hp) = int(port.get("hostPort")).filter(|h| *h != 0) {
                    push!(
                        ctx,
                        l,
                        "host-port",
                        cn,
                        &format!("{idx}.ports[{i}].hostPort"),
                        format!("{named}.ports[{i}].hostPort is {hp}"),
                    );
                }
                if let Some(cp) = int(port.get("containerPort")).filter(|p| *p < 1024) {
                    push!(
                        ctx,
                        l,
                        "privileged-port",
                        cn,
                        &format!("{idx}.ports[{i}].containerPort"),
                        format!("{named}.ports[{i}].containerPort is {cp}"),
                    );
                }
            }
            for (field, check) in [
                ("/resources/limits/cpu", "cpu-limits-missing"),
                ("/resources/requests/cpu", "cpu-requests-missing"),
                ("/resources/limits/memory", "memory-limits-missing"),
                ("/resources/requests/memory", "memory-requests-missing"),
            ] {
                if c.c.at(field).is_none_or(Json::is_null) {
                    let dotted = field.trim_start_matches('/').replace('/', ".");
                    push!(
                        ctx,
                        l,
                        check,
                        cn,
                        idx,
                        format!("{named}.{dotted} is not set")
                    );
                }
            }
        }
        if c.list == "containers" && probe_scope {
            if c.c.get("livenessProbe").is_none_or(Json::is_null) {
                push!(
                    ctx,
                    l,
                    "liveness-probe-missing",
                    cn,
                    idx,
                    format!("{named}.livenessProbe is not set"),
                );
            }
            if c.c.get("readinessProbe").is_none_or(Json::is_null) {
                push!(
                    ctx,
                    l,
                    "readiness-probe-missing",
                    cn,
                    idx,
                    format!("{named}.readinessProbe is not set"),
                );
            }
        }
        // --- image
        let image = c.c.get("image").and_then(Json::as_str).unwrap_or("");
        let (tag, digest) = image_tag(image);
        if !digest {
            if tag.is_none() || tag == Some("latest") {
                push!(
                    ctx,
                    l,
                    "image-latest-tag",
                    cn,
                    &format!("{idx}.image"),
                    format!("{named}.image {image} has no version tag"),
                );
            } else {
                push!(
                    ctx,
                    l,
                    "image-no-digest",
                    cn,
                    &format!("{idx}.image"),
                    format!("{named}.image {image} is not pinned by digest"),
                );
            }
        }
        // --- env and credentials
        if !ctx.skip_credentials {
            credentials::container(c.c, named, idx, cn, l);
        }
        // subsumption: the API rejects allowPrivilegeEscalation: false with privileged or SYS_ADMIN
        if l.iter()
            .any(|f| f.check == "privileged-container" || f.check == "cap-sys-admin")
        {
            l.retain(|f| f.check != "privilege-escalation-allowed");
        }
        out.append(&mut local);
    }

    // --- pod-level fields
    for (field, check) in [
        ("hostPID", "host-pid"),
        ("hostIPC", "host-ipc"),
        ("hostNetwork", "host-network"),
    ] {
        if pod.get(field).is_some_and(Json::is_true) {
            push!(
                ctx,
                out,
                check,
                None,
                &format!("{pp}.{field}"),
                format!("{pp}.{field} is true"),
            );
        }
    }
    if pod
        .get("hostAliases")
        .is_some_and(|a| a.is_array() && !a.is_empty())
    {
        push!(
            ctx,
            out,
            "host-aliases",
            None,
            &format!("{pp}.hostAliases"),
            format!("{pp}.hostAliases is set"),
        );
    }
    // Pod Security Standards restricted forbids a pod-level Unconfined profile even when every
    // container sets its own: reported here when no container inherited it (those are above)
    if pod_field("seccompProfile")
        .and_then(|s| s.get("type"))
        .and_then(Json::as_str)
        == Some("Unconfined")
        && !out.iter().any(|f| f.check == "seccomp-unconfined")
    {
        push!(
            ctx,
            out,
            "seccomp-unconfined",
            None,
            &format!("{pp}.securityContext.seccompProfile"),
            format!("{pp}.securityContext.seccompProfile is Unconfined"),
        );
    }
    if int(pod_field("fsGroup")) == Some(0) {
        push!(
            ctx,
            out,
            "root-group",
            None,
            &format!("{pp}.securityContext.fsGroup"),
            format!("{pp}.securityContext.fsGroup is 0"),
        );
    }
    if pod_field("supplementalGroups").is_some_and(|g| g.items().any(|x| x.as_i64() == Some(0))) {
        push!(
            ctx,
            out,
            "root-group",
            None,
            &format!("{pp}.securityContext.supplementalGroups"),
            format!("{pp}.securityContext.supplementalGroups contains 0"),
        );
    }
    for (i, s) in pod_field("sysctls")
        .into_iter()
        .flat_map(Json::items)
        .enumerate()
    {
        let n = s.get("name").and_then(Json::as_str).unwrap_or("");
        if !SAFE_SYSCTLS.contains(&n) {
            push!(
                ctx,
                out,
                "unsafe-sysctls",
                None,
                &format!("{pp}.securityContext.sysctls[{i}]"),
                format!("{pp}.securityContext.sysctls[{i}] {n} is not a safe sysctl"),
            );
        }
    }
    for (i, v) in pod
        .get("volumes")
        .into_iter()
        .flat_map(Json::items)
        .enumerate()
    {
        let vname = v.get("name").and_then(Json::as_str).unwrap_or("");
        let at = format!("{pp}.volumes[{i}]");
        let named = format!("{pp}.volumes[{vname}]");
        if let Some(hp) = v.at("/hostPath/path").and_then(Json::as_str) {
            let norm = normalise(hp);
            let socket = RUNTIME_SOCKETS
                .iter()
                .any(|s| norm.ends_with(&format!("/{s}")))
                || norm == "/var/run"
                || norm == "/run";
            let sensitive = norm == "/"
                || SENSITIVE_PATHS
                    .iter()
                    .any(|s| norm == *s || norm.starts_with(&format!("{s}/")));
            if socket {
                push!(
                    ctx,
                    out,
                    "docker-socket-mount",
                    None,
                    &format!("{at}.hostPath.path"),
                    format!("{named}.hostPath.path {hp} exposes the container runtime"),
                );
            } else if sensitive {
                push!(
                    ctx,
                    out,
                    "host-path-sensitive",
                    None,
                    &format!("{at}.hostPath.path"),
                    format!("{named}.hostPath.path {hp} is a sensitive host path"),
                );
            } else {
                push!(
                    ctx,
                    out,
                    "host-path-volume",
                    None,
                    &format!("{at}.hostPath"),
                    format!("{named} mounts hostPath {hp}"),
                );
            }
            continue;
        }
        // any source other than the core ones, whatever the order of the keys (the API allows
        // one source per volume; a hostile manifest may name several)
        if let Some(ty) = v.keys().find(|k| *k != "name" && !CORE_VOLUMES.contains(k)) {
            push!(
                ctx,
                out,
                "non-core-volume-type",
                None,
                &at,
                format!("{named} is a {ty} volume"),
            );
        }
    }
    // --- service account
    let sa = service_account(pod);
    if sa.is_none_or(|s| s == "default") {
        push!(
            ctx,
            out,
            "default-service-account",
            None,
            pp,
            format!(
                "{pp}.serviceAccountName is {}",
                if sa.is_some() { "default" } else { "not set" }
            ),
        );
    }
    if !ctx.defer_automount
        && let Some(a) = automount(obj, p)
        && ctx.flags(&a)
    {
        out.push(a.finding);
    }
}

/// `serviceAccountName`, or the legacy `serviceAccount`, when set and not empty.
fn service_account<'a>(pod: Json<'a>) -> Option<&'a str> {
    pod.get("serviceAccountName")
        .or_else(|| pod.get("serviceAccount"))
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

/// What `automount-service-account-token` needs to decide on a pod that does not set
/// `automountServiceAccountToken: false` (the decision is [`Context::flags`]).
pub(crate) fn automount(obj: Json, p: &PodRef) -> Option<Automount> {
    let setting = p.spec.get("automountServiceAccountToken");
    if setting.is_some_and(Json::is_false) {
        return None;
    }
    let pp = p.path;
    Some(Automount {
        namespace: namespace(obj).to_string(),
        service_account: service_account(p.spec).unwrap_or("default").to_string(),
        explicit: setting.is_some_and(Json::is_true),
        finding: Finding {
            check: "automount-service-account-token",
            container: None,
            message: format!("{pp}.automountServiceAccountToken is not false"),
            at: pp.to_string(),
        },
    })
}

/// The tag of an image reference (after the last `:` of the last path segment) and whether it
/// is pinned by a `@sha256:` digest.
pub(crate) fn image_tag(image: &str) -> (Option<&str>, bool) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, d.starts_with("sha256:")),
        None => (image, false),
    };
    let last = rest.rsplit('/').next().unwrap_or(rest);
    (
        last.split_once(':')
            .map(|(_, t)| t)
            .filter(|t| !t.is_empty()),
        digest,
    )
}
