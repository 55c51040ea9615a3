//! Multihash computation and verification.

use super::{Cid, Multihash};
use sha2::Digest;

/// The multihash functions trove can compute and check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashCode {
    /// `identity` (0x00): the digest is the data itself.
    Identity,
    /// `sha2-256` (0x12): what Kubo and every IPFS implementation use by default.
    Sha2_256,
    /// `sha2-512` (0x13).
    Sha2_512,
    /// `blake2b-256` (0xb220): used by Filecoin chain data.
    Blake2b256,
}

impl HashCode {
    /// The multicodec code of this hash function.
    pub fn code(self) -> u64 {
        match self {
            HashCode::Identity => 0x00,
            HashCode::Sha2_256 => 0x12,
            HashCode::Sha2_512 => 0x13,
            HashCode::Blake2b256 => 0xb220,
        }
    }

    /// Looks up a multihash code; `None` for hash functions trove cannot check.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0x00 => Some(HashCode::Identity),
            0x12 => Some(HashCode::Sha2_256),
            0x13 => Some(HashCode::Sha2_512),
            0xb220 => Some(HashCode::Blake2b256),
            _ => None,
        }
    }

    /// The multihash name, as in the multicodec table.
    pub fn name(self) -> &'static str {
        match self {
            HashCode::Identity => "identity",
            HashCode::Sha2_256 => "sha2-256",
            HashCode::Sha2_512 => "sha2-512",
            HashCode::Blake2b256 => "blake2b-256",
        }
    }
}

/// Hashes `data` into a multihash.
///
/// # Panics
/// For [`HashCode::Identity`] when `data` is longer than 64 bytes (the largest digest a CID here
/// can hold); importers never inline such data.
pub fn hash_bytes(code: HashCode, data: &[u8]) -> Multihash {
    hash_parts(code, &[data])
}

/// Hashes the concatenation of `parts` without building it (an encoder can hash a header, the
/// payload and a trailer in place).
///
/// # Panics
/// As [`hash_bytes`], for identity hashes of more than 64 bytes.
pub fn hash_parts(code: HashCode, parts: &[&[u8]]) -> Multihash {
    let digest: Vec<u8> = match code {
        HashCode::Identity => parts.concat(),
        HashCode::Sha2_256 => {
            let mut h = sha2::Sha256::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        }
        HashCode::Sha2_512 => {
            let mut h = sha2::Sha512::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        }
        HashCode::Blake2b256 => {
            use blake2::digest::{Update, VariableOutput};
            let mut hasher = blake2::Blake2bVar::new(32).expect("32 is a valid blake2b length");
            for p in parts {
                hasher.update(p);
            }
            let mut out = vec![0u8; 32];
            hasher
                .finalize_variable(&mut out)
                .expect("output buffer has the requested length");
            out
        }
    };
    Multihash::wrap(code.code(), &digest).expect("digest fits in 64 bytes")
}

/// The shortest (truncated) digest trove accepts for a cryptographic hash, as Kubo's `verifcid`.
pub const MIN_DIGEST_BYTES: usize = 20;

/// Why bytes do not match a CID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes hash to something else.
    #[error("block `{cid}` failed verification: its bytes hash to `{actual}`")]
    Mismatch {
        /// The CID that was asked for.
        cid: String,
        /// The multihash (hex) the bytes actually have.
        actual: String,
    },
    /// The CID uses a hash function trove cannot compute.
    #[error("block `{cid}` uses multihash code 0x{code:x}, which trove cannot verify")]
    UnsupportedHash {
        /// The CID that was asked for.
        cid: String,
        /// The multihash code.
        code: u64,
    },
}

/// Checks that `data` hashes to `cid`'s multihash (for identity CIDs: that `data` is the digest).
pub fn verify(cid: &Cid, data: &[u8]) -> Result<(), VerifyError> {
    let expected = cid.hash();
    let Some(code) = HashCode::from_code(expected.code()) else {
        return Err(VerifyError::UnsupportedHash {
            cid: cid.to_string(),
            code: expected.code(),
        });
    };
    let ok = match code {
        HashCode::Identity => expected.digest() == data,
        _ => {
            let actual = hash_bytes(code, data);
            // A truncated multihash (digest shorter than the function's output) is compared on
            // its prefix, as the multihash spec allows, but never below 20 bytes: shorter digests
            // are forgeable, and Kubo refuses them too.
            let size = expected.digest().len();
            size >= MIN_DIGEST_BYTES
                && actual.digest().len() >= size
                && actual.digest()[..size] == *expected.digest()
        }
    };
    if ok {
        Ok(())
    } else {
        let actual = if code == HashCode::Identity {
            format!("{} bytes of other data", data.len())
        } else {
            hex(hash_bytes(code, data).digest())
        };
        Err(VerifyError::Mismatch {
            cid: cid.to_string(),
            actual,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_matches_known_raw_cid() {
        let cid = Cid::new_v1(0x55, hash_bytes(HashCode::Sha2_256, b""));
        assert_eq!(
            cid.to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert!(verify(&cid, b"").is_ok());
        assert!(verify(&cid, b"x").is_err());
    }

    #[test]
    fn identity_cid_verifies_its_digest() {
        let cid = Cid::new_v1(0x55, hash_bytes(HashCode::Identity, b""));
        assert_eq!(cid.to_string(), "bafkqaaa");
        assert!(verify(&cid, b"").is_ok());
        assert!(verify(&cid, b"a").is_err());
    }
}
