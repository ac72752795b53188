#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("../.."))
}

pub fn ork() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ork"))
}

pub fn run(mut c: Command) -> (i32, String, String) {
    let out: Output = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---- bounded runs (hostile input) ----------------------------------------------------------
//
// Every hostile run is bounded: an address space of 1 GiB (`prlimit --as`; the debug build
// needs some headroom) and a wall clock of 60 s (`timeout -s KILL`), so a regression fails the
// test instead of hanging it or exhausting the machine.

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const ADDRESS_SPACE: &str = "--as=1073741824";
/// Reading 64 MiB from /dev/zero and refusing it takes well under a second in a release build;
/// this leaves room for a debug build on a busy machine.
pub const FAST: Duration = Duration::from_secs(15);

pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
    pub took: Duration,
}

pub fn ork_bounded(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL", "60", "prlimit", ADDRESS_SPACE, "--"])
        .arg(env!("CARGO_BIN_EXE_ork"))
        .args(args)
        .current_dir(dir)
        .env_remove("ORK_LIMIT_FILE_BYTES")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn: {e}"));
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data)
            .unwrap_or_else(|e| panic!("stdin: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait: {e}"));
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    };
    assert_ne!(run.code, 137, "killed after 60 s: {}", run.err);
    run
}
