//! The custom harness of the integration tests that share one control plane (`harness =
//! false`): tests run in sequence on one tokio runtime, each under a timeout and with its panic
//! caught, so one failure never takes the control plane, or the tests after it, down; the
//! environment (and with it the control plane) is dropped at the end whatever happened.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// One test: it borrows the shared environment and says why it failed.
pub type Test<E> = for<'a> fn(&'a E) -> Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// Runs the `tests` whose name contains the first non-flag argument (all without one), each
/// under `per_test`, after `setup` built their environment; `after` sees the environment once
/// the tests are done (to keep logs, say). Prints `test NAME ... ok|FAILED` lines and a
/// summary; fails when any test failed or the environment could not be built.
pub fn run<E>(
    tests: &[(&str, Test<E>)],
    per_test: Duration,
    setup: impl Future<Output = Result<E, String>>,
    after: impl FnOnce(&E),
) -> ExitCode {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let selected: Vec<_> = tests
        .iter()
        .filter(|(n, _)| filter.as_deref().is_none_or(|f| n.contains(f)))
        .collect();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    let env = match rt.block_on(setup) {
        Ok(env) => env,
        Err(err) => {
            eprintln!("cannot set up the tests: {err}");
            println!("0 passed, {} failed", selected.len());
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in selected {
        let start = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { tokio::time::timeout(per_test, test(&env)).await })
        }));
        let outcome = match result {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(m))) => Err(m),
            Ok(Err(_)) => Err(format!("timed out after {}s", per_test.as_secs())),
            Err(_) => Err("panicked".to_string()),
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({} ms)", start.elapsed().as_millis());
            }
            Err(m) => {
                failed += 1;
                println!(
                    "test {name} ... FAILED ({} ms)\n    {m}",
                    start.elapsed().as_millis()
                );
            }
        }
    }
    after(&env);
    drop(env);
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
