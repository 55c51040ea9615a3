//! Settings: the config file (TOML), and every environment variable trove reads, declared in one
//! place. Nothing else in the crate calls `std::env::var`; the CLI resolves flags > environment >
//! config file > defaults into one settings value per command (`src/cli/settings.rs`).

use crate::fetch::SourceKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Overrides the cache directory (blocks, kept roots). Same as `--cache-dir`.
pub const TROVE_CACHE_DIR: &str = "TROVE_CACHE_DIR";
/// The config file to read instead of the default one. Same as `--config`.
pub const TROVE_CONFIG: &str = "TROVE_CONFIG";
/// `1`/`true`: make no network call at all; only the local cache is used. Same as `--offline`.
pub const TROVE_OFFLINE: &str = "TROVE_OFFLINE";
/// A trustless gateway URL (the convention curl and other IPFS-aware tools follow).
pub const IPFS_GATEWAY: &str = "IPFS_GATEWAY";
/// The Kubo RPC API address (URL or multiaddr), as Kubo's own tools read it.
pub const IPFS_API: &str = "IPFS_API";
/// The Kubo repository (default `~/.ipfs`); its `api` file names the running daemon, its
/// `gateway` file a gateway.
pub const IPFS_PATH: &str = "IPFS_PATH";
/// Registries to read, comma-separated (paths, URLs or `owner/repo[@ref]`). Same as
/// `--registry`.
pub const TROVE_REGISTRY: &str = "TROVE_REGISTRY";
/// The token for the registry's forge API (GitHub), used by `trove publish --pr` and
/// `trove registry pr`; never printed. `GITHUB_TOKEN` is read when this is unset.
pub const TROVE_GITHUB_TOKEN: &str = "TROVE_GITHUB_TOKEN";
/// The conventional GitHub token variable (CI systems set it).
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// The token for remote pinning services named with `--pin URL` (a `[pinning.NAME]` section of
/// the config file may hold its own); never printed.
pub const TROVE_PIN_TOKEN: &str = "TROVE_PIN_TOKEN";
/// DHT bootstrap peers for the p2p node, comma-separated multiaddrs (`none` or empty: no DHT).
pub const TROVE_P2P_BOOTSTRAP: &str = "TROVE_P2P_BOOTSTRAP";
/// Delegated routing endpoints, comma-separated URLs (`none` or empty: none).
pub const TROVE_P2P_ROUTERS: &str = "TROVE_P2P_ROUTERS";
/// The p2p identity key file used by `trove serve` and `get --seed` (default:
/// `p2p-identity.key` in the user config dir).
pub const TROVE_P2P_IDENTITY: &str = "TROVE_P2P_IDENTITY";
/// `1`/`0`: discover LAN peers with mDNS (default 1).
pub const TROVE_P2P_MDNS: &str = "TROVE_P2P_MDNS";
/// A `tracing` filter for diagnostics on stderr (`trove=debug`, `libp2p_swarm=trace`, …);
/// overrides `-v`/`-vv`.
pub const RUST_LOG: &str = "RUST_LOG";
/// How often a progress line is printed when stderr is not a terminal (a duration, e.g. `30s`).
pub const TROVE_PROGRESS_INTERVAL: &str = "TROVE_PROGRESS_INTERVAL";
/// Set by the test suite: makes a missing test peer a failure instead of a skip.
pub const TROVE_REQUIRE_PEERS: &str = "TROVE_REQUIRE_PEERS";

/// Every variable with a one-line description (for `--help` and the README).
pub const ENV_VARS: &[(&str, &str)] = &[
    (TROVE_CACHE_DIR, "cache directory for blocks and kept roots"),
    (
        TROVE_CONFIG,
        "config file to read (default: the user config dir's trove/config.toml)",
    ),
    (
        TROVE_OFFLINE,
        "1 or true: no network at all, warm cache only",
    ),
    (
        IPFS_GATEWAY,
        "a trustless gateway URL, used instead of the default list",
    ),
    (IPFS_API, "the Kubo RPC API (URL or multiaddr)"),
    (
        TROVE_P2P_BOOTSTRAP,
        "p2p DHT bootstrap peers, comma-separated multiaddrs (`none`: no DHT)",
    ),
    (
        TROVE_P2P_ROUTERS,
        "p2p delegated routing URLs, comma-separated (`none`: none)",
    ),
    (
        TROVE_P2P_MDNS,
        "1 or 0: find LAN peers with mDNS (default 1)",
    ),
    (
        TROVE_P2P_IDENTITY,
        "the key file giving `trove serve` its peer ID (default: in the user config dir)",
    ),
    (
        IPFS_PATH,
        "the Kubo repository whose `api` file names the daemon (default ~/.ipfs)",
    ),
    (
        RUST_LOG,
        "diagnostics on stderr, as a tracing filter (e.g. trove=debug); overrides -v/-vv",
    ),
    (
        TROVE_PROGRESS_INTERVAL,
        "how often a progress line is printed when stderr is not a terminal (default 5s)",
    ),
    (
        "AWS_*, GOOGLE_*, AZURE_*",
        "object-storage credentials and settings for s3://, gs://, az:// mirrors and uploads (AWS_PROFILE, AWS_ENDPOINT_URL, …)",
    ),
];

/// The public trustless gateways used when nothing else is configured.
pub const DEFAULT_GATEWAYS: &[&str] = &["https://trustless-gateway.link", "https://ipfs.io"];

/// The config file, as written by the user. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Never use the network.
    pub offline: Option<bool>,
    /// Registries to read, in order (paths, URLs or `owner/repo[@ref]`).
    pub registries: Option<Vec<String>>,
    /// How long a downloaded registry is used before asking the server again, e.g. `"1h"`.
    pub registry_ttl: Option<String>,
    /// Source order, e.g. `["kubo", "gateway", "mirror"]`.
    pub sources: Option<Vec<String>>,
    /// Time-out for a whole get, e.g. `"10m"`.
    pub timeout: Option<String>,
    /// Idle time-out of one request or stream, e.g. `"30s"`.
    pub idle_timeout: Option<String>,
    /// Block requests in flight.
    pub window: Option<usize>,
    /// Retries after temporary failures.
    pub retries: Option<u32>,
    /// `[kubo]`: the local daemon.
    #[serde(default)]
    pub kubo: KuboConfig,
    /// `[daemon]`: starting a local daemon.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// `[gateway]`: trustless gateways.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// `[mirror]`: extra HTTP mirrors.
    #[serde(default)]
    pub mirror: MirrorConfig,
    /// `[publish]`: where `trove publish --pr` proposes registry changes.
    #[serde(default)]
    pub publish: PublishConfig,
    /// `[p2p]`: the embedded libp2p node.
    #[serde(default)]
    pub p2p: P2pSection,
    /// `[pinning.NAME]`: remote pinning services (IPFS Pinning Service API).
    #[serde(default)]
    pub pinning: std::collections::BTreeMap<String, PinningConfig>,
}

/// `[publish]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// The registry repository: `owner/repo`, a git URL, or a local path.
    pub repository: Option<String>,
    /// The registry file inside it (default `registry.json`).
    pub registry_path: Option<String>,
    /// The forge's REST API base (default `https://api.github.com`).
    pub api_url: Option<String>,
    /// The forge token (prefer the environment variable `TROVE_GITHUB_TOKEN`).
    pub token: Option<String>,
}

/// `[pinning.NAME]` section.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PinningConfig {
    /// The service endpoint (the base of `/pins`).
    pub endpoint: String,
    /// Its access token.
    pub token: Option<String>,
}

/// `[kubo]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KuboConfig {
    /// RPC API address (URL or multiaddr).
    pub api: Option<String>,
}

/// `[daemon]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Start `ipfs daemon` when none answers and the binary exists (default false).
    pub auto_start: Option<bool>,
    /// The command to start it with (default `["ipfs", "daemon"]`).
    pub command: Option<Vec<String>>,
}

/// `[gateway]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Gateway URLs, in order.
    pub urls: Option<Vec<String>>,
    /// Allow plain `http://` to public addresses.
    pub allow_insecure: Option<bool>,
    /// Ask the next gateway when one has not answered a block request after this long.
    pub hedge_after: Option<String>,
}

/// `[p2p]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Peers to dial for every fetch (multiaddrs ending in `/p2p/<peer id>`).
    pub peers: Option<Vec<String>>,
    /// DHT bootstrap peers (default: the public IPFS bootstrappers; `[]` for none).
    #[serde(alias = "bootstrap_peers")]
    pub bootstrap: Option<Vec<String>>,
    /// Delegated routing endpoints (default: `https://delegated-ipfs.dev`; `[]` for none).
    #[serde(alias = "delegated_routing")]
    pub routers: Option<Vec<String>>,
    /// Find LAN peers with mDNS (default true).
    pub mdns: Option<bool>,
    /// Addresses `trove serve --p2p` and `get --seed` listen on.
    pub listen: Option<Vec<String>>,
    /// The node's key file (default: `p2p-identity.key` in the user config dir).
    pub identity: Option<PathBuf>,
    /// How long provider discovery may take for one block, e.g. `"5s"`.
    pub find_timeout: Option<String>,
}

/// `[mirror]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// Mirror URLs (CARs, raw files, archives; `https://` or `s3://`, `gs://`, `az://`) tried
    /// for every get.
    pub urls: Option<Vec<String>>,
    /// The S3-compatible store `s3://` URLs go to (MinIO, Ceph, R2), as `--endpoint`.
    pub endpoint: Option<String>,
}

/// Errors reading settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read the config file `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("invalid config file `{}`: {detail}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid setting `{key}`: {detail}")]
    Value {
        /// The setting.
        key: String,
        /// Why.
        detail: String,
    },
}

impl crate::Hint for ConfigError {
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Some("check the path given with --config or TROVE_CONFIG".into())
            }
            ConfigError::Parse { .. } => Some(
                "the README's Configuration section lists every key; TOML needs strings in quotes"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// The process environment, read once (tests build it by hand). `Debug` shows which tokens and
/// cloud variables are set, never their values.
#[derive(Default, Clone)]
pub struct Env {
    /// `TROVE_CACHE_DIR`.
    pub cache_dir: Option<PathBuf>,
    /// `TROVE_CONFIG`.
    pub config: Option<PathBuf>,
    /// `TROVE_OFFLINE`.
    pub offline: Option<String>,
    /// `TROVE_REGISTRY`.
    pub registry: Option<String>,
    /// `TROVE_GITHUB_TOKEN`, else `GITHUB_TOKEN`.
    pub forge_token: Option<String>,
    /// `TROVE_PIN_TOKEN`.
    pub pin_token: Option<String>,
    /// `IPFS_GATEWAY`.
    pub ipfs_gateway: Option<String>,
    /// `IPFS_API`.
    pub ipfs_api: Option<String>,
    /// `IPFS_PATH`.
    pub ipfs_path: Option<PathBuf>,
    /// The home directory.
    pub home: Option<PathBuf>,
    /// `TROVE_P2P_BOOTSTRAP` (kept even when empty: empty means none).
    pub p2p_bootstrap: Option<String>,
    /// `TROVE_P2P_ROUTERS` (kept even when empty).
    pub p2p_routers: Option<String>,
    /// `TROVE_P2P_MDNS`.
    pub p2p_mdns: Option<String>,
    /// `TROVE_P2P_IDENTITY`.
    pub p2p_identity: Option<PathBuf>,
    /// `RUST_LOG`.
    pub rust_log: Option<String>,
    /// `TROVE_PROGRESS_INTERVAL`.
    pub progress_interval: Option<String>,
    /// The cloud credential variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`) for object storage, as
    /// set (see [`crate::objects`]).
    pub cloud: Vec<(String, String)>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Env")
            .field("cache_dir", &self.cache_dir)
            .field("config", &self.config)
            .field("offline", &self.offline)
            .field("registry", &self.registry)
            .field("forge_token", &secret(&self.forge_token))
            .field("pin_token", &secret(&self.pin_token))
            .field("ipfs_gateway", &self.ipfs_gateway)
            .field("ipfs_api", &self.ipfs_api)
            .field("ipfs_path", &self.ipfs_path)
            .field("home", &self.home)
            .field("p2p_bootstrap", &self.p2p_bootstrap)
            .field("p2p_routers", &self.p2p_routers)
            .field("p2p_mdns", &self.p2p_mdns)
            .field("p2p_identity", &self.p2p_identity)
            .field("rust_log", &self.rust_log)
            .field("progress_interval", &self.progress_interval)
            .field(
                "cloud",
                &self
                    .cloud
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The prefixes of the environment variables object storage reads.
const CLOUD_PREFIXES: &[&str] = &["AWS_", "GOOGLE_", "AZURE_"];

impl Env {
    /// Reads the variables trove knows from the process environment.
    #[allow(clippy::disallowed_methods)] // the one place that reads the environment
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            cache_dir: var(TROVE_CACHE_DIR).map(PathBuf::from),
            config: var(TROVE_CONFIG).map(PathBuf::from),
            offline: var(TROVE_OFFLINE),
            registry: var(TROVE_REGISTRY),
            forge_token: var(TROVE_GITHUB_TOKEN).or_else(|| var(GITHUB_TOKEN)),
            pin_token: var(TROVE_PIN_TOKEN),
            ipfs_gateway: var(IPFS_GATEWAY),
            ipfs_api: var(IPFS_API),
            ipfs_path: var(IPFS_PATH).map(PathBuf::from),
            home: directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()),
            p2p_bootstrap: std::env::var(TROVE_P2P_BOOTSTRAP).ok(),
            p2p_routers: std::env::var(TROVE_P2P_ROUTERS).ok(),
            p2p_mdns: var(TROVE_P2P_MDNS),
            p2p_identity: var(TROVE_P2P_IDENTITY).map(PathBuf::from),
            rust_log: var(RUST_LOG),
            progress_interval: var(TROVE_PROGRESS_INTERVAL),
            cloud: std::env::vars()
                .filter(|(k, v)| !v.is_empty() && CLOUD_PREFIXES.iter().any(|p| k.starts_with(p)))
                .collect(),
        }
    }

    /// The object-storage settings: the cloud variables, the AWS shared credentials and config
    /// files (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, else under `~/.aws/`) and an
    /// S3 endpoint.
    pub fn object_store_config(&self, endpoint: Option<&str>) -> crate::objects::ObjectStoreConfig {
        let named = |name: &str| {
            self.cloud
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| PathBuf::from(v))
        };
        let aws_file = |var: &str, name: &str| {
            named(var)
                .or_else(|| self.home.as_ref().map(|h| h.join(".aws").join(name)))
                .and_then(|path| std::fs::read_to_string(path).ok())
        };
        crate::objects::ObjectStoreConfig::new(
            &self.cloud,
            aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials").as_deref(),
            aws_file("AWS_CONFIG_FILE", "config").as_deref(),
            endpoint,
        )
    }

    /// `$IPFS_PATH`, or `~/.ipfs`.
    pub fn ipfs_repo(&self) -> Option<PathBuf> {
        self.ipfs_path
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".ipfs")))
    }

    /// `TROVE_PROGRESS_INTERVAL` as a duration; `None` when unset or invalid (a progress
    /// setting is not worth failing a command over).
    pub fn progress_interval(&self) -> Option<Duration> {
        self.progress_interval
            .as_deref()
            .and_then(|v| parse_duration(TROVE_PROGRESS_INTERVAL, v).ok())
    }

    /// Whether `TROVE_OFFLINE` asks for offline mode.
    pub fn offline(&self) -> Result<Option<bool>, ConfigError> {
        self.offline
            .as_deref()
            .map(|v| parse_bool(TROVE_OFFLINE, v))
            .transpose()
    }
}

/// The default config file location (`~/.config/trove/config.toml` on Linux).
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "trove").map(|d| d.config_dir().join("config.toml"))
}

/// The default p2p identity key file (`~/.config/trove/p2p-identity.key` on Linux).
pub fn default_identity_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "trove").map(|d| d.config_dir().join("p2p-identity.key"))
}

/// Splits a comma-separated list from the environment; `none` (or nothing) is the empty list.
pub fn env_list(text: &str) -> Vec<String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Reads a config file; a missing default file is an empty config, a missing file that was asked
/// for explicitly is an error.
pub fn load_config(path: &Path, explicit: bool) -> Result<ConfigFile, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(ConfigFile::default())
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Parses `30`, `30s`, `500ms`, `10m`, `2h`, `1d`.
pub fn parse_duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || ConfigError::Value {
        key: key.to_string(),
        detail: format!("`{text}` is not a duration; use e.g. 500ms, 30s, 10m, 1h"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    Ok(match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86400),
        _ => return Err(bad()),
    })
}

/// Parses `1/0/true/false/yes/no/on/off`.
pub fn parse_bool(key: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(ConfigError::Value {
            key: key.to_string(),
            detail: format!("`{other}` is not a boolean; use 1/0 or true/false"),
        }),
    }
}

/// Parses a source list such as `kubo,gateway`.
pub fn parse_sources(key: &str, items: &[String]) -> Result<Vec<SourceKind>, ConfigError> {
    let mut out = Vec::new();
    for item in items.iter().flat_map(|s| s.split(',')) {
        if item.trim().is_empty() {
            continue;
        }
        let kind: SourceKind = item.parse().map_err(|detail| ConfigError::Value {
            key: key.to_string(),
            detail,
        })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_bools_parse() {
        assert_eq!(
            parse_duration("t", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("t", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("t", "7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("t", "soon").is_err());
        assert!(parse_bool("b", "TRUE").unwrap());
        assert!(!parse_bool("b", "0").unwrap());
        assert!(parse_bool("b", "maybe").is_err());
    }

    #[test]
    fn config_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "timeout = \"5m\"\n[gateway]\nurls = [\"http://127.0.0.1:1\"]\n",
        )
        .unwrap();
        let c = load_config(&path, true).unwrap();
        assert_eq!(c.timeout.as_deref(), Some("5m"));
        std::fs::write(&path, "timout = \"5m\"\n").unwrap();
        let err = load_config(&path, true).unwrap_err().to_string();
        assert!(err.contains("timout"), "{err}");
        assert!(load_config(&dir.path().join("none.toml"), false).is_ok());
        assert!(load_config(&dir.path().join("none.toml"), true).is_err());
    }

    #[test]
    fn sources_parse_in_order_without_repeats() {
        let s = parse_sources("source", &["gateway,kubo".into(), "gateway".into()]).unwrap();
        assert_eq!(s, vec![SourceKind::Gateway, SourceKind::Kubo]);
        assert!(parse_sources("source", &["ftp".into()]).is_err());
    }
}
