//! Building the sources a fetch may ask, in the order the settings give, and finding the local
//! daemon the way Kubo users expect (`--kubo-api`, `IPFS_API`, `$IPFS_PATH/api`, the default
//! port), optionally starting one.

use super::settings::FetchSettings;
use crate::config::Env;
use crate::error::{Error, ErrorKind};
use crate::fetch::{
    discover_api_candidates, DaemonHandle, GatewaySource, HttpClient, HttpOptions, KuboRpcSource,
    MirrorSource, Source, SourceKind,
};
use crate::progress::{Event, Reporter};
use crate::store::FsStore;
use crate::unixfs::ImportParams;
use std::sync::Arc;
use std::time::Duration;

/// How long a started daemon may take to answer.
const DAEMON_START_WAIT: Duration = Duration::from_secs(60);

/// A mirror of one artifact (HTTP(S) or object storage), with the UnixFS parameters its CID was
/// made with (needed to verify a raw file or an archive).
#[derive(Debug, Clone)]
pub struct MirrorSpec {
    /// The URL.
    pub url: String,
    /// The import parameters, when known.
    pub params: Option<ImportParams>,
}

/// The sources, and a daemon trove started for them (kept alive as long as this value).
pub struct Built {
    /// In tier order.
    pub sources: Vec<Arc<dyn Source>>,
    /// A daemon started because of `daemon.auto_start`.
    pub daemon: Option<DaemonHandle>,
}

/// The sources for one fetch, in tier order; tiers that cannot be used (no daemon answering, no
/// mirror configured, no p2p node in this build) are left out. `mirrors` are extra mirror URLs
/// for this target (from a registry entry), tried after the configured ones.
pub async fn build(
    settings: &FetchSettings,
    env: &Env,
    store: &Arc<FsStore>,
    mirrors: &[MirrorSpec],
    reporter: &dyn Reporter,
) -> Result<Built, Error> {
    let client = HttpClient::new(&HttpOptions {
        allow_insecure: settings.allow_insecure,
        ..HttpOptions::default()
    })?;
    let mut sources: Vec<Arc<dyn Source>> = Vec::new();
    let mut daemon = None;
    for kind in &settings.sources {
        match kind {
            SourceKind::Kubo => {
                let (kubo, handle) = connect_daemon(settings, env, reporter).await?;
                sources.extend(kubo);
                daemon = handle;
            }
            SourceKind::P2p => add_p2p(settings, &client, store, &mut sources)?,
            SourceKind::Gateway => {
                for url in &settings.gateways {
                    sources.push(Arc::new(GatewaySource::new(url, &client)?));
                }
            }
            SourceKind::Mirror => {
                let downloads = store.root().join("downloads-v1");
                let configured = settings.mirrors.iter().map(|url| MirrorSpec {
                    url: url.clone(),
                    params: settings.mirror_params,
                });
                for spec in configured.chain(mirrors.iter().cloned()) {
                    let mirror = MirrorSource::new(
                        &spec.url,
                        &client,
                        &settings.objects,
                        spec.params,
                        downloads.clone(),
                    )?
                    .with_idle_timeout(settings.options.idle_timeout);
                    sources.push(Arc::new(mirror));
                }
            }
        }
    }
    if sources.is_empty()
        && settings.sources.contains(&SourceKind::P2p)
        && !settings.p2p.can_discover()
    {
        return Err(Error::with_hint(
            ErrorKind::Usage,
            "the p2p tier has no way to find peers (no --peer, no bootstrap peers, no delegated routers, mDNS off)",
            "give a peer with --peer /ip4/…/tcp/4001/p2p/…, or set `bootstrap`, `routers` or `mdns` in the [p2p] section of the config file (or TROVE_P2P_BOOTSTRAP / TROVE_P2P_ROUTERS / TROVE_P2P_MDNS)",
        ));
    }
    Ok(Built { sources, daemon })
}

/// The p2p tier, when this build has it and it can find a peer at all (without any way to
/// find one it could only say "not found").
#[cfg(feature = "p2p")]
fn add_p2p(
    settings: &FetchSettings,
    client: &HttpClient,
    store: &Arc<FsStore>,
    sources: &mut Vec<Arc<dyn Source>>,
) -> Result<(), Error> {
    if settings.p2p.can_discover() {
        for router in &settings.p2p.routers {
            client.check_url(router.as_str())?;
        }
        let provider: Arc<dyn crate::fetch::p2p::BlockProvider> = store.clone();
        let p2p = crate::fetch::P2pSource::new(settings.p2p.clone(), client, Some(provider));
        sources.push(Arc::new(p2p));
    }
    Ok(())
}

/// Without the `p2p` feature the tier is left out, as a tier that cannot be used.
#[cfg(not(feature = "p2p"))]
fn add_p2p(
    _settings: &FetchSettings,
    _client: &HttpClient,
    _store: &Arc<FsStore>,
    _sources: &mut Vec<Arc<dyn Source>>,
) -> Result<(), Error> {
    Ok(())
}

/// The daemon's source when one answers (or was started, with `daemon.auto_start`); the handle
/// keeps a daemon trove started alive until it is dropped. A malformed address is a warning, not
/// an error, unless it was given explicitly: the daemon is one optional tier among several.
pub async fn connect_daemon(
    settings: &FetchSettings,
    env: &Env,
    reporter: &dyn Reporter,
) -> Result<(Option<Arc<dyn Source>>, Option<DaemonHandle>), Error> {
    let candidates = match discover_api_candidates(
        settings.kubo_api.as_deref(),
        env.ipfs_api.as_deref(),
        env.ipfs_path.as_deref(),
        env.home.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) if settings.kubo_api.is_some() => return Err(e.into()),
        Err(e) => {
            reporter.report(Event::Warning {
                message: &format!("skipping the local IPFS daemon: {e}"),
            });
            return Ok((None, None));
        }
    };
    let client = reqwest::Client::builder().no_proxy().build().map_err(|e| {
        Error::msg(
            ErrorKind::Other,
            format!("cannot build the HTTP client: {e}"),
        )
    })?;
    if let Some(source) = KuboRpcSource::connect(&candidates, client.clone()).await? {
        return Ok((Some(Arc::new(source)), None));
    }
    if !settings.daemon_auto_start {
        return Ok((None, None));
    }
    let handle = KuboRpcSource::start_daemon(
        &settings.daemon_command,
        env.ipfs_path.as_deref(),
        DAEMON_START_WAIT,
    )
    .await?;
    let source = KuboRpcSource::connect(std::slice::from_ref(handle.candidate()), client).await?;
    Ok((source.map(|s| Arc::new(s) as Arc<dyn Source>), Some(handle)))
}
