//! Building a UnixFS file DAG in Kubo's balanced layout, one chunk at a time. No IO: the caller
//! cuts chunks, turns each into a leaf with [`leaf_block`] (pure, so leaves can be hashed on
//! several threads) and pushes them in order; parent blocks come out through a callback.

use super::params::ImportParams;
use super::pb::{DataType, UnixfsData};
use crate::content::{cid_of, cid_of_parts, Block, Cid, DAG_PB, RAW};
use crate::dagpb::{PbLink, PbNode};
use crate::varint;

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

/// Encodes the dag-pb node of `links` and UnixFS `data` and returns its root and block: the CID
/// as `params` say, `content_size` as given, the DAG size the links' `Tsize`s plus the node's
/// own bytes.
pub(crate) fn pb_node(
    params: &ImportParams,
    links: Vec<PbLink>,
    data: &UnixfsData,
    content_size: u64,
) -> (DagRoot, Block) {
    let children: u64 = links.iter().filter_map(|l| l.tsize).sum();
    let bytes = PbNode {
        links,
        data: Some(data.encode()),
    }
    .encode();
    let cid = cid_of(params.cid_version, DAG_PB, params.hash, &bytes);
    let root = DagRoot {
        cid,
        content_size,
        dag_size: children + bytes.len() as u64,
    };
    (root, Block::encode(cid, bytes))
}

/// A leaf made from one chunk: its place in the tree, and its block if it was asked for.
#[derive(Debug)]
pub struct Leaf {
    /// CID and sizes, for [`FileBuilder::push_leaf`].
    pub root: DagRoot,
    /// The encoded block (`None` when only the CID was wanted).
    pub block: Option<Block>,
}

/// Turns one chunk into a leaf. With `keep_block == false` only the CID is computed (see
/// [`leaf_root`]): the chunk is hashed in place, with the UnixFS framing around it for dag-pb
/// leaves, and never copied.
pub fn make_leaf(params: &ImportParams, chunk: Vec<u8>, keep_block: bool) -> Leaf {
    if !keep_block {
        return Leaf {
            root: leaf_root(params, &chunk),
            block: None,
        };
    }
    let content_size = chunk.len() as u64;
    if params.raw_leaves {
        let cid = cid_of(cid::Version::V1, RAW, params.hash, &chunk);
        let dag_size = content_size;
        return Leaf {
            root: DagRoot {
                cid,
                content_size,
                dag_size,
            },
            block: keep_block.then(|| Block::encode(cid, chunk)),
        };
    }
    let (header, trailer) = pb_leaf_framing(chunk.len());
    let cid = cid_of_parts(
        params.cid_version,
        DAG_PB,
        params.hash,
        &[&header, &chunk, &trailer],
    );
    let dag_size = (header.len() + chunk.len() + trailer.len()) as u64;
    let block = keep_block.then(|| {
        let mut bytes = Vec::with_capacity(dag_size as usize);
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(&trailer);
        Block::encode(cid, bytes)
    });
    Leaf {
        root: DagRoot {
            cid,
            content_size,
            dag_size,
        },
        block,
    }
}

/// The CID and sizes of the leaf for `chunk`, without building its block (`--only-hash`).
pub fn leaf_root(params: &ImportParams, chunk: &[u8]) -> DagRoot {
    let content_size = chunk.len() as u64;
    if params.raw_leaves {
        let cid = cid_of(cid::Version::V1, RAW, params.hash, chunk);
        return DagRoot {
            cid,
            content_size,
            dag_size: content_size,
        };
    }
    let (header, trailer) = pb_leaf_framing(chunk.len());
    let cid = cid_of_parts(
        params.cid_version,
        DAG_PB,
        params.hash,
        &[&header, chunk, &trailer],
    );
    let dag_size = (header.len() + chunk.len() + trailer.len()) as u64;
    DagRoot {
        cid,
        content_size,
        dag_size,
    }
}

/// The bytes before and after a chunk in a dag-pb leaf: a PBNode whose Data is the UnixFS
/// message `{Type: File, Data: chunk, filesize: len}` (no Data field for an empty chunk).
fn pb_leaf_framing(len: usize) -> (Vec<u8>, Vec<u8>) {
    let n = len as u64;
    let data_field = if len > 0 {
        1 + varint::encoded_len(n) + len
    } else {
        0
    };
    let unixfs_len = 2 + data_field + 1 + varint::encoded_len(n);
    let mut header = Vec::with_capacity(16);
    header.push(0x0a);
    varint::encode(unixfs_len as u64, &mut header);
    header.extend_from_slice(&[0x08, 0x02]);
    if len > 0 {
        header.push(0x12);
        varint::encode(n, &mut header);
    }
    let mut trailer = Vec::with_capacity(11);
    trailer.push(0x18);
    varint::encode(n, &mut trailer);
    (header, trailer)
}

/// The leaf block for one chunk (a convenience over [`make_leaf`]).
pub fn leaf_block(params: &ImportParams, chunk: &[u8]) -> Block {
    make_leaf(params, chunk.to_vec(), true)
        .block
        .expect("the block was asked for")
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

    /// Adds the next leaf (see [`make_leaf`]); parents that become full are passed to `emit`.
    pub fn push_leaf(&mut self, leaf: DagRoot, emit: &mut impl FnMut(Block)) {
        self.levels[0].push(leaf);
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
            let leaf = make_leaf(&self.params, Vec::new(), true);
            emit(leaf.block.expect("the block was asked for"));
            return leaf.root;
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
        let links = children
            .iter()
            .map(|c| PbLink {
                hash: c.cid,
                name: Some(String::new()),
                tsize: Some(c.dag_size),
            })
            .collect();
        let (root, block) = pb_node(&self.params, links, &data, content_size);
        emit(block);
        root
    }
}

/// Imports a whole in-memory file; returns the root and every block (leaves first within each
/// subtree). Convenient for tests and small files; large files go through [`FileBuilder`].
pub fn import_bytes(params: &ImportParams, content: &[u8]) -> (DagRoot, Vec<Block>) {
    let mut blocks = Vec::new();
    let mut builder = FileBuilder::new(*params);
    for chunk in super::chunker::split_bytes(content, params) {
        let leaf = make_leaf(params, chunk, true);
        builder.push_leaf(leaf.root, &mut |b| blocks.push(b));
        blocks.extend(leaf.block);
    }
    let root = builder.finish(&mut |b| blocks.push(b));
    (root, blocks)
}
