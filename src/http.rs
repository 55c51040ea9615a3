//! The HTTP client every part of trove shares (registries, gateways, mirrors, the forge API,
//! pinning services) and its URL policy. What an HTTP outcome means for a block source is
//! [`crate::fetch::http`]'s business, not this module's.
//!
//! # URL policy
//! `https://` is always allowed. `http://` is allowed for loopback and private-network hosts
//! (`localhost`, 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fc00::/7, fe80::/10) and
//! anywhere else only with `allow_insecure`. Other schemes are refused. The policy is checked when
//! a client is asked for a URL and again on every redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use url::{Host, Url};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("trove/", env!("CARGO_PKG_VERSION"));

/// Redirects followed before a request fails as [`SourceError::Misbehaved`](crate::fetch::SourceError::Misbehaved).
pub const MAX_REDIRECTS: usize = 5;

/// How long connecting (TCP and TLS) may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors setting up HTTP sources: a URL the policy refuses, or a client that cannot be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The URL does not parse or has no host.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A plain `http://` URL to a host that is not on a loopback or private network.
    #[error("refusing the plain-HTTP URL `{url}`: http:// is only used for loopback and private-network addresses")]
    InsecureUrl {
        /// The URL as given.
        url: String,
    },
    /// A scheme other than `http` and `https`.
    #[error("unsupported URL scheme `{scheme}` in `{url}`: use https://")]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl crate::Hint for HttpError {
    fn hint(&self) -> Option<String> {
        match self {
            HttpError::InsecureUrl { .. } => Some(
                "use an https:// URL; to allow plain http on a network you trust, set `allow_insecure = true` in the `[gateway]` section of the config file"
                    .into(),
            ),
            HttpError::UnsupportedScheme { .. } | HttpError::InvalidUrl { .. } => {
                Some("give a full URL such as `https://example.org/`".into())
            }
            HttpError::Client(_) => None,
        }
    }
}

/// Settings of the shared HTTP client.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Allow plain `http://` to any host (not only loopback and private networks).
    pub allow_insecure: bool,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// Redirects followed per request.
    pub max_redirects: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            allow_insecure: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_redirects: MAX_REDIRECTS,
            user_agent: USER_AGENT.to_string(),
        }
    }
}

/// A `reqwest` client configured for trove (user agent, connect time-out, a redirect policy that
/// stops loops and applies the URL policy on every hop), together with that URL policy. Cheap to
/// clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    allow_insecure: bool,
}

impl HttpClient {
    /// Builds the client.
    pub fn new(options: &HttpOptions) -> Result<Self, HttpError> {
        let allow_insecure = options.allow_insecure;
        let max = options.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let next = attempt.url().clone();
            if attempt.previous().contains(&next) {
                return attempt.error(format!("redirect loop at `{next}`"));
            }
            if attempt.previous().len() > max {
                return attempt.error(format!("more than {max} redirects (last to `{next}`)"));
            }
            if let Err(e) = url_policy(&next, next.as_str(), allow_insecure) {
                return attempt.error(format!("redirect refused: {e}"));
            }
            attempt.follow()
        });
        let client = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(options.connect_timeout)
            .redirect(policy)
            .build()
            .map_err(|e| HttpError::Client(crate::error::chain(&e)))?;
        Ok(HttpClient {
            client,
            allow_insecure,
        })
    }

    /// The underlying `reqwest` client.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// Whether plain `http://` is allowed to any host.
    pub fn allows_insecure(&self) -> bool {
        self.allow_insecure
    }

    /// Parses `url` and applies the URL policy (see the module docs).
    pub fn check_url(&self, url: &str) -> Result<Url, HttpError> {
        check_url(url, self.allow_insecure)
    }
}

/// Parses `text` as a URL and applies the URL policy (see the module docs).
pub fn check_url(text: &str, allow_insecure: bool) -> Result<Url, HttpError> {
    let url = Url::parse(text.trim()).map_err(|e| HttpError::InvalidUrl {
        url: text.to_string(),
        reason: e.to_string(),
    })?;
    url_policy(&url, text, allow_insecure)?;
    Ok(url)
}

fn url_policy(url: &Url, text: &str, allow_insecure: bool) -> Result<(), HttpError> {
    let Some(host) = url.host() else {
        return Err(HttpError::InvalidUrl {
            url: text.to_string(),
            reason: "the URL has no host".into(),
        });
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure || is_local_host(&host) => Ok(()),
        "http" => Err(HttpError::InsecureUrl {
            url: text.to_string(),
        }),
        scheme => Err(HttpError::UnsupportedScheme {
            url: text.to_string(),
            scheme: scheme.to_string(),
        }),
    }
}

/// Whether `host` is on a loopback or private network: `localhost` (and `*.localhost`), IPv4
/// 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, IPv6 ::1, fc00::/7, fe80::/10 (and IPv4-mapped
/// forms of the IPv4 ranges). Other names are not resolved: they count as public.
pub fn is_local_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Host::Ipv4(ip) => is_local_ipv4(ip),
        Host::Ipv6(ip) => is_local_ipv6(ip),
    }
}

/// [`is_local_host`] for an IP address.
pub fn is_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_local_ipv4(&ip),
        IpAddr::V6(ip) => is_local_ipv6(&ip),
    }
}

fn is_local_ipv4(ip: &Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private() || ip.is_link_local()
}

fn is_local_ipv6(ip: &Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_local_ipv4(&v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_policy_allows_https_and_local_http_only() {
        for ok in [
            "https://ipfs.io",
            "https://example.org/prefix/",
            "http://127.0.0.1:8080",
            "http://127.1.2.3/",
            "http://localhost:5001",
            "http://gw.localhost/",
            "http://10.1.2.3",
            "http://172.16.0.1",
            "http://172.31.255.255",
            "http://192.168.1.10:8080/ipfs",
            "http://169.254.1.1",
            "http://[::1]:8080",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:192.168.0.1]/",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://example.org",
            "http://172.32.0.1",
            "http://8.8.8.8",
            "http://[2001:db8::1]/",
            "http://[::ffff:8.8.8.8]/",
            "http://localhost.example.org/",
        ] {
            let err = check_url(refused, false).unwrap_err();
            assert!(
                matches!(err, HttpError::InsecureUrl { .. }),
                "{refused}: {err}"
            );
            assert!(err.to_string().contains(refused), "{err}");
            assert!(
                check_url(refused, true).is_ok(),
                "{refused} with allow_insecure"
            );
        }
        assert!(matches!(
            check_url("ftp://example.org/x", true),
            Err(HttpError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            check_url("not a url", true),
            Err(HttpError::InvalidUrl { .. })
        ));
        assert!(matches!(
            check_url("file:///etc/passwd", true),
            Err(HttpError::InvalidUrl { .. } | HttpError::UnsupportedScheme { .. })
        ));
    }
}
