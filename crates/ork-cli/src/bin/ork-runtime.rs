// The system allocator, not mimalloc: the runtime is a long-running process whose footprint is
// a target (BENCHMARKS.md, "Runtime at scale"). With 1,000 CRs x 2 children its peak RSS was
// 60-65 MiB with mimalloc, which keeps freed pages, and 38 MiB with glibc's malloc, at the same
// throughput.

fn main() -> std::process::ExitCode {
    ork_cli::runtime_main()
}
