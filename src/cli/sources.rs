//! Building the sources a fetch may ask, in the order the settings give.

use super::settings::FetchSettings;
use super::Context;
use crate::fetch::{
    DaemonHandle, GatewaySource, HttpClient, HttpOptions, MirrorSource, Source, SourceKind,
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
    mirrors: &[String],
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
            // The embedded libp2p node is not part of this build yet.
            SourceKind::P2p => {}
            SourceKind::Gateway => {
                for url in &settings.gateways {
                    sources.push(Arc::new(GatewaySource::new(url, &client)?));
                }
            }
            SourceKind::Mirror => {
                let downloads = store.root().join("downloads-v1");
                for url in settings.mirrors.iter().chain(mirrors) {
                    let mirror =
                        MirrorSource::new(url, &client, settings.mirror_params, downloads.clone())?
                            .with_idle_timeout(settings.options.idle_timeout);
                    sources.push(Arc::new(mirror));
                }
            }
        }
    }
    Ok(Built { sources, daemon })
}

/// The sources, and a daemon trove started for them (kept alive as long as this value).
pub(crate) struct Built {
    /// In tier order.
    pub sources: Vec<Arc<dyn Source>>,
    /// A daemon started because of `daemon.auto_start`.
    pub daemon: Option<DaemonHandle>,
}
