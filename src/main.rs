//! The `priorauth` binary: parse arguments, run, map the outcome to an exit code.

fn main() {
    std::process::exit(priorauth::cli::main());
}
