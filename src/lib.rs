//! trove: fetch research artifacts by name and prove they are the right bytes.
//!
//! The CID is the only trust anchor: every block is hashed and compared with the CID that named
//! it before it is used or stored. Module map (see `ARCHITECTURE.md` for the diagrams):
//!
//! - [`content`]: CIDs, multihashes, [`content::Block`] (bytes proven to match their CID).
//! - [`varint`], [`dagpb`], [`cbor`], [`dag`], [`bitswap_message`]: codecs, no IO.
//! - [`unixfs`]: the UnixFS importer (Kubo-identical profiles) and reader (files, ranges,
//!   directories, HAMT shards), no IO.
//! - [`compression`]: gzip and zstd around files, told by name or first bytes.
//! - [`car`]: CARv1 read/write and CARv2 read over byte streams; DAG export/import.
//! - [`store`]: the block store traits, an in-memory store and the on-disk cache.
//! - [`import`]: files and directories from disk into blocks, on all cores.
//! - [`diff`]: two versions compared: trees (files, shared blocks) and tables (keyed, with a
//!   float tolerance, streaming).
//! - [`extract`]: UnixFS content from the store to disk, atomically and safely.
//! - [`bundle`]: archives and folders as published (sums checked, unpacked in a sandbox) in,
//!   deterministic archives with manifest and sums out.
//! - [`objects`]: object storage (`s3://`, `gs://`, `az://`) as mirrors and upload targets
//!   (reading and writing need feature `cloud`).
//! - [`http`]: the shared HTTP client and its URL policy (https, or http to local hosts only).
//! - [`fetch`]: the `Source` trait (Kubo RPC, the embedded libp2p node with bitswap, trustless gateways, HTTP mirrors) and the fetcher
//!   that verifies and stores every block.
//! - [`registry`]: registry formats (1.0, 2.0, ours), resolution, checks, queries, the cached
//!   HTTP client.
//! - [`publish`] (feature `publish`): registry entries, registry edits, daemon import and remote pinning, pull
//!   requests.
//! - [`target`], [`config`], [`progress`]: what the user asks for, environment variables,
//!   progress reporting.
//! - [`client`]: [`Client`], the front door every front end uses (settings, sessions,
//!   snapshots, registries, install, publish, cache maintenance); [`error`]: its [`Error`] with
//!   an [`ErrorKind`] and the [`Hint`] trait every error type implements; [`output`]: atomic
//!   output placement and snapshot copies.
//! - [`cli`] (feature `cli`): the `trove` command (the only place that prints).
//!
//! Features: `cli`, `p2p` (the embedded libp2p node), `publish` (registry edits, pinning, pull
//! requests with git2), `cloud` (object storage through `object_store`) and `jemalloc` (the
//! binary's allocator), all on by default.

// Errors carry CIDs (about 100 bytes) so that messages can name them; they are returned on cold
// paths only, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod bitswap_message;
pub mod bundle;
pub mod car;
pub mod cbor;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod compression;
pub mod config;
pub mod content;
pub mod dag;
pub mod dagpb;
pub mod diff;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod http;
pub mod import;
pub mod objects;
pub mod output;
pub mod progress;
pub mod project;
pub mod protobuf;
#[cfg(feature = "publish")]
pub mod publish;
pub mod registry;
#[cfg(feature = "server")]
pub mod serve;
pub mod store;
pub mod target;
#[cfg(test)]
pub(crate) mod test_blocks;
pub mod unixfs;
pub mod varint;

pub use client::{Client, Options, Settings};
pub use error::{Error, ErrorKind, Hint};
