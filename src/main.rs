//! The `trove` command: parse arguments, run, map errors to exit codes.

/// jemalloc keeps freed block buffers for reuse. With glibc's allocator each worker thread's
/// arena handed them back to the kernel and faulted them in again: about half of the system
/// time of a p2p get (`scripts/bench-p2p.sh`).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(trove::cli::main());
}
