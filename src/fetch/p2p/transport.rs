//! The node's transports: TCP (noise, yamux) read through a buffer, and QUIC for inbound
//! connections only.
//!
//! - The noise layer asks the socket for 8 KiB at a time; a 256 KiB read buffer turns a bitswap
//!   block into a few system calls instead of thirty.
//! - QUIC is offered to peers that dial in (Kubo does, and bitswap works both ways on those
//!   connections), but trove does not dial QUIC itself: Kubo v0.22 does not answer bitswap on
//!   QUIC connections that trove opens, and a QUIC handshake wins the race against TCP, so
//!   dialing both would often leave a get on a dead connection. Every IPFS node has TCP.

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::upgrade::Version;
use libp2p::{noise, quic, tcp, yamux, Multiaddr, PeerId, Transport};
use std::pin::Pin;
use std::task::{Context, Poll};

/// How long connecting, the security handshake and the multiplexer set-up may take together (a
/// SYN into a network that drops it would otherwise wait for the system's TCP time-out).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Bytes read from a TCP socket at once.
const TCP_READ_BUFFER: usize = 256 * 1024;

/// TCP with a read buffer under noise and yamux (what `SwarmBuilder::with_tcp` builds, plus
/// the buffer).
pub fn buffered_tcp(noise: noise::Config) -> Boxed<(PeerId, StreamMuxerBox)> {
    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .map(|stream, _| futures_util::io::BufReader::with_capacity(TCP_READ_BUFFER, stream))
        .upgrade(Version::V1Lazy)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        .timeout(CONNECT_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed()
}

/// QUIC (v1) that listens but refuses to dial (see the module docs).
pub fn inbound_quic(key: &libp2p::identity::Keypair) -> Boxed<(PeerId, StreamMuxerBox)> {
    ListenOnly(quic::tokio::Transport::new(quic::Config::new(key)))
        .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
        .boxed()
}

/// A transport that only listens: dials answer "address not supported", so the swarm uses
/// another transport.
struct ListenOnly<T>(T);

impl<T: Transport + Unpin> Transport for ListenOnly<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.0.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.0.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}
