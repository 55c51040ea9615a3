//! Maintaining the cache as a whole: blocks and snapshots together (`trove cache gc|verify`).

use super::snapshot::{compare, Mismatch, Snapshot};
use super::Client;
use crate::error::Error;
use crate::store::{BlockGetter, FsStore, FsStoreOptions, GcReport, VerifyReport};
use crate::unixfs::Reader;
use std::time::Duration;

/// What [`Client::collect_garbage`] did.
#[derive(Debug)]
pub struct CacheGc {
    /// The blocks.
    pub blocks: GcReport,
    /// Snapshots removed (their content is no longer in the cache, or all were asked to go).
    pub snapshots_removed: Vec<Snapshot>,
    /// The bytes those held.
    pub snapshot_bytes: u64,
}

/// What [`Client::verify_cache`] found.
#[derive(Debug)]
pub struct CacheCheck {
    /// Every block re-hashed.
    pub blocks: VerifyReport,
    /// Snapshots compared with their content, and how each differs (empty: intact).
    pub snapshots: Vec<(Snapshot, Result<Vec<Mismatch>, String>)>,
    /// Snapshots removed because they differ (with `remove`).
    pub snapshots_removed: usize,
}

impl CacheCheck {
    /// Whether every block and every snapshot is intact.
    pub fn is_intact(&self) -> bool {
        self.blocks.bad.is_empty()
            && self
                .snapshots
                .iter()
                .all(|(_, r)| r.as_ref().is_ok_and(Vec::is_empty))
    }
}

impl Client {
    /// Deletes blocks no kept root reaches (sparing those younger than `grace`), then the
    /// snapshots whose content is gone with them (a snapshot lives as long as its root block),
    /// or every snapshot with `all_snapshots` (they are made again from the blocks when needed).
    pub fn collect_garbage(&self, grace: Duration, all_snapshots: bool) -> Result<CacheGc, Error> {
        let store = FsStore::open_with(
            &self.settings().cache_dir,
            FsStoreOptions {
                gc_grace: grace,
                ..FsStoreOptions::default()
            },
        )?;
        let blocks = store.gc()?;
        let (snapshots_removed, snapshot_bytes) = self
            .snapshots()
            .prune(|s| !all_snapshots && store.block_size(&s.cid).ok().flatten().is_some())
            .map_err(|e| Error::io("clean up", self.snapshots().root(), e))?;
        Ok(CacheGc {
            blocks,
            snapshots_removed,
            snapshot_bytes,
        })
    }

    /// Re-hashes every block (removing bad ones with `remove`) and compares every snapshot with
    /// the verified blocks of its content (removing one that differs, with `remove`: it is made
    /// again when needed).
    pub fn verify_cache(&self, remove: bool) -> Result<CacheCheck, Error> {
        let blocks = self.store().verify_all(remove)?;
        let reader = Reader::new(&**self.store());
        let mut snapshots = Vec::new();
        let mut removed = 0;
        let list = self
            .snapshots()
            .list()
            .map_err(|e| Error::io("list", self.snapshots().root(), e))?;
        for snapshot in list {
            let result = compare(&reader, &snapshot.cid, &snapshot.path).map_err(|e| e.to_string());
            let bad = !result.as_ref().is_ok_and(Vec::is_empty);
            if bad && remove {
                let path = snapshot.path.clone();
                crate::output::remove_path(&path).map_err(|e| Error::io("remove", &path, e))?;
                removed += 1;
            }
            snapshots.push((snapshot, result));
        }
        Ok(CacheCheck {
            blocks,
            snapshots,
            snapshots_removed: removed,
        })
    }
}
