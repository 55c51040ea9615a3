//! The one trait every retrieval tier implements, and the errors that decide what happens next.

use crate::content::Cid;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::AsyncRead;

/// Bytes arriving from a source (a CAR stream). The fetcher wraps it with an idle time-out and
/// verifies everything in it; a source never needs to check what it forwards.
pub type ByteStream = Pin<Box<dyn AsyncRead + Send>>;

/// The retrieval tiers, in their default order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// The local IPFS daemon's Kubo RPC API.
    Kubo,
    /// The embedded libp2p node (bitswap).
    P2p,
    /// Trustless HTTP gateways.
    Gateway,
    /// Plain HTTP mirrors holding a CAR or the raw file.
    Mirror,
}

impl SourceKind {
    /// The name used by `--source` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Kubo => "kubo",
            SourceKind::P2p => "p2p",
            SourceKind::Gateway => "gateway",
            SourceKind::Mirror => "mirror",
        }
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "kubo" => Ok(SourceKind::Kubo),
            "p2p" => Ok(SourceKind::P2p),
            "gateway" => Ok(SourceKind::Gateway),
            "mirror" => Ok(SourceKind::Mirror),
            other => Err(format!(
                "unknown source `{other}`; use kubo, p2p, gateway or mirror"
            )),
        }
    }
}

/// Why a source could not deliver. The variant decides the fallback (see
/// [`SourceError::is_misbehaviour`] and [`SourceError::retry_after`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The source does not have the content (HTTP 404/410, Kubo "not found").
    #[error("not found")]
    NotFound,
    /// This source cannot answer this kind of request (a mirror asked for one block, …).
    #[error("not supported by this source")]
    Unsupported,
    /// The source cannot be reached (connection refused, no daemon, DNS failure).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A temporary failure worth retrying (HTTP 429/5xx, reset connections), after
    /// `retry_after` if the source said so.
    #[error("temporary failure: {detail}")]
    Transient {
        /// What happened.
        detail: String,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The source sent nothing for the idle time-out. Not retried (a stalled source tends to
    /// stay stalled); the next source is asked.
    #[error("timed out: {0}")]
    TimedOut(String),
    /// The source broke the protocol (wrong content type, HTML instead of data, oversized or
    /// corrupt data, redirect loops). It is not asked again during this run.
    #[error("misbehaved: {0}")]
    Misbehaved(String),
    /// The source sent bytes that do not match the CID they were asked for (a block, a CAR
    /// section). Ruled out like misbehaviour; a fetch that fails only for this reason is an
    /// integrity failure rather than a network one.
    #[error("sent wrong bytes: {0}")]
    Corrupt(String),
}

impl SourceError {
    /// Whether the source should be ruled out for the rest of the run.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(self, SourceError::Misbehaved(_) | SourceError::Corrupt(_))
    }

    /// Whether a retry of the same request may succeed, and after how long at least.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::Transient { retry_after, .. } => {
                Some(retry_after.unwrap_or(Duration::ZERO))
            }
            _ => None,
        }
    }
}

/// What a [`Source::probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The source sent the root block and it matches the CID.
    Verified,
    /// The source holds a file for it (a mirror), not read: its bytes are checked only when
    /// fetched.
    Present {
        /// Its size, when the source said.
        size: Option<u64>,
    },
}

/// A place blocks can come from. Implementations do no verification and no retries: the
/// fetcher verifies every byte against its CID, applies time-outs and decides on retries and
/// fallbacks from the [`SourceError`] returned.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    /// A short description for messages and progress, such as `gateway http://127.0.0.1:8080`.
    fn describe(&self) -> String;

    /// The tier this source belongs to.
    fn kind(&self) -> SourceKind;

    /// The DAG under `cid` (every block, depth-first) as a CARv1 stream. Sources that cannot
    /// serve CARs return [`SourceError::Unsupported`].
    async fn dag(&self, cid: &Cid) -> Result<ByteStream, SourceError>;

    /// One block's bytes (at most 2 MiB; larger answers are [`SourceError::Misbehaved`]).
    /// Sources that cannot serve single blocks return [`SourceError::Unsupported`].
    async fn block(&self, cid: &Cid) -> Result<Vec<u8>, SourceError>;

    /// The blocks needed to read bytes `from..=to` of the UnixFS file `cid` (`to: None`: to the
    /// end) as a CARv1 stream (trustless gateways: `dag-scope=entity&entity-bytes=from:to`).
    /// Sources that cannot serve ranges return [`SourceError::Unsupported`].
    async fn dag_range(
        &self,
        _cid: &Cid,
        _from: u64,
        _to: Option<u64>,
    ) -> Result<ByteStream, SourceError> {
        Err(SourceError::Unsupported)
    }

    /// Whether this source can give `cid`, for availability checks (`registry check
    /// --reachable`). By default the block itself is asked for and checked against the CID (a
    /// trustless gateway's `format=raw`, the daemon's `block/get`, a bitswap want); a mirror
    /// answers whether its file is there without downloading it.
    async fn probe(&self, cid: &Cid) -> Result<Probe, SourceError> {
        let data = self.block(cid).await?;
        crate::content::Block::verified(*cid, data)
            .map_err(|e| SourceError::Corrupt(e.to_string()))?;
        Ok(Probe::Verified)
    }

    /// Called when a fetch that may need this source begins, so a source with a slow start
    /// (the p2p node) can get ready in the background. Must not block.
    fn prepare(&self) {}

    /// Told that the block this source just delivered for `cid` failed verification. A source
    /// that speaks for many peers drops the peer that sent it and returns `true` (ask me
    /// again); the default `false` rules the whole source out for the run.
    fn reject(&self, _cid: &Cid) -> bool {
        false
    }

    /// Warnings worth showing the user (a peer dropped, a configured peer unreachable),
    /// collected since the last call.
    fn take_notes(&self) -> Vec<String> {
        Vec::new()
    }
}
