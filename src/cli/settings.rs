//! Resolving settings: flags > environment > config file > defaults, in one place.

use super::args::FetchArgs;
use crate::config::{self, ConfigFile, Env};
use crate::fetch::{FetchOptions, SourceKind};
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
