// mimalloc unless built without the `mimalloc` feature (the runtime benchmark builds `ork run`
// with the runtime binary's system allocator; see src/bin/ork-runtime.rs)
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ork_cli::dev_main()
}
