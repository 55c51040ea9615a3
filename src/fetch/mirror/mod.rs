//! Tier 4: mirrors — plain HTTP(S) URLs and object storage (`s3://`, `gs://`, `az://`, see
//! [`crate::objects`]) that hold an artifact as a CAR (v1 or v2), as its raw file, or as an
//! archive of it.
//!
//! [`Source::dag`] downloads the object into `download_dir/<hash of the URL>.part`, resuming an
//! interrupted download (`download.rs`: `Range` + `If-Range` with the saved strong ETag over
//! HTTP, a ranged read on the ETag's condition from object storage; the ETag is kept in
//! `<hash>.etag`), then looks at what it got:
//! - **a CAR** (CARv1 header or CARv2 pragma) is passed on as it is; the fetcher verifies it;
//! - **an archive** (the URL's name ends in `.tar`, `.tar.gz`/`.tgz`, `.tar.zst`, `.zip`, or
//!   its first bytes say so) is unpacked in the bundle sandbox and its content re-imported
//!   (`archive.rs`); accepted only when the root is the CID asked for;
//! - **anything else** is the raw file (`raw.rs`): re-imported with the registry entry's UnixFS
//!   parameters, first only hashing, and the root must be the CID asked for (or the CID must be
//!   inside the DAG).
//!
//! An archive URL is tried as a raw file too when its content does not match (an artifact may
//! itself be a tarball), and a raw file that does not match is tried as an archive when its
//! first bytes are one. What matches is produced as a CARv1 stream in `ipfs dag export` order;
//! a mirror whose bytes match nothing is [`SourceError::Misbehaved`]. Without import
//! parameters (and, for an archive, without a trove manifest naming its profile) a raw file or
//! archive cannot be checked and is refused.
//!
//! The part file is deleted once its data has been passed on in full, or when it turns out to
//! be the wrong file; after a failure it stays, so the next attempt resumes (a complete part
//! file is confirmed with a `416`, or by the object's size).
//!
//! One download or stream at a time per mirror: a second `dag` waits until the stream of the
//! first has been dropped. A stalled download fails after the idle time-out
//! ([`DEFAULT_IDLE_TIMEOUT`], see [`MirrorSource::with_idle_timeout`]).

mod archive;
mod raw;

use super::download::{local_error, remove_files, Download};
use super::http::{self, HttpClient, HttpError};
use super::{ByteStream, Probe, Source, SourceError, SourceKind};
use crate::bundle::prepare::sniff;
use crate::bundle::Format;
use crate::car::CarReader;
use crate::content::Cid;
use crate::unixfs::ImportParams;
use archive::{import_archive, ArchiveFailure, Spooled};
use raw::RawPlan;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;
use url::Url;

/// A download that receives no byte for this long fails with [`SourceError::TimedOut`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Size of the in-memory pipe between the block producer and the reader of the CAR stream.
const PIPE_SIZE: usize = 1024 * 1024;

/// Where a mirror's bytes come from.
#[derive(Debug)]
enum Origin {
    Http {
        client: HttpClient,
        url: Url,
    },
    #[cfg(feature = "cloud")]
    Object(crate::objects::ObjectLocation),
}

/// Why a mirror URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// An HTTP(S) URL the policy refuses.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// An object-storage URL that cannot be opened.
    #[error(transparent)]
    Object(#[from] crate::objects::ObjectError),
}

impl From<MirrorError> for crate::Error {
    fn from(e: MirrorError) -> Self {
        match e {
            MirrorError::Http(e) => e.into(),
            MirrorError::Object(e) => e.into(),
        }
    }
}

/// A mirror of one artifact (a CAR, the raw file or an archive) over HTTP(S) or in object
/// storage.
#[derive(Debug)]
pub struct MirrorSource {
    origin: Origin,
    url: Url,
    params: Option<ImportParams>,
    /// The archive format the URL's name says.
    named_archive: Option<Format>,
    download_dir: PathBuf,
    key: String,
    idle_timeout: Duration,
    busy: Arc<tokio::sync::Mutex<()>>,
}

impl MirrorSource {
    /// A mirror at `url`: HTTP(S) (checked against the client's URL policy) or object storage
    /// (opened with `objects`). `params` are the registry entry's UnixFS import parameters,
    /// needed to verify a raw file or archive; `download_dir` holds partial downloads (created
    /// when needed).
    pub fn new(
        url: &str,
        client: &HttpClient,
        objects: &crate::objects::ObjectStoreConfig,
        params: Option<ImportParams>,
        download_dir: PathBuf,
    ) -> Result<Self, MirrorError> {
        let origin = if crate::objects::is_object_url(url) {
            object_origin(url, objects)?
        } else {
            Origin::Http {
                client: client.clone(),
                url: client.check_url(url)?,
            }
        };
        let url = match &origin {
            Origin::Http { url, .. } => url.clone(),
            #[cfg(feature = "cloud")]
            Origin::Object(location) => location.url().clone(),
        };
        let digest = Sha256::digest(url.as_str().as_bytes());
        let key: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok(MirrorSource {
            origin,
            named_archive: archive_named(&url),
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

    fn download_files(&self) -> Vec<PathBuf> {
        vec![self.part_path(), self.etag_path()]
    }

    fn remove_download(&self) {
        remove_files(&self.download_files());
    }

    /// Downloads the object into the part file, resuming what is there; returns its length.
    async fn download(&self) -> Result<u64, SourceError> {
        tokio::fs::create_dir_all(&self.download_dir)
            .await
            .map_err(|e| local_error("create", &self.download_dir, e))?;
        let download = Download {
            part: self.part_path(),
            etag: self.etag_path(),
            idle: self.idle_timeout,
        };
        match &self.origin {
            Origin::Http { client, url } => download.http(client, url).await,
            #[cfg(feature = "cloud")]
            Origin::Object(location) => download.object(location).await,
        }
    }

    /// Hashes the download as the raw file: the plan when it holds `cid`, else why not.
    async fn raw_plan(&self, cid: &Cid) -> Result<Result<RawPlan, Refusal>, SourceError> {
        let Some(params) = self.params else {
            return Ok(Err(Refusal::Unverifiable(format!(
                "mirror `{}` serves a plain file, not a CAR, and the registry entry names no UnixFS profile to verify it with",
                self.url
            ))));
        };
        let part = self.part_path();
        let plan = tokio::task::spawn_blocking(move || RawPlan::hash(&part, &params))
            .await
            .map_err(|e| SourceError::Unavailable(format!("hashing task failed: {e}")))?
            .map_err(|e| SourceError::Unavailable(format!("cannot hash the download: {e}")))?;
        if plan.contains(cid) {
            return Ok(Ok(plan));
        }
        Ok(Err(Refusal::WrongBytes(format!(
            "mirror file does not match CID `{cid}`: `{}` imported with {} gives `{}`{}",
            self.url,
            describe_params(&params),
            plan.root,
            if looks_like_html(&self.part_path()) {
                " (the file is an HTML page: an error or login page?)"
            } else {
                ""
            }
        ))))
    }

    /// Unpacks the download as an archive and imports its content: the spool when it is
    /// `cid`, else why not.
    async fn archive_spool(
        &self,
        cid: &Cid,
        format: Format,
    ) -> Result<Result<Spooled, Refusal>, SourceError> {
        let part = self.part_path();
        let url = self.url.to_string();
        let params = self.params;
        let target = *cid;
        let scratch = self.download_dir.clone();
        let result = tokio::task::spawn_blocking(move || {
            import_archive(&part, &url, format, params, &target, &scratch)
        })
        .await
        .map_err(|e| SourceError::Unavailable(format!("unpacking task failed: {e}")))?;
        match result {
            Ok(spooled) => Ok(Ok(spooled)),
            Err(ArchiveFailure::Wrong(why)) => Ok(Err(Refusal::WrongBytes(why))),
            Err(ArchiveFailure::Unverifiable(why)) => Ok(Err(Refusal::Unverifiable(why))),
            Err(ArchiveFailure::Local(why)) => Err(SourceError::Unavailable(why)),
        }
    }

    /// A CAR stream written by `write` on a blocking thread; the download is deleted once it
    /// is written in full.
    fn produce(
        &self,
        guard: OwnedMutexGuard<()>,
        write: impl FnOnce(&mut dyn Write) -> Result<(), String> + Send + 'static,
    ) -> ByteStream {
        let (reader, writer) = tokio::io::duplex(PIPE_SIZE);
        let bridge = tokio_util::io::SyncIoBridge::new_with_handle(
            writer,
            tokio::runtime::Handle::current(),
        );
        let files = self.download_files();
        let task = tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, bridge);
            write(&mut out)?;
            out.flush().map_err(|e| e.to_string())?;
            remove_files(&files);
            Ok(())
        });
        Box::pin(MirrorStream {
            inner: Box::pin(reader),
            at_end: AtEnd::Join(task),
            _guard: guard,
        })
    }

    fn raw_stream(&self, plan: RawPlan, cid: &Cid, guard: OwnedMutexGuard<()>) -> ByteStream {
        let params = self.params.expect("a raw plan needs parameters");
        let part = self.part_path();
        let target = *cid;
        self.produce(guard, move |out| {
            plan.write_car(&part, &params, &target, out)
        })
    }

    fn spool_stream(&self, spooled: Spooled, cid: &Cid, guard: OwnedMutexGuard<()>) -> ByteStream {
        let target = *cid;
        self.produce(guard, move |out| spooled.write_car(&target, out))
    }

    /// The download as a raw file or an archive, in the order the module docs give.
    async fn file_or_archive(
        &self,
        cid: &Cid,
        guard: OwnedMutexGuard<()>,
    ) -> Result<ByteStream, SourceError> {
        let sniffed = sniff(&read_head(&self.part_path()));
        let mut why = Vec::new();
        if let Some(format) = self.named_archive {
            match self.archive_spool(cid, format).await? {
                Ok(spooled) => return Ok(self.spool_stream(spooled, cid, guard)),
                Err(e) => why.push(e),
            }
        }
        match self.raw_plan(cid).await? {
            Ok(plan) => return Ok(self.raw_stream(plan, cid, guard)),
            Err(e) => why.push(e),
        }
        if let (None, Some(format)) = (self.named_archive, sniffed) {
            match self.archive_spool(cid, format).await? {
                Ok(spooled) => return Ok(self.spool_stream(spooled, cid, guard)),
                Err(e) => why.push(e),
            }
        }
        self.remove_download();
        let wrong_bytes = why.iter().any(|r| matches!(r, Refusal::WrongBytes(_)));
        let text = why
            .into_iter()
            .map(|r| match r {
                Refusal::WrongBytes(t) | Refusal::Unverifiable(t) => t,
            })
            .collect::<Vec<_>>()
            .join("; ");
        // Bytes that are not the content asked for are an integrity matter, like a block that
        // does not match its CID; a file that cannot be checked at all is the mirror's fault.
        Err(if wrong_bytes {
            SourceError::Corrupt(text)
        } else {
            SourceError::Misbehaved(text)
        })
    }
}

/// Why a download is not the content asked for.
enum Refusal {
    /// It is other bytes (another CID, a broken or hostile archive).
    WrongBytes(String),
    /// It cannot be checked (no import parameters).
    Unverifiable(String),
}

#[cfg(feature = "cloud")]
fn object_origin(
    url: &str,
    objects: &crate::objects::ObjectStoreConfig,
) -> Result<Origin, MirrorError> {
    Ok(Origin::Object(crate::objects::ObjectLocation::open(
        url, objects,
    )?))
}

#[cfg(not(feature = "cloud"))]
fn object_origin(
    url: &str,
    _objects: &crate::objects::ObjectStoreConfig,
) -> Result<Origin, MirrorError> {
    Err(crate::objects::ObjectError::NotBuilt {
        url: url.to_string(),
    }
    .into())
}

/// The archive format a URL's last path segment names.
fn archive_named(url: &Url) -> Option<Format> {
    let name = url.path_segments()?.next_back()?;
    Format::from_path(Path::new(name))
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
            Some(_) => self.raw_plan(cid).await?.is_err(),
            None => false,
        };
        if !is_car {
            return self.file_or_archive(cid, guard).await;
        }
        let file = tokio::fs::File::open(&part)
            .await
            .map_err(|e| local_error("open", &part, e))?;
        Ok(Box::pin(MirrorStream {
            inner: Box::pin(file),
            at_end: AtEnd::Remove(self.download_files()),
            _guard: guard,
        }))
    }

    async fn block(&self, _cid: &Cid) -> Result<Vec<u8>, SourceError> {
        Err(SourceError::Unsupported)
    }

    /// Whether the file is there (`HEAD`, or the object's metadata); nothing is downloaded.
    async fn probe(&self, _cid: &Cid) -> Result<Probe, SourceError> {
        match &self.origin {
            Origin::Http { client, url } => {
                let response = http::send(client.reqwest().head(url.clone())).await?;
                Ok(Probe::Present {
                    size: http::content_length(response.headers()),
                })
            }
            #[cfg(feature = "cloud")]
            Origin::Object(location) => match location.size().await {
                Ok(Some(size)) => Ok(Probe::Present { size: Some(size) }),
                Ok(None) => Err(SourceError::NotFound),
                Err(e) => Err(super::download::object_error(location.url(), e)),
            },
        }
    }
}

/// Whether two CIDs name the same block (same codec and multihash; the version may differ).
fn same_block(a: &Cid, b: &Cid) -> bool {
    a.codec() == b.codec() && a.hash() == b.hash()
}

fn describe_params(p: &ImportParams) -> String {
    format!(
        "CIDv{}, {} leaves, chunker {}, {} links per node",
        u64::from(p.cid_version),
        if p.raw_leaves { "raw" } else { "dag-pb" },
        p.chunker,
        p.max_links
    )
}

/// The header roots if the file starts like a CARv1 or CARv2, `None` otherwise.
fn car_roots(path: &Path) -> Option<Vec<Cid>> {
    let file = std::fs::File::open(path).ok()?;
    CarReader::new(file).ok().map(|r| r.roots().to_vec())
}

/// The first 512 bytes of a file (fewer when it is shorter or unreadable).
fn read_head(path: &Path) -> Vec<u8> {
    let mut head = vec![0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head.truncate(n);
    head
}

/// Whether a file starts like an HTML page.
fn looks_like_html(path: &Path) -> bool {
    let head = read_head(path);
    let text = String::from_utf8_lossy(&head)
        .trim_start()
        .to_ascii_lowercase();
    text.starts_with("<!doctype html") || text.starts_with("<html")
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
