//! Resolving settings: flags > environment > config file > defaults, in one place.

use super::args::FetchArgs;
use crate::config::{self, ConfigFile, Env};
use crate::fetch::{FetchOptions, P2pConfig, SourceKind};
use crate::unixfs::ImportParams;
use std::path::PathBuf;

/// Everything a fetching command needs to know.
#[derive(Debug, Clone)]
pub(crate) struct FetchSettings {
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
    /// `--kubo-api`, or the config's `kubo.api`.
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
    /// Progress as JSON lines.
    pub json: bool,
    /// No progress output.
    pub quiet: bool,
}

impl FetchSettings {
    /// Resolves the settings from the flags, the environment and the config file.
    pub(crate) fn resolve(args: &FetchArgs, env: &Env, cfg: &ConfigFile) -> anyhow::Result<Self> {
        let sources = if !args.sources.is_empty() {
            config::parse_sources("--source", &args.sources)?
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
        let offline = args.offline || env.offline()?.or(cfg.offline).unwrap_or(false);
        let p2p_chosen = (!args.sources.is_empty() || cfg.sources.is_some())
            && sources.contains(&SourceKind::P2p);
        let gateways = if !args.gateways.is_empty() {
            args.gateways.clone()
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
        let mut mirrors = args.mirrors.clone();
        mirrors.extend(cfg.mirror.urls.clone().unwrap_or_default());
        let mut options = FetchOptions::default();
        if let Some(t) = &cfg.timeout {
            options.timeout = Some(config::parse_duration("timeout", t)?);
        }
        if let Some(t) = &cfg.idle_timeout {
            options.idle_timeout = config::parse_duration("idle_timeout", t)?;
        }
        if let Some(w) = cfg.window {
            options.window = w.max(1);
        }
        if let Some(r) = cfg.retries {
            options.retries = r;
        }
        if let Some(h) = &cfg.gateway.hedge_after {
            options.hedge_after = config::parse_duration("gateway.hedge_after", h)?;
        }
        if let Some(t) = args.timeout {
            options.timeout = Some(t);
        }
        if let Some(t) = args.idle_timeout {
            options.idle_timeout = t;
        }
        Ok(FetchSettings {
            sources,
            offline,
            gateways,
            mirrors,
            mirror_params: args.mirror_profile.map(|p| p.params()),
            kubo_api: args.kubo_api.clone().or_else(|| cfg.kubo.api.clone()),
            allow_insecure: args.allow_insecure || cfg.gateway.allow_insecure.unwrap_or(false),
            daemon_auto_start: cfg.daemon.auto_start.unwrap_or(false),
            daemon_command: cfg
                .daemon
                .command
                .clone()
                .unwrap_or_else(|| vec!["ipfs".into(), "daemon".into()]),
            p2p: {
                let mut p2p = p2p_config(&args.peers, env, cfg)?;
                // Asked for by name (or given peers), the p2p tier may search longer; as one
                // tier of the default order it must not hold up the gateways for long.
                if !p2p_chosen && args.peers.is_empty() && cfg.p2p.find_timeout.is_none() {
                    p2p.find_timeout = DEFAULT_TIER_FIND_TIMEOUT;
                }
                if !args.bootstrap.is_empty() {
                    p2p.bootstrap = multiaddrs("--bootstrap", &args.bootstrap)?;
                }
                if !args.routers.is_empty() {
                    p2p.routers = urls("--router", &args.routers)?;
                }
                p2p
            },
            options,
            json: args.json,
            quiet: args.quiet,
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

/// How long the p2p tier looks for providers when it runs only as part of the default source
/// order (when asked for with `--source p2p`, or given `--peer`s, it is
/// [`P2pConfig::default`]'s 10 s).
const DEFAULT_TIER_FIND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The p2p node's settings: `peers` (from `--peer`) plus the config's, bootstrap peers and
/// routers from the environment, the config file or the public defaults, mDNS, listen
/// addresses and the discovery time-out. The identity is left unset (a fresh key per run);
/// commands that serve set it with [`identity_path`].
pub(crate) fn p2p_config(
    peers: &[String],
    env: &Env,
    cfg: &ConfigFile,
) -> anyhow::Result<P2pConfig> {
    use crate::fetch::p2p::{DEFAULT_BOOTSTRAP, DEFAULT_ROUTERS};
    let section = &cfg.p2p;
    let mut all_peers = peers.to_vec();
    all_peers.extend(section.peers.clone().unwrap_or_default());
    let bootstrap = match (&env.p2p_bootstrap, &section.bootstrap) {
        (Some(text), _) => config::env_list(text),
        (None, Some(list)) => list.clone(),
        (None, None) => DEFAULT_BOOTSTRAP.iter().map(|s| s.to_string()).collect(),
    };
    let routers = match (&env.p2p_routers, &section.routers) {
        (Some(text), _) => config::env_list(text),
        (None, Some(list)) => list.clone(),
        (None, None) => DEFAULT_ROUTERS.iter().map(|s| s.to_string()).collect(),
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

/// The identity key file for a node that serves: `TROVE_P2P_IDENTITY`, the config's
/// `p2p.identity`, else the default in the user config dir.
pub(crate) fn identity_path(env: &Env, cfg: &ConfigFile) -> anyhow::Result<PathBuf> {
    env.p2p_identity
        .clone()
        .or_else(|| cfg.p2p.identity.clone())
        .or_else(config::default_identity_path)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no config directory for the p2p identity key; set `identity` in the [p2p] section of the config file"
            )
        })
}

/// Parses delegated routing URLs, naming the setting and the bad value in the error.
fn urls(key: &str, items: &[String]) -> anyhow::Result<Vec<url::Url>> {
    items
        .iter()
        .map(|r| {
            let url = url::Url::parse(r.trim()).map_err(|e| {
                anyhow::anyhow!("invalid delegated routing URL `{r}` in {key}: {e}")
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                anyhow::bail!(
                    "invalid delegated routing URL `{r}` in {key}: use http:// or https://"
                );
            }
            Ok(url)
        })
        .collect()
}

/// Parses multiaddrs, naming the setting and the bad value in the error.
pub(crate) fn multiaddrs(key: &str, items: &[String]) -> anyhow::Result<Vec<libp2p::Multiaddr>> {
    items
        .iter()
        .map(|a| {
            a.trim().parse::<libp2p::Multiaddr>().map_err(|e| {
                let example = if key.contains("listen") {
                    "/ip4/0.0.0.0/tcp/4001 or /ip4/0.0.0.0/udp/4001/quic-v1"
                } else {
                    "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW…"
                };
                anyhow::anyhow!(
                    "invalid multiaddr `{a}` in {key}: {e}\nhint: write it like {example}"
                )
            })
        })
        .collect()
}
