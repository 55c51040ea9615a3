//! Every environment variable trove reads, declared in one place (the CLI passes them to clap
//! with `env = …`, nothing else calls `std::env::var`).

/// Overrides the cache directory (blocks, kept roots). Same as `--cache-dir`.
pub const TROVE_CACHE_DIR: &str = "TROVE_CACHE_DIR";

/// Every variable with a one-line description, for `--help` texts and the README.
pub const ENV_VARS: &[(&str, &str)] = &[(
    TROVE_CACHE_DIR,
    "cache directory for blocks and kept roots (default: the user cache dir, e.g. ~/.cache/trove)",
)];
