//! Finding the daemon: the candidate addresses (flag, `IPFS_API`, the `api` file, the default)
//! and probing them (`POST /api/v0/version`), which also tells Kubo from other implementations.

use super::rpc::read_capped;
use super::*;
use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use url::{Host, Url};

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
pub(super) struct Probe {
    pub(super) version: String,
    pub(super) implementation: DaemonImplementation,
}

/// Why a probe failed.
pub(super) enum ProbeFailure {
    /// Nobody answered.
    Absent,
    /// Something answered, not as a Kubo RPC API.
    NotRpc(String),
}

/// Probes one address: a quick TCP check, then `POST /api/v0/version`.
pub(super) async fn probe(client: &reqwest::Client, url: &Url) -> Result<Probe, ProbeFailure> {
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
pub(super) fn tcp_reachable(host: &str, port: u16, budget: Duration) -> bool {
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
