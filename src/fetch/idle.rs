//! Stall detection for byte streams, both guards in one place:
//! - [`IdleTimeout`], like curl's `--speed-time`/`--speed-limit`: a stream fails when no byte
//!   arrives for the idle time-out, or when fewer than `min_rate × window` bytes arrive in any
//!   window of that length (a server dripping a byte at a time never trips a plain idle
//!   time-out). For HTTP bodies the fetcher reads as fast as they come.
//! - [`SilenceTimeout`]: fails only when the stream stays silent for the limit *while it is
//!   being read*; time the consumer spends away between reads does not count. For a daemon's
//!   CAR stream that a slow consumer may leave alone for a while (js-ipfs, which ignores
//!   `offline=true`, would otherwise hang forever on content it lacks).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Wraps a reader; see the module docs. Both limits are measured over windows of `limit`.
pub struct IdleTimeout<R> {
    inner: R,
    limit: Duration,
    min_rate: u64,
    idle: Pin<Box<Sleep>>,
    window_start: Instant,
    window_bytes: u64,
    /// A verdict reached while handing out bytes, reported on the next read.
    failed: Option<io::Error>,
}

impl<R> IdleTimeout<R> {
    /// Starts the clock now; `min_rate` is in bytes per second (0 turns the rate check off).
    pub fn new(inner: R, limit: Duration, min_rate: u64) -> Self {
        IdleTimeout {
            inner,
            limit,
            min_rate,
            idle: Box::pin(tokio::time::sleep(limit)),
            window_start: Instant::now(),
            window_bytes: 0,
            failed: None,
        }
    }

    fn too_slow(&mut self, now: Instant) -> Option<io::Error> {
        let elapsed = now.duration_since(self.window_start);
        if elapsed < self.limit {
            return None;
        }
        let needed = (self.min_rate as f64 * elapsed.as_secs_f64()) as u64;
        let got = self.window_bytes;
        self.window_start = now;
        self.window_bytes = 0;
        (got < needed).then(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "too slow: {got} bytes in {:.1}s (less than {} bytes/s)",
                    elapsed.as_secs_f64(),
                    self.min_rate
                ),
            )
        })
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for IdleTimeout<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(err) = self.failed.take() {
            return Poll::Ready(Err(err));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let got = (buf.filled().len() - before) as u64;
                if got > 0 {
                    let now = Instant::now();
                    let deadline = now + self.limit;
                    self.idle.as_mut().reset(deadline);
                    self.window_bytes += got;
                    self.failed = self.too_slow(now);
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no data for {:?}", self.limit),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// A reader that fails with [`io::ErrorKind::TimedOut`] when the inner reader stays silent for
/// `limit` while it is being read. Only silence counts: time the consumer spends away between
/// reads does not.
pub(crate) struct SilenceTimeout<R> {
    inner: R,
    limit: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    detail: String,
}

impl<R> SilenceTimeout<R> {
    pub(crate) fn new(inner: R, limit: Duration, detail: String) -> Self {
        SilenceTimeout {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
            detail,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for SilenceTimeout<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !this.armed {
                    let deadline = tokio::time::Instant::now() + this.limit;
                    this.timer.as_mut().reset(deadline);
                    this.armed = true;
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        this.detail.clone(),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_dripping_stream_fails_and_a_fast_one_passes() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for _ in 0..100 {
                if tx.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let mut guarded = IdleTimeout::new(rx, Duration::from_millis(200), 1000);
        let mut out = Vec::new();
        let err = guarded.read_to_end(&mut out).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("too slow"), "{err}");
        writer.abort();
        let data = vec![7u8; 100_000];
        let mut fast = IdleTimeout::new(&data[..], Duration::from_millis(200), 1000);
        let mut out = Vec::new();
        fast.read_to_end(&mut out).await.unwrap();
        assert_eq!(out.len(), data.len());
    }

    #[tokio::test]
    async fn a_stall_fails_after_the_limit_but_a_slow_reader_does_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut guard = SilenceTimeout::new(rx, Duration::from_millis(100), "stalled".into());
        tx.write_all(b"abc").await.unwrap();
        // The consumer is away longer than the limit: the data waiting is still delivered.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut buf = [0u8; 3];
        guard.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc");
        let started = Instant::now();
        let err = guard.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("stalled"));
        assert!(started.elapsed() >= Duration::from_millis(90));
        drop(tx);
    }
}
