//! trove's integration tests: one binary, one module per area, helpers in `support/`.

mod car;
mod cid_vectors;
mod cli;
mod client;
mod dagpb;
mod fetcher;
mod gateway_source;
mod get_network;
mod golden;
mod helia;
mod kubo_interop;
mod kubo_rpc;
mod multiformats;
mod p2p;
mod project;
mod publish;
mod registry;
mod registry_cli;
mod registry_pr;
mod roundtrip;
mod support;
mod unixfs_fixtures;
