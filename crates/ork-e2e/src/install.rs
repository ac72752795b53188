//! Installing ork for a scenario in-process (docs/e2e.md §3 step 4): the derived RBAC and
//! ServiceAccounts applied, then `ork run` and `ork gate` started as child processes that
//! authenticate with their own ServiceAccount tokens (TokenRequest) — so a permission the
//! derivation forgot fails the scenario, as it would in a cluster. The Gateway registers
//! `clientConfig.url` webhooks on loopback (or `--advertise`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ork_scenario::Component;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::api::{Api, e};

/// What the install needs to know about the Katalog.
#[derive(Debug, Clone)]
pub struct KatalogFacts {
    pub operator_namespace: String,
    /// `gateway.standalone`: no runtime (docs/security.md §2.9)
    pub gateway_only: bool,
    /// the Gateway runs at all
    pub gateway: bool,
    /// deletion protection is on: the cr-deleted phase decommissions first
    pub protects: bool,
    /// the RBAC `ork generate rbac` derives, both components
    pub rbac: Vec<Value>,
}

impl KatalogFacts {
    pub fn load(path: &Path, limits: &ork_limits::Limits) -> Result<KatalogFacts, String> {
        let o = ork_katalog::load_file_with(path, limits);
        let Some(k) = o.katalog else {
            let errs: Vec<String> = o.errors().map(|d| d.to_string()).collect();
            return Err(errs.join("\n"));
        };
        let Some(p) = k.posture.as_ref() else {
            return Err(format!("{}: no resolved security posture", path.display()));
        };
        let ns = p.operator_namespace.clone();
        let derived = ork_generate::rbac::derive(
            &k,
            &ork_generate::rbac::Options {
                namespace: ns.clone(),
                component: ork_generate::rbac::Component::Both,
            },
        )
        .map_err(e)?;
        Ok(KatalogFacts {
            operator_namespace: ns,
            gateway_only: p.gateway_only,
            gateway: p.gateway || p.gateway_only,
            protects: p.dp_enabled,
            rbac: derived.objects(),
        })
    }
}

/// The ServiceAccount each component runs as (docs/security.md §2.2).
fn service_account(c: Component) -> &'static str {
    match c {
        Component::Runtime => "orkestra",
        Component::Gateway => "orkestra-gateway",
    }
}

/// How the runner starts the components.
#[derive(Debug, Clone)]
pub struct Launch {
    /// the `ork` binary (the CLI passes its own path)
    pub ork: PathBuf,
    /// the runner's kubeconfig: its cluster entry is reused with each component's token
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
    /// `HOST:PORT` the API server reaches the Gateway at (default: loopback)
    pub advertise: Option<String>,
    /// scratch directory: kubeconfigs, logs, the Gateway's audit lines
    pub work: PathBuf,
}

struct Running {
    child: Child,
    health: u16,
}

/// ork's two components for one scenario.
pub struct Install {
    launch: Launch,
    katalog: PathBuf,
    facts: KatalogFacts,
    runtime: Option<Running>,
    gateway: Option<Running>,
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(e)?;
    Ok(l.local_addr().map_err(e)?.port())
}

impl Install {
    pub fn new(launch: Launch, katalog: PathBuf, facts: KatalogFacts) -> Install {
        Install {
            launch,
            katalog,
            facts,
            runtime: None,
            gateway: None,
        }
    }

    pub fn facts(&self) -> &KatalogFacts {
        &self.facts
    }

    /// The Gateway's stdout, where its audit lines go (docs/security.md §2.11).
    pub fn audit_file(&self) -> PathBuf {
        self.launch.work.join("gateway.out")
    }

    /// Namespace, ServiceAccounts and RBAC, as the runner (cluster-admin).
    pub async fn apply_rbac(&self, api: &Api) -> Result<(), String> {
        // an in-process Gateway registers ork's configurations under their fixed names and
        // teardown removes them: on a cluster where ork is installed it would replace and then
        // delete the installed ones, so it refuses
        for plural in [
            "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
        ] {
            let list = format!("/apis/admissionregistration.k8s.io/v1/{plural}");
            let items = api.get(&list).await?.unwrap_or_default();
            if let Some(name) = items["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|it| it["metadata"]["name"].as_str())
                .find(|n| n.starts_with("orkestra-"))
            {
                return Err(format!(
                    "this cluster already has ork's {plural} {name}: the in-process install \
                     would replace ork's own configurations; run against a cluster without ork \
                     (for example --local)"
                ));
            }
        }
        let ns = &self.facts.operator_namespace;
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        check(api.apply(&namespace, ns, None, false).await?, "Namespace")?;
        for obj in &self.facts.rbac {
            let what = format!(
                "{} {}",
                obj["kind"].as_str().unwrap_or_default(),
                obj["metadata"]["name"].as_str().unwrap_or_default()
            );
            check(api.apply(obj, ns, None, false).await?, &what)?;
        }
        Ok(())
    }

    /// A kubeconfig for `c`: the runner's cluster with a fresh token of the component's
    /// ServiceAccount.
    async fn kubeconfig(&self, api: &Api, c: Component) -> Result<PathBuf, String> {
        let ns = &self.facts.operator_namespace;
        let sa = service_account(c);
        let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 7200}});
        let path = format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token");
        let a = api
            .send(
                "POST",
                &path,
                Some((crate::api::JSON, req.to_string().into_bytes())),
                None,
            )
            .await?;
        if !a.ok() {
            return Err(format!(
                "TokenRequest for {ns}/{sa}: {} {}",
                a.status,
                a.message()
            ));
        }
        let token = a.body["status"]["token"]
            .as_str()
            .ok_or("TokenRequest answered no token")?
            .to_string();
        let kc = kube::config::Kubeconfig::read_from(&self.launch.kubeconfig).map_err(e)?;
        let ctx_name = self
            .launch
            .context
            .clone()
            .or(kc.current_context.clone())
            .ok_or("the kubeconfig has no current context")?;
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == ctx_name)
            .and_then(|c| c.context.clone())
            .ok_or_else(|| format!("context {ctx_name:?} not in the kubeconfig"))?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .and_then(|c| c.cluster.clone())
            .ok_or_else(|| format!("cluster {:?} not in the kubeconfig", ctx.cluster))?;
        // JSON is YAML: kube reads it back as a kubeconfig
        let mut cluster_json = serde_json::to_value(&cluster).map_err(e)?;
        if let Some(m) = cluster_json.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        let out = json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "ork",
            "clusters": [{"name": "ork", "cluster": cluster_json}],
            "users": [{"name": sa, "user": {"token": token}}],
            "contexts": [{"name": "ork", "context": {"cluster": "ork", "user": sa}}],
        });
        let file = self.launch.work.join(format!("{sa}.kubeconfig"));
        write_private(&file, out.to_string().as_bytes())?;
        Ok(file)
    }

    /// Starts `c` (if the Katalog runs it) and waits until it is ready.
    pub async fn start(&mut self, api: &Api, c: Component) -> Result<(), String> {
        if !self.runs(c) || self.slot(c).is_some() {
            return Ok(());
        }
        let kubeconfig = self.kubeconfig(api, c).await?;
        let health = free_port()?;
        let mut cmd = Command::new(&self.launch.ork);
        let log = self.launch.work.join(format!("{}.log", c.as_str()));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|x| format!("{}: {x}", log.display()))?;
        let stdout: Stdio = match c {
            Component::Runtime => {
                cmd.arg("run")
                    .arg("-f")
                    .arg(&self.katalog)
                    .arg("--no-apply")
                    .arg("-n")
                    .arg(&self.facts.operator_namespace);
                Stdio::null()
            }
            Component::Gateway => {
                let port = free_port()?;
                let advertise = self
                    .launch
                    .advertise
                    .clone()
                    .unwrap_or_else(|| format!("127.0.0.1:{port}"));
                cmd.arg("gate")
                    .arg("-f")
                    .arg(&self.katalog)
                    .arg("--addr")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--advertise")
                    .arg(advertise);
                // audit lines are JSON on stdout (security.audit.sink's default)
                let out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.audit_file())
                    .map_err(e)?;
                Stdio::from(out)
            }
        };
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--health-addr")
            .arg(format!("127.0.0.1:{health}"))
            .arg("--log-format")
            .arg("json")
            .env("RUST_LOG", "info")
            // the Lease identity: one per component of this run, so a second `ork e2e` against
            // the same cluster competes for the Lease instead of sharing it
            .env(
                "POD_NAME",
                format!("e2e-{}-{}", c.as_str(), std::process::id()),
            )
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|x| format!("starting {}: {x}", self.launch.ork.display()))?;
        *self.slot_mut(c) = Some(Running { child, health });
        self.wait_ready(c, Duration::from_secs(60)).await
    }

    fn runs(&self, c: Component) -> bool {
        match c {
            Component::Runtime => !self.facts.gateway_only,
            Component::Gateway => self.facts.gateway,
        }
    }

    fn slot(&self, c: Component) -> Option<&Running> {
        match c {
            Component::Runtime => self.runtime.as_ref(),
            Component::Gateway => self.gateway.as_ref(),
        }
    }

    fn slot_mut(&mut self, c: Component) -> &mut Option<Running> {
        match c {
            Component::Runtime => &mut self.runtime,
            Component::Gateway => &mut self.gateway,
        }
    }

    /// `/readyz` answers 200 (leader, registered), or the process died: its log says why.
    async fn wait_ready(&mut self, c: Component, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        let log = self.launch.work.join(format!("{}.log", c.as_str()));
        loop {
            let Some(r) = self.slot_mut(c).as_mut() else {
                return Err(format!("{} is not running", c.as_str()));
            };
            if let Ok(Some(status)) = r.child.try_wait() {
                *self.slot_mut(c) = None;
                return Err(format!(
                    "ork {} exited ({status}) before it was ready; last log lines:\n{}",
                    c.as_str(),
                    tail(&log, 12)
                ));
            }
            let port = r.health;
            if probe(port, "/readyz").await == Some(200) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "ork {} not ready after {}s; last log lines:\n{}",
                    c.as_str(),
                    timeout.as_secs(),
                    tail(&log, 12)
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops `c` with SIGTERM (it drains and releases its Lease), SIGKILL after 40 s.
    pub async fn stop(&mut self, c: Component) {
        let Some(mut r) = self.slot_mut(c).take() else {
            return;
        };
        if let Some(pid) = r.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(40), r.child.wait())
            .await
            .is_err()
        {
            let _ = r.child.kill().await;
        }
    }

    /// `scale: {component, replicas}`: 0 stops it, 1 starts it and waits until ready.
    pub async fn scale(&mut self, api: &Api, c: Component, replicas: u32) -> Result<(), String> {
        if !self.runs(c) {
            return Err(format!("this Katalog runs no {}", c.as_str()));
        }
        if replicas == 0 {
            self.stop(c).await;
            Ok(())
        } else {
            self.start(api, c).await
        }
    }

    /// Restarts both components with another Katalog (the decommission path).
    pub async fn restart_with(&mut self, api: &Api, katalog: PathBuf) -> Result<(), String> {
        self.stop(Component::Gateway).await;
        self.stop(Component::Runtime).await;
        self.katalog = katalog;
        self.start(api, Component::Gateway).await?;
        self.start(api, Component::Runtime).await
    }

    /// Stops both and removes what they and the install left: webhook configurations, the
    /// guard, the derived RBAC. The operator namespace stays for the next scenario.
    pub async fn teardown(&mut self, api: &Api) -> Result<(), String> {
        self.stop(Component::Gateway).await;
        self.stop(Component::Runtime).await;
        let mut errors = Vec::new();
        for (group, plural) in [
            (
                "admissionregistration.k8s.io/v1",
                "validatingwebhookconfigurations",
            ),
            (
                "admissionregistration.k8s.io/v1",
                "mutatingwebhookconfigurations",
            ),
            (
                "admissionregistration.k8s.io/v1",
                "validatingadmissionpolicybindings",
            ),
            (
                "admissionregistration.k8s.io/v1",
                "validatingadmissionpolicies",
            ),
        ] {
            let list = format!("/apis/{group}/{plural}");
            if let Some(items) = api.get(&list).await?
                && let Some(items) = items["items"].as_array()
            {
                for it in items {
                    let name = it["metadata"]["name"].as_str().unwrap_or_default();
                    if name.starts_with("orkestra-")
                        && let Err(x) = api.delete_quietly(&format!("{list}/{name}")).await
                    {
                        errors.push(x);
                    }
                }
            }
        }
        for obj in self.facts.rbac.iter().rev() {
            match api.resolve_object(obj).await {
                Ok(r) => {
                    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                    let ns = obj["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or(&self.facts.operator_namespace);
                    if let Err(x) = api.delete_quietly(&r.object(ns, name)).await {
                        errors.push(x);
                    }
                }
                Err(x) => errors.push(x),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn check(a: crate::api::Answer, what: &str) -> Result<(), String> {
    if a.ok() {
        Ok(())
    } else {
        Err(format!("applying {what}: {} {}", a.status, a.message()))
    }
}

/// The kubeconfig holds a token: only its owner may read it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|x| format!("{}: {x}", path.display()))?;
    f.write_all(bytes)
        .map_err(|x| format!("{}: {x}", path.display()))
}

/// The HTTP status of `GET path` on the plain health port, if it answers.
async fn probe(port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .ok()?
    .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// The last `n` lines of a log file, for an error message.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
