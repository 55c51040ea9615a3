//! Tier 4: plain HTTP(S) mirrors. A mirror URL holds either a CAR (v1 or v2) of an artifact or
//! the artifact's raw file.
//!
//! [`Source::dag`] downloads the URL into `download_dir/<hash of the URL>.part`, resuming an
//! interrupted download with `Range: bytes=N-` and `If-Range: <saved ETag>` (a `200` instead of
//! `206` starts over; the ETag is kept in `<hash>.etag` beside the part file), then looks at what
//! it got:
//! - **a CAR** (CARv1 header or CARv2 pragma) is passed on as it is; the fetcher verifies it;
//! - **anything else** is the raw file. It is re-imported with the registry entry's UnixFS
//!   parameters, first only hashing, and the root must be the CID asked for (or the CID must be
//!   inside the DAG) — otherwise the mirror is [`SourceError::Misbehaved`]. Then the file's
//!   blocks are produced as a CARv1 stream in `ipfs dag export` order (depth-first, parents
//!   before children, each block once): the parent nodes from the hashing pass are kept in
//!   memory, the leaves are cut from the file as the walk reaches them. Without import
//!   parameters a raw file cannot be checked and is refused.
//!
//! The part file is deleted once its data has been passed on in full (a CAR read to its end, a
//! raw file turned into blocks), or when it turns out to be the wrong file; after a failure it
//! stays, so the next attempt resumes (a complete part file is confirmed with a `416`).
//!
//! One download or stream at a time per mirror: a second `dag` waits until the stream of the
//! first has been dropped. A stalled download fails after the idle time-out
//! ([`DEFAULT_IDLE_TIMEOUT`], see [`MirrorSource::with_idle_timeout`]).

use super::http::{self, HttpClient, HttpError};
use super::{ByteStream, Source, SourceError, SourceKind};
use crate::car::{CarReader, CarWriter};
use crate::content::{Block, Cid};
use crate::import::{import_reader, BlockSink};
use crate::progress::Silent;
use crate::store::StoreError;
use crate::unixfs::{make_leaf, ImportParams};
use reqwest::header::{HeaderMap, CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;
use url::Url;

/// A download that receives no byte for this long fails with [`SourceError::TimedOut`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Size of the in-memory pipe between the block producer and the reader of the CAR stream.
const PIPE_SIZE: usize = 1024 * 1024;

/// A plain HTTP(S) mirror of one artifact (a CAR or the raw file).
#[derive(Debug)]
pub struct MirrorSource {
    client: HttpClient,
    url: Url,
    params: Option<ImportParams>,
    download_dir: PathBuf,
    key: String,
    idle_timeout: Duration,
    busy: Arc<tokio::sync::Mutex<()>>,
}

impl MirrorSource {
    /// A mirror at `url` (checked against the client's URL policy). `params` are the registry
    /// entry's UnixFS import parameters, needed to verify a raw file; `download_dir` holds
    /// partial downloads (created when needed).
    pub fn new(
        url: &str,
        client: &HttpClient,
        params: Option<ImportParams>,
        download_dir: PathBuf,
    ) -> Result<Self, HttpError> {
        let url = client.check_url(url)?;
        let digest = Sha256::digest(url.as_str().as_bytes());
        let key: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok(MirrorSource {
            client: client.clone(),
            url,
            params,
            download_dir,
            key,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            busy: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Sets how long a download may receive nothing before it fails.
    pub fn with_idle_timeout(mut self, limit: Duration) -> Self {
        self.idle_timeout = limit;
        self
    }

    /// The mirror's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Where the download goes: `download_dir/<hash of the URL>.part`.
    pub fn part_path(&self) -> PathBuf {
        self.download_dir.join(format!("{}.part", self.key))
    }

    /// Where the ETag of the partial download is kept: `download_dir/<hash of the URL>.etag`.
    pub fn etag_path(&self) -> PathBuf {
        self.download_dir.join(format!("{}.etag", self.key))
    }

    fn remove_download(&self) {
        remove_files(&[self.part_path(), self.etag_path()]);
    }

    /// Downloads the URL into the part file, resuming what is there; returns its length.
    async fn download(&self) -> Result<u64, SourceError> {
        let part = self.part_path();
        let etag_path = self.etag_path();
        tokio::fs::create_dir_all(&self.download_dir)
            .await
            .map_err(|e| local_error("create", &self.download_dir, e))?;
        let mut may_resume = true;
        loop {
            let have = match tokio::fs::metadata(&part).await {
                Ok(m) => m.len(),
                Err(_) => 0,
            };
            let validator = if have > 0 && may_resume {
                tokio::fs::read_to_string(&etag_path)
                    .await
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            } else {
                None
            };
            let mut request = self.client.reqwest().get(self.url.clone());
            let resuming = validator.is_some();
            if let Some(etag) = &validator {
                request = request
                    .header(RANGE, format!("bytes={have}-"))
                    .header(IF_RANGE, etag.as_str());
            }
            let response = request.send().await.map_err(|e| http::request_error(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let (start, total) = match status {
                StatusCode::OK => {
                    // A new download (or the server would not resume): start from zero, and
                    // save the validator first so an interruption can resume.
                    match strong_etag(&headers) {
                        Some(etag) => tokio::fs::write(&etag_path, etag)
                            .await
                            .map_err(|e| local_error("write", &etag_path, e))?,
                        None => {
                            let _ = tokio::fs::remove_file(&etag_path).await;
                        }
                    }
                    (0, http::content_length(&headers))
                }
                StatusCode::PARTIAL_CONTENT if resuming => match content_range(&headers) {
                    Some(ContentRange::Bytes { start, total, .. }) if start == have => {
                        (have, total)
                    }
                    _ => {
                        return Err(SourceError::Misbehaved(format!(
                            "`{}` answered a request for bytes {have}- with Content-Range {:?}",
                            self.url,
                            headers.get(CONTENT_RANGE)
                        )))
                    }
                },
                StatusCode::RANGE_NOT_SATISFIABLE if resuming => {
                    match content_range(&headers) {
                        Some(ContentRange::Unsatisfied { total }) if total == have => {
                            return Ok(have); // the part file is complete
                        }
                        _ => {
                            // The file changed under us: start over, without a range.
                            self.remove_download();
                            may_resume = false;
                            continue;
                        }
                    }
                }
                _ if status.is_success() => {
                    return Err(SourceError::Misbehaved(format!(
                        "unexpected HTTP {status} from `{}`",
                        self.url
                    )))
                }
                _ => return Err(http::response_error(response).await),
            };
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(start == 0)
                .append(start > 0)
                .open(&part)
                .await
                .map_err(|e| local_error("open", &part, e))?;
            let mut written = start;
            let mut response = response;
            loop {
                let chunk = match tokio::time::timeout(self.idle_timeout, response.chunk()).await {
                    Err(_) => {
                        let _ = file.flush().await;
                        return Err(SourceError::TimedOut(format!(
                            "`{}` sent nothing for {:?} ({written} bytes downloaded, kept for resuming)",
                            self.url, self.idle_timeout
                        )));
                    }
                    Ok(Err(e)) => {
                        let _ = file.flush().await;
                        return Err(http::request_error(&e));
                    }
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(chunk))) => chunk,
                };
                file.write_all(&chunk)
                    .await
                    .map_err(|e| local_error("write", &part, e))?;
                written += chunk.len() as u64;
            }
            file.flush()
                .await
                .map_err(|e| local_error("write", &part, e))?;
            if let Some(total) = total {
                if written != total {
                    return Err(SourceError::Transient {
                        detail: format!(
                            "the download of `{}` ended at byte {written} of {total} (kept for resuming)",
                            self.url
                        ),
                        retry_after: None,
                    });
                }
            }
            return Ok(written);
        }
    }

    /// A CAR stream of the raw file's blocks under `cid`, after checking the file against it.
    async fn raw_file_car(
        &self,
        cid: &Cid,
        guard: OwnedMutexGuard<()>,
    ) -> Result<ByteStream, SourceError> {
        let Some(params) = self.params else {
            self.remove_download();
            return Err(SourceError::Misbehaved(format!(
                "mirror `{}` serves a plain file, not a CAR, and the registry entry names no UnixFS profile to verify it with",
                self.url
            )));
        };
        let part = self.part_path();
        let plan = {
            let part = part.clone();
            tokio::task::spawn_blocking(move || RawPlan::hash(&part, &params))
                .await
                .map_err(|e| SourceError::Unavailable(format!("hashing task failed: {e}")))?
        }
        .map_err(|e| SourceError::Unavailable(format!("cannot hash the download: {e}")))?;
        if !plan.contains(cid) {
            let html = looks_like_html(&part);
            self.remove_download();
            return Err(SourceError::Misbehaved(format!(
                "mirror file does not match CID `{cid}`: `{}` imported with {} gives `{}`{}",
                self.url,
                describe_params(&params),
                plan.root,
                if html {
                    " (the file is an HTML page: an error or login page?)"
                } else {
                    ""
                }
            )));
        }
        let (reader, writer) = tokio::io::duplex(PIPE_SIZE);
        let bridge = tokio_util::io::SyncIoBridge::new_with_handle(
            writer,
            tokio::runtime::Handle::current(),
        );
        let target = *cid;
        let files = vec![part.clone(), self.etag_path()];
        let task = tokio::task::spawn_blocking(move || {
            let out = std::io::BufWriter::with_capacity(256 * 1024, bridge);
            plan.write_car(&part, &params, &target, out)?;
            remove_files(&files);
            Ok(())
        });
        Ok(Box::pin(MirrorStream {
            inner: Box::pin(reader),
            at_end: AtEnd::Join(task),
            _guard: guard,
        }))
    }
}

#[async_trait::async_trait]
impl Source for MirrorSource {
    fn describe(&self) -> String {
        format!("mirror {}", self.url)
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Mirror
    }

    async fn dag(&self, cid: &Cid) -> Result<ByteStream, SourceError> {
        let guard = self.busy.clone().lock_owned().await;
        self.download().await?;
        let part = self.part_path();
        let roots = {
            let part = part.clone();
            tokio::task::spawn_blocking(move || car_roots(&part))
                .await
                .map_err(|e| SourceError::Unavailable(format!("sniffing task failed: {e}")))?
        };
        let is_car = match roots {
            // The CAR names the root asked for, or there is no other way to read the file.
            Some(roots) if roots.iter().any(|r| same_block(r, cid)) || self.params.is_none() => {
                true
            }
            // A CAR that does not name the root: it may also be an artifact that happens to be
            // a CAR file. Take it as a CAR unless it is that raw file.
            Some(_) => {
                let params = self.params.expect("checked above");
                let target = *cid;
                let path = part.clone();
                let plan = tokio::task::spawn_blocking(move || RawPlan::hash(&path, &params))
                    .await
                    .map_err(|e| SourceError::Unavailable(format!("hashing task failed: {e}")))?;
                !matches!(plan, Ok(plan) if plan.contains(&target))
            }
            None => false,
        };
        if !is_car {
            return self.raw_file_car(cid, guard).await;
        }
        let file = tokio::fs::File::open(&part)
            .await
            .map_err(|e| local_error("open", &part, e))?;
        Ok(Box::pin(MirrorStream {
            inner: Box::pin(file),
            at_end: AtEnd::Remove(vec![part, self.etag_path()]),
            _guard: guard,
        }))
    }

    async fn block(&self, _cid: &Cid) -> Result<Vec<u8>, SourceError> {
        Err(SourceError::Unsupported)
    }
}

/// A local file-system failure while downloading: the mirror cannot be used this run.
fn local_error(action: &str, path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Unavailable(format!(
        "cannot {action} the mirror download `{}`: {e}",
        path.display()
    ))
}

fn remove_files(paths: &[PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether two CIDs name the same block (same codec and multihash; the version may differ).
fn same_block(a: &Cid, b: &Cid) -> bool {
    a.codec() == b.codec() && a.hash() == b.hash()
}

fn describe_params(p: &ImportParams) -> String {
    format!(
        "CIDv{}, {} leaves, {}-byte chunks, {} links per node",
        u64::from(p.cid_version),
        if p.raw_leaves { "raw" } else { "dag-pb" },
        p.chunk_size,
        p.max_links
    )
}

/// The ETag of a response, if it is a strong one (weak ETags cannot be used with `If-Range`).
fn strong_etag(headers: &HeaderMap) -> Option<String> {
    let etag = headers.get(ETAG)?.to_str().ok()?.trim();
    (etag.starts_with('"') && etag.len() >= 2).then(|| etag.to_string())
}

#[derive(Debug, PartialEq, Eq)]
enum ContentRange {
    /// `bytes start-end/total` (`total` is `None` for `*`).
    Bytes { start: u64, total: Option<u64> },
    /// `bytes */total` (with a 416).
    Unsatisfied { total: u64 },
}

fn content_range(headers: &HeaderMap) -> Option<ContentRange> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    let rest = value.strip_prefix("bytes ")?.trim();
    let (range, total) = rest.split_once('/')?;
    if range == "*" {
        return Some(ContentRange::Unsatisfied {
            total: total.parse().ok()?,
        });
    }
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.parse().ok()?;
    let end: u64 = end.parse().ok()?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse::<u64>().ok()?)
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some(ContentRange::Bytes {
        start,
        total: total.map(|t| t.max(end + 1)),
    })
}

/// The header roots if the file starts like a CARv1 or CARv2, `None` otherwise.
fn car_roots(path: &Path) -> Option<Vec<Cid>> {
    let file = std::fs::File::open(path).ok()?;
    CarReader::new(file).ok().map(|r| r.roots().to_vec())
}

/// Whether a file starts like an HTML page.
fn looks_like_html(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n])
        .trim_start()
        .to_ascii_lowercase();
    text.starts_with("<!doctype html") || text.starts_with("<html")
}

/// What the hashing pass learnt about a raw file: its root and its parent nodes (small: one per
/// `max_links` leaves), enough to write the DAG in depth-first order by re-reading the leaves.
struct RawPlan {
    root: Cid,
    /// Every block the importer emitted without leaves: the parents (and the empty leaf of an
    /// empty file).
    parents: HashMap<Cid, Block>,
}

/// A sink that keeps the blocks the importer emits when it only hashes leaves: the parents.
struct KeepParents(Mutex<HashMap<Cid, Block>>);

impl BlockSink for KeepParents {
    fn accept(&self, block: Block) -> Result<(), StoreError> {
        self.0
            .lock()
            .expect("sink lock")
            .insert(*block.cid(), block);
        Ok(())
    }

    fn wants_blocks(&self) -> bool {
        false
    }
}

impl RawPlan {
    /// Imports the file only hashing its leaves.
    fn hash(path: &Path, params: &ImportParams) -> Result<RawPlan, crate::import::ImportError> {
        let file =
            std::fs::File::open(path).map_err(|source| crate::import::ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let sink = KeepParents(Mutex::new(HashMap::new()));
        let root = import_reader(file, path, params, &sink, &Silent)?;
        Ok(RawPlan {
            root: root.cid,
            parents: sink.0.into_inner().expect("sink lock"),
        })
    }

    /// Whether `cid` is the root or any block of the DAG.
    fn contains(&self, cid: &Cid) -> bool {
        same_block(&self.root, cid)
            || self.parents.keys().any(|p| same_block(p, cid))
            || self.parents.values().any(|b| {
                crate::dag::links(b.cid(), b.data())
                    .map(|links| links.iter().any(|l| same_block(l, cid)))
                    .unwrap_or(false)
            })
    }

    /// Writes the sub-DAG under `target` as a CARv1 with root `target`, depth-first pre-order,
    /// each block once; leaves are cut from the file at `path`.
    fn write_car(
        &self,
        path: &Path,
        params: &ImportParams,
        target: &Cid,
        out: impl Write,
    ) -> Result<(), String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
        let car = CarWriter::new(out, &[*target]).map_err(|e| e.to_string())?;
        let mut walk = Walk {
            plan: self,
            params,
            target,
            file,
            pos: 0,
            next_leaf: 0,
            written: HashSet::new(),
            car,
        };
        walk.visit(&self.root, false)?;
        walk.car.finish().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The depth-first walk of [`RawPlan::write_car`].
struct Walk<'a, W: Write> {
    plan: &'a RawPlan,
    params: &'a ImportParams,
    target: &'a Cid,
    file: std::fs::File,
    /// Where the file is positioned.
    pos: u64,
    /// The index of the next leaf in file order.
    next_leaf: u64,
    written: HashSet<Cid>,
    car: CarWriter<W>,
}

impl<W: Write> Walk<'_, W> {
    fn visit(&mut self, cid: &Cid, inside: bool) -> Result<(), String> {
        let is_target = same_block(cid, self.target);
        let inside = inside || is_target;
        // The target is written under the CID asked for (same block, maybe another version).
        let name = if is_target { *self.target } else { *cid };
        if let Some(block) = self.plan.parents.get(cid) {
            if inside && self.written.insert(name) {
                self.car
                    .write_section(&name, block.data())
                    .map_err(|e| e.to_string())?;
            }
            let links = crate::dag::links(cid, block.data()).map_err(|e| e.to_string())?;
            for child in links {
                self.visit(&child, inside)?;
            }
            return Ok(());
        }
        let index = self.next_leaf;
        self.next_leaf += 1;
        if !inside || self.written.contains(&name) {
            return Ok(());
        }
        let chunk = self.read_chunk(index)?;
        let leaf = make_leaf(self.params, chunk, true);
        if leaf.root.cid != *cid {
            return Err(format!(
                "leaf {index} of the file is `{}`, not `{cid}`: the file changed while it was read",
                leaf.root.cid
            ));
        }
        let block = leaf.block.expect("the block was asked for");
        self.car
            .write_section(&name, block.data())
            .map_err(|e| e.to_string())?;
        self.written.insert(name);
        Ok(())
    }

    fn read_chunk(&mut self, index: u64) -> Result<Vec<u8>, String> {
        let size = self.params.chunk_size as u64;
        let offset = index * size;
        if offset != self.pos {
            self.file
                .seek(SeekFrom::Start(offset))
                .map_err(|e| format!("cannot seek in the download: {e}"))?;
        }
        let mut chunk = Vec::with_capacity(size as usize);
        (&mut self.file)
            .take(size)
            .read_to_end(&mut chunk)
            .map_err(|e| format!("cannot read the download: {e}"))?;
        self.pos = offset + chunk.len() as u64;
        Ok(chunk)
    }
}

/// What a [`MirrorStream`] does when its data ends.
enum AtEnd {
    /// Delete these files (the download, passed on in full).
    Remove(Vec<PathBuf>),
    /// Wait for the producer and report its failure, if any.
    Join(JoinHandle<Result<(), String>>),
    Done,
}

/// The stream handed to the fetcher: holds the mirror's lock until dropped.
struct MirrorStream {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    at_end: AtEnd,
    _guard: OwnedMutexGuard<()>,
}

impl AsyncRead for MirrorStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let wanted = buf.remaining() > 0;
        match self.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) if wanted && buf.filled().len() == before => {}
            other => return other,
        }
        // The end of the data.
        match &mut self.at_end {
            AtEnd::Done => Poll::Ready(Ok(())),
            AtEnd::Remove(paths) => {
                remove_files(paths);
                self.at_end = AtEnd::Done;
                Poll::Ready(Ok(()))
            }
            AtEnd::Join(task) => match Pin::new(task).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(result) => {
                    self.at_end = AtEnd::Done;
                    match result {
                        Ok(Ok(())) => Poll::Ready(Ok(())),
                        Ok(Err(e)) => Poll::Ready(Err(std::io::Error::other(format!(
                            "cannot turn the mirror file into blocks: {e}"
                        )))),
                        Err(e) => Poll::Ready(Err(std::io::Error::other(format!(
                            "the block producer failed: {e}"
                        )))),
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn range(value: &str) -> Option<ContentRange> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_RANGE, HeaderValue::from_str(value).unwrap());
        content_range(&headers)
    }

    #[test]
    fn content_range_is_parsed_strictly() {
        assert_eq!(
            range("bytes 100-199/200"),
            Some(ContentRange::Bytes {
                start: 100,
                total: Some(200)
            })
        );
        assert_eq!(
            range("bytes 0-9/*"),
            Some(ContentRange::Bytes {
                start: 0,
                total: None
            })
        );
        assert_eq!(
            range("bytes */5"),
            Some(ContentRange::Unsatisfied { total: 5 })
        );
        for bad in [
            "bytes 10-5/20",
            "bytes 0-20/20",
            "items 0-1/2",
            "bytes 0-1",
            "bytes a-b/c",
        ] {
            assert_eq!(range(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_strong_etags_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, HeaderValue::from_static("W/\"abc\""));
        assert_eq!(strong_etag(&headers), None);
        headers.insert(ETAG, HeaderValue::from_static("\"abc\""));
        assert_eq!(strong_etag(&headers).as_deref(), Some("\"abc\""));
    }
}
