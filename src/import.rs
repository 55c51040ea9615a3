//! Importing files and directories from disk into UnixFS blocks, Kubo-identically. This is the
//! IO side of [`crate::unixfs`]: it reads files in fixed-size chunks (a 10 GiB file never needs
//! more than a few chunks in memory), hashes a batch of chunks on all cores at once, and hands
//! every block to a sink (the store, or nothing for `--only-hash`).

use crate::content::Block;
use crate::progress::{Event, Reporter};
use crate::unixfs::{
    leaf_root, make_leaf, symlink_block, DagRoot, DirBuilder, FileBuilder, ImportParams, Leaf,
};
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

impl crate::Hint for ImportError {
    fn hint(&self) -> Option<String> {
        match self {
            ImportError::Sink(e) => e.hint(),
            ImportError::BadName { .. } => Some("rename the file or leave it out".into()),
            ImportError::UnsupportedType { .. } => {
                Some("sockets, pipes and devices cannot be stored; leave them out".into())
            }
            ImportError::Read { .. } => None,
        }
    }
}

/// Where imported blocks go.
pub trait BlockSink: Sync {
    /// Takes one block.
    fn accept(&self, block: Block) -> Result<(), crate::store::StoreError>;

    /// Whether leaf blocks need to be built at all (`false` lets the importer only hash).
    fn wants_blocks(&self) -> bool {
        true
    }
}

/// A sink that drops every block (`--only-hash`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl BlockSink for Discard {
    fn accept(&self, _block: Block) -> Result<(), crate::store::StoreError> {
        Ok(())
    }

    fn wants_blocks(&self) -> bool {
        false
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
///
/// Chunks are read in batches; while one batch is hashed on every core, the next one is read,
/// so reading and hashing overlap. Memory stays at about two batches whatever the file size.
pub fn import_reader(
    mut input: impl Read + Send,
    label: &Path,
    params: &ImportParams,
    sink: &dyn BlockSink,
    reporter: &dyn Reporter,
) -> Result<DagRoot, ImportError> {
    let per_batch = (BATCH_BYTES / params.chunker.max_chunk()).clamp(2, 256);
    let keep_blocks = sink.wants_blocks();
    let mut builder = FileBuilder::new(*params);
    let mut stored = Ok(());
    // With --only-hash, chunk buffers go back to this pool and are read into again, so a large
    // file costs no fresh (page-faulted, zeroed) memory per chunk.
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut source = ChunkSource::new(&mut input, params);
    let mut batch = source
        .read_batch(per_batch, &mut pool)
        .map_err(|e| ImportError::read(label, e))?;
    while !batch.chunks.is_empty() {
        let at_end = batch.at_end;
        let chunks = std::mem::take(&mut batch.chunks);
        let mut spare = std::mem::take(&mut pool);
        let (next, (leaves, used)) = rayon::join(
            || {
                if at_end {
                    Ok(Batch::default())
                } else {
                    source.read_batch(per_batch, &mut spare)
                }
            },
            || -> (Vec<Leaf>, Vec<Vec<u8>>) {
                if keep_blocks {
                    let leaves = chunks
                        .into_par_iter()
                        .map(|chunk| make_leaf(params, chunk, true))
                        .collect();
                    (leaves, Vec::new())
                } else {
                    let leaves = chunks
                        .par_iter()
                        .map(|chunk| Leaf {
                            root: leaf_root(params, chunk),
                            block: None,
                        })
                        .collect();
                    (leaves, chunks)
                }
            },
        );
        pool = spare;
        pool.extend(used);
        for leaf in leaves {
            if let Some(block) = leaf.block {
                sink.accept(block)?;
            }
            reporter.report(Event::Bytes(leaf.root.content_size));
            builder.push_leaf(leaf.root, &mut |b| {
                if stored.is_ok() {
                    stored = sink.accept(b);
                }
            });
            std::mem::replace(&mut stored, Ok(()))?;
        }
        batch = next.map_err(|e| ImportError::read(label, e))?;
    }
    let root = builder.finish(&mut |b| {
        if stored.is_ok() {
            stored = sink.accept(b);
        }
    });
    stored?;
    Ok(root)
}

/// Where one file's chunks come from: fixed-size reads into pooled buffers, or the
/// content-defined splitter (which hands out chunks of its own).
enum ChunkSource<R> {
    Fixed { input: R, size: usize },
    Defined(crate::unixfs::Splitter<R>),
}

impl<R: Read> ChunkSource<R> {
    fn new(input: R, params: &ImportParams) -> Self {
        match params.chunker {
            crate::unixfs::Chunker::Size(size) => ChunkSource::Fixed { input, size },
            crate::unixfs::Chunker::Buzhash => {
                ChunkSource::Defined(crate::unixfs::Splitter::new(input, params))
            }
        }
    }

    /// Up to `count` chunks.
    fn read_batch(&mut self, count: usize, pool: &mut Vec<Vec<u8>>) -> std::io::Result<Batch> {
        match self {
            ChunkSource::Fixed { input, size } => read_batch(input, *size, count, pool),
            ChunkSource::Defined(splitter) => {
                // The splitter allocates its chunks: pooled buffers are not reused.
                pool.clear();
                let mut batch = Batch {
                    chunks: Vec::with_capacity(count),
                    at_end: false,
                };
                while batch.chunks.len() < count {
                    match splitter.next_chunk()? {
                        Some(chunk) => batch.chunks.push(chunk),
                        None => {
                            batch.at_end = true;
                            break;
                        }
                    }
                }
                Ok(batch)
            }
        }
    }
}

/// Chunks read in one go; `at_end` once the input is exhausted.
#[derive(Default)]
struct Batch {
    chunks: Vec<Vec<u8>>,
    at_end: bool,
}

/// Reads up to `count` chunks of `size` bytes (the last one may be shorter), reusing buffers
/// from `pool` when there are any.
fn read_batch(
    input: &mut impl Read,
    size: usize,
    count: usize,
    pool: &mut Vec<Vec<u8>>,
) -> std::io::Result<Batch> {
    let mut batch = Batch {
        chunks: Vec::with_capacity(count),
        at_end: false,
    };
    while batch.chunks.len() < count {
        let mut chunk = pool.pop().unwrap_or_else(|| Vec::with_capacity(size));
        chunk.clear();
        read_chunk(input, size, &mut chunk)?;
        let short = chunk.len() < size;
        if !chunk.is_empty() {
            batch.chunks.push(chunk);
        }
        if short {
            batch.at_end = true;
            break;
        }
    }
    Ok(batch)
}

/// Reads up to `size` bytes into `buf`, stopping early only at end of input (no zero-filling).
fn read_chunk(input: &mut impl Read, size: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        let want = (size - buf.len()) as u64;
        match input.by_ref().take(want).read_to_end(buf) {
            Ok(0) => break,
            Ok(_) if buf.len() == size => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
