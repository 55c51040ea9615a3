//! Codec-independent view of a block: which CIDs it links to.

use crate::content::{Cid, DAG_CBOR, DAG_JSON, DAG_PB, LIBP2P_KEY, RAW};
use crate::dagpb::{DagPbError, PbNode};

/// Why the links of a block could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    /// A dag-pb block is malformed.
    #[error(transparent)]
    DagPb(#[from] DagPbError),
    /// A dag-cbor or dag-json block is malformed.
    #[error("invalid {codec} block: {detail}")]
    Codec {
        /// The codec name.
        codec: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A codec trove cannot read links from.
    #[error("cannot read links of a block with codec 0x{0:x}")]
    UnsupportedCodec(u64),
}

/// The CIDs that the block `data` (named by `cid`) links to, in the order they appear.
pub fn links(cid: &Cid, data: &[u8]) -> Result<Vec<Cid>, DagError> {
    match cid.codec() {
        DAG_PB => Ok(PbNode::decode(data)?
            .links
            .into_iter()
            .map(|l| l.hash)
            .collect()),
        RAW | LIBP2P_KEY => Ok(Vec::new()),
        DAG_CBOR => crate::cbor::links(data).map_err(|detail| DagError::Codec {
            codec: "dag-cbor",
            detail,
        }),
        DAG_JSON => crate::cbor::json_links(data).map_err(|detail| DagError::Codec {
            codec: "dag-json",
            detail,
        }),
        other => Err(DagError::UnsupportedCodec(other)),
    }
}
