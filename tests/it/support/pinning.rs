//! In-process fakes of a Pinning Service API service and of an IPFS Cluster's REST API, for
//! `trove mirror` (neither runs here: no pinning service can be installed from the package
//! registries, and IPFS Cluster is a Go binary outside them). Loopback only, on axum.
//!
//! Both record the requests they get and keep pins in memory. A new pin is `queued` (PSA) or
//! `pin_queued` (cluster) and becomes `pinned` on the next status request, so a client has to
//! follow it. CIDs in `fail` end as `failed` / `pin_error`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Pins {
    /// CID → (request id, status).
    pub psa: BTreeMap<String, (String, String)>,
    /// CID → status.
    pub cluster: BTreeMap<String, String>,
    /// Every request: "METHOD PATH".
    pub requests: Vec<String>,
    /// CIDs whose pins fail.
    pub fail: HashSet<String>,
}

/// A running fake: `{url}/psa` is the PSA endpoint, `{url}/cluster` the cluster API.
pub struct FakePinning {
    pub url: String,
    pub state: Arc<Mutex<Pins>>,
    _runtime: tokio::runtime::Runtime,
}

pub const TOKEN: &str = "fake-psa-token-7f3a";

impl FakePinning {
    pub fn start() -> FakePinning {
        let state = Arc::new(Mutex::new(Pins::default()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/psa/pins", get(psa_list).post(psa_add))
            .route("/psa/pins/{id}", get(psa_status))
            .route("/cluster/allocations/{cid}", get(cluster_allocation))
            .route("/cluster/pins/{cid}", post(cluster_pin).get(cluster_status))
            .with_state(state.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        FakePinning {
            url,
            state,
            _runtime: runtime,
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

type Shared = State<Arc<Mutex<Pins>>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"reason": "UNAUTHORIZED", "details": "bad token"}})),
    )
        .into_response()
}

fn pin_status(cid: &str, id: &str, status: &str) -> Value {
    json!({"requestid": id, "status": status, "created": "2026-01-01T00:00:00Z",
           "pin": {"cid": cid}, "delegates": []})
}

async fn psa_list(
    State(s): Shared,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut s = s.lock().unwrap();
    s.requests.push(format!(
        "GET /psa/pins?cid={}",
        q.get("cid").cloned().unwrap_or_default()
    ));
    let wanted: Vec<&str> = q
        .get("status")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    let results: Vec<Value> = s
        .psa
        .iter()
        .filter(|(cid, (_, status))| {
            q.get("cid").is_none_or(|c| c.split(',').any(|c| c == *cid))
                && (wanted.is_empty() || wanted.contains(&status.as_str()))
        })
        .map(|(cid, (id, status))| pin_status(cid, id, status))
        .collect();
    Json(json!({"count": results.len(), "results": results})).into_response()
}

async fn psa_add(State(s): Shared, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut s = s.lock().unwrap();
    let cid = body["cid"].as_str().unwrap_or_default().to_string();
    s.requests.push(format!("POST /psa/pins {cid}"));
    let id = format!("r{}", s.psa.len() + 1);
    s.psa.insert(cid.clone(), (id.clone(), "queued".into()));
    (StatusCode::ACCEPTED, Json(pin_status(&cid, &id, "queued"))).into_response()
}

async fn psa_status(State(s): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut s = s.lock().unwrap();
    s.requests.push(format!("GET /psa/pins/{id}"));
    let fail = s.fail.clone();
    let Some((cid, (_, status))) = s.psa.iter_mut().find(|(_, (rid, _))| *rid == id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"reason": "NOT_FOUND"}})),
        )
            .into_response();
    };
    *status = if fail.contains(cid) {
        "failed"
    } else {
        "pinned"
    }
    .into();
    Json(pin_status(cid, &id, status)).into_response()
}

async fn cluster_allocation(State(s): Shared, Path(cid): Path<String>) -> Response {
    let mut s = s.lock().unwrap();
    s.requests.push(format!("GET /cluster/allocations/{cid}"));
    if s.cluster.contains_key(&cid) {
        Json(json!({"cid": cid, "name": "", "allocations": ["peer-a", "peer-b"]})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"code": 404, "message": "cid is not part of the global state"})),
        )
            .into_response()
    }
}

async fn cluster_pin(State(s): Shared, Path(cid): Path<String>) -> Response {
    let mut s = s.lock().unwrap();
    s.requests.push(format!("POST /cluster/pins/{cid}"));
    s.cluster.insert(cid.clone(), "pin_queued".into());
    Json(json!({"cid": cid, "allocations": ["peer-a", "peer-b"]})).into_response()
}

async fn cluster_status(State(s): Shared, Path(cid): Path<String>) -> Response {
    let mut s = s.lock().unwrap();
    s.requests.push(format!("GET /cluster/pins/{cid}"));
    let failing = s.fail.contains(&cid);
    let Some(status) = s.cluster.get_mut(&cid) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"code": 404, "message": "not found"})),
        )
            .into_response();
    };
    let shown = status.clone();
    *status = if failing { "pin_error" } else { "pinned" }.into();
    let peer = |st: &str| json!({"status": st, "error": if st == "pin_error" { "context deadline exceeded" } else { "" }});
    Json(json!({
        "cid": cid,
        "peer_map": {"peer-a": peer(&shown), "peer-b": peer(&shown), "peer-c": peer("remote")}
    }))
    .into_response()
}
