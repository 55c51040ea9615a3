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

impl crate::Hint for ReadError {
    fn hint(&self) -> Option<String> {
        match self {
            ReadError::NotAFile { kind, .. } if kind.contains("directory") => Some(
                "only a file can go to standard output: name one as CID/path/to/file, or write the folder with `trove get CID -o DIR`".into(),
            ),
            ReadError::MissingBlock(_) => Some(
                "the block is not in the local cache; import a CAR that holds it with `trove car import FILE.car`, or get the content with `trove get`".into(),
            ),
            ReadError::Store(e) => e.hint(),
            _ => None,
        }
    }
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

pub(super) enum Decoded {
    Raw(Block),
    Pb { node: PbNode, data: UnixfsData },
    Other(String),
}

/// A directory node: plain, or the root shard of a HAMT.
enum Directory {
    Plain(PbNode),
    Sharded(PbNode, UnixfsData),
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
        decode_block(cid, self.block(cid)?)
    }

    /// What kind of node `cid` is.
    pub fn kind(&self, cid: &Cid) -> Result<NodeKind, ReadError> {
        kind_of(cid, self.decode(cid)?)
    }

    /// Lists a directory (plain or HAMT-sharded; every shard must be present).
    pub fn list(&self, cid: &Cid) -> Result<Vec<DirEntry>, ReadError> {
        match self.directory(cid)? {
            Directory::Plain(node) => Ok(node
                .links
                .into_iter()
                .map(|l| DirEntry {
                    name: l.name.unwrap_or_default(),
                    cid: l.hash,
                    tsize: l.tsize,
                })
                .collect()),
            Directory::Sharded(node, data) => {
                let mut out = Vec::new();
                self.list_shard(cid, node, &data, 0, &mut out)?;
                Ok(out)
            }
        }
    }

    /// Decodes the directory node `cid`, plain or HAMT shard, or says what else it is.
    fn directory(&self, cid: &Cid) -> Result<Directory, ReadError> {
        match self.decode(cid)? {
            Decoded::Pb { node, data } if data.kind == DataType::Directory => {
                Ok(Directory::Plain(node))
            }
            Decoded::Pb { node, data } if data.kind == DataType::HamtShard => {
                Ok(Directory::Sharded(node, data))
            }
            other => Err(ReadError::NotADirectory {
                cid: *cid,
                kind: decoded_kind(&other),
            }),
        }
    }

    /// Decodes the shard a HAMT link without an entry name points to.
    fn child_shard(&self, cid: &Cid) -> Result<(PbNode, UnixfsData), ReadError> {
        match self.decode(cid)? {
            Decoded::Pb { node, data } if data.kind == DataType::HamtShard => Ok((node, data)),
            _ => Err(invalid(cid, "a HAMT child shard is not a HAMT node".into())),
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
                let (node, data) = self.child_shard(&link.hash)?;
                self.list_shard(&link.hash, node, &data, depth + 1, out)?;
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
        self.lookup_traced(dir, name, &mut Vec::new())
    }

    /// [`Reader::lookup`], adding the HAMT shards crossed below `dir` to `trace`.
    fn lookup_traced(
        &self,
        dir: &Cid,
        name: &str,
        trace: &mut Vec<Cid>,
    ) -> Result<Option<DirEntry>, ReadError> {
        match self.directory(dir)? {
            Directory::Plain(node) => Ok(node
                .links
                .into_iter()
                .find(|l| l.name.as_deref() == Some(name))
                .map(|l| DirEntry {
                    name: name.to_string(),
                    cid: l.hash,
                    tsize: l.tsize,
                })),
            Directory::Sharded(node, data) => self.lookup_shard(dir, node, &data, name, trace),
        }
    }

    fn lookup_shard(
        &self,
        cid: &Cid,
        mut node: PbNode,
        data: &UnixfsData,
        name: &str,
        trace: &mut Vec<Cid>,
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
            let (n, d) = self.child_shard(&link.hash)?;
            trace.push(link.hash);
            fanout = shard_fanout(&link.hash, &d)?;
            node = n;
            shard = link.hash;
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
        self.resolve_traced(root, path).map(|(cid, _)| cid)
    }

    /// [`Reader::resolve`], also returning every block crossed on the way, in order: each
    /// directory on the path and the HAMT shards searched in it (what a trustless gateway sends
    /// before the content at the end of a path).
    pub fn resolve_traced(&self, root: &Cid, path: &str) -> Result<(Cid, Vec<Cid>), ReadError> {
        let mut trace = Vec::new();
        let mut current = *root;
        for component in path.split('/').filter(|c| !c.is_empty()) {
            if component == "." || component == ".." || component.contains('\0') {
                return Err(ReadError::BadPathComponent(
                    component.escape_debug().to_string(),
                ));
            }
            trace.push(current);
            match self.lookup_traced(&current, component, &mut trace)? {
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
        Ok((current, trace))
    }
}

impl<G: BlockGetter> Reader<G> {
    /// Writes the file's bytes in `[offset, offset + len)` (to its end when `len` is `None`) to
    /// `out`; returns how many bytes were written. Blocks are read one after the other; see
    /// [`Reader::read_file_parallel`] for a faster way when the getter can be shared between
    /// threads.
    pub fn read_file(
        &self,
        cid: &Cid,
        offset: u64,
        len: Option<u64>,
        out: &mut impl Write,
    ) -> Result<u64, ReadError> {
        self.read_file_with(cid, offset, len, out, &InOrder)
    }

    fn read_file_with<C: Children<G>>(
        &self,
        cid: &Cid,
        offset: u64,
        len: Option<u64>,
        out: &mut impl Write,
        how: &C,
    ) -> Result<u64, ReadError> {
        let block = self.block(cid)?;
        let size = match kind_of(cid, decode_block(cid, block.clone())?)? {
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
        let mut ahead = 0;
        self.copy_range(cid, block, start, end, size, 0, out, how, &mut ahead)?;
        Ok(end - start)
    }

    /// Copies `[start, end)` of the file rooted at `cid` (offsets relative to that node) out of
    /// its `block`, and checks the node holds exactly the `size` bytes its parent declared.
    #[allow(clippy::too_many_arguments)]
    fn copy_range<C: Children<G>>(
        &self,
        cid: &Cid,
        block: Block,
        start: u64,
        end: u64,
        size: u64,
        depth: usize,
        out: &mut impl Write,
        how: &C,
        ahead: &mut u64,
    ) -> Result<u64, ReadError> {
        if depth > MAX_DEPTH {
            return Err(invalid(cid, "file DAG is nested too deeply".into()));
        }
        match decode_block(cid, block)? {
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
                // The children holding part of the range.
                let mut parts = Vec::new();
                for (link, &size) in node.links.iter().zip(&data.blocksizes) {
                    let child_end = pos + size;
                    if child_end > start && pos < end {
                        parts.push(Part {
                            cid: link.hash,
                            from: start.saturating_sub(pos),
                            to: end.min(child_end) - pos,
                            size,
                        });
                    }
                    pos = child_end;
                    if pos >= end {
                        break;
                    }
                }
                written += how.copy(self, cid, &parts, depth, out, ahead)?;
                Ok(written)
            }
        }
    }

    /// Copies one child's part out of its block.
    #[allow(clippy::too_many_arguments)]
    fn copy_part<C: Children<G>>(
        &self,
        parent: &Cid,
        part: &Part,
        block: Block,
        depth: usize,
        out: &mut impl Write,
        how: &C,
        ahead: &mut u64,
    ) -> Result<u64, ReadError> {
        let got = self.copy_range(
            &part.cid,
            block,
            part.from,
            part.to,
            part.size,
            depth + 1,
            out,
            how,
            ahead,
        )?;
        if got != part.to - part.from {
            return Err(invalid(
                parent,
                "a child holds fewer bytes than declared".into(),
            ));
        }
        Ok(got)
    }
}

impl<G: BlockGetter + Sync> Reader<G> {
    /// Like [`Reader::read_file`], but the blocks after the one being written are read and
    /// verified ahead, in parallel on the rayon pool (up to `READ_AHEAD_BYTES` of them). The
    /// bytes still go out strictly in order, and only from verified blocks.
    pub fn read_file_parallel(
        &self,
        cid: &Cid,
        offset: u64,
        len: Option<u64>,
        out: &mut impl Write,
    ) -> Result<u64, ReadError> {
        if rayon::current_thread_index().is_some() {
            // On a pool thread, waiting for the pool's work could starve it: read in order.
            return self.read_file_with(cid, offset, len, out, &InOrder);
        }
        self.read_file_with(cid, offset, len, out, &ReadAhead)
    }
}

/// The part `[from, to)` of a child of `size` bytes.
struct Part {
    cid: Cid,
    from: u64,
    to: u64,
    size: u64,
}

/// How the children of a file node are read.
trait Children<G: BlockGetter> {
    /// Copies the `parts` of the children of `parent` in order; returns the bytes written.
    fn copy(
        &self,
        reader: &Reader<G>,
        parent: &Cid,
        parts: &[Part],
        depth: usize,
        out: &mut impl Write,
        ahead: &mut u64,
    ) -> Result<u64, ReadError>;
}

/// One block after the other.
struct InOrder;

impl<G: BlockGetter> Children<G> for InOrder {
    fn copy(
        &self,
        reader: &Reader<G>,
        parent: &Cid,
        parts: &[Part],
        depth: usize,
        out: &mut impl Write,
        ahead: &mut u64,
    ) -> Result<u64, ReadError> {
        let mut written = 0;
        for part in parts {
            let block = reader.block(&part.cid)?;
            written += reader.copy_part(parent, part, block, depth, out, self, ahead)?;
        }
        Ok(written)
    }
}

/// The next blocks are read (and verified) on the pool while the current one is written;
/// `ahead` counts what is read ahead at every level of the DAG, to bound it.
struct ReadAhead;

impl<G: BlockGetter + Sync> Children<G> for ReadAhead {
    fn copy(
        &self,
        reader: &Reader<G>,
        parent: &Cid,
        parts: &[Part],
        depth: usize,
        out: &mut impl Write,
        ahead: &mut u64,
    ) -> Result<u64, ReadError> {
        type Fetched = std::thread::Result<Result<Block, ReadError>>;
        // What a child's block weighs in the budget: a leaf holds about its declared size; a
        // child declaring more than a block can hold is an inner node, small (a list of links)
        // however much its subtree holds.
        let weight = |i: usize| match parts[i].size {
            size if size > READ_AHEAD_BLOCK => READ_AHEAD_INNER,
            size => size.max(1),
        };
        // One message per child at most: a queue that size never makes a reader wait.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Fetched)>(parts.len());
        let mut slots: Vec<Option<Fetched>> = (0..parts.len()).map(|_| None).collect();
        let mut launched = 0;
        let mut held = 0u64; // this level's share of `ahead`
        let result = rayon::in_place_scope(|scope| {
            let mut written = 0;
            for (i, part) in parts.iter().enumerate() {
                // Read ahead while the budget allows (and always the block needed now).
                while launched < parts.len()
                    && (launched <= i || *ahead + weight(launched) <= READ_AHEAD_BYTES)
                {
                    let (j, want, tx) = (launched, parts[launched].cid, tx.clone());
                    scope.spawn(move |_| {
                        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            reader.block(&want)
                        }));
                        let _ = tx.send((j, got));
                    });
                    *ahead += weight(launched);
                    held += weight(launched);
                    launched += 1;
                }
                let fetched = loop {
                    if let Some(f) = slots[i].take() {
                        break f;
                    }
                    let (j, f) = rx.recv().expect("this thread holds a sender");
                    slots[j] = Some(f);
                };
                *ahead -= weight(i);
                held -= weight(i);
                let block = fetched.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
                written += reader.copy_part(parent, part, block, depth, out, self, ahead)?;
            }
            Ok(written)
        });
        // After an error, what was read ahead is dropped: give its budget back.
        *ahead -= held;
        result
    }
}

/// Bytes of file blocks read and verified ahead of the one being written.
const READ_AHEAD_BYTES: u64 = 8 * 1024 * 1024;
/// The largest leaf block expected (larger declared sizes are subtrees)...
const READ_AHEAD_BLOCK: u64 = crate::car::MAX_BLOCK_SIZE as u64;
/// ...and what an inner node counts for in the budget.
const READ_AHEAD_INNER: u64 = 512 * 1024;

/// The kind of a decoded node.
fn kind_of(cid: &Cid, decoded: Decoded) -> Result<NodeKind, ReadError> {
    Ok(match decoded {
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

/// The size a file node declares, after checking its fields agree with each other.
pub(super) fn declared_file_size(
    cid: &Cid,
    node: &PbNode,
    data: &UnixfsData,
) -> Result<u64, ReadError> {
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

pub(super) fn invalid(cid: &Cid, detail: String) -> ReadError {
    ReadError::Invalid { cid: *cid, detail }
}

/// Decodes a block fetched for `cid`.
pub(super) fn decode_block(cid: &Cid, block: Block) -> Result<Decoded, ReadError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::HashCode;
    use crate::store::{BlockPutter, MemoryStore};
    use crate::unixfs::{import_bytes, ImportParams};

    fn content(len: usize) -> Vec<u8> {
        crate::test_blocks::pseudo_random(0x9e37_79b9_7f4a_7c15, len)
    }

    fn params(raw_leaves: bool, chunk_size: usize, max_links: usize) -> ImportParams {
        ImportParams {
            cid_version: if raw_leaves {
                cid::Version::V1
            } else {
                cid::Version::V0
            },
            raw_leaves,
            chunker: crate::unixfs::Chunker::Size(chunk_size),
            max_links,
            hash: HashCode::Sha2_256,
        }
    }

    #[test]
    fn reading_ahead_gives_the_same_bytes_as_reading_in_order() {
        let data = content(300_000);
        for p in [
            params(true, 1000, 3),
            params(false, 777, 5),
            params(true, 65536, 174),
        ] {
            let (root, blocks) = import_bytes(&p, &data);
            let store = MemoryStore::new();
            for b in &blocks {
                store.put_block(b).unwrap();
            }
            let reader = Reader::new(&store);
            let ranges = [(0, None), (1, Some(5)), (999, Some(2002)), (123_456, None)];
            for (offset, len) in ranges
                .into_iter()
                .chain([(299_999, Some(10)), (400_000, None)])
            {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let na = reader.read_file(&root.cid, offset, len, &mut a).unwrap();
                let nb = reader
                    .read_file_parallel(&root.cid, offset, len, &mut b)
                    .unwrap();
                assert_eq!((na, &a), (nb, &b), "offset {offset}, len {len:?}");
                // On a pool thread it reads in order (and does not wait for its own pool).
                let mut c = Vec::new();
                rayon::scope(|_| reader.read_file_parallel(&root.cid, offset, len, &mut c))
                    .unwrap();
                assert_eq!(a, c);
                let s = (offset as usize).min(data.len());
                let e = len.map_or(data.len(), |l| (s + l as usize).min(data.len()));
                assert_eq!(a, data[s..e]);
            }
        }
    }

    #[test]
    fn reading_ahead_stops_at_the_first_missing_block() {
        let data = content(50_000);
        let (root, blocks) = import_bytes(&params(true, 1000, 4), &data);
        let leaves: Vec<&Block> = blocks.iter().filter(|b| b.cid().codec() == RAW).collect();
        let gone = *leaves[20].cid();
        let store = MemoryStore::new();
        for b in blocks.iter().filter(|b| *b.cid() != gone) {
            store.put_block(b).unwrap();
        }
        let reader = Reader::new(&store);
        let mut out = Vec::new();
        let err = reader
            .read_file_parallel(&root.cid, 0, None, &mut out)
            .unwrap_err();
        assert!(
            matches!(err, ReadError::MissingBlock(c) if c == gone),
            "{err}"
        );
        assert_eq!(out, data[..20_000]);
    }
}
