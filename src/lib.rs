//! trove: fetch research artifacts by name and prove they are the right bytes.
pub mod car;
pub mod cbor;
pub mod content;
pub mod dag;
pub mod dagpb;
pub mod store;
pub mod varint;
pub mod unixfs;
pub mod import;
pub mod progress;
pub mod extract;
pub mod config;
pub mod target;
pub mod cli;
