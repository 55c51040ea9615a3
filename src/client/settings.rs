//! Settings, resolved in one place with one precedence for every front end: explicit options
//! (flags, Python keyword arguments) > environment variables > the config file > defaults.

use crate::config::{self, ConfigError, ConfigFile, Env};
use crate::error::{Error, ErrorKind};
use crate::fetch::{FetchOptions, P2pConfig, SourceKind};
use crate::unixfs::{ImportParams, Profile};
use std::path::PathBuf;
use std::time::Duration;

/// What a caller sets explicitly. Every field left at its default (`None`, empty, `false`)
/// falls through to the environment, the config file and the defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The cache directory.
    pub cache_dir: Option<PathBuf>,
    /// The config file (a missing file given here is an error).
    pub config_file: Option<PathBuf>,
    /// Registries to read: paths, URLs or `owner/repo[@ref]`.
    pub registries: Vec<String>,
    /// Ask registry servers even within the TTL.
    pub refresh_registries: bool,
    /// No network at all.
    pub offline: Option<bool>,
    /// Tiers to ask, in order.
    pub sources: Vec<SourceKind>,
    /// Trustless gateway URLs (replace the configured list).
    pub gateways: Vec<String>,
    /// Mirror URLs (CARs or raw files), tried before the configured ones.
    pub mirrors: Vec<String>,
    /// The profile raw-file mirrors are verified with.
    pub mirror_profile: Option<Profile>,
    /// The S3-compatible store `s3://` mirrors and uploads go to.
    pub endpoint: Option<String>,
    /// Bitswap peers to dial (beside the configured ones).
    pub peers: Vec<String>,
    /// DHT bootstrap peers (replace the configured list).
    pub bootstrap: Option<Vec<String>>,
    /// Delegated routers (replace the configured list).
    pub routers: Option<Vec<String>>,
    /// The Kubo RPC API.
    pub kubo_api: Option<String>,
    /// Plain `http://` to public hosts.
    pub allow_insecure: bool,
    /// Time-out of a whole get.
    pub timeout: Option<Duration>,
    /// Idle time-out of one request or stream.
    pub idle_timeout: Option<Duration>,
}

/// Everything resolved: what the [`crate::Client`] works with.
#[derive(Debug)]
pub struct Settings {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// Registries to read, as given (may be empty: an error only when one is needed).
    pub registries: Vec<String>,
    /// How long a downloaded registry is used before asking again.
    pub registry_ttl: Option<Duration>,
    /// Ask registry servers even within the TTL.
    pub refresh_registries: bool,
    /// How blocks are fetched.
    pub fetch: FetchSettings,
    /// The environment as read (tokens, IPFS paths) for the commands that need more.
    pub env: Env,
    /// The config file as read.
    pub config: ConfigFile,
}

/// How blocks are fetched: the tiers and everything they need.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Tiers to use, in order.
    pub sources: Vec<SourceKind>,
    /// No network at all.
    pub offline: bool,
    /// Trustless gateway URLs, in order.
    pub gateways: Vec<String>,
    /// Mirror URLs (CARs or raw files).
    pub mirrors: Vec<String>,
    /// The profile raw-file mirrors are verified with.
    pub mirror_params: Option<ImportParams>,
    /// How object-storage mirrors (`s3://`, `gs://`, `az://`) are opened.
    pub objects: crate::objects::ObjectStoreConfig,
    /// The Kubo RPC API, when set explicitly or in the config file.
    pub kubo_api: Option<String>,
    /// Plain http:// to public hosts.
    pub allow_insecure: bool,
    /// Start a local daemon when none answers.
    pub daemon_auto_start: bool,
    /// The command that starts it.
    pub daemon_command: Vec<String>,
    /// The p2p node (peers, discovery).
    pub p2p: P2pConfig,
    /// Fetcher tunables.
    pub options: FetchOptions,
}

/// How long the p2p tier looks for providers when it runs only as part of the default source
/// order (asked for by name, or given peers, it is [`P2pConfig::default`]'s 10 s).
const DEFAULT_TIER_FIND_TIMEOUT: Duration = Duration::from_secs(3);

impl Settings {
    /// Resolves `options` against this process's environment and config file.
    pub fn from_environment(options: &Options) -> Result<Settings, Error> {
        let env = Env::from_process();
        let (path, explicit) = match options.config_file.clone().or_else(|| env.config.clone()) {
            Some(path) => (Some(path), true),
            None => (config::default_config_path(), false),
        };
        let config = match &path {
            Some(path) => config::load_config(path, explicit)?,
            None => ConfigFile::default(),
        };
        Settings::resolve(options, env, config)
    }

    /// Resolves `options` against a given environment and config file.
    pub fn resolve(options: &Options, env: Env, config: ConfigFile) -> Result<Settings, Error> {
        let cache_dir = match options
            .cache_dir
            .clone()
            .or_else(|| env.cache_dir.clone())
            .or_else(|| config.cache_dir.clone())
        {
            Some(dir) => dir,
            None => crate::store::default_cache_dir()?,
        };
        let registries: Vec<String> = if !options.registries.is_empty() {
            options.registries.clone()
        } else if let Some(list) = &env.registry {
            list.split(',').map(|s| s.trim().to_string()).collect()
        } else {
            config.registries.clone().unwrap_or_default()
        };
        let registry_ttl = config
            .registry_ttl
            .as_deref()
            .map(|t| config::parse_duration("registry_ttl", t))
            .transpose()?;
        let fetch = FetchSettings::resolve(options, &env, &config)?;
        Ok(Settings {
            cache_dir,
            registries: registries.into_iter().filter(|r| !r.is_empty()).collect(),
            registry_ttl,
            refresh_registries: options.refresh_registries,
            fetch,
            env,
            config,
        })
    }

    /// The registry client's options: the cache, the TTL, offline and insecure-HTTP settings.
    pub fn registry_options(&self) -> crate::registry::ClientOptions {
        let mut options = crate::registry::ClientOptions::new(&self.cache_dir);
        options.offline = self.fetch.offline;
        options.refresh = self.refresh_registries;
        if let Some(ttl) = self.registry_ttl {
            options.ttl = ttl;
        }
        options.allow_insecure = self.config.gateway.allow_insecure.unwrap_or(false);
        options
    }

    /// The configured registries, parsed; an error with a hint when none is configured.
    pub fn registry_sources(&self) -> Result<Vec<crate::registry::RegistrySource>, Error> {
        self.parse_registries(&self.registries)
    }

    /// Registries `texts` names, parsed; an error with a hint when there are none.
    pub fn parse_registries(
        &self,
        texts: &[String],
    ) -> Result<Vec<crate::registry::RegistrySource>, Error> {
        if texts.is_empty() {
            return Err(Error::with_hint(
                ErrorKind::Usage,
                "no registry is configured",
                "pass --registry PATH|URL|owner/repo (e.g. --registry registry/registry.json; in Python `registry=`), set TROVE_REGISTRY, or add `registries = [...]` to the config file",
            ));
        }
        texts
            .iter()
            .map(|t| crate::registry::RegistrySource::parse(t).map_err(Error::from))
            .collect()
    }

    /// The identity key file for a node that serves: `TROVE_P2P_IDENTITY`, the config's
    /// `p2p.identity`, else the default in the user config dir.
    pub fn identity_path(&self) -> Result<PathBuf, Error> {
        self.env
            .p2p_identity
            .clone()
            .or_else(|| self.config.p2p.identity.clone())
            .or_else(config::default_identity_path)
            .ok_or_else(|| {
                Error::with_hint(
                    ErrorKind::Usage,
                    "there is no config directory for the p2p identity key",
                    "set `identity` in the [p2p] section of the config file, or TROVE_P2P_IDENTITY",
                )
            })
    }
}

impl FetchSettings {
    /// Resolves the fetch settings from the options, the environment and the config file.
    pub fn resolve(options: &Options, env: &Env, cfg: &ConfigFile) -> Result<Self, Error> {
        let sources = if !options.sources.is_empty() {
            options.sources.clone()
        } else if let Some(list) = &cfg.sources {
            config::parse_sources("sources", list)?
        } else {
            vec![
                SourceKind::Kubo,
                SourceKind::P2p,
                SourceKind::Gateway,
                SourceKind::Mirror,
            ]
        };
        let offline = match options.offline {
            Some(offline) => offline,
            None => env.offline()?.or(cfg.offline).unwrap_or(false),
        };
        let p2p_chosen = (!options.sources.is_empty() || cfg.sources.is_some())
            && sources.contains(&SourceKind::P2p);
        let gateways = if !options.gateways.is_empty() {
            options.gateways.clone()
        } else if let Some(gw) = &env.ipfs_gateway {
            vec![gw.clone()]
        } else if let Some(gw) = ipfs_repo_gateway(env) {
            vec![gw]
        } else if let Some(urls) = &cfg.gateway.urls {
            urls.clone()
        } else {
            config::DEFAULT_GATEWAYS
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let mut mirrors = options.mirrors.clone();
        mirrors.extend(cfg.mirror.urls.clone().unwrap_or_default());
        let mut fetch = FetchOptions::default();
        if let Some(t) = &cfg.timeout {
            fetch.timeout = Some(config::parse_duration("timeout", t)?);
        }
        if let Some(t) = &cfg.idle_timeout {
            fetch.idle_timeout = config::parse_duration("idle_timeout", t)?;
        }
        if let Some(w) = cfg.window {
            fetch.window = w.max(1);
        }
        if let Some(r) = cfg.retries {
            fetch.retries = r;
        }
        if let Some(h) = &cfg.gateway.hedge_after {
            fetch.hedge_after = config::parse_duration("gateway.hedge_after", h)?;
        }
        if let Some(t) = options.timeout {
            fetch.timeout = Some(t);
        }
        if let Some(t) = options.idle_timeout {
            fetch.idle_timeout = t;
        }
        let mut p2p = p2p_config(&options.peers, env, cfg)?;
        // Asked for by name (or given peers), the p2p tier may search longer; as one tier of
        // the default order it must not hold up the gateways for long.
        if !p2p_chosen && options.peers.is_empty() && cfg.p2p.find_timeout.is_none() {
            p2p.find_timeout = DEFAULT_TIER_FIND_TIMEOUT;
        }
        if let Some(list) = &options.bootstrap {
            p2p.bootstrap = multiaddrs("--bootstrap", list)?;
        }
        if let Some(list) = &options.routers {
            p2p.routers = urls("--router", list)?;
        }
        Ok(FetchSettings {
            sources,
            offline,
            gateways,
            mirrors,
            mirror_params: options.mirror_profile.map(|p| p.params()),
            objects: env.object_store_config(
                options
                    .endpoint
                    .as_deref()
                    .or(cfg.mirror.endpoint.as_deref()),
            ),
            kubo_api: options.kubo_api.clone().or_else(|| cfg.kubo.api.clone()),
            allow_insecure: options.allow_insecure || cfg.gateway.allow_insecure.unwrap_or(false),
            daemon_auto_start: cfg.daemon.auto_start.unwrap_or(false),
            daemon_command: cfg
                .daemon
                .command
                .clone()
                .unwrap_or_else(|| vec!["ipfs".into(), "daemon".into()]),
            p2p,
            options: fetch,
        })
    }
}

/// The `gateway` file in the Kubo repository, which some IPFS tools read for a gateway URL.
fn ipfs_repo_gateway(env: &Env) -> Option<String> {
    let path: PathBuf = env.ipfs_repo()?.join("gateway");
    let text = std::fs::read_to_string(path).ok()?;
    let url = text.trim();
    (!url.is_empty()).then(|| url.to_string())
}

/// The p2p node's settings: `peers` plus the config's, bootstrap peers and routers from the
/// environment, the config file or the public defaults, mDNS, listen addresses and the
/// discovery time-out. The identity is left unset (a fresh key per run); commands that serve
/// set it with [`Settings::identity_path`].
pub fn p2p_config(peers: &[String], env: &Env, cfg: &ConfigFile) -> Result<P2pConfig, Error> {
    let section = &cfg.p2p;
    let mut all_peers = peers.to_vec();
    all_peers.extend(section.peers.clone().unwrap_or_default());
    let bootstrap = match (&env.p2p_bootstrap, &section.bootstrap) {
        (Some(text), _) => config::env_list(text),
        (None, Some(list)) => list.clone(),
        (None, None) => default_list(crate::fetch::DEFAULT_BOOTSTRAP),
    };
    let routers = match (&env.p2p_routers, &section.routers) {
        (Some(text), _) => config::env_list(text),
        (None, Some(list)) => list.clone(),
        (None, None) => default_list(crate::fetch::DEFAULT_ROUTERS),
    };
    let mdns = match &env.p2p_mdns {
        Some(v) => config::parse_bool(config::TROVE_P2P_MDNS, v)?,
        None => section.mdns.unwrap_or(true),
    };
    let mut p2p = P2pConfig {
        peers: multiaddrs("--peer / p2p.peers", &all_peers)?,
        bootstrap: multiaddrs("p2p.bootstrap", &bootstrap)?,
        routers: urls("p2p.routers", &routers)?,
        mdns,
        listen: multiaddrs("p2p.listen", &section.listen.clone().unwrap_or_default())?,
        ..P2pConfig::default()
    };
    if let Some(t) = &section.find_timeout {
        p2p.find_timeout = config::parse_duration("p2p.find_timeout", t)?;
    }
    Ok(p2p)
}

fn default_list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Parses delegated routing URLs, naming the setting and the bad value in the error.
fn urls(key: &str, items: &[String]) -> Result<Vec<url::Url>, Error> {
    items
        .iter()
        .map(|r| {
            let bad = |detail: String| ConfigError::Value {
                key: key.to_string(),
                detail,
            };
            let url = url::Url::parse(r.trim())
                .map_err(|e| bad(format!("`{r}` is not a delegated routing URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(bad(format!(
                    "`{r}` is not a delegated routing URL: use http:// or https://"
                ))
                .into());
            }
            Ok(url)
        })
        .collect()
}

/// Parses multiaddrs, naming the setting and the bad value in the error.
pub fn multiaddrs(key: &str, items: &[String]) -> Result<Vec<crate::fetch::Multiaddr>, Error> {
    items
        .iter()
        .map(|a| {
            a.trim().parse::<crate::fetch::Multiaddr>().map_err(|e| {
                let example = if key.contains("listen") {
                    "/ip4/0.0.0.0/tcp/4001 or /ip4/0.0.0.0/udp/4001/quic-v1"
                } else {
                    "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW…"
                };
                Error::with_hint(
                    ErrorKind::Usage,
                    format!("invalid multiaddr `{a}` in {key}: {e}"),
                    format!("write it like {example}"),
                )
            })
        })
        .collect()
}
