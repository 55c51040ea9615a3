//! `/ipfs/{cid}[/{path}]`: the trustless gateway over the block store.
//!
//! Every answer is worked out on a blocking thread (the store reads files and re-hashes every
//! block it hands out). A CAR is streamed: one producer per answer walks the [`CarPlan`] and
//! sends each section through a channel of two chunks to the response body, so memory per
//! client is a few blocks whatever the CAR's size, and a client that stops reading stops its
//! producer. Across all answers, the block bytes read and not yet written to a socket are
//! bounded by one budget ([`BLOCK_BUDGET`]): a producer waits for its share before it reads a
//! block, and the share comes back when the connection has written the block (the bytes carry
//! their permit). Many clients then share a fixed amount of memory fairly (the semaphore is
//! first come, first served) instead of each holding blocks in flight. A client that reads
//! nothing for [`STALLED_CLIENT`] loses its answer, so stalled clients cannot hold the budget. Before a whole DAG is promised (`dag-scope=all`) the store is checked
//! to hold all of it (once per CID and process), so a partial DAG is a clean 404 and not a
//! CAR cut in the middle; with a [`FetchMissing`] the missing part is fetched first.

use super::request::{etag_matches, Format, GatewayRequest, Refused, IMMUTABLE};
use crate::content::{Block, Cid};
use crate::error::{Error, ErrorKind};
use crate::store::{BlockGetter, FsStore};
use crate::unixfs::{CarPlan, DagScope, PlanError, ReadError, Reader, Section};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Makes content complete in the store when a request asks for what it lacks
/// (`trove serve --http --fetch`: through the client's tiers).
pub trait FetchMissing: Send + Sync + 'static {
    /// Fetches `root/path` (`path` may be empty) into the store; blocking.
    fn fetch(&self, root: &Cid, path: &str) -> Result<(), Error>;
}

/// The gateway's state: the store, the optional fetcher, and the DAGs known to be complete.
pub struct Gateway {
    store: Arc<FsStore>,
    fetch: Option<Arc<dyn FetchMissing>>,
    complete: Mutex<HashSet<Cid>>,
    /// One completeness walk at a time: many clients asking for the same new DAG wait for one
    /// walk instead of each reading all of it.
    checking: Mutex<()>,
    /// Shares of [`BLOCK_BUDGET`], in KiB.
    budget: Arc<tokio::sync::Semaphore>,
}

/// What a request gets once its content is known to be there.
enum Prepared {
    Raw(Block),
    Car(Box<CarPlan<Arc<FsStore>>>),
}

/// Why a request cannot be answered.
#[derive(Debug)]
pub(crate) enum Failure {
    Refused(Refused),
    /// A block this server does not hold.
    Missing(Cid),
    Error(Error),
}

impl Gateway {
    pub fn new(store: Arc<FsStore>, fetch: Option<Arc<dyn FetchMissing>>) -> Self {
        Gateway {
            store,
            fetch,
            complete: Mutex::new(HashSet::new()),
            checking: Mutex::new(()),
            budget: Arc::new(tokio::sync::Semaphore::new(BLOCK_BUDGET / BUDGET_UNIT)),
        }
    }

    /// The store it serves.
    pub fn store(&self) -> &Arc<FsStore> {
        &self.store
    }

    /// Whether the whole DAG under `cid` is in the store (a walk the first time).
    pub fn holds(&self, cid: &Cid) -> Result<bool, Error> {
        match self.ensure_complete(cid) {
            Ok(()) => Ok(true),
            Err(Failure::Missing(_)) => Ok(false),
            Err(Failure::Error(e)) => Err(e),
            Err(Failure::Refused(r)) => Err(Error::msg(ErrorKind::Other, r.message)),
        }
    }

    fn ensure_complete(&self, cid: &Cid) -> Result<(), Failure> {
        if self.complete.lock().expect("not poisoned").contains(cid) {
            return Ok(());
        }
        let _one = self.checking.lock().expect("not poisoned");
        if self.complete.lock().expect("not poisoned").contains(cid) {
            return Ok(());
        }
        match Reader::new(&*self.store).first_missing(cid) {
            Ok(None) => {
                self.complete.lock().expect("not poisoned").insert(*cid);
                Ok(())
            }
            Ok(Some(missing)) => Err(Failure::Missing(missing)),
            Err(e) => Err(read_failure(e, false)),
        }
    }

    /// Checks the request against the store (fetching once what is missing, when allowed).
    fn prepare(&self, request: &GatewayRequest) -> Result<Prepared, Failure> {
        match self.try_prepare(request) {
            Err(Failure::Missing(_)) if self.fetch.is_some() => {
                let fetch = self.fetch.as_ref().expect("checked");
                fetch
                    .fetch(&request.root, &request.path)
                    .map_err(Failure::Error)?;
                self.try_prepare(request)
            }
            other => other,
        }
    }

    fn try_prepare(&self, request: &GatewayRequest) -> Result<Prepared, Failure> {
        let has_path = !request.path.is_empty();
        match request.format {
            Format::Raw => {
                let reader = Reader::new(&*self.store);
                let terminal = reader
                    .resolve(&request.root, &request.path)
                    .map_err(|e| read_failure(e, has_path))?;
                let block = reader
                    .block(&terminal)
                    .map_err(|e| read_failure(e, has_path))?;
                Ok(Prepared::Raw(block))
            }
            Format::Car => {
                let plan = CarPlan::new(
                    self.store.clone(),
                    &request.root,
                    &request.path,
                    request.scope,
                    request.range,
                    request.dups,
                )
                .map_err(|e| plan_failure(e, has_path))?;
                if request.scope == DagScope::All && request.range.is_none() {
                    self.ensure_complete(plan.terminal())?;
                }
                Ok(Prepared::Car(Box::new(plan)))
            }
        }
    }

    /// Answers `GET`/`HEAD /ipfs/{rest}`.
    pub(crate) async fn answer(
        self: Arc<Self>,
        method: Method,
        rest: String,
        query: Option<String>,
        headers: HeaderMap,
    ) -> Response {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let request = match GatewayRequest::parse(&rest, query.as_deref(), accept) {
            Ok(r) => r,
            Err(refused) => return refusal(refused),
        };
        let this = self.clone();
        let asked = request.clone();
        let prepared = tokio::task::spawn_blocking(move || this.prepare(&asked)).await;
        let prepared = match prepared {
            Ok(Ok(p)) => p,
            Ok(Err(failure)) => return failure_response(&request, failure),
            Err(e) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error: {e}"),
                )
            }
        };
        let terminal = match &prepared {
            Prepared::Raw(block) => *block.cid(),
            Prepared::Car(plan) => *plan.terminal(),
        };
        let etag = request.etag(&terminal);
        let mut response_headers = HeaderMap::new();
        let mut set = |name: header::HeaderName, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response_headers.insert(name, v);
            }
        };
        set(header::ETAG, etag.clone());
        set(header::CACHE_CONTROL, IMMUTABLE.into());
        set(header::VARY, "Accept".into());
        set(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".into());
        set(
            header::HeaderName::from_static("x-ipfs-path"),
            request.content_path(),
        );
        set(
            header::HeaderName::from_static("x-ipfs-roots"),
            terminal.to_string(),
        );
        let not_modified = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| etag_matches(v, &etag));
        if not_modified {
            return (StatusCode::NOT_MODIFIED, response_headers).into_response();
        }
        set(header::CONTENT_TYPE, request.content_type());
        set(header::CONTENT_DISPOSITION, request.disposition(&terminal));
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
        match prepared {
            Prepared::Raw(block) => {
                set(header::CONTENT_LENGTH, block.data().len().to_string());
                let body = if method == Method::HEAD {
                    Body::empty()
                } else {
                    Body::from(block.into_data())
                };
                (StatusCode::OK, response_headers, body).into_response()
            }
            Prepared::Car(plan) => {
                let body = if method == Method::HEAD {
                    // No length is known ahead of a CAR: an empty body of unknown size, so
                    // the headers are those of the GET (no `Content-Length: 0`).
                    Body::from_stream(
                        futures_util::stream::empty::<Result<Bytes, std::io::Error>>(),
                    )
                } else {
                    car_body(request.root, *plan, self.store.clone(), self.budget.clone())
                };
                (StatusCode::OK, response_headers, body).into_response()
            }
        }
    }
}

/// Chunks waiting between a CAR's producer and the response body.
const CAR_CHANNEL: usize = 2;

/// Block bytes all CAR answers together may hold between reading and writing them out.
pub const BLOCK_BUDGET: usize = 24 << 20;

/// The budget's unit: permits are KiB.
const BUDGET_UNIT: usize = 1024;

/// How long a CAR answer waits for its client to take the next chunk before giving up.
pub const STALLED_CLIENT: std::time::Duration = std::time::Duration::from_secs(60);

/// Block bytes holding their share of the [`BLOCK_BUDGET`] until they are dropped (written).
struct Budgeted {
    data: Vec<u8>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// Waits for `len` bytes' share of the budget (on one of the runtime's blocking threads).
fn reserve(
    budget: &Arc<tokio::sync::Semaphore>,
    len: usize,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let units = len
        .div_ceil(BUDGET_UNIT)
        .clamp(1, BLOCK_BUDGET / BUDGET_UNIT) as u32;
    tokio::runtime::Handle::current()
        .block_on(budget.clone().acquire_many_owned(units))
        .ok()
}

/// The CAR `plan` describes, streamed: a producer on a blocking thread reads each section
/// (raw leaves from the store, re-hashed there) and sends its prefix and data. A block that
/// disappears mid-stream (a `gc` meanwhile) ends the body with an error, so the client sees a
/// cut transfer rather than a short CAR that looks whole.
fn car_body(
    root: Cid,
    mut plan: CarPlan<Arc<FsStore>>,
    store: Arc<FsStore>,
    budget: Arc<tokio::sync::Semaphore>,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CAR_CHANNEL);
    tokio::task::spawn_blocking(move || {
        // False when the client went away or stopped reading.
        let runtime = tokio::runtime::Handle::current();
        let send = |item: Result<Bytes, std::io::Error>| {
            runtime
                .block_on(tx.send_timeout(item, STALLED_CLIENT))
                .is_ok()
        };
        if !send(Ok(Bytes::from(crate::car::header_bytes(&[root])))) {
            return;
        }
        loop {
            let block = match plan.next_section() {
                Ok(None) => return,
                Ok(Some(Section::Block(block))) => {
                    let permit = reserve(&budget, block.data().len());
                    Ok((block, permit))
                }
                Ok(Some(Section::Leaf(cid))) => {
                    let len = store.block_size(&cid).ok().flatten().unwrap_or(0) as usize;
                    let permit = reserve(&budget, len);
                    match store.get_block(&cid) {
                        Ok(Some(block)) => Ok((block, permit)),
                        Ok(None) => Err(format!("block `{cid}` is missing from the cache")),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let (block, permit) = match block {
                Ok(b) => b,
                Err(why) => {
                    tracing::warn!("CAR of `{root}` cut: {why}");
                    let _ = send(Err(std::io::Error::other(why)));
                    return;
                }
            };
            let prefix = crate::car::section_prefix(block.cid(), block.data().len());
            let data = match permit {
                Some(permit) => Bytes::from_owner(Budgeted {
                    data: block.into_data(),
                    _permit: permit,
                }),
                None => Bytes::from(block.into_data()),
            };
            if !send(Ok(Bytes::from(prefix))) || !send(Ok(data)) {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

fn read_failure(e: ReadError, has_path: bool) -> Failure {
    match e {
        ReadError::MissingBlock(cid) => Failure::Missing(cid),
        ReadError::NotFound { .. }
        | ReadError::NotADirectory { .. }
        | ReadError::NotAFile { .. } => Failure::Refused(Refused {
            status: 404,
            message: e.to_string(),
        }),
        ReadError::BadPathComponent(_) => Failure::Refused(Refused {
            status: 400,
            message: e.to_string(),
        }),
        ReadError::Invalid { .. } if has_path => Failure::Refused(Refused {
            status: 404,
            message: format!("cannot follow the path: {e}"),
        }),
        other => Failure::Error(other.into()),
    }
}

fn plan_failure(e: PlanError, has_path: bool) -> Failure {
    match e {
        PlanError::Read(e) => read_failure(e, has_path),
        PlanError::OutOfRange { .. } | PlanError::TooManySections(_) => Failure::Refused(Refused {
            status: 400,
            message: e.to_string(),
        }),
    }
}

fn failure_response(request: &GatewayRequest, failure: Failure) -> Response {
    match failure {
        Failure::Refused(r) => refusal(r),
        Failure::Missing(block) => text(
            StatusCode::NOT_FOUND,
            if *request.root.hash() == *block.hash() {
                format!("this server does not hold `{}`", request.root)
            } else {
                format!(
                    "this server does not hold all of `{}` (block `{block}` is missing)",
                    request.content_path()
                )
            },
        ),
        Failure::Error(e) => {
            let status = match e.kind() {
                ErrorKind::NotFound | ErrorKind::Offline => StatusCode::NOT_FOUND,
                ErrorKind::Network => StatusCode::BAD_GATEWAY,
                ErrorKind::Usage => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!("{}: {e}", request.content_path());
            text(status, e.to_string())
        }
    }
}

fn refusal(r: Refused) -> Response {
    text(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
        r.message,
    )
}

pub(crate) fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}
