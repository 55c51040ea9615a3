//! HAMT-sharded directories (UnixFS type 5): hashing names, finding the child that holds a name,
//! and building shards the way Kubo does for large directories. No IO.

use super::file::{pb_node, DagRoot};
use super::params::ImportParams;
use super::pb::{DataType, UnixfsData};
use crate::content::{Block, Cid};
use crate::dagpb::PbLink;
use std::collections::BTreeMap;
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

/// The fanout Kubo gives the HAMT directories it writes.
pub const DEFAULT_FANOUT: u64 = 256;

/// Kubo's `Internal.UnixFSShardingSizeThreshold` default: a directory becomes a HAMT once the sum
/// over its entries of `name length + binary CID length` reaches this many bytes.
pub const SHARDING_THRESHOLD: usize = 256 * 1024;

/// Kubo's size estimate of a plain directory, compared with [`SHARDING_THRESHOLD`].
pub fn estimated_dir_size<'a>(entries: impl Iterator<Item = (&'a str, &'a Cid)>) -> usize {
    entries
        .map(|(name, cid)| name.len() + cid.encoded_len())
        .sum()
}

/// One slot of a shard under construction.
enum Slot {
    Entry { name: String, root: DagRoot },
    Shard(Box<ShardBuilder>),
}

/// A HAMT shard being built: entries are placed by the bits of their name hash, one level of
/// `log2(fanout)` bits per depth; two entries in one slot push both one level down.
pub struct ShardBuilder {
    depth: usize,
    slots: BTreeMap<u64, Slot>,
}

impl ShardBuilder {
    /// An empty root shard.
    pub fn new() -> Self {
        ShardBuilder {
            depth: 0,
            slots: BTreeMap::new(),
        }
    }

    /// Adds an entry (names must be unique; the caller checks).
    pub fn insert(&mut self, name: String, root: DagRoot) {
        let hash = hash_name(&name);
        self.insert_hashed(name, hash, root);
    }

    fn insert_hashed(&mut self, name: String, hash: [u8; 8], root: DagRoot) {
        let index = index_at(&hash, self.depth, DEFAULT_FANOUT)
            .expect("64 hash bits cover 8 levels of a 256-way HAMT");
        match self.slots.remove(&index) {
            None => {
                self.slots.insert(index, Slot::Entry { name, root });
            }
            Some(Slot::Shard(mut child)) => {
                child.insert_hashed(name, hash, root);
                self.slots.insert(index, Slot::Shard(child));
            }
            Some(Slot::Entry {
                name: other,
                root: other_root,
            }) => {
                let mut child = Box::new(ShardBuilder {
                    depth: self.depth + 1,
                    slots: BTreeMap::new(),
                });
                let other_hash = hash_name(&other);
                child.insert_hashed(other, other_hash, other_root);
                child.insert_hashed(name, hash, root);
                self.slots.insert(index, Slot::Shard(child));
            }
        }
    }

    /// Writes this shard and every shard below it (children first, through `emit`) and returns
    /// the root.
    pub fn finish(self, params: &ImportParams, emit: &mut impl FnMut(Block)) -> DagRoot {
        let pad = prefix_len(DEFAULT_FANOUT);
        let mut bitfield = vec![0u8; (DEFAULT_FANOUT / 8) as usize];
        let mut links = Vec::with_capacity(self.slots.len());
        let mut content = 0;
        for (index, slot) in self.slots {
            let last = bitfield.len() - 1;
            bitfield[last - (index / 8) as usize] |= 1 << (index % 8);
            let prefix = format!("{index:0pad$X}");
            let (name, child) = match slot {
                Slot::Entry { name, root } => (format!("{prefix}{name}"), root),
                Slot::Shard(shard) => (prefix, shard.finish(params, emit)),
            };
            content += child.content_size;
            links.push(PbLink {
                hash: child.cid,
                name: Some(name),
                tsize: Some(child.dag_size),
            });
        }
        // The bitfield is written as a big-endian number without leading zero bytes.
        let first = bitfield
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bitfield.len());
        let mut data = UnixfsData::new(DataType::HamtShard);
        data.data = Some(bitfield[first..].to_vec());
        data.hash_type = Some(MURMUR3_X64_64);
        data.fanout = Some(DEFAULT_FANOUT);
        let (root, block) = pb_node(params, links, &data, content);
        emit(block);
        root
    }
}

impl Default for ShardBuilder {
    fn default() -> Self {
        Self::new()
    }
}
