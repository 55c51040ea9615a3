//! Verified retrieval: one [`Source`] trait for every tier (local Kubo RPC, embedded p2p node,
//! trustless gateways, HTTP mirrors) and the fetcher that asks them for what the store lacks,
//! verifies every block against its CID and stores it.

mod fetcher;
mod idle;
mod source;

pub use fetcher::{frontier, BlockStore, FetchError, FetchOptions, FetchReport, Fetcher};
pub use idle::IdleTimeout;
pub use source::{ByteStream, Source, SourceError, SourceKind};
