//! Kept roots and the garbage collector that deletes every block not reachable from one.
//!
//! A kept root is a small JSON file `roots-v1/<cidv1-base32>.json` (written atomically) holding
//! the CID as given, a label and the time it was kept. CIDv0 and CIDv1 of the same node share one
//! record.
//!
//! gc is safe against concurrent writers: it walks the kept DAGs without a lock, then takes the
//! store's exclusive lock (writers hold a shared one), walks any root kept in the meantime, and
//! deletes only unreachable blocks older than [`FsStoreOptions::gc_grace`](super::FsStoreOptions).
//! A writer re-putting a block it already has refreshes the block's time, so it survives too.
//! Callers that fetch a DAG should keep its root *before* fetching, so a gc running during a
//! download longer than the grace period cannot remove its first blocks.

use super::fs::{age, EntryKind};
use super::lock::LockMode;
use super::{BlockGetter, FsStore, StoreError};
use crate::content::{format_cid_in, is_inline, multihash_key, parse_cid, Cid};
use std::collections::HashSet;
use std::fmt::Display;
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A root whose DAG gc keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRoot {
    /// The root CID, as it was given to [`FsStore::keep_root`].
    pub cid: Cid,
    /// A free-form label (e.g. the registry id and version).
    pub label: String,
    /// When it was (last) kept.
    pub kept_at: SystemTime,
}

/// A block under a kept root whose links could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    /// The block.
    pub cid: Cid,
    /// Why its links are unknown.
    pub reason: String,
}

/// What [`FsStore::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Kept roots walked.
    pub roots: u64,
    /// Blocks under kept roots that are not in the store (partial DAGs are fine).
    pub missing_blocks: u64,
    /// Blocks deleted.
    pub removed_blocks: u64,
    /// Bytes deleted.
    pub removed_bytes: u64,
    /// Blocks left in the store (reachable, or unreachable but recent).
    pub kept_blocks: u64,
    /// Bytes left in the store.
    pub kept_bytes: u64,
    /// Of the kept blocks, those kept only because they were written within the grace period.
    pub kept_recent: u64,
    /// Old temp files removed.
    pub temp_files_removed: u64,
    /// Blocks whose links could not be read. When this is not empty, parts of the kept DAGs are
    /// unknown, so gc deletes nothing (run `verify_all` to remove corrupt blocks).
    pub walk_errors: Vec<WalkError>,
}

/// The on-disk form of a kept root.
#[derive(serde::Serialize, serde::Deserialize)]
struct RootRecord {
    cid: String,
    label: String,
    /// Seconds since the Unix epoch.
    kept_at: u64,
}

impl FsStore {
    /// Protects `cid`'s DAG from gc, with a label for listings. Keeping it again updates the
    /// label and time.
    pub fn keep_root(&self, cid: &Cid, label: &str) -> Result<(), StoreError> {
        let record = RootRecord {
            cid: cid.to_string(),
            label: label.to_string(),
            kept_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| StoreError::BadRootFile {
            path: self.root_path(cid),
            detail: e.to_string(),
        })?;
        // Under the shared lock, so a running gc either sees this root or runs after it.
        let _guard = self.locker.acquire(LockMode::Shared)?;
        self.write_atomic(&self.root_path(cid), &json)
    }

    /// Stops protecting `cid`'s DAG; `Ok(false)` if it was not kept.
    pub fn unkeep_root(&self, cid: &Cid) -> Result<bool, StoreError> {
        let path = self.root_path(cid);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io("failed to remove kept root", path, e)),
        }
    }

    /// Every kept root, oldest first.
    pub fn kept_roots(&self) -> Result<Vec<KeptRoot>, StoreError> {
        let entries = fs::read_dir(&self.roots)
            .map_err(|e| StoreError::io("failed to list kept roots", &self.roots, e))?;
        let mut roots = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| StoreError::io("failed to list kept roots", &self.roots, e))?;
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            match fs::read(&path) {
                Ok(bytes) => roots.push(parse_record(path, &bytes)?),
                Err(e) if e.kind() == ErrorKind::NotFound => {} // unkept meanwhile
                Err(e) => return Err(StoreError::io("failed to read kept root", path, e)),
            }
        }
        roots.sort_by_key(|r| (r.kept_at, r.cid.to_string()));
        Ok(roots)
    }

    /// Deletes every block that no kept root reaches (and that is older than the grace period),
    /// and old temp files. Blocks missing under a root are counted, not an error.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        self.gc_with(crate::dag::links)
    }

    /// [`FsStore::gc`] with the link extractor as a parameter.
    pub(super) fn gc_with<F, E>(&self, links: F) -> Result<GcReport, StoreError>
    where
        F: Fn(&Cid, &[u8]) -> Result<Vec<Cid>, E>,
        E: Display,
    {
        let mut report = GcReport {
            temp_files_removed: self.clean_tmp()?,
            ..GcReport::default()
        };
        let mut walk = Walk::default();
        let roots = self.kept_roots()?;
        self.walk(roots.iter().map(|r| r.cid), &links, &mut walk, &mut report)?;
        let entries = self.scan()?;

        let mut guard = self.locker.acquire(LockMode::Exclusive)?;
        // Roots kept since the first walk (their blocks may be older than the grace period).
        let roots = self.kept_roots()?;
        report.roots = roots.len() as u64;
        self.walk(roots.iter().map(|r| r.cid), &links, &mut walk, &mut report)?;
        let delete = report.walk_errors.is_empty();
        for entry in entries {
            guard.refresh();
            let EntryKind::Block { key, .. } = &entry.kind else {
                continue; // bad names are verify's business
            };
            if walk.reachable.contains(key) || !delete {
                report.kept_blocks += 1;
                report.kept_bytes += entry.size;
                continue;
            }
            // Look again under the lock: a writer may have refreshed or replaced it.
            let meta = match fs::metadata(&entry.path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("failed to inspect block", entry.path, e)),
            };
            if age(&meta) < self.options.gc_grace {
                report.kept_blocks += 1;
                report.kept_bytes += meta.len();
                report.kept_recent += 1;
                continue;
            }
            match fs::remove_file(&entry.path) {
                Ok(()) => {
                    report.removed_blocks += 1;
                    report.removed_bytes += meta.len();
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("failed to remove block", entry.path, e)),
            }
        }
        Ok(report)
    }

    /// Marks everything reachable from `roots` (skipping CIDs already visited).
    fn walk<F, E>(
        &self,
        roots: impl Iterator<Item = Cid>,
        links: &F,
        walk: &mut Walk,
        report: &mut GcReport,
    ) -> Result<(), StoreError>
    where
        F: Fn(&Cid, &[u8]) -> Result<Vec<Cid>, E>,
        E: Display,
    {
        let mut stack: Vec<Cid> = roots.collect();
        while let Some(cid) = stack.pop() {
            if !walk.visited.insert(cid) {
                continue;
            }
            if !is_inline(&cid) {
                walk.reachable.insert(multihash_key(&cid));
            }
            let block = match self.get_block(&cid) {
                Ok(Some(block)) => block,
                Ok(None) => {
                    report.missing_blocks += 1;
                    continue;
                }
                Err(e @ StoreError::Corrupt { .. }) => {
                    report.walk_errors.push(WalkError {
                        cid,
                        reason: e.to_string(),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            match links(&cid, block.data()) {
                Ok(children) => stack.extend(children),
                Err(e) => report.walk_errors.push(WalkError {
                    cid,
                    reason: e.to_string(),
                }),
            }
        }
        Ok(())
    }

    fn root_path(&self, cid: &Cid) -> PathBuf {
        let name = format_cid_in(cid, multibase::Base::Base32Lower);
        self.roots.join(format!("{name}.json"))
    }
}

/// What a gc walk has seen.
#[derive(Default)]
struct Walk {
    visited: HashSet<Cid>,
    reachable: HashSet<Vec<u8>>,
}

fn parse_record(path: PathBuf, bytes: &[u8]) -> Result<KeptRoot, StoreError> {
    let bad = |detail: String| StoreError::BadRootFile {
        path: path.clone(),
        detail,
    };
    let record: RootRecord = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let cid = parse_cid(&record.cid).map_err(|e| bad(e.to_string()))?;
    Ok(KeptRoot {
        cid,
        label: record.label,
        kept_at: UNIX_EPOCH + Duration::from_secs(record.kept_at),
    })
}
