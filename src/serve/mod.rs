//! `trove serve --http`: the cache over plain HTTP (feature `server`, on axum/hyper).
//!
//! - `/ipfs/{cid}[/{path}]`: a trustless gateway (IPFS trustless-gateway spec): raw blocks and
//!   CARv1 streams with `dag-scope`, `entity-bytes` and `dups`, paths through UnixFS
//!   directories and HAMT shards, strong ETags and `If-None-Match` → 304, `HEAD`
//!   ([`gateway`], planned by [`crate::unixfs::CarPlan`], parsed by [`request`]). It answers
//!   only verifiable formats: a client checks every block against its CID, so it need not
//!   trust this server.
//! - `/` and `/entry/{id}`: the registry's web page ([`page`]): plain HTML with a little
//!   JavaScript for filtering, no external assets.
//!
//! Graceful shutdown: when the `shutdown` future completes the server stops accepting, lets
//! answers in flight finish for [`SHUTDOWN_GRACE`], then returns.

pub mod gateway;
pub mod page;
pub mod request;

pub use gateway::{FetchMissing, Gateway};
pub use page::RegistryPage;

use crate::error::{Error, ErrorKind};
use crate::store::FsStore;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long answers in flight may go on after a shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The HTTP server: a gateway over one store, and optionally a registry page.
#[derive(Clone)]
pub struct HttpServer {
    gateway: Arc<Gateway>,
    page: Option<Arc<RegistryPage>>,
}

impl HttpServer {
    /// A gateway over `store`; `fetch` fetches content a request asks for that the store lacks
    /// (else such requests get 404).
    pub fn new(store: Arc<FsStore>, fetch: Option<Arc<dyn FetchMissing>>) -> Self {
        HttpServer {
            gateway: Arc::new(Gateway::new(store, fetch)),
            page: None,
        }
    }

    /// Serves `page` at `/`.
    pub fn with_page(mut self, page: RegistryPage) -> Self {
        self.page = Some(Arc::new(page));
        self
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The routes.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/ipfs/{*rest}", get(ipfs))
            .route("/ipfs", get(no_cid))
            .route("/ipfs/", get(no_cid))
            .route("/", get(index))
            .route("/entry/{id}", get(entry))
            .route("/assets/{name}", get(asset))
            .route("/favicon.ico", get(|| async { page::asset("favicon.svg") }))
            .fallback(not_found)
            .layer(axum::middleware::from_fn(log_request))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes (then [`SHUTDOWN_GRACE`] for answers in
    /// flight).
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(listener, self.router()).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        });
        let grace = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = serve => served.map_err(|e| Error::msg(ErrorKind::Other, format!("the HTTP server failed: {e}"))),
            () = grace => {
                tracing::warn!("answers still in flight after {SHUTDOWN_GRACE:?}: stopping anyway");
                Ok(())
            }
        }
    }
}

async fn ipfs(
    State(server): State<HttpServer>,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    server
        .gateway
        .clone()
        .answer(method, rest, query, headers)
        .await
}

/// One `debug` event per request (`trove serve -v` shows them): method, path and query,
/// status, time to the response head.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        target: "trove::serve",
        "{method} {uri} → {} in {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

async fn no_cid() -> Response {
    gateway::text(
        StatusCode::BAD_REQUEST,
        "no CID: ask for /ipfs/{cid}?format=car or /ipfs/{cid}?format=raw".into(),
    )
}

async fn not_found() -> Response {
    gateway::text(
        StatusCode::NOT_FOUND,
        "not found: this server answers /ipfs/{cid} (a trustless gateway) and / (the registry)"
            .into(),
    )
}

async fn index(State(server): State<HttpServer>, RawQuery(query): RawQuery) -> Response {
    match &server.page {
        Some(page) => page.index(query.as_deref()).into_response(),
        None => page::bare_index().into_response(),
    }
}

async fn entry(State(server): State<HttpServer>, Path(id): Path<String>) -> Response {
    let Some(page) = server.page.clone() else {
        return not_found().await;
    };
    let gateway = server.gateway.clone();
    match tokio::task::spawn_blocking(move || page.entry(&id, &gateway)).await {
        Ok(response) => response,
        Err(e) => gateway::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        ),
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    page::asset(&name)
}
