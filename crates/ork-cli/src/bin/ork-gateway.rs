fn main() -> std::process::ExitCode {
    ork_cli::gateway_main()
}
