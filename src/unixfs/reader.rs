//! Reading UnixFS DAGs back: node kinds, directory listings (plain and HAMT), path resolution
//! and file bytes (whole or a range). Blocks come from a [`BlockGetter`]; every size a node
//! declares is checked against what its children really hold.

use super::hamt;
use super::pb::{DataType, UnixfsData};
use crate::content::{is_inline, Block, Cid, DAG_PB, RAW};
use crate::dagpb::PbNode;
use crate::store::{BlockGetter, StoreError};
use std::io::Write;

/// Deepest DAG the reader follows (Kubo's trees are a handful of levels deep).
pub const MAX_DEPTH: usize = 64;

/// Errors while reading a UnixFS DAG.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A block the DAG needs is not available.
    #[error("block `{0}` is missing")]
    MissingBlock(Cid),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A node is not valid UnixFS.
    #[error("`{cid}` is not valid UnixFS: {detail}")]
    Invalid {
        /// The node.
        cid: Cid,
        /// What is wrong.
        detail: String,
    },
    /// The path asked for does not exist.
    #[error("`{path}` not found: no entry `{name}` in `{dir}`")]
    NotFound {
        /// The whole path.
        path: String,
        /// The missing component.
        name: String,
        /// The directory searched.
        dir: Cid,
    },
    /// A file was expected.
    #[error("`{cid}` is a {kind}, not a file")]
    NotAFile {
        /// The node.
        cid: Cid,
        /// What it is.
        kind: &'static str,
    },
    /// A directory was expected.
    #[error("`{cid}` is a {kind}, not a directory")]
    NotADirectory {
        /// The node.
        cid: Cid,
        /// What it is.
        kind: &'static str,
    },
    /// A path component is unsafe or empty.
    #[error("path component `{0}` is not allowed (`.`, `..`, NUL and empty names are refused)")]
    BadPathComponent(String),
    /// Writing the output failed.
    #[error("failed to write output: {0}")]
    Output(#[source] std::io::Error),
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A file of this many bytes.
    File {
        /// Content size.
        size: u64,
    },
    /// A plain directory.
    Directory,
    /// A HAMT-sharded directory.
    ShardedDirectory,
    /// A symbolic link.
    Symlink {
        /// The link target (untrusted text).
        target: String,
    },
    /// Something that is not UnixFS (dag-cbor, …).
    Other {
        /// The codec name.
        codec: String,
    },
}

impl NodeKind {
    /// A word for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::File { .. } => "file",
            NodeKind::Directory | NodeKind::ShardedDirectory => "directory",
            NodeKind::Symlink { .. } => "symlink",
            NodeKind::Other { .. } => "non-UnixFS node",
        }
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry name as stored (untrusted: check it before using it as a file name).
    pub name: String,
    /// The entry's CID.
    pub cid: Cid,
    /// The DAG size the parent recorded (untrusted).
    pub tsize: Option<u64>,
}

/// Reads UnixFS through a block getter.
pub struct Reader<G> {
    getter: G,
}

enum Decoded {
    Raw(Block),
    Pb { node: PbNode, data: UnixfsData },
    Other(String),
}

impl<G: BlockGetter> Reader<G> {
    /// A reader over `getter`.
    pub fn new(getter: G) -> Self {
        Reader { getter }
    }

    /// The block for `cid` (inline identity CIDs need no store), or [`ReadError::MissingBlock`].
    pub fn block(&self, cid: &Cid) -> Result<Block, ReadError> {
        if is_inline(cid) {
            return Ok(Block::verified(*cid, cid.hash().digest().to_vec())
                .expect("identity digest is its own data"));
        }
        self.getter
            .get_block(cid)?
            .ok_or(ReadError::MissingBlock(*cid))
    }

    fn decode(&self, cid: &Cid) -> Result<Decoded, ReadError> {
        let block = self.block(cid)?;
        match cid.codec() {
            RAW => Ok(Decoded::Raw(block)),
            DAG_PB => {
                let node = PbNode::decode(block.data()).map_err(|e| invalid(cid, e.to_string()))?;
                let raw = node
                    .data
                    .as_deref()
                    .ok_or_else(|| invalid(cid, "the node has no UnixFS data".into()))?;
                let data = UnixfsData::decode(raw).map_err(|e| invalid(cid, e))?;
                Ok(Decoded::Pb { node, data })
            }
            other => Ok(Decoded::Other(crate::content::codec_name(other))),
        }
    }

    /// What kind of node `cid` is.
    pub fn kind(&self, cid: &Cid) -> Result<NodeKind, ReadError> {
        Ok(match self.decode(cid)? {
            Decoded::Raw(block) => NodeKind::File {
                size: block.data().len() as u64,
            },
            Decoded::Other(codec) => NodeKind::Other { codec },
            Decoded::Pb { data, node } => match data.kind {
                DataType::File | DataType::Raw => NodeKind::File {
                    size: declared_file_size(cid, &node, &data)?,
                },
                DataType::Directory => NodeKind::Directory,
                DataType::HamtShard => NodeKind::ShardedDirectory,
                DataType::Symlink => NodeKind::Symlink {
                    target: String::from_utf8_lossy(data.data.as_deref().unwrap_or_default())
                        .into_owned(),
                },
                DataType::Metadata => NodeKind::Other {
                    codec: "unixfs-metadata".into(),
                },
            },
        })
    }

    /// Lists a directory (plain or HAMT-sharded; every shard must be present).
    pub fn list(&self, cid: &Cid) -> Result<Vec<DirEntry>, ReadError> {
        match self.decode(cid)? {
            Decoded::Pb { node, data } if data.kind == DataType::Directory => Ok(node
                .links
                .into_iter()
                .map(|l| DirEntry {
                    name: l.name.unwrap_or_default(),
                    cid: l.hash,
                    tsize: l.tsize,
                })
                .collect()),
            Decoded::Pb { node, data } if data.kind == DataType::HamtShard => {
                let mut out = Vec::new();
                self.list_shard(cid, node, &data, 0, &mut out)?;
                Ok(out)
            }
            other => Err(ReadError::NotADirectory {
                cid: *cid,
                kind: decoded_kind(&other),
            }),
        }
    }

    fn list_shard(
        &self,
        cid: &Cid,
        node: PbNode,
        data: &UnixfsData,
        depth: usize,
        out: &mut Vec<DirEntry>,
    ) -> Result<(), ReadError> {
        let fanout = shard_fanout(cid, data)?;
        if depth > MAX_DEPTH {
            return Err(invalid(cid, "HAMT is nested too deeply".into()));
        }
        let pad = hamt::prefix_len(fanout);
        for link in node.links {
            let name = link.name.unwrap_or_default();
            if name.len() < pad || !name.is_char_boundary(pad) {
                return Err(invalid(
                    cid,
                    format!("HAMT link name `{name}` is too short"),
                ));
            }
            if name.len() == pad {
                match self.decode(&link.hash)? {
                    Decoded::Pb { node, data } if data.kind == DataType::HamtShard => {
                        self.list_shard(&link.hash, node, &data, depth + 1, out)?
                    }
                    _ => {
                        return Err(invalid(
                            &link.hash,
                            "a HAMT child shard is not a HAMT node".into(),
                        ))
                    }
                }
            } else {
                out.push(DirEntry {
                    name: name[pad..].to_string(),
                    cid: link.hash,
                    tsize: link.tsize,
                });
            }
        }
        Ok(())
    }

    /// Looks up one entry of a directory without listing all of it (HAMTs are searched by hash,
    /// so only the shards on the way are needed).
    pub fn lookup(&self, dir: &Cid, name: &str) -> Result<Option<DirEntry>, ReadError> {
        match self.decode(dir)? {
            Decoded::Pb { node, data } if data.kind == DataType::Directory => Ok(node
                .links
                .into_iter()
                .find(|l| l.name.as_deref() == Some(name))
                .map(|l| DirEntry {
                    name: name.to_string(),
                    cid: l.hash,
                    tsize: l.tsize,
                })),
            Decoded::Pb { node, data } if data.kind == DataType::HamtShard => {
                self.lookup_shard(dir, node, &data, name)
            }
            other => Err(ReadError::NotADirectory {
                cid: *dir,
                kind: decoded_kind(&other),
            }),
        }
    }

    fn lookup_shard(
        &self,
        cid: &Cid,
        mut node: PbNode,
        data: &UnixfsData,
        name: &str,
    ) -> Result<Option<DirEntry>, ReadError> {
        let hash = hamt::hash_name(name);
        let mut fanout = shard_fanout(cid, data)?;
        let mut shard = *cid;
        for depth in 0.. {
            let Some(index) = hamt::index_at(&hash, depth, fanout) else {
                return Err(invalid(&shard, "HAMT deeper than its hash allows".into()));
            };
            let pad = hamt::prefix_len(fanout);
            let prefix = format!("{index:0pad$X}");
            let Some(link) = node
                .links
                .into_iter()
                .find(|l| l.name.as_deref().is_some_and(|n| n.starts_with(&prefix)))
            else {
                return Ok(None);
            };
            let link_name = link.name.unwrap_or_default();
            if link_name.len() > pad {
                return Ok((link_name[pad..] == *name).then(|| DirEntry {
                    name: name.to_string(),
                    cid: link.hash,
                    tsize: link.tsize,
                }));
            }
            match self.decode(&link.hash)? {
                Decoded::Pb { node: n, data: d } if d.kind == DataType::HamtShard => {
                    fanout = shard_fanout(&link.hash, &d)?;
                    node = n;
                    shard = link.hash;
                }
                _ => {
                    return Err(invalid(
                        &link.hash,
                        "a HAMT child shard is not a HAMT node".into(),
                    ))
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Checks that every block under `cid` is available, without reading raw leaves (only
    /// their presence is checked; they are verified when read). Returns the first missing block.
    pub fn first_missing(&self, cid: &Cid) -> Result<Option<Cid>, ReadError> {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![*cid];
        while let Some(next) = stack.pop() {
            if !seen.insert(next) || is_inline(&next) {
                continue;
            }
            if next.codec() == RAW {
                if !self.getter.has_block(&next)? {
                    return Ok(Some(next));
                }
                continue;
            }
            let Some(block) = self.getter.get_block(&next)? else {
                return Ok(Some(next));
            };
            let links = crate::dag::links(&next, block.data())
                .map_err(|e| invalid(&next, e.to_string()))?;
            stack.extend(links.into_iter().rev());
        }
        Ok(None)
    }

    /// Follows `path` (components separated by `/`) from `root` through directories.
    pub fn resolve(&self, root: &Cid, path: &str) -> Result<Cid, ReadError> {
        let mut current = *root;
        for component in path.split('/').filter(|c| !c.is_empty()) {
            if component == "." || component == ".." || component.contains('\0') {
                return Err(ReadError::BadPathComponent(
                    component.escape_debug().to_string(),
                ));
            }
            match self.lookup(&current, component)? {
                Some(entry) => current = entry.cid,
                None => {
                    return Err(ReadError::NotFound {
                        path: path.to_string(),
                        name: component.to_string(),
                        dir: current,
                    })
                }
            }
        }
        Ok(current)
    }

    /// Writes the file's bytes in `[offset, offset + len)` (to its end when `len` is `None`) to
    /// `out`; returns how many bytes were written.
    pub fn read_file(
        &self,
        cid: &Cid,
        offset: u64,
        len: Option<u64>,
        out: &mut impl Write,
    ) -> Result<u64, ReadError> {
        let size = match self.kind(cid)? {
            NodeKind::File { size } => size,
            other => {
                return Err(ReadError::NotAFile {
                    cid: *cid,
                    kind: other.describe(),
                })
            }
        };
        let start = offset.min(size);
        let end = match len {
            Some(l) => start.saturating_add(l).min(size),
            None => size,
        };
        if start == end {
            return Ok(0);
        }
        self.copy_range(cid, start, end, size, 0, out)?;
        Ok(end - start)
    }

    /// Copies `[start, end)` of the file rooted at `cid` (offsets relative to that node), and
    /// checks the node holds exactly the `size` bytes its parent declared.
    fn copy_range(
        &self,
        cid: &Cid,
        start: u64,
        end: u64,
        size: u64,
        depth: usize,
        out: &mut impl Write,
    ) -> Result<u64, ReadError> {
        if depth > MAX_DEPTH {
            return Err(invalid(cid, "file DAG is nested too deeply".into()));
        }
        match self.decode(cid)? {
            Decoded::Raw(block) => {
                if block.data().len() as u64 != size {
                    return Err(invalid(
                        cid,
                        format!(
                            "holds {} bytes but its parent declared {size}",
                            block.data().len()
                        ),
                    ));
                }
                write_slice(cid, block.data(), start, end, out)
            }
            Decoded::Other(codec) => Err(invalid(cid, format!("a {codec} node inside a file"))),
            Decoded::Pb { node, data } => {
                if !matches!(data.kind, DataType::File | DataType::Raw) {
                    return Err(invalid(cid, "a non-file node inside a file".into()));
                }
                let total = declared_file_size(cid, &node, &data)?;
                if total != size {
                    return Err(invalid(
                        cid,
                        format!("holds {total} bytes but its parent declared {size}"),
                    ));
                }
                let inline = data.data.as_deref().unwrap_or_default();
                let mut written = 0;
                let mut pos = 0u64;
                if !inline.is_empty() {
                    let inline_end = inline.len() as u64;
                    if start < inline_end {
                        written += write_slice(cid, inline, start, end.min(inline_end), out)?;
                    }
                    pos = inline_end;
                }
                for (link, &size) in node.links.iter().zip(&data.blocksizes) {
                    let child_end = pos + size;
                    if child_end > start && pos < end {
                        let from = start.saturating_sub(pos);
                        let to = end.min(child_end) - pos;
                        let got = self.copy_range(&link.hash, from, to, size, depth + 1, out)?;
                        if got != to - from {
                            return Err(invalid(
                                cid,
                                "a child holds fewer bytes than declared".into(),
                            ));
                        }
                        written += got;
                    }
                    pos = child_end;
                    if pos >= end {
                        break;
                    }
                }
                Ok(written)
            }
        }
    }
}

/// The size a file node declares, after checking its fields agree with each other.
fn declared_file_size(cid: &Cid, node: &PbNode, data: &UnixfsData) -> Result<u64, ReadError> {
    if node.links.len() != data.blocksizes.len() {
        return Err(invalid(
            cid,
            format!(
                "{} links but {} blocksizes",
                node.links.len(),
                data.blocksizes.len()
            ),
        ));
    }
    let inline = data.data.as_ref().map_or(0, |d| d.len() as u64);
    let mut sum = inline;
    for size in &data.blocksizes {
        sum = sum
            .checked_add(*size)
            .ok_or_else(|| invalid(cid, "blocksizes overflow".into()))?;
    }
    match data.filesize {
        Some(fs) if fs != sum => Err(invalid(
            cid,
            format!("filesize {fs} does not match the {sum} bytes its parts hold"),
        )),
        _ => Ok(sum),
    }
}

fn shard_fanout(cid: &Cid, data: &UnixfsData) -> Result<u64, ReadError> {
    if data.hash_type != Some(hamt::MURMUR3_X64_64) {
        return Err(invalid(
            cid,
            format!("unsupported HAMT hash function {:?}", data.hash_type),
        ));
    }
    let fanout = data
        .fanout
        .ok_or_else(|| invalid(cid, "HAMT node without fanout".into()))?;
    hamt::check_fanout(fanout).map_err(|e| invalid(cid, e))?;
    Ok(fanout)
}

fn write_slice(
    cid: &Cid,
    bytes: &[u8],
    start: u64,
    end: u64,
    out: &mut impl Write,
) -> Result<u64, ReadError> {
    let len = bytes.len() as u64;
    if end > len || start > end {
        return Err(invalid(
            cid,
            format!("holds {len} bytes but its parent declared at least {end}"),
        ));
    }
    out.write_all(&bytes[start as usize..end as usize])
        .map_err(ReadError::Output)?;
    Ok(end - start)
}

fn decoded_kind(d: &Decoded) -> &'static str {
    match d {
        Decoded::Raw(_) => "file",
        Decoded::Other(_) => "non-UnixFS node",
        Decoded::Pb { data, .. } => match data.kind {
            DataType::File | DataType::Raw => "file",
            DataType::Directory | DataType::HamtShard => "directory",
            DataType::Symlink => "symlink",
            DataType::Metadata => "metadata node",
        },
    }
}

fn invalid(cid: &Cid, detail: String) -> ReadError {
    ReadError::Invalid { cid: *cid, detail }
}
