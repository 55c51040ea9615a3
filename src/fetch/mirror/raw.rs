//! A mirror that serves the artifact's raw file: the file is imported with the registry
//! entry's UnixFS parameters, first only hashing (the parents are kept, the leaves are not), and
//! when the CID matches, its blocks are written as a CARv1 in `ipfs dag export` order by
//! re-reading the leaves from the file as the walk reaches them.

use super::same_block;
use crate::car::CarWriter;
use crate::content::{Block, Cid};
use crate::import::{import_reader, BlockSink};
use crate::store::StoreError;
use crate::unixfs::{make_leaf, ImportParams};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

/// What the hashing pass learnt about a raw file: its root and its parent nodes (small: one per
/// `max_links` leaves), enough to write the DAG in depth-first order by re-reading the leaves.
pub(super) struct RawPlan {
    pub(super) root: Cid,
    /// Every block the importer emitted without leaves: the parents (and the empty leaf of an
    /// empty file).
    parents: HashMap<Cid, Block>,
    /// Where each leaf starts in the file, and its length, in file order (content-defined
    /// chunks have sizes of their own).
    leaves: Vec<(u64, u64)>,
}

/// Records the size of each leaf as the importer reports it, in file order.
struct LeafSizes(Mutex<Vec<u64>>);

impl crate::progress::Reporter for LeafSizes {
    fn report(&self, event: crate::progress::Event<'_>) {
        if let crate::progress::Event::Bytes(n) = event {
            self.0.lock().expect("sizes lock").push(n);
        }
    }
}

/// A sink that keeps the blocks the importer emits when it only hashes leaves: the parents.
struct KeepParents(Mutex<HashMap<Cid, Block>>);

impl BlockSink for KeepParents {
    fn accept(&self, block: Block) -> Result<(), StoreError> {
        self.0
            .lock()
            .expect("sink lock")
            .insert(*block.cid(), block);
        Ok(())
    }

    fn wants_blocks(&self) -> bool {
        false
    }
}

impl RawPlan {
    /// Imports the file only hashing its leaves.
    pub(super) fn hash(
        path: &Path,
        params: &ImportParams,
    ) -> Result<RawPlan, crate::import::ImportError> {
        let file =
            std::fs::File::open(path).map_err(|source| crate::import::ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let sink = KeepParents(Mutex::new(HashMap::new()));
        let sizes = LeafSizes(Mutex::new(Vec::new()));
        let root = import_reader(file, path, params, &sink, &sizes)?;
        let mut offset = 0;
        let leaves = sizes
            .0
            .into_inner()
            .expect("sizes lock")
            .into_iter()
            .map(|len| {
                let leaf = (offset, len);
                offset += len;
                leaf
            })
            .collect();
        Ok(RawPlan {
            root: root.cid,
            parents: sink.0.into_inner().expect("sink lock"),
            leaves,
        })
    }

    /// Whether `cid` is the root or any block of the DAG.
    pub(super) fn contains(&self, cid: &Cid) -> bool {
        same_block(&self.root, cid)
            || self.parents.keys().any(|p| same_block(p, cid))
            || self.parents.values().any(|b| {
                crate::dag::links(b.cid(), b.data())
                    .map(|links| links.iter().any(|l| same_block(l, cid)))
                    .unwrap_or(false)
            })
    }

    /// Writes the sub-DAG under `target` as a CARv1 with root `target`, depth-first pre-order,
    /// each block once; leaves are cut from the file at `path`.
    pub(super) fn write_car(
        &self,
        path: &Path,
        params: &ImportParams,
        target: &Cid,
        out: impl Write,
    ) -> Result<(), String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
        let car = CarWriter::new(out, &[*target]).map_err(|e| e.to_string())?;
        let mut walk = Walk {
            plan: self,
            params,
            target,
            file,
            pos: 0,
            next_leaf: 0,
            written: HashSet::new(),
            car,
        };
        walk.visit(&self.root, false)?;
        walk.car.finish().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The depth-first walk of [`RawPlan::write_car`].
struct Walk<'a, W: Write> {
    plan: &'a RawPlan,
    params: &'a ImportParams,
    target: &'a Cid,
    file: std::fs::File,
    /// Where the file is positioned.
    pos: u64,
    /// The index of the next leaf in file order.
    next_leaf: u64,
    written: HashSet<Cid>,
    car: CarWriter<W>,
}

impl<W: Write> Walk<'_, W> {
    fn visit(&mut self, cid: &Cid, inside: bool) -> Result<(), String> {
        let is_target = same_block(cid, self.target);
        let inside = inside || is_target;
        // The target is written under the CID asked for (same block, maybe another version).
        let name = if is_target { *self.target } else { *cid };
        if let Some(block) = self.plan.parents.get(cid) {
            if inside && self.written.insert(name) {
                self.car
                    .write_section(&name, block.data())
                    .map_err(|e| e.to_string())?;
            }
            let links = crate::dag::links(cid, block.data()).map_err(|e| e.to_string())?;
            for child in links {
                self.visit(&child, inside)?;
            }
            return Ok(());
        }
        let index = self.next_leaf;
        self.next_leaf += 1;
        if !inside || self.written.contains(&name) {
            return Ok(());
        }
        let chunk = self.read_chunk(index)?;
        let leaf = make_leaf(self.params, chunk, true);
        if leaf.root.cid != *cid {
            return Err(format!(
                "leaf {index} of the file is `{}`, not `{cid}`: the file changed while it was read",
                leaf.root.cid
            ));
        }
        let block = leaf.block.expect("the block was asked for");
        self.car
            .write_section(&name, block.data())
            .map_err(|e| e.to_string())?;
        self.written.insert(name);
        Ok(())
    }

    fn read_chunk(&mut self, index: u64) -> Result<Vec<u8>, String> {
        let (offset, size) = *self
            .plan
            .leaves
            .get(index as usize)
            .ok_or_else(|| format!("the DAG has more leaves than the file ({index})"))?;
        if offset != self.pos {
            self.file
                .seek(SeekFrom::Start(offset))
                .map_err(|e| format!("cannot seek in the download: {e}"))?;
        }
        let mut chunk = Vec::with_capacity(size as usize);
        (&mut self.file)
            .take(size)
            .read_to_end(&mut chunk)
            .map_err(|e| format!("cannot read the download: {e}"))?;
        self.pos = offset + chunk.len() as u64;
        Ok(chunk)
    }
}
