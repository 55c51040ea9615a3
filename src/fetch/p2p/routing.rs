//! Delegated routing over HTTP (IPIP-337, `GET {endpoint}/routing/v1/providers/{cid}`): asks a
//! routing server which peers provide a CID. Only `peer` records (and the older `bitswap`
//! records) that speak bitswap and carry a peer ID are used; addresses are checked by the node
//! when it dials.

use crate::content::Cid;
use crate::fetch::http::{self, HttpClient};
use crate::fetch::SourceError;
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;

/// The answer's size limit: provider lists are small.
const MAX_RESPONSE: usize = 1024 * 1024;

/// A provider found by delegated routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its peer ID.
    pub peer: PeerId,
    /// Where to dial it (may be empty: the node then needs another way to find it).
    pub addrs: Vec<Multiaddr>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Providers", default)]
    providers: Option<Vec<Record>>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "Schema", default)]
    schema: String,
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(rename = "Addrs", default)]
    addrs: Option<Vec<String>>,
    #[serde(rename = "Protocols", default)]
    protocols: Option<Vec<String>>,
    #[serde(rename = "Protocol", default)]
    protocol: Option<String>,
}

/// Asks the routing server at `endpoint` (e.g. `https://delegated-ipfs.dev`) for providers of
/// `cid`. No providers is an empty list, not an error.
pub async fn find_providers(
    client: &HttpClient,
    endpoint: &url::Url,
    cid: &Cid,
) -> Result<Vec<Provider>, SourceError> {
    let base = endpoint.as_str().trim_end_matches('/');
    let url = format!("{base}/routing/v1/providers/{cid}");
    let request = client
        .reqwest()
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json");
    let response = http::send(request).await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    http::expect_ok(&response, "application/json", "a provider list")?;
    let body = http::read_body_capped(response, MAX_RESPONSE).await?;
    parse_providers(&body).map_err(SourceError::Misbehaved)
}

/// Parses a `/routing/v1/providers` answer, keeping bitswap providers with a valid peer ID.
pub fn parse_providers(body: &[u8]) -> Result<Vec<Provider>, String> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| format!("not a provider list: {e}"))?;
    let mut out = Vec::new();
    for record in answer.providers.unwrap_or_default() {
        let speaks_bitswap = match record.schema.as_str() {
            "peer" => record
                .protocols
                .as_ref()
                .is_none_or(|p| p.is_empty() || p.iter().any(|p| p == "transport-bitswap")),
            "bitswap" => record
                .protocol
                .as_deref()
                .is_none_or(|p| p == "transport-bitswap"),
            _ => false,
        };
        let Some(peer) = record
            .id
            .as_deref()
            .and_then(|id| id.parse::<PeerId>().ok())
        else {
            continue;
        };
        if !speaks_bitswap {
            continue;
        }
        let addrs = record
            .addrs
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .collect();
        out.push(Provider { peer, addrs });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_and_bitswap_records_are_read_and_others_skipped() {
        let id = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let body = format!(
            r#"{{"Providers":[
              {{"Schema":"peer","ID":"{id}","Addrs":["/ip4/127.0.0.1/tcp/4001","not an addr"],"Protocols":["transport-bitswap"]}},
              {{"Schema":"peer","ID":"{id}","Addrs":[],"Protocols":["transport-ipfs-gateway-http"]}},
              {{"Schema":"bitswap","Protocol":"transport-bitswap","ID":"{id}","Addrs":["/ip4/10.0.0.1/udp/4001/quic-v1"]}},
              {{"Schema":"unknown","ID":"{id}"}},
              {{"Schema":"peer","ID":"not a peer id"}}
            ]}}"#
        );
        let found = parse_providers(body.as_bytes()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].peer, id);
        assert_eq!(found[0].addrs.len(), 1);
        assert_eq!(
            found[1].addrs[0].to_string(),
            "/ip4/10.0.0.1/udp/4001/quic-v1"
        );
        assert!(parse_providers(b"{\"Providers\":null}").unwrap().is_empty());
        assert!(parse_providers(b"<html>").is_err());
    }
}
