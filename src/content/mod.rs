//! Content identifiers: parsing and printing CIDs, hashing, and verifying bytes against a CID.
//!
//! This is the trust anchor of the whole crate: a [`Block`] can only be built from bytes that were
//! hashed here, either because we produced them ([`Block::encode`]) or because we checked them
//! against the CID that was asked for ([`Block::verified`]).

mod block;
mod hash;

pub use block::Block;
pub use cid::Cid;
pub use hash::{hash_bytes, hash_parts, verify, HashCode, VerifyError};

/// The multicodec of a dag-pb (UnixFS) node.
pub const DAG_PB: u64 = 0x70;
/// The multicodec of a raw block (bytes with no structure).
pub const RAW: u64 = 0x55;
/// The multicodec of a dag-cbor node.
pub const DAG_CBOR: u64 = 0x71;
/// The multicodec of a dag-json node.
pub const DAG_JSON: u64 = 0x0129;
/// The multicodec of a libp2p public key (used in IPNS names, never fetched as content).
pub const LIBP2P_KEY: u64 = 0x72;

/// The multihash of a `Cid`.
pub type Multihash = cid::multihash::Multihash<64>;

/// Errors about CID syntax.
#[derive(Debug, thiserror::Error)]
pub enum CidError {
    /// The text is not a CID in any base we know.
    #[error("`{text}` is not a valid CID: {reason}")]
    Invalid {
        /// The text that was given.
        text: String,
        /// What the decoder said.
        reason: String,
    },
    /// Binary CID bytes could not be decoded.
    #[error("invalid binary CID: {0}")]
    InvalidBytes(String),
}

impl crate::Hint for CidError {
    fn hint(&self) -> Option<String> {
        match self {
            CidError::Invalid { .. } => Some(
                "copy the CID whole (a CIDv0 is 46 characters starting with `Qm`; a CIDv1 usually starts with `bafy` or `bafk`), or name an artifact by its registry ID (`trove list`)".into(),
            ),
            CidError::InvalidBytes(_) => None,
        }
    }
}

/// Parses a CID in any multibase Kubo accepts (CIDv0 base58btc `Qm…`, CIDv1 `bafy…`, `z…`,
/// `k…`, `m…`, `B…`, …). Surrounding whitespace is ignored.
///
/// Follows the CID spec's decoding algorithm strictly: a 46-character `Qm…` string is a CIDv0
/// (base58btc, no multibase prefix); anything else is a multibase string whose bytes must be
/// exactly one CIDv1 (a multibase-prefixed CIDv0, trailing bytes, or a `/ipfs/…` path are errors).
/// Base32 and base36 decoding is case-insensitive, as multibase requires.
pub fn parse_cid(text: &str) -> Result<Cid, CidError> {
    let trimmed = text.trim();
    let invalid = |reason: String| CidError::Invalid {
        text: trimmed.to_string(),
        reason,
    };
    if trimmed.is_empty() {
        return Err(CidError::Invalid {
            text: text.to_string(),
            reason: "it is empty".to_string(),
        });
    }
    let is_v0_text = trimmed.len() == 46 && trimmed.starts_with("Qm");
    if trimmed.starts_with("Qm") && !is_v0_text {
        return Err(invalid(format!(
            "a CIDv0 (`Qm…`) is 46 characters long, not {}",
            trimmed.chars().count()
        )));
    }
    let bytes = if is_v0_text {
        multibase::Base::Base58Btc
            .decode(trimmed)
            .map_err(|e| invalid(format!("not base58btc: {e}")))?
    } else {
        let (_, bytes) = multibase::decode(trimmed)
            .map_err(|e| invalid(format!("not a multibase string: {e}")))?;
        if bytes.first() == Some(&0x12) {
            return Err(invalid(
                "a CIDv0 must not carry a multibase prefix".to_string(),
            ));
        }
        bytes
    };
    let cid = cid_from_bytes(&bytes).map_err(|e| invalid(e.to_string()))?;
    if is_v0_text != (cid.version() == cid::Version::V0) {
        return Err(invalid(
            "a `Qm…` string of 46 characters must be a CIDv0".to_string(),
        ));
    }
    Ok(cid)
}

/// Parses a binary CID (as found in dag-pb links and CAR sections) that must fill `bytes` exactly.
pub fn cid_from_bytes(bytes: &[u8]) -> Result<Cid, CidError> {
    let mut reader = bytes;
    let cid = Cid::read_bytes(&mut reader).map_err(|e| CidError::InvalidBytes(e.to_string()))?;
    if !reader.is_empty() {
        return Err(CidError::InvalidBytes(format!(
            "{} trailing byte(s) after the CID",
            reader.len()
        )));
    }
    Ok(cid)
}

/// Prints a CID the way Kubo does: CIDv0 in base58btc, CIDv1 in lower-case base32.
pub fn format_cid(cid: &Cid) -> String {
    cid.to_string()
}

/// Prints a CID in the given multibase (CIDv0 can only be printed in base58btc; it is converted
/// to CIDv1 for any other base, as `ipfs cid format -b` does).
pub fn format_cid_in(cid: &Cid, base: multibase::Base) -> String {
    if cid.version() == cid::Version::V0 {
        if base == multibase::Base::Base58Btc {
            return cid.to_string();
        }
        let v1 = Cid::new_v1(cid.codec(), *cid.hash());
        return v1
            .to_string_of_base(base)
            .unwrap_or_else(|_| v1.to_string());
    }
    cid.to_string_of_base(base)
        .unwrap_or_else(|_| cid.to_string())
}

/// A short, human name for a codec, for messages (`dag-pb`, `raw`, …).
pub fn codec_name(codec: u64) -> String {
    match codec {
        DAG_PB => "dag-pb".into(),
        RAW => "raw".into(),
        DAG_CBOR => "dag-cbor".into(),
        DAG_JSON => "dag-json".into(),
        LIBP2P_KEY => "libp2p-key".into(),
        other => format!("codec 0x{other:x}"),
    }
}

/// Builds the CID of `data` with the given version, codec and hash function.
///
/// CIDv0 is only possible for dag-pb with sha2-256; anything else is printed as CIDv1 by Kubo, and
/// so here (Kubo's `--cid-version 0 --raw-leaves` makes CIDv1 raw leaves under CIDv0 parents).
pub fn cid_of(version: cid::Version, codec: u64, code: HashCode, data: &[u8]) -> Cid {
    cid_of_parts(version, codec, code, &[data])
}

/// [`cid_of`] for bytes given in pieces (hashed in place, never joined).
pub fn cid_of_parts(version: cid::Version, codec: u64, code: HashCode, parts: &[&[u8]]) -> Cid {
    let mh = hash_parts(code, parts);
    if version == cid::Version::V0 && codec == DAG_PB && code == HashCode::Sha2_256 {
        Cid::new_v0(mh).expect("sha2-256 multihash is a valid CIDv0")
    } else {
        Cid::new_v1(codec, mh)
    }
}

/// The key a block is stored under: its multihash, so that CIDv0 and CIDv1 (or different codecs)
/// naming the same bytes share one stored copy.
pub fn multihash_key(cid: &Cid) -> Vec<u8> {
    cid.hash().to_bytes()
}

/// `true` for CIDs whose bytes live inside the CID itself (identity multihash): such a block is
/// never fetched or stored, its data is its digest.
pub fn is_inline(cid: &Cid) -> bool {
    cid.hash().code() == HashCode::Identity.code()
}
