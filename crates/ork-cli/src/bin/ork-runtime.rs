fn main() -> std::process::ExitCode {
    ork_cli::runtime_main()
}
