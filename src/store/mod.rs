//! Block storage: the [`BlockGetter`]/[`BlockPutter`] traits, an in-memory store, and the on-disk
//! store under the user cache directory.

mod fs;
mod lock;
mod memory;
mod roots;
mod waiting;

pub use fs::{
    default_cache_dir, BadBlock, FsStore, FsStoreOptions, StoreStats, StoredBlock, VerifyReport,
};
pub use memory::MemoryStore;
pub use roots::{GcReport, KeptRoot, WalkError};
pub use waiting::{Arrivals, NotifyingStore, WaitingGetter};

use crate::content::{Block, Cid};
use std::path::PathBuf;

/// Read access to blocks by CID. Implementations hand out only bytes that match the CID.
pub trait BlockGetter {
    /// Returns the block, `None` when it is not there.
    fn get_block(&self, cid: &Cid) -> Result<Option<Block>, StoreError>;

    /// Whether the block is there (without reading it, where the store can).
    fn has_block(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.get_block(cid)?.is_some())
    }

    /// The block's size in bytes if it is there (without reading it, where the store can).
    fn block_size(&self, cid: &Cid) -> Result<Option<u64>, StoreError> {
        Ok(self.get_block(cid)?.map(|b| b.data().len() as u64))
    }
}

/// Write access to blocks. Only [`Block`]s can be stored, so nothing unverified gets in.
pub trait BlockPutter {
    /// Stores the block; `Ok(true)` if it was new, `Ok(false)` if it was already there.
    fn put_block(&self, block: &Block) -> Result<bool, StoreError>;
}

impl<T: BlockGetter + ?Sized> BlockGetter for &T {
    fn get_block(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        (**self).get_block(cid)
    }
    fn has_block(&self, cid: &Cid) -> Result<bool, StoreError> {
        (**self).has_block(cid)
    }
    fn block_size(&self, cid: &Cid) -> Result<Option<u64>, StoreError> {
        (**self).block_size(cid)
    }
}

impl<T: BlockGetter + ?Sized> BlockGetter for std::sync::Arc<T> {
    fn get_block(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        (**self).get_block(cid)
    }
    fn has_block(&self, cid: &Cid) -> Result<bool, StoreError> {
        (**self).has_block(cid)
    }
    fn block_size(&self, cid: &Cid) -> Result<Option<u64>, StoreError> {
        (**self).block_size(cid)
    }
}

impl<T: BlockPutter + ?Sized> BlockPutter for std::sync::Arc<T> {
    fn put_block(&self, block: &Block) -> Result<bool, StoreError> {
        (**self).put_block(block)
    }
}

impl<T: BlockPutter + ?Sized> BlockPutter for &T {
    fn put_block(&self, block: &Block) -> Result<bool, StoreError> {
        (**self).put_block(block)
    }
}

/// Errors from a block store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done ("failed to write block", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The disk holding the cache is full.
    #[error("the disk holding the cache is full while writing `{}`", path.display())]
    DiskFull {
        /// The file that could not be written.
        path: PathBuf,
    },
    /// A stored block no longer matches its CID (disk corruption or tampering).
    #[error("stored block `{cid}` is corrupt ({detail})")]
    Corrupt {
        /// The block's CID.
        cid: String,
        /// What was found.
        detail: String,
    },
    /// The cache directory has a layout from another trove version.
    #[error("the cache at `{}` {detail}", path.display())]
    Layout {
        /// The cache directory.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Another process held the cache lock for too long.
    #[error("timed out after {}s waiting for the lock `{}`", waited.as_secs(), path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// A kept-root record cannot be read.
    #[error("kept-root file `{}` is unreadable: {detail}", path.display())]
    BadRootFile {
        /// The record's path.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// No cache directory could be determined.
    #[error(
        "no cache directory: neither --cache-dir, TROVE_CACHE_DIR nor a home directory is set"
    )]
    NoCacheDir,
}

impl StoreError {
    /// Wraps an IO error, turning "no space left" into [`StoreError::DiskFull`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull || source.raw_os_error() == Some(28) {
            StoreError::DiskFull { path }
        } else {
            StoreError::Io {
                action,
                path,
                source,
            }
        }
    }
}

impl crate::Hint for StoreError {
    fn hint(&self) -> Option<String> {
        match self {
            StoreError::DiskFull { .. } => Some(
                "free some space, run `trove cache gc`, or point --cache-dir / TROVE_CACHE_DIR at a bigger disk"
                    .into(),
            ),
            StoreError::Corrupt { .. } => Some(
                "run `trove cache verify` to list and remove bad blocks; they are fetched again on the next get"
                    .into(),
            ),
            StoreError::NoCacheDir => Some("pass --cache-dir DIR or set TROVE_CACHE_DIR".into()),
            StoreError::Locked { .. } => Some(
                "another trove process is using the cache (e.g. `trove cache gc`); wait for it or retry"
                    .into(),
            ),
            StoreError::BadRootFile { path, .. } => Some(format!(
                "delete `{}` (the root is then no longer protected from gc)",
                path.display()
            )),
            StoreError::Io { .. } | StoreError::Layout { .. } => None,
        }
    }
}
