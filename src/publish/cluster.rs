//! An IPFS Cluster through its REST API (`/allocations/{cid}`, `POST /pins/{cid}`,
//! `GET /pins/{cid}`): whether the cluster tracks a CID, asking it to pin one, and following
//! the pin until every peer that was given it has pinned it.
//!
//! Credentials go in the URL's user information (`https://user:password@cluster:9094`, the
//! REST API's basic authentication); messages show the URL without them.

use super::pin::{PinError, PinOutcome, PinWait};
use crate::content::Cid;
use serde_json::Value;
use std::time::Instant;
use url::Url;

/// An IPFS Cluster's REST API.
#[derive(Clone)]
pub struct Cluster {
    /// The API's base URL, without credentials.
    pub url: Url,
    auth: Option<(String, String)>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &self.url.as_str())
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Cluster {
    /// The cluster at `url` (its REST API, e.g. `http://127.0.0.1:9094`).
    pub fn new(mut url: Url) -> Cluster {
        let auth = (!url.username().is_empty()).then(|| {
            (
                url.username().to_string(),
                url.password().unwrap_or_default().to_string(),
            )
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Cluster { url, auth }
    }

    fn error(&self, detail: impl Into<String>) -> PinError {
        PinError::Service {
            service: format!("IPFS Cluster {}", self.url.as_str().trim_end_matches('/')),
            detail: detail.into(),
        }
    }

    fn endpoint(&self, parts: &[&str]) -> Result<Url, PinError> {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .map_err(|_| self.error("the URL cannot be a base URL"))?
            .pop_if_empty()
            .extend(parts);
        Ok(url)
    }

    /// Sends a request; `Ok(None)` for 404, the JSON answer for a success.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Option<Value>, PinError> {
        let request = match &self.auth {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.error(crate::error::chain(&e)))?;
        let status = response.status();
        let body = super::pin::read_capped(response)
            .await
            .map_err(|e| self.error(e))?;
        if status.as_u16() == 404 {
            return Ok(None);
        }
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let message = value
                .as_ref()
                .and_then(|v| v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| super::pin::quote(&body));
            let advice = if matches!(status.as_u16(), 401 | 403) {
                " (give the credentials in the URL: https://USER:PASSWORD@HOST:9094)"
            } else {
                ""
            };
            return Err(self.error(format!("HTTP {status}{advice}: {message}")));
        }
        value
            .map(Some)
            .ok_or_else(|| self.error("the answer is not JSON"))
    }

    /// Whether the cluster tracks `cid` (it is in the shared pin set).
    pub async fn tracks(&self, client: &reqwest::Client, cid: &Cid) -> Result<bool, PinError> {
        let url = self.endpoint(&["allocations", &cid.to_string()])?;
        Ok(self.call(client.get(url)).await?.is_some())
    }

    /// Asks the cluster to pin `cid` under `name`, then follows it as [`Cluster::wait`].
    pub async fn pin(
        &self,
        client: &reqwest::Client,
        cid: &Cid,
        name: &str,
        wait: PinWait,
    ) -> Result<PinOutcome, PinError> {
        let mut url = self.endpoint(&["pins", &cid.to_string()])?;
        url.query_pairs_mut().append_pair("name", name);
        self.call(client.post(url))
            .await?
            .ok_or_else(|| self.error("`POST /pins/{cid}` answered 404"))?;
        self.wait(client, cid, wait).await
    }

    /// Polls `GET /pins/{cid}` until every peer holding an allocation says `pinned` (then
    /// `Pinned`), one says `pin_error` (an error), or `wait.give_up_after` passes (`Queued`
    /// with the statuses seen).
    pub async fn wait(
        &self,
        client: &reqwest::Client,
        cid: &Cid,
        wait: PinWait,
    ) -> Result<PinOutcome, PinError> {
        let started = Instant::now();
        let url = self.endpoint(&["pins", &cid.to_string()])?;
        loop {
            let answer = self
                .call(client.get(url.clone()))
                .await?
                .ok_or_else(|| self.error(format!("the cluster does not track `{cid}`")))?;
            let peers = answer
                .get("peer_map")
                .and_then(Value::as_object)
                .ok_or_else(|| self.error("the status has no `peer_map`"))?;
            let mut statuses: Vec<&str> = peers
                .values()
                .filter_map(|p| p.get("status").and_then(Value::as_str))
                .filter(|s| *s != "remote")
                .collect();
            statuses.sort_unstable();
            statuses.dedup();
            if let Some(error) = peers.values().find(|p| {
                p.get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.ends_with("error"))
            }) {
                let detail = error.get("error").and_then(Value::as_str).unwrap_or("");
                return Err(self.error(format!("a peer could not pin `{cid}`: {detail}")));
            }
            if !statuses.is_empty() && statuses == ["pinned"] {
                return Ok(PinOutcome::Pinned {
                    request_id: cid.to_string(),
                });
            }
            if started.elapsed() + wait.poll_every > wait.give_up_after {
                return Ok(PinOutcome::Queued {
                    request_id: cid.to_string(),
                    status: statuses.join(","),
                });
            }
            tokio::time::sleep(wait.poll_every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_the_debug_output() {
        let c = Cluster::new(Url::parse("https://admin:s3cret@cluster.example:9094/").unwrap());
        assert_eq!(c.url.as_str(), "https://cluster.example:9094/");
        assert!(!format!("{c:?}").contains("s3cret"));
        let cid =
            Cid::try_from("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy").unwrap();
        assert_eq!(
            c.endpoint(&["pins", &cid.to_string()]).unwrap().as_str(),
            format!("https://cluster.example:9094/pins/{cid}")
        );
    }
}
