//! The on-disk block store under the cache directory.
//!
//! Layout (version 1):
//!
//! ```text
//! <root>/VERSION                      "trove-cache-layout 1"
//! <root>/blocks-v1/<shard>/<key>      one file per block, the block's bytes
//! <root>/roots-v1/<cidv1>.json        kept roots (see `roots.rs`)
//! <root>/tmp/                         temp files, renamed into place when complete
//! <root>/lock, <root>/locks/          cross-process lock (see `lock.rs`)
//! ```
//!
//! `<key>` is the lower-case, unpadded base32 of the block's multihash, so CIDv0 and CIDv1 (and
//! different codecs) of the same bytes share one file; `<shard>` is the two characters before the
//! key's last one (like Kubo's `next-to-last/2`), because a key's first characters only encode the
//! hash function.
//!
//! Every write goes to a fresh temp file in `tmp/`, is fsynced and renamed over the final name, so
//! a crash leaves at most junk in `tmp/` (removed once older than
//! [`FsStoreOptions::tmp_max_age`]). Every read is re-verified against the CID.

use super::lock::{unique_suffix, LockMode, Locker};
use super::{BlockGetter, BlockPutter, StoreError};
use crate::content::{is_inline, multihash_key, verify, Block, Cid, Multihash, RAW};
use crate::output::remove_path;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The layout version this code reads and writes.
const LAYOUT_VERSION: u32 = 1;
const VERSION_FILE: &str = "VERSION";
const VERSION_PREFIX: &str = "trove-cache-layout ";
const BLOCKS_DIR: &str = "blocks-v1";
const ROOTS_DIR: &str = "roots-v1";
const TMP_DIR: &str = "tmp";
/// What a fresh cache directory may already contain: the store's own entries (another process
/// may be creating it) and the folders other parts of trove keep in the cache directory (the
/// registry copies, publish clones, partial mirror downloads), which may come first.
const OWN_ENTRIES: &[&str] = &[
    VERSION_FILE,
    BLOCKS_DIR,
    ROOTS_DIR,
    TMP_DIR,
    "lock",
    "locks",
    "registry-v1",
    "publish-v1",
    "downloads-v1",
];
const BASE32: multibase::Base = multibase::Base::Base32Lower;

/// The default cache directory (`~/.cache/trove` on Linux, the platform's cache folder elsewhere).
/// The CLI prefers `--cache-dir` and `TROVE_CACHE_DIR`; the store itself reads no environment.
pub fn default_cache_dir() -> Result<PathBuf, StoreError> {
    directories::ProjectDirs::from("", "", "trove")
        .map(|dirs| dirs.cache_dir().to_path_buf())
        .ok_or(StoreError::NoCacheDir)
}

/// Tunables of an [`FsStore`]; [`Default`] suits the CLI.
#[derive(Debug, Clone)]
pub struct FsStoreOptions {
    /// gc never deletes a block written or re-put more recently than this, so that blocks of a
    /// download whose root is not kept yet survive a concurrent gc. Default: 1 hour.
    pub gc_grace: Duration,
    /// Temp files older than this are junk from a crashed process and get removed by `open` and
    /// `gc`. Default: 15 minutes.
    pub tmp_max_age: Duration,
    /// How long to wait for another process's lock before failing. Default: 10 minutes.
    pub lock_timeout: Duration,
    /// Use lock files even where OS file locks work (they are used anyway where OS locks are
    /// unsupported). Default: false.
    pub file_locks_only: bool,
    /// fsync every block before renaming it into place. Default: false. Without it a crash of
    /// the process still never exposes a partial block (rename is atomic and the page cache
    /// survives the process); after a power loss a torn block is caught by the hash check every
    /// read does, reported as corrupt, and fetched again.
    pub sync_writes: bool,
    /// Skip the re-hash when reading back a block this process verified and wrote itself
    /// (a get writes every block and then reads it again to assemble the output). Blocks from
    /// earlier runs or other processes are always re-hashed. Default: false.
    pub trust_own_writes: bool,
}

impl Default for FsStoreOptions {
    fn default() -> Self {
        FsStoreOptions {
            gc_grace: Duration::from_secs(60 * 60),
            tmp_max_age: Duration::from_secs(15 * 60),
            lock_timeout: Duration::from_secs(10 * 60),
            file_locks_only: false,
            sync_writes: false,
            trust_own_writes: false,
        }
    }
}

/// A block store in a directory, safe to share between processes.
#[derive(Debug)]
pub struct FsStore {
    pub(super) root: PathBuf,
    pub(super) blocks: PathBuf,
    pub(super) roots: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) options: FsStoreOptions,
    pub(super) locker: Locker,
    /// Blocks this process verified and wrote (multihash key → size): reading them back skips
    /// the re-hash (verify-on-read protects against damage at rest, not within one run).
    pub(super) written: Mutex<HashMap<Vec<u8>, usize>>,
}

/// At most this many blocks are remembered as written by this process.
const WRITTEN_MEMORY: usize = 1 << 20;

/// A block found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// The block's multihash (the store does not know which codec it was fetched under).
    pub multihash: Multihash,
    /// Its size in bytes.
    pub size: u64,
}

impl StoredBlock {
    /// A CIDv1 with the `raw` codec naming these bytes.
    pub fn raw_cid(&self) -> Cid {
        Cid::new_v1(RAW, self.multihash)
    }
}

/// How much the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Number of blocks.
    pub blocks: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// A stored file that is not a good block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBlock {
    /// Where it is.
    pub path: PathBuf,
    /// The key (base32 multihash) its name claims, if the name is a valid key.
    pub key: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// The result of [`FsStore::verify_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blocks re-hashed.
    pub checked: u64,
    /// Bytes re-hashed.
    pub checked_bytes: u64,
    /// Files that failed (corrupt blocks, bad names, files in the wrong place).
    pub bad: Vec<BadBlock>,
    /// How many bad files were deleted (with `remove_bad`).
    pub removed: u64,
}

/// One entry found under `blocks-v1`.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) kind: EntryKind,
}

#[derive(Debug)]
pub(super) enum EntryKind {
    Block { key: Vec<u8>, multihash: Multihash },
    Bad { reason: String },
}

impl FsStore {
    /// Opens the store at `root` with default options, creating it if needed.
    pub fn open(root: &Path) -> Result<FsStore, StoreError> {
        Self::open_with(root, FsStoreOptions::default())
    }

    /// Opens the store at `root`, creating it if needed. Refuses a directory that holds another
    /// layout version, or that is not empty and not a trove cache. Removes old temp files.
    pub fn open_with(root: &Path, options: FsStoreOptions) -> Result<FsStore, StoreError> {
        fs::create_dir_all(root)
            .map_err(|e| StoreError::io("failed to create cache directory", root, e))?;
        check_or_write_marker(root)?;
        let store = FsStore {
            root: root.to_path_buf(),
            blocks: root.join(BLOCKS_DIR),
            roots: root.join(ROOTS_DIR),
            tmp: root.join(TMP_DIR),
            locker: Locker::new(root, options.file_locks_only, options.lock_timeout),
            options,
            written: Mutex::default(),
        };
        for dir in [&store.blocks, &store.roots, &store.tmp] {
            fs::create_dir_all(dir)
                .map_err(|e| StoreError::io("failed to create cache directory", dir, e))?;
        }
        // Best effort: a read-only or busy cache is still usable.
        let _ = store.clean_tmp();
        Ok(store)
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every block on disk with its size (files with invalid names are skipped; see
    /// [`FsStore::verify_all`]).
    pub fn list_blocks(&self) -> Result<Vec<StoredBlock>, StoreError> {
        Ok(self
            .scan()?
            .into_iter()
            .filter_map(|entry| match entry.kind {
                EntryKind::Block { multihash, .. } => Some(StoredBlock {
                    multihash,
                    size: entry.size,
                }),
                EntryKind::Bad { .. } => None,
            })
            .collect())
    }

    /// Number and total size of the blocks on disk.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut stats = StoreStats::default();
        for block in self.list_blocks()? {
            stats.blocks += 1;
            stats.bytes += block.size;
        }
        Ok(stats)
    }

    /// Re-hashes every stored block (on all cores) and lists the bad ones; with `remove_bad`,
    /// deletes them (they are fetched again when next needed).
    pub fn verify_all(&self, remove_bad: bool) -> Result<VerifyReport, StoreError> {
        let checks: Vec<Check> = self
            .scan()?
            .into_par_iter()
            .map(check_entry)
            .collect::<Result<_, _>>()?;
        let mut report = VerifyReport::default();
        let mut bad_entries = Vec::new();
        for check in checks {
            match check {
                Check::Good { size } => {
                    report.checked += 1;
                    report.checked_bytes += size;
                }
                Check::Gone => {}
                Check::Bad(bad, is_block) => {
                    report.checked += u64::from(is_block);
                    bad_entries.push(bad.path.clone());
                    report.bad.push(bad);
                }
            }
        }
        if remove_bad && !report.bad.is_empty() {
            let mut guard = self.locker.acquire(LockMode::Exclusive)?;
            for path in bad_entries {
                guard.refresh();
                // Re-check under the lock: a writer may have repaired the block meanwhile.
                let Some(entry) = self.entry_at(&path)? else {
                    continue;
                };
                if matches!(check_entry(entry)?, Check::Bad(..)) {
                    remove_any(&path)?;
                    report.removed += 1;
                }
            }
        }
        report.bad.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(report)
    }

    /// The file name of the block named by `cid`.
    pub(super) fn block_path(&self, cid: &Cid) -> PathBuf {
        let name = BASE32.encode(multihash_key(cid));
        self.blocks.join(shard_of(&name)).join(name)
    }

    /// Removes temp files older than `tmp_max_age`; returns how many.
    pub(super) fn clean_tmp(&self) -> Result<u64, StoreError> {
        let entries = fs::read_dir(&self.tmp)
            .map_err(|e| StoreError::io("failed to list temp directory", &self.tmp, e))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if age(&meta) >= self.options.tmp_max_age {
                let path = entry.path();
                match remove_path(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("failed to remove temp file", path, e)),
                }
            }
        }
        Ok(removed)
    }

    /// Writes `data` to `path` atomically: temp file in `tmp/`, fsync if asked, rename.
    pub(super) fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), StoreError> {
        let prefix = format!("{}-", unique_suffix());
        let mut tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(&self.tmp)
            .map_err(|e| StoreError::io("failed to create a temp file in", &self.tmp, e))?;
        tmp.write_all(data)
            .and_then(|()| {
                if self.options.sync_writes {
                    tmp.as_file().sync_all()
                } else {
                    Ok(())
                }
            })
            .map_err(|e| StoreError::io("failed to write temp file", tmp.path(), e))?;
        // The shard folder almost always exists: try the rename first and create the folder
        // only when it is missing (a mkdir per block is costly on some filesystems).
        let tmp = match tmp.persist(path) {
            Ok(_) => return Ok(()),
            Err(e) if e.error.kind() == ErrorKind::NotFound => e.file,
            Err(e) => return Err(StoreError::io("failed to move into place", path, e.error)),
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| StoreError::io("failed to create directory", parent, e))?;
        }
        tmp.persist(path)
            .map_err(|e| StoreError::io("failed to move into place", path, e.error))?;
        Ok(())
    }

    /// Lists everything under `blocks-v1`, classifying each file.
    pub(super) fn scan(&self) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        for shard in read_dir(&self.blocks)? {
            let shard_path = shard.path();
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            let is_dir = shard.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || !valid_shard(&shard_name) {
                if let Some(entry) = self.entry_at(&shard_path)? {
                    out.push(entry);
                }
                continue;
            }
            for file in read_dir(&shard_path)? {
                if let Some(entry) = self.entry_at(&file.path())? {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }

    /// Classifies one path under `blocks-v1`; `None` if it vanished.
    fn entry_at(&self, path: &Path) -> Result<Option<Entry>, StoreError> {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("failed to inspect", path, e)),
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let parent = path.parent().unwrap_or(path);
        let kind = if parent == self.blocks {
            EntryKind::Bad {
                reason: "unexpected entry in the blocks directory".into(),
            }
        } else if !meta.is_file() {
            EntryKind::Bad {
                reason: "not a regular file".into(),
            }
        } else {
            match parse_key(&name) {
                Err(reason) => EntryKind::Bad { reason },
                Ok(_) if parent.file_name() != Some(shard_of(&name).as_ref()) => EntryKind::Bad {
                    reason: format!("in the wrong shard (expected `{}`)", shard_of(&name)),
                },
                Ok((key, multihash)) => EntryKind::Block { key, multihash },
            }
        };
        Ok(Some(Entry {
            path: path.to_path_buf(),
            size: meta.len(),
            kind,
        }))
    }
}

impl BlockGetter for FsStore {
    fn get_block(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        let data = if is_inline(cid) {
            cid.hash().digest().to_vec()
        } else {
            let path = self.block_path(cid);
            match fs::read(&path) {
                Ok(data) => data,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(StoreError::io("failed to read block", path, e)),
            }
        };
        let key = multihash_key(cid);
        if self.options.trust_own_writes
            && self.written.lock().expect("lock").get(&key) == Some(&data.len())
        {
            return Ok(Some(Block::reread(*cid, data)));
        }
        Block::verified(*cid, data)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                cid: cid.to_string(),
                detail: format!("{e}; file `{}`", self.block_path(cid).display()),
            })
    }

    fn has_block(&self, cid: &Cid) -> Result<bool, StoreError> {
        if is_inline(cid) {
            return Ok(true);
        }
        Ok(self.block_size(cid)?.is_some())
    }

    fn block_size(&self, cid: &Cid) -> Result<Option<u64>, StoreError> {
        if is_inline(cid) {
            return Ok(Some(cid.hash().digest().len() as u64));
        }
        let path = self.block_path(cid);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.is_file().then_some(meta.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("failed to inspect block", path, e)),
        }
    }
}

impl BlockPutter for FsStore {
    /// Stores the block unless an identical copy is there (then its time is refreshed, which
    /// protects it from a concurrent gc for the grace period). A damaged copy is replaced.
    fn put_block(&self, block: &Block) -> Result<bool, StoreError> {
        if is_inline(block.cid()) {
            return Ok(false);
        }
        let path = self.block_path(block.cid());
        let _guard = self.locker.acquire(LockMode::Shared)?;
        match fs::read(&path) {
            Ok(existing) if existing == block.data() => {
                File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()))
                    .map_err(|e| StoreError::io("failed to touch block", &path, e))?;
                self.remember_written(block);
                return Ok(false);
            }
            Ok(_) => {} // a damaged copy: overwrite it
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("failed to read block", path, e)),
        }
        self.write_atomic(&path, block.data())?;
        self.remember_written(block);
        Ok(true)
    }
}

impl FsStore {
    fn remember_written(&self, block: &Block) {
        if !self.options.trust_own_writes {
            return;
        }
        let mut written = self.written.lock().expect("lock");
        if written.len() < WRITTEN_MEMORY {
            written.insert(multihash_key(block.cid()), block.data().len());
        }
    }
}

/// The outcome of checking one entry.
enum Check {
    Good {
        size: u64,
    },
    Gone,
    /// A bad entry; the flag says whether it had a valid block name.
    Bad(BadBlock, bool),
}

fn check_entry(entry: Entry) -> Result<Check, StoreError> {
    let (key, multihash) = match entry.kind {
        EntryKind::Bad { reason } => {
            return Ok(Check::Bad(
                BadBlock {
                    path: entry.path,
                    key: None,
                    reason,
                },
                false,
            ))
        }
        EntryKind::Block { key, multihash } => (key, multihash),
    };
    let data = match fs::read(&entry.path) {
        Ok(data) => data,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Check::Gone),
        Err(e) => return Err(StoreError::io("failed to read block", entry.path, e)),
    };
    match verify(&Cid::new_v1(RAW, multihash), &data) {
        Ok(()) => Ok(Check::Good {
            size: data.len() as u64,
        }),
        Err(e) => Ok(Check::Bad(
            BadBlock {
                path: entry.path,
                key: Some(BASE32.encode(key)),
                reason: e.to_string(),
            },
            true,
        )),
    }
}

/// Decodes a block file name into its multihash; the name must be the canonical encoding.
fn parse_key(name: &str) -> Result<(Vec<u8>, Multihash), String> {
    let key = BASE32
        .decode(name)
        .map_err(|_| "file name is not lower-case base32".to_string())?;
    let multihash =
        Multihash::from_bytes(&key).map_err(|e| format!("file name is not a multihash: {e}"))?;
    if BASE32.encode(&key) != name || multihash.to_bytes() != key {
        return Err("file name is not in canonical form".into());
    }
    if is_inline(&Cid::new_v1(RAW, multihash)) {
        return Err("identity multihashes are never stored".into());
    }
    Ok((key, multihash))
}

/// The two characters before the last one (Kubo's `next-to-last/2`).
fn shard_of(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        n if n >= 3 => chars[n - 3..n - 1].iter().collect(),
        _ => "__".into(),
    }
}

fn valid_shard(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, StoreError> {
    let entries =
        fs::read_dir(dir).map_err(|e| StoreError::io("failed to list directory", dir, e))?;
    entries
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::io("failed to list directory", dir, e))
}

fn remove_any(path: &Path) -> Result<(), StoreError> {
    match remove_path(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(StoreError::io("failed to remove", path, e))
        }
        _ => Ok(()),
    }
}

/// How long ago a file was modified (zero if in the future or unknown).
pub(super) fn age(meta: &fs::Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

/// Checks the `VERSION` marker, or writes it into a new, empty cache directory.
fn check_or_write_marker(root: &Path) -> Result<(), StoreError> {
    let marker = root.join(VERSION_FILE);
    let layout = |detail: String| StoreError::Layout {
        path: root.to_path_buf(),
        detail,
    };
    match fs::read_to_string(&marker) {
        Ok(text) => {
            let version = text
                .trim()
                .strip_prefix(VERSION_PREFIX)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .ok_or_else(|| layout(format!("has an unrecognised `{VERSION_FILE}` file")))?;
            if version != LAYOUT_VERSION {
                return Err(layout(format!(
                    "uses cache layout {version}, but this trove only reads layout \
                     {LAYOUT_VERSION}; use another --cache-dir or delete the cache"
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            for entry in read_dir(root)? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !OWN_ENTRIES.contains(&name.as_str()) && !name.starts_with(".VERSION") {
                    return Err(layout(format!(
                        "is not empty and is not a trove cache (no `{VERSION_FILE}` file, found \
                         `{name}`); choose an empty or new directory"
                    )));
                }
            }
            let mut tmp = tempfile::Builder::new()
                .prefix(".VERSION.")
                .tempfile_in(root)
                .map_err(|e| StoreError::io("failed to create a temp file in", root, e))?;
            writeln!(tmp, "{VERSION_PREFIX}{LAYOUT_VERSION}")
                .and_then(|()| tmp.as_file().sync_all())
                .map_err(|e| StoreError::io("failed to write", tmp.path(), e))?;
            tmp.persist(&marker)
                .map_err(|e| StoreError::io("failed to write", &marker, e.error))?;
            Ok(())
        }
        Err(e) => Err(StoreError::io("failed to read", marker, e)),
    }
}

#[cfg(test)]
mod tests;
