//! Diagnostics on stderr through `tracing`, for when a transfer fails and the message alone does
//! not say enough: `-v` shows what each tier does (connections, stream negotiation, requests,
//! failures, why a peer was dropped), `-vv` every want, block, presence and message, and the
//! libp2p swarm's own events. `RUST_LOG` (a `tracing` filter) overrides both. Without either,
//! nothing is installed and the library's events cost one relaxed load each.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The filter `-v` repeated `verbose` times stands for.
fn filter_for(verbose: u8) -> &'static str {
    match verbose {
        0 => "off",
        1 => "trove=debug",
        2 => "trove=trace,libp2p_swarm=debug,libp2p_tcp=debug,libp2p_quic=debug,libp2p_noise=debug,multistream_select=debug,libp2p_identify=debug",
        _ => "trace",
    }
}

/// Installs the stderr subscriber when `-v` was given or `RUST_LOG` is set.
pub fn init(verbose: u8, rust_log: Option<&str>) -> anyhow::Result<()> {
    let filter = match rust_log {
        Some(spec) => EnvFilter::try_new(spec).map_err(|e| {
            anyhow::anyhow!(
                "RUST_LOG=`{spec}` is not a valid filter ({e}); use e.g. RUST_LOG=trove=debug"
            )
        })?,
        None if verbose == 0 => return Ok(()),
        None => EnvFilter::new(filter_for(verbose)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(true)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up diagnostics: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verbosity_is_a_valid_filter() {
        for v in 0..4 {
            EnvFilter::try_new(filter_for(v)).unwrap();
        }
    }
}
