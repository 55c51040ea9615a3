//! CAR (Content Addressable aRchive) files: a streaming CARv1/CARv2 reader, a CARv1 writer,
//! `ipfs dag export`-compatible export and a verifying import into a block store.
//!
//! The codecs do no IO of their own: they read from a [`std::io::Read`] and write to a
//! [`std::io::Write`] given by the caller, one section at a time, so memory stays bounded by the
//! largest block ([`MAX_BLOCK_SIZE`]) however large the CAR is.
//!
//! # Format
//! A CARv1 is a varint-length-prefixed DAG-CBOR header `{roots: [CID…], version: 1}` followed by
//! sections, each `varint(len) ‖ binary CID ‖ block bytes`. A CARv2 starts with the 11-byte
//! pragma [`CARV2_PRAGMA`], a 40-byte header (characteristics, data offset, data size, index
//! offset; little-endian) and wraps a CARv1 payload at `data offset`, `data size` bytes long;
//! the index after it is ignored (we stream, we never seek).
//!
//! # Policies
//! - **Zero-length sections** (Lotus pads CARs with zero bytes): a section length of zero ends
//!   the data, as go-car's `ZeroLengthSectionAsEOF(true)`. Everything after it (up to the end of
//!   the stream, or of a CARv2's data payload) must also be zero bytes, or the reader fails with
//!   [`CarError::DataAfterPadding`]: padding may not hide data.
//! - **Roots**: `roots: []` is accepted (the current CARv1 spec allows it; Kubo imports such
//!   CARs); a CARv1 header *without* a `roots` key is rejected (the header schema requires the
//!   field). Roots are never trusted: [`import_car`] reports, per root, whether its DAG is
//!   complete in the store, and callers check the root they asked for with [`check_dag`].
//! - **Trust**: a section's bytes are only stored after hashing to its CID; identity-hash CIDs
//!   carry their bytes and are verified but never stored or written.
//! - **Truncation** is always an error, never a short success.

mod dag;
mod reader;
mod writer;

pub use dag::{check_dag, export_dag, import_car, ExportSummary, ImportSummary, RootStatus};
pub use reader::{Blocks, CarReader, Sections};
pub use writer::{header_bytes, section_prefix, CarWriter};

use crate::content::Cid;
use crate::store::StoreError;

/// The largest block accepted in a CAR section (2 MiB, the limit IPFS peers use).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

/// The largest CAR header accepted (1 MiB; real headers are tens of bytes per root).
pub const MAX_HEADER_SIZE: usize = 1024 * 1024;

/// The largest binary CID accepted in a section (version, codec, hash code, length, digest of at
/// most 64 bytes, with room for long varints).
pub const MAX_CID_SIZE: usize = 128;

/// The largest section accepted: a CID and a block of at most [`MAX_BLOCK_SIZE`].
pub const MAX_SECTION_SIZE: usize = MAX_BLOCK_SIZE + MAX_CID_SIZE;

/// The first 11 bytes of every CARv2: a CARv1-style header `{version: 2}`.
pub const CARV2_PRAGMA: [u8; 11] = [
    0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02,
];

/// The size of the fixed CARv2 header that follows the pragma.
pub const CARV2_HEADER_SIZE: usize = 40;

/// How many missing CIDs a [`RootStatus`] lists (the count is always exact).
pub const MISSING_LISTED: usize = 5;

/// What the reader learnt from the start of a CAR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarHeader {
    /// The container version: 1 or 2.
    pub version: u64,
    /// The roots of the (inner) CARv1 header, possibly empty. Not trusted.
    pub roots: Vec<Cid>,
    /// The CARv2 header, for a CARv2.
    pub v2: Option<CarV2Header>,
}

/// The fixed 40-byte CARv2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarV2Header {
    /// The characteristics bitfield (bit 0 of the first byte: "fully indexed").
    pub characteristics: u128,
    /// Where the inner CARv1 starts, from the beginning of the file.
    pub data_offset: u64,
    /// How long the inner CARv1 is.
    pub data_size: u64,
    /// Where the index starts (0: no index).
    pub index_offset: u64,
}

/// Errors reading, writing, exporting or importing a CAR.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    /// The input has no bytes at all.
    #[error("the CAR data is empty")]
    Empty,
    /// Reading the input failed.
    #[error("failed to read CAR data at byte {offset}: {source}")]
    Read {
        /// Where in the stream.
        offset: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input ended in the middle of something.
    #[error("the CAR data ends at byte {offset} in the middle of {what}")]
    Truncated {
        /// Where the data ended.
        offset: u64,
        /// What was being read (`the header`, `section 12`, …).
        what: String,
    },
    /// The header length prefix is larger than [`MAX_HEADER_SIZE`].
    #[error("the CAR header length at byte {offset} is {len} bytes, beyond the maximum of {max}")]
    HeaderTooLarge {
        /// Where the header starts.
        offset: u64,
        /// The claimed length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The header is not a valid CAR header.
    #[error("invalid CAR header at byte {offset}: {detail}")]
    InvalidHeader {
        /// Where the header starts.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The header announces a version other than 1 (or 2 through the pragma).
    #[error("invalid car version: {0}")]
    UnsupportedVersion(u64),
    /// The 40-byte CARv2 header is inconsistent.
    #[error("invalid CARv2 header: {detail}")]
    InvalidV2Header {
        /// What is wrong.
        detail: String,
    },
    /// A section length prefix is larger than [`MAX_SECTION_SIZE`].
    #[error("CAR section {index} at byte {offset} is {len} bytes, beyond the maximum of {max} (2 MiB block + CID)")]
    SectionTooLarge {
        /// The section's position (0 = first after the header).
        index: u64,
        /// Where the section starts.
        offset: u64,
        /// The claimed length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A section is malformed (bad length varint, bad CID).
    #[error("invalid CAR section {index} at byte {offset}: {detail}")]
    InvalidSection {
        /// The section's position.
        index: u64,
        /// Where the section starts.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// Non-zero bytes follow a zero-length (padding) section.
    #[error("the CAR has non-zero data at byte {offset}, after the zero-length padding section at byte {padding_offset}")]
    DataAfterPadding {
        /// Where the padding started.
        padding_offset: u64,
        /// Where the non-zero byte is.
        offset: u64,
    },
    /// A block does not hash to its CID.
    #[error("block `{cid}` in CAR section {index} (byte {offset}) failed verification: {detail}")]
    BadBlock {
        /// The CID the section claims.
        cid: String,
        /// The section's position.
        index: u64,
        /// Where the section starts.
        offset: u64,
        /// What verification said.
        detail: String,
    },
    /// A block's CID uses a hash function trove cannot compute, so it cannot be verified.
    #[error("block `{cid}` in CAR section {index} (byte {offset}) uses multihash code 0x{code:x}, which trove cannot verify")]
    UnverifiableBlock {
        /// The CID the section claims.
        cid: String,
        /// The section's position.
        index: u64,
        /// Where the section starts.
        offset: u64,
        /// The multihash code.
        code: u64,
    },
    /// A block is larger than [`MAX_BLOCK_SIZE`] (writing or exporting).
    #[error("block `{cid}` is {len} bytes, beyond the maximum of {max}")]
    BlockTooLarge {
        /// The block's CID.
        cid: String,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Export needs a block the store does not have.
    #[error("cannot export: block `{cid}` is not in the store")]
    MissingBlock {
        /// The missing block's CID.
        cid: String,
    },
    /// The links of a verified block cannot be read.
    #[error("cannot read the links of block `{cid}`: {detail}")]
    Links {
        /// The block's CID.
        cid: String,
        /// What the codec said.
        detail: String,
    },
    /// The block store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the CAR failed.
    #[error("failed to write CAR data: {0}")]
    Write(#[source] std::io::Error),
}

impl crate::Hint for CarError {
    fn hint(&self) -> Option<String> {
        match self {
            CarError::Empty | CarError::Truncated { .. } => Some(
                "the CAR was cut short (an interrupted download?); fetch it again or try another source"
                    .into(),
            ),
            CarError::HeaderTooLarge { .. }
            | CarError::InvalidHeader { .. }
            | CarError::UnsupportedVersion(_)
            | CarError::InvalidV2Header { .. } => Some(
                "this does not look like a CARv1 or CARv2 file; check that the source serves `application/vnd.ipld.car`"
                    .into(),
            ),
            CarError::SectionTooLarge { .. } => Some(
                "a section over 2 MiB means a corrupt CAR or a block no IPFS peer would exchange; fetch it again or try another source"
                    .into(),
            ),
            CarError::BlockTooLarge { .. } => Some(
                "IPFS peers do not exchange blocks over 2 MiB; re-import the data with a smaller chunk size"
                    .into(),
            ),
            CarError::UnverifiableBlock { .. } => Some(
                "trove verifies sha2-256, sha2-512, blake2b-256 and identity multihashes; get the data with one of those"
                    .into(),
            ),
            CarError::InvalidSection { .. } | CarError::DataAfterPadding { .. } => {
                Some("the CAR is corrupt; fetch it again or try another source".into())
            }
            CarError::BadBlock { .. } => Some(
                "the source sent bytes that do not match their CID (corrupt or forged data); nothing unverified was stored, try another source"
                    .into(),
            ),
            CarError::MissingBlock { .. } => {
                Some("fetch the complete DAG into the store before exporting it".into())
            }
            CarError::Links { .. } => Some(
                "the block is intact but its format is not one trove can walk (dag-pb, raw, dag-cbor, dag-json)"
                    .into(),
            ),
            CarError::Store(e) => e.hint(),
            CarError::Read { .. } | CarError::Write(_) => None,
        }
    }
}
