//! The node's transports: TCP (noise, yamux) read through a buffer, and QUIC v1 whose inbound
//! streams survive the peer's STOP_SENDING.
//!
//! - The noise layer asks the socket for 8 KiB at a time; a 256 KiB read buffer turns a bitswap
//!   block into a few system calls instead of thirty.
//! - go-libp2p (Kubo v0.22) closes a QUIC stream for reading as well as writing. Kubo's bitswap
//!   server opens a stream per answer, writes the protocol header and the message and closes it
//!   at once, so its STOP_SENDING can arrive before trove has written the protocol confirmation.
//!   Without `QuicStream` (below) that write fails, the negotiation fails and the stream — with
//!   the blocks already received on it — is dropped: Kubo never seemed to answer on QUIC
//!   connections trove opened.
//! - rust-yamux refuses a data frame over 1 MiB and closes the whole connection
//!   (`FrameTooLarge`), yet its window auto-tuning grants a stream up to its connection limit
//!   (1 GiB). js-libp2p's yamux (Helia) sends each frame as large as the credit it holds, so
//!   after a few 1 MiB blocks Helia's next 2 MiB frame killed the connection and every block in
//!   flight with it. [`yamux_config`] caps what a connection grants beyond yamux's initial
//!   256 KiB per stream at 768 KiB, so no stream is ever granted more than a frame may carry.

use futures_util::{AsyncRead, AsyncWrite};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerBox, StreamMuxerEvent};
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::Version;
use libp2p::{noise, quic, tcp, yamux, PeerId, Transport};
use std::io;
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
        .multiplex(yamux_config())
        .timeout(CONNECT_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed()
}

/// yamux's initial window per stream (the yamux spec's 256 KiB).
const YAMUX_INITIAL_WINDOW: usize = 256 * 1024;
/// The largest data frame rust-yamux accepts (`MAX_FRAME_BODY_LEN`).
const YAMUX_MAX_FRAME: usize = 1024 * 1024;
/// rust-yamux's default connection receive window, which libp2p's `yamux::Config` does not let
/// us set (the test below fails if the default changes).
const YAMUX_CONNECTION_WINDOW: usize = 1024 * 1024 * 1024;

/// yamux whose streams are never granted more credit than one frame may carry (see the module
/// docs). rust-yamux lets a stream's window grow by what is left of the connection window after
/// `max_num_streams` × 256 KiB is set aside for every possible stream; choosing the stream
/// count leaves exactly 768 KiB to grow by, shared by the connection's streams.
pub fn yamux_config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(
        (YAMUX_CONNECTION_WINDOW - (YAMUX_MAX_FRAME - YAMUX_INITIAL_WINDOW)) / YAMUX_INITIAL_WINDOW,
    );
    config
}

/// QUIC v1, its inbound streams tolerating STOP_SENDING (see the module docs).
pub fn quic(key: &libp2p::identity::Keypair) -> Boxed<(PeerId, StreamMuxerBox)> {
    quic::tokio::Transport::new(quic::Config::new(key))
        .map(|(peer, conn), _| (peer, StreamMuxerBox::new(QuicConnection(conn))))
        .boxed()
}

/// A QUIC connection handing out [`QuicStream`]s.
struct QuicConnection<C>(C);

impl<C> StreamMuxer for QuicConnection<C>
where
    C: StreamMuxer + Unpin,
    C::Substream: Unpin,
{
    type Substream = QuicStream<C::Substream>;
    type Error = C::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        Pin::new(&mut self.get_mut().0)
            .poll_inbound(cx)
            .map_ok(|inner| QuicStream::new(inner, true))
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        Pin::new(&mut self.get_mut().0)
            .poll_outbound(cx)
            .map_ok(|inner| QuicStream::new(inner, false))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

/// A QUIC stream. On a stream the peer opened, its STOP_SENDING (a write failing with
/// `ConnectionReset`) means "I read nothing more": from then on writes, flushes and the close
/// succeed without sending, and reading goes on to the end of what the peer sent. Streams trove
/// opens keep every error, so a peer that stops reading a bitswap stream is noticed.
struct QuicStream<S> {
    inner: S,
    inbound: bool,
    peer_stopped_reading: bool,
}

impl<S: Unpin> QuicStream<S> {
    fn new(inner: S, inbound: bool) -> Self {
        QuicStream {
            inner,
            inbound,
            peer_stopped_reading: false,
        }
    }

    /// Runs a write-side operation (`op` on the inner stream), unless the peer stopped reading
    /// this inbound stream: then, and when `op` fails with the peer's STOP_SENDING, it
    /// succeeds with `done`.
    fn write_side<T: Copy>(
        &mut self,
        done: T,
        op: impl FnOnce(Pin<&mut S>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.peer_stopped_reading {
            return Poll::Ready(Ok(done));
        }
        match op(Pin::new(&mut self.inner)) {
            Poll::Ready(Err(e)) if self.inbound && e.kind() == io::ErrorKind::ConnectionReset => {
                self.peer_stopped_reading = true;
                Poll::Ready(Ok(done))
            }
            other => other,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for QuicStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for QuicStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_side(buf.len(), |inner| inner.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().write_side((), |inner| inner.poll_flush(cx))
    }

    /// Never closes the inner stream once the peer stopped reading: libp2p-quic would then
    /// report the end of the stream to readers, cutting off what the peer sent.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().write_side((), |inner| inner.poll_close(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yamux_window_growth_is_capped_at_one_frame() {
        // The arithmetic in `yamux_config` relies on rust-yamux's default connection window.
        let shown = format!("{:?}", yamux_config());
        assert!(
            shown.contains(&format!(
                "max_connection_receive_window: Some({YAMUX_CONNECTION_WINDOW})"
            )),
            "rust-yamux's defaults changed: {shown}"
        );
        assert!(shown.contains("max_num_streams: 4093"), "{shown}");
    }
}
