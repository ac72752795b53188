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
