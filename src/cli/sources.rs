//! Building the sources a fetch may ask, in the order the settings give.

use super::settings::FetchSettings;
use super::Context;
use crate::fetch::{
    DaemonHandle, GatewaySource, HttpClient, HttpOptions, MirrorSource, P2pSource, Source,
    SourceKind,
};
use crate::store::FsStore;
use std::sync::Arc;

/// The sources for one command, in tier order; tiers that cannot be used (no daemon answering,
/// no mirror configured, no p2p node in this build) are left out. `mirrors` are extra mirror
/// URLs for this target (from a registry entry), tried after the configured ones.
pub(crate) async fn build(
    ctx: &Context,
    settings: &FetchSettings,
    store: &Arc<FsStore>,
    mirrors: &[MirrorSpec],
) -> anyhow::Result<Built> {
    let client = HttpClient::new(&HttpOptions {
        allow_insecure: settings.allow_insecure,
        ..HttpOptions::default()
    })?;
    let mut sources: Vec<Arc<dyn Source>> = Vec::new();
    let mut daemon = None;
    for kind in &settings.sources {
        match kind {
            SourceKind::Kubo => {
                let (kubo, handle) = super::kubo::connect(ctx, settings).await?;
                sources.extend(kubo);
                daemon = handle;
            }
            SourceKind::P2p => {
                // Without any way to find a peer the tier could only say "not found".
                if settings.p2p.can_discover() {
                    for router in &settings.p2p.routers {
                        client.check_url(router.as_str())?;
                    }
                    let provider: Arc<dyn crate::fetch::p2p::BlockProvider> = store.clone();
                    let p2p = P2pSource::new(settings.p2p.clone(), &client, Some(provider));
                    sources.push(Arc::new(p2p));
                }
            }
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
                    let mirror =
                        MirrorSource::new(&spec.url, &client, spec.params, downloads.clone())?
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
        anyhow::bail!(
            "the p2p tier has no way to find peers (no --peer, no bootstrap peers, no delegated routers, mDNS off)\nhint: give a peer with --peer /ip4/…/tcp/4001/p2p/…, or set `bootstrap`, `routers` or `mdns` in the [p2p] section of the config file (or TROVE_P2P_BOOTSTRAP / TROVE_P2P_ROUTERS / TROVE_P2P_MDNS)"
        );
    }
    Ok(Built { sources, daemon })
}

/// An HTTP mirror of one artifact, with the UnixFS parameters its CID was made with (needed to
/// verify a raw-file mirror).
#[derive(Debug, Clone)]
pub(crate) struct MirrorSpec {
    /// The URL.
    pub url: String,
    /// The import parameters, when known.
    pub params: Option<crate::unixfs::ImportParams>,
}

/// The sources, and a daemon trove started for them (kept alive as long as this value).
pub(crate) struct Built {
    /// In tier order.
    pub sources: Vec<Arc<dyn Source>>,
    /// A daemon started because of `daemon.auto_start`.
    pub daemon: Option<DaemonHandle>,
}
