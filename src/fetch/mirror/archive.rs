//! A mirror that serves an archive of the artifact (`.tar`, `.tar.gz`, `.tar.zst`, `.zip`: a
//! GitHub Release asset, a Zenodo file, a `trove export`). The download is unpacked in the
//! bundle sandbox ([`crate::bundle::prepare`]: no escaping paths or links, no special files,
//! limits against bombs, any sums inside checked), its content is imported with the registry
//! entry's profile (or, for a trove export, the profile its manifest records) into a spool
//! file, and only when the import's root is the CID asked for are the blocks handed on — as a
//! CARv1 in depth-first order read back from the spool, which the fetcher verifies block by
//! block like any other source's. An archive whose content imports to another CID is the
//! wrong archive: the mirror misbehaved.
//!
//! The content is the archive's one top entry (or a trove export's content); when that does
//! not give the CID, the whole unpacked tree is tried too (an archive made with `tar -C dir .`
//! of a folder holding one folder).

use super::same_block;
use crate::bundle::prepare::{prepare, PrepareOptions};
use crate::bundle::{Format, Limits};
use crate::car::CarWriter;
use crate::content::{is_inline, Block, Cid};
use crate::import::{import_path, BlockSink};
use crate::progress::Silent;
use crate::store::StoreError;
use crate::unixfs::ImportParams;
use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The content of an archive, imported into a spool file: every block once, and where it is.
pub(super) struct Spooled {
    /// The root of what was imported.
    pub root: Cid,
    file: tempfile::NamedTempFile,
    index: HashMap<Cid, (u64, u32)>,
}

/// Why an archive could not be used (a message for [`crate::fetch::SourceError`]).
pub(super) enum ArchiveFailure {
    /// The archive is bad or holds other content.
    Wrong(String),
    /// There is no profile to check its content with.
    Unverifiable(String),
    /// A local failure (disk full, …): the mirror cannot be used this run.
    Local(String),
}

/// Unpacks the archive at `path` into a sandbox under `scratch`, imports its content and
/// checks the root against `target`.
pub(super) fn import_archive(
    path: &Path,
    url: &str,
    format: Format,
    params: Option<ImportParams>,
    target: &Cid,
    scratch: &Path,
) -> Result<Spooled, ArchiveFailure> {
    let options = PrepareOptions {
        format: Some(format),
        sha256: None,
        sums_beside: false,
        limits: Limits::default(),
    };
    let prepared = prepare(path, &options, scratch).map_err(|e| match e {
        crate::bundle::BundleError::Io { .. } => ArchiveFailure::Local(e.to_string()),
        e => ArchiveFailure::Wrong(format!("the archive `{url}` cannot be used: {e}")),
    })?;
    let params = params
        .or_else(|| prepared.recorded.and_then(|(_, p)| p).map(|p| p.params()))
        .ok_or_else(|| {
            ArchiveFailure::Unverifiable(format!(
                "mirror `{url}` serves an archive, and the registry entry names no UnixFS profile to verify its content with"
            ))
        })?;
    let mut got = Vec::new();
    for content in prepared.candidates() {
        let spooled = spool(content, &params, scratch)?;
        if same_block(&spooled.root, target) {
            return Ok(spooled);
        }
        got.push(spooled.root.to_string());
    }
    Err(ArchiveFailure::Wrong(format!(
        "the archive `{url}` does not hold CID `{target}`: its content imports as `{}` ({})",
        got.join("` or `"),
        super::describe_params(&params)
    )))
}

/// Imports `content` with `params` into a fresh spool file under `scratch`.
fn spool(content: &Path, params: &ImportParams, scratch: &Path) -> Result<Spooled, ArchiveFailure> {
    let local = |what: &str, e: &dyn std::fmt::Display| {
        ArchiveFailure::Local(format!("cannot {what} the archive's spool file: {e}"))
    };
    let file = tempfile::Builder::new()
        .prefix(".spool-")
        .tempfile_in(scratch)
        .map_err(|e| local("create", &e))?;
    let sink = SpoolSink {
        path: file.path().to_path_buf(),
        inner: Mutex::new(SpoolInner {
            out: BufWriter::with_capacity(1 << 20, file.reopen().map_err(|e| local("open", &e))?),
            pos: 0,
            index: HashMap::new(),
        }),
    };
    let root = import_path(content, params, &sink, &Silent).map_err(|e| match e {
        crate::import::ImportError::Sink(e) => local("write", &e),
        other => ArchiveFailure::Wrong(format!("cannot import the archive's content: {other}")),
    })?;
    let inner = sink.inner.into_inner().expect("spool lock");
    let mut out = inner.out;
    out.flush().map_err(|e| local("write", &e))?;
    Ok(Spooled {
        root: root.cid,
        file,
        index: inner.index,
    })
}

struct SpoolInner {
    out: BufWriter<std::fs::File>,
    pos: u64,
    index: HashMap<Cid, (u64, u32)>,
}

/// A sink that appends every new block to the spool file and remembers where it is.
struct SpoolSink {
    path: PathBuf,
    inner: Mutex<SpoolInner>,
}

impl BlockSink for SpoolSink {
    fn accept(&self, block: Block) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("spool lock");
        if inner.index.contains_key(block.cid()) {
            return Ok(());
        }
        let data = block.data();
        inner.out.write_all(data).map_err(|source| StoreError::Io {
            action: "cannot write the archive spool",
            path: self.path.clone(),
            source,
        })?;
        let at = inner.pos;
        inner.pos += data.len() as u64;
        inner.index.insert(*block.cid(), (at, data.len() as u32));
        Ok(())
    }
}

impl Spooled {
    /// Writes the DAG as a CARv1 with root `target` (the same block as the spool's root),
    /// depth-first, parents before children, each block once.
    pub fn write_car(&self, target: &Cid, out: impl Write) -> Result<(), String> {
        let mut file = self
            .file
            .reopen()
            .map_err(|e| format!("cannot open the archive spool: {e}"))?;
        let mut car = CarWriter::new(out, &[*target]).map_err(|e| e.to_string())?;
        let mut written = HashSet::new();
        // An explicit stack: a wide folder has many children, a deep tree many levels.
        let mut stack = vec![(self.root, true)];
        while let Some((cid, is_root)) = stack.pop() {
            if is_inline(&cid) || !written.insert(cid) {
                continue;
            }
            let &(at, len) = self
                .index
                .get(&cid)
                .ok_or_else(|| format!("block `{cid}` is missing from the archive spool"))?;
            let mut data = vec![0u8; len as usize];
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.read_exact(&mut data))
                .map_err(|e| format!("cannot read the archive spool: {e}"))?;
            let name = if is_root { *target } else { cid };
            car.write_section(&name, &data).map_err(|e| e.to_string())?;
            let links = crate::dag::links(&cid, &data).map_err(|e| e.to_string())?;
            for link in links.into_iter().rev() {
                stack.push((link, false));
            }
        }
        car.finish().map_err(|e| e.to_string())?;
        Ok(())
    }
}
