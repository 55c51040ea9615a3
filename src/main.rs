//! The `trove` command: parse arguments, run, map errors to exit codes.

fn main() {
    std::process::exit(trove::cli::main());
}
