//! Writing UnixFS content out of the store to disk: files appear atomically (temp file in the
//! target folder, fsync, rename), directories are built in a hidden temp folder and renamed into
//! place, and untrusted names and symlinks can never place anything outside the output.

use crate::content::Cid;
use crate::output::{folder_of, staging_dir, staging_file, swap_in, OutputError};
use crate::store::BlockGetter;
use crate::unixfs::{check_entry_name, NodeKind, ReadError, Reader};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Errors while writing content to disk.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Reading the DAG failed (missing block, invalid node, …).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A filesystem operation failed.
    #[error("failed to {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A directory entry name that could escape the output folder.
    #[error("refusing directory entry `{name}` in `{dir}`: {reason}")]
    UnsafeName {
        /// The name, escaped.
        name: String,
        /// The directory node holding it.
        dir: Cid,
        /// Why.
        reason: String,
    },
    /// A symlink whose target leaves the output folder.
    #[error("refusing symlink `{}` -> `{target}`: it points outside the output folder", path.display())]
    UnsafeSymlink {
        /// Where it would have been created.
        path: PathBuf,
        /// Its target.
        target: String,
    },
    /// The output cannot be placed (it exists, its folder does not, a rename failed).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The content is a symlink: written out only inside a folder (its target could be
    /// anywhere).
    #[error("`{cid}` is a symlink (to `{target}`), not a file or folder; trove writes symlinks only inside a folder it writes")]
    SymlinkRoot {
        /// The symlink node.
        cid: Cid,
        /// Its target.
        target: String,
    },
    /// Not UnixFS content.
    #[error("`{cid}` is a {kind}; only UnixFS files, directories and symlinks can be written out")]
    NotUnixfs {
        /// The node.
        cid: Cid,
        /// What it is.
        kind: String,
    },
}

impl ExtractError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        ExtractError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl crate::Hint for ExtractError {
    fn hint(&self) -> Option<String> {
        match self {
            ExtractError::Output(e) => e.hint(),
            ExtractError::Read(e) => e.hint(),
            ExtractError::SymlinkRoot { .. } => Some(
                "get the folder that holds it, or the file it points to (CID/path/to/file)".into(),
            ),
            _ => None,
        }
    }
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Files written.
    pub files: u64,
    /// Directories created (the top one included).
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Content bytes written.
    pub bytes: u64,
}

/// Writes the content at `cid` to `out`: a file becomes a file (replacing an existing file
/// atomically), a directory a new directory. A folder already at `out` (or, for a directory, any
/// entry there) is an error unless `replace` is set; then the new output takes its place in one
/// rename and the old one is deleted afterwards (put back if the rename fails).
pub fn extract<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    out: &Path,
    replace: bool,
) -> Result<ExtractSummary, ExtractError> {
    extract_with(
        reader,
        cid,
        out,
        ExtractOptions {
            replace,
            read_only: false,
        },
    )
}

/// How [`extract_with`] writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Replace a folder already at the output (see [`extract`]).
    pub replace: bool,
    /// Mark everything read-only before it is renamed into place (the cache's snapshots).
    pub read_only: bool,
}

/// [`extract`] with options.
pub fn extract_with<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    out: &Path,
    options: ExtractOptions,
) -> Result<ExtractSummary, ExtractError> {
    let ExtractOptions { replace, read_only } = options;
    let parent = folder_of(out);
    let mut summary = ExtractSummary::default();
    match reader.kind(cid)? {
        NodeKind::File { size } => {
            let in_the_way = out.is_dir();
            if in_the_way && !replace {
                return Err(OutputError::Exists {
                    path: out.to_path_buf(),
                }
                .into());
            }
            let mut tmp = staging_file(parent)
                .map_err(|e| ExtractError::io("create a temporary file in", parent, e))?;
            let tmp_path = tmp.path().to_path_buf();
            write_file(
                reader,
                cid,
                size,
                tmp.as_file_mut(),
                &tmp_path,
                &mut summary,
            )?;
            if read_only {
                crate::output::make_read_only(&tmp_path)?;
            }
            if in_the_way {
                let staged = tmp
                    .into_temp_path()
                    .keep()
                    .map_err(|e| ExtractError::io("keep the finished file", &tmp_path, e.error))?;
                swap_in(&staged, out, parent)?;
            } else {
                tmp.persist(out)
                    .map_err(|e| ExtractError::io("move the finished file to", out, e.error))?;
            }
        }
        NodeKind::Directory | NodeKind::ShardedDirectory => {
            let in_the_way = out.symlink_metadata().is_ok();
            if in_the_way && !replace {
                return Err(OutputError::Exists {
                    path: out.to_path_buf(),
                }
                .into());
            }
            let tmp = staging_dir(parent)
                .map_err(|e| ExtractError::io("create a temporary folder in", parent, e))?;
            write_dir(reader, cid, tmp.path(), tmp.path(), 0, &mut summary)?;
            if read_only {
                crate::output::make_read_only(tmp.path())?;
            }
            let staged = tmp.keep();
            if in_the_way {
                swap_in(&staged, out, parent)?;
            } else if let Err(e) = std::fs::rename(&staged, out) {
                let _ = std::fs::remove_dir_all(&staged);
                return Err(ExtractError::io("move the finished folder to", out, e));
            }
        }
        NodeKind::Symlink { target } => {
            return Err(ExtractError::SymlinkRoot { cid: *cid, target })
        }
        NodeKind::Other { codec } => {
            return Err(ExtractError::NotUnixfs {
                cid: *cid,
                kind: format!("{codec} node"),
            })
        }
    }
    Ok(summary)
}

/// Writes the file at `cid` (of `size` bytes) into `file` (at `path`) and flushes it to disk.
fn write_file<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    size: u64,
    file: &mut std::fs::File,
    path: &Path,
    summary: &mut ExtractSummary,
) -> Result<(), ExtractError> {
    let n = match direct::Writer::open(path, file, size) {
        Some(mut direct) => {
            let n = reader.read_file_parallel(cid, 0, None, &mut direct)?;
            direct
                .finish()
                .map_err(|e| ExtractError::io("write", path, e))?;
            n
        }
        None => {
            let mut buffered = std::io::BufWriter::with_capacity(1 << 20, &mut *file);
            let n = reader.read_file_parallel(cid, 0, None, &mut buffered)?;
            buffered
                .flush()
                .map_err(|e| ExtractError::io("write", path, e))?;
            n
        }
    };
    file.sync_all()
        .map_err(|e| ExtractError::io("flush", path, e))?;
    summary.files += 1;
    summary.bytes += n;
    Ok(())
}

fn write_dir<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    dir: &Path,
    root: &Path,
    depth: usize,
    summary: &mut ExtractSummary,
) -> Result<(), ExtractError> {
    if depth > crate::unixfs::reader::MAX_DEPTH {
        return Err(ReadError::Invalid {
            cid: *cid,
            detail: "directories nested too deeply".into(),
        }
        .into());
    }
    summary.dirs += 1;
    for entry in reader.list(cid)? {
        check_entry_name(&entry.name).map_err(|e| ExtractError::UnsafeName {
            name: entry.name.escape_debug().to_string(),
            dir: *cid,
            reason: e.to_string(),
        })?;
        let path = dir.join(&entry.name);
        match reader.kind(&entry.cid)? {
            NodeKind::File { size } => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| ExtractError::io("create", &path, e))?;
                write_file(reader, &entry.cid, size, &mut file, &path, summary)?;
            }
            NodeKind::Directory | NodeKind::ShardedDirectory => {
                std::fs::create_dir(&path).map_err(|e| ExtractError::io("create", &path, e))?;
                write_dir(reader, &entry.cid, &path, root, depth + 1, summary)?;
            }
            NodeKind::Symlink { target } => {
                if !symlink_stays_inside(root, dir, &target) {
                    return Err(ExtractError::UnsafeSymlink { path, target });
                }
                crate::output::make_symlink(&target, &path)
                    .map_err(|e| ExtractError::io("create symlink", &path, e))?;
                summary.symlinks += 1;
            }
            NodeKind::Other { codec } => {
                return Err(ExtractError::NotUnixfs {
                    cid: entry.cid,
                    kind: format!("{codec} node (entry `{}`)", entry.name),
                })
            }
        }
    }
    Ok(())
}

/// Whether a relative symlink target, resolved lexically from `dir`, stays under `root`.
fn symlink_stays_inside(root: &Path, dir: &Path, target: &str) -> bool {
    if target.is_empty() || target.contains('\0') {
        return false;
    }
    let Ok(rel) = dir.strip_prefix(root) else {
        return false;
    };
    let mut depth = rel.components().count() as isize;
    for component in Path::new(target).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Direct I/O for big output files: they are flushed to disk before they are renamed into place
/// anyway, so going through the page cache only costs a copy, and memory that the cached blocks
/// (and everything else) would rather have. Where the filesystem refuses direct I/O, plain
/// writes take over.
#[cfg(target_os = "linux")]
mod direct {
    use std::fs::File;
    use std::io::{ErrorKind, Write};
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::path::Path;

    /// Files from this size on are written directly.
    const MIN_SIZE: u64 = 16 * 1024 * 1024;
    /// Offsets, lengths and buffer addresses of direct writes are multiples of this.
    const ALIGN: usize = 4096;
    /// Bytes gathered before one direct write.
    const CHUNK: usize = 4 * 1024 * 1024;

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    const O_DIRECT: i32 = 0o40000;
    #[cfg(any(target_arch = "arm", target_arch = "aarch64"))]
    const O_DIRECT: i32 = 0o200000;
    #[cfg(not(any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64"
    )))]
    const O_DIRECT: i32 = 0;

    /// Writes a new file from its start: whole aligned chunks through a second descriptor
    /// opened with `O_DIRECT`, the unaligned tail (and everything, after the filesystem refused
    /// a direct write) through the plain one. (The next blocks are read and verified on the
    /// pool meanwhile; a second buffer and a writing thread of its own did not make it faster.)
    pub(super) struct Writer<'f> {
        direct: Option<File>,
        plain: &'f File,
        buf: Vec<u8>,
        /// Where the aligned part starts in `buf`.
        start: usize,
        /// Bytes gathered.
        len: usize,
        /// File offset of the first gathered byte.
        offset: u64,
    }

    impl<'f> Writer<'f> {
        /// A direct writer for the empty file `plain` at `path`, when `size` makes it worth it
        /// and the filesystem lets the file be opened for direct I/O.
        pub(super) fn open(path: &Path, plain: &'f File, size: u64) -> Option<Self> {
            if size < MIN_SIZE || O_DIRECT == 0 {
                return None;
            }
            let direct = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_DIRECT)
                .open(path)
                .ok()?;
            let buf = vec![0u8; CHUNK + ALIGN];
            let start = buf.as_ptr().align_offset(ALIGN);
            Some(Writer {
                direct: Some(direct),
                plain,
                buf,
                start,
                len: 0,
                offset: 0,
            })
        }

        /// Writes what is gathered.
        pub(super) fn finish(mut self) -> std::io::Result<()> {
            self.write_out()
        }

        fn write_out(&mut self) -> std::io::Result<()> {
            let data = &self.buf[self.start..self.start + self.len];
            let mut done = 0;
            while done < data.len() {
                let at = self.offset + done as u64;
                let rest = &data[done..];
                let whole = rest.len() / ALIGN * ALIGN;
                let result = match &self.direct {
                    Some(direct)
                        if whole > 0
                            && done.is_multiple_of(ALIGN)
                            && at.is_multiple_of(ALIGN as u64) =>
                    {
                        direct.write_at(&rest[..whole], at)
                    }
                    _ => self.plain.write_at(rest, at),
                };
                match result {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // The filesystem takes no direct I/O (or not with this alignment).
                    Err(e) if e.kind() == ErrorKind::InvalidInput && self.direct.is_some() => {
                        self.direct = None;
                    }
                    Err(e) => return Err(e),
                }
            }
            self.offset += data.len() as u64;
            self.len = 0;
            Ok(())
        }
    }

    impl Write for Writer<'_> {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            let n = data.len().min(CHUNK - self.len);
            let at = self.start + self.len;
            self.buf[at..at + n].copy_from_slice(&data[..n]);
            self.len += n;
            if self.len == CHUNK {
                self.write_out()?;
            }
            Ok(n)
        }

        /// Whole chunks only: the rest is written by [`Writer::finish`].
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

/// No direct I/O here: every file goes through the page cache.
#[cfg(not(target_os = "linux"))]
mod direct {
    use std::fs::File;
    use std::path::Path;

    pub(super) enum Writer {}

    impl Writer {
        pub(super) fn open(_path: &Path, _plain: &File, _size: u64) -> Option<Self> {
            None
        }

        pub(super) fn finish(self) -> std::io::Result<()> {
            match self {}
        }
    }

    impl std::io::Write for Writer {
        fn write(&mut self, _data: &[u8]) -> std::io::Result<usize> {
            match *self {}
        }

        fn flush(&mut self) -> std::io::Result<()> {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_files_come_out_whole() {
        use crate::store::{BlockPutter, MemoryStore};
        // Above the direct I/O threshold, with chunks that do not fall on its alignment.
        let content =
            crate::test_blocks::pseudo_random(0x9e37_79b9_7f4a_7c15, 17 * 1024 * 1024 + 4321);
        let params = crate::unixfs::ImportParams {
            cid_version: cid::Version::V1,
            raw_leaves: true,
            chunker: crate::unixfs::Chunker::Size(1_000_003),
            max_links: 5,
            hash: crate::content::HashCode::Sha2_256,
        };
        let (root, blocks) = crate::unixfs::import_bytes(&params, &content);
        let store = MemoryStore::new();
        for b in &blocks {
            store.put_block(b).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("big.bin");
        std::fs::write(&out, b"old").unwrap();
        let summary = extract(&Reader::new(&store), &root.cid, &out, false).unwrap();
        assert_eq!(summary.bytes, content.len() as u64);
        assert!(std::fs::read(&out).unwrap() == content);
        // The same inside a directory.
        let mut builder = crate::unixfs::DirBuilder::new(params);
        builder.add("big.bin", root).unwrap();
        let top = builder.finish(&mut |b| {
            store.put_block(&b).unwrap();
        });
        let tree = dir.path().join("tree");
        extract(&Reader::new(&store), &top.cid, &tree, false).unwrap();
        assert!(std::fs::read(tree.join("big.bin")).unwrap() == content);
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let root = Path::new("/out");
        assert!(symlink_stays_inside(root, Path::new("/out"), "a"));
        assert!(symlink_stays_inside(root, Path::new("/out/sub"), "../a"));
        assert!(!symlink_stays_inside(root, Path::new("/out"), "../a"));
        assert!(!symlink_stays_inside(
            root,
            Path::new("/out/sub"),
            "../../etc"
        ));
        assert!(!symlink_stays_inside(
            root,
            Path::new("/out"),
            "/etc/passwd"
        ));
        assert!(!symlink_stays_inside(root, Path::new("/out"), ""));
    }
}
