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
//!   [`SourceError::NotFound`]. A block missing half-way through `dag/export` ends the body early
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
//!   404 means [`SourceError::Unsupported`], not a missing CID: content not found is always a 500
//!   with a message.
//!
//! # Starting a daemon
//! [`KuboRpcSource::start_daemon`] (off unless `daemon.auto_start` is set) runs a command such
//! as `ipfs daemon`, waits until the `api` file names an address that answers, and returns a
//! [`DaemonHandle`] that stops the daemon when dropped — only if trove started it.
//!
//! The source does no verification and no retries: the fetcher verifies every block against its
//! CID and decides on retries and fallbacks from the [`SourceError`] returned.

use super::http::{body_stream, parse_retry_after, request_error};
use super::{ByteStream, Source, SourceError, SourceKind};
use crate::car::MAX_BLOCK_SIZE;
use crate::content::Cid;
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, ReadBuf};
use url::{Host, Url};

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

/// Where an API address came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiOrigin {
    /// The `--kubo-api` flag (or the setting the CLI passes in its place).
    Flag,
    /// The `IPFS_API` environment variable.
    Env,
    /// The `api` file of an IPFS repository (its path).
    ApiFile(PathBuf),
    /// [`DEFAULT_API_URL`].
    Default,
}

impl ApiOrigin {
    /// Whether the user named this address explicitly (flag or environment).
    pub fn is_explicit(&self) -> bool {
        matches!(self, ApiOrigin::Flag | ApiOrigin::Env)
    }
}

impl fmt::Display for ApiOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiOrigin::Flag => f.write_str("--kubo-api"),
            ApiOrigin::Env => f.write_str("IPFS_API"),
            ApiOrigin::ApiFile(path) => write!(f, "`{}`", path.display()),
            ApiOrigin::Default => f.write_str("the default address"),
        }
    }
}

/// One address to try, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCandidate {
    /// The API's base URL (`http://127.0.0.1:5001/`); commands live under `api/v0/` below it.
    pub url: Url,
    /// Where the address came from.
    pub origin: ApiOrigin,
}

impl ApiCandidate {
    /// The base URL without its trailing `/`, for messages.
    pub fn display_url(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }
}

impl fmt::Display for ApiCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.display_url(), self.origin)
    }
}

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

/// The addresses to try for the local daemon, in order: `flag` (`--kubo-api`), `ipfs_api_env`
/// (`IPFS_API`), the `api` file in `ipfs_path_env` (`IPFS_PATH`; default `home/.ipfs`), then
/// [`DEFAULT_API_URL`]. Each may be a URL (`http://HOST:PORT`, `https://…`, `HOST:PORT`) or a
/// multiaddr (`/ip4/…/tcp/PORT`, `/ip6/…`, `/dns4/…`, optionally ending in `/http` or `/https`).
/// Empty values count as unset, a missing `api` file is skipped (no daemon is running there),
/// and repeated addresses are listed once, with their first origin.
///
/// Every candidate is listed, even when the flag names one: [`KuboRpcSource::connect`] takes the
/// first that answers, and the fetcher verifies whatever any of them sends.
///
/// # Errors
/// An address that does not parse, wherever it came from (Kubo's own CLI refuses a malformed
/// `api` file too), and an `api` file that exists but cannot be read. A caller that treats the
/// daemon as optional may report the error as a warning and go on without this tier.
pub fn discover_api_candidates(
    flag: Option<&str>,
    ipfs_api_env: Option<&str>,
    ipfs_path_env: Option<&Path>,
    home: Option<&Path>,
) -> Result<Vec<ApiCandidate>, KuboError> {
    let mut out: Vec<ApiCandidate> = Vec::new();
    let mut push = |url: Url, origin: ApiOrigin| {
        if !out.iter().any(|c| c.url == url) {
            out.push(ApiCandidate { url, origin });
        }
    };
    for (value, origin) in [(flag, ApiOrigin::Flag), (ipfs_api_env, ApiOrigin::Env)] {
        if let Some(text) = value.filter(|v| !v.trim().is_empty()) {
            let url = parse_api_address(text).map_err(|detail| KuboError::InvalidAddress {
                input: text.to_string(),
                origin: origin.clone(),
                detail,
            })?;
            push(url, origin);
        }
    }
    if let Some(path) = api_file_path(ipfs_path_env, home) {
        if let Some(url) = read_api_file(&path)? {
            push(url, ApiOrigin::ApiFile(path));
        }
    }
    push(
        Url::parse(DEFAULT_API_URL).expect("the default API URL parses"),
        ApiOrigin::Default,
    );
    Ok(out)
}

/// The `api` file of the IPFS repository: `$IPFS_PATH/api`, or `home/.ipfs/api`. A leading `~`
/// in `IPFS_PATH` is expanded as Kubo does.
pub fn api_file_path(ipfs_path_env: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let repo = match ipfs_path_env.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => match (path.strip_prefix("~"), home) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => path.to_path_buf(),
        },
        None => home?.join(".ipfs"),
    };
    Some(repo.join("api"))
}

/// Reads an `api` file: `Ok(None)` when it does not exist or is empty (a daemon starting up).
pub fn read_api_file(path: &Path) -> Result<Option<Url>, KuboError> {
    let file_error = |source| KuboError::ApiFile {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_API_FILE)
        .read_to_end(&mut bytes)
        .map_err(file_error)?;
    let origin = ApiOrigin::ApiFile(path.to_path_buf());
    let text = String::from_utf8(bytes).map_err(|_| KuboError::InvalidAddress {
        input: "(binary data)".into(),
        origin: origin.clone(),
        detail: "the file is not text".into(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    parse_api_address(text)
        .map(Some)
        .map_err(|detail| KuboError::InvalidAddress {
            input: text.to_string(),
            origin,
            detail,
        })
}

/// Parses an API address: a multiaddr (starting with `/`, see [`multiaddr_to_url`]), an
/// `http://` or `https://` URL (a trailing `/api/v0` is dropped; another path is kept as a
/// prefix, for a daemon behind a reverse proxy), or `HOST:PORT` (plain HTTP). The unspecified
/// addresses `0.0.0.0` and `::` (a daemon listening everywhere) become loopback. Returns the
/// base URL, ending with `/`.
pub fn parse_api_address(text: &str) -> Result<Url, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the address is empty".into());
    }
    if text.starts_with('/') {
        return multiaddr_to_url(text);
    }
    let has_scheme = text.contains("://");
    let full = if has_scheme {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let mut url = Url::parse(&full).map_err(|e| {
        format!(
            "not a URL (http://HOST:PORT), HOST:PORT or multiaddr (/ip4/127.0.0.1/tcp/5001): {e}"
        )
    })?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "unsupported scheme `{other}`: the RPC API speaks http:// or https://"
            ))
        }
    }
    if !has_scheme && url.port().is_none() {
        return Err(
            "expected a URL (http://HOST:PORT), HOST:PORT or a multiaddr (/ip4/127.0.0.1/tcp/5001)"
                .into(),
        );
    }
    match url.host() {
        None => return Err("the URL has no host".into()),
        Some(Host::Domain("")) => return Err("the URL has no host".into()),
        Some(Host::Ipv4(ip)) if ip.is_unspecified() => {
            url.set_ip_host(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .map_err(|()| "cannot use this host".to_string())?;
        }
        Some(Host::Ipv6(ip)) if ip.is_unspecified() => {
            url.set_ip_host(IpAddr::V6(Ipv6Addr::LOCALHOST))
                .map_err(|()| "cannot use this host".to_string())?;
        }
        Some(_) => {}
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/api/v0").unwrap_or(path);
    let path = format!("{path}/");
    url.set_path(&path);
    Ok(url)
}

/// Turns a multiaddr naming a TCP endpoint into the base URL of the API on it:
/// `/ip4/A/tcp/P`, `/ip6/A/tcp/P`, `/dns/H/tcp/P`, `/dns4/H/tcp/P` or `/dns6/H/tcp/P`,
/// optionally followed by `/http`, `/https` or `/tls/http` (the `api` file of js-ipfs ends in
/// `/http`; Kubo's has no suffix: plain HTTP). Parsed by hand: no libp2p needed.
pub fn multiaddr_to_url(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let body = text
        .strip_prefix('/')
        .ok_or_else(|| "a multiaddr starts with `/`".to_string())?;
    let body = body.strip_suffix('/').unwrap_or(body);
    let parts: Vec<&str> = body.split('/').collect();
    let value = |i: usize| -> Result<&str, String> {
        match parts.get(i) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("`/{}` needs a value", parts[i - 1])),
        }
    };
    let host = match parts[0] {
        "ip4" => {
            let v = value(1)?;
            let ip: Ipv4Addr = v
                .parse()
                .map_err(|_| format!("`{v}` is not an IPv4 address"))?;
            if ip.is_unspecified() {
                Ipv4Addr::LOCALHOST.to_string()
            } else {
                ip.to_string()
            }
        }
        "ip6" => {
            let v = value(1)?;
            let ip: Ipv6Addr = v
                .parse()
                .map_err(|_| format!("`{v}` is not an IPv6 address"))?;
            let ip = if ip.is_unspecified() {
                Ipv6Addr::LOCALHOST
            } else {
                ip
            };
            format!("[{ip}]")
        }
        "dns" | "dns4" | "dns6" => {
            let v = value(1)?;
            let valid = v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !valid || v.starts_with('.') || v.starts_with('-') {
                return Err(format!("`{v}` is not a host name"));
            }
            v.to_ascii_lowercase()
        }
        "unix" => {
            return Err(
                "Unix-socket API addresses are not supported: give the daemon a TCP API address (Addresses.API = /ip4/127.0.0.1/tcp/5001)"
                    .into(),
            )
        }
        "" => return Err("empty multiaddr component".into()),
        other => {
            return Err(format!(
                "`/{other}` is not an address trove can reach; expected /ip4, /ip6, /dns, /dns4 or /dns6 followed by /tcp/PORT"
            ))
        }
    };
    match parts.get(2) {
        Some(&"tcp") => {}
        Some(&"udp") => return Err("the RPC API runs over TCP, not UDP".into()),
        Some(other) => {
            return Err(format!(
                "expected /tcp/PORT after the host, found `/{other}`"
            ))
        }
        None => return Err("missing /tcp/PORT after the host".into()),
    }
    let port = value(3)?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{port}` is not a TCP port (1-65535)"))?;
    let rest = &parts[4..];
    let scheme = match rest {
        [] | ["http"] => "http",
        ["https"] | ["tls", "http"] => "https",
        _ => {
            return Err(format!(
                "unsupported `/{}` after the port; expected nothing, /http or /https",
                rest.join("/")
            ))
        }
    };
    Url::parse(&format!("{scheme}://{host}:{port}/"))
        .map_err(|e| format!("cannot make a URL of it: {e}"))
}

/// Which implementation of the RPC API answered, from its `/api/v0/version` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonImplementation {
    /// Kubo or go-ipfs (its version answer names the Go version). Honours `offline=true`.
    Kubo,
    /// js-ipfs (its version answer names `ipfs-core`). Ignores `offline=true`.
    JsIpfs,
    /// Something else speaking the RPC API; treated like js-ipfs, to be safe.
    Unknown,
}

impl DaemonImplementation {
    /// Whether `offline=true` keeps the daemon from searching the network.
    pub fn honours_offline(self) -> bool {
        self == DaemonImplementation::Kubo
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            DaemonImplementation::Kubo => "kubo",
            DaemonImplementation::JsIpfs => "js-ipfs",
            DaemonImplementation::Unknown => "unknown daemon",
        }
    }

    fn detect(version: &serde_json::Map<String, serde_json::Value>) -> Self {
        if version.contains_key("Golang") {
            DaemonImplementation::Kubo
        } else if version.contains_key("ipfs-core") {
            DaemonImplementation::JsIpfs
        } else {
            DaemonImplementation::Unknown
        }
    }
}

/// What a successful probe learnt.
struct Probe {
    version: String,
    implementation: DaemonImplementation,
}

/// Why a probe failed.
enum ProbeFailure {
    /// Nobody answered.
    Absent,
    /// Something answered, not as a Kubo RPC API.
    NotRpc(String),
}

/// The local daemon as a [`Source`].
#[derive(Debug, Clone)]
pub struct KuboRpcSource {
    client: reqwest::Client,
    api: ApiCandidate,
    version: String,
    implementation: DaemonImplementation,
    lookup_timeout: Duration,
    stall_timeout: Duration,
}

impl KuboRpcSource {
    /// Probes every candidate at once (`POST /api/v0/version`) and returns the first, in order,
    /// that answers like a Kubo RPC API, or `None` when none does. An address where nobody
    /// listens costs at most [`LOOPBACK_CONNECT_TIMEOUT`] (loopback) or
    /// [`REMOTE_CONNECT_TIMEOUT`] (other hosts), all candidates together; a daemon that accepted
    /// the connection gets [`PROBE_ANSWER_TIMEOUT`] to answer.
    ///
    /// # Errors
    /// [`KuboError::NotAnRpcApi`] when an address the user named (flag or `IPFS_API`) answered
    /// but not as an RPC API (a gateway port, another web server). Such an answer from the `api`
    /// file or the default address only skips that candidate.
    pub async fn connect(
        candidates: &[ApiCandidate],
        client: reqwest::Client,
    ) -> Result<Option<KuboRpcSource>, KuboError> {
        let client_ref = &client;
        let mut probes: FuturesOrdered<_> = candidates
            .iter()
            .map(|candidate| async move { (candidate, probe(client_ref, &candidate.url).await) })
            .collect();
        while let Some((candidate, result)) = probes.next().await {
            match result {
                Ok(found) => {
                    return Ok(Some(KuboRpcSource {
                        client: client.clone(),
                        api: candidate.clone(),
                        version: found.version,
                        implementation: found.implementation,
                        lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
                        stall_timeout: DEFAULT_STALL_TIMEOUT,
                    }))
                }
                Err(ProbeFailure::NotRpc(detail)) if candidate.origin.is_explicit() => {
                    return Err(KuboError::NotAnRpcApi {
                        url: candidate.display_url().to_string(),
                        origin: candidate.origin.clone(),
                        detail,
                    })
                }
                Err(_) => {}
            }
        }
        Ok(None)
    }

    /// Sets how long a block lookup may take on a daemon that ignores `offline=true`
    /// (default [`DEFAULT_LOOKUP_TIMEOUT`]).
    pub fn with_lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// Sets how long a CAR stream from a daemon that ignores `offline=true` may stay silent
    /// (default [`DEFAULT_STALL_TIMEOUT`]).
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// The address that answered, and where it came from.
    pub fn api(&self) -> &ApiCandidate {
        &self.api
    }

    /// The daemon's version, as it reported it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Which implementation answered.
    pub fn implementation(&self) -> DaemonImplementation {
        self.implementation
    }

    /// Starts an IPFS daemon with `command` (such as `["ipfs", "daemon"]`) and waits up to
    /// `wait` for its API to answer.
    ///
    /// `ipfs_path` is the repository (the caller resolves `$IPFS_PATH` or `~/.ipfs`): it is
    /// passed to the daemon as `IPFS_PATH`, and its `api` file tells where the daemon listens.
    /// Without it the daemon uses its own default repository and trove waits for
    /// [`DEFAULT_API_URL`].
    ///
    /// When a daemon already answers there, nothing is started and the handle does not own it.
    /// Otherwise the returned handle owns the process: dropping it (or [`DaemonHandle::stop`])
    /// sends `SIGTERM`, waits up to [`STOP_GRACE`] and then kills it. A daemon trove did not
    /// start is never stopped. The daemon's output goes to a temporary file, quoted in errors.
    ///
    /// # Errors
    /// [`KuboError::DaemonNotFound`] when the program does not exist (checked by starting it:
    /// no `PATH` lookup of our own), [`KuboError::DaemonExited`] when it exits before answering
    /// (an uninitialised repository, a port in use), [`KuboError::DaemonTimeout`] when it does
    /// not answer within `wait` (it is stopped first).
    pub async fn start_daemon(
        command: &[String],
        ipfs_path: Option<&Path>,
        wait: Duration,
    ) -> Result<DaemonHandle, KuboError> {
        let (program, args) = command.split_first().ok_or(KuboError::EmptyCommand)?;
        let command_line = command.join(" ");
        let client =
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| KuboError::DaemonSpawn {
                    command: command_line.clone(),
                    source: io::Error::other(crate::error::chain(&e)),
                })?;
        let api_file = ipfs_path.map(|p| p.join("api"));
        if let Some(candidate) = ready(&client, api_file.as_deref()).await {
            return Ok(DaemonHandle {
                child: None,
                candidate,
                log: None,
            });
        }
        let spawn_error = |source: io::Error| {
            if source.kind() == io::ErrorKind::NotFound {
                KuboError::DaemonNotFound {
                    program: program.clone(),
                }
            } else {
                KuboError::DaemonSpawn {
                    command: command_line.clone(),
                    source,
                }
            }
        };
        let log = tempfile::NamedTempFile::new().map_err(|e| KuboError::DaemonSpawn {
            command: command_line.clone(),
            source: e,
        })?;
        let log_error = |source| KuboError::DaemonSpawn {
            command: command_line.clone(),
            source,
        };
        let out = log.reopen().map_err(log_error)?;
        let err = out.try_clone().map_err(log_error)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        if let Some(repo) = ipfs_path {
            cmd.env("IPFS_PATH", repo);
        }
        let child = cmd.spawn().map_err(spawn_error)?;
        let mut handle = DaemonHandle {
            child: Some(child),
            candidate: ApiCandidate {
                url: Url::parse(DEFAULT_API_URL).expect("the default API URL parses"),
                origin: ApiOrigin::Default,
            },
            log: Some(log),
        };
        let deadline = Instant::now() + wait;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(child) = handle.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    handle.child = None;
                    return Err(KuboError::DaemonExited {
                        command: command_line,
                        status: status.to_string(),
                        log: handle.log_tail(),
                    });
                }
            }
            if let Some(candidate) = ready(&client, api_file.as_deref()).await {
                handle.candidate = candidate;
                return Ok(handle);
            }
            if Instant::now() >= deadline {
                let log = handle.log_tail();
                handle.shutdown();
                return Err(KuboError::DaemonTimeout {
                    command: command_line,
                    wait,
                    log,
                });
            }
        }
    }

    fn command_url(&self, command: &str, cid: &Cid, lookup: bool) -> Url {
        let mut url = self
            .api
            .url
            .join(&format!("api/v0/{command}"))
            .expect("a relative command path joins");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("arg", &cid.to_string());
            query.append_pair("offline", "true");
            if lookup && !self.implementation.honours_offline() {
                query.append_pair(
                    "timeout",
                    &format!("{}ms", self.lookup_timeout.as_millis().max(1)),
                );
            }
        }
        url
    }

    /// POSTs `command` for `cid`; a non-200 answer becomes the matching [`SourceError`].
    async fn call(
        &self,
        command: &str,
        cid: &Cid,
        lookup: bool,
    ) -> Result<reqwest::Response, SourceError> {
        let url = self.command_url(command, cid, lookup);
        tracing::debug!(%url, "Kubo RPC call");
        let response = self
            .client
            .post(url)
            .send()
            .await
            .map_err(|e| request_error(&e))
            .inspect_err(|e| tracing::debug!(command, %cid, "Kubo RPC call failed: {e}"))?;
        let status = response.status();
        tracing::trace!(command, %cid, status = status.as_u16(), "Kubo RPC answer");
        if status == reqwest::StatusCode::OK {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_capped(response, MAX_ERROR_BODY).await;
        let message = rpc_error_message(&body);
        let sent_timeout = lookup && !self.implementation.honours_offline();
        Err(classify_error(
            status.as_u16(),
            &message,
            sent_timeout,
            retry_after,
            &format!("POST /api/v0/{command} for `{cid}`"),
        ))
    }
}

#[async_trait::async_trait]
impl Source for KuboRpcSource {
    fn describe(&self) -> String {
        format!(
            "kubo {} ({} {}, from {})",
            self.api.display_url(),
            self.implementation.name(),
            self.version,
            self.api.origin
        )
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Kubo
    }

    /// `POST /api/v0/dag/export?arg=CID&offline=true`, after a `block/stat` of the root (so that
    /// a daemon without the root answers not found instead of an empty CAR or a stalled one).
    async fn dag(&self, cid: &Cid) -> Result<ByteStream, SourceError> {
        let stat = self.call("block/stat", cid, true).await?;
        drop(read_capped(stat, MAX_ERROR_BODY).await);
        let response = self.call("dag/export", cid, false).await?;
        let stream = body_stream(response);
        if self.implementation.honours_offline() {
            Ok(stream)
        } else {
            let detail = format!(
                "{} sent nothing for {:?}: it ignores offline=true, so it is probably searching the network for a block it does not have",
                self.implementation.name(),
                self.stall_timeout
            );
            Ok(Box::pin(StallGuard::new(
                stream,
                self.stall_timeout,
                detail,
            )))
        }
    }

    /// `POST /api/v0/block/get?arg=CID&offline=true`; more than 2 MiB is
    /// [`SourceError::Misbehaved`].
    async fn block(&self, cid: &Cid) -> Result<Vec<u8>, SourceError> {
        let mut response = self.call("block/get", cid, true).await?;
        let too_large = |n: String| {
            SourceError::Misbehaved(format!(
                "the daemon sent {n} bytes for block `{cid}`, beyond the maximum of {MAX_BLOCK_SIZE}"
            ))
        };
        if let Some(len) = response.content_length() {
            if len > MAX_BLOCK_SIZE as u64 {
                return Err(too_large(len.to_string()));
            }
        }
        let mut data = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| request_error(&e))? {
            if data.len() + chunk.len() > MAX_BLOCK_SIZE {
                return Err(too_large(format!("more than {MAX_BLOCK_SIZE}")));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    }
}

/// Probes one address: a quick TCP check, then `POST /api/v0/version`.
async fn probe(client: &reqwest::Client, url: &Url) -> Result<Probe, ProbeFailure> {
    let Some(host) = url.host() else {
        return Err(ProbeFailure::Absent);
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let loopback = match &host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    };
    let budget = if loopback {
        LOOPBACK_CONNECT_TIMEOUT
    } else {
        REMOTE_CONNECT_TIMEOUT
    };
    let target = match host {
        Host::Domain(name) => name.to_string(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    let reachable = tokio::task::spawn_blocking(move || tcp_reachable(&target, port, budget))
        .await
        .unwrap_or(false);
    if !reachable {
        return Err(ProbeFailure::Absent);
    }
    let endpoint = url
        .join("api/v0/version")
        .map_err(|_| ProbeFailure::Absent)?;
    let response = client
        .post(endpoint)
        .timeout(PROBE_ANSWER_TIMEOUT)
        .send()
        .await
        .map_err(|_| ProbeFailure::Absent)?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(ProbeFailure::NotRpc(format!(
            "HTTP {status} for POST /api/v0/version"
        )));
    }
    let body = tokio::time::timeout(PROBE_ANSWER_TIMEOUT, read_capped(response, MAX_ERROR_BODY))
        .await
        .map_err(|_| ProbeFailure::Absent)?;
    let json: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&body).ok();
    let version = json.as_ref().and_then(|m| match m.get("Version") {
        Some(serde_json::Value::String(v)) => Some(v.clone()),
        _ => None,
    });
    match (json, version) {
        (Some(map), Some(version)) => Ok(Probe {
            version,
            implementation: DaemonImplementation::detect(&map),
        }),
        _ => Err(ProbeFailure::NotRpc(
            "its answer to POST /api/v0/version is not a version object".into(),
        )),
    }
}

/// Whether something accepts TCP connections at `host:port` within `budget` (all resolved
/// addresses together).
fn tcp_reachable(host: &str, port: u16, budget: Duration) -> bool {
    let deadline = Instant::now() + budget;
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(_) => return false,
    };
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, left).is_ok() {
            return true;
        }
    }
    false
}

/// The API named by the `api` file (or the default address without one), if it answers.
async fn ready(client: &reqwest::Client, api_file: Option<&Path>) -> Option<ApiCandidate> {
    let candidate = match api_file {
        Some(path) => ApiCandidate {
            url: read_api_file(path).ok()??,
            origin: ApiOrigin::ApiFile(path.to_path_buf()),
        },
        None => ApiCandidate {
            url: Url::parse(DEFAULT_API_URL).ok()?,
            origin: ApiOrigin::Default,
        },
    };
    probe(client, &candidate.url).await.ok().map(|_| candidate)
}

/// Reads up to `cap` bytes of a body (best effort: what arrived before an error).
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}

/// The `Message` of an RPC error answer (`{"Message": …, "Code": …, "Type": "error"}`), or the
/// first line of a plain-text one.
fn rpc_error_message(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        if let Some(serde_json::Value::String(message)) = map.get("Message") {
            return message.clone();
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().filter(|c| !c.is_control()).collect()
}

/// Maps an RPC error answer to a [`SourceError`]. Content not found is a 500 with a message in
/// both Kubo and js-ipfs; `sent_timeout` says whether the request carried `timeout=` (then a
/// time-out means the daemon did not have the block locally). A 404 is a command the daemon
/// does not have.
fn classify_error(
    status: u16,
    message: &str,
    sent_timeout: bool,
    retry_after: Option<Duration>,
    what: &str,
) -> SourceError {
    let lower = message.to_ascii_lowercase();
    let not_found = [
        "not found",
        "could not find",
        "not available",
        "no such block",
        "does not have",
    ]
    .iter()
    .any(|p| lower.contains(p));
    let timed_out = ["timed out", "timeout", "deadline exceeded"]
        .iter()
        .any(|p| lower.contains(p));
    let detail = if message.is_empty() {
        format!("HTTP {status} for {what}")
    } else {
        format!("HTTP {status} for {what}: {message}")
    };
    match status {
        500 if not_found => SourceError::NotFound,
        500 if sent_timeout && timed_out => SourceError::NotFound,
        400 | 404 | 501 => SourceError::Unsupported,
        401 | 403 | 407 => SourceError::Unavailable(format!(
            "{detail} (the daemon refused the request; check its API.Authorizations or API.HTTPHeaders)"
        )),
        408 | 429 | 500..=599 => SourceError::Transient {
            detail,
            retry_after,
        },
        _ => SourceError::Misbehaved(format!("unexpected {detail}")),
    }
}

/// A reader that fails with [`io::ErrorKind::TimedOut`] when the inner reader stays silent for
/// `limit` while it is being read. Only silence counts: time the consumer spends away between
/// reads does not.
struct StallGuard<R> {
    inner: R,
    limit: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    detail: String,
}

impl<R> StallGuard<R> {
    fn new(inner: R, limit: Duration, detail: String) -> Self {
        StallGuard {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
            detail,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StallGuard<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !this.armed {
                    let deadline = tokio::time::Instant::now() + this.limit;
                    this.timer.as_mut().reset(deadline);
                    this.armed = true;
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        this.detail.clone(),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

/// A daemon started by [`KuboRpcSource::start_daemon`], or found already running.
///
/// Dropping it stops the daemon if, and only if, trove started it: `SIGTERM` (so that it
/// removes its `api` file and repository lock), up to [`STOP_GRACE`] for it to exit, then a
/// kill. That blocks the dropping thread for as long; call [`DaemonHandle::stop`] to choose
/// when.
#[derive(Debug)]
pub struct DaemonHandle {
    child: Option<Child>,
    candidate: ApiCandidate,
    log: Option<tempfile::NamedTempFile>,
}

impl DaemonHandle {
    /// The daemon's API address (from the repository's `api` file, or the default address).
    pub fn candidate(&self) -> &ApiCandidate {
        &self.candidate
    }

    /// Whether trove started this daemon (and will stop it).
    pub fn started_by_trove(&self) -> bool {
        self.child.is_some()
    }

    /// The process id of the daemon trove started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the daemon now if trove started it (see the type's docs); otherwise does nothing.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        #[cfg(unix)]
        {
            let terminated = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if terminated {
                let deadline = Instant::now() + STOP_GRACE;
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The last lines the daemon printed.
    fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read(log.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        let start = tail.len().saturating_sub(2000);
        let start = (start..=tail.len())
            .find(|i| tail.is_char_boundary(*i))
            .unwrap_or(tail.len());
        tail[start..].to_string()
    }
}

impl Drop for DaemonHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_map_to_source_errors() {
        let what = "POST /api/v0/block/get";
        let c = |status, message: &str, sent_timeout| {
            classify_error(status, message, sent_timeout, None, what)
        };
        // Kubo, offline=true.
        assert!(matches!(
            c(
                500,
                "block was not found locally (offline): ipld: could not find bafkqaaa",
                false
            ),
            SourceError::NotFound
        ));
        assert!(matches!(
            c(500, "merkledag: not found", false),
            SourceError::NotFound
        ));
        // js-ipfs, timeout=.
        assert!(matches!(
            c(500, "Failed to get block: request timed out", true),
            SourceError::NotFound
        ));
        assert!(matches!(
            c(500, "Failed to get block: request timed out", false),
            SourceError::Transient { .. }
        ));
        // An unknown command is a 404 in both; a CID the daemon cannot parse is a 400.
        assert!(matches!(
            c(404, "Not Found", false),
            SourceError::Unsupported
        ));
        assert!(matches!(
            c(404, "404 page not found", false),
            SourceError::Unsupported
        ));
        assert!(matches!(
            c(400, "Invalid request query input", false),
            SourceError::Unsupported
        ));
        assert!(matches!(c(403, "", false), SourceError::Unavailable(_)));
        assert!(matches!(c(503, "", false), SourceError::Transient { .. }));
        assert!(matches!(
            c(500, "repo closed", false),
            SourceError::Transient { .. }
        ));
        assert!(matches!(c(405, "", false), SourceError::Misbehaved(_)));
        assert!(matches!(c(302, "", false), SourceError::Misbehaved(_)));
        match classify_error(429, "", false, Some(Duration::from_secs(3)), what) {
            SourceError::Transient { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_messages_come_from_json_or_text() {
        assert_eq!(
            rpc_error_message(br#"{"Message":"merkledag: not found","Code":0,"Type":"error"}"#),
            "merkledag: not found"
        );
        assert_eq!(
            rpc_error_message(b"404 page not found\n"),
            "404 page not found"
        );
        assert_eq!(rpc_error_message(b""), "");
    }

    #[tokio::test]
    async fn a_stall_fails_after_the_limit_but_a_slow_reader_does_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut guard = StallGuard::new(rx, Duration::from_millis(100), "stalled".into());
        tx.write_all(b"abc").await.unwrap();
        // The consumer is away longer than the limit: the data waiting is still delivered.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut buf = [0u8; 3];
        guard.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc");
        let started = Instant::now();
        let err = guard.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("stalled"));
        assert!(started.elapsed() >= Duration::from_millis(90));
        drop(tx);
    }
}
