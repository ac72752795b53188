//! `ork local up|down|env|status` (docs/cli.md §16): the integration tests' control plane, for a user
//! who wants to try ork without a cluster. `up` leaves the processes running and records their
//! PIDs; `down` stops exactly those (checked against /proc) and removes the data directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// state directory (default $ORK_LOCAL_DIR, else ~/.cache/ork/local)
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// Kubernetes version (default the pinned one)
    #[arg(long, global = true)]
    version: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// build the binaries if missing, start the control plane, print the kubeconfig
    Up,
    /// stop every process `up` started and remove the data directory
    Down,
    /// print the export line for the kubeconfig
    Env,
    /// each process and the API server version
    Status,
}

#[derive(Serialize, Deserialize)]
struct State {
    version: String,
    server: String,
    kubeconfig: PathBuf,
    /// (component, pid, start time in clock ticks since boot): a PID alone may be reused
    pids: Vec<(String, u32, u64)>,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

fn read_state(dir: &Path) -> Option<State> {
    serde_json::from_str(&std::fs::read_to_string(state_path(dir)).ok()?).ok()
}

/// State letter and start time of a process, from /proc/<pid>/stat.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name, which is in parentheses and may contain spaces
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = rest.first()?.chars().next()?;
    let start = rest.get(19)?.parse().ok()?;
    Some((state, start))
}

/// The process we started is still there (also while it is exiting), and not a zombie.
fn running(pid: u32, start: u64) -> bool {
    matches!(proc_stat(pid), Some((state, s)) if s == start && state != 'Z' && state != 'X')
}

pub fn run(a: &Args) -> u8 {
    let dir = a.dir.clone().unwrap_or_else(default_dir);
    match a.action {
        Action::Up => up(&dir, a.version.clone()),
        Action::Down => down(&dir),
        Action::Env => match read_state(&dir) {
            Some(s) => {
                println!("export KUBECONFIG={}", s.kubeconfig.display());
                exit::OK
            }
            None => {
                eprintln!(
                    "no local control plane in {} (run `ork local up`)",
                    dir.display()
                );
                exit::NEGATIVE
            }
        },
        Action::Status => status(&dir),
    }
}

/// `$ORK_LOCAL_DIR`, else `~/.cache/ork/local`: where `ork local` and `ork run --local` keep
/// the control plane's state.
pub(crate) fn default_dir() -> PathBuf {
    std::env::var_os("ORK_LOCAL_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| ork_testenv::cache_dir().join("local"))
}

/// The kubeconfig of a control plane `ork local up` left running in `dir`, if every one of
/// its processes is still there.
pub(crate) fn running_kubeconfig(dir: &Path) -> Option<PathBuf> {
    let s = read_state(dir)?;
    s.pids
        .iter()
        .all(|(_, p, t)| running(*p, *t))
        .then_some(s.kubeconfig)
}

fn up(dir: &Path, version: Option<String>) -> u8 {
    if let Some(s) = read_state(dir) {
        if s.pids.iter().all(|(_, p, t)| running(*p, *t)) {
            println!("already running: Kubernetes v{} at {}", s.version, s.server);
            println!("kubeconfig: {}", s.kubeconfig.display());
            println!("export KUBECONFIG={}", s.kubeconfig.display());
            return exit::OK;
        }
        stop(&s);
    }
    let _ = std::fs::remove_dir_all(dir);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return exit::NEGATIVE;
        }
    };
    let version = version.unwrap_or_else(ork_testenv::kubernetes_version);
    let opts = ork_testenv::Options {
        dir: Some(dir.to_path_buf()),
        version: Some(version.clone()),
        detached: true,
    };
    let cp = match rt.block_on(ork_testenv::ControlPlane::start(opts)) {
        Ok(cp) => cp,
        Err(e) => {
            eprintln!("ork local up: {e}");
            return exit::NEGATIVE;
        }
    };
    let state = State {
        version: version.clone(),
        server: cp.server.clone(),
        kubeconfig: cp.kubeconfig.clone(),
        pids: cp
            .pids()
            .into_iter()
            .map(|(c, p)| (c.to_string(), p, proc_stat(p).map(|(_, t)| t).unwrap_or(0)))
            .collect(),
    };
    if let Err(e) = serde_json::to_string_pretty(&state)
        .map_err(|e| e.to_string())
        .and_then(|s| std::fs::write(state_path(dir), s).map_err(|e| e.to_string()))
    {
        eprintln!("cannot record the control plane's PIDs: {e}");
        stop(&state);
        return exit::NEGATIVE;
    }
    println!(
        "Kubernetes v{version} ready at {} in {} ms",
        cp.server,
        cp.startup.as_millis()
    );
    println!("kubeconfig: {}", cp.kubeconfig.display());
    println!("export KUBECONFIG={}", cp.kubeconfig.display());
    exit::OK
}

fn stop(s: &State) {
    let signal = |sig: &str| {
        for (_, pid, start) in s.pids.iter().rev() {
            if running(*pid, *start) {
                let _ = std::process::Command::new("kill")
                    .arg(sig)
                    .arg(pid.to_string())
                    .status();
            }
        }
    };
    let wait = |secs: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while s.pids.iter().any(|(_, p, t)| running(*p, *t)) && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // the data directory is thrown away: a short grace period, then SIGKILL
    signal("-TERM");
    wait(3);
    signal("-KILL");
    wait(5);
}

fn down(dir: &Path) -> u8 {
    match read_state(dir) {
        Some(s) => {
            stop(&s);
            if let Err(e) = std::fs::remove_dir_all(dir) {
                eprintln!("{}: {e}", dir.display());
                return exit::NEGATIVE;
            }
            println!(
                "stopped {} processes and removed {}",
                s.pids.len(),
                dir.display()
            );
            exit::OK
        }
        None => {
            println!("no local control plane in {}", dir.display());
            exit::OK
        }
    }
}

fn status(dir: &Path) -> u8 {
    let Some(s) = read_state(dir) else {
        println!("no local control plane in {}", dir.display());
        return exit::NEGATIVE;
    };
    let mut all = true;
    for (component, pid, start) in &s.pids {
        let up = running(*pid, *start);
        all &= up;
        println!(
            "{component:24} pid {pid:<8} {}",
            if up { "running" } else { "stopped" }
        );
    }
    let version = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .and_then(|rt| {
            rt.block_on(async {
                let client = ork_testenv::client_for(&s.kubeconfig).await.ok()?;
                client.apiserver_version().await.ok().map(|v| v.git_version)
            })
        });
    match version {
        Some(v) => println!("kube-apiserver {v} at {}", s.server),
        None => {
            all = false;
            println!("kube-apiserver not answering at {}", s.server);
        }
    }
    if all { exit::OK } else { exit::NEGATIVE }
}
