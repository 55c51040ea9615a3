//! The p2p tier's settings: what `--peer`, the config file's `[p2p]` and the environment say.
//! Plain data, compiled with or without the `p2p` feature (settings are resolved either way;
//! without the feature the tier is left out).

use multiaddr::Multiaddr;
use std::path::PathBuf;
use std::time::Duration;

/// The public IPFS bootstrap peers (the DHT's entry points).
pub const DEFAULT_BOOTSTRAP: &[&str] = &[
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
];

/// The public delegated routing endpoint (IPIP-337).
pub const DEFAULT_ROUTERS: &[&str] = &["https://delegated-ipfs.dev"];

/// Everything the p2p tier can be told.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// Peers to dial at start (`--peer`, config `p2p.peers`).
    pub peers: Vec<Multiaddr>,
    /// DHT bootstrap peers.
    pub bootstrap: Vec<Multiaddr>,
    /// Delegated routing endpoints.
    pub routers: Vec<url::Url>,
    /// Discover LAN peers with mDNS.
    pub mdns: bool,
    /// Addresses to listen on (empty for a get that does not seed).
    pub listen: Vec<Multiaddr>,
    /// The identity key file; `None` uses a fresh key for this run.
    pub identity: Option<PathBuf>,
    /// How long provider discovery may take before a block counts as not found.
    pub find_timeout: Duration,
    /// How long an idle connection is kept.
    pub idle_connection_timeout: Duration,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            peers: Vec::new(),
            bootstrap: Vec::new(),
            routers: Vec::new(),
            mdns: false,
            listen: Vec::new(),
            identity: None,
            find_timeout: Duration::from_secs(10),
            idle_connection_timeout: Duration::from_secs(30),
        }
    }
}

impl P2pConfig {
    /// Whether the node has any way to find a peer.
    pub fn can_discover(&self) -> bool {
        !self.peers.is_empty() || self.can_search()
    }

    /// Whether providers can be searched for (DHT, delegated routers or mDNS), beyond the
    /// peers given.
    pub fn can_search(&self) -> bool {
        !self.bootstrap.is_empty() || !self.routers.is_empty() || self.mdns
    }
}
