//! Importing files and directories from disk into UnixFS blocks, Kubo-identically. This is the
//! IO side of [`crate::unixfs`]: it reads files in fixed-size chunks (a 10 GiB file never needs
//! more than a few chunks in memory), hashes a batch of chunks on all cores at once, and hands
//! every block to a sink (the store, or nothing for `--only-hash`).

use crate::content::Block;
use crate::progress::{Event, Reporter};
use crate::unixfs::{leaf_block, symlink_block, DagRoot, DirBuilder, FileBuilder, ImportParams};
use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Chunks read and hashed together; bounds memory at about `BATCH_BYTES` plus the blocks.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Errors while importing from disk.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading the input failed.
    #[error("failed to read `{}`: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A file name that UnixFS cannot hold.
    #[error("cannot import `{}`: {reason}", path.display())]
    BadName {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Something that is neither file, directory nor symlink.
    #[error("cannot import `{}`: only files, directories and symlinks can be added", path.display())]
    UnsupportedType {
        /// The path.
        path: PathBuf,
    },
    /// The sink (usually the store) refused a block.
    #[error(transparent)]
    Sink(#[from] crate::store::StoreError),
}

impl ImportError {
    fn read(path: &Path, source: std::io::Error) -> Self {
        ImportError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where imported blocks go.
pub trait BlockSink: Sync {
    /// Takes one block.
    fn accept(&self, block: Block) -> Result<(), crate::store::StoreError>;
}

/// A sink that drops every block (`--only-hash`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl BlockSink for Discard {
    fn accept(&self, _block: Block) -> Result<(), crate::store::StoreError> {
        Ok(())
    }
}

impl<P: crate::store::BlockPutter + Sync> BlockSink for P {
    fn accept(&self, block: Block) -> Result<(), crate::store::StoreError> {
        self.put_block(&block).map(|_| ())
    }
}

/// Imports a file, directory tree or symlink at `path`.
pub fn import_path(
    path: &Path,
    params: &ImportParams,
    sink: &dyn BlockSink,
    reporter: &dyn Reporter,
) -> Result<DagRoot, ImportError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| ImportError::read(path, e))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| ImportError::read(path, e))?;
        let target = target.to_str().ok_or_else(|| ImportError::BadName {
            path: path.to_path_buf(),
            reason: "the symlink target is not valid UTF-8".into(),
        })?;
        let (root, block) = symlink_block(params, target);
        sink.accept(block)?;
        Ok(root)
    } else if ft.is_dir() {
        import_dir(path, params, sink, reporter)
    } else if ft.is_file() {
        let file = std::fs::File::open(path).map_err(|e| ImportError::read(path, e))?;
        import_reader(file, path, params, sink, reporter)
    } else {
        Err(ImportError::UnsupportedType {
            path: path.to_path_buf(),
        })
    }
}

fn import_dir(
    path: &Path,
    params: &ImportParams,
    sink: &dyn BlockSink,
    reporter: &dyn Reporter,
) -> Result<DagRoot, ImportError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| ImportError::read(path, e))? {
        let entry = entry.map_err(|e| ImportError::read(path, e))?;
        let name = entry.file_name();
        let name = name.into_string().map_err(|raw| ImportError::BadName {
            path: path.join(&raw),
            reason: "the name is not valid UTF-8; rename it".into(),
        })?;
        names.push(name);
    }
    names.sort();
    let mut dir = DirBuilder::new(*params);
    for name in names {
        let child_path = path.join(&name);
        let child = import_path(&child_path, params, sink, reporter)?;
        dir.add(&name, child).map_err(|e| ImportError::BadName {
            path: child_path,
            reason: e.to_string(),
        })?;
    }
    let mut stored = Ok(());
    let root = dir.finish(&mut |b| {
        if stored.is_ok() {
            stored = sink.accept(b);
        }
    });
    stored?;
    Ok(root)
}

/// Imports one file's bytes from any reader (`label` names it in errors).
pub fn import_reader(
    mut input: impl Read,
    label: &Path,
    params: &ImportParams,
    sink: &dyn BlockSink,
    reporter: &dyn Reporter,
) -> Result<DagRoot, ImportError> {
    let chunk_size = params.chunk_size;
    let per_batch = (BATCH_BYTES / chunk_size).clamp(2, 256);
    let mut builder = FileBuilder::new(*params);
    let mut stored = Ok(());
    let mut done = false;
    while !done {
        let mut chunks = Vec::with_capacity(per_batch);
        while chunks.len() < per_batch {
            let chunk = read_chunk(&mut input, chunk_size).map_err(|e| ImportError::read(label, e))?;
            if chunk.is_empty() {
                done = true;
                break;
            }
            let short = chunk.len() < chunk_size;
            chunks.push(chunk);
            if short {
                done = true;
                break;
            }
        }
        let leaves: Vec<(Block, u64)> = chunks
            .into_par_iter()
            .map(|chunk| {
                let len = chunk.len() as u64;
                (leaf_block(params, &chunk), len)
            })
            .collect();
        for (leaf, len) in leaves {
            builder.push_leaf(&leaf, len, &mut |b| {
                if stored.is_ok() {
                    stored = sink.accept(b);
                }
            });
            reporter.report(Event::Bytes(len));
            sink.accept(leaf)?;
            std::mem::replace(&mut stored, Ok(()))?;
        }
    }
    let root = builder.finish(&mut |b| {
        if stored.is_ok() {
            stored = sink.accept(b);
        }
    });
    stored?;
    Ok(root)
}

/// Reads up to `size` bytes, stopping early only at end of input.
fn read_chunk(input: &mut impl Read, size: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let mut filled = 0;
    while filled < size {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}
