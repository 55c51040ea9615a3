//! The local-daemon tier for the CLI: find the Kubo RPC API the way Kubo users expect, probe it
//! quickly, and optionally start a daemon.

use super::settings::FetchSettings;
use super::Context;
use crate::fetch::{discover_api_candidates, DaemonHandle, KuboRpcSource, Source};
use std::sync::Arc;
use std::time::Duration;

/// How long a started daemon may take to answer.
const DAEMON_START_WAIT: Duration = Duration::from_secs(60);

/// The daemon's source when one answers (or was started, with `daemon.auto_start`); the handle
/// keeps a daemon trove started alive until it is dropped. A malformed address is a warning, not
/// an error: the daemon is one optional tier among several.
pub(crate) async fn connect(
    ctx: &Context,
    settings: &FetchSettings,
) -> anyhow::Result<(Option<Arc<dyn Source>>, Option<DaemonHandle>)> {
    let candidates = match discover_api_candidates(
        settings.kubo_api.as_deref(),
        ctx.env.ipfs_api.as_deref(),
        ctx.env.ipfs_path.as_deref(),
        ctx.env.home.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => {
            if settings.kubo_api.is_some() {
                return Err(e.into());
            }
            if !settings.quiet {
                eprintln!("warning: skipping the local IPFS daemon: {e}");
            }
            return Ok((None, None));
        }
    };
    let client = reqwest::Client::builder().no_proxy().build()?;
    if let Some(source) = KuboRpcSource::connect(&candidates, client.clone()).await? {
        return Ok((Some(Arc::new(source)), None));
    }
    if !settings.daemon_auto_start {
        return Ok((None, None));
    }
    let handle = KuboRpcSource::start_daemon(
        &settings.daemon_command,
        ctx.env.ipfs_path.as_deref(),
        DAEMON_START_WAIT,
    )
    .await?;
    let source = KuboRpcSource::connect(std::slice::from_ref(handle.candidate()), client).await?;
    Ok((source.map(|s| Arc::new(s) as Arc<dyn Source>), Some(handle)))
}
