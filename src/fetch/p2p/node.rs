//! The libp2p node: one actor task owns the swarm; callers hold a cloneable [`Node`] handle and
//! talk to it through a bounded command channel, each command carrying a `oneshot` (or bounded
//! `mpsc`) reply. Dropping a reply receiver cancels nothing in the swarm but is always safe.
//!
//! Transports (see [`super::transport`]): TCP with noise and yamux, QUIC (v1), DNS (`/dns*`,
//! `/dnsaddr`). Behaviours: identify, ping, Kademlia on `/ipfs/kad/1.0.0` (public DHT) and
//! `/ipfs/lan/kad/1.0.0` (LAN DHT, the one Kubo speaks without public addresses), both in
//! client mode; optional mDNS; and [`super::streams`], which hands bitswap its raw streams.

use super::streams::{self, Inbound, StreamControl};
use super::transport;
use super::P2pError;
use futures_util::StreamExt;
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore, GetProvidersOk, QueryId, QueryResult, RecordKey};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, mdns, noise, ping, Multiaddr, PeerId, StreamProtocol, Swarm};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// The public DHT's protocol.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/kad/1.0.0");
/// The LAN DHT's protocol.
pub const LAN_KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/lan/kad/1.0.0");

/// Commands waiting for the actor.
const COMMAND_QUEUE: usize = 64;

/// How the node is set up.
#[derive(Clone)]
pub struct NodeOptions {
    /// The node's key (its peer ID).
    pub keypair: Keypair,
    /// Addresses to listen on (none: the node only dials out).
    pub listen: Vec<Multiaddr>,
    /// DHT bootstrap peers (`…/p2p/<peer id>`), dialed in the background.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// How long a connection with no open stream is kept.
    pub idle_connection_timeout: Duration,
    /// Protocols whose inbound streams are accepted (see [`Node::start`]).
    pub protocols: Vec<StreamProtocol>,
}

/// Something the node saw, for whoever listens.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// A new listening address (the peer ID is not included).
    Listening(Multiaddr),
    /// The first connection to a peer.
    Connected(PeerId),
    /// The last connection to a peer closed; with the error that closed it, if one did.
    Disconnected(PeerId, Option<String>),
}

enum Command {
    Dial {
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PeerId, String>>,
    },
    FindProviders {
        key: Vec<u8>,
        reply: mpsc::Sender<PeerId>,
    },
    Provide {
        key: Vec<u8>,
    },
    Disconnect {
        peer: PeerId,
    },
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    lan_kad: kad::Behaviour<MemoryStore>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    streams: streams::Behaviour,
}

/// A handle to the running node. Cloning is cheap; the node stops when the last handle is
/// dropped.
#[derive(Clone)]
pub struct Node {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    control: StreamControl,
    connected: Arc<Mutex<HashSet<PeerId>>>,
    listening: Arc<Mutex<Vec<Multiaddr>>>,
    events: broadcast::Sender<NodeEvent>,
    settled: watch::Receiver<bool>,
    settle_waited: Arc<std::sync::atomic::AtomicBool>,
    identified: Arc<Mutex<HashSet<PeerId>>>,
    identify_seen: Arc<tokio::sync::Notify>,
}

impl Node {
    /// Builds the swarm, starts listening and dialing the bootstrap peers, and spawns the actor
    /// on the current tokio runtime. Inbound streams of `options.protocols` arrive on the
    /// returned queue.
    pub fn start(options: NodeOptions) -> Result<(Node, mpsc::Receiver<Inbound>), P2pError> {
        let peer_id = options.keypair.public().to_peer_id();
        let (streams, control, incoming) = streams::Behaviour::new(options.protocols.clone());
        let mut swarm = build_swarm(&options, streams)?;
        for addr in &options.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| P2pError::Listen {
                    addr: addr.to_string(),
                    detail: match crate::error::chain(&e).trim_matches([':', ' ']) {
                        "" => format!("{e:?}"),
                        text => text.to_string(),
                    },
                })?;
        }
        let mut bootstrap_pending = HashSet::new();
        for addr in &options.bootstrap {
            if let Some(peer) = peer_of(addr) {
                bootstrap_pending.insert(peer);
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                let _ = swarm.dial(
                    DialOpts::peer_id(peer)
                        .addresses(vec![addr.clone()])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build(),
                );
            }
        }
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(256);
        let (settled_tx, settled) = watch::channel(bootstrap_pending.is_empty());
        let node = Node {
            peer_id,
            commands,
            control,
            settled,
            settle_waited: Arc::default(),
            identified: Arc::default(),
            identify_seen: Arc::default(),
            connected: Arc::default(),
            listening: Arc::default(),
            events: events.clone(),
        };
        let actor = Actor {
            swarm,
            receiver,
            events,
            connected: node.connected.clone(),
            listening: node.listening.clone(),
            dials: HashMap::new(),
            searches: HashMap::new(),
            next_search: 0,
            bootstrapped: options.bootstrap.is_empty(),
            bootstrap_pending,
            settled: settled_tx,
            identified: node.identified.clone(),
            identify_seen: node.identify_seen.clone(),
        };
        tokio::spawn(actor.run());
        Ok((node, incoming))
    }

    /// This node's peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// A control for opening streams (bitswap).
    pub fn stream_control(&self) -> StreamControl {
        self.control.clone()
    }

    /// Peers with at least one open connection.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.connected
            .lock()
            .expect("lock")
            .iter()
            .copied()
            .collect()
    }

    /// Whether `peer` has an open connection.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.lock().expect("lock").contains(peer)
    }

    /// The addresses the node listens on so far.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listening.lock().expect("lock").clone()
    }

    /// Waits (at most `limit`) until every bootstrap peer was either reached and identified
    /// (so the DHTs know it) or could not be dialed.
    ///
    /// Waiting is done once per node: after one time-out, later calls return at once.
    pub async fn bootstrap_settled(&self, limit: Duration) {
        if self
            .settle_waited
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let mut settled = self.settled.clone();
        let _ = tokio::time::timeout(limit, settled.wait_for(|s| *s)).await;
        self.settle_waited
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits (at most `limit`) until every connected peer has been identified, so that the
    /// DHTs know the ones that speak them (a peer given with `--peer` may be the only way into
    /// the DHT).
    pub async fn peers_identified(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let seen = self.identify_seen.notified();
            let pending = {
                let identified = self.identified.lock().expect("lock");
                self.connected
                    .lock()
                    .expect("lock")
                    .iter()
                    .any(|p| !identified.contains(p))
            };
            if !pending {
                return;
            }
            if tokio::time::timeout_at(deadline, seen).await.is_err() {
                return;
            }
        }
    }

    /// Node events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Dials `addr` (with or without a `/p2p/<peer id>` suffix) and waits for the connection;
    /// returns the peer's ID. An existing connection to that peer is reused.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, String> {
        let peer = peer_of(&addr);
        self.dial_with(peer, vec![addr]).await
    }

    /// Dials `peer` at `addrs` (or at addresses the DHT knows) and waits for the connection.
    pub async fn dial_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<PeerId, String> {
        self.dial_with(Some(peer), addrs).await
    }

    async fn dial_with(
        &self,
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    ) -> Result<PeerId, String> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Dial { peer, addrs, reply }).await?;
        answer
            .await
            .map_err(|_| "the p2p node stopped".to_string())?
    }

    /// Looks up providers of the multihash `key` in both DHTs; each provider is dialed and
    /// sent on the returned channel once connected. The channel closes when the lookups end.
    pub async fn find_providers(&self, key: Vec<u8>) -> Result<mpsc::Receiver<PeerId>, String> {
        let (reply, found) = mpsc::channel(64);
        self.send(Command::FindProviders { key, reply }).await?;
        Ok(found)
    }

    /// Announces this node as a provider of the multihash `key` in both DHTs (ignored when no
    /// DHT peer is known).
    pub async fn provide(&self, key: Vec<u8>) -> Result<(), String> {
        self.send(Command::Provide { key }).await
    }

    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: PeerId) {
        let _ = self.send(Command::Disconnect { peer }).await;
    }

    async fn send(&self, command: Command) -> Result<(), String> {
        self.commands
            .send(command)
            .await
            .map_err(|_| "the p2p node stopped".to_string())
    }
}

/// A dial error in one line: the innermost cause for each address tried (libp2p's own text
/// nests every layer).
fn describe_dial_error(error: &libp2p::swarm::DialError) -> String {
    use libp2p::swarm::DialError;
    let innermost = |e: &(dyn std::error::Error + 'static)| {
        let mut last = e;
        while let Some(next) = last.source() {
            last = next;
        }
        last.to_string()
    };
    match error {
        DialError::Transport(attempts) if attempts.len() == 1 => innermost(&attempts[0].1),
        DialError::Transport(attempts) if !attempts.is_empty() => attempts
            .iter()
            .map(|(addr, e)| format!("{addr}: {}", innermost(e)))
            .collect::<Vec<_>>()
            .join("; "),
        other => innermost(other),
    }
}

/// The `/p2p/<peer id>` at the end of `addr`, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

fn build_swarm(
    options: &NodeOptions,
    streams: streams::Behaviour,
) -> Result<Swarm<Behaviour>, P2pError> {
    let setup = |e: &dyn std::fmt::Display| P2pError::Setup(e.to_string());
    let mdns_enabled = options.mdns;
    let noise = noise::Config::new(&options.keypair).map_err(|e| setup(&e))?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(options.keypair.clone())
        .with_tokio()
        .with_other_transport(|_| transport::buffered_tcp(noise))
        .map_err(|e| setup(&e))?
        .with_other_transport(transport::quic)
        .map_err(|e| setup(&e))?
        .with_dns()
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| {
            let peer_id = key.public().to_peer_id();
            let kad_with = |protocol: StreamProtocol| {
                let mut config = kad::Config::new(protocol);
                config.set_query_timeout(Duration::from_secs(60));
                let mut kad =
                    kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), config);
                kad.set_mode(Some(kad::Mode::Client));
                kad
            };
            let mdns = if mdns_enabled {
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id).ok()
            } else {
                None
            };
            Behaviour {
                identify: identify::Behaviour::new(
                    identify::Config::new("ipfs/0.1.0".into(), key.public())
                        .with_agent_version(concat!("trove/", env!("CARGO_PKG_VERSION")).into()),
                ),
                ping: ping::Behaviour::default(),
                kad: kad_with(KAD_PROTOCOL),
                lan_kad: kad_with(LAN_KAD_PROTOCOL),
                mdns: Toggle::from(mdns),
                streams,
            }
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(options.idle_connection_timeout))
        .build();
    Ok(swarm)
}

struct Search {
    reply: mpsc::Sender<PeerId>,
    queries: usize,
    dialing: HashSet<PeerId>,
    sent: HashSet<PeerId>,
}

struct Actor {
    swarm: Swarm<Behaviour>,
    receiver: mpsc::Receiver<Command>,
    events: broadcast::Sender<NodeEvent>,
    connected: Arc<Mutex<HashSet<PeerId>>>,
    listening: Arc<Mutex<Vec<Multiaddr>>>,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, String>>>,
    searches: HashMap<u64, Search>,
    next_search: u64,
    bootstrapped: bool,
    bootstrap_pending: HashSet<PeerId>,
    settled: watch::Sender<bool>,
    identified: Arc<Mutex<HashSet<PeerId>>>,
    identify_seen: Arc<tokio::sync::Notify>,
}

/// Which search a DHT query belongs to, by DHT (query IDs are per DHT).
#[derive(Default)]
struct QueryOwners(HashMap<(Dht, QueryId), u64>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dht {
    Wan,
    Lan,
}

impl Actor {
    async fn run(mut self) {
        let mut owners = QueryOwners::default();
        loop {
            tokio::select! {
                command = self.receiver.recv() => match command {
                    Some(command) => self.on_command(command, &mut owners),
                    None => return, // every handle dropped
                },
                event = self.swarm.select_next_some() => self.on_event(event, &mut owners),
            }
        }
    }

    fn on_command(&mut self, command: Command, owners: &mut QueryOwners) {
        match command {
            Command::Dial { peer, addrs, reply } => {
                if let Some(p) = peer {
                    if self.swarm.is_connected(&p) {
                        let _ = reply.send(Ok(p));
                        return;
                    }
                }
                let opts = match peer {
                    Some(p) => DialOpts::peer_id(p)
                        .addresses(addrs)
                        .condition(PeerCondition::Always)
                        .build(),
                    None => match addrs.into_iter().next() {
                        Some(addr) => DialOpts::unknown_peer_id().address(addr).build(),
                        None => {
                            let _ = reply.send(Err("no address to dial".into()));
                            return;
                        }
                    },
                };
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Command::FindProviders { key, reply } => {
                let search = self.next_search;
                self.next_search += 1;
                let key = RecordKey::new(&key);
                let behaviour = self.swarm.behaviour_mut();
                let wan = behaviour.kad.get_providers(key.clone());
                let lan = behaviour.lan_kad.get_providers(key);
                owners.0.insert((Dht::Wan, wan), search);
                owners.0.insert((Dht::Lan, lan), search);
                self.searches.insert(
                    search,
                    Search {
                        reply,
                        queries: 2,
                        dialing: HashSet::new(),
                        sent: HashSet::new(),
                    },
                );
            }
            Command::Provide { key } => {
                let key = RecordKey::new(&key);
                let behaviour = self.swarm.behaviour_mut();
                let _ = behaviour.kad.start_providing(key.clone());
                let _ = behaviour.lan_kad.start_providing(key);
            }
            Command::Disconnect { peer } => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>, owners: &mut QueryOwners) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.listening.lock().expect("lock").push(address.clone());
                let _ = self.events.send(NodeEvent::Listening(address));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listening
                    .lock()
                    .expect("lock")
                    .retain(|a| a != &address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                ..
            } => {
                tracing::debug!(
                    peer = %peer_id,
                    address = %endpoint.get_remote_address(),
                    dialer = endpoint.is_dialer(),
                    "connection established"
                );
                // The peer is marked connected before the dialer hears back: whoever awaited
                // the dial may run at once (on another thread) and ask `connected_peers`.
                if num_established.get() == 1 {
                    self.connected.lock().expect("lock").insert(peer_id);
                    let _ = self.events.send(NodeEvent::Connected(peer_id));
                }
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                for search in self.searches.values_mut() {
                    if search.dialing.remove(&peer_id) && search.sent.insert(peer_id) {
                        let _ = search.reply.try_send(peer_id);
                    }
                }
                self.finish_searches();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                let cause = cause.as_ref().map(|e| crate::error::chain(e));
                match &cause {
                    Some(why) => tracing::debug!(peer = %peer_id, "connection closed: {why}"),
                    None => tracing::debug!(peer = %peer_id, "connection closed"),
                }
                if num_established == 0 {
                    self.connected.lock().expect("lock").remove(&peer_id);
                    self.identified.lock().expect("lock").remove(&peer_id);
                    self.identify_seen.notify_waiters();
                    let _ = self.events.send(NodeEvent::Disconnected(peer_id, cause));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(describe_dial_error(&error)));
                }
                if let Some(peer) = peer_id {
                    self.bootstrap_done(&peer);
                    if !self.swarm.is_connected(&peer) {
                        for search in self.searches.values_mut() {
                            search.dialing.remove(&peer);
                        }
                        self.finish_searches();
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let behaviour = self.swarm.behaviour_mut();
                for (protocol, kad) in [
                    (KAD_PROTOCOL, &mut behaviour.kad),
                    (LAN_KAD_PROTOCOL, &mut behaviour.lan_kad),
                ] {
                    if info.protocols.contains(&protocol) {
                        for addr in &info.listen_addrs {
                            kad.add_address(&peer_id, addr.clone());
                        }
                    }
                }
                self.identified.lock().expect("lock").insert(peer_id);
                self.identify_seen.notify_waiters();
                self.bootstrap_done(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .lan_kad
                        .add_address(&peer, addr.clone());
                    let _ = self.swarm.dial(
                        DialOpts::peer_id(peer)
                            .addresses(vec![addr])
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build(),
                    );
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => {
                self.on_kad(Dht::Wan, event, owners)
            }
            SwarmEvent::Behaviour(BehaviourEvent::LanKad(event)) => {
                self.on_kad(Dht::Lan, event, owners)
            }
            _ => {}
        }
    }

    fn on_kad(&mut self, dht: Dht, event: kad::Event, owners: &mut QueryOwners) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return;
        };
        let QueryResult::GetProviders(result) = result else {
            return;
        };
        let Some(&search_id) = owners.0.get(&(dht, id)) else {
            return;
        };
        if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = result {
            let local = *self.swarm.local_peer_id();
            for peer in providers {
                if peer == local {
                    continue;
                }
                let connected = self.swarm.is_connected(&peer);
                if !connected {
                    // Dial now, while the query still holds the provider's addresses.
                    let _ = self.swarm.dial(
                        DialOpts::peer_id(peer)
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build(),
                    );
                }
                if let Some(search) = self.searches.get_mut(&search_id) {
                    if connected {
                        if search.sent.insert(peer) {
                            let _ = search.reply.try_send(peer);
                        }
                    } else {
                        search.dialing.insert(peer);
                    }
                }
            }
        }
        if step.last {
            owners.0.remove(&(dht, id));
            if let Some(search) = self.searches.get_mut(&search_id) {
                search.queries = search.queries.saturating_sub(1);
            }
            self.finish_searches();
        }
    }

    /// A bootstrap peer was identified or could not be reached.
    fn bootstrap_done(&mut self, peer: &PeerId) {
        if self.bootstrap_pending.remove(peer) && self.bootstrap_pending.is_empty() {
            let _ = self.settled.send(true);
        }
        if !self.bootstrapped {
            let behaviour = self.swarm.behaviour_mut();
            let wan = behaviour.kad.bootstrap().is_ok();
            let lan = behaviour.lan_kad.bootstrap().is_ok();
            self.bootstrapped = wan || lan;
        }
    }

    /// Drops searches whose queries ended and whose providers are all dialed (closing their
    /// channels), and searches nobody listens to any more.
    fn finish_searches(&mut self) {
        self.searches
            .retain(|_, s| !(s.reply.is_closed() || (s.queries == 0 && s.dialing.is_empty())));
    }
}
