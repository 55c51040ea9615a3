//! `trove serve --p2p` and `trove get --seed`: the local cache served over bitswap until the
//! process is interrupted.
//!
//! Once listening, one line per address goes to standard output,
//! `LISTENING <multiaddr>/p2p/<peer id>`, so scripts can dial the node. Kept roots (or the root
//! just fetched) are announced as provider records in the DHTs as soon as a DHT peer is
//! connected. With `--json` the same goes out as JSON lines instead:
//! `{"event":"listening","addr":…,"peer_id":…}` per address and `{"event":"stopped",…}` at the
//! end.

use super::args::ServeArgs;
use super::Context;
use crate::client::settings::{multiaddrs, p2p_config};
use crate::client::{Client, Settings};
use crate::content::Cid;
use crate::fetch::p2p::{self, BlockProvider, NodeEvent, P2pConfig};
use crate::store::FsStore;
use anyhow::Context as _;
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

/// Listen addresses when neither `--listen` nor `p2p.listen` says otherwise.
pub(crate) const DEFAULT_LISTEN: &[&str] = &["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"];

/// How long after a new connection the roots are announced again.
const ANNOUNCE_DELAY: std::time::Duration = std::time::Duration::from_secs(3);
/// How often the roots are announced while serving.
const REANNOUNCE: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The p2p half of `trove serve`: the settings and the roots of `store` to announce, for
/// [`serve_until_interrupted`] on the caller's runtime.
pub(crate) fn prepare(
    ctx: &Context,
    args: &ServeArgs,
    store: Arc<FsStore>,
) -> anyhow::Result<(Arc<FsStore>, P2pConfig, Vec<Cid>)> {
    let config = serving_config(ctx.settings()?, &args.peers, &args.listen)?;
    let roots: Vec<Cid> = store
        .kept_roots()
        .context("cannot list the kept roots")?
        .into_iter()
        .map(|r| r.cid)
        .collect();
    Ok((store, config, roots))
}

/// The p2p settings of a serving node: `peers` and `listen` from the command line (else the
/// config file, else [`DEFAULT_LISTEN`]) and the persistent identity.
pub(crate) fn serving_config(
    settings: &Settings,
    peers: &[String],
    listen: &[String],
) -> anyhow::Result<P2pConfig> {
    let mut config = p2p_config(peers, &settings.env, &settings.config)?;
    if !listen.is_empty() {
        config.listen = multiaddrs("--listen", listen)?;
    } else if config.listen.is_empty() {
        let defaults: Vec<String> = DEFAULT_LISTEN.iter().map(|s| s.to_string()).collect();
        config.listen = multiaddrs("the default listen addresses", &defaults)?;
    }
    config.identity = Some(settings.identity_path()?);
    Ok(config)
}

/// `get --seed`: serves the client's store over bitswap (announcing `cid`) until interrupted.
pub(crate) fn seed(
    client: &Client,
    cid: &Cid,
    label: &str,
    peers: &[String],
    listen: &[String],
    quiet: bool,
) -> anyhow::Result<()> {
    client
        .store()
        .keep_root(cid, label)
        .context("cannot keep the root being seeded")?;
    let config = serving_config(client.settings(), peers, listen)?;
    client.block_on(serve_until_interrupted(
        client.store().clone(),
        config,
        vec![*cid],
        if quiet { Say::Quiet } else { Say::Text },
    ))
}

/// How a serving node speaks: the address lines on standard output always (JSON lines with
/// `Json`), the rest on standard error unless `Quiet` or `Json`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Say {
    Text,
    Quiet,
    Json,
}

/// Serves `store` until SIGINT or SIGTERM, announcing `roots`.
pub(crate) async fn serve_until_interrupted(
    store: Arc<FsStore>,
    config: P2pConfig,
    roots: Vec<Cid>,
    say: Say,
) -> anyhow::Result<()> {
    let quiet = say != Say::Text;
    let mut interrupts = super::signals::Interrupts::register()?;
    let provider: Arc<dyn BlockProvider> = store.clone();
    let started = p2p::start(&config, Some(provider)).await?;
    let node = started.node.clone();
    for (addr, why) in &started.unreachable {
        eprintln!("warning: cannot reach peer `{addr}`: {why}");
    }
    let mut events = node.subscribe();
    let peer_id = node.peer_id();
    let mut printed = HashSet::new();
    let print = |addr: &libp2p::Multiaddr, printed: &mut HashSet<String>| {
        let line = if say == Say::Json {
            serde_json::json!({
                "event": "listening",
                "addr": format!("{addr}/p2p/{peer_id}"),
                "peer_id": peer_id.to_string(),
            })
            .to_string()
        } else {
            format!("LISTENING {addr}/p2p/{peer_id}")
        };
        if printed.insert(line.clone()) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    for addr in node.listen_addrs() {
        print(&addr, &mut printed);
    }
    if !quiet {
        eprintln!(
            "serving {} over bitswap as {peer_id} ({} kept root(s)); press Ctrl-C to stop",
            store.root().display(),
            roots.len()
        );
    }
    let announce = |node: &p2p::Node| {
        let node = node.clone();
        let roots = roots.clone();
        async move {
            for root in roots {
                let _ = node.provide(root.hash().to_bytes()).await;
            }
        }
    };
    announce(&node).await;
    // Provider records need DHT peers: announce again shortly after connections come up
    // (identify has then told the DHT about them), and periodically after that.
    let mut announce_at = tokio::time::Instant::now() + REANNOUNCE;
    let mut announcements_after_connect = 0;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(NodeEvent::Listening(addr)) => print(&addr, &mut printed),
                Ok(NodeEvent::Connected(_)) if announcements_after_connect < 3 => {
                    announcements_after_connect += 1;
                    announce_at = announce_at.min(tokio::time::Instant::now() + ANNOUNCE_DELAY);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            },
            () = tokio::time::sleep_until(announce_at) => {
                announce(&node).await;
                announce_at = tokio::time::Instant::now() + REANNOUNCE;
            }
            () = interrupts.recv() => break,
        }
    }
    let stats = started.bitswap.stats();
    match say {
        Say::Text => eprintln!("stopped; sent {} block(s)", stats.blocks_sent),
        Say::Json => println!(
            "{}",
            serde_json::json!({"event": "stopped", "blocks_sent": stats.blocks_sent})
        ),
        Say::Quiet => {}
    }
    Ok(())
}
