//! Tier 3: trustless HTTP gateways (ipfs/specs `http-gateways/trustless-gateway.md`).
//!
//! - [`Source::dag`]: `GET {base}/ipfs/{cid}?format=car&dag-scope=all&dups=n` with
//!   `Accept: application/vnd.ipld.car; version=1; order=dfs; dups=n`; the answer must be `200`
//!   with `Content-Type: application/vnd.ipld.car…` and is passed on as a stream.
//! - [`Source::block`]: `GET {base}/ipfs/{cid}?format=raw` with
//!   `Accept: application/vnd.ipld.raw`; `200`, `Content-Type: application/vnd.ipld.raw`, at most
//!   [`MAX_BLOCK_SIZE`] bytes.
//! - [`GatewaySource::entity_bytes`]: a byte range of a UnixFS file as a CAR
//!   (`dag-scope=entity&entity-bytes=from:to`).
//!
//! The source is thin on purpose: it does not verify (the fetcher hashes every block and walks the
//! DAG), does not retry and applies no idle time-out (the fetcher decides both). Statuses and
//! transport failures map to [`SourceError`] as described in [`super::http`].

use super::http::{self, HttpClient, HttpError};
use super::{ByteStream, Source, SourceError, SourceKind};
use crate::car::MAX_BLOCK_SIZE;
use crate::content::Cid;
use reqwest::header::ACCEPT;
use url::Url;

/// The `Accept` header of CAR requests.
pub const CAR_ACCEPT: &str = "application/vnd.ipld.car; version=1; order=dfs; dups=n";

/// The `Accept` header of raw block requests.
pub const RAW_ACCEPT: &str = "application/vnd.ipld.raw";

const CAR_TYPE: &str = "application/vnd.ipld.car";
const RAW_TYPE: &str = "application/vnd.ipld.raw";

/// A trustless gateway at a base URL (which may have a path prefix, with or without a trailing
/// slash: `https://example.org/some/prefix` serves `https://example.org/some/prefix/ipfs/{cid}`).
#[derive(Debug, Clone)]
pub struct GatewaySource {
    client: HttpClient,
    base: Url,
}

impl GatewaySource {
    /// A gateway at `base_url`, checked against the client's URL policy (`https://`, or
    /// `http://` on loopback and private networks unless insecure URLs are allowed). A query or
    /// fragment in the base URL is an error.
    pub fn new(base_url: &str, client: &HttpClient) -> Result<Self, HttpError> {
        let mut base = client.check_url(base_url)?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(HttpError::InvalidUrl {
                url: base_url.to_string(),
                reason: "a gateway URL cannot have a query (`?…`) or fragment (`#…`)".into(),
            });
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(GatewaySource {
            client: client.clone(),
            base,
        })
    }

    /// The base URL, ending with `/`.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `{base}/ipfs/{cid}?{query}`.
    pub fn url_for(&self, cid: &Cid, query: &str) -> Url {
        let mut url = self
            .base
            .join(&format!("ipfs/{cid}"))
            .expect("a CID is a valid relative URL path");
        url.set_query(Some(query));
        url
    }

    /// The blocks needed to read bytes `from..=to` of the UnixFS file `cid` (`to: None` = to the
    /// end), as a CARv1 stream: `dag-scope=entity&entity-bytes=from:to`.
    pub async fn entity_bytes(
        &self,
        cid: &Cid,
        from: u64,
        to: Option<u64>,
    ) -> Result<ByteStream, SourceError> {
        let to = to.map_or_else(|| "*".to_string(), |t| t.to_string());
        self.car(
            cid,
            &format!("format=car&dag-scope=entity&entity-bytes={from}:{to}&dups=n"),
        )
        .await
    }

    async fn car(&self, cid: &Cid, query: &str) -> Result<ByteStream, SourceError> {
        let url = self.url_for(cid, query);
        let request = self.client.reqwest().get(url).header(ACCEPT, CAR_ACCEPT);
        let response = http::send(request).await?;
        http::expect_ok(&response, CAR_TYPE, "a CAR")?;
        Ok(http::body_stream(response))
    }
}

#[async_trait::async_trait]
impl Source for GatewaySource {
    fn describe(&self) -> String {
        format!("gateway {}", self.base.as_str().trim_end_matches('/'))
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Gateway
    }

    async fn dag(&self, cid: &Cid) -> Result<ByteStream, SourceError> {
        self.car(cid, "format=car&dag-scope=all&dups=n").await
    }

    async fn dag_range(
        &self,
        cid: &Cid,
        from: u64,
        to: Option<u64>,
    ) -> Result<ByteStream, SourceError> {
        self.entity_bytes(cid, from, to).await
    }

    async fn block(&self, cid: &Cid) -> Result<Vec<u8>, SourceError> {
        let url = self.url_for(cid, "format=raw");
        let request = self.client.reqwest().get(url).header(ACCEPT, RAW_ACCEPT);
        let response = http::send(request).await?;
        http::expect_ok(&response, RAW_TYPE, "a raw block")?;
        http::read_body_capped(response, MAX_BLOCK_SIZE).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::http::HttpOptions;

    #[test]
    fn urls_keep_the_base_path_prefix_with_or_without_a_trailing_slash() {
        let client = HttpClient::new(&HttpOptions::default()).unwrap();
        let cid =
            crate::content::parse_cid("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        for base in ["https://gw.example/prefix", "https://gw.example/prefix/"] {
            let gw = GatewaySource::new(base, &client).unwrap();
            assert_eq!(
                gw.url_for(&cid, "format=raw").as_str(),
                "https://gw.example/prefix/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o?format=raw"
            );
            assert_eq!(gw.describe(), "gateway https://gw.example/prefix");
        }
        let gw = GatewaySource::new("https://gw.example", &client).unwrap();
        assert_eq!(
            gw.url_for(&cid, "format=car").as_str(),
            "https://gw.example/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o?format=car"
        );
        assert!(GatewaySource::new("https://gw.example/?x=1", &client).is_err());
        assert!(matches!(
            GatewaySource::new("http://gw.example", &client),
            Err(HttpError::InsecureUrl { .. })
        ));
    }
}
