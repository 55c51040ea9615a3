//! Tier 1: the local IPFS daemon, through its Kubo RPC API.
//!
//! # Finding the daemon
//! [`discover_api_candidates`] lists the addresses to try, the way Kubo's own tools find the
//! daemon: `--kubo-api` (a URL or a multiaddr), then `IPFS_API` (same forms), then the `api` file
//! in `$IPFS_PATH` (default `~/.ipfs`), which holds the multiaddr the running daemon listens on,
//! then `http://127.0.0.1:5001`. It is a pure function of its inputs (the config module reads the
//! environment). [`KuboRpcSource::connect`] probes them all at once (`POST /api/v0/version`) and
//! keeps the first one, in that order, that answers. Nobody listening costs almost nothing: a
//! quick TCP check (at most [`LOOPBACK_CONNECT_TIMEOUT`] on loopback) comes before the request.
//!
//! # What is asked
//! Only commands whose answers can be verified: `dag/export` (a CARv1 of the whole DAG) and
//! `block/get` (one block). Never `cat`, whose bytes nobody can check. Every call is a `POST`
//! (Kubo and js-ipfs answer `GET` with 405) and carries `offline=true`, so that Kubo answers
//! "not found" at once for content it lacks instead of searching the network for it.
//!
//! # Implementations and their quirks
//! - **Kubo** (and go-ipfs) honours `offline=true`: a missing block is an immediate HTTP 500
//!   `{"Message": "block was not found locally (offline): …"}`, which becomes
//!   [`SourceError::NotFound`](crate::fetch::SourceError::NotFound). A block missing half-way through `dag/export` ends the body early
//!   (Kubo reports it in an `X-Stream-Error` trailer, which HTTP clients do not surface); the
//!   fetcher notices the hole when it walks the DAG.
//! - **js-ipfs** silently drops parameters it does not know, `offline` included, and then waits
//!   for the network forever: `block/get` of a missing block never answers, and `dag/export`
//!   sends `200`, the CAR header, and then nothing. It does honour `timeout=`. So for a daemon
//!   that is not Kubo (told apart by `/api/v0/version`, see [`DaemonImplementation`]), block
//!   lookups carry `timeout=` ([`DEFAULT_LOOKUP_TIMEOUT`]; its "request timed out" then means
//!   not found), `dag` first checks the root with `block/stat` (with the same time-out), and the
//!   CAR stream fails with [`std::io::ErrorKind::TimedOut`] after [`DEFAULT_STALL_TIMEOUT`]
//!   without a byte. (A `timeout=` on `dag/export` itself would cut long exports short.)
//! - js-ipfs labels CARs and blocks `application/json`: the `Content-Type` is ignored (the
//!   fetcher verifies every byte anyway).
//! - An unknown command is a 404 in both (`{"Message":"Not Found","Code":3}` in js-ipfs), so a
//!   404 means [`SourceError::Unsupported`](crate::fetch::SourceError::Unsupported), not a missing CID: content not found is always a 500
//!   with a message.
//!
//! # Starting a daemon
//! [`KuboRpcSource::start_daemon`] (off unless `daemon.auto_start` is set) runs a command such
//! as `ipfs daemon`, waits until the `api` file names an address that answers, and returns a
//! [`DaemonHandle`] that stops the daemon when dropped — only if trove started it.
//!
//! The source does no verification and no retries: the fetcher verifies every block against its
//! CID and decides on retries and fallbacks from the [`SourceError`](crate::fetch::SourceError) returned.
//!
//! The module is split along those lines: `discover` (finding and probing the API),
//! `rpc` (the source), `daemon` (starting and stopping a daemon).

mod daemon;
mod discover;
mod rpc;

pub use daemon::DaemonHandle;
pub use discover::{
    api_file_path, discover_api_candidates, multiaddr_to_url, parse_api_address, read_api_file,
    ApiCandidate, ApiOrigin, DaemonImplementation,
};
pub use rpc::KuboRpcSource;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Where a Kubo daemon listens unless told otherwise.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:5001";

/// How long the TCP check of a loopback address may take before the candidate counts as absent.
pub const LOOPBACK_CONNECT_TIMEOUT: Duration = Duration::from_millis(75);

/// The same for other hosts (only ever named explicitly, by `--kubo-api` or `IPFS_API`).
pub const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a daemon that accepted the connection may take to answer `/api/v0/version`.
pub const PROBE_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// For daemons that ignore `offline=true` (js-ipfs): how long a block lookup may take before
/// the block counts as absent (a local lookup takes milliseconds; longer means the daemon went
/// looking on the network).
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// For daemons that ignore `offline=true`: how long a `dag/export` stream may stay silent before
/// it fails with [`std::io::ErrorKind::TimedOut`] (the daemon is looking for a block it lacks).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`DaemonHandle`] waits for a daemon it started to exit after `SIGTERM` before
/// killing it.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How much of an error answer is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The largest `api` file read (it holds one multiaddr).
const MAX_API_FILE: u64 = 4096;

/// Errors finding, reaching or starting the daemon.
#[derive(Debug, thiserror::Error)]
pub enum KuboError {
    /// An address that is neither a usable URL nor a usable multiaddr.
    #[error("invalid Kubo RPC address `{input}` (from {origin}): {detail}")]
    InvalidAddress {
        /// The address as given.
        input: String,
        /// Where it came from.
        origin: ApiOrigin,
        /// What is wrong.
        detail: String,
    },
    /// The repository's `api` file exists but cannot be read.
    #[error("cannot read the Kubo API file `{}`: {source}", path.display())]
    ApiFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An address the user named answered, but not as a Kubo RPC API does.
    #[error("`{url}` (from {origin}) answered, but it is not a Kubo RPC API: {detail}")]
    NotAnRpcApi {
        /// The address.
        url: String,
        /// Where it came from.
        origin: ApiOrigin,
        /// What it answered.
        detail: String,
    },
    /// The daemon command is empty.
    #[error("the command to start the IPFS daemon is empty")]
    EmptyCommand,
    /// The daemon's program does not exist.
    #[error("cannot start the IPFS daemon: `{program}` was not found")]
    DaemonNotFound {
        /// The program (first word of the command).
        program: String,
    },
    /// The daemon could not be started for another reason.
    #[error("cannot start the IPFS daemon `{command}`: {source}")]
    DaemonSpawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The daemon exited before its API answered.
    #[error(
        "the IPFS daemon `{command}` exited ({status}) before its API answered{}",
        quoted_log(log)
    )]
    DaemonExited {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// The end of its output.
        log: String,
    },
    /// The daemon's API did not answer in time (the daemon has been stopped).
    #[error(
        "the IPFS daemon `{command}` did not answer within {wait:?}{}",
        quoted_log(log)
    )]
    DaemonTimeout {
        /// The command line.
        command: String,
        /// How long trove waited.
        wait: Duration,
        /// The end of its output.
        log: String,
    },
}

fn quoted_log(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        format!("; its output ends with:\n{}", log.trim_end())
    }
}

impl crate::Hint for KuboError {
    fn hint(&self) -> Option<String> {
        match self {
            KuboError::InvalidAddress { origin: ApiOrigin::ApiFile(path), .. }
            | KuboError::ApiFile { path, .. } => Some(format!(
                "the daemon writes `{}` when it starts; restart it, delete the stale file, or name the API with --kubo-api or IPFS_API",
                path.display()
            )),
            KuboError::InvalidAddress { .. } => Some(
                "give a URL such as `http://127.0.0.1:5001` or a multiaddr such as `/ip4/127.0.0.1/tcp/5001`"
                    .into(),
            ),
            KuboError::NotAnRpcApi { .. } => Some(
                "name the daemon's RPC API (Addresses.API in its config, usually port 5001), not its gateway (usually 8080)"
                    .into(),
            ),
            KuboError::EmptyCommand => {
                Some("set `command` in the `[daemon]` section, e.g. [\"ipfs\", \"daemon\"]".into())
            }
            KuboError::DaemonNotFound { .. } => Some(
                "install Kubo (https://docs.ipfs.tech/install/command-line/), set `command` in the `[daemon]` section, or set `auto_start = false` there"
                    .into(),
            ),
            KuboError::DaemonExited { .. } => Some(
                "run the command yourself to see why; a repository that does not exist yet needs `ipfs init` first"
                    .into(),
            ),
            KuboError::DaemonTimeout { .. } => {
                Some("start the daemon yourself, or let it start with more time".into())
            }
            KuboError::DaemonSpawn { .. } => None,
        }
    }
}
