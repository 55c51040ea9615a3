//! `trove diff A B`: what changed between two versions of an artifact.
//!
//! - Tree level ([`diff_trees`]): files added, removed, changed and unchanged (by their CIDs:
//!   equal CIDs are equal bytes), with sizes, and how many blocks and bytes the two DAGs share —
//!   what updating from A to B fetches is B's blocks that A lacks. Read from the store: parents
//!   are read, raw leaves only sized.
//! - Table level ([`table`]): keyed, column-aware comparison of two versions of a data file with
//!   a float tolerance, streaming.
//!
//! [`crate::Client::diff`] resolves the two targets and puts these together.

pub mod table;

use crate::content::{Cid, RAW};
use crate::store::BlockGetter;
use crate::unixfs::{NodeKind, ReadError, Reader};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In B only.
    Added,
    /// In A only.
    Removed,
    /// In both, with different content.
    Changed,
    /// In both, the same content.
    Unchanged,
}

/// One file of either tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Its path (`/`-separated; empty when the target is a single file).
    pub path: String,
    /// What happened.
    pub status: Status,
    /// Its size in A.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_a: Option<u64>,
    /// Its size in B.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_b: Option<u64>,
    /// Its CID in A.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_cid")]
    pub cid_a: Option<Cid>,
    /// Its CID in B.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_cid")]
    pub cid_b: Option<Cid>,
}

fn opt_cid<S: serde::Serializer>(cid: &Option<Cid>, s: S) -> Result<S::Ok, S::Error> {
    match cid {
        Some(c) => s.serialize_str(&c.to_string()),
        None => s.serialize_none(),
    }
}

/// What the two DAGs share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sharing {
    /// A's distinct blocks and their bytes.
    pub blocks_a: u64,
    /// A's bytes.
    pub bytes_a: u64,
    /// B's distinct blocks.
    pub blocks_b: u64,
    /// B's bytes.
    pub bytes_b: u64,
    /// Blocks in both.
    pub shared_blocks: u64,
    /// Their bytes.
    pub shared_bytes: u64,
    /// B's blocks A lacks: what an update from A to B fetches.
    pub fetch_blocks: u64,
    /// Their bytes.
    pub fetch_bytes: u64,
}

/// The tree-level comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TreeDiff {
    /// Every file of either tree, sorted by path.
    pub files: Vec<FileChange>,
    /// Files in B only.
    pub added: u64,
    /// Files in A only.
    pub removed: u64,
    /// Files in both with different content.
    pub changed: u64,
    /// Files in both with the same content.
    pub unchanged: u64,
    /// Blocks and bytes shared.
    pub sharing: Sharing,
}

impl TreeDiff {
    /// Whether the two trees hold the same files with the same content.
    pub fn is_same(&self) -> bool {
        self.added == 0 && self.removed == 0 && self.changed == 0
    }
}

/// Compares the UnixFS trees (or files) at `a` and `b`, both complete in `getter`.
pub fn diff_trees<G: BlockGetter + Sync>(
    getter: &G,
    a: &Cid,
    b: &Cid,
) -> Result<TreeDiff, ReadError> {
    let reader = Reader::new(getter);
    let files_a = list_files(&reader, a)?;
    let files_b = list_files(&reader, b)?;
    let mut diff = TreeDiff::default();
    let mut paths: Vec<&String> = files_a.keys().chain(files_b.keys()).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let (fa, fb) = (files_a.get(path), files_b.get(path));
        let status = match (fa, fb) {
            (Some(x), Some(y)) if x.0.hash() == y.0.hash() => Status::Unchanged,
            (Some(_), Some(_)) => Status::Changed,
            (Some(_), None) => Status::Removed,
            (None, _) => Status::Added,
        };
        match status {
            Status::Added => diff.added += 1,
            Status::Removed => diff.removed += 1,
            Status::Changed => diff.changed += 1,
            Status::Unchanged => diff.unchanged += 1,
        }
        diff.files.push(FileChange {
            path: path.clone(),
            status,
            size_a: fa.map(|f| f.1),
            size_b: fb.map(|f| f.1),
            cid_a: fa.map(|f| f.0),
            cid_b: fb.map(|f| f.0),
        });
    }
    let blocks_a = blocks(getter, a)?;
    let blocks_b = blocks(getter, b)?;
    let mut s = Sharing {
        blocks_a: blocks_a.len() as u64,
        bytes_a: blocks_a.values().sum(),
        blocks_b: blocks_b.len() as u64,
        bytes_b: blocks_b.values().sum(),
        ..Sharing::default()
    };
    for (hash, size) in &blocks_b {
        if blocks_a.contains_key(hash) {
            s.shared_blocks += 1;
            s.shared_bytes += size;
        } else {
            s.fetch_blocks += 1;
            s.fetch_bytes += size;
        }
    }
    diff.sharing = s;
    Ok(diff)
}

/// Every file under `root` (path → CID, size); a file root is the one path `""`.
pub fn list_files<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    root: &Cid,
) -> Result<BTreeMap<String, (Cid, u64)>, ReadError> {
    let mut files = BTreeMap::new();
    let mut stack = vec![(String::new(), *root)];
    while let Some((path, cid)) = stack.pop() {
        match reader.kind(&cid)? {
            NodeKind::File { size } => {
                files.insert(path, (cid, size));
            }
            NodeKind::Directory | NodeKind::ShardedDirectory => {
                for entry in reader.list(&cid)? {
                    let child = if path.is_empty() {
                        entry.name.clone()
                    } else {
                        format!("{path}/{}", entry.name)
                    };
                    stack.push((child, entry.cid));
                }
            }
            // Links and other nodes count as files of their own block.
            NodeKind::Symlink { .. } | NodeKind::Other { .. } => {
                files.insert(path, (cid, 0));
            }
        }
    }
    Ok(files)
}

/// Every block of the DAG under `root`, by multihash, with its size. Raw leaves are sized
/// without being read.
fn blocks<G: BlockGetter>(getter: &G, root: &Cid) -> Result<HashMap<Vec<u8>, u64>, ReadError> {
    let mut seen: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut stack = vec![*root];
    while let Some(cid) = stack.pop() {
        let key = cid.hash().to_bytes();
        if seen.contains_key(&key) || crate::content::is_inline(&cid) {
            continue;
        }
        if cid.codec() == RAW {
            let size = getter
                .block_size(&cid)?
                .ok_or(ReadError::MissingBlock(cid))?;
            seen.insert(key, size);
            continue;
        }
        let block = getter
            .get_block(&cid)?
            .ok_or(ReadError::MissingBlock(cid))?;
        seen.insert(key, block.data().len() as u64);
        if let Ok(links) = crate::dag::links(&cid, block.data()) {
            stack.extend(links);
        }
    }
    Ok(seen)
}
