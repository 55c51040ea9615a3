//! A block whose bytes are known to match its CID.

use super::{hash::VerifyError, verify, Cid};

/// Bytes together with the CID they hash to. The constructors are the only way to make one, so
/// holding a `Block` means the bytes were checked (or produced) against the CID.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    cid: Cid,
    data: Vec<u8>,
}

impl Block {
    /// Checks `data` against `cid` and wraps them if they match.
    pub fn verified(cid: Cid, data: Vec<u8>) -> Result<Self, VerifyError> {
        verify(&cid, &data)?;
        Ok(Block { cid, data })
    }

    /// Wraps bytes whose CID was just computed from them (an importer or encoder). Only call this
    /// with a CID produced by [`super::cid_of`] or [`super::hash_bytes`] over exactly `data`.
    pub fn encode(cid: Cid, data: Vec<u8>) -> Self {
        debug_assert!(
            verify(&cid, &data).is_ok(),
            "Block::encode with a wrong CID"
        );
        Block { cid, data }
    }

    /// Wraps bytes read back from a store that verified them against `cid` when it wrote them
    /// earlier in this process (see `FsStore`). Not for bytes from anywhere else.
    pub(crate) fn reread(cid: Cid, data: Vec<u8>) -> Self {
        debug_assert!(
            verify(&cid, &data).is_ok(),
            "Block::reread of changed bytes"
        );
        Block { cid, data }
    }

    /// The block's CID.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The block's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the bytes out.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("cid", &self.cid.to_string())
            .field("len", &self.data.len())
            .finish()
    }
}
