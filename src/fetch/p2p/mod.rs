//! Tier 2: the embedded libp2p node, fetching over bitswap and serving the local store.
//!
//! - [`node`]: the swarm actor (TCP/QUIC, noise, yamux, identify, ping, Kademlia WAN + LAN in
//!   client mode, optional mDNS) behind a cloneable [`Node`] handle.
//! - [`bitswap`]: bitswap 1.2.0/1.1.0 client and server on the raw streams of [`streams`].
//! - [`streams`]: a behaviour handing out inbound and outbound streams per protocol.
//! - [`transport`]: buffered TCP and QUIC.
//! - [`message`]: the bitswap wire format (no IO).
//! - [`routing`]: delegated routing over HTTP (`/routing/v1/providers/{cid}`).
//! - [`identity`]: the persistent node key.
//!
//! [`P2pSource`] is the fetcher's view: the node starts on first use (or when the fetcher calls
//! [`Source::prepare`]), so a get that an earlier tier answers never pays for it. A block is
//! asked of the peers that already delivered in this session first, then of every connected
//! peer (want-have), then of providers found through the DHTs and delegated routers; when none
//! has it within the discovery time-out, the answer is "not found".

pub mod bitswap;
pub mod identity;
/// The bitswap wire format (no IO, built without the `p2p` feature too).
pub use crate::bitswap_message as message;
pub mod node;
pub mod routing;
pub mod streams;
pub mod transport;

pub use super::p2p_config::{P2pConfig, DEFAULT_BOOTSTRAP, DEFAULT_ROUTERS};
pub use bitswap::{Bitswap, BitswapStats, BlockProvider, WantEvent};
pub use node::{Node, NodeEvent, NodeOptions};

use super::http::HttpClient;
use super::{Source, SourceError, SourceKind};
use crate::content::Cid;
use libp2p::{Multiaddr, PeerId};
use message::WantType;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, OnceCell};
use tokio::time::Instant;

/// How long a block request waits on the peers already asked before asking every connected
/// peer as well.
const HEDGE_AFTER: Duration = Duration::from_secs(2);
/// How long a provider lookup waits for connected peers to be identified.
const IDENTIFY_WAIT: Duration = Duration::from_secs(3);
/// How long dialing one configured peer may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Which peer delivered which block, kept for this many recent blocks (see [`Source::reject`]).
const DELIVERY_MEMORY: usize = 4096;
/// After a provider search found nobody, other blocks of the same get skip the search for this
/// long (the peers that had the DAG are gone; thousands of futile searches would follow).
const FRUITLESS_SEARCH_MEMORY: Duration = Duration::from_secs(30);
/// Configured peers are dialed again at most this often after every peer was lost.
const REDIAL_PAUSE: Duration = Duration::from_secs(5);

/// Errors setting up the node.
#[derive(Debug, Clone, thiserror::Error)]
pub enum P2pError {
    /// The transport or behaviours could not be built.
    #[error("cannot set up the p2p node: {0}")]
    Setup(String),
    /// A listen address was refused.
    #[error("cannot listen on `{addr}`: {detail}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        detail: String,
    },
    /// The identity key could not be read or written.
    #[error("cannot use the p2p identity key `{path}`: {detail}")]
    Identity {
        /// The key file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

impl crate::Hint for P2pError {
    fn hint(&self) -> Option<String> {
        Some({
            match self {
            P2pError::Setup(_) => "check the system's DNS configuration (/etc/resolv.conf) and that UDP/TCP sockets can be opened".into(),
            P2pError::Listen { .. } => "choose another address or port with --listen (port 0 picks a free one), or stop the program using it".into(),
            P2pError::Identity { .. } => "set another key file with TROVE_P2P_IDENTITY or `identity` in the [p2p] section of the config file".into(),
        }
        })
    }
}

/// The running node with bitswap, as used by the source and by `trove serve`.
#[derive(Clone)]
pub struct Started {
    /// The node.
    pub node: Node,
    /// Its bitswap engine.
    pub bitswap: Bitswap,
    /// Configured peers that could not be dialed, with the reason.
    pub unreachable: Vec<(Multiaddr, String)>,
}

/// Starts a node with bitswap serving `provider` (if any) and dials the configured peers
/// (waiting for those dials, at most 10 s each, in parallel).
pub async fn start(
    config: &P2pConfig,
    provider: Option<Arc<dyn BlockProvider>>,
) -> Result<Started, P2pError> {
    let keypair = match &config.identity {
        Some(path) => identity::load_or_create(path)?,
        None => libp2p::identity::Keypair::generate_ed25519(),
    };
    let (node, incoming) = Node::start(NodeOptions {
        keypair,
        listen: config.listen.clone(),
        bootstrap: config.bootstrap.clone(),
        mdns: config.mdns,
        idle_connection_timeout: config.idle_connection_timeout,
        protocols: bitswap::PROTOCOLS.to_vec(),
    })?;
    let bitswap = Bitswap::start(node.clone(), incoming, provider);
    let unreachable = dial_all(&node, config.peers.iter())
        .await
        .into_iter()
        .filter_map(|(addr, r)| r.err().map(|e| (addr, e)))
        .collect();
    Ok(Started {
        node,
        bitswap,
        unreachable,
    })
}

/// Dials every address in `addrs` at once, each for at most [`DIAL_TIMEOUT`]; the outcome of
/// each, in order.
async fn dial_all<'a>(
    node: &Node,
    addrs: impl Iterator<Item = &'a Multiaddr>,
) -> Vec<(Multiaddr, Result<PeerId, String>)> {
    let dials = addrs.map(|addr| async move {
        let result = match tokio::time::timeout(DIAL_TIMEOUT, node.dial(addr.clone())).await {
            Ok(r) => r,
            Err(_) => Err(format!("no connection within {DIAL_TIMEOUT:?}")),
        };
        (addr.clone(), result)
    });
    futures_util::future::join_all(dials).await
}

/// A failed block request told apart from "nobody has it": when a peer asked went away on the
/// way (its connection or stream broke, it was dropped), that is what the error says, as a
/// temporary failure (asked again later, when the peer may be back), not "not found".
fn explain(
    result: Result<Vec<u8>, SourceError>,
    troubles: &[String],
) -> Result<Vec<u8>, SourceError> {
    if troubles.is_empty() {
        return result;
    }
    let what = troubles.join("; ");
    match result {
        Err(SourceError::NotFound) => Err(SourceError::Transient {
            detail: format!("{what}; no other peer had the block"),
            retry_after: None,
        }),
        Err(SourceError::Unavailable(why)) => {
            Err(SourceError::Unavailable(format!("{why} ({what})")))
        }
        other => other,
    }
}

/// The p2p tier as a fetcher [`Source`].
#[derive(Clone)]
pub struct P2pSource {
    inner: Arc<Inner>,
}

struct Inner {
    config: P2pConfig,
    client: HttpClient,
    provider: Option<Arc<dyn BlockProvider>>,
    started: OnceCell<Result<Started, String>>,
    session: Mutex<Session>,
    told_unreachable: AtomicBool,
    /// When the configured peers were last dialed again, and what that gave.
    redial: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

#[derive(Default)]
struct Session {
    delivered: HashMap<PeerId, u64>,
    outstanding: HashMap<PeerId, usize>,
    delivered_by: HashMap<Cid, PeerId>,
    delivery_order: VecDeque<Cid>,
    /// When a provider search last ended without finding anybody.
    fruitless_search: Option<Instant>,
}

impl Session {
    fn record(&mut self, cid: Cid, peer: PeerId) {
        *self.delivered.entry(peer).or_default() += 1;
        if self.delivered_by.insert(cid, peer).is_none() {
            self.delivery_order.push_back(cid);
            if self.delivery_order.len() > DELIVERY_MEMORY {
                if let Some(old) = self.delivery_order.pop_front() {
                    self.delivered_by.remove(&old);
                }
            }
        }
    }
}

impl P2pSource {
    /// A source using `config`; `provider` is served to peers while the node runs (pass the
    /// local store so a fetching node also shares what it has).
    pub fn new(
        config: P2pConfig,
        client: &HttpClient,
        provider: Option<Arc<dyn BlockProvider>>,
    ) -> Self {
        P2pSource {
            inner: Arc::new(Inner {
                config,
                client: client.clone(),
                provider,
                started: OnceCell::new(),
                session: Mutex::default(),
                told_unreachable: AtomicBool::new(false),
                redial: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Starts the node now if it is not running yet.
    pub async fn start(&self) -> Result<Started, SourceError> {
        self.inner.start().await
    }
}

impl Inner {
    async fn start(&self) -> Result<Started, SourceError> {
        let result = self
            .started
            .get_or_init(|| async {
                let started = start(&self.config, self.provider.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                if !self.config.peers.is_empty()
                    && started.unreachable.len() == self.config.peers.len()
                    && self.config.bootstrap.is_empty()
                    && self.config.routers.is_empty()
                    && !self.config.mdns
                {
                    let (addr, why) = &started.unreachable[0];
                    return Err(format!("cannot reach peer `{addr}`: {why}"));
                }
                Ok(started)
            })
            .await;
        result.clone().map_err(SourceError::Unavailable)
    }

    /// The best peer of this session for the next want-block: connected, not banned, has
    /// delivered before, fewest requests in flight.
    fn session_peer(&self, started: &Started) -> Option<PeerId> {
        let session = self.session.lock().expect("lock");
        session
            .delivered
            .iter()
            .filter(|(p, _)| started.node.is_connected(p) && !started.bitswap.is_banned(p))
            .min_by_key(|(p, n)| {
                (
                    session.outstanding.get(*p).copied().unwrap_or(0),
                    u64::MAX - **n,
                )
            })
            .map(|(p, _)| *p)
    }

    fn outstanding(&self, peer: PeerId, delta: isize) {
        let mut session = self.session.lock().expect("lock");
        let n = session.outstanding.entry(peer).or_default();
        *n = n.saturating_add_signed(delta);
    }

    /// Starts provider discovery for `cid`: both DHTs and every delegated router. Providers
    /// arrive connected on the returned channel, which closes when every lookup has ended.
    fn discover(
        &self,
        started: &Started,
        cid: &Cid,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> mpsc::Receiver<PeerId> {
        let (tx, rx) = mpsc::channel(64);
        let key = cid.hash().to_bytes();
        {
            let node = started.node.clone();
            let tx = tx.clone();
            let settle = self.config.find_timeout;
            tasks.spawn(async move {
                // A DHT lookup before the bootstrap peers (or the peers given) are known to
                // the DHTs finds nothing.
                node.bootstrap_settled(settle).await;
                node.peers_identified(IDENTIFY_WAIT.min(settle)).await;
                if let Ok(mut found) = node.find_providers(key).await {
                    while let Some(peer) = found.recv().await {
                        if tx.send(peer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        for router in &self.config.routers {
            let node = started.node.clone();
            let tx = tx.clone();
            let client = self.client.clone();
            let router = router.clone();
            let cid = *cid;
            tasks.spawn(async move {
                let Ok(providers) = routing::find_providers(&client, &router, &cid).await else {
                    return;
                };
                let mut dials = tokio::task::JoinSet::new();
                for provider in providers {
                    if provider.peer == node.peer_id() {
                        continue;
                    }
                    let node = node.clone();
                    dials.spawn(async move {
                        tokio::time::timeout(
                            DIAL_TIMEOUT,
                            node.dial_peer(provider.peer, provider.addrs),
                        )
                        .await
                        .ok()
                        .and_then(Result::ok)
                    });
                }
                while let Some(done) = dials.join_next().await {
                    if let Ok(Some(peer)) = done {
                        if tx.send(peer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        rx
    }

    async fn block(&self, cid: Cid) -> Result<Vec<u8>, SourceError> {
        let started = self.start().await?;
        let bitswap = &started.bitswap;
        let mut want = bitswap.want(cid);
        let mut asked: HashSet<PeerId> = HashSet::new();
        let mut refused: HashSet<PeerId> = HashSet::new();
        let mut haves: VecDeque<PeerId> = VecDeque::new();
        let mut block_from: Vec<PeerId> = Vec::new();
        let mut slow = false;
        let mut discovery: Option<mpsc::Receiver<PeerId>> = None;
        let mut discovery_over = false;
        let mut found_any = false;
        let mut gone: HashSet<PeerId> = HashSet::new();
        let mut reasked: HashSet<PeerId> = HashSet::new();
        let mut redialed = false;
        // What went wrong with the peers asked (not "does not have it"), for the error.
        let mut troubles: Vec<String> = Vec::new();
        let mut tasks = tokio::task::JoinSet::new();
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        let mut hedge_at = far;
        let mut discovery_deadline = far;

        let result = 'outer: {
            match self.session_peer(&started) {
                Some(peer) => {
                    self.ask_block(&mut want, peer, &mut asked, &mut block_from)
                        .await;
                }
                None => {
                    for peer in started.node.connected_peers() {
                        if !bitswap.is_banned(&peer) && asked.insert(peer) {
                            want.ask(peer, WantType::Have).await;
                        }
                    }
                }
            }
            loop {
                let waiting_block = block_from.iter().any(|p| !refused.contains(p));
                if !waiting_block || slow {
                    if let Some(peer) = haves.pop_front() {
                        self.ask_block(&mut want, peer, &mut asked, &mut block_from)
                            .await;
                        continue;
                    }
                }
                // A peer asked for the block that stays silent: after a while, ask every
                // connected peer too and take the block from whoever has it.
                if waiting_block && !slow && hedge_at == far {
                    hedge_at = Instant::now() + HEDGE_AFTER;
                }
                let waiting = asked.iter().any(|p| !refused.contains(p));
                if !waiting {
                    // Everyone asked said no (or went away): connected peers not asked yet
                    // first (a session peer may have failed; one that went away and is back is
                    // asked once more), then provider discovery.
                    let mut fresh = self.fresh_peers(&started, &asked, &gone, &reasked);
                    let connected = |started: &Started| {
                        started
                            .node
                            .connected_peers()
                            .iter()
                            .any(|p| !bitswap.is_banned(p))
                    };
                    // A connected peer can be asked, and can take a DHT lookup further (a peer
                    // given may be the only way into the DHT); without one, only the bootstrap
                    // peers, routers and mDNS can find another.
                    let mut anyone = connected(&started);
                    if !anyone && !self.config.can_search() && !redialed {
                        // Only the peers given can help: one may have restarted.
                        redialed = true;
                        if self.redial_configured(&started).await.is_ok() {
                            fresh = self.fresh_peers(&started, &asked, &gone, &reasked);
                            anyone = connected(&started);
                        }
                    }
                    if !fresh.is_empty() {
                        for peer in fresh {
                            if !asked.insert(peer) {
                                reasked.insert(peer);
                            }
                            refused.remove(&peer);
                            want.ask(peer, WantType::Have).await;
                        }
                        continue;
                    }
                    if !anyone && !self.config.can_search() {
                        break 'outer Err(SourceError::Unavailable(self.no_peer_left().await));
                    }
                    if discovery.is_none() && !discovery_over {
                        if self.search_was_fruitless() {
                            break 'outer Err(SourceError::NotFound);
                        }
                        discovery = Some(self.discover(&started, &cid, &mut tasks));
                        discovery_deadline = Instant::now() + self.config.find_timeout;
                    } else if discovery_over {
                        if !found_any {
                            self.session.lock().expect("lock").fruitless_search =
                                Some(Instant::now());
                        }
                        break 'outer Err(SourceError::NotFound);
                    }
                }
                tokio::select! {
                    event = want.next() => match event {
                        Some(WantEvent::Block(peer, data)) => {
                            self.session.lock().expect("lock").record(cid, peer);
                            break 'outer Ok(data);
                        }
                        Some(WantEvent::Have(peer)) => {
                            if !block_from.contains(&peer) {
                                haves.push_back(peer);
                            }
                        }
                        Some(WantEvent::DontHave(peer)) => {
                            if asked.contains(&peer) {
                                refused.insert(peer);
                                haves.retain(|p| *p != peer);
                            }
                        }
                        Some(WantEvent::PeerGone(peer, why)) => {
                            if asked.contains(&peer) {
                                refused.insert(peer);
                                gone.insert(peer);
                                haves.retain(|p| *p != peer);
                                let trouble = format!("peer {peer}: {why}");
                                if !troubles.contains(&trouble) {
                                    troubles.push(trouble);
                                }
                            }
                        }
                        None => break 'outer Err(SourceError::Unavailable("the p2p node stopped".into())),
                    },
                    () = tokio::time::sleep_until(hedge_at), if hedge_at < far => {
                        hedge_at = far;
                        slow = true;
                        for peer in started.node.connected_peers() {
                            if !bitswap.is_banned(&peer) && asked.insert(peer) {
                                want.ask(peer, WantType::Have).await;
                            }
                        }
                    }
                    found = async { discovery.as_mut().expect("guarded").recv().await },
                        if discovery.is_some() && !discovery_over =>
                    {
                        if found.is_some() {
                            found_any = true;
                        }
                        match found {
                            Some(peer) if !asked.contains(&peer) && !bitswap.is_banned(&peer) => {
                                if block_from.iter().all(|p| refused.contains(p)) {
                                    self.ask_block(&mut want, peer, &mut asked, &mut block_from).await;
                                } else {
                                    asked.insert(peer);
                                    want.ask(peer, WantType::Have).await;
                                }
                            }
                            Some(_) => {}
                            None => discovery_over = true,
                        }
                    }
                    () = tokio::time::sleep_until(discovery_deadline), if discovery.is_some() && !discovery_over => {
                        discovery_over = true;
                    }
                }
            }
        };
        for peer in &block_from {
            self.outstanding(*peer, -1);
        }
        explain(result, &troubles)
    }

    /// Connected peers worth a want-have: not banned, and not asked yet for this block (or
    /// asked, gone and connected again: asked once more).
    fn fresh_peers(
        &self,
        started: &Started,
        asked: &HashSet<PeerId>,
        gone: &HashSet<PeerId>,
        reasked: &HashSet<PeerId>,
    ) -> Vec<PeerId> {
        started
            .node
            .connected_peers()
            .into_iter()
            .filter(|p| {
                let again = gone.contains(p) && !reasked.contains(p);
                (!asked.contains(p) || again) && !started.bitswap.is_banned(p)
            })
            .collect()
    }

    /// Whether a provider search of this get found nobody a short while ago.
    fn search_was_fruitless(&self) -> bool {
        self.session
            .lock()
            .expect("lock")
            .fruitless_search
            .is_some_and(|at| at.elapsed() < FRUITLESS_SEARCH_MEMORY)
    }

    /// Dials the configured peers again (all of them, in parallel), at most once per
    /// [`REDIAL_PAUSE`] whoever asks; `Ok` when one of them is connected.
    async fn redial_configured(&self, started: &Started) -> Result<(), String> {
        let mut last = self.redial.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < REDIAL_PAUSE {
                return outcome.clone();
            }
        }
        let unbanned = self
            .config
            .peers
            .iter()
            .filter(|addr| node::peer_of(addr).is_none_or(|p| !started.bitswap.is_banned(&p)));
        let results: Vec<Result<(), String>> = dial_all(&started.node, unbanned)
            .await
            .into_iter()
            .map(|(addr, r)| r.map(|_| ()).map_err(|e| format!("`{addr}`: {e}")))
            .collect();
        let outcome = if results.iter().any(Result::is_ok) {
            Ok(())
        } else if results.is_empty() {
            Err("every peer given was dropped".into())
        } else {
            Err(results
                .into_iter()
                .filter_map(Result::err)
                .collect::<Vec<_>>()
                .join("; "))
        };
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }

    /// Why no peer is left to ask, when only the configured peers could have answered.
    async fn no_peer_left(&self) -> String {
        let given = self
            .config
            .peers
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let why = match self.redial.lock().await.as_ref() {
            Some((_, Err(e))) => format!(" (dialing them again failed: {e})"),
            _ => String::new(),
        };
        format!(
            "no connected peer has the block and the peers given ({given}) are gone{why}; no DHT bootstrap peer, delegated router or mDNS is configured to find others"
        )
    }

    async fn ask_block(
        &self,
        want: &mut bitswap::Want,
        peer: PeerId,
        asked: &mut HashSet<PeerId>,
        block_from: &mut Vec<PeerId>,
    ) {
        asked.insert(peer);
        block_from.push(peer);
        self.outstanding(peer, 1);
        want.ask(peer, WantType::Block).await;
    }
}

#[async_trait::async_trait]
impl Source for P2pSource {
    fn describe(&self) -> String {
        "p2p (bitswap)".into()
    }

    fn kind(&self) -> SourceKind {
        SourceKind::P2p
    }

    fn prepare(&self) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _ = inner.start().await;
        });
    }

    fn reject(&self, cid: &Cid) -> bool {
        let peer = self
            .inner
            .session
            .lock()
            .expect("lock")
            .delivered_by
            .remove(cid);
        match (peer, self.inner.started.get()) {
            (Some(peer), Some(Ok(started))) => {
                started.bitswap.ban(
                    peer,
                    &format!("sent a block that failed verification as `{cid}`"),
                );
                self.inner
                    .session
                    .lock()
                    .expect("lock")
                    .delivered
                    .remove(&peer);
                true
            }
            _ => false,
        }
    }

    fn take_notes(&self) -> Vec<String> {
        match self.inner.started.get() {
            Some(Ok(started)) => {
                let mut notes = Vec::new();
                // Unreachable configured peers are said once per run.
                if !self.inner.told_unreachable.swap(true, Ordering::Relaxed) {
                    notes.extend(
                        started
                            .unreachable
                            .iter()
                            .map(|(addr, why)| format!("cannot reach peer `{addr}`: {why}")),
                    );
                }
                notes.extend(started.bitswap.take_notes());
                notes
            }
            _ => Vec::new(),
        }
    }

    async fn dag(&self, _cid: &Cid) -> Result<super::ByteStream, SourceError> {
        Err(SourceError::Unsupported)
    }

    async fn block(&self, cid: &Cid) -> Result<Vec<u8>, SourceError> {
        self.inner.block(*cid).await
    }
}
