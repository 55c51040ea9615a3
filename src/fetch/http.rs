//! What HTTP outcomes mean for the HTTP sources (trustless gateways, mirrors, the Kubo RPC):
//! sending a request, and mapping its outcome to a [`SourceError`]; reading bodies.
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
//! The client and the URL policy live in [`crate::http`] (re-exported here).

use super::{ByteStream, SourceError};
pub use crate::http::{
    check_url, is_local_host, is_local_ip, HttpClient, HttpError, HttpOptions,
    DEFAULT_CONNECT_TIMEOUT, MAX_REDIRECTS, USER_AGENT,
};
use futures_util::TryStreamExt;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How much of an error response's body is quoted in messages.
const ERROR_BODY_QUOTED: usize = 200;

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
