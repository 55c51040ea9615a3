//! HAMT-sharded directories (UnixFS type 5): hashing names and finding the child that holds a
//! name. No IO.

use std::io::Cursor;

/// The multihash code of the HAMT hash function UnixFS uses (murmur3-x64-64).
pub const MURMUR3_X64_64: u64 = 0x22;

/// The 64-bit murmur3 hash of a name, as go-unixfs computes it (the first half of
/// murmur3-x64-128 with seed 0), as big-endian bytes.
pub fn hash_name(name: &str) -> [u8; 8] {
    let full = murmur3::murmur3_x64_128(&mut Cursor::new(name.as_bytes()), 0)
        .expect("reading from memory cannot fail");
    let h1 = full as u64;
    h1.to_be_bytes()
}

/// How many hex digits prefix each link name for a given fanout (2 for 256).
pub fn prefix_len(fanout: u64) -> usize {
    format!("{:X}", fanout.saturating_sub(1)).len()
}

/// The bits of a 64-bit hash used as the child index at `depth`, for a power-of-two fanout.
/// `None` once the hash is used up.
pub fn index_at(hash: &[u8; 8], depth: usize, fanout: u64) -> Option<u64> {
    let width = fanout.trailing_zeros() as usize;
    let start = depth * width;
    if width == 0 || start + width > 64 {
        return None;
    }
    let value = u64::from_be_bytes(*hash);
    Some((value >> (64 - start - width)) & ((1u64 << width) - 1))
}

/// Checks the fanout a HAMT node declares: a power of two between 2 and 1024.
pub fn check_fanout(fanout: u64) -> Result<(), String> {
    if fanout.is_power_of_two() && (2..=1024).contains(&fanout) {
        Ok(())
    } else {
        Err(format!(
            "HAMT fanout {fanout} is not a power of two in 2..=1024"
        ))
    }
}
