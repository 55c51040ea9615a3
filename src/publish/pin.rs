//! Making published content available: adding a CAR to a Kubo-compatible daemon
//! (`/api/v0/dag/import?pin-roots=true`, the CAR streamed from disk as a hand-built multipart
//! body) and pinning on remote services that speak the
//! [IPFS Pinning Service API](https://ipfs.github.io/pinning-services-api-spec/)
//! (`POST {endpoint}/pins`, then `GET {endpoint}/pins/{requestid}` until `pinned`).
//!
//! Access tokens are sent only in the `Authorization` header; they are never part of a message
//! (any echo of one in a service's answer is replaced by `***`) and [`PinService`]'s `Debug`
//! hides them.

use crate::content::{parse_cid, Cid};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use url::Url;

/// The most of an answer that is read (a cluster's status of a pin lists every peer).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Errors while making content available.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The CAR could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The daemon refused or failed the import.
    #[error("the IPFS daemon at `{url}` did not import the CAR: {detail}")]
    Daemon {
        /// The API address.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A pinning service failed.
    #[error("pinning service `{service}`: {detail}")]
    Service {
        /// The service name.
        service: String,
        /// What went wrong (tokens redacted).
        detail: String,
    },
    /// The service reports that pinning failed.
    #[error("pinning service `{service}` could not pin `{cid}` (request `{request_id}`, status `failed`)")]
    Failed {
        /// The service name.
        service: String,
        /// The CID.
        cid: Cid,
        /// The service's request ID.
        request_id: String,
    },
}

impl crate::Hint for PinError {
    fn hint(&self) -> Option<String> {
        match self {
            PinError::Daemon { .. } => {
                Some("run with --no-daemon to skip the local daemon, or --car OUT.car and `ipfs dag import OUT.car`".into())
            }
            PinError::Service { .. } | PinError::Failed { .. } => Some(
                "check the service's endpoint and token (`[pinning.NAME]` in the config file or TROVE_PIN_TOKEN)"
                    .into(),
            ),
            PinError::Io { .. } => None,
        }
    }
}

/// The HTTP client for pinning services and clusters (`daemon: false`: the system proxy
/// applies, a request may take 60 s) or for a local daemon (`daemon: true`: reached directly,
/// no limit on a request, since a large CAR takes its time to upload). Connections time out
/// after 10 s either way.
pub fn service_client(daemon: bool) -> Result<reqwest::Client, crate::Error> {
    let builder = reqwest::Client::builder()
        .user_agent(crate::http::USER_AGENT)
        .connect_timeout(Duration::from_secs(10));
    let builder = if daemon {
        builder.no_proxy()
    } else {
        builder.timeout(Duration::from_secs(60))
    };
    builder.build().map_err(|e| {
        crate::Error::msg(
            crate::ErrorKind::Other,
            format!("cannot build the HTTP client: {e}"),
        )
    })
}

/// What the daemon reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonImport {
    /// The root it imported and pinned.
    pub root: Cid,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// Uploads the CAR at `car` to the daemon's `dag/import` with `pin-roots=true` and checks that
/// the daemon reports `root` pinned. The CAR is streamed from disk.
pub async fn dag_import(
    client: &reqwest::Client,
    api: &Url,
    car: &Path,
    root: &Cid,
) -> Result<DaemonImport, PinError> {
    let display = api.as_str().trim_end_matches('/').to_string();
    let daemon = |detail: String| PinError::Daemon {
        url: display.clone(),
        detail,
    };
    let url = api
        .join("api/v0/dag/import?pin-roots=true")
        .map_err(|e| daemon(e.to_string()))?;
    let io = |source| PinError::Io {
        path: car.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::open(car).await.map_err(io)?;
    let len = file.metadata().await.map_err(io)?.len();
    let boundary = boundary();
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"content.car\"\r\nContent-Type: application/vnd.ipld.car\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let total = head.len() as u64 + len + tail.len() as u64;
    let body = stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(head)) })
        .chain(tokio_util::io::ReaderStream::with_capacity(
            file,
            256 * 1024,
        ))
        .chain(stream::once(async move { Ok(Bytes::from(tail)) }));
    let response = client
        .post(url)
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .map_err(|e| daemon(crate::error::chain(&e)))?;
    let status = response.status();
    let stream_error = response
        .headers()
        .get("x-stream-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer = read_capped(response).await.map_err(daemon)?;
    let text = String::from_utf8_lossy(&answer);
    if !status.is_success() {
        return Err(daemon(format!("HTTP {status}: {}", error_message(&text))));
    }
    if let Some(e) = stream_error.filter(|e| !e.is_empty()) {
        return Err(daemon(e));
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(message) = value.get("Message").and_then(Value::as_str) {
            return Err(daemon(message.to_string()));
        }
        let Some(reported) = value.pointer("/Root/Cid/~1").and_then(Value::as_str) else {
            continue;
        };
        if parse_cid(reported).ok().as_ref() != Some(root) {
            continue;
        }
        match value.pointer("/Root/PinErrorMsg").and_then(Value::as_str) {
            Some(e) if !e.is_empty() => {
                return Err(daemon(format!(
                    "imported `{root}` but could not pin it: {e}"
                )))
            }
            _ => {
                return Ok(DaemonImport {
                    root: *root,
                    bytes: len,
                })
            }
        }
    }
    Err(daemon(format!(
        "its answer does not report the root `{root}` as imported: `{}`",
        text.trim().chars().take(300).collect::<String>()
    )))
}

/// Whether the daemon at `api` pins `cid` recursively (`/api/v0/pin/ls?arg=…&type=recursive`;
/// Kubo and js-ipfs answer an error saying "not pinned" when it does not).
pub async fn daemon_pins(client: &reqwest::Client, api: &Url, cid: &Cid) -> Result<bool, PinError> {
    let display = api.as_str().trim_end_matches('/').to_string();
    let daemon = |detail: String| PinError::Daemon {
        url: display.clone(),
        detail,
    };
    let mut url = api
        .join("api/v0/pin/ls")
        .map_err(|e| daemon(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("arg", &cid.to_string())
        .append_pair("type", "recursive");
    let response = client
        .post(url)
        .send()
        .await
        .map_err(|e| daemon(crate::error::chain(&e)))?;
    let status = response.status();
    let answer = read_capped(response).await.map_err(daemon)?;
    let text = String::from_utf8_lossy(&answer);
    if !status.is_success() {
        let message = error_message(&text);
        if message.contains("not pinned") {
            return Ok(false);
        }
        return Err(daemon(format!("HTTP {status}: {message}")));
    }
    let keys = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("Keys").cloned());
    Ok(match keys {
        Some(Value::Object(keys)) => keys
            .keys()
            .filter_map(|k| parse_cid(k).ok())
            .any(|k| k.hash() == cid.hash()),
        _ => false,
    })
}

/// A multipart boundary that will not occur in the data (a CAR's bytes are hashes and blocks;
/// 32 pseudo-random hex digits make a collision negligible).
fn boundary() -> String {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{nanos}-{}", std::process::id()));
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("trove-{hex}")
}

/// The `Message` of a Kubo error answer, or the text.
fn error_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("Message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.trim().chars().take(300).collect())
}

/// The start of an answer that is not the JSON expected, for a message.
pub(super) fn quote(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(200)
        .collect()
}

/// A service's answer, at most [`MAX_ANSWER`] bytes of it.
pub(super) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| crate::error::chain(&e))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A remote pinning service.
#[derive(Clone)]
pub struct PinService {
    /// Its name (from the config file), or its endpoint.
    pub name: String,
    /// The API base: `{endpoint}/pins` is the pins collection.
    pub endpoint: Url,
    token: String,
}

impl fmt::Debug for PinService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinService")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint.as_str())
            .field("token", &"***")
            .finish()
    }
}

/// How long to wait for a remote pin.
#[derive(Debug, Clone, Copy)]
pub struct PinWait {
    /// Time between status requests.
    pub poll_every: Duration,
    /// When to stop waiting (the pin stays queued at the service).
    pub give_up_after: Duration,
}

impl Default for PinWait {
    fn default() -> Self {
        PinWait {
            poll_every: Duration::from_secs(2),
            give_up_after: Duration::from_secs(120),
        }
    }
}

/// How a remote pin ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// The service holds the content.
    Pinned {
        /// The service's request ID.
        request_id: String,
    },
    /// The service accepted the request but had not finished when we stopped waiting; it keeps
    /// working on it.
    Queued {
        /// The service's request ID.
        request_id: String,
        /// The last status it reported (`queued` or `pinning`).
        status: String,
    },
}

impl PinService {
    /// A service at `endpoint` with an access token.
    pub fn new(name: impl Into<String>, endpoint: Url, token: impl Into<String>) -> PinService {
        PinService {
            name: name.into(),
            endpoint,
            token: token.into(),
        }
    }

    /// `text` with any occurrence of the token replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.token, "***")
        }
    }

    fn error(&self, detail: impl AsRef<str>) -> PinError {
        PinError::Service {
            service: self.name.clone(),
            detail: self.redact(detail.as_ref()),
        }
    }

    fn pins_url(&self, request_id: Option<&str>) -> Result<Url, PinError> {
        let mut url = self.endpoint.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| self.error("the endpoint cannot be a base URL"))?;
            segments.pop_if_empty().push("pins");
            if let Some(id) = request_id {
                segments.push(id);
            }
        }
        Ok(url)
    }

    /// Sends a request and reads its JSON answer (a status that is not a success is an error
    /// quoting the service's `error.reason`/`details`).
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, PinError> {
        let response = request
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .send()
            .await
            .map_err(|e| self.error(crate::error::chain(&e)))?;
        let status = response.status();
        let body = read_capped(response).await.map_err(|e| self.error(e))?;
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let reason = value
                .as_ref()
                .and_then(|v| v.get("error"))
                .map(|e| {
                    let reason = e.get("reason").and_then(Value::as_str).unwrap_or("");
                    let details = e.get("details").and_then(Value::as_str).unwrap_or("");
                    format!("{reason} {details}").trim().to_string()
                })
                .unwrap_or_else(|| quote(&body));
            let advice = if matches!(status.as_u16(), 401 | 403) {
                " (the token was refused)"
            } else {
                ""
            };
            return Err(self.error(format!("HTTP {status}{advice}: {reason}")));
        }
        value.ok_or_else(|| self.error("the answer is not JSON"))
    }

    /// The service's newest pin request for `cid` that is not `failed`: its request ID and
    /// status (`queued`, `pinning`, `pinned`), or `None`.
    pub async fn existing(
        &self,
        client: &reqwest::Client,
        cid: &Cid,
    ) -> Result<Option<(String, String)>, PinError> {
        let mut url = self.pins_url(None)?;
        url.query_pairs_mut()
            .append_pair("cid", &cid.to_string())
            .append_pair("status", "queued,pinning,pinned")
            .append_pair("limit", "10");
        let answer = self.call(client.get(url)).await?;
        let results = answer
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| self.error("the answer has no `results`"))?;
        let rank = |status: &str| match status {
            "pinned" => 3,
            "pinning" => 2,
            "queued" => 1,
            _ => 0,
        };
        Ok(results
            .iter()
            .filter_map(|r| {
                let id = r.get("requestid")?.as_str()?.to_string();
                let status = r.get("status")?.as_str()?.to_string();
                (rank(&status) > 0).then_some((id, status))
            })
            .max_by_key(|(_, status)| rank(status)))
    }

    /// Polls the request `request_id` until it is pinned, fails, or `wait.give_up_after`
    /// passes.
    pub async fn wait(
        &self,
        client: &reqwest::Client,
        cid: &Cid,
        request_id: &str,
        wait: PinWait,
    ) -> Result<PinOutcome, PinError> {
        let answer = self
            .call(client.get(self.pins_url(Some(request_id))?))
            .await?;
        self.follow(
            client,
            cid,
            request_id.to_string(),
            answer,
            Instant::now(),
            wait,
        )
        .await
    }

    /// Asks the service to pin `cid` under `name`, then polls until it is pinned, fails, or
    /// `wait.give_up_after` passes (then [`PinOutcome::Queued`]).
    pub async fn pin(
        &self,
        client: &reqwest::Client,
        cid: &Cid,
        name: &str,
        wait: PinWait,
    ) -> Result<PinOutcome, PinError> {
        let started = Instant::now();
        let body = serde_json::json!({"cid": cid.to_string(), "name": name});
        let answer = self
            .call(
                client
                    .post(self.pins_url(None)?)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string()),
            )
            .await?;
        let request_id = answer
            .get("requestid")
            .and_then(Value::as_str)
            .ok_or_else(|| self.error("the answer has no `requestid`"))?
            .to_string();
        self.follow(client, cid, request_id, answer, started, wait)
            .await
    }

    /// Follows a pin request from its last known `answer` (see [`PinService::pin`]).
    async fn follow(
        &self,
        client: &reqwest::Client,
        cid: &Cid,
        request_id: String,
        mut answer: Value,
        started: Instant,
        wait: PinWait,
    ) -> Result<PinOutcome, PinError> {
        loop {
            let status = answer
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match status.as_str() {
                "pinned" => return Ok(PinOutcome::Pinned { request_id }),
                "failed" => {
                    return Err(PinError::Failed {
                        service: self.name.clone(),
                        cid: *cid,
                        request_id,
                    })
                }
                "queued" | "pinning" => {}
                other => {
                    return Err(self.error(format!(
                        "unexpected status `{}` for request `{request_id}`",
                        other.chars().take(40).collect::<String>()
                    )))
                }
            }
            if started.elapsed() + wait.poll_every > wait.give_up_after {
                return Ok(PinOutcome::Queued { request_id, status });
            }
            tokio::time::sleep(wait.poll_every).await;
            answer = self
                .call(client.get(self.pins_url(Some(&request_id))?))
                .await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_hidden() {
        let s = PinService::new(
            "svc",
            Url::parse("https://pin.example/psa/").unwrap(),
            "s3cret-token",
        );
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(s.redact("echo s3cret-token"), "echo ***");
        assert_eq!(
            s.pins_url(Some("a b")).unwrap().as_str(),
            "https://pin.example/psa/pins/a%20b"
        );
        assert!(!s.error("bad s3cret-token").to_string().contains("s3cret"));
    }
}
