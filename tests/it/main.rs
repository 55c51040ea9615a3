//! trove's integration tests: one binary, one module per area, helpers in `support/`.

mod support;
mod golden;
mod car;
mod kubo_interop;
mod unixfs_fixtures;
mod roundtrip;
mod cid_vectors;
mod cli;
mod multiformats;
