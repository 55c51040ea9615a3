//! Building UnixFS directories (and symlinks) the way Kubo does. No IO.

use super::file::{pb_node, DagRoot};
use super::hamt::{estimated_dir_size, ShardBuilder, SHARDING_THRESHOLD};
use super::params::ImportParams;
use super::pb::{DataType, UnixfsData};
use crate::content::Block;
use crate::dagpb::PbLink;
use std::collections::BTreeMap;

/// Why a name cannot be a directory entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Names must be single, non-empty path components.
    #[error(
        "`{0}` is not a valid directory entry name (empty, `.`, `..`, or contains `/` or NUL)"
    )]
    Invalid(String),
    /// Two entries with one name.
    #[error("duplicate directory entry `{0}`")]
    Duplicate(String),
}

/// Checks that `name` is one safe path component: not empty, not `.` or `..`, no `/`, no NUL.
pub fn check_entry_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(NameError::Invalid(name.escape_debug().to_string()));
    }
    Ok(())
}

/// Collects entries, then writes one directory node with links sorted by name bytes.
#[derive(Debug)]
pub struct DirBuilder {
    params: ImportParams,
    entries: BTreeMap<String, DagRoot>,
}

impl DirBuilder {
    /// An empty directory.
    pub fn new(params: ImportParams) -> Self {
        DirBuilder {
            params,
            entries: BTreeMap::new(),
        }
    }

    /// Adds an entry (a file, directory or symlink root).
    pub fn add(&mut self, name: &str, child: DagRoot) -> Result<(), NameError> {
        check_entry_name(name)?;
        if self.entries.contains_key(name) {
            return Err(NameError::Duplicate(name.to_string()));
        }
        self.entries.insert(name.to_string(), child);
        Ok(())
    }

    /// Number of entries so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the directory is empty so far.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the directory (passed to `emit`) and returns its root. Like Kubo, a directory
    /// whose estimated size reaches [`SHARDING_THRESHOLD`] is written as a HAMT.
    pub fn finish(self, emit: &mut impl FnMut(Block)) -> DagRoot {
        let estimate = estimated_dir_size(self.entries.iter().map(|(n, c)| (n.as_str(), &c.cid)));
        if estimate >= SHARDING_THRESHOLD {
            let mut shard = ShardBuilder::new();
            for (name, child) in self.entries {
                shard.insert(name, child);
            }
            return shard.finish(&self.params, emit);
        }
        let links: Vec<PbLink> = self
            .entries
            .iter()
            .map(|(name, child)| PbLink {
                hash: child.cid,
                name: Some(name.clone()),
                tsize: Some(child.dag_size),
            })
            .collect();
        let content: u64 = self.entries.values().map(|c| c.content_size).sum();
        let data = UnixfsData::new(DataType::Directory);
        let (root, block) = pb_node(&self.params, links, &data, content);
        emit(block);
        root
    }
}

/// The block for a symbolic link to `target` (stored, never followed).
pub fn symlink_block(params: &ImportParams, target: &str) -> (DagRoot, Block) {
    let mut data = UnixfsData::new(DataType::Symlink);
    data.data = Some(target.as_bytes().to_vec());
    pb_node(params, Vec::new(), &data, 0)
}
