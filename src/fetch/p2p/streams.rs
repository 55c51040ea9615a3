//! A small libp2p behaviour that hands raw protocol streams to async tasks: every inbound
//! stream of the registered protocols goes onto one bounded queue (large enough for Kubo 0.22,
//! which opens a new stream for every bitswap message), and [`StreamControl::open`] negotiates
//! an outbound stream on an existing connection, offering several protocol versions at once.
//!
//! (`libp2p-stream` does the same with a queue of one stream per protocol, dropping the rest,
//! which loses bitswap messages under load.)

use futures_util::future::{ready, Ready};
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{InboundUpgrade, OutboundUpgrade, UpgradeInfo};
use libp2p::core::Endpoint;
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, NotifyHandler, Stream, StreamProtocol, StreamUpgradeError, SubstreamProtocol,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Inbound streams waiting for their reader task; beyond this, new ones are refused (reset).
const INBOUND_QUEUE: usize = 4096;
/// How long negotiating an outbound stream may take.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(20);

/// An inbound stream: the remote peer, the stream and the protocol it was opened for.
pub type Inbound = (PeerId, Stream, StreamProtocol);

/// Why an outbound stream could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenError {
    /// No connection to the peer.
    #[error("not connected")]
    NotConnected,
    /// The peer speaks none of the protocols offered.
    #[error("the peer does not support the protocol")]
    Unsupported,
    /// The negotiation failed or timed out.
    #[error("cannot open a stream: {0}")]
    Failed(String),
}

type Reply = oneshot::Sender<Result<(Stream, StreamProtocol), OpenError>>;

/// A request to open a stream, from [`StreamControl`] to the behaviour and on to a connection.
#[derive(Debug)]
pub struct OpenRequest {
    peer: PeerId,
    protocols: Vec<StreamProtocol>,
    reply: Reply,
}

/// Opens outbound streams; cheap to clone.
#[derive(Clone)]
pub struct StreamControl {
    requests: mpsc::Sender<OpenRequest>,
}

impl StreamControl {
    /// Opens a stream to `peer` on an existing connection, offering `protocols` in order of
    /// preference; returns the stream and the protocol agreed on.
    pub async fn open(
        &self,
        peer: PeerId,
        protocols: Vec<StreamProtocol>,
    ) -> Result<(Stream, StreamProtocol), OpenError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(OpenRequest {
                peer,
                protocols,
                reply,
            })
            .await
            .map_err(|_| OpenError::Failed("the p2p node stopped".into()))?;
        answer
            .await
            .map_err(|_| OpenError::Failed("the connection closed".into()))?
    }
}

/// The behaviour; see the module docs.
pub struct Behaviour {
    protocols: Vec<StreamProtocol>,
    inbound: mpsc::Sender<Inbound>,
    requests: mpsc::Receiver<OpenRequest>,
    connections: HashMap<PeerId, Vec<ConnectionId>>,
}

impl Behaviour {
    /// A behaviour accepting `protocols` inbound; returns it with its control and the queue
    /// of inbound streams.
    pub fn new(protocols: Vec<StreamProtocol>) -> (Self, StreamControl, mpsc::Receiver<Inbound>) {
        let (inbound, incoming) = mpsc::channel(INBOUND_QUEUE);
        let (control, requests) = mpsc::channel(256);
        (
            Behaviour {
                protocols,
                inbound,
                requests,
                connections: HashMap::new(),
            },
            StreamControl { requests: control },
            incoming,
        )
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            protocols: self.protocols.clone(),
            inbound: self.inbound.clone(),
            queued: VecDeque::new(),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.connections
                    .entry(e.peer_id)
                    .or_default()
                    .push(e.connection_id);
            }
            FromSwarm::ConnectionClosed(e) => {
                if let Some(list) = self.connections.get_mut(&e.peer_id) {
                    list.retain(|c| *c != e.connection_id);
                    if list.is_empty() {
                        self.connections.remove(&e.peer_id);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        while let Poll::Ready(Some(request)) = self.requests.poll_recv(cx) {
            // The most recent connection is the one most likely to stay.
            match self.connections.get(&request.peer).and_then(|c| c.last()) {
                Some(&connection) => {
                    return Poll::Ready(ToSwarm::NotifyHandler {
                        peer_id: request.peer,
                        handler: NotifyHandler::One(connection),
                        event: request,
                    })
                }
                None => {
                    let _ = request.reply.send(Err(OpenError::NotConnected));
                }
            }
        }
        Poll::Pending
    }
}

/// The per-connection half of [`Behaviour`].
pub struct Handler {
    peer: PeerId,
    protocols: Vec<StreamProtocol>,
    inbound: mpsc::Sender<Inbound>,
    queued: VecDeque<OpenRequest>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = OpenRequest;
    type ToBehaviour = Infallible;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = Upgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Reply;

    fn listen_protocol(&self) -> SubstreamProtocol<Upgrade, ()> {
        SubstreamProtocol::new(
            Upgrade {
                protocols: self.protocols.clone(),
            },
            (),
        )
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Upgrade, Reply, Infallible>> {
        match self.queued.pop_front() {
            Some(request) => Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(
                    Upgrade {
                        protocols: request.protocols,
                    },
                    request.reply,
                )
                .with_timeout(NEGOTIATION_TIMEOUT),
            }),
            None => Poll::Pending,
        }
    }

    fn on_behaviour_event(&mut self, request: OpenRequest) {
        self.queued.push_back(request);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), Reply>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: (stream, protocol),
                ..
            }) => {
                // A full queue drops the stream, which the peer sees as a reset.
                let _ = self.inbound.try_send((self.peer, stream, protocol));
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol,
                info: reply,
            }) => {
                let _ = reply.send(Ok(protocol));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: reply, error }) => {
                let error = match error {
                    StreamUpgradeError::NegotiationFailed => OpenError::Unsupported,
                    StreamUpgradeError::Timeout => {
                        OpenError::Failed("negotiation timed out".into())
                    }
                    StreamUpgradeError::Io(e) => OpenError::Failed(e.to_string()),
                    StreamUpgradeError::Apply(never) => match never {},
                };
                let _ = reply.send(Err(error));
            }
            _ => {}
        }
    }
}

/// Negotiates one of a list of protocols and hands over the raw stream.
#[derive(Debug, Clone)]
pub struct Upgrade {
    protocols: Vec<StreamProtocol>,
}

impl UpgradeInfo for Upgrade {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.protocols.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Upgrade {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}

impl OutboundUpgrade<Stream> for Upgrade {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_outbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}
