//! DAG-level CAR operations: export a DAG from a store, import a CAR into a store, and check that
//! a DAG is complete.

use super::{CarError, CarReader, CarWriter, MISSING_LISTED};
use crate::content::{is_inline, Block, Cid};
use crate::store::{BlockGetter, BlockPutter};
use std::collections::HashSet;
use std::io::{BufWriter, Read, Write};

/// The multicodec `identity` (0x00): bytes with no structure, like raw.
const IDENTITY_CODEC: u64 = 0x00;

/// What [`export_dag`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The root written in the header.
    pub root: Cid,
    /// Sections written (distinct blocks, identity CIDs excluded).
    pub blocks: u64,
    /// Bytes written, header included.
    pub bytes: u64,
}

/// Whether the DAG under one root is complete in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootStatus {
    /// The root.
    pub root: Cid,
    /// Distinct blocks reachable from the root that are present (identity CIDs included).
    pub blocks: u64,
    /// Distinct blocks linked from present blocks (or the root itself) that are absent.
    pub missing: u64,
    /// The first [`MISSING_LISTED`] missing CIDs, in walk order.
    pub first_missing: Vec<Cid>,
}

impl RootStatus {
    /// `true` when no block is missing.
    pub fn is_complete(&self) -> bool {
        self.missing == 0
    }
}

/// What [`import_car`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The CAR container version (1 or 2).
    pub version: u64,
    /// One entry per header root, in header order.
    pub roots: Vec<RootStatus>,
    /// Sections read (every one verified).
    pub sections: u64,
    /// Blocks that were new to the store.
    pub stored: u64,
    /// Sections whose block the store already had (including repeats within the CAR).
    pub already_present: u64,
    /// Sections with identity-hash CIDs: verified, not stored (the CID holds the bytes).
    pub inline: u64,
    /// Block bytes read (CIDs and framing excluded).
    pub block_bytes: u64,
}

impl ImportSummary {
    /// `true` when every header root's DAG is complete. A CAR without roots claims nothing and
    /// counts as complete: callers that need a particular DAG check it with [`check_dag`].
    pub fn is_complete(&self) -> bool {
        self.roots.iter().all(RootStatus::is_complete)
    }

    /// Total missing blocks over all roots (a block missing under two roots counts twice).
    pub fn missing(&self) -> u64 {
        self.roots.iter().map(|r| r.missing).sum()
    }
}

/// Writes the DAG under `root` as a CARv1 with `root` as its only root, in `ipfs dag export`
/// order: depth-first pre-order from the root, children in link order, each CID once.
/// Identity-hash CIDs are not written (they carry their bytes) but their links are followed.
/// A block the store does not have is an error naming it. `out` is buffered internally and
/// flushed at the end.
pub fn export_dag<G, W>(getter: &G, root: &Cid, out: W) -> Result<ExportSummary, CarError>
where
    G: BlockGetter + ?Sized,
    W: Write,
{
    let mut writer = CarWriter::new(BufWriter::with_capacity(256 * 1024, out), &[*root])?;
    walk(getter, root, |cid, node| match node {
        Node::Inline(data) => Ok(Some(data)),
        Node::Stored(block) => {
            writer.write_block(&block)?;
            Ok(Some(block.into_data()))
        }
        Node::Missing => Err(CarError::MissingBlock {
            cid: cid.to_string(),
        }),
    })?;
    let blocks = writer.blocks_written();
    let bytes = writer.bytes_written();
    writer.finish()?;
    Ok(ExportSummary {
        root: *root,
        blocks,
        bytes,
    })
}

/// Imports a CARv1 or CARv2 into `store`, streaming: every block is verified against its CID
/// before it is stored (a mismatch aborts the import with an error naming the CID; blocks stored
/// before it are valid ones). Blocks may come in any order and repeat. Header roots are not
/// trusted: after the last section, the DAG under each root is walked through the store and
/// reported as complete or with its missing blocks.
pub fn import_car<R, S>(input: R, store: &S) -> Result<ImportSummary, CarError>
where
    R: Read,
    S: BlockGetter + BlockPutter + ?Sized,
{
    let mut reader = CarReader::new(input)?;
    let mut summary = ImportSummary {
        version: reader.version(),
        roots: Vec::new(),
        sections: 0,
        stored: 0,
        already_present: 0,
        inline: 0,
        block_bytes: 0,
    };
    while let Some(block) = reader.next_block()? {
        summary.sections += 1;
        summary.block_bytes += block.data().len() as u64;
        if is_inline(block.cid()) {
            summary.inline += 1;
        } else if store.put_block(&block)? {
            summary.stored += 1;
        } else {
            summary.already_present += 1;
        }
    }
    for root in reader.roots() {
        summary.roots.push(check_dag(store, root)?);
    }
    Ok(summary)
}

/// Walks the DAG under `root` through `getter` (depth-first, each CID once) and reports which
/// blocks are present and which are missing. The walk cannot see below a missing block, so the
/// missing count is what is needed *next*, not the size of what is absent. A present block whose
/// links cannot be read is an error.
pub fn check_dag<G>(getter: &G, root: &Cid) -> Result<RootStatus, CarError>
where
    G: BlockGetter + ?Sized,
{
    let mut status = RootStatus {
        root: *root,
        blocks: 0,
        missing: 0,
        first_missing: Vec::new(),
    };
    walk(getter, root, |cid, node| {
        let data = match node {
            Node::Inline(data) => data,
            Node::Stored(block) => block.into_data(),
            Node::Missing => {
                status.missing += 1;
                if status.first_missing.len() < MISSING_LISTED {
                    status.first_missing.push(cid);
                }
                return Ok(None);
            }
        };
        status.blocks += 1;
        Ok(Some(data))
    })?;
    Ok(status)
}

/// A node met by [`walk`].
enum Node {
    /// An identity-hash CID: its bytes are in the CID, there is no block to read.
    Inline(Vec<u8>),
    /// A block of the store.
    Stored(Block),
    /// A block the store does not have.
    Missing,
}

/// Walks the DAG under `root` through `getter` depth-first in pre-order, children in link order,
/// each CID once (the `ipfs dag export` order). `visit` sees every CID and returns the bytes
/// whose links to follow next, or `None` to not go below it.
fn walk<G>(
    getter: &G,
    root: &Cid,
    mut visit: impl FnMut(Cid, Node) -> Result<Option<Vec<u8>>, CarError>,
) -> Result<(), CarError>
where
    G: BlockGetter + ?Sized,
{
    let mut seen: HashSet<Cid> = HashSet::new();
    let mut stack = vec![*root];
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        let node = if is_inline(&cid) {
            Node::Inline(cid.hash().digest().to_vec())
        } else {
            getter.get_block(&cid)?.map_or(Node::Missing, Node::Stored)
        };
        let Some(data) = visit(cid, node)? else {
            continue;
        };
        let children = links_of(&cid, &data)?;
        stack.extend(children.into_iter().rev().filter(|c| !seen.contains(c)));
    }
    Ok(())
}

/// [`crate::dag::links`], plus the `identity` codec (plain bytes, no links).
fn links_of(cid: &Cid, data: &[u8]) -> Result<Vec<Cid>, CarError> {
    if cid.codec() == IDENTITY_CODEC {
        return Ok(Vec::new());
    }
    crate::dag::links(cid, data).map_err(|e| CarError::Links {
        cid: cid.to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{cid_of, HashCode, RAW};
    use crate::store::MemoryStore;
    use crate::test_blocks::{node, raw};

    #[test]
    fn car_export_is_preorder_each_block_once_and_import_checks_completeness() {
        let a = raw(b"a");
        let b = raw(b"b");
        let inline = Block::encode(
            cid_of(cid::Version::V1, RAW, HashCode::Identity, b"tiny"),
            b"tiny".to_vec(),
        );
        let left = node(&[&a, &b]);
        let right = node(&[&b, &inline, &a]);
        let root = node(&[&left, &right, &a]);
        let store = MemoryStore::new();
        for blk in [&a, &b, &left, &right, &root] {
            store.put_block(blk).unwrap();
        }
        let mut out = Vec::new();
        let summary = export_dag(&store, root.cid(), &mut out).unwrap();
        assert_eq!(summary.blocks, 5);
        assert_eq!(summary.bytes, out.len() as u64);
        let order: Vec<Cid> = CarReader::new(&out[..])
            .unwrap()
            .blocks()
            .map(|b| *b.unwrap().cid())
            .collect();
        assert_eq!(
            order,
            vec![*root.cid(), *left.cid(), *a.cid(), *b.cid(), *right.cid()]
        );

        let fresh = MemoryStore::new();
        let imported = import_car(&out[..], &fresh).unwrap();
        assert_eq!((imported.sections, imported.stored), (5, 5));
        assert!(imported.is_complete());
        assert_eq!(imported.roots[0].blocks, 6, "5 stored + 1 inline");

        // Drop `b` and `left`'s other child stays: b is missing once.
        let partial = MemoryStore::new();
        for blk in [&a, &left, &right, &root] {
            partial.put_block(blk).unwrap();
        }
        let status = check_dag(&partial, root.cid()).unwrap();
        assert_eq!(status.missing, 1);
        assert_eq!(status.first_missing, vec![*b.cid()]);
        let err = export_dag(&partial, root.cid(), Vec::new()).unwrap_err();
        assert!(err.to_string().contains(&b.cid().to_string()), "{err}");
    }
}
