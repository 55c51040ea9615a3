//! trove's integration tests: one binary, one module per area, helpers in `support/`.
//!
//! Tests may print (seeds, measurements) and read their own environment variables (the peers
//! `scripts/setup-peers` installed): the house rules are for the library.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod archive_mirror;
mod bundle;
mod car;
mod cid_vectors;
mod cli;
mod client;
mod conventions;
mod dagpb;
mod fetcher;
mod gateway_source;
mod get_network;
mod golden;
mod helia;
mod kubo_interop;
mod kubo_rpc;
mod mirror;
mod multiformats;
mod object_storage;
mod p2p;
mod project;
mod publish;
mod registry;
mod registry_cli;
mod registry_pr;
mod registry_reachable;
mod release;
mod roundtrip;
mod serve_http;
mod serve_page;
mod support;
mod unixfs_fixtures;
mod upstream;
