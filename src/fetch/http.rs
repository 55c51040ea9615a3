//! HTTP plumbing shared by the HTTP sources (trustless gateways, mirrors): one configured client,
//! the URL policy, and the mapping from HTTP outcomes to [`SourceError`].
//!
//! # Error mapping
//! | outcome | [`SourceError`] |
//! |---|---|
//! | 404, 410, 451 | `NotFound` |
//! | 429, 503 (with `Retry-After`, seconds or HTTP date) | `Transient` |
//! | 408, other 5xx; reset or cut-short connections | `Transient` |
//! | 406, 501 | `Unsupported` (the server does not do this kind of request) |
//! | 401, 403, 407; connection refused, DNS failure, TLS failure, connect time-out | `Unavailable` |
//! | redirect loops, too many redirects, a redirect to a refused URL | `Misbehaved` |
//! | other 4xx, unexpected 1xx/2xx/3xx, wrong or missing `Content-Type`, HTML pages, oversized bodies | `Misbehaved` |
//!
//! # URL policy
//! `https://` is always allowed. `http://` is allowed for loopback and private-network hosts
//! (`localhost`, 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fc00::/7, fe80::/10) and
//! anywhere else only with `allow_insecure`. Other schemes are refused. The policy is checked when
//! a source is built and again on every redirect.

use super::{ByteStream, SourceError};
use futures_util::TryStreamExt;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::{Host, Url};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("trove/", env!("CARGO_PKG_VERSION"));

/// Redirects followed before a request fails as [`SourceError::Misbehaved`].
pub const MAX_REDIRECTS: usize = 5;

/// How long connecting (TCP and TLS) may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error response's body is quoted in messages.
const ERROR_BODY_QUOTED: usize = 200;

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

/// Sends a request. Transport failures and non-2xx answers become [`SourceError`]s (see the
/// module docs); a 2xx response is returned for the caller to check further.
pub async fn send(request: RequestBuilder) -> Result<Response, SourceError> {
    let (client, request) = request.build_split();
    let request = request.map_err(|e| request_error(&e))?;
    let (method, url) = (request.method().clone(), request.url().clone());
    tracing::trace!(%method, %url, "HTTP request");
    let response = match client.execute(request).await {
        Ok(r) => r,
        Err(e) => {
            let error = request_error(&e);
            tracing::debug!(%method, %url, "HTTP request failed: {error}");
            return Err(error);
        }
    };
    let status = response.status();
    if status.is_success() {
        tracing::debug!(%method, %url, status = status.as_u16(), "HTTP response");
        Ok(response)
    } else {
        let error = response_error(response).await;
        tracing::debug!(%method, %url, status = status.as_u16(), "HTTP error: {error}");
        Err(error)
    }
}

/// The error for a response whose status is not a success, quoting the start of a short
/// plain-text body when there is one (see [`status_error`]).
pub async fn response_error(response: Response) -> SourceError {
    let url = response.url().to_string();
    let error = status_error(
        response.status(),
        response.headers(),
        &url,
        SystemTime::now(),
    );
    let quoted = if quote_body(response.headers()) {
        error_body(response).await
    } else {
        None
    };
    match (error, quoted) {
        (SourceError::Misbehaved(m), Some(q)) => SourceError::Misbehaved(format!("{m}: {q}")),
        (SourceError::Unavailable(m), Some(q)) => SourceError::Unavailable(format!("{m}: {q}")),
        (
            SourceError::Transient {
                detail,
                retry_after,
            },
            Some(q),
        ) => SourceError::Transient {
            detail: format!("{detail}: {q}"),
            retry_after,
        },
        (other, _) => other,
    }
}

/// Whether an error body is worth quoting: short plain text or JSON, not an HTML page.
fn quote_body(headers: &HeaderMap) -> bool {
    matches!(
        media_type(headers).as_deref(),
        Some("text/plain" | "application/json")
    )
}

/// The first line of an error response's body, briefly (best effort).
async fn error_body(mut response: Response) -> Option<String> {
    let chunk = tokio::time::timeout(Duration::from_secs(2), response.chunk())
        .await
        .ok()?
        .ok()??;
    let text = String::from_utf8_lossy(&chunk[..chunk.len().min(ERROR_BODY_QUOTED)]);
    let line = text.lines().next().unwrap_or("").trim();
    let line: String = line.chars().filter(|c| !c.is_control()).collect();
    (!line.is_empty()).then(|| format!("`{line}`"))
}

/// The error for a response status that is not a success (see the module docs). `now` is the
/// clock an HTTP-date `Retry-After` is measured against.
pub fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    url: &str,
    now: SystemTime,
) -> SourceError {
    let code = status.as_u16();
    let what = format!("HTTP {status} from `{url}`");
    let retry_after = || {
        headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now))
    };
    match code {
        404 | 410 | 451 => SourceError::NotFound,
        406 | 501 => SourceError::Unsupported,
        401 | 403 | 407 => SourceError::Unavailable(what),
        408 | 429 | 500..=599 => SourceError::Transient {
            detail: what,
            retry_after: retry_after(),
        },
        300..=399 => SourceError::Misbehaved(format!("unexpected {what} (redirect not followed)")),
        _ => SourceError::Misbehaved(format!("unexpected {what}")),
    }
}

/// The error for a transport failure (see the module docs).
pub fn request_error(err: &reqwest::Error) -> SourceError {
    let url = err.url().map(|u| format!(" `{u}`")).unwrap_or_default();
    let detail = crate::error::chain(err);
    if err.is_redirect() {
        // The innermost message is the redirect policy's own (it names the URL).
        let mut inner: &(dyn std::error::Error + 'static) = err;
        while let Some(next) = inner.source() {
            inner = next;
        }
        return SourceError::Misbehaved(format!("redirects from{url}: {inner}"));
    }
    if err.is_builder() {
        return SourceError::Unavailable(format!("cannot request{url}: {detail}"));
    }
    let kind = io_kind(err);
    if err.is_connect() {
        return match kind {
            Some(
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof,
            ) => SourceError::Transient {
                detail: format!("connection to{url} broke off: {detail}"),
                retry_after: None,
            },
            Some(std::io::ErrorKind::ConnectionRefused) => {
                SourceError::Unavailable(format!("connection to{url} refused"))
            }
            _ if err.is_timeout() => {
                SourceError::Unavailable(format!("cannot connect to{url}: timed out"))
            }
            _ => SourceError::Unavailable(format!("cannot connect to{url}: {detail}")),
        };
    }
    if err.is_timeout() {
        return SourceError::TimedOut(format!("request to{url}: {detail}"));
    }
    SourceError::Transient {
        detail: format!("request to{url} failed: {detail}"),
        retry_after: None,
    }
}

/// The kind of the first `std::io::Error` in the error's source chain.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = e.source();
    }
    None
}

/// The media type of a response (`text/html` for `text/html; charset=utf-8`), lowercase.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or("").trim();
    (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
}

/// Whether a media type is an HTML page.
pub fn is_html(media_type: &str) -> bool {
    matches!(media_type, "text/html" | "application/xhtml+xml")
}

/// Checks that a response is `200 OK` with the media type `expected` (parameters aside); `what`
/// names the expected content in messages (`a CAR`, `a raw block`).
pub fn expect_ok(response: &Response, expected: &str, what: &str) -> Result<(), SourceError> {
    let url = response.url();
    if response.status() != StatusCode::OK {
        return Err(SourceError::Misbehaved(format!(
            "unexpected HTTP {} from `{url}` (expected 200 with {what})",
            response.status()
        )));
    }
    match media_type(response.headers()) {
        Some(t) if t == expected => Ok(()),
        Some(t) if is_html(&t) => Err(SourceError::Misbehaved(format!(
            "`{url}` sent an HTML page instead of {what} (an error or login page?)"
        ))),
        Some(t) => Err(SourceError::Misbehaved(format!(
            "`{url}` sent Content-Type `{t}` instead of `{expected}`"
        ))),
        None => Err(SourceError::Misbehaved(format!(
            "`{url}` sent no Content-Type (expected `{expected}`)"
        ))),
    }
}

/// The declared `Content-Length`, if any.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A response body as a [`ByteStream`]. Transport errors surface as `std::io::Error`s (kind
/// `ConnectionReset` for a connection that broke off, `TimedOut` for time-outs).
pub fn body_stream(response: Response) -> ByteStream {
    let stream = response.bytes_stream().map_err(|e| {
        let kind = if e.is_timeout() {
            std::io::ErrorKind::TimedOut
        } else {
            io_kind(&e)
                .filter(|k| *k != std::io::ErrorKind::Other)
                .unwrap_or(std::io::ErrorKind::ConnectionReset)
        };
        std::io::Error::new(kind, crate::error::chain(&e))
    });
    Box::pin(tokio_util::io::StreamReader::new(stream))
}

/// Reads a whole body of at most `cap` bytes; a larger one (declared or actual) is
/// [`SourceError::Misbehaved`] and is not read further.
pub async fn read_body_capped(mut response: Response, cap: usize) -> Result<Vec<u8>, SourceError> {
    let url = response.url().clone();
    let too_large = |n: String| {
        SourceError::Misbehaved(format!(
            "`{url}` sent {n} bytes, beyond the maximum of {cap}"
        ))
    };
    let declared = content_length(response.headers());
    if let Some(len) = declared {
        if len > cap as u64 {
            return Err(too_large(len.to_string()));
        }
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| request_error(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(too_large(format!(
                "more than {}",
                body.len() + chunk.len() - 1
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a `Retry-After` value: delay seconds, or an HTTP date (IMF-fixdate, RFC 850 or
/// asctime) measured from `now` (a date in the past is zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an HTTP date (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`,
/// `Sunday, 06-Nov-94 08:49:37 GMT` or `Sun Nov  6 08:49:37 1994`.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        [_, day, month, year, time, "GMT"] => (*day, *month, year.parse::<i64>().ok()?, *time),
        [_, date, time, "GMT"] => {
            let mut fields = date.split('-');
            let (day, month, year) = (fields.next()?, fields.next()?, fields.next()?);
            if fields.next().is_some() || year.len() != 2 {
                return None;
            }
            let yy: i64 = year.parse().ok()?;
            (
                day,
                month,
                if yy < 70 { 2000 + yy } else { 1900 + yy },
                *time,
            )
        }
        [_, month, day, time, year] => (*day, *month, year.parse::<i64>().ok()?, *time),
        _ => return None,
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let mut hms = time.split(':').map(|f| f.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some()
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..=60).contains(&s)
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

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

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        for date in [
            "Sun, 06 Nov 1994 08:51:37 GMT",
            "Sunday, 06-Nov-94 08:51:37 GMT",
            "Sun Nov  6 08:51:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Some(Duration::from_secs(120)),
                "{date}"
            );
        }
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO),
            "a date in the past"
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(951_825_600))
        );
        for bad in [
            "",
            "soon",
            "-5",
            "1.5",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn statuses_map_to_source_errors() {
        let now = SystemTime::now();
        let mut headers = HeaderMap::new();
        let err = |code: u16, headers: &HeaderMap| {
            status_error(
                StatusCode::from_u16(code).unwrap(),
                headers,
                "http://x/",
                now,
            )
        };
        assert!(matches!(err(404, &headers), SourceError::NotFound));
        assert!(matches!(err(410, &headers), SourceError::NotFound));
        assert!(matches!(err(406, &headers), SourceError::Unsupported));
        assert!(matches!(err(403, &headers), SourceError::Unavailable(_)));
        assert!(matches!(err(400, &headers), SourceError::Misbehaved(_)));
        assert!(matches!(err(304, &headers), SourceError::Misbehaved(_)));
        assert!(matches!(
            err(500, &headers),
            SourceError::Transient {
                retry_after: None,
                ..
            }
        ));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        for code in [429, 503] {
            match err(code, &headers) {
                SourceError::Transient { retry_after, .. } => {
                    assert_eq!(retry_after, Some(Duration::from_secs(7)))
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }
}
