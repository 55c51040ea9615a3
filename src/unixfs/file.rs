//! Building a UnixFS file DAG in Kubo's balanced layout, one chunk at a time. No IO: the caller
//! cuts chunks, turns each into a leaf with [`leaf_block`] (pure, so leaves can be hashed on
//! several threads) and pushes them in order; parent blocks come out through a callback.

use super::pb::{DataType, UnixfsData};
use super::params::ImportParams;
use crate::content::{cid_of, Block, Cid, DAG_PB, RAW};
use crate::dagpb::{PbLink, PbNode};

/// A finished (sub)DAG: its root and sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagRoot {
    /// Root CID.
    pub cid: Cid,
    /// Bytes of file content under it.
    pub content_size: u64,
    /// Encoded size of every block under it, root included (a link's `Tsize`).
    pub dag_size: u64,
}

/// The leaf block for one chunk, with the given parameters.
pub fn leaf_block(params: &ImportParams, chunk: &[u8]) -> Block {
    if params.raw_leaves {
        let cid = cid_of(cid::Version::V1, RAW, params.hash, chunk);
        return Block::encode(cid, chunk.to_vec());
    }
    let mut data = UnixfsData::new(DataType::File);
    if !chunk.is_empty() {
        data.data = Some(chunk.to_vec());
    }
    data.filesize = Some(chunk.len() as u64);
    let node = PbNode {
        links: Vec::new(),
        data: Some(data.encode()),
    };
    let bytes = node.encode();
    let cid = cid_of(params.cid_version, DAG_PB, params.hash, &bytes);
    Block::encode(cid, bytes)
}

/// Streams leaves into a balanced tree of at most `max_links` children per node.
#[derive(Debug)]
pub struct FileBuilder {
    params: ImportParams,
    /// `levels[0]` holds leaves not yet under a parent, `levels[1]` parents of leaves, …
    levels: Vec<Vec<DagRoot>>,
}

impl FileBuilder {
    /// A builder for one file.
    pub fn new(params: ImportParams) -> Self {
        FileBuilder {
            params,
            levels: vec![Vec::new()],
        }
    }

    /// Adds the next leaf (made by [`leaf_block`] from a chunk of `content_len` bytes); parents
    /// that become full are passed to `emit`.
    pub fn push_leaf(&mut self, leaf: &Block, content_len: u64, emit: &mut impl FnMut(Block)) {
        self.levels[0].push(DagRoot {
            cid: *leaf.cid(),
            content_size: content_len,
            dag_size: leaf.data().len() as u64,
        });
        let mut level = 0;
        while self.levels[level].len() == self.params.max_links {
            let children = std::mem::take(&mut self.levels[level]);
            let parent = self.parent(children, emit);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// Closes the tree and returns its root. A file with no leaves gets one empty leaf, as Kubo
    /// does; a file with one leaf is that leaf.
    pub fn finish(mut self, emit: &mut impl FnMut(Block)) -> DagRoot {
        if self.levels.iter().all(Vec::is_empty) {
            let leaf = leaf_block(&self.params, &[]);
            let root = DagRoot {
                cid: *leaf.cid(),
                content_size: 0,
                dag_size: leaf.data().len() as u64,
            };
            emit(leaf);
            return root;
        }
        let mut level = 0;
        loop {
            let higher_has_nodes = self.levels[level + 1..].iter().any(|l| !l.is_empty());
            let pending = std::mem::take(&mut self.levels[level]);
            if !higher_has_nodes && pending.len() == 1 {
                return pending.into_iter().next().expect("one pending node");
            }
            if !pending.is_empty() {
                let parent = self.parent(pending, emit);
                if self.levels.len() == level + 1 {
                    self.levels.push(Vec::new());
                }
                self.levels[level + 1].push(parent);
            }
            level += 1;
        }
    }

    fn parent(&self, children: Vec<DagRoot>, emit: &mut impl FnMut(Block)) -> DagRoot {
        let mut data = UnixfsData::new(DataType::File);
        let content_size: u64 = children.iter().map(|c| c.content_size).sum();
        data.filesize = Some(content_size);
        data.blocksizes = children.iter().map(|c| c.content_size).collect();
        let child_dag: u64 = children.iter().map(|c| c.dag_size).sum();
        let node = PbNode {
            links: children
                .iter()
                .map(|c| PbLink {
                    hash: c.cid,
                    name: Some(String::new()),
                    tsize: Some(c.dag_size),
                })
                .collect(),
            data: Some(data.encode()),
        };
        let bytes = node.encode();
        let cid = cid_of(self.params.cid_version, DAG_PB, self.params.hash, &bytes);
        let root = DagRoot {
            cid,
            content_size,
            dag_size: child_dag + bytes.len() as u64,
        };
        emit(Block::encode(cid, bytes));
        root
    }
}

/// Imports a whole in-memory file; returns the root and every block (leaves first within each
/// subtree). Convenient for tests and small files; large files go through [`FileBuilder`].
pub fn import_bytes(params: &ImportParams, content: &[u8]) -> (DagRoot, Vec<Block>) {
    let mut blocks = Vec::new();
    let mut builder = FileBuilder::new(*params);
    for chunk in content.chunks(params.chunk_size) {
        let leaf = leaf_block(params, chunk);
        builder.push_leaf(&leaf, chunk.len() as u64, &mut |b| blocks.push(b));
        blocks.push(leaf);
    }
    let root = builder.finish(&mut |b| blocks.push(b));
    (root, blocks)
}
