//! The runtime against the real control plane (etcd, kube-apiserver, kube-controller-manager):
//! every example Katalog end to end, the guards that stop a cycle before any write, and the
//! runtime running as its own ServiceAccount under the RBAC `ork generate rbac` derives.

mod support;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use support::cluster::{self, e, eventually};
use support::{Env, TestFuture, condition, get, load, must, runtime};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_docs(path: &Path) -> Result<Vec<Value>, String> {
    let src = std::fs::read_to_string(path).map_err(|x| format!("{}: {x}", path.display()))?;
    let docs = ork_yaml::parse_stream(&src).map_err(|x| format!("{}: {x}", path.display()))?;
    Ok(docs.iter().map(ork_yaml::Node::to_json).collect())
}

/// Applies the Katalog's derived runtime RBAC as the admin.
async fn grant(env: &Env, k: &ork_katalog::Katalog) -> Result<(), String> {
    support::apply_all(env, &support::derived(k)?).await
}

/// The CRDs of a Katalog: its crdFile, else a permissive one from apiTypes.
async fn crds(
    env: &Env,
    k: &ork_katalog::Katalog,
    p: &ork_policy::PreparedKatalog,
) -> Result<(), String> {
    if k.crds.iter().all(|c| c.entry.crd_file.is_none()) {
        return cluster::crds(&env.admin, p).await;
    }
    let docs = |path: &Path| yaml_docs(path);
    ork_runtime::dev::apply_crds(&env.admin, k, docs, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(e)
}

/// The CR of `file` (first document), moved to `ns`, without the fields `ork template` uses.
fn cr_in(file: &Path, ns: &str) -> Result<Value, String> {
    let mut cr = yaml_docs(file)?.into_iter().next().ok_or("no CR in file")?;
    cr["metadata"]["namespace"] = json!(ns);
    if let Some(m) = cr["metadata"].as_object_mut() {
        m.remove("uid");
    }
    Ok(cr)
}

async fn merge_patch(env: &Env, path: &str, body: &Value) -> Result<Value, String> {
    let a = send_with(
        &env.admin,
        "PATCH",
        path,
        body,
        "application/merge-patch+json",
    )
    .await?;
    Ok(a)
}

async fn send_with(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: &Value,
    content_type: &str,
) -> Result<Value, String> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(kube::client::Body::from(body.to_string().into_bytes()))
        .map_err(e)?;
    let resp = client.send(req).await.map_err(e)?;
    let status = resp.status();
    let bytes = resp.into_body().collect_bytes().await.map_err(e)?;
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(e)
    } else {
        Err(format!(
            "{method} {path}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        ))
    }
}

fn ready_reason(obj: &Value) -> String {
    condition(obj, "Ready")
        .map(|c| {
            format!(
                "{}/{}",
                c["status"].as_str().unwrap_or(""),
                c["reason"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default()
}

/// Waits until the object at `path` satisfies `f`; returns it.
async fn until(
    env: &Env,
    what: &str,
    path: &str,
    secs: u64,
    f: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let start = std::time::Instant::now();
    loop {
        let got = get(env, path).await?;
        if let Some(v) = &got
            && f(v)
        {
            if start.elapsed() > Duration::from_secs(3) {
                println!("    slow: {what} took {} ms", start.elapsed().as_millis());
            }
            return Ok(v.clone());
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let shown = got
                .map(|v| {
                    json!({"metadata": {"labels": v["metadata"]["labels"], "finalizers": v["metadata"]["finalizers"]},
                           "status": v["status"]})
                    .to_string()
                })
                .unwrap_or_else(|| "absent".into());
            return Err(format!("{what}: not true after {secs}s; last: {shown}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn gone(env: &Env, what: &str, path: &str, secs: u64) -> Result<(), String> {
    eventually(what, Duration::from_secs(secs), || async {
        Ok(get(env, path).await?.is_none())
    })
    .await
}

/// How many events about `name` in `ns` have `reason`.
async fn events(env: &Env, ns: &str, name: &str, reason: &str) -> Result<usize, String> {
    Ok(support::events(env, ns, "/regarding/name", name, reason)
        .await?
        .len())
}

/// Marks a Job finished through its status subresource: no kubelet runs it here.
async fn finish_job(env: &Env, ns: &str, name: &str, ok: bool) -> Result<(), String> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = if ok {
        json!({"status": {"startTime": now, "completionTime": now, "succeeded": 1, "active": 0, "ready": 0,
            "terminating": 0, "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "done", "lastTransitionTime": now, "lastProbeTime": now},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "done", "lastTransitionTime": now, "lastProbeTime": now}]}})
    } else {
        json!({"status": {"startTime": now, "failed": 1, "active": 0, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "failed", "lastTransitionTime": now, "lastProbeTime": now},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "failed", "lastTransitionTime": now, "lastProbeTime": now}]}})
    };
    let path = format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}/status");
    // the job controller may race the first write: retry briefly
    let mut last = String::new();
    for _ in 0..20 {
        match merge_patch(env, &path, &status).await {
            Ok(_) => return Ok(()),
            Err(x) => last = x,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r["uid"] == uid && r["controller"] == true && r["blockOwnerDeletion"] == true)
}

fn labelled(obj: &Value, cr: &str, uid: &str) -> bool {
    let l = &obj["metadata"]["labels"];
    l["orkestra.orkspace.io/managed"] == "true"
        && l["orkestra-owner"] == cr
        && l["orkestra.orkspace.io/owner-uid"] == uid
}

async fn namespace(env: &Env, ns: &str) -> Result<(), String> {
    cluster::namespace(&env.admin, ns, &[]).await
}

fn website(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let path = repo().join("examples/website/katalog.yaml");
        let (k, p) = load(&path)?;
        crds(env, &k, &p).await?;
        grant(env, &k).await?;
        let ns = "web";
        namespace(env, ns).await?;
        let rt = runtime(env, &k, p, "website-a").await?;
        let cr = cr_in(&repo().join("examples/website/cr.yaml"), ns)?;
        let base = format!("/apis/demo.orkestra.io/v1alpha1/namespaces/{ns}/websites");
        must(env, "POST", &base, Some(&cr)).await?;
        let cr_path = format!("{base}/my-site");
        let stored = until(env, "Ready=True", &cr_path, 30, |v| {
            ready_reason(v) == "True/ReconcileSucceeded"
        })
        .await?;
        let uid = stored["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut errors = Vec::new();
        if rt.health().get("website") != Some(&ork_runtime::metrics::Health::Healthy) {
            errors.push(format!("health {:?}", rt.health()));
        }
        if !stored["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "orkestra.orkspace.io/cleanup"))
        {
            errors.push("no finalizer".to_string());
        }
        if stored["status"]["phase"] != "Running" {
            errors.push(format!("phase {}", stored["status"]["phase"]));
        }
        if stored["metadata"]["labels"]["orkestra.orkspace.io/managed"] != "true" {
            errors.push("CR not labelled managed".into());
        }
        let deploy_path = format!("/apis/apps/v1/namespaces/{ns}/deployments/my-site");
        let children = [
            deploy_path.clone(),
            format!("/api/v1/namespaces/{ns}/services/my-site-svc"),
            format!("/api/v1/namespaces/{ns}/serviceaccounts/my-site-sa"),
        ];
        for c in &children {
            match get(env, c).await? {
                Some(v) if owned_by(&v, &uid) && labelled(&v, "my-site", &uid) => {}
                Some(v) => errors.push(format!("{c}: not owned or labelled: {}", v["metadata"])),
                None => errors.push(format!("{c}: missing")),
            }
        }
        if get(
            env,
            &format!("/api/v1/namespaces/{ns}/services/my-site-public"),
        )
        .await?
        .is_some()
        {
            errors.push("public Service exists while exposePublicly is unset".into());
        }
        // a hand edit of an applied child is reverted
        merge_patch(env, &deploy_path, &json!({"spec": {"replicas": 7}})).await?;
        until(env, "replicas restored", &deploy_path, 20, |v| {
            v["spec"]["replicas"] == 2
        })
        .await?;
        // a spec change reaches the children
        merge_patch(
            env,
            &cr_path,
            &json!({"spec": {"image": "nginxinc/nginx-unprivileged:1.27"}}),
        )
        .await?;
        until(env, "image updated", &deploy_path, 20, |v| {
            v.pointer("/spec/template/spec/containers/0/image")
                == Some(&json!("nginxinc/nginx-unprivileged:1.27"))
        })
        .await?;
        // an entry whose condition turns true creates its child; false deletes it
        let public = format!("/api/v1/namespaces/{ns}/services/my-site-public");
        merge_patch(env, &cr_path, &json!({"spec": {"exposePublicly": true}})).await?;
        until(env, "public Service created", &public, 20, |v| {
            owned_by(v, &uid)
        })
        .await?;
        merge_patch(env, &cr_path, &json!({"spec": {"exposePublicly": false}})).await?;
        gone(env, "public Service deleted", &public, 20).await?;
        if events(env, ns, "my-site", "WebsiteReconciled").await? == 0 {
            errors.push("no WebsiteReconciled event".into());
        }
        // deletion: the onDelete job runs, the finalizer goes, the GC removes the children
        must(env, "DELETE", &cr_path, None).await?;
        let job_path = format!("/apis/batch/v1/namespaces/{ns}/jobs/my-site-cleanup");
        until(env, "onDelete job created", &job_path, 20, |v| {
            owned_by(v, &uid)
        })
        .await?;
        until(env, "Ready=False/Deleting", &cr_path, 20, |v| {
            ready_reason(v) == "False/Deleting"
        })
        .await?;
        finish_job(env, ns, "my-site-cleanup", true).await?;
        gone(env, "CR removed after cleanup", &cr_path, 30).await?;
        gone(env, "Deployment collected", &deploy_path, 90).await?;
        rt.shutdown().await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n    "))
        }
    })
}

fn pipeline(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let path = repo().join("examples/pipeline/katalog.yaml");
        let (k, p) = load(&path)?;
        crds(env, &k, &p).await?;
        grant(env, &k).await?;
        let ns = "pipes";
        namespace(env, ns).await?;
        let rt = runtime(env, &k, p, "pipeline-a").await?;
        let cr = cr_in(&repo().join("examples/pipeline/cr.yaml"), ns)?;
        let base = format!("/apis/demo.orkestra.io/v1alpha1/namespaces/{ns}/pipelines");
        must(env, "POST", &base, Some(&cr)).await?;
        let cr_path = format!("{base}/build-and-test");
        let jobs = format!("/apis/batch/v1/namespaces/{ns}/jobs");
        until(env, "phase Running/build", &cr_path, 30, |v| {
            v["status"]["phase"] == "Running/build"
        })
        .await?;
        until(
            env,
            "build job",
            &format!("{jobs}/build-and-test-build"),
            20,
            |_| true,
        )
        .await?;
        finish_job(env, ns, "build-and-test-build", true).await?;
        until(env, "phase Running/test", &cr_path, 30, |v| {
            v["status"]["phase"] == "Running/test"
        })
        .await?;
        until(
            env,
            "test job",
            &format!("{jobs}/build-and-test-test"),
            20,
            |_| true,
        )
        .await?;
        finish_job(env, ns, "build-and-test-test", true).await?;
        let done = until(env, "phase Succeeded", &cr_path, 30, |v| {
            v["status"]["phase"] == "Succeeded"
        })
        .await?;
        let mut errors = Vec::new();
        if done["status"]["image"] != "busybox:1.36" {
            errors.push(format!("status.image {}", done["status"]["image"]));
        }
        // a second pipeline whose build fails ends Failed
        let mut bad = cr.clone();
        bad["metadata"]["name"] = json!("breaks");
        must(env, "POST", &base, Some(&bad)).await?;
        let bad_path = format!("{base}/breaks");
        until(
            env,
            "build job",
            &format!("{jobs}/breaks-build"),
            30,
            |_| true,
        )
        .await?;
        finish_job(env, ns, "breaks-build", false).await?;
        until(env, "phase Failed", &bad_path, 30, |v| {
            v["status"]["phase"] == "Failed"
        })
        .await?;
        for name in ["build-and-test", "breaks"] {
            let p = format!("{base}/{name}");
            must(env, "DELETE", &p, None).await?;
            until(
                env,
                "cleanup job",
                &format!("{jobs}/{name}-cleanup"),
                20,
                |_| true,
            )
            .await?;
            finish_job(env, ns, &format!("{name}-cleanup"), true).await?;
            gone(env, "pipeline removed", &p, 30).await?;
        }
        rt.shutdown().await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n    "))
        }
    })
}

fn platform(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let path = repo().join("examples/platform/katalog.yaml");
        let (k, p) = load(&path)?;
        crds(env, &k, &p).await?;
        grant(env, &k).await?;
        let ns = "plat";
        namespace(env, ns).await?;
        let rt = runtime(env, &k, p, "platform-a").await?;
        let base = format!("/apis/admission.orkestra.io/v1alpha1/namespaces/{ns}/platforms");
        let good = cr_in(&repo().join("examples/platform/cr-valid.yaml"), ns)?;
        let bad = cr_in(&repo().join("examples/platform/cr-bad.yaml"), ns)?;
        must(env, "POST", &base, Some(&good)).await?;
        must(env, "POST", &base, Some(&bad)).await?;
        let good_v = until(env, "shop Ready", &format!("{base}/shop"), 30, |v| {
            ready_reason(v) == "True/ReconcileSucceeded"
        })
        .await?;
        let bad_v = until(
            env,
            "legacy ValidationFailed",
            &format!("{base}/legacy"),
            30,
            |v| ready_reason(v) == "False/ValidationFailed",
        )
        .await?;
        let mut errors = Vec::new();
        // mutations default replicas to 2 in memory; the Deployment gets them, the CR keeps its spec
        match get(
            env,
            &format!("/apis/apps/v1/namespaces/{ns}/deployments/shop-platform"),
        )
        .await?
        {
            Some(d) if d["spec"]["replicas"] == 2 => {}
            other => errors.push(format!("shop-platform: {other:?}")),
        }
        // a hand edit of an applied child is reverted
        let shop = format!("/apis/apps/v1/namespaces/{ns}/deployments/shop-platform");
        merge_patch(env, &shop, &json!({"spec": {"replicas": 5}})).await?;
        until(env, "shop-platform replicas restored", &shop, 20, |v| {
            v["spec"]["replicas"] == 2
        })
        .await?;
        if good_v["spec"].get("replicas").is_some() {
            errors.push("the stored spec was mutated at reconcile time".into());
        }
        if condition(&good_v, "ValidationWarning").map(|c| c["status"].clone())
            != Some(json!("False"))
        {
            errors.push(format!(
                "shop ValidationWarning: {:?}",
                condition(&good_v, "ValidationWarning")
            ));
        }
        if get(
            env,
            &format!("/apis/apps/v1/namespaces/{ns}/deployments/legacy-platform"),
        )
        .await?
        .is_some()
        {
            errors.push("a denied CR got a Deployment".into());
        }
        if condition(&bad_v, "ValidationFailed").map(|c| c["reason"].clone())
            != Some(json!("DenyRuleViolation"))
        {
            errors.push(format!(
                "legacy ValidationFailed: {:?}",
                condition(&bad_v, "ValidationFailed")
            ));
        }
        if events(env, ns, "legacy", "PlatformValidationFailed").await? == 0 {
            errors.push("no PlatformValidationFailed event".into());
        }
        for name in ["shop", "legacy"] {
            let p = format!("{base}/{name}");
            must(env, "DELETE", &p, None).await?;
            until(
                env,
                "cleanup job",
                &format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}-cleanup"),
                20,
                |_| true,
            )
            .await?;
            finish_job(env, ns, &format!("{name}-cleanup"), true).await?;
            gone(env, "platform removed", &p, 30).await?;
        }
        rt.shutdown().await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n    "))
        }
    })
}

fn protected_apps(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let path = repo().join("examples/protected-apps/katalog.yaml");
        let (k, p) = load(&path)?;
        crds(env, &k, &p).await?;
        grant(env, &k).await?;
        let ns = "apps";
        namespace(env, ns).await?;
        let rt = runtime(env, &k, p, "apps-a").await?;
        let mut cr = cr_in(&repo().join("examples/protected-apps/cr.yaml"), ns)?;
        // a tenant's exemption label is removed by the label manager
        cr["metadata"]["labels"] = json!({"orkestra.io/strict-mode-exempt": "true"});
        let base = format!("/apis/security.orkestra.io/v1/namespaces/{ns}/apps");
        must(env, "POST", &base, Some(&cr)).await?;
        let cr_path = format!("{base}/demo");
        let v = until(env, "demo Ready", &cr_path, 30, |v| {
            ready_reason(v) == "True/ReconcileSucceeded"
        })
        .await?;
        let mut errors = Vec::new();
        let labels = &v["metadata"]["labels"];
        if labels["orkestra.io/deletion-protection"] != "true" {
            errors.push(format!("protection label missing: {labels}"));
        }
        if labels.get("orkestra.io/strict-mode-exempt").is_some() {
            errors.push("exemption label kept".into());
        }
        let cm = format!("/api/v1/namespaces/{ns}/configmaps/demo-config");
        until(env, "configmap", &cm, 10, |c| {
            c["data"]["greeting"] == "hello"
        })
        .await?;
        merge_patch(env, &cm, &json!({"data": {"greeting": "tampered"}})).await?;
        until(env, "configmap restored", &cm, 20, |c| {
            c["data"]["greeting"] == "hello"
        })
        .await?;
        // a spec change reaches the child
        merge_patch(env, &cr_path, &json!({"spec": {"greeting": "bonjour"}})).await?;
        until(env, "configmap updated", &cm, 20, |c| {
            c["data"]["greeting"] == "bonjour"
        })
        .await?;
        // the protection label removed by hand (no Gateway here) is put back
        merge_patch(
            env,
            &cr_path,
            &json!({"metadata": {"labels": {"orkestra.io/deletion-protection": null}}}),
        )
        .await?;
        until(env, "protection label restored", &cr_path, 20, |v| {
            v["metadata"]["labels"]["orkestra.io/deletion-protection"] == "true"
        })
        .await?;
        // without the Gateway a delete goes through to the runtime's cleanup
        must(env, "DELETE", &cr_path, None).await?;
        until(
            env,
            "cleanup job",
            &format!("/apis/batch/v1/namespaces/{ns}/jobs/demo-cleanup"),
            20,
            |_| true,
        )
        .await?;
        finish_job(env, ns, "demo-cleanup", true).await?;
        gone(env, "app removed", &cr_path, 30).await?;
        gone(env, "configmap collected", &cm, 90).await?;
        rt.shutdown().await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n    "))
        }
    })
}

const GUARDED: &str = r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: guarded}
spec:
  crds:
    widget:
      apiTypes: {group: guard.example.io, version: v1, kind: Widget, plural: widgets}
      operatorBox:
        runtime: {allowedNamespaces: ["team-*"]}
        onCreate:
          configMaps: [{name: "{{ .metadata.name }}-config", data: {a: "1"}, reconcile: true}]
          deployments:
            - {name: "{{ .metadata.name }}", image: "nginxinc/nginx-unprivileged:1.25", reconcile: true,
               when: [{field: spec.privileged, notExists: true}]}
            - {name: "{{ .metadata.name }}-root", image: "nginx:1.25", reconcile: true,
               securityContext: {privileged: true, runAsNonRoot: false, allowPrivilegeEscalation: true},
               when: [{field: spec.privileged, exists: true}]}
"#;

fn guards(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let file = env.dir.path().join("guarded.yaml");
        std::fs::write(&file, GUARDED).map_err(e)?;
        let (k, p) = load(&file)?;
        crds(env, &k, &p).await?;
        grant(env, &k).await?;
        for ns in ["team-a", "elsewhere"] {
            namespace(env, ns).await?;
        }
        let rt = runtime(env, &k, p, "guarded-a").await?;
        let widgets = |ns: &str| format!("/apis/guard.example.io/v1/namespaces/{ns}/widgets");
        let mut errors = Vec::new();
        // outside the permitted namespaces: no writes at all, a Warning event
        let w = json!({"apiVersion": "guard.example.io/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "elsewhere"}, "spec": {}});
        must(env, "POST", &widgets("elsewhere"), Some(&w)).await?;
        eventually(
            "NamespaceNotPermitted event",
            Duration::from_secs(20),
            || async { Ok(events(env, "elsewhere", "w", "NamespaceNotPermitted").await? > 0) },
        )
        .await?;
        let stored = get(env, &format!("{}/w", widgets("elsewhere")))
            .await?
            .ok_or("w vanished")?;
        if stored["metadata"].get("finalizers").is_some() || stored.get("status").is_some() {
            errors.push(format!(
                "a CR outside its namespaces was written: {}",
                stored["metadata"]
            ));
        }
        if get(env, "/api/v1/namespaces/elsewhere/configmaps/w-config")
            .await?
            .is_some()
        {
            errors.push("a CR outside its namespaces got children".into());
        }
        // a rendered Deployment that breaks the level: no children at all
        let root = json!({"apiVersion": "guard.example.io/v1", "kind": "Widget", "metadata": {"name": "root", "namespace": "team-a"}, "spec": {"privileged": true}});
        must(env, "POST", &widgets("team-a"), Some(&root)).await?;
        until(
            env,
            "PodSecurityViolation",
            &format!("{}/root", widgets("team-a")),
            30,
            |v| ready_reason(v) == "False/PodSecurityViolation",
        )
        .await?;
        for c in [
            "/api/v1/namespaces/team-a/configmaps/root-config",
            "/apis/apps/v1/namespaces/team-a/deployments/root-root",
        ] {
            if get(env, c).await?.is_some() {
                errors.push(format!("{c} written despite the pod-security violation"));
            }
        }
        // a foreign object at a child's name is left alone
        let foreign = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine-config", "namespace": "team-a"}, "data": {"owner": "someone else"}});
        must(
            env,
            "POST",
            "/api/v1/namespaces/team-a/configmaps",
            Some(&foreign),
        )
        .await?;
        let mine = json!({"apiVersion": "guard.example.io/v1", "kind": "Widget", "metadata": {"name": "mine", "namespace": "team-a"}, "spec": {}});
        must(env, "POST", &widgets("team-a"), Some(&mine)).await?;
        let v = until(
            env,
            "ChildConflict",
            &format!("{}/mine", widgets("team-a")),
            30,
            |v| ready_reason(v) == "False/ChildConflict",
        )
        .await?;
        let cm = get(env, "/api/v1/namespaces/team-a/configmaps/mine-config")
            .await?
            .ok_or("foreign ConfigMap gone")?;
        if cm["data"] != json!({"owner": "someone else"})
            || cm["metadata"].get("ownerReferences").is_some()
        {
            errors.push(format!("the foreign ConfigMap was touched: {cm}"));
        }
        if get(env, "/apis/apps/v1/namespaces/team-a/deployments/mine")
            .await?
            .is_some()
        {
            errors.push("writes went on after a ChildConflict".into());
        }
        let _ = v;
        rt.shutdown().await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n    "))
        }
    })
}

const PINNED: &str = r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: pinned}
spec:
  crds:
    gadget:
      apiTypes: {group: pinned.example.io, version: v1, kind: Gadget, plural: gadgets}
      operatorBox:
        runtime: {allowedNamespaces: [pinned-a, pinned-b]}
        onCreate:
          configMaps:
            - {name: "{{ .metadata.name }}-config", data: {a: "1"}, reconcile: true}
            - {name: "{{ .metadata.name }}-extra", data: {b: "2"}, reconcile: true, when: [{field: spec.extra, exists: true}]}
"#;

/// An allow-list of exact names pins the entry: its RBAC is Roles in those namespaces only,
/// and the runtime watches each of them rather than the cluster.
fn pinned(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let file = env.dir.path().join("pinned.yaml");
        std::fs::write(&file, PINNED).map_err(e)?;
        let (k, p) = load(&file)?;
        crds(env, &k, &p).await?;
        for ns in ["pinned-a", "pinned-b"] {
            namespace(env, ns).await?;
        }
        grant(env, &k).await?;
        let rt = runtime(env, &k, p, "pinned-a").await?;
        eventually("gadget healthy", Duration::from_secs(20), || async {
            Ok(rt.health().get("gadget") == Some(&ork_runtime::metrics::Health::Healthy))
        })
        .await?;
        let g = json!({"apiVersion": "pinned.example.io/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": "pinned-b"}, "spec": {}});
        must(
            env,
            "POST",
            "/apis/pinned.example.io/v1/namespaces/pinned-b/gadgets",
            Some(&g),
        )
        .await?;
        until(
            env,
            "g Ready",
            "/apis/pinned.example.io/v1/namespaces/pinned-b/gadgets/g",
            30,
            |v| ready_reason(v) == "True/ReconcileSucceeded",
        )
        .await?;
        until(
            env,
            "g-config",
            "/api/v1/namespaces/pinned-b/configmaps/g-config",
            10,
            |_| true,
        )
        .await?;
        rt.shutdown().await;
        Ok(())
    })
}

const SECRETS: &str = r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: secrets}
spec:
  crds:
    vault:
      apiTypes: {group: secrets.example.io, version: v1, kind: Vault, plural: vaults}
      operatorBox:
        onCreate:
          secrets:
            - {name: "{{ .metadata.name }}-kept", once: true, data: {token: "{{ randomAlphanumeric 24 }}"}}
            - {name: "{{ .metadata.name }}-rotated", once: true, rotateAfter: 3s, data: {token: "{{ randomAlphanumeric 24 }}"}}
"#;

/// `once` Secrets are created once and never updated; with `rotateAfter` they are recreated
/// when older; their values never reach the CR's status or events.
fn once_secrets(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let file = env.dir.path().join("secrets.yaml");
        std::fs::write(&file, SECRETS).map_err(e)?;
        let (k, p) = load(&file)?;
        crds(env, &k, &p).await?;
        let ns = "vaults";
        namespace(env, ns).await?;
        grant(env, &k).await?;
        let rt = runtime(env, &k, p, "secrets-a").await?;
        let base = format!("/apis/secrets.example.io/v1/namespaces/{ns}/vaults");
        let v = json!({"apiVersion": "secrets.example.io/v1", "kind": "Vault", "metadata": {"name": "v", "namespace": ns}, "spec": {"n": 1}});
        must(env, "POST", &base, Some(&v)).await?;
        let cr_path = format!("{base}/v");
        until(env, "v Ready", &cr_path, 30, |v| {
            ready_reason(v) == "True/ReconcileSucceeded"
        })
        .await?;
        let kept_path = format!("/api/v1/namespaces/{ns}/secrets/v-kept");
        let rotated_path = format!("/api/v1/namespaces/{ns}/secrets/v-rotated");
        let kept = get(env, &kept_path).await?.ok_or("v-kept missing")?;
        let rotated = get(env, &rotated_path).await?.ok_or("v-rotated missing")?;
        let mut errors = Vec::new();
        if rotated["metadata"]["annotations"]["orkestra.orkspace.io/generated-at"]
            .as_str()
            .is_none()
        {
            errors.push("no generated-at annotation on the rotated Secret".to_string());
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
        // a spec change re-runs the cycle: the kept Secret stays, the old rotated one is replaced
        merge_patch(env, &cr_path, &json!({"spec": {"n": 2}})).await?;
        let uid = |v: &Value| v["metadata"]["uid"].clone();
        until(env, "v-rotated recreated", &rotated_path, 20, |v| {
            uid(v) != uid(&rotated)
        })
        .await?;
        let kept_now = get(env, &kept_path).await?.ok_or("v-kept gone")?;
        if uid(&kept_now) != uid(&kept) || kept_now["data"] != kept["data"] {
            errors.push("the once Secret without rotateAfter was replaced or updated".into());
        }
        let cr = get(env, &cr_path).await?.ok_or("v gone")?;
        for secret in [&kept, &rotated] {
            let token = secret["data"]["token"].as_str().unwrap_or("-");
            if cr.to_string().contains(token) {
                errors.push("a Secret value reached the CR".into());
            }
        }
        rt.shutdown().await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n    "))
        }
    })
}

/// A new Katalog replaces the running one on the same Lease: the entries restart and the
/// existing CRs get what the new Katalog renders.
fn reload(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let v1 = PINNED.replace("metadata: {name: pinned}", "metadata: {name: reloaded}");
        let v2 = v1.replace(
            "            - {name: \"{{ .metadata.name }}-extra\"",
            "            - {name: \"{{ .metadata.name }}-v2\", data: {c: \"3\"}, reconcile: true}\n            - {name: \"{{ .metadata.name }}-extra\"",
        );
        if v2 == v1 {
            return Err("the v2 Katalog did not change".into());
        }
        let (f1, f2) = (
            env.dir.path().join("v1.yaml"),
            env.dir.path().join("v2.yaml"),
        );
        std::fs::write(&f1, &v1).map_err(e)?;
        std::fs::write(&f2, &v2).map_err(e)?;
        let (k1, p1) = load(&f1)?;
        let (k2, p2) = load(&f2)?;
        crds(env, &k1, &p1).await?;
        for ns in ["pinned-a", "pinned-b"] {
            namespace(env, ns).await?;
        }
        grant(env, &k2).await?;
        let rt = runtime(env, &k1, p1, "reload-a").await?;
        let g = json!({"apiVersion": "pinned.example.io/v1", "kind": "Gadget", "metadata": {"name": "r", "namespace": "pinned-a"}, "spec": {}});
        must(
            env,
            "POST",
            "/apis/pinned.example.io/v1/namespaces/pinned-a/gadgets",
            Some(&g),
        )
        .await?;
        until(
            env,
            "r-config",
            "/api/v1/namespaces/pinned-a/configmaps/r-config",
            30,
            |_| true,
        )
        .await?;
        if get(env, "/api/v1/namespaces/pinned-a/configmaps/r-v2")
            .await?
            .is_some()
        {
            return Err("r-v2 exists before the reload".into());
        }
        rt.reloader().reload(&k2, p2).map_err(e)?;
        until(
            env,
            "r-v2 after the reload",
            "/api/v1/namespaces/pinned-a/configmaps/r-v2",
            30,
            |_| true,
        )
        .await?;
        if !rt.leading() {
            return Err("the reload gave the Lease up".into());
        }
        rt.shutdown().await;
        Ok(())
    })
}

const HOSTILE: &str = r#"
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: {name: hostile}
spec:
  crds:
    box:
      apiTypes: {group: hostile.example.io, version: v1, kind: Box, plural: boxes}
      operatorBox:
        onCreate:
          configMaps:
            - {name: "{{ .metadata.name }}-config", reconcile: true,
               data: {x: "{{ range .spec.a }}{{ range $.spec.a }}{{ range $.spec.a }}x{{ end }}{{ end }}{{ end }}"}}
"#;

/// A tenant's CR that makes a template explode hits the render budget: Ready=False with the
/// budget named, no child, and the runtime goes on reconciling the next CR.
fn hostile_cr(env: &Env) -> TestFuture<'_> {
    Box::pin(async move {
        let file = env.dir.path().join("hostile.yaml");
        std::fs::write(&file, HOSTILE).map_err(e)?;
        let (k, p) = load(&file)?;
        crds(env, &k, &p).await?;
        let ns = "hostile";
        namespace(env, ns).await?;
        grant(env, &k).await?;
        let rt = runtime(env, &k, p, "hostile-a").await?;
        let base = format!("/apis/hostile.example.io/v1/namespaces/{ns}/boxes");
        let items: Vec<u32> = (0..300).collect();
        let bomb = json!({"apiVersion": "hostile.example.io/v1", "kind": "Box", "metadata": {"name": "bomb", "namespace": ns}, "spec": {"a": items}});
        must(env, "POST", &base, Some(&bomb)).await?;
        let v = until(
            env,
            "bomb TemplateError",
            &format!("{base}/bomb"),
            30,
            |v| ready_reason(v) == "False/TemplateError",
        )
        .await?;
        let message = condition(&v, "Ready")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("")
            .to_string();
        let mut errors = Vec::new();
        if !message.contains("template.") {
            errors.push(format!("the budget is not named: {message}"));
        }
        if get(
            env,
            &format!("/api/v1/namespaces/{ns}/configmaps/bomb-config"),
        )
        .await?
        .is_some()
        {
            errors.push("a child was written for the exploding CR".into());
        }
        let fine = json!({"apiVersion": "hostile.example.io/v1", "kind": "Box", "metadata": {"name": "fine", "namespace": ns}, "spec": {"a": [1, 2]}});
        must(env, "POST", &base, Some(&fine)).await?;
        until(env, "fine Ready", &format!("{base}/fine"), 30, |v| {
            ready_reason(v) == "True/ReconcileSucceeded"
        })
        .await?;
        rt.shutdown().await;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n    "))
        }
    })
}

fn main() -> ExitCode {
    let tests: &[(&str, ork_testenv::harness::Test<Env>)] = &[
        ("website", website),
        ("pipeline", pipeline),
        ("platform", platform),
        ("protected_apps", protected_apps),
        ("guards", guards),
        ("pinned", pinned),
        ("once_secrets", once_secrets),
        ("reload", reload),
        ("hostile_cr", hostile_cr),
    ];
    ork_testenv::harness::run(tests, Duration::from_secs(240), support::setup(), |_| {})
}
