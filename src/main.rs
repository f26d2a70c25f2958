//! The `priorauth` binary: parse arguments, run, map the outcome to an exit code.

/// mimalloc instead of glibc malloc: intake makes many small, short-lived
/// allocations (the claim model's strings) and frees whole sets at once,
/// which glibc pays for in `malloc_consolidate`. See docs/PERFORMANCE.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(priorauth::cli::main());
}
