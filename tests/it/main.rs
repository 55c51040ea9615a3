//! trove's integration tests: one binary, one module per area, helpers in `support/`.

mod car;
mod cid_vectors;
mod cli;
mod dagpb;
mod golden;
mod kubo_interop;
mod multiformats;
mod roundtrip;
mod support;
mod unixfs_fixtures;
mod fetcher;
mod gateway_source;
mod kubo_rpc;
