//! The check catalogue (docs/checks.md §2): stable ids, severities, triggers, remediations and the
//! equivalent checks of Trivy, Checkov and KubeLinter. Ids are never reused or renamed.

use ork_katalog::PodSecurityLevel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// One check of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub id: &'static str,
    pub severity: Severity,
    pub trigger: &'static str,
    pub remediation: &'static str,
    pub trivy: &'static str,
    pub checkov: &'static str,
    pub kube_linter: &'static str,
}

const fn c(
    id: &'static str,
    severity: Severity,
    trigger: &'static str,
    remediation: &'static str,
    trivy: &'static str,
    checkov: &'static str,
    kube_linter: &'static str,
) -> Check {
    Check {
        id,
        severity,
        trigger,
        remediation,
        trivy,
        checkov,
        kube_linter,
    }
}

use Severity::{Critical, High, Low, Medium};

pub static CATALOGUE: &[Check] = &[
    c(
        "privileged-container",
        Critical,
        "c.sc.privileged: true",
        "Remove privileged; add only the capability the process needs",
        "KSV-0017",
        "CKV_K8S_16",
        "privileged-container",
    ),
    c(
        "privilege-escalation-allowed",
        High,
        "c.sc.allowPrivilegeEscalation is not explicitly false (unset counts: the Linux default is true)",
        "Set allowPrivilegeEscalation: false",
        "KSV-0001",
        "CKV_K8S_20",
        "privilege-escalation-container",
    ),
    c(
        "cap-sys-admin",
        Critical,
        "c.sc.capabilities.add contains SYS_ADMIN",
        "Remove SYS_ADMIN; move the privileged step out of the workload",
        "KSV-0005",
        "CKV_K8S_39",
        "~verify-container-capabilities (template)",
    ),
    c(
        "net-raw-capability",
        High,
        "c.sc.capabilities.add contains NET_RAW",
        "Remove NET_RAW from add and drop ALL",
        "KSV-0119",
        "~CKV_K8S_28",
        "~drop-net-raw-capability",
    ),
    c(
        "dangerous-capability",
        High,
        "add contains ALL or any capability outside the PSS baseline set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT), SYS_ADMIN and NET_RAW excepted",
        "Remove the capability",
        "~KSV-0120, ~KSV-0022",
        "~CKV_K8S_25",
        "",
    ),
    c(
        "capability-added",
        Low,
        "add contains a baseline-set capability other than NET_BIND_SERVICE",
        "Remove it; keep drop ALL, add at most NET_BIND_SERVICE",
        "~KSV-0106",
        "CKV_K8S_25",
        "",
    ),
    c(
        "capabilities-not-dropped",
        Medium,
        "c.sc.capabilities.drop does not contain ALL",
        "Add capabilities.drop: [ALL]",
        "KSV-0003 (KSV-0004 if drop is empty)",
        "CKV_K8S_37",
        "",
    ),
    c(
        "run-as-root",
        High,
        "eff.runAsUser == 0, or eff.runAsNonRoot ≠ true while eff.runAsUser is unset",
        "Set runAsNonRoot: true and a non-zero runAsUser",
        "KSV-0012, KSV-0105",
        "CKV_K8S_23",
        "run-as-non-root",
    ),
    c(
        "run-as-non-root-unset",
        Low,
        "eff.runAsUser > 0 but eff.runAsNonRoot ≠ true",
        "Also set runAsNonRoot: true (PSS restricted requires it)",
        "",
        "",
        "~run-as-non-root",
    ),
    c(
        "low-uid",
        Low,
        "eff.runAsUser in 1–9999",
        "Run as UID ≥ 10000",
        "KSV-0020",
        "CKV_K8S_40",
        "",
    ),
    c(
        "root-group",
        Low,
        "eff.runAsGroup == 0, pod.sc.fsGroup == 0, or pod.sc.supplementalGroups contains 0",
        "Use non-zero GIDs",
        "KSV-0116",
        "",
        "~run-as-non-root",
    ),
    c(
        "writable-root-filesystem",
        Medium,
        "c.sc.readOnlyRootFilesystem ≠ true",
        "Set it to true; mount emptyDir where writes are needed",
        "KSV-0014",
        "CKV_K8S_22",
        "no-read-only-root-fs",
    ),
    c(
        "seccomp-profile-missing",
        Medium,
        "eff.seccompProfile.type unset and no legacy seccomp annotation (§3)",
        "Set seccompProfile.type: RuntimeDefault on the pod",
        "KSV-0030",
        "CKV_K8S_31",
        "",
    ),
    c(
        "seccomp-unconfined",
        High,
        "eff.seccompProfile.type: Unconfined, or legacy annotation unconfined",
        "Use RuntimeDefault or Localhost",
        "KSV-0104",
        "",
        "",
    ),
    c(
        "apparmor-unconfined",
        High,
        "eff.appArmorProfile.type: Unconfined, or annotation container.apparmor.security.beta.kubernetes.io/<c>: unconfined",
        "Use RuntimeDefault or Localhost",
        "~KSV-0002",
        "",
        "",
    ),
    c(
        "selinux-custom-options",
        Medium,
        "eff.seLinuxOptions.user or .role set, or .type not in {container_t, container_init_t, container_kvm_t, container_engine_t}",
        "Remove the custom SELinux options",
        "KSV-0025",
        "",
        "",
    ),
    c(
        "proc-mount-unmasked",
        High,
        "c.sc.procMount set and not Default",
        "Remove procMount",
        "KSV-0027",
        "",
        "unsafe-proc-mount",
    ),
    c(
        "unsafe-sysctls",
        High,
        "pod.sc.sysctls[].name outside the safe set (§4)",
        "Remove; tune the node instead",
        "KSV-0026",
        "",
        "unsafe-sysctls",
    ),
    c(
        "host-process",
        Critical,
        "eff.windowsOptions.hostProcess: true",
        "Remove hostProcess",
        "KSV-0103",
        "",
        "",
    ),
    c(
        "host-pid",
        High,
        "pod.hostPID: true",
        "Remove hostPID",
        "KSV-0010",
        "CKV_K8S_17",
        "host-pid",
    ),
    c(
        "host-ipc",
        High,
        "pod.hostIPC: true",
        "Remove hostIPC",
        "KSV-0008",
        "CKV_K8S_18",
        "host-ipc",
    ),
    c(
        "host-network",
        High,
        "pod.hostNetwork: true",
        "Remove hostNetwork; expose through a Service",
        "KSV-0009",
        "CKV_K8S_19",
        "host-network",
    ),
    c(
        "host-port",
        Medium,
        "c.ports[].hostPort set and ≠ 0",
        "Remove hostPort; use a Service",
        "KSV-0024",
        "CKV_K8S_26",
        "",
    ),
    c(
        "host-aliases",
        Low,
        "pod.hostAliases non-empty",
        "Resolve names through DNS/Services",
        "KSV-0007",
        "",
        "",
    ),
    c(
        "host-path-volume",
        Medium,
        "a pod.volumes[].hostPath not reported by the next two rows",
        "Use a PVC, emptyDir, configMap or CSI volume",
        "KSV-0023",
        "",
        "~writable-host-mount",
    ),
    c(
        "host-path-sensitive",
        High,
        "normalised hostPath.path is / or equals or lies under /etc, /proc, /sys, /dev, /boot, /root, /lib, /usr, /var/lib/kubelet, /var/lib/docker, /var/lib/containerd",
        "Remove the mount",
        "KSV-0121",
        "",
        "sensitive-host-mounts",
    ),
    c(
        "docker-socket-mount",
        Critical,
        "hostPath.path ends in docker.sock, containerd.sock, crio.sock or cri-dockerd.sock, or is /var/run or /run",
        "Remove; never expose the container runtime socket",
        "KSV-0006",
        "CKV_K8S_27",
        "docker-sock",
    ),
    c(
        "non-core-volume-type",
        Low,
        "a volume whose type is outside {configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret}; hostPath is excepted (rows above)",
        "Use a PVC backed by a StorageClass",
        "KSV-0028",
        "",
        "",
    ),
    c(
        "privileged-port",
        Low,
        "c.ports[].containerPort < 1024",
        "Listen on ≥ 1024 and map the port in the Service",
        "KSV-0117",
        "",
        "privileged-ports",
    ),
    c(
        "cpu-limits-missing",
        Low,
        "c.resources.limits.cpu unset (containers and initContainers)",
        "Set a CPU limit",
        "KSV-0011",
        "CKV_K8S_11",
        "unset-cpu-requirements",
    ),
    c(
        "cpu-requests-missing",
        Low,
        "c.resources.requests.cpu unset (same scope)",
        "Set a CPU request",
        "KSV-0015",
        "CKV_K8S_10",
        "unset-cpu-requirements",
    ),
    c(
        "memory-limits-missing",
        Medium,
        "c.resources.limits.memory unset (same scope)",
        "Set a memory limit",
        "KSV-0018",
        "CKV_K8S_13",
        "unset-memory-requirements",
    ),
    c(
        "memory-requests-missing",
        Low,
        "c.resources.requests.memory unset (same scope)",
        "Set a memory request",
        "KSV-0016",
        "CKV_K8S_12",
        "unset-memory-requirements",
    ),
    c(
        "liveness-probe-missing",
        Low,
        "livenessProbe unset on an entry of pod.containers of a Deployment, StatefulSet, DaemonSet, ReplicaSet or ReplicationController",
        "Add a livenessProbe",
        "",
        "CKV_K8S_8",
        "no-liveness-probe",
    ),
    c(
        "readiness-probe-missing",
        Low,
        "readinessProbe unset (same scope)",
        "Add a readinessProbe",
        "",
        "CKV_K8S_9",
        "no-readiness-probe",
    ),
    c(
        "image-latest-tag",
        Medium,
        "the tag of c.image (§4) is latest or absent, and there is no @sha256: digest",
        "Pin a version tag, ideally a digest",
        "KSV-0013",
        "CKV_K8S_14",
        "latest-tag",
    ),
    c(
        "image-no-digest",
        Low,
        "c.image has no @sha256: digest",
        "Pin the image by digest",
        "",
        "CKV_K8S_43",
        "",
    ),
    c(
        "automount-service-account-token",
        Medium,
        "pod.automountServiceAccountToken ≠ false, unless the named ServiceAccount is in the scanned set and sets it false",
        "Set automountServiceAccountToken: false unless the pod calls the API",
        "KSV-0036",
        "CKV_K8S_38",
        "",
    ),
    c(
        "default-service-account",
        Medium,
        "pod.serviceAccountName (or legacy serviceAccount) is unset or default; or ServiceAccount default leaves automount on; or a binding's subject is ServiceAccount default",
        "Give each workload its own ServiceAccount",
        "",
        "CKV_K8S_41, CKV_K8S_42",
        "default-service-account",
    ),
    c(
        "hardcoded-credential",
        Critical,
        "a value matches a credential pattern (§4) in c.env[].value, c.command, c.args, ConfigMap data or any annotation",
        "Move the value to a Secret and rotate the exposed credential",
        "~KSV-0109",
        "",
        "",
    ),
    c(
        "env-secret-literal",
        High,
        "c.env[].value is a non-empty literal and c.env[].name matches the sensitive-name pattern (§4)",
        "Use valueFrom.secretKeyRef or a mounted Secret",
        "",
        "",
        "env-var-secret",
    ),
    c(
        "secret-string-data",
        High,
        "a Secret with non-empty stringData",
        "Keep secret values out of manifests (external or sealed secrets)",
        "",
        "",
        "",
    ),
    c(
        "configmap-credential",
        High,
        "a ConfigMap data key matches the sensitive-name pattern and has a non-empty value",
        "Move the value to a Secret",
        "KSV-0109, ~KSV-01010",
        "",
        "",
    ),
    c(
        "secret-env-reference",
        Low,
        "c.env[].valueFrom.secretKeyRef or c.envFrom[].secretRef",
        "Mount the Secret as a file",
        "",
        "CKV_K8S_35",
        "read-secret-from-env-var",
    ),
    c(
        "rbac-full-wildcard",
        Critical,
        "a Role/ClusterRole rule with * in verbs, resources and apiGroups, or * in both nonResourceURLs and verbs",
        "Enumerate groups, resources and verbs",
        "KSV-0044, KSV-0046",
        "CKV_K8S_49",
        "wildcard-in-rules",
    ),
    c(
        "rbac-wildcard-verbs",
        High,
        "rules[].verbs contains *",
        "List the verbs needed",
        "KSV-0045",
        "CKV_K8S_49",
        "wildcard-in-rules",
    ),
    c(
        "rbac-wildcard-resources",
        High,
        "rules[].resources contains *",
        "List the resources needed",
        "~KSV-0046",
        "CKV_K8S_49",
        "wildcard-in-rules",
    ),
    c(
        "rbac-wildcard-api-groups",
        Medium,
        "rules[].apiGroups contains *",
        "List the API groups needed",
        "",
        "CKV_K8S_49",
        "wildcard-in-rules",
    ),
    c(
        "rbac-escalate",
        Critical,
        "verb escalate on roles or clusterroles",
        "Remove it; pre-grant the permissions the role must hand out",
        "KSV-0050",
        "CKV_K8S_158",
        "",
    ),
    c(
        "rbac-bind",
        Critical,
        "verb bind on roles or clusterroles",
        "Remove it; bind through an audited admin path",
        "~KSV-0050",
        "CKV_K8S_157",
        "",
    ),
    c(
        "rbac-impersonate",
        Critical,
        "verb impersonate on users, groups, serviceaccounts, uids or userextras/*",
        "Remove impersonation",
        "~KSV-0043",
        "CKV2_K8S_3",
        "",
    ),
    c(
        "rbac-secrets-read",
        High,
        "a ClusterRole grants get, list or watch on core secrets",
        "Use a namespaced Role with resourceNames",
        "KSV-0041",
        "~CKV2_K8S_5",
        "access-to-secrets",
    ),
    c(
        "rbac-pods-exec",
        High,
        "create or get on pods/exec or pods/attach (get is enough for WebSocket exec on older API servers)",
        "Remove; use audited break-glass access",
        "KSV-0053, KSV-0054",
        "CKV2_K8S_2",
        "",
    ),
    c(
        "rbac-nodes-proxy",
        High,
        "get or create on nodes/proxy",
        "Remove",
        "KSV-0047",
        "CKV2_K8S_2",
        "",
    ),
    c(
        "rbac-webhook-config-write",
        High,
        "create, update, patch, delete or deletecollection on validating/mutatingwebhookconfigurations or validatingadmissionpolicies(+bindings), without resourceNames",
        "Restrict the rule to named objects",
        "KSV-0114",
        "CKV_K8S_155",
        "",
    ),
    c(
        "rbac-admission-config-writer",
        High,
        "`ork rbac audit` only: a subject bound by a ClusterRoleBinding to create, update, patch, delete or deletecollection validating/mutatingwebhookconfigurations or validatingadmissionpolicies(+bindings) (`*` and aggregation included; resourceNames only when they name ork's objects), other than a breakGlassGroups group or the Gateway ServiceAccount",
        "Restrict writes on admissionregistration.k8s.io to breakGlassGroups: the subject can delete the guard's binding, then the webhook configurations",
        "~KSV-0114",
        "~CKV_K8S_155",
        "",
    ),
    c(
        "rbac-operator-namespace-writer",
        High,
        "`ork rbac audit` only: a subject bound in ork's namespace (a RoleBinding there or a ClusterRoleBinding) to create pods, pods/exec, pods/attach, serviceaccounts/token or workloads, or to update or patch ork's Deployments or their scale (`*`, aggregation and the built-in cluster-admin included), other than a breakGlassGroups group, ork's own ServiceAccounts or the cluster's control-plane identities",
        "Keep write access to ork's namespace to the installer and breakGlassGroups: the subject can run as ork's ServiceAccounts (which the guard trusts) or scale the Gateway to 0",
        "",
        "",
        "",
    ),
    c(
        "rbac-anonymous-binding",
        Critical,
        "a RoleBinding/ClusterRoleBinding subject is User system:anonymous or Group system:unauthenticated",
        "Remove the subject",
        "KSV-0122",
        "",
        "",
    ),
    c(
        "rbac-authenticated-binding",
        High,
        "subject Group system:authenticated bound to a role other than system:basic-user, system:discovery or system:public-info-viewer",
        "Bind a specific group",
        "KSV-01011",
        "",
        "",
    ),
    c(
        "rbac-system-masters-binding",
        Critical,
        "subject Group system:masters",
        "Remove; system:masters bypasses RBAC",
        "KSV-0123",
        "",
        "",
    ),
    c(
        "rbac-cluster-admin-sa",
        Critical,
        "roleRef ClusterRole cluster-admin with a ServiceAccount subject",
        "Grant a least-privilege role instead",
        "~KSV-0111",
        "",
        "~cluster-admin-role-binding",
    ),
    c(
        "service-nodeport",
        Medium,
        "Service spec.type: NodePort",
        "Use ClusterIP behind an Ingress or Gateway",
        "",
        "",
        "exposed-services",
    ),
    c(
        "service-loadbalancer",
        Medium,
        "spec.type: LoadBalancer with no loadBalancerSourceRanges",
        "Restrict source ranges or use an internal load balancer",
        "",
        "",
        "exposed-services",
    ),
    c(
        "service-external-ips",
        High,
        "Service spec.externalIPs non-empty",
        "Remove externalIPs (CVE-2020-8554)",
        "KSV-0108",
        "",
        "",
    ),
    c(
        "ingress-without-tls",
        Medium,
        "an Ingress without spec.tls, or with a spec.rules[].host not covered by any spec.tls[].hosts entry (*.d covers one label)",
        "Add TLS for every host",
        "",
        "",
        "",
    ),
    c(
        "missing-network-policy",
        Medium,
        "set-level: a pod-bearing workload with no NetworkPolicy in its namespace, in the same scan, whose podSelector selects its template labels and whose policy types include Ingress",
        "Add a default-deny policy plus explicit allows",
        "",
        "CKV2_K8S_6",
        "non-isolated-pod",
    ),
    c(
        "default-namespace",
        Low,
        "metadata.namespace: default on a namespaced object",
        "Use a dedicated namespace",
        "~KSV-0110",
        "~CKV_K8S_21",
        "use-namespace",
    ),
    c(
        "suppression-without-reason",
        Medium,
        "an ork.io/ignore-check.<id> annotation with an empty or blank value",
        "Write the reason into the annotation value",
        "",
        "",
        "",
    ),
    c(
        "katalog-render-failed",
        High,
        "a CR of a scanned Katalog ends its cycle Ready=False (validation, values, pod security): its children are not scanned",
        "Fix the Katalog or the CR; `ork template -f KATALOG --cr CR` shows the reason",
        "",
        "",
        "",
    ),
    c(
        "suppression-unknown-check",
        Low,
        "an ork.io/ignore-check.<id> annotation whose id is not in this catalogue",
        "Correct the id",
        "",
        "",
        "",
    ),
];

pub fn check(id: &str) -> Option<&'static Check> {
    CATALOGUE.iter().find(|c| c.id == id)
}

/// The Pod Security Standards baseline (docs/checks.md §5).
const BASELINE: &[&str] = &[
    "host-process",
    "host-pid",
    "host-ipc",
    "host-network",
    "privileged-container",
    "cap-sys-admin",
    "net-raw-capability",
    "dangerous-capability",
    "host-path-volume",
    "host-path-sensitive",
    "docker-socket-mount",
    "host-port",
    "apparmor-unconfined",
    "selinux-custom-options",
    "proc-mount-unmasked",
    "seccomp-unconfined",
    "unsafe-sysctls",
];

/// What `restricted` adds to the baseline.
const RESTRICTED_EXTRA: &[&str] = &[
    "non-core-volume-type",
    "privilege-escalation-allowed",
    "run-as-root",
    "run-as-non-root-unset",
    "seccomp-profile-missing",
    "capabilities-not-dropped",
    "capability-added",
];

static RESTRICTED: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| BASELINE.iter().chain(RESTRICTED_EXTRA).copied().collect());

/// The checks `security.podSecurity.level` enforces (docs/checks.md §5); `privileged` enforces
/// none. The match is exhaustive: a level ork does not know cannot reach here.
pub fn level_checks(level: PodSecurityLevel) -> &'static [&'static str] {
    match level {
        PodSecurityLevel::Baseline => BASELINE,
        PodSecurityLevel::Restricted => &RESTRICTED,
        PodSecurityLevel::Privileged => &[],
    }
}

/// What exec protection checks on the target Pod (docs/security.md §2.7).
pub const EXEC_CHECKS: &[&str] = &[
    "privileged-container",
    "host-pid",
    "host-ipc",
    "host-network",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_fit_the_annotation_limit() {
        let mut ids: Vec<&str> = CATALOGUE.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len());
        for c in CATALOGUE {
            assert!(
                c.id.len() <= 50 && c.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                c.id
            );
            assert!(
                !c.remediation.is_empty() && !c.trigger.is_empty(),
                "{}",
                c.id
            );
        }
        for level in PodSecurityLevel::ALL {
            for id in level_checks(*level).iter().chain(EXEC_CHECKS) {
                assert!(check(id).is_some(), "{level}: {id}");
            }
        }
    }
}
