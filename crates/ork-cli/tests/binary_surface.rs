//! The production binaries reject every developer command as unknown (docs/cli.md §1).

mod common;

use std::process::Command;

use common::run;

const DEV_COMMANDS: &[&str] = &[
    "init",
    "template",
    "validate",
    "generate",
    "simulate",
    "e2e",
    "notes",
    "scan",
    "rbac",
    "completions",
    "local",
    "plan",
];

#[test]
fn production_binaries_reject_developer_commands() {
    for bin in [
        env!("CARGO_BIN_EXE_ork-runtime"),
        env!("CARGO_BIN_EXE_ork-gateway"),
    ] {
        for cmd in DEV_COMMANDS {
            let mut c = Command::new(bin);
            c.arg(cmd);
            let (code, _, err) = run(c);
            assert_eq!(code, 2, "{bin} {cmd}: {err}");
            assert!(
                err.contains(&format!("unrecognized subcommand '{cmd}'")),
                "{bin} {cmd}: {err}"
            );
        }
        // the offline admission check is a developer command too: neither production binary
        // runs it (ork-gateway will serve `gate`, but never `gate check`)
        let mut c = Command::new(bin);
        c.args(["gate", "check", "-f", "k.yaml", "--cr", "cr.yaml"]);
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "{bin} gate check: {err}");
        assert!(
            err.contains("unrecognized subcommand 'gate'")
                || err.contains("unrecognized subcommand 'check'")
                || err.contains("unexpected argument 'check'"),
            "{bin} gate check: {err}"
        );
        let mut c = Command::new(bin);
        c.arg("version");
        assert_eq!(run(c).0, 0);
    }
}

#[test]
fn the_developer_binary_has_the_developer_commands() {
    for cmd in [
        "validate",
        "template",
        "simulate",
        "generate",
        "notes",
        "init",
        "completions",
        "version",
        "gate",
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ork"));
        c.arg(cmd).arg("--help");
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "ork {cmd}: {out}{err}");
    }
}

/// `ork gate` refuses bad settings before it touches a cluster: an invalid Katalog, and
/// variables that are not what they must be, are usage errors naming what is wrong.
#[test]
fn gate_serving_rejects_bad_settings_before_any_connection() {
    let katalog = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/protected-apps/katalog.yaml"
    );
    for (var, value) in [
        ("ENABLE_HOUSEKEEPER", "maybe"),
        ("HOUSEKEEPER_SYNC_INTERVAL", "soon"),
        ("TLS_CERT", "/nonexistent/tls.crt"),
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ork"));
        c.args(["gate", "-f", katalog])
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env(var, value);
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "{var}={value}: {err}");
        assert!(
            err.contains(if var == "TLS_CERT" { "TLS_KEY" } else { var }),
            "{var}: {err}"
        );
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_ork"));
    c.args(["gate", "-f", "/nonexistent/katalog.yaml"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_ork-gateway"));
    c.args(["gate", "-f", katalog])
        .env_remove("KUBERNETES_SERVICE_HOST");
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("runs in a pod"), "{err}");
}
