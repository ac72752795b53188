//! Each check has a positive and a negative case. Workload cases start from a hardened
//! Deployment that triggers nothing and change one thing.

use serde_json::{Value, json};

use super::*;

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn hardened_container() -> Value {
    json!({"name": "app", "image": "registry.internal/app:1.2@sha256:0000000000000000000000000000000000000000000000000000000000000000",
           "ports": [{"containerPort": 8080}],
           "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
           "livenessProbe": {"httpGet": {"path": "/", "port": 8080}}, "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
           "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}})
}

/// A Deployment that triggers no check; `container` and `pod` are merged into it.
fn deployment(container: Value, pod: Value) -> Value {
    let mut c = hardened_container();
    merge(&mut c, &container);
    let mut spec = json!({"serviceAccountName": "app", "automountServiceAccountToken": false,
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [c]});
    merge(&mut spec, &pod);
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}})
}

fn ids(obj: &Value) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = check_object(obj, &Context::default())
        .iter()
        .map(|f| f.check)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn fires(id: &str, obj: &Value) {
    let got = ids(obj);
    assert!(got.contains(&id), "{id} should fire; got {got:?} on {obj}");
}

fn silent(id: &str, obj: &Value) {
    let got = ids(obj);
    assert!(
        !got.contains(&id),
        "{id} should not fire; got {got:?} on {obj}"
    );
}

#[test]
fn the_hardened_deployment_is_clean() {
    assert_eq!(ids(&deployment(json!({}), json!({}))), Vec::<&str>::new());
}

/// (check, container patch, pod patch) that triggers it, and a near miss that does not.
type Case = (&'static str, (Value, Value), (Value, Value));

fn workload_cases() -> Vec<Case> {
    let n = || json!({});
    vec![
        (
            "privileged-container",
            (json!({"securityContext": {"privileged": true}}), n()),
            (json!({"securityContext": {"privileged": false}}), n()),
        ),
        (
            "privilege-escalation-allowed",
            (
                json!({"securityContext": {"allowPrivilegeEscalation": null}}),
                n(),
            ),
            (n(), n()),
        ),
        (
            "cap-sys-admin",
            (
                json!({"securityContext": {"capabilities": {"add": ["CAP_SYS_ADMIN"]}}}),
                n(),
            ),
            (
                json!({"securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}),
                n(),
            ),
        ),
        (
            "net-raw-capability",
            (
                json!({"securityContext": {"capabilities": {"add": ["net_raw"]}}}),
                n(),
            ),
            (
                json!({"securityContext": {"capabilities": {"drop": ["ALL", "NET_RAW"]}}}),
                n(),
            ),
        ),
        (
            "dangerous-capability",
            (
                json!({"securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}}}),
                n(),
            ),
            (
                json!({"securityContext": {"capabilities": {"add": ["CHOWN"]}}}),
                n(),
            ),
        ),
        (
            "capability-added",
            (
                json!({"securityContext": {"capabilities": {"add": ["CHOWN"]}}}),
                n(),
            ),
            (
                json!({"securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}),
                n(),
            ),
        ),
        (
            "capabilities-not-dropped",
            (
                json!({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}),
                n(),
            ),
            (n(), n()),
        ),
        // pod says non-root, the container overrides it to false: effective false
        (
            "run-as-root",
            (
                json!({"securityContext": {"runAsNonRoot": false}}),
                json!({"securityContext": {"runAsUser": null}}),
            ),
            (n(), n()),
        ),
        (
            "run-as-non-root-unset",
            (n(), json!({"securityContext": {"runAsNonRoot": null}})),
            (n(), n()),
        ),
        (
            "low-uid",
            (json!({"securityContext": {"runAsUser": 1000}}), n()),
            (json!({"securityContext": {"runAsUser": 20000}}), n()),
        ),
        (
            "root-group",
            (json!({"securityContext": {"runAsGroup": 0}}), n()),
            (
                n(),
                json!({"securityContext": {"supplementalGroups": [10001]}}),
            ),
        ),
        (
            "writable-root-filesystem",
            (
                json!({"securityContext": {"readOnlyRootFilesystem": false}}),
                n(),
            ),
            (n(), n()),
        ),
        (
            "seccomp-profile-missing",
            (n(), json!({"securityContext": {"seccompProfile": null}})),
            (
                json!({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}}),
                json!({"securityContext": {"seccompProfile": null}}),
            ),
        ),
        // the container's Unconfined overrides the pod's RuntimeDefault
        (
            "seccomp-unconfined",
            (
                json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
                n(),
            ),
            (n(), n()),
        ),
        (
            "apparmor-unconfined",
            (
                json!({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}),
                n(),
            ),
            (
                json!({"securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}),
                n(),
            ),
        ),
        (
            "selinux-custom-options",
            (
                n(),
                json!({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}),
            ),
            (
                json!({"securityContext": {"seLinuxOptions": {"type": "container_t"}}}),
                n(),
            ),
        ),
        (
            "proc-mount-unmasked",
            (json!({"securityContext": {"procMount": "Unmasked"}}), n()),
            (json!({"securityContext": {"procMount": "Default"}}), n()),
        ),
        (
            "unsafe-sysctls",
            (
                n(),
                json!({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}),
            ),
            (
                n(),
                json!({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]}}),
            ),
        ),
        (
            "host-process",
            (
                n(),
                json!({"securityContext": {"windowsOptions": {"hostProcess": true}}}),
            ),
            (
                json!({"securityContext": {"windowsOptions": {"hostProcess": false}}}),
                n(),
            ),
        ),
        (
            "host-pid",
            (n(), json!({"hostPID": true})),
            (n(), json!({"hostPID": false})),
        ),
        (
            "host-ipc",
            (n(), json!({"hostIPC": true})),
            (n(), json!({"hostIPC": false})),
        ),
        (
            "host-network",
            (n(), json!({"hostNetwork": true})),
            (n(), json!({"hostNetwork": false})),
        ),
        (
            "host-port",
            (
                json!({"ports": [{"containerPort": 8080, "hostPort": 8080}]}),
                n(),
            ),
            (
                json!({"ports": [{"containerPort": 8080, "hostPort": 0}]}),
                n(),
            ),
        ),
        (
            "host-aliases",
            (
                n(),
                json!({"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db"]}]}),
            ),
            (n(), json!({"hostAliases": []})),
        ),
        (
            "host-path-volume",
            (
                n(),
                json!({"volumes": [{"name": "data", "hostPath": {"path": "/srv/data"}}]}),
            ),
            (n(), json!({"volumes": [{"name": "data", "emptyDir": {}}]})),
        ),
        (
            "host-path-sensitive",
            (
                n(),
                json!({"volumes": [{"name": "etc", "hostPath": {"path": "/etc/../etc/ssl"}}]}),
            ),
            (
                n(),
                json!({"volumes": [{"name": "etc", "hostPath": {"path": "/etcetera"}}]}),
            ),
        ),
        (
            "docker-socket-mount",
            (
                n(),
                json!({"volumes": [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}]}),
            ),
            (
                n(),
                json!({"volumes": [{"name": "sock", "hostPath": {"path": "/srv/docker.socket"}}]}),
            ),
        ),
        (
            "non-core-volume-type",
            (
                n(),
                json!({"volumes": [{"name": "nfs", "nfs": {"server": "s", "path": "/"}}]}),
            ),
            (
                n(),
                json!({"volumes": [{"name": "c", "configMap": {"name": "x"}}]}),
            ),
        ),
        (
            "privileged-port",
            (json!({"ports": [{"containerPort": 80}]}), n()),
            (json!({"ports": [{"containerPort": 1024}]}), n()),
        ),
        (
            "cpu-limits-missing",
            (json!({"resources": {"limits": {"cpu": null}}}), n()),
            (n(), n()),
        ),
        (
            "cpu-requests-missing",
            (json!({"resources": {"requests": {"cpu": null}}}), n()),
            (n(), n()),
        ),
        (
            "memory-limits-missing",
            (json!({"resources": {"limits": {"memory": null}}}), n()),
            (n(), n()),
        ),
        (
            "memory-requests-missing",
            (json!({"resources": {"requests": {"memory": null}}}), n()),
            (n(), n()),
        ),
        (
            "liveness-probe-missing",
            (json!({"livenessProbe": null}), n()),
            (n(), n()),
        ),
        (
            "readiness-probe-missing",
            (json!({"readinessProbe": null}), n()),
            (n(), n()),
        ),
        (
            "image-latest-tag",
            (json!({"image": "nginx"}), n()),
            (
                json!({"image": "nginx:1.25@sha256:0000000000000000000000000000000000000000000000000000000000000000"}),
                n(),
            ),
        ),
        // a registry port is not a tag
        (
            "image-no-digest",
            (json!({"image": "registry.internal:5000/app:1.2"}), n()),
            (n(), n()),
        ),
        (
            "automount-service-account-token",
            (n(), json!({"automountServiceAccountToken": null})),
            (n(), n()),
        ),
        (
            "default-service-account",
            (n(), json!({"serviceAccountName": null})),
            (n(), n()),
        ),
        (
            "hardcoded-credential",
            (
                json!({"env": [{"name": "AWS_ID", "value": "AKIAABCDEFGHIJKLMNOP"}]}),
                n(),
            ),
            (
                json!({"env": [{"name": "REGION", "value": "eu-west-1"}]}),
                n(),
            ),
        ),
        (
            "env-secret-literal",
            (
                json!({"env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}),
                n(),
            ),
            (
                json!({"env": [{"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db"}]}),
                n(),
            ),
        ),
        (
            "secret-env-reference",
            (
                json!({"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
                n(),
            ),
            (
                json!({"env": [{"name": "T", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]}),
                n(),
            ),
        ),
    ]
}

#[test]
fn every_workload_check_has_a_positive_and_a_negative_case() {
    for (id, (pc, pp), (nc, np)) in workload_cases() {
        fires(id, &deployment(pc, pp));
        silent(id, &deployment(nc, np));
    }
}

#[test]
fn init_and_ephemeral_containers_are_checked() {
    let init = json!({"initContainers": [{"name": "setup", "image": "busybox:1.36", "securityContext": {"privileged": true}}]});
    let fs = check_object(&deployment(json!({}), init), &Context::default());
    let f = fs
        .iter()
        .find(|f| f.check == "privileged-container")
        .unwrap_or_else(|| panic!("{fs:?}"));
    assert_eq!(f.container.as_deref(), Some("setup"));
    assert_eq!(
        f.message,
        "spec.template.spec.initContainers[setup].securityContext.privileged is true"
    );
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"},
        "spec": {"containers": [], "ephemeralContainers": [{"name": "debug", "image": "busybox:1.36",
                 "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}});
    let fs = check_object(&pod, &Context::default());
    assert!(
        fs.iter()
            .any(|f| f.check == "cap-sys-admin" && f.container.as_deref() == Some("debug")),
        "{fs:?}"
    );
    // resource checks skip ephemeral containers: the API forbids those fields there
    assert!(
        !fs.iter().any(|f| f.check == "cpu-limits-missing"),
        "{fs:?}"
    );
}

#[test]
fn container_values_override_pod_values_in_both_directions() {
    // pod root, container non-root with a uid: effective non-root
    let c = deployment(
        json!({"securityContext": {"runAsNonRoot": true, "runAsUser": 20000}}),
        json!({"securityContext": {"runAsUser": 0, "runAsNonRoot": false}}),
    );
    silent("run-as-root", &c);
    // pod non-root, container uid 0: effective root
    fires(
        "run-as-root",
        &deployment(json!({"securityContext": {"runAsUser": 0}}), json!({})),
    );
}

#[test]
fn subsumption_reports_only_the_most_specific_finding() {
    let d = deployment(
        json!({"securityContext": {"privileged": true, "allowPrivilegeEscalation": null}}),
        json!({}),
    );
    silent("privilege-escalation-allowed", &d);
    let d = deployment(
        json!({}),
        json!({"volumes": [{"name": "s", "hostPath": {"path": "/run/containerd/containerd.sock"}}]}),
    );
    fires("docker-socket-mount", &d);
    silent("host-path-sensitive", &d);
    silent("host-path-volume", &d);
    let d = deployment(json!({"image": "nginx:latest"}), json!({}));
    fires("image-latest-tag", &d);
    silent("image-no-digest", &d);
    let d = deployment(
        json!({"env": [{"name": "GITHUB_TOKEN", "value": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}]}),
        json!({}),
    );
    fires("hardcoded-credential", &d);
    silent("env-secret-literal", &d);
}

#[test]
fn credentials_are_never_printed() {
    let d = deployment(
        json!({"env": [{"name": "DB_PASSWORD", "value": "hunter2-very-secret"}]}),
        json!({}),
    );
    for f in check_object(&d, &Context::default()) {
        assert!(!f.message.contains("hunter2"), "{}", f.message);
    }
}

#[test]
fn windows_pods_skip_linux_only_checks() {
    let d = deployment(
        json!({"securityContext": {"allowPrivilegeEscalation": null, "capabilities": null}}),
        json!({"os": {"name": "windows"}, "securityContext": {"seccompProfile": null}}),
    );
    silent("privilege-escalation-allowed", &d);
    silent("capabilities-not-dropped", &d);
    silent("seccomp-profile-missing", &d);
}

#[test]
fn legacy_annotations_count_when_the_field_is_absent() {
    let mut d = deployment(
        json!({}),
        json!({"securityContext": {"seccompProfile": null}}),
    );
    merge(
        &mut d,
        &json!({"spec": {"template": {"metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}}}}}),
    );
    silent("seccomp-profile-missing", &d);
    merge(
        &mut d,
        &json!({"spec": {"template": {"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}}}}}),
    );
    fires("apparmor-unconfined", &d);
}

#[test]
fn a_same_named_kind_of_another_group_is_not_a_workload() {
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "y"},
                    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]}}}});
    assert!(ids(&cr).is_empty(), "{:?}", ids(&cr));
}

fn obj(v: Value) -> Value {
    v
}

#[test]
fn object_checks() {
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "secret-string-data",
            obj(
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"}, "stringData": {"p": "x"}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"}, "data": {"p": "eA=="}}),
            ),
        ),
        (
            "configmap-credential",
            obj(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}, "data": {"API_KEY": "abc123"}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}, "data": {"API_KEY": "$(FROM_ENV)"}}),
            ),
        ),
        (
            "hardcoded-credential",
            obj(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}, "data": {"url": "postgres://app:s3cret@db:5432/app"}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}, "data": {"url": "postgres://app:${DB_PASS}@db:5432/app"}}),
            ),
        ),
        (
            "default-namespace",
            obj(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}}),
            ),
        ),
        (
            "service-nodeport",
            obj(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}, "spec": {"type": "NodePort"}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}, "spec": {"type": "ClusterIP"}}),
            ),
        ),
        (
            "service-loadbalancer",
            obj(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}, "spec": {"type": "LoadBalancer"}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}, "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]}}),
            ),
        ),
        (
            "service-external-ips",
            obj(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}, "spec": {"externalIPs": ["1.2.3.4"]}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}, "spec": {"externalIPs": []}}),
            ),
        ),
        (
            "ingress-without-tls",
            obj(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "a"},
              "spec": {"tls": [{"hosts": ["*.example.com"]}], "rules": [{"host": "a.b.example.com"}]}}),
            ),
            obj(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "a"},
              "spec": {"tls": [{"hosts": ["*.example.com"]}], "rules": [{"host": "a.example.com"}]}}),
            ),
        ),
        (
            "default-service-account",
            obj(
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "a"}}),
            ),
            obj(
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "a"}, "automountServiceAccountToken": false}),
            ),
        ),
    ];
    for (id, pos, neg) in cases {
        fires(id, &pos);
        silent(id, &neg);
    }
}

fn role(kind: &str, rule: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": "r", "namespace": "a"}, "rules": [rule]})
}

fn binding(role_kind: &str, role_name: &str, subject: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name}, "subjects": [subject]})
}

#[test]
fn rbac_checks() {
    let r = |g: &[&str], res: &[&str], v: &[&str]| json!({"apiGroups": g, "resources": res, "verbs": v});
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "rbac-full-wildcard",
            role("ClusterRole", r(&["*"], &["*"], &["*"])),
            role("ClusterRole", r(&["apps"], &["*"], &["*"])),
        ),
        (
            "rbac-wildcard-verbs",
            role("Role", r(&["apps"], &["deployments"], &["*"])),
            role("Role", r(&["apps"], &["deployments"], &["get"])),
        ),
        (
            "rbac-wildcard-resources",
            role("Role", r(&["apps"], &["*"], &["get"])),
            role("Role", r(&["apps"], &["deployments"], &["get"])),
        ),
        (
            "rbac-wildcard-api-groups",
            role("Role", r(&["*"], &["deployments"], &["get"])),
            role("Role", r(&[""], &["pods"], &["get"])),
        ),
        (
            "rbac-escalate",
            role(
                "ClusterRole",
                r(
                    &["rbac.authorization.k8s.io"],
                    &["clusterroles"],
                    &["escalate"],
                ),
            ),
            role(
                "ClusterRole",
                r(&["rbac.authorization.k8s.io"], &["clusterroles"], &["get"]),
            ),
        ),
        (
            "rbac-bind",
            role(
                "Role",
                r(&["rbac.authorization.k8s.io"], &["roles"], &["bind"]),
            ),
            role(
                "Role",
                r(&["rbac.authorization.k8s.io"], &["roles"], &["list"]),
            ),
        ),
        (
            "rbac-impersonate",
            role(
                "ClusterRole",
                r(&[""], &["serviceaccounts"], &["impersonate"]),
            ),
            role("ClusterRole", r(&[""], &["serviceaccounts"], &["get"])),
        ),
        (
            "rbac-secrets-read",
            role("ClusterRole", r(&[""], &["secrets"], &["list"])),
            role("Role", r(&[""], &["secrets"], &["list"])),
        ),
        (
            "rbac-pods-exec",
            role("Role", r(&[""], &["pods/exec"], &["create"])),
            role("Role", r(&[""], &["pods/log"], &["get"])),
        ),
        (
            "rbac-nodes-proxy",
            role("ClusterRole", r(&[""], &["nodes/proxy"], &["get"])),
            role("ClusterRole", r(&[""], &["nodes"], &["get"])),
        ),
        (
            "rbac-webhook-config-write",
            role(
                "ClusterRole",
                r(
                    &["admissionregistration.k8s.io"],
                    &["validatingwebhookconfigurations"],
                    &["patch"],
                ),
            ),
            role(
                "ClusterRole",
                json!({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "verbs": ["patch"], "resourceNames": ["mine"]}),
            ),
        ),
        (
            "rbac-anonymous-binding",
            binding(
                "ClusterRole",
                "view",
                json!({"kind": "User", "name": "system:anonymous"}),
            ),
            binding(
                "ClusterRole",
                "view",
                json!({"kind": "User", "name": "alice"}),
            ),
        ),
        (
            "rbac-authenticated-binding",
            binding(
                "ClusterRole",
                "view",
                json!({"kind": "Group", "name": "system:authenticated"}),
            ),
            binding(
                "ClusterRole",
                "system:discovery",
                json!({"kind": "Group", "name": "system:authenticated"}),
            ),
        ),
        (
            "rbac-system-masters-binding",
            binding(
                "ClusterRole",
                "view",
                json!({"kind": "Group", "name": "system:masters"}),
            ),
            binding(
                "ClusterRole",
                "view",
                json!({"kind": "Group", "name": "ops"}),
            ),
        ),
        (
            "rbac-cluster-admin-sa",
            binding(
                "ClusterRole",
                "cluster-admin",
                json!({"kind": "ServiceAccount", "name": "ci", "namespace": "a"}),
            ),
            binding(
                "ClusterRole",
                "view",
                json!({"kind": "ServiceAccount", "name": "ci", "namespace": "a"}),
            ),
        ),
    ];
    for (id, pos, neg) in cases {
        fires(id, &pos);
        silent(id, &neg);
    }
    // the full wildcard subsumes the single-wildcard checks on the same rule
    let full = role("ClusterRole", r(&["*"], &["*"], &["*"]));
    silent("rbac-wildcard-verbs", &full);
}

#[test]
fn missing_network_policy_is_set_level() {
    let d = deployment(json!({}), json!({}));
    let deny = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"}, "spec": {"podSelector": {}}});
    let egress_only = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "e", "namespace": "shop"},
                             "spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
    let other_ns = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "d", "namespace": "other"}, "spec": {"podSelector": {}}});
    assert_eq!(missing_network_policy(&[&d, &deny]).len(), 0);
    let found = missing_network_policy(&[&d, &egress_only]);
    assert_eq!(
        found.iter().map(|(i, f)| (*i, f.check)).collect::<Vec<_>>(),
        vec![(0, "missing-network-policy")]
    );
    assert_eq!(missing_network_policy(&[&d, &other_ns]).len(), 1);
    let selective = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "s", "namespace": "shop"},
                           "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}});
    assert_eq!(missing_network_policy(&[&d, &selective]).len(), 0);
}

/// `ork scan` keeps only [`Facts`] and decides at the end; that must find exactly what deciding
/// over the objects kept in memory finds, automount and network policies included.
#[test]
fn set_level_decisions_from_facts_match_the_objects() {
    let sa = |name: &str, ns: &str, off: bool| {
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns}, "automountServiceAccountToken": !off})
    };
    let pod = |labels: Value, spec: Value| {
        let mut d = deployment(json!({}), spec);
        d["spec"]["template"]["metadata"]["labels"] = labels;
        d
    };
    let policy = |ns: &str, spec: Value| {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": ns}, "spec": spec})
    };
    let owned = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "o", "namespace": "shop",
        "ownerReferences": [{"kind": "ReplicaSet", "name": "r"}]}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let objects = [
        pod(
            json!({"app": "web"}),
            json!({"automountServiceAccountToken": null}),
        ),
        pod(
            json!({"app": "api"}),
            json!({"automountServiceAccountToken": true}),
        ),
        pod(
            json!({"app": "db"}),
            json!({"automountServiceAccountToken": null, "serviceAccountName": "quiet"}),
        ),
        pod(
            json!({}),
            json!({"automountServiceAccountToken": null, "serviceAccountName": "loud"}),
        ),
        owned,
        sa("app", "shop", true),
        sa("quiet", "shop", true),
        sa("loud", "shop", false),
        policy(
            "shop",
            json!({"podSelector": {"matchLabels": {"app": "web"}}}),
        ),
        policy(
            "shop",
            json!({"podSelector": {}, "policyTypes": ["Egress"]}),
        ),
        policy("other", json!({"podSelector": {}})),
    ];
    let refs: Vec<&Value> = objects.iter().collect();
    let ctx = Context::from_objects(refs.iter().copied());
    let mut whole: Vec<(usize, Finding)> = refs
        .iter()
        .enumerate()
        .flat_map(|(i, o)| check_object(o, &ctx).into_iter().map(move |f| (i, f)))
        .chain(missing_network_policy(&refs))
        .collect();
    whole.sort_by(|a, b| (a.0, a.1.check).cmp(&(b.0, b.1.check)));

    let alone: Vec<(Vec<Finding>, Facts)> = refs.iter().map(|o| check_object_alone(o)).collect();
    let mut policies = NetworkPolicies::default();
    let mut facts_ctx = Context::default();
    for (_, f) in &alone {
        policies.extend_from(f);
        facts_ctx.sa_automount_off.extend(f.automount_off.clone());
    }
    let mut split: Vec<(usize, Finding)> = Vec::new();
    for (i, (found, f)) in alone.into_iter().enumerate() {
        split.extend(found.into_iter().map(|x| (i, x)));
        if let Some(a) = f.automount.filter(|a| facts_ctx.flags(a)) {
            split.push((i, a.finding));
        }
        if let Some(x) = f.workload.and_then(|w| policies.finding(&w)) {
            split.push((i, x));
        }
    }
    split.sort_by(|a, b| (a.0, a.1.check).cmp(&(b.0, b.1.check)));
    assert_eq!(split, whole);
    let fired = |id: &str| -> Vec<usize> {
        whole
            .iter()
            .filter(|(_, f)| f.check == id)
            .map(|(i, _)| *i)
            .collect()
    };
    // web: its SA `app` is off; api: turned back on; db: `quiet` is off; `loud` is on; the
    // owned Pod runs as `default`, which the set does not turn off
    assert_eq!(fired("automount-service-account-token"), vec![1, 3, 4]);
    // only web is selected by an Ingress policy of its namespace; the owned Pod is not judged
    assert_eq!(fired("missing-network-policy"), vec![1, 2, 3]);
}

#[test]
fn pod_security_levels_select_their_checks() {
    let d = deployment(
        json!({"securityContext": {"allowPrivilegeEscalation": null}, "resources": null}),
        json!({"hostPID": true}),
    );
    use ork_katalog::PodSecurityLevel as L;
    let at = |l: L| pod_checks(&d, level_checks(l));
    let baseline: Vec<&str> = at(L::Baseline).iter().map(|f| f.check).collect();
    assert_eq!(baseline, vec!["host-pid"]);
    let restricted: Vec<&str> = at(L::Restricted).iter().map(|f| f.check).collect();
    assert!(
        restricted.contains(&"privilege-escalation-allowed") && restricted.contains(&"host-pid"),
        "{restricted:?}"
    );
    assert!(!restricted.contains(&"cpu-limits-missing"));
    assert!(at(L::Privileged).is_empty());
}

#[test]
fn render_failures_have_a_check_of_their_own() {
    // produced by `ork scan` for a Katalog whose CR does not render (tested in ork-scan)
    assert_eq!(
        check("katalog-render-failed").map(|c| c.severity),
        Some(Severity::High)
    );
}

#[test]
fn the_binding_findings_come_from_rbac_audit_only() {
    // produced by `ork rbac audit` from the bindings (crate::rbac::admission_config_writers and
    // operator_namespace_writers, tested there and in ork-cli's tests/rbac.rs): a rule alone
    // names no subject
    let everything = role(
        "ClusterRole",
        json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
    );
    for id in [
        "rbac-admission-config-writer",
        "rbac-operator-namespace-writer",
    ] {
        assert_eq!(check(id).map(|c| c.severity), Some(Severity::High));
        assert!(
            !check_object(&everything, &Context::default())
                .iter()
                .any(|f| f.check == id)
        );
        assert!(
            !applicable(&everything).contains(&id),
            "ork scan never reports {id}"
        );
    }
}

#[test]
fn every_catalogue_check_is_exercised_here() {
    let src = include_str!("tests.rs");
    let missing: Vec<&str> = CATALOGUE
        .iter()
        .map(|c| c.id)
        .filter(|id| !id.starts_with("suppression-") && !src.contains(&format!("\"{id}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "checks without a test case: {missing:?}"
    );
}

#[test]
fn pod_checks_still_find_credentials_when_asked_and_skip_them_otherwise() {
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "x:1",
            "env": [{"name": "DB_PASSWORD", "value": "hunter2hunter2"}]}]}});
    let all: Vec<&str> =
        crate::checks::pod_checks(&pod, &["env-secret-literal", "hardcoded-credential"])
            .iter()
            .map(|f| f.check)
            .collect();
    assert!(!all.is_empty(), "a literal password in env is a finding");
    let level = crate::checks::pod_checks(&pod, &["privileged-container"]);
    assert!(level.is_empty());
}

#[test]
fn a_pod_level_unconfined_seccomp_profile_is_a_finding_even_when_containers_override_it() {
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "app", "image": "x:1", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}}}]}});
    let found: Vec<(&str, String)> = crate::checks::pod_checks(&pod, &["seccomp-unconfined"])
        .iter()
        .map(|f| (f.check, f.at.clone()))
        .collect();
    assert_eq!(
        found,
        vec![(
            "seccomp-unconfined",
            "spec.securityContext.seccompProfile".to_string()
        )]
    );
}

/// `pod_checks` builds only the findings of its set (pod security and the exec guard skip the
/// scan checks' messages); what it finds must still be exactly what the full run finds of that
/// set, subsumption and the pod-level seccomp finding included.
#[test]
fn a_subset_of_checks_finds_exactly_the_full_runs_findings_of_it() {
    use ork_katalog::PodSecurityLevel as L;
    let key = |f: &Finding| {
        (
            f.check,
            f.container.clone(),
            f.at.clone(),
            f.message.clone(),
        )
    };
    let mut objects = vec![deployment(json!({}), json!({}))];
    for (_, (pc, pp), (nc, np)) in workload_cases() {
        objects.push(deployment(pc, pp));
        objects.push(deployment(nc, np));
    }
    // findings that other findings subsume or are read by
    objects.push(deployment(
        json!({"securityContext": {"privileged": true, "allowPrivilegeEscalation": null,
            "capabilities": {"add": ["SYS_ADMIN"]}, "seccompProfile": {"type": "Unconfined"}}}),
        json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
    ));
    for sc in [
        json!({"privileged": true, "allowPrivilegeEscalation": null}),
        json!({"capabilities": {"add": ["SYS_ADMIN"]}, "allowPrivilegeEscalation": null}),
    ] {
        objects.push(deployment(json!({ "securityContext": sc }), json!({})));
    }
    let subsets: [&'static [&'static str]; 5] = [
        level_checks(L::Baseline),
        level_checks(L::Restricted),
        EXEC_CHECKS,
        &["privilege-escalation-allowed"],
        &["seccomp-unconfined", "run-as-root"],
    ];
    for obj in &objects {
        let full = check_object(obj, &Context::default());
        for set in subsets {
            let want: Vec<_> = full
                .iter()
                .filter(|f| set.contains(&f.check))
                .map(key)
                .collect();
            let got: Vec<_> = pod_checks(obj, set).iter().map(key).collect();
            assert_eq!(got, want, "set {set:?} on {obj}");
        }
    }
}

/// The Gateway reads a review's object from a tape (crate::json), every other caller from a
/// `Value`: each workload case, positive and negative, gets the same findings from both.
#[test]
fn a_tape_of_the_object_gets_the_findings_of_its_value() {
    let every: &'static [&'static str] = Box::leak(
        CATALOGUE
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let mut objects = vec![deployment(json!({}), json!({}))];
    for (_, (pc, pp), (nc, np)) in workload_cases() {
        objects.push(deployment(pc, pp));
        objects.push(deployment(nc, np));
    }
    let mut checked = 0;
    for obj in &objects {
        let text = obj.to_string();
        let tape = crate::json::Tape::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let Some(root) = tape.root() else {
            panic!("an empty tape")
        };
        for set in [
            every,
            EXEC_CHECKS,
            level_checks(ork_katalog::PodSecurityLevel::Baseline),
            level_checks(ork_katalog::PodSecurityLevel::Restricted),
        ] {
            let (from_value, from_tape) = (pod_checks(obj, set), pod_checks(root, set));
            assert_eq!(from_value, from_tape, "on {obj}");
            checked += from_value.len();
        }
        assert_eq!(is_pod_bearing(obj), is_pod_bearing(root));
    }
    assert!(checked > 50, "only {checked} findings compared");
}

#[test]
fn a_volume_with_any_non_core_source_is_reported_whatever_its_keys_order() {
    // the API allows one source per volume; a hostile manifest may name a core one first
    for volume in [
        json!({"name": "v", "configMap": {"name": "c"}, "nfs": {"server": "s", "path": "/"}}),
        json!({"name": "v", "nfs": {"server": "s", "path": "/"}, "configMap": {"name": "c"}}),
    ] {
        fires(
            "non-core-volume-type",
            &deployment(json!({}), json!({"volumes": [volume]})),
        );
    }
    silent(
        "non-core-volume-type",
        &deployment(
            json!({}),
            json!({"volumes": [{"name": "v", "configMap": {"name": "c"}}]}),
        ),
    );
}
