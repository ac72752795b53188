//! A real Kubernetes control plane on loopback: etcd, kube-apiserver and
//! kube-controller-manager, built from the official Go modules by
//! `scripts/control-plane/build` and cached under `~/.cache/ork/control-plane/<version>/bin`.
//!
//! Like controller-runtime's envtest, but with the controller manager's garbage collector and
//! namespace controller running, so cascading and namespace deletion behave as in a cluster.
//! Every process started here is stopped when the [`ControlPlane`] is dropped (also while
//! unwinding from a panic); a watchdog process kills them if the owning process dies without
//! unwinding. `ORK_TEST_KUBECONFIG` runs the same tests against an existing cluster instead.

pub mod harness;
mod pki;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use pki::Pki;

/// The pinned Kubernetes version (scripts/control-plane/versions.env).
pub fn kubernetes_version() -> String {
    const ENV: &str = include_str!("../../../scripts/control-plane/versions.env");
    ENV.lines()
        .find_map(|l| l.strip_prefix("KUBERNETES_VERSION="))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the control plane failed: {0}")]
    Build(String),
    #[error("cannot start {component}: {source}")]
    Spawn {
        component: &'static str,
        source: std::io::Error,
    },
    #[error("{component} did not become ready within {seconds}s; last log lines:\n{log}")]
    NotReady {
        component: &'static str,
        seconds: u64,
        log: String,
    },
    #[error("{component} exited early ({status}); last log lines:\n{log}")]
    Exited {
        component: &'static str,
        status: String,
        log: String,
    },
    #[error("certificates: {0}")]
    Pki(String),
    #[error("kubernetes client: {0}")]
    Kube(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `$ORK_CACHE`, else `~/.cache/ork`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ORK_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/ork")
}

/// The directory holding the three binaries for `version`.
pub fn bin_dir(version: &str) -> PathBuf {
    cache_dir()
        .join("control-plane")
        .join(format!("v{version}"))
        .join("bin")
}

const COMPONENTS: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

/// Returns the binary directory, building the binaries first if they are missing. The build
/// script is embedded, so an installed `ork` can build them too (it needs Go).
pub fn ensure_binaries(version: &str) -> Result<PathBuf> {
    let dir = bin_dir(version);
    if COMPONENTS.iter().all(|c| dir.join(c).is_file()) {
        return Ok(dir);
    }
    const SCRIPT: &str = include_str!("../../../scripts/control-plane/build");
    const VERSIONS: &str = include_str!("../../../scripts/control-plane/versions.env");
    let tmp = tempfile::tempdir()?;
    std::fs::write(tmp.path().join("build"), SCRIPT)?;
    std::fs::write(tmp.path().join("versions.env"), VERSIONS)?;
    eprintln!(
        "building the Kubernetes v{version} control plane from Go modules (first time only; several minutes)"
    );
    let status = Command::new("bash")
        .arg(tmp.path().join("build"))
        .arg("--version")
        .arg(version)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| Error::Build(format!("cannot run bash: {e}")))?;
    if !status.success() {
        return Err(Error::Build(format!(
            "scripts/control-plane/build exited with {status}"
        )));
    }
    Ok(dir)
}

/// How to start a control plane.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep state here instead of a temporary directory (`ork local`).
    pub dir: Option<PathBuf>,
    /// Kubernetes version; default the pinned one.
    pub version: Option<String>,
    /// Leave the processes running when the handle is dropped (`ork local up`).
    pub detached: bool,
}

enum StateDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl StateDir {
    fn path(&self) -> &Path {
        match self {
            StateDir::Temp(t) => t.path(),
            StateDir::Kept(p) => p,
        }
    }
}

/// A running control plane (or, with `ORK_TEST_KUBECONFIG`, an existing cluster).
pub struct ControlPlane {
    /// Admin kubeconfig (client certificate in `system:masters`).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:<port>`
    pub server: String,
    /// The CA the API server trusts and serves from; it issues webhook serving certificates.
    pub pki: Option<Pki>,
    /// Time from the first spawn to `/readyz` answering (warm start when the binaries exist).
    pub startup: Duration,
    processes: Vec<(&'static str, Child)>,
    watchdog: Option<Child>,
    dir: Option<StateDir>,
    detached: bool,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl ControlPlane {
    /// Uses `ORK_TEST_KUBECONFIG` when set, else starts a fresh control plane.
    pub async fn from_env_or_start() -> Result<ControlPlane> {
        if let Some(k) = std::env::var_os("ORK_TEST_KUBECONFIG") {
            let kubeconfig = PathBuf::from(k);
            return Ok(ControlPlane {
                server: String::new(),
                kubeconfig,
                pki: None,
                startup: Duration::ZERO,
                processes: Vec::new(),
                watchdog: None,
                dir: None,
                detached: true,
            });
        }
        ControlPlane::start(Options::default()).await
    }

    /// Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports and waits
    /// until the API server is ready.
    pub async fn start(opts: Options) -> Result<ControlPlane> {
        let version = opts.version.clone().unwrap_or_else(kubernetes_version);
        let bin = ensure_binaries(&version)?;
        let dir = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                StateDir::Kept(d.clone())
            }
            None => StateDir::Temp(tempfile::Builder::new().prefix("ork-testenv-").tempdir()?),
        };
        let root = dir.path().to_path_buf();
        let pki = Pki::new().map_err(Error::Pki)?;
        let files = pki.write(&root).map_err(Error::Pki)?;
        let (etcd_port, peer_port, api_port) = (free_port()?, free_port()?, free_port()?);
        let server = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = root.join("kubeconfig");
        std::fs::write(&kubeconfig, pki.kubeconfig(&server))?;
        let mut cp = ControlPlane {
            kubeconfig,
            server: server.clone(),
            pki: Some(pki),
            startup: Duration::ZERO,
            processes: Vec::new(),
            watchdog: None,
            dir: Some(dir),
            detached: opts.detached,
        };
        let started = Instant::now();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        cp.spawn(
            "etcd",
            &bin,
            &root,
            &[
                "--name=ork",
                &format!("--data-dir={}", root.join("etcd").display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=ork={peer_url}"),
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )?;
        let f = |p: &Path| p.display().to_string();
        cp.spawn(
            "kube-apiserver",
            &bin,
            &root,
            &[
                &format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                // loopback cannot be published as the kubernetes Service endpoint
                "--endpoint-reconciler-type=none",
                &format!("--secure-port={api_port}"),
                &format!("--cert-dir={}", root.join("apiserver-certs").display()),
                &format!("--tls-cert-file={}", f(&files.serving_cert)),
                &format!("--tls-private-key-file={}", f(&files.serving_key)),
                &format!("--client-ca-file={}", f(&files.ca_cert)),
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                &format!("--service-account-key-file={}", f(&files.sa_pub)),
                &format!("--service-account-signing-key-file={}", f(&files.sa_key)),
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
            ],
        )?;
        let client = cp.wait_ready(Duration::from_secs(60)).await?;
        cp.startup = started.elapsed();
        let kcm_port = free_port()?;
        let kc = f(&cp.kubeconfig);
        cp.spawn(
            "kube-controller-manager",
            &bin,
            &root,
            &[
                &format!("--kubeconfig={kc}"),
                &format!("--authentication-kubeconfig={kc}"),
                &format!("--authorization-kubeconfig={kc}"),
                // the two controllers whose behaviour ork depends on: cascading deletion of
                // owned children and namespace deletion
                "--controllers=garbagecollector,namespace",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                &format!("--secure-port={kcm_port}"),
                "--use-service-account-credentials=false",
                "--profiling=false",
                "--v=1",
            ],
        )?;
        drop(client);
        if !cp.detached {
            cp.start_watchdog();
        }
        Ok(cp)
    }

    fn spawn(
        &mut self,
        component: &'static str,
        bin: &Path,
        root: &Path,
        args: &[&str],
    ) -> Result<()> {
        let log = File::create(root.join(format!("{component}.log")))?;
        let err = log.try_clone()?;
        let mut cmd = Command::new(bin.join(component));
        cmd.args(args).stdin(Stdio::null()).stdout(log).stderr(err);
        // own process group: a Ctrl-C meant for the caller does not reach the control plane
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .map_err(|source| Error::Spawn { component, source })?;
        self.processes.push((component, child));
        Ok(())
    }

    /// A shell loop that kills the components once this process is gone, for the case where
    /// it dies without unwinding (SIGKILL, abort).
    fn start_watchdog(&mut self) {
        let pids: Vec<String> = self
            .processes
            .iter()
            .map(|(_, c)| c.id().to_string())
            .collect();
        let script =
            "while kill -0 \"$0\" 2>/dev/null; do sleep 0.5; done; kill -9 \"$@\" 2>/dev/null";
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(std::process::id().to_string())
            .args(&pids);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.watchdog = cmd.spawn().ok();
    }

    fn log_path(&self, component: &str) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().join(format!("{component}.log")))
            .unwrap_or_default()
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<kube::Client> {
        let start = Instant::now();
        loop {
            for (component, child) in &mut self.processes {
                if let Ok(Some(status)) = child.try_wait() {
                    let component: &'static str = component;
                    let log = tail(
                        &self
                            .dir
                            .as_ref()
                            .map(|d| d.path().join(format!("{component}.log")))
                            .unwrap_or_default(),
                        20,
                    );
                    return Err(Error::Exited {
                        component,
                        status: status.to_string(),
                        log,
                    });
                }
            }
            if let Ok(client) = self.client().await {
                let req = http::Request::get("/readyz")
                    .body(Vec::new())
                    .map_err(|e| Error::Kube(e.to_string()))?;
                if let Ok(body) = client.request_text(req).await
                    && body.trim() == "ok"
                {
                    return Ok(client);
                }
            }
            if start.elapsed() > timeout {
                return Err(Error::NotReady {
                    component: "kube-apiserver",
                    seconds: timeout.as_secs(),
                    log: tail(&self.log_path("kube-apiserver"), 20),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client authenticated as the admin user.
    pub async fn client(&self) -> Result<kube::Client> {
        client_for(&self.kubeconfig).await
    }

    /// PIDs of the processes this handle started.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.processes.iter().map(|(n, c)| (*n, c.id())).collect()
    }

    /// The state directory (data, certificates, logs, kubeconfig).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(StateDir::path)
    }

    /// Stops every process (SIGKILL: etcd runs without fsync on a throw-away directory).
    pub fn stop(&mut self) {
        for (_, child) in self.processes.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.processes.clear();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if !self.detached {
            self.stop();
        }
    }
}

/// A client from a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Result<kube::Client> {
    let kc =
        kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| Error::Kube(e.to_string()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kube(e.to_string()))?;
    kube::Client::try_from(cfg).map_err(|e| Error::Kube(e.to_string()))
}
