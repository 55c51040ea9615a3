//! Verified retrieval: one [`Source`] trait for every tier (local Kubo RPC, embedded p2p node,
//! trustless gateways, HTTP mirrors) and the fetcher that asks them for what the store lacks,
//! verifies every block against its CID and stores it.

pub(crate) mod download;
mod fetcher;
pub mod gateway;
pub mod http;
mod idle;
mod ingest;
pub mod mirror;
#[cfg(feature = "p2p")]
pub mod p2p;
mod p2p_config;
mod source;

pub use fetcher::{frontier, BlockStore, FetchError, FetchOptions, FetchReport, Fetcher};
pub use gateway::GatewaySource;
pub use http::{HttpClient, HttpError, HttpOptions};
pub use idle::IdleTimeout;
pub use mirror::MirrorSource;
pub use multiaddr::Multiaddr;
#[cfg(feature = "p2p")]
pub use p2p::P2pSource;
pub use p2p_config::{P2pConfig, DEFAULT_BOOTSTRAP, DEFAULT_ROUTERS};
pub use source::{ByteStream, Probe, Source, SourceError, SourceKind};
pub mod kubo;
pub use kubo::{
    discover_api_candidates, ApiCandidate, ApiOrigin, DaemonHandle, DaemonImplementation,
    KuboError, KuboRpcSource,
};
