fn main() -> std::process::ExitCode {
    ork_cli::dev_main()
}
