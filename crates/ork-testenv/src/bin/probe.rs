//! `ork-testenv-probe exit|panic|abort`: starts a control plane, prints `pid <component> <pid>`
//! lines, then ends the way it was asked to. The lifecycle test checks that no process
//! survives any of the three endings.
//!
//! `ork-testenv-probe measure N`: starts and stops N control planes and prints the time from
//! first spawn to /readyz for each (the warm-start figure in BENCHMARKS.md).

use std::io::Write;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("exit");
    if mode == "measure" {
        let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
        let mut ms = Vec::new();
        for i in 0..n {
            match ork_testenv::ControlPlane::start(ork_testenv::Options::default()).await {
                Ok(cp) => {
                    let t = cp.startup.as_millis();
                    println!("run {i}: ready in {t} ms");
                    ms.push(t);
                }
                Err(e) => {
                    eprintln!("{e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        ms.sort_unstable();
        println!(
            "median {} ms, min {} ms, max {} ms over {n} runs",
            ms[n / 2],
            ms[0],
            ms[n - 1]
        );
        return std::process::ExitCode::SUCCESS;
    }
    let cp = match ork_testenv::ControlPlane::start(ork_testenv::Options::default()).await {
        Ok(cp) => cp,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for (name, pid) in cp.pids() {
        println!("pid {name} {pid}");
    }
    let _ = std::io::stdout().flush();
    match mode {
        "panic" => panic!("probe panics with a running control plane"),
        "abort" => std::process::abort(),
        _ => std::process::ExitCode::SUCCESS,
    }
}
