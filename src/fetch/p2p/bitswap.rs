//! Bitswap 1.2.0 (and 1.1.0) over the raw streams of [`super::streams`]: a client that asks
//! peers for blocks and a server that answers peers' wantlists from a [`BlockProvider`].
//!
//! Messages may arrive on any number of inbound streams, one message per stream (Kubo 0.22) or
//! many (newer Kubo); each stream is read until it ends. Outgoing messages to a peer go through
//! one writer task per peer that keeps its stream open and coalesces queued messages.
//!
//! Received blocks are hashed to learn their CID (the wire only carries a CID prefix). A block
//! that hashes to a CID this node never asked that peer for is unsolicited: the peer is banned
//! for the life of the node and disconnected. The fetcher still verifies every block it stores.

use super::message::{Message, Payload, Presence, WantEntry, WantType, MAX_MESSAGE_SIZE};
use super::node::{Node, NodeEvent};
use super::streams::{Inbound, OpenError, StreamControl};
use crate::car::MAX_BLOCK_SIZE;
use crate::content::Cid;
use crate::store::BlockGetter;
use futures_util::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use libp2p::{PeerId, Stream, StreamProtocol};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bitswap 1.2.0 (want-have, DONT_HAVE).
pub const BITSWAP_1_2: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.2.0");
/// Bitswap 1.1.0 (CIDv1 blocks, no presences).
pub const BITSWAP_1_1: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.1.0");
/// Bitswap 1.0.0 (CIDv0 blocks only); accepted inbound.
pub const BITSWAP_1_0: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.0.0");
/// The legacy name Kubo still accepts.
pub const BITSWAP_LEGACY: StreamProtocol = StreamProtocol::new("/ipfs/bitswap");

/// Every protocol name accepted inbound.
pub const PROTOCOLS: &[StreamProtocol] = &[BITSWAP_1_2, BITSWAP_1_1, BITSWAP_1_0, BITSWAP_LEGACY];

/// Blocks at most this big are sent in answer to a want-have (as Kubo does).
const SEND_BLOCK_FOR_HAVE_LIMIT: usize = 1024;
/// Wantlist entries answered per received message; the rest are ignored.
const MAX_WANTS_PER_MESSAGE: usize = 1024;
/// Wants looked up together by the server (at most this many blocks in memory per message).
const SERVE_CHUNK: usize = 8;
/// Messages queued per peer before senders wait.
const PEER_QUEUE: usize = 32;
/// How long opening a stream or writing one message may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// CIDs remembered per peer as "asked for", to tell late answers from unsolicited blocks.
const ASKED_MEMORY: usize = 1 << 16;
/// Blocks packed into one outgoing message, by size.
const TARGET_MESSAGE_SIZE: usize = 2 * 1024 * 1024;

/// Where the server finds blocks.
pub trait BlockProvider: Send + Sync {
    /// The bytes of block `cid`, if held (and intact).
    fn block_data(&self, cid: &Cid) -> Option<Vec<u8>>;
    /// The size of block `cid` if it is held (ideally without reading it).
    fn size(&self, cid: &Cid) -> Option<u64>;
}

impl<T: BlockGetter + Send + Sync> BlockProvider for T {
    fn block_data(&self, cid: &Cid) -> Option<Vec<u8>> {
        self.get_block(cid).ok().flatten().map(|b| b.into_data())
    }

    fn size(&self, cid: &Cid) -> Option<u64> {
        self.block_size(cid).ok().flatten()
    }
}

/// Events a want holds before it is read. Presences and departures are hints: when only one
/// slot is left they are dropped (a peer flooding HAVEs cannot grow memory), so a block, the
/// event that ends the want, always finds room.
const WANT_EVENTS: usize = 64;

/// Queues a hint (a presence, a departure) for a want unless its queue is nearly full.
fn hint(tx: &mpsc::Sender<WantEvent>, event: WantEvent) {
    if tx.capacity() > 1 {
        let _ = tx.try_send(event);
    }
}

/// What happened to a want, as seen by the peer side.
#[derive(Debug)]
pub enum WantEvent {
    /// A peer sent a block whose bytes hash to the wanted CID.
    Block(PeerId, Vec<u8>),
    /// A peer said it has the block.
    Have(PeerId),
    /// A peer said it does not have the block.
    DontHave(PeerId),
    /// A peer went away (disconnected, banned, or a stream to or from it failed), and why.
    PeerGone(PeerId, Arc<str>),
}

/// Counters, for `trove serve` and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct BitswapStats {
    /// Blocks sent to peers.
    pub blocks_sent: u64,
    /// Blocks received that someone wanted.
    pub blocks_received: u64,
}

/// The bitswap engine of one node.
#[derive(Clone)]
pub struct Bitswap {
    shared: Arc<Shared>,
}

struct Shared {
    node: Node,
    provider: Option<Arc<dyn BlockProvider>>,
    writers: Mutex<HashMap<PeerId, mpsc::Sender<Message>>>,
    wants: Mutex<HashMap<Cid, Vec<mpsc::Sender<WantEvent>>>>,
    asked: Mutex<HashMap<PeerId, Asked>>,
    banned: Mutex<HashSet<PeerId>>,
    notes: Mutex<Vec<String>>,
    stats: Mutex<BitswapStats>,
}

#[derive(Default)]
struct Asked {
    set: HashSet<Cid>,
    order: VecDeque<Cid>,
}

impl Asked {
    fn insert(&mut self, cid: Cid) {
        if self.set.insert(cid) {
            self.order.push_back(cid);
            if self.order.len() > ASKED_MEMORY {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

impl Bitswap {
    /// Starts bitswap on `node`: accepts inbound streams, answers wantlists from `provider`
    /// (none: a client only, which answers every want with DONT_HAVE when asked to).
    pub fn start(
        node: Node,
        mut incoming: mpsc::Receiver<Inbound>,
        provider: Option<Arc<dyn BlockProvider>>,
    ) -> Bitswap {
        let shared = Arc::new(Shared {
            node: node.clone(),
            provider,
            writers: Mutex::default(),
            wants: Mutex::default(),
            asked: Mutex::default(),
            banned: Mutex::default(),
            notes: Mutex::default(),
            stats: Mutex::default(),
        });
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            while let Some((peer, stream, _protocol)) = incoming.recv().await {
                let Some(shared) = weak.upgrade() else { return };
                tokio::spawn(read_stream(shared, peer, stream));
            }
        });
        let mut events = node.subscribe();
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(NodeEvent::Disconnected(peer, cause)) => {
                        let Some(shared) = weak.upgrade() else { return };
                        let why = match cause {
                            Some(e) => format!("the connection closed: {e}"),
                            None => "the connection closed".into(),
                        };
                        shared.peer_gone(peer, &why);
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
        });
        Bitswap { shared }
    }

    /// The node bitswap runs on.
    pub fn node(&self) -> &Node {
        &self.shared.node
    }

    /// Registers interest in `cid`; events for it arrive on the returned handle until it is
    /// dropped (which cancels the wants sent to peers).
    pub fn want(&self, cid: Cid) -> Want {
        let (tx, rx) = mpsc::channel(WANT_EVENTS);
        self.shared
            .wants
            .lock()
            .expect("lock")
            .entry(cid)
            .or_default()
            .push(tx);
        Want {
            cid,
            shared: self.shared.clone(),
            events: rx,
            asked: HashSet::new(),
            done: false,
        }
    }

    /// Whether `peer` was banned for sending unsolicited or malformed data.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.shared.banned.lock().expect("lock").contains(peer)
    }

    /// Bans `peer` (it sent a bad block) and disconnects it.
    pub fn ban(&self, peer: PeerId, why: &str) {
        self.shared.ban(peer, why);
    }

    /// Warnings collected since the last call (bans, malformed messages).
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.notes.lock().expect("lock"))
    }

    /// Counters so far.
    pub fn stats(&self) -> BitswapStats {
        *self.shared.stats.lock().expect("lock")
    }
}

/// Interest in one block; see [`Bitswap::want`].
pub struct Want {
    cid: Cid,
    shared: Arc<Shared>,
    events: mpsc::Receiver<WantEvent>,
    asked: HashSet<PeerId>,
    done: bool,
}

impl Want {
    /// Asks `peer` for the block (or whether it has it), asking for DONT_HAVE answers.
    pub async fn ask(&mut self, peer: PeerId, want_type: WantType) {
        self.asked.insert(peer);
        self.shared
            .asked
            .lock()
            .expect("lock")
            .entry(peer)
            .or_default()
            .insert(self.cid);
        let message = Message {
            wants: vec![WantEntry {
                cid: self.cid,
                priority: 1,
                cancel: false,
                want_type,
                send_dont_have: true,
            }],
            ..Message::default()
        };
        if !self.shared.send(peer, message).await {
            self.shared
                .peer_gone(peer, "its bitswap stream cannot be written to");
        }
    }

    /// The next event for this block (`None` never happens while the handle lives).
    pub async fn next(&mut self) -> Option<WantEvent> {
        let event = self.events.recv().await;
        if matches!(event, Some(WantEvent::Block(..))) {
            self.done = true;
        }
        event
    }
}

impl Drop for Want {
    fn drop(&mut self) {
        self.events.close();
        let mut wants = self.shared.wants.lock().expect("lock");
        if let Some(list) = wants.get_mut(&self.cid) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                wants.remove(&self.cid);
            }
        }
        drop(wants);
        if self.done {
            return;
        }
        // Withdraw what other peers were asked; best effort, never waits.
        let writers = self.shared.writers.lock().expect("lock");
        for peer in &self.asked {
            if let Some(tx) = writers.get(peer) {
                let _ = tx.try_send(Message {
                    wants: vec![WantEntry {
                        cid: self.cid,
                        priority: 1,
                        cancel: true,
                        want_type: WantType::Block,
                        send_dont_have: false,
                    }],
                    ..Message::default()
                });
            }
        }
    }
}

impl Shared {
    /// Queues `message` for `peer`, starting its writer if needed. False if the peer cannot be
    /// written to.
    async fn send(self: &Arc<Self>, peer: PeerId, message: Message) -> bool {
        if self.banned.lock().expect("lock").contains(&peer) {
            return false;
        }
        let tx = {
            let mut writers = self.writers.lock().expect("lock");
            match writers.get(&peer) {
                Some(tx) if !tx.is_closed() => tx.clone(),
                _ => {
                    let (tx, rx) = mpsc::channel(PEER_QUEUE);
                    writers.insert(peer, tx.clone());
                    tokio::spawn(write_peer(self.clone(), peer, rx));
                    tx
                }
            }
        };
        tx.send(message).await.is_ok()
    }

    fn notify(&self, cid: &Cid, event: impl Fn() -> WantEvent) -> bool {
        let wants = self.wants.lock().expect("lock");
        match wants.get(cid) {
            Some(list) if !list.is_empty() => {
                for tx in list {
                    hint(tx, event());
                }
                true
            }
            _ => false,
        }
    }

    /// Hands a block to everyone waiting for it; false if nobody is.
    fn deliver(&self, cid: &Cid, peer: PeerId, data: Vec<u8>) -> bool {
        let wants = self.wants.lock().expect("lock");
        let Some(list) = wants.get(cid).filter(|l| !l.is_empty()) else {
            return false;
        };
        let (last, rest) = list.split_last().expect("not empty");
        for tx in rest {
            let _ = tx.try_send(WantEvent::Block(peer, data.clone()));
        }
        let _ = last.try_send(WantEvent::Block(peer, data));
        true
    }

    /// Tells everyone waiting that `peer` is gone (`why`: what happened, for messages), and
    /// forgets its writer so the next message opens a fresh stream.
    fn peer_gone(&self, peer: PeerId, why: &str) {
        tracing::debug!(%peer, "peer gone: {why}");
        self.writers.lock().expect("lock").remove(&peer);
        let why: Arc<str> = why.into();
        let wants = self.wants.lock().expect("lock");
        for list in wants.values() {
            for tx in list {
                hint(tx, WantEvent::PeerGone(peer, why.clone()));
            }
        }
    }

    fn ban(self: &Arc<Self>, peer: PeerId, why: &str) {
        if !self.banned.lock().expect("lock").insert(peer) {
            return;
        }
        tracing::warn!(%peer, "dropping the peer: {why}");
        self.notes
            .lock()
            .expect("lock")
            .push(format!("dropped peer {peer}: {why}"));
        self.peer_gone(peer, &format!("dropped: {why}"));
        let node = self.node.clone();
        tokio::spawn(async move { node.disconnect(peer).await });
    }

    /// Handles one received message: blocks and presences for the client, wants for the
    /// server.
    async fn on_message(self: &Arc<Self>, peer: PeerId, message: Message) {
        if !message.payload.is_empty() {
            let payload = message.payload;
            let hashed = tokio::task::spawn_blocking(move || {
                payload
                    .into_iter()
                    .map(|block| (block.cid(), block.data))
                    .collect::<Vec<_>>()
            })
            .await
            .expect("hashing task panicked");
            for (cid, data) in hashed {
                if data.len() > MAX_BLOCK_SIZE {
                    self.ban(
                        peer,
                        &format!("sent a {}-byte block (limit {MAX_BLOCK_SIZE})", data.len()),
                    );
                    return;
                }
                let Ok(cid) = cid else {
                    self.ban(peer, "sent a block with an unusable CID prefix");
                    return;
                };
                let size = data.len();
                if self.deliver(&cid, peer, data) {
                    tracing::trace!(%peer, %cid, size, "block received");
                    self.stats.lock().expect("lock").blocks_received += 1;
                    continue;
                }
                let was_asked = self
                    .asked
                    .lock()
                    .expect("lock")
                    .get(&peer)
                    .is_some_and(|a| a.set.contains(&cid));
                if was_asked {
                    tracing::debug!(%peer, %cid, size, "block received after it was no longer wanted");
                } else {
                    self.ban(
                        peer,
                        &format!(
                            "sent a block that matches nothing it was asked for (it hashes to `{cid}`): corrupt or unsolicited"
                        ),
                    );
                    return;
                }
            }
        }
        for (cid, presence) in &message.presences {
            match presence {
                Presence::Have => tracing::trace!(%peer, %cid, "HAVE received"),
                Presence::DontHave => tracing::debug!(%peer, %cid, "DONT_HAVE received"),
            }
            match presence {
                Presence::Have => self.notify(cid, || WantEvent::Have(peer)),
                Presence::DontHave => self.notify(cid, || WantEvent::DontHave(peer)),
            };
        }
        // A bounded amount of work per message, whatever a peer asks for.
        let wants: Vec<WantEntry> = message
            .wants
            .into_iter()
            .filter(|w| !w.cancel)
            .take(MAX_WANTS_PER_MESSAGE)
            .collect();
        if !wants.is_empty() {
            tracing::debug!(%peer, wants = wants.len(), "serving a wantlist");
            self.serve(peer, wants).await;
        }
    }

    /// Answers a peer's wants: blocks, HAVE, or DONT_HAVE when asked for it.
    async fn serve(self: &Arc<Self>, peer: PeerId, wants: Vec<WantEntry>) {
        let mut message = Message::default();
        let mut size = 0;
        // A few blocks are read at a time, so memory stays bounded whatever is asked.
        for chunk in wants.chunks(SERVE_CHUNK) {
            let provider = self.provider.clone();
            let chunk = chunk.to_vec();
            let answers = tokio::task::spawn_blocking(move || look_up(provider.as_deref(), chunk))
                .await
                .expect("store task panicked");
            for (cid, answer) in answers {
                match answer {
                    Answer::Block(data) => {
                        if size + data.len() > TARGET_MESSAGE_SIZE && !message.is_empty() {
                            let full = std::mem::take(&mut message);
                            if !self.send(peer, full).await {
                                return;
                            }
                            size = 0;
                        }
                        size += data.len();
                        self.stats.lock().expect("lock").blocks_sent += 1;
                        message.payload.push(Payload {
                            prefix: Payload::prefix_of(&cid),
                            data,
                        });
                    }
                    Answer::Have => message.presences.push((cid, Presence::Have)),
                    Answer::DontHave => message.presences.push((cid, Presence::DontHave)),
                }
            }
        }
        if !message.is_empty() {
            self.send(peer, message).await;
        }
    }
}

/// The answers to some wants: blocks, HAVE, or DONT_HAVE when asked for it.
fn look_up(provider: Option<&dyn BlockProvider>, wants: Vec<WantEntry>) -> Vec<(Cid, Answer)> {
    let mut out = Vec::with_capacity(wants.len());
    for want in wants {
        let answer = match (provider, want.want_type) {
            (Some(p), WantType::Block) => p.block_data(&want.cid).map(Answer::Block),
            // A presence is answered from the size alone: only tiny blocks are read.
            (Some(p), WantType::Have) => match p.size(&want.cid) {
                Some(n) if n <= SEND_BLOCK_FOR_HAVE_LIMIT as u64 => {
                    p.block_data(&want.cid).map(Answer::Block)
                }
                Some(_) => Some(Answer::Have),
                None => None,
            },
            (None, _) => None,
        };
        match answer {
            Some(a) => out.push((want.cid, a)),
            None if want.send_dont_have => out.push((want.cid, Answer::DontHave)),
            None => {}
        }
    }
    out
}

enum Answer {
    Block(Vec<u8>),
    Have,
    DontHave,
}

/// Reads messages from one inbound stream until it ends or breaks.
async fn read_stream(shared: Arc<Shared>, peer: PeerId, stream: Stream) {
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    loop {
        let length = match read_varint(&mut reader).await {
            Ok(Some(n)) => n,
            Ok(None) => {
                tracing::trace!(%peer, "inbound bitswap stream ended");
                return;
            }
            Err(e) => {
                shared.peer_gone(peer, &format!("its bitswap stream broke: {e}"));
                return;
            }
        };
        if length > MAX_MESSAGE_SIZE as u64 {
            shared.ban(
                peer,
                &format!("sent a {length}-byte message (limit {MAX_MESSAGE_SIZE})"),
            );
            return;
        }
        // The buffer grows as bytes arrive: a peer that claims a large message and sends
        // nothing holds no more memory than it sent.
        let mut body = Vec::with_capacity((length as usize).min(64 * 1024));
        let read = (&mut reader).take(length).read_to_end(&mut body).await;
        let read = read.and_then(|n| {
            if n as u64 == length {
                Ok(())
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            }
        });
        if let Err(e) = read {
            // The blocks of that message are lost: whoever waits for them asks again.
            shared.peer_gone(
                peer,
                &format!("its bitswap stream broke inside a {length}-byte message: {e}"),
            );
            return;
        }
        match Message::decode(&body) {
            Ok(message) => {
                tracing::trace!(
                    %peer,
                    bytes = length,
                    blocks = message.payload.len(),
                    presences = message.presences.len(),
                    wants = message.wants.len(),
                    "bitswap message received"
                );
                shared.on_message(peer, message).await
            }
            Err(e) => {
                shared.ban(peer, &format!("sent a malformed bitswap message: {e}"));
                return;
            }
        }
    }
}

/// A varint length prefix (minimal, at most 64 bits); `None` at a clean end of stream.
async fn read_varint<R: futures_util::io::AsyncRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<u64>> {
    let mut decoder = crate::varint::Decoder::minimal();
    loop {
        let mut byte = [0u8; 1];
        if reader.read(&mut byte).await? == 0 {
            return if decoder.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        match decoder.push(byte[0]) {
            Ok(Some(value)) => return Ok(Some(value)),
            Ok(None) => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad length prefix: {e}"),
                ))
            }
        }
    }
}

/// Writes queued messages to `peer` on one long-lived stream, merging what is queued.
async fn write_peer(shared: Arc<Shared>, peer: PeerId, mut queue: mpsc::Receiver<Message>) {
    let control = shared.node.stream_control();
    let mut stream: Option<Stream> = None;
    let mut held: Option<Message> = None;
    loop {
        let mut message = match held.take() {
            Some(m) => m,
            None => match queue.recv().await {
                Some(m) => m,
                None => return,
            },
        };
        let mut size = message_size(&message);
        while let Ok(more) = queue.try_recv() {
            let extra = message_size(&more);
            if size + extra > TARGET_MESSAGE_SIZE {
                held = Some(more);
                break;
            }
            size += extra;
            merge(&mut message, more);
        }
        let bytes = message.encode_framed();
        let mut failure = None;
        for _ in 0..2 {
            let s = match stream.as_mut() {
                Some(s) => s,
                None => match open_stream(&control, peer).await {
                    Ok(s) => stream.insert(s),
                    Err(why) => {
                        failure = Some(why);
                        break;
                    }
                },
            };
            let write = async {
                s.write_all(&bytes).await?;
                s.flush().await
            };
            failure = match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("writing to its bitswap stream failed: {e}")),
                Err(_) => Some(format!(
                    "writing to its bitswap stream took longer than {WRITE_TIMEOUT:?}"
                )),
            };
            match &failure {
                None => break,
                Some(why) => {
                    tracing::debug!(%peer, "{why}");
                    stream = None;
                }
            }
        }
        if let Some(why) = failure {
            shared.peer_gone(peer, &why);
            return;
        }
        if tracing::enabled!(tracing::Level::TRACE) {
            log_sent(peer, &message, bytes.len());
        }
    }
}

/// A new outbound bitswap stream to `peer`, or why there is none.
async fn open_stream(control: &StreamControl, peer: PeerId) -> Result<Stream, String> {
    let offer = vec![BITSWAP_1_2, BITSWAP_1_1, BITSWAP_LEGACY];
    match tokio::time::timeout(WRITE_TIMEOUT, control.open(peer, offer)).await {
        Ok(Ok((stream, protocol))) => {
            tracing::debug!(%peer, %protocol, "bitswap stream opened");
            Ok(stream)
        }
        Ok(Err(OpenError::Unsupported)) => {
            Err("it speaks none of /ipfs/bitswap/1.2.0, 1.1.0 or /ipfs/bitswap".into())
        }
        Ok(Err(e)) => Err(format!("cannot open a bitswap stream: {e}")),
        Err(_) => Err(format!(
            "opening a bitswap stream took longer than {WRITE_TIMEOUT:?}"
        )),
    }
}

/// Logs what one written message carried (trace: each want and presence, and a summary).
fn log_sent(peer: PeerId, message: &Message, bytes: usize) {
    for want in &message.wants {
        if want.cancel {
            tracing::trace!(%peer, cid = %want.cid, "cancel sent");
        } else {
            tracing::trace!(%peer, cid = %want.cid, kind = ?want.want_type, "want sent");
        }
    }
    for (cid, presence) in &message.presences {
        tracing::trace!(%peer, %cid, ?presence, "presence sent");
    }
    tracing::trace!(
        %peer,
        bytes,
        blocks = message.payload.len(),
        wants = message.wants.len(),
        "bitswap message sent"
    );
}

fn message_size(message: &Message) -> usize {
    message
        .payload
        .iter()
        .map(|p| p.data.len() + 16)
        .sum::<usize>()
        + message.wants.len() * 48
        + message.presences.len() * 48
}

fn merge(into: &mut Message, from: Message) {
    into.wants.extend(from.wants);
    into.payload.extend(from.payload);
    into.presences.extend(from.presences);
}
