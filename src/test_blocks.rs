//! Small blocks for unit tests (compiled only for tests).

use crate::content::{cid_of, Block, HashCode, DAG_PB, RAW};
use crate::dagpb::{PbLink, PbNode};

/// A CIDv1 raw block holding `data`.
pub(crate) fn raw(data: &[u8]) -> Block {
    Block::encode(
        cid_of(cid::Version::V1, RAW, HashCode::Sha2_256, data),
        data.to_vec(),
    )
}

/// A CIDv0 dag-pb UnixFS directory node linking to `children` (unnamed links).
pub(crate) fn node(children: &[&Block]) -> Block {
    let pb = PbNode {
        links: children
            .iter()
            .map(|c| PbLink {
                hash: *c.cid(),
                name: Some(String::new()),
                tsize: Some(c.data().len() as u64),
            })
            .collect(),
        data: Some(vec![8, 1]),
    };
    let data = pb.encode();
    Block::encode(
        cid_of(cid::Version::V0, DAG_PB, HashCode::Sha2_256, &data),
        data,
    )
}

/// `len` pseudo-random bytes (xorshift64 from `seed`, which must not be 0).
pub(crate) fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
