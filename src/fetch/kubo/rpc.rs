//! The daemon as a [`Source`]: `block/get` and `dag/export` with `offline=true`, and what the
//! answers of each implementation mean.

use super::super::http::{body_stream, parse_retry_after, request_error};
use super::super::{ByteStream, Source, SourceError, SourceKind};
use super::discover::{probe, DaemonImplementation, ProbeFailure};
use super::*;
use crate::car::MAX_BLOCK_SIZE;
use crate::content::Cid;
use crate::fetch::idle::SilenceTimeout;
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::time::{Duration, SystemTime};
use url::Url;

/// The local daemon as a [`Source`].
#[derive(Debug, Clone)]
pub struct KuboRpcSource {
    client: reqwest::Client,
    api: ApiCandidate,
    version: String,
    implementation: DaemonImplementation,
    lookup_timeout: Duration,
    stall_timeout: Duration,
}

impl KuboRpcSource {
    /// Probes every candidate at once (`POST /api/v0/version`) and returns the first, in order,
    /// that answers like a Kubo RPC API, or `None` when none does. An address where nobody
    /// listens costs at most [`LOOPBACK_CONNECT_TIMEOUT`] (loopback) or
    /// [`REMOTE_CONNECT_TIMEOUT`] (other hosts), all candidates together; a daemon that accepted
    /// the connection gets [`PROBE_ANSWER_TIMEOUT`] to answer.
    ///
    /// # Errors
    /// [`KuboError::NotAnRpcApi`] when an address the user named (flag or `IPFS_API`) answered
    /// but not as an RPC API (a gateway port, another web server). Such an answer from the `api`
    /// file or the default address only skips that candidate.
    pub async fn connect(
        candidates: &[ApiCandidate],
        client: reqwest::Client,
    ) -> Result<Option<KuboRpcSource>, KuboError> {
        let client_ref = &client;
        let mut probes: FuturesOrdered<_> = candidates
            .iter()
            .map(|candidate| async move { (candidate, probe(client_ref, &candidate.url).await) })
            .collect();
        while let Some((candidate, result)) = probes.next().await {
            match result {
                Ok(found) => {
                    return Ok(Some(KuboRpcSource {
                        client: client.clone(),
                        api: candidate.clone(),
                        version: found.version,
                        implementation: found.implementation,
                        lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
                        stall_timeout: DEFAULT_STALL_TIMEOUT,
                    }))
                }
                Err(ProbeFailure::NotRpc(detail)) if candidate.origin.is_explicit() => {
                    return Err(KuboError::NotAnRpcApi {
                        url: candidate.display_url().to_string(),
                        origin: candidate.origin.clone(),
                        detail,
                    })
                }
                Err(_) => {}
            }
        }
        Ok(None)
    }

    /// Sets how long a CAR stream from a daemon that ignores `offline=true` may stay silent
    /// (default [`DEFAULT_STALL_TIMEOUT`]).
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// The address that answered, and where it came from.
    pub fn api(&self) -> &ApiCandidate {
        &self.api
    }

    /// The daemon's version, as it reported it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Which implementation answered.
    pub fn implementation(&self) -> DaemonImplementation {
        self.implementation
    }

    fn command_url(&self, command: &str, cid: &Cid, lookup: bool) -> Url {
        let mut url = self
            .api
            .url
            .join(&format!("api/v0/{command}"))
            .expect("a relative command path joins");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("arg", &cid.to_string());
            query.append_pair("offline", "true");
            if lookup && !self.implementation.honours_offline() {
                query.append_pair(
                    "timeout",
                    &format!("{}ms", self.lookup_timeout.as_millis().max(1)),
                );
            }
        }
        url
    }

    /// POSTs `command` for `cid`; a non-200 answer becomes the matching [`SourceError`].
    async fn call(
        &self,
        command: &str,
        cid: &Cid,
        lookup: bool,
    ) -> Result<reqwest::Response, SourceError> {
        let url = self.command_url(command, cid, lookup);
        tracing::debug!(%url, "Kubo RPC call");
        let response = self
            .client
            .post(url)
            .send()
            .await
            .map_err(|e| request_error(&e))
            .inspect_err(|e| tracing::debug!(command, %cid, "Kubo RPC call failed: {e}"))?;
        let status = response.status();
        tracing::trace!(command, %cid, status = status.as_u16(), "Kubo RPC answer");
        if status == reqwest::StatusCode::OK {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_capped(response, MAX_ERROR_BODY).await;
        let message = rpc_error_message(&body);
        let sent_timeout = lookup && !self.implementation.honours_offline();
        Err(classify_error(
            status.as_u16(),
            &message,
            sent_timeout,
            retry_after,
            &format!("POST /api/v0/{command} for `{cid}`"),
        ))
    }
}

#[async_trait::async_trait]
impl Source for KuboRpcSource {
    fn describe(&self) -> String {
        format!(
            "kubo {} ({} {}, from {})",
            self.api.display_url(),
            self.implementation.name(),
            self.version,
            self.api.origin
        )
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Kubo
    }

    /// `POST /api/v0/dag/export?arg=CID&offline=true`, after a `block/stat` of the root (so that
    /// a daemon without the root answers not found instead of an empty CAR or a stalled one).
    async fn dag(&self, cid: &Cid) -> Result<ByteStream, SourceError> {
        let stat = self.call("block/stat", cid, true).await?;
        drop(read_capped(stat, MAX_ERROR_BODY).await);
        let response = self.call("dag/export", cid, false).await?;
        let stream = body_stream(response);
        if self.implementation.honours_offline() {
            Ok(stream)
        } else {
            let detail = format!(
                "{} sent nothing for {:?}: it ignores offline=true, so it is probably searching the network for a block it does not have",
                self.implementation.name(),
                self.stall_timeout
            );
            Ok(Box::pin(SilenceTimeout::new(
                stream,
                self.stall_timeout,
                detail,
            )))
        }
    }

    /// `POST /api/v0/block/get?arg=CID&offline=true`; more than 2 MiB is
    /// [`SourceError::Misbehaved`].
    async fn block(&self, cid: &Cid) -> Result<Vec<u8>, SourceError> {
        let mut response = self.call("block/get", cid, true).await?;
        let too_large = |n: String| {
            SourceError::Misbehaved(format!(
                "the daemon sent {n} bytes for block `{cid}`, beyond the maximum of {MAX_BLOCK_SIZE}"
            ))
        };
        if let Some(len) = response.content_length() {
            if len > MAX_BLOCK_SIZE as u64 {
                return Err(too_large(len.to_string()));
            }
        }
        let mut data = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| request_error(&e))? {
            if data.len() + chunk.len() > MAX_BLOCK_SIZE {
                return Err(too_large(format!("more than {MAX_BLOCK_SIZE}")));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    }
}

/// Reads up to `cap` bytes of a body (best effort: what arrived before an error).
pub(super) async fn read_capped(mut response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}

/// The `Message` of an RPC error answer (`{"Message": …, "Code": …, "Type": "error"}`), or the
/// first line of a plain-text one.
fn rpc_error_message(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        if let Some(serde_json::Value::String(message)) = map.get("Message") {
            return message.clone();
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().filter(|c| !c.is_control()).collect()
}

/// Maps an RPC error answer to a [`SourceError`]. Content not found is a 500 with a message in
/// both Kubo and js-ipfs; `sent_timeout` says whether the request carried `timeout=` (then a
/// time-out means the daemon did not have the block locally). A 404 is a command the daemon
/// does not have.
fn classify_error(
    status: u16,
    message: &str,
    sent_timeout: bool,
    retry_after: Option<Duration>,
    what: &str,
) -> SourceError {
    let lower = message.to_ascii_lowercase();
    let not_found = [
        "not found",
        "could not find",
        "not available",
        "no such block",
        "does not have",
    ]
    .iter()
    .any(|p| lower.contains(p));
    let timed_out = ["timed out", "timeout", "deadline exceeded"]
        .iter()
        .any(|p| lower.contains(p));
    let detail = if message.is_empty() {
        format!("HTTP {status} for {what}")
    } else {
        format!("HTTP {status} for {what}: {message}")
    };
    match status {
        500 if not_found => SourceError::NotFound,
        500 if sent_timeout && timed_out => SourceError::NotFound,
        400 | 404 | 501 => SourceError::Unsupported,
        401 | 403 | 407 => SourceError::Unavailable(format!(
            "{detail} (the daemon refused the request; check its API.Authorizations or API.HTTPHeaders)"
        )),
        408 | 429 | 500..=599 => SourceError::Transient {
            detail,
            retry_after,
        },
        _ => SourceError::Misbehaved(format!("unexpected {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_map_to_source_errors() {
        let what = "POST /api/v0/block/get";
        let c = |status, message: &str, sent_timeout| {
            classify_error(status, message, sent_timeout, None, what)
        };
        // Kubo, offline=true.
        assert!(matches!(
            c(
                500,
                "block was not found locally (offline): ipld: could not find bafkqaaa",
                false
            ),
            SourceError::NotFound
        ));
        assert!(matches!(
            c(500, "merkledag: not found", false),
            SourceError::NotFound
        ));
        // js-ipfs, timeout=.
        assert!(matches!(
            c(500, "Failed to get block: request timed out", true),
            SourceError::NotFound
        ));
        assert!(matches!(
            c(500, "Failed to get block: request timed out", false),
            SourceError::Transient { .. }
        ));
        // An unknown command is a 404 in both; a CID the daemon cannot parse is a 400.
        assert!(matches!(
            c(404, "Not Found", false),
            SourceError::Unsupported
        ));
        assert!(matches!(
            c(404, "404 page not found", false),
            SourceError::Unsupported
        ));
        assert!(matches!(
            c(400, "Invalid request query input", false),
            SourceError::Unsupported
        ));
        assert!(matches!(c(403, "", false), SourceError::Unavailable(_)));
        assert!(matches!(c(503, "", false), SourceError::Transient { .. }));
        assert!(matches!(
            c(500, "repo closed", false),
            SourceError::Transient { .. }
        ));
        assert!(matches!(c(405, "", false), SourceError::Misbehaved(_)));
        assert!(matches!(c(302, "", false), SourceError::Misbehaved(_)));
        match classify_error(429, "", false, Some(Duration::from_secs(3)), what) {
            SourceError::Transient { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_messages_come_from_json_or_text() {
        assert_eq!(
            rpc_error_message(br#"{"Message":"merkledag: not found","Code":0,"Type":"error"}"#),
            "merkledag: not found"
        );
        assert_eq!(
            rpc_error_message(b"404 page not found\n"),
            "404 page not found"
        );
        assert_eq!(rpc_error_message(b""), "");
    }
}
