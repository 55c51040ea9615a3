//! Snapshots: the warm path of a get. Each is a verified, read-only copy of one piece of
//! content, written out of the store once and handed out as a path from then on (the way
//! `hf_hub_download` returns a path into its cache):
//!
//! ```text
//! <cache>/snapshots-v1/<content CID>/<name>      a file or a folder tree, read-only
//! ```
//!
//! `<name>` is what the content is called where it was asked for (the file name for
//! `ID@1/sfs.csv`, the ID for an artifact, the CID otherwise), so a path handed to a user has a
//! meaningful last component. A snapshot is written like every output (staged in a hidden
//! temporary name, renamed into place whole), marked read-only before the rename, and never
//! rewritten: a reader sees the whole snapshot or none. Two processes making the same snapshot
//! both write it; the first rename wins and the other's copy is dropped.
//!
//! A warm get does no copying and no network: it finds the snapshot by its CID. `cache gc`
//! removes snapshots whose CID no kept root reaches; `cache verify` compares each with the
//! verified blocks of its CID.

use crate::content::{parse_cid, Cid};
use crate::output::remove_path;
use crate::store::BlockGetter;
use crate::unixfs::{NodeKind, ReadError, Reader};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The folder of the snapshots under a cache directory.
const DIR: &str = "snapshots-v1";

/// One snapshot on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The content's CID.
    pub cid: Cid,
    /// Its name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
}

/// The snapshots of one cache.
#[derive(Debug, Clone)]
pub struct Snapshots {
    root: PathBuf,
}

impl Snapshots {
    /// The snapshots under `cache_dir`.
    pub fn new(cache_dir: &Path) -> Self {
        Snapshots {
            root: cache_dir.join(DIR),
        }
    }

    /// Where they live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the snapshot of `cid` called `name` is (or would be).
    pub fn path(&self, cid: &Cid, name: &str) -> PathBuf {
        self.root.join(cid.to_string()).join(name)
    }

    /// The snapshot of `cid` called `name`, if there is one.
    pub fn find(&self, cid: &Cid, name: &str) -> Option<PathBuf> {
        let path = self.path(cid, name);
        path.symlink_metadata().is_ok().then_some(path)
    }

    /// Makes the folder a snapshot of `cid` goes into; returns the snapshot's path.
    pub fn prepare(&self, cid: &Cid, name: &str) -> std::io::Result<PathBuf> {
        let path = self.path(cid, name);
        std::fs::create_dir_all(crate::output::folder_of(&path))?;
        Ok(path)
    }

    /// Every snapshot (hidden temporary names left by an interrupted write excluded).
    pub fn list(&self) -> std::io::Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(cid) = entry.file_name().to_str().and_then(|s| parse_cid(s).ok()) else {
                continue;
            };
            for inner in std::fs::read_dir(entry.path())? {
                let inner = inner?;
                let Some(name) = inner.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with(".trove-") {
                    continue;
                }
                out.push(Snapshot {
                    cid,
                    name,
                    path: inner.path(),
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Removes the snapshots for which `keep` says no, and leftovers of interrupted writes;
    /// returns what was removed and how many bytes it held.
    pub fn prune(&self, keep: impl Fn(&Snapshot) -> bool) -> std::io::Result<(Vec<Snapshot>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for snapshot in self.list()? {
            if keep(&snapshot) {
                continue;
            }
            bytes += tree_size(&snapshot.path);
            remove_path(&snapshot.path)?;
            let _ = std::fs::remove_dir(crate::output::folder_of(&snapshot.path));
            removed.push(snapshot);
        }
        self.remove_leftovers()?;
        Ok((removed, bytes))
    }

    /// Removes hidden temporary names left by writes that were interrupted.
    fn remove_leftovers(&self) -> std::io::Result<()> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let Ok(inner) = std::fs::read_dir(entry.path()) else {
                continue;
            };
            for leftover in inner.flatten() {
                if leftover
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".trove-")
                    && is_stale(&leftover.path())
                {
                    remove_path(&leftover.path())?;
                }
            }
        }
        Ok(())
    }
}

/// A temporary name untouched for an hour: its writer is gone.
fn is_stale(path: &Path) -> bool {
    path.symlink_metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(3600))
}

/// The bytes in the files under `path`.
pub fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = path.symlink_metadata() else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| tree_size(&e.path())).sum())
            .unwrap_or(0)
    } else if meta.is_file() {
        meta.len()
    } else {
        0
    }
}

/// How a snapshot differs from the content it claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// A file or folder the content has is missing.
    Missing(PathBuf),
    /// Something is there that the content does not have.
    Extra(PathBuf),
    /// A file's bytes (or a symlink's target) differ.
    Changed(PathBuf),
    /// A file where the content has a folder, or the other way round.
    WrongKind(PathBuf),
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing(p) => write!(f, "`{}` is missing", p.display()),
            Mismatch::Extra(p) => write!(f, "`{}` is not part of the content", p.display()),
            Mismatch::Changed(p) => write!(f, "`{}` was changed", p.display()),
            Mismatch::WrongKind(p) => write!(f, "`{}` is of the wrong kind", p.display()),
        }
    }
}

/// Compares the tree at `path` with the content at `cid`, read through `reader` (whose blocks
/// are verified on read): every name, every byte, every symlink target. Returns every
/// difference (empty: intact). A block the store lacks is an error: nothing to compare with.
pub fn compare<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    path: &Path,
) -> Result<Vec<Mismatch>, ReadError> {
    let mut out = Vec::new();
    compare_into(reader, cid, path, &mut out, 0)?;
    Ok(out)
}

fn compare_into<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    path: &Path,
    out: &mut Vec<Mismatch>,
    depth: usize,
) -> Result<(), ReadError> {
    let Ok(meta) = path.symlink_metadata() else {
        out.push(Mismatch::Missing(path.to_path_buf()));
        return Ok(());
    };
    match reader.kind(cid)? {
        NodeKind::File { size } => {
            if !meta.is_file() {
                out.push(Mismatch::WrongKind(path.to_path_buf()));
            } else if meta.len() != size || !same_bytes(reader, cid, path)? {
                out.push(Mismatch::Changed(path.to_path_buf()));
            }
        }
        NodeKind::Directory | NodeKind::ShardedDirectory => {
            if !meta.is_dir() {
                out.push(Mismatch::WrongKind(path.to_path_buf()));
                return Ok(());
            }
            if depth > crate::unixfs::reader::MAX_DEPTH {
                return Err(ReadError::Invalid {
                    cid: *cid,
                    detail: "directories nested too deeply".into(),
                });
            }
            let entries = reader.list(cid)?;
            let names: std::collections::HashSet<&str> =
                entries.iter().map(|e| e.name.as_str()).collect();
            for entry in &entries {
                compare_into(reader, &entry.cid, &path.join(&entry.name), out, depth + 1)?;
            }
            if let Ok(on_disk) = std::fs::read_dir(path) {
                for e in on_disk.flatten() {
                    let name = e.file_name();
                    if !names.contains(name.to_string_lossy().as_ref()) {
                        out.push(Mismatch::Extra(e.path()));
                    }
                }
            }
        }
        NodeKind::Symlink { target } => {
            let same = meta.file_type().is_symlink()
                && std::fs::read_link(path).is_ok_and(|t| t == Path::new(&target));
            if !same {
                out.push(Mismatch::Changed(path.to_path_buf()));
            }
        }
        NodeKind::Other { .. } => out.push(Mismatch::WrongKind(path.to_path_buf())),
    }
    Ok(())
}

/// Whether the file at `path` holds exactly the bytes of the file at `cid`.
fn same_bytes<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    path: &Path,
) -> Result<bool, ReadError> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(false);
    };
    let mut compare = Comparing {
        file: std::io::BufReader::with_capacity(1 << 20, file),
        same: true,
        buf: Vec::new(),
    };
    reader.read_file(cid, 0, None, &mut compare)?;
    let mut rest = [0u8; 1];
    let at_end = matches!(compare.file.read(&mut rest), Ok(0));
    Ok(compare.same && at_end)
}

/// A `Write` that compares what passes through it with a file.
struct Comparing<R: Read> {
    file: R,
    same: bool,
    buf: Vec<u8>,
}

impl<R: Read> std::io::Write for Comparing<R> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.same {
            self.buf.resize(data.len(), 0);
            self.same = self.file.read_exact(&mut self.buf).is_ok() && self.buf == data;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
