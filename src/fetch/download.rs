//! Resumable downloads into a part file — for mirrors and for `trove fetch` — from HTTP(S)
//! (`Range` + `If-Range` with the saved strong ETag) or object storage (a ranged read on the
//! condition that the object still has the saved ETag). A `200` instead of a `206`, or an
//! object that changed, starts over; a download cut short is kept for the next attempt. A
//! fresh HTTP download may be conditional (`If-None-Match`/`If-Modified-Since`): a `304` means
//! the copy the caller has is current.

use crate::fetch::http::{self, HttpClient};
use crate::fetch::SourceError;
use reqwest::header::{HeaderMap, CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use reqwest::StatusCode;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use url::Url;

/// A local file-system failure while downloading: the source cannot be used this run.
pub(crate) fn local_error(action: &str, path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Unavailable(format!(
        "cannot {action} the download `{}`: {e}",
        path.display()
    ))
}

pub(crate) fn remove_files(paths: &[PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// The validators of a copy the caller already has, for a conditional request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Validators {
    /// Its ETag.
    pub etag: Option<String>,
    /// Its `Last-Modified`.
    pub last_modified: Option<String>,
}

/// How a download ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `304 Not Modified`: the caller's copy is current (nothing was written).
    NotModified(HeaderMap),
    /// The part file holds the whole object; the last response's headers (none when a complete
    /// part file was confirmed with a `416`).
    Complete(u64, HeaderMap),
}

/// Where a download goes and how long it may stall.
pub(crate) struct Download {
    /// The part file.
    pub part: PathBuf,
    /// Beside it, the ETag the part file was downloaded under.
    pub etag: PathBuf,
    /// The idle time-out.
    pub idle: Duration,
}

impl Download {
    /// Downloads the URL into the part file, resuming what is there; returns its length.
    pub(crate) async fn http(&self, client: &HttpClient, url: &Url) -> Result<u64, SourceError> {
        match self.http_if(client, url, None).await? {
            Outcome::Complete(length, _) => Ok(length),
            Outcome::NotModified(_) => Err(SourceError::Misbehaved(format!(
                "`{url}` answered an unconditional request with 304 Not Modified"
            ))),
        }
    }

    /// [`Download::http`], conditional on `validators` when it starts from nothing.
    pub(crate) async fn http_if(
        &self,
        client: &HttpClient,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Outcome, SourceError> {
        let mut may_resume = true;
        loop {
            let (have, kept_etag) = self.kept().await;
            let validator = kept_etag.filter(|_| may_resume);
            let mut request = client.reqwest().get(url.clone());
            let resuming = validator.is_some();
            if let Some(etag) = &validator {
                request = request
                    .header(RANGE, format!("bytes={have}-"))
                    .header(IF_RANGE, etag.as_str());
            } else if let Some(v) = validators {
                if let Some(etag) = &v.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag.as_str());
                }
                if let Some(date) = &v.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, date.as_str());
                }
            }
            let response = request.send().await.map_err(|e| http::request_error(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let (start, total) = match status {
                StatusCode::NOT_MODIFIED if !resuming && validators.is_some() => {
                    return Ok(Outcome::NotModified(headers));
                }
                StatusCode::OK => {
                    // A new download (or the server would not resume): start from zero.
                    self.save_etag(strong_etag(&headers).as_deref()).await?;
                    (0, http::content_length(&headers))
                }
                StatusCode::PARTIAL_CONTENT if resuming => match content_range(&headers) {
                    Some(ContentRange::Bytes { start, total, .. }) if start == have => {
                        (have, total)
                    }
                    _ => {
                        return Err(SourceError::Misbehaved(format!(
                            "`{}` answered a request for bytes {have}- with Content-Range {:?}",
                            url,
                            headers.get(CONTENT_RANGE)
                        )))
                    }
                },
                StatusCode::RANGE_NOT_SATISFIABLE if resuming => {
                    match content_range(&headers) {
                        Some(ContentRange::Unsatisfied { total }) if total == have => {
                            return Ok(Outcome::Complete(have, HeaderMap::new()));
                            // complete
                        }
                        _ => {
                            // The file changed under us: start over, without a range.
                            remove_files(&[self.part.clone(), self.etag.clone()]);
                            may_resume = false;
                            continue;
                        }
                    }
                }
                _ if status.is_success() => {
                    return Err(SourceError::Misbehaved(format!(
                        "unexpected HTTP {status} from `{}`",
                        url
                    )))
                }
                _ => return Err(http::response_error(response).await),
            };
            let written = self
                .write_part(response.bytes_stream(), start, total, url, |e, _| {
                    http::request_error(&e)
                })
                .await?;
            return Ok(Outcome::Complete(written, headers));
        }
    }

    /// Downloads the object into the part file, resuming what is there; returns its length.
    #[cfg(feature = "cloud")]
    pub(crate) async fn object(
        &self,
        location: &crate::objects::ObjectLocation,
    ) -> Result<u64, SourceError> {
        use crate::objects::ObjectError;
        let (have, validator) = self.kept().await;
        let url = location.url();
        let read = match &validator {
            Some(etag) => match location.read_from(have, Some(etag)).await {
                Err(ObjectError::Changed { .. }) => {
                    remove_files(&[self.part.clone(), self.etag.clone()]);
                    location.read_from(0, None).await
                }
                // Asking for the bytes after a complete part file is an invalid range for
                // some stores: check the size instead.
                Err(ObjectError::Failed { .. })
                    if location.size().await.ok().flatten() == Some(have) =>
                {
                    return Ok(have);
                }
                other => other,
            },
            None => location.read_from(0, None).await,
        };
        let read = read.map_err(|e| object_error(url, e))?;
        if read.start == 0 {
            self.save_etag(read.etag.as_deref()).await?;
        } else if read.start != have {
            return Err(SourceError::Misbehaved(format!(
                "`{url}` answered a read from byte {have} with bytes from {}",
                read.start
            )));
        }
        self.write_part(
            read.stream,
            read.start,
            Some(read.size),
            url,
            |e, written| SourceError::Transient {
                detail: format!("reading `{url}` failed after {written} bytes: {e}"),
                retry_after: None,
            },
        )
        .await
    }

    /// How many bytes of the download are kept, and the ETag they were downloaded under (only
    /// when there are some).
    async fn kept(&self) -> (u64, Option<String>) {
        let have = match tokio::fs::metadata(&self.part).await {
            Ok(m) => m.len(),
            Err(_) => 0,
        };
        let etag = if have > 0 {
            tokio::fs::read_to_string(&self.etag)
                .await
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        } else {
            None
        };
        (have, etag)
    }

    /// Before a download from byte 0: saves the validator it is made under (so an
    /// interruption can resume), or forgets an old one.
    async fn save_etag(&self, etag: Option<&str>) -> Result<(), SourceError> {
        match etag {
            Some(etag) => tokio::fs::write(&self.etag, etag)
                .await
                .map_err(|e| local_error("write", &self.etag, e)),
            None => {
                let _ = tokio::fs::remove_file(&self.etag).await;
                Ok(())
            }
        }
    }

    /// Writes `stream` into the part file from byte `start` (truncating it at 0, appending
    /// otherwise) until it ends, stalls for the idle time-out or fails (`failed` names the
    /// error, given the bytes written); what was written stays for resuming. A stream that ends
    /// before `total` is a transient failure. Returns the part file's length.
    async fn write_part<S, E>(
        &self,
        mut stream: S,
        start: u64,
        total: Option<u64>,
        url: &Url,
        failed: impl Fn(E, u64) -> SourceError,
    ) -> Result<u64, SourceError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    {
        use futures_util::StreamExt as _;
        let part = self.part.as_path();
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(start == 0)
            .append(start > 0)
            .open(part)
            .await
            .map_err(|e| local_error("open", part, e))?;
        let mut written = start;
        loop {
            let chunk = match tokio::time::timeout(self.idle, stream.next()).await {
                Err(_) => {
                    let _ = file.flush().await;
                    return Err(SourceError::TimedOut(format!(
                        "`{url}` sent nothing for {:?} ({written} bytes downloaded, kept for resuming)",
                        self.idle
                    )));
                }
                Ok(Some(Err(e))) => {
                    let _ = file.flush().await;
                    return Err(failed(e, written));
                }
                Ok(None) => break,
                Ok(Some(Ok(chunk))) => chunk,
            };
            file.write_all(&chunk)
                .await
                .map_err(|e| local_error("write", part, e))?;
            written += chunk.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| local_error("write", part, e))?;
        if let Some(total) = total {
            if written != total {
                return Err(SourceError::Transient {
                    detail: format!(
                        "the download of `{url}` ended at byte {written} of {total} (kept for resuming)"
                    ),
                    retry_after: None,
                });
            }
        }
        Ok(written)
    }
}

/// What an object-storage failure means for the fetcher.
#[cfg(feature = "cloud")]
pub(crate) fn object_error(url: &Url, e: crate::objects::ObjectError) -> SourceError {
    use crate::objects::ObjectError;
    match e {
        ObjectError::NotFound { .. } => SourceError::NotFound,
        ObjectError::Denied { .. } | ObjectError::BadUrl { .. } | ObjectError::NotBuilt { .. } => {
            SourceError::Unavailable(format!(
                "{e} ({})",
                crate::Hint::hint(&e).unwrap_or_default()
            ))
        }
        ObjectError::Changed { .. } => SourceError::Transient {
            detail: format!("`{url}` changed while it was read"),
            retry_after: None,
        },
        ObjectError::Failed { .. } | ObjectError::Local { .. } => SourceError::Transient {
            detail: e.to_string(),
            retry_after: None,
        },
    }
}

/// The ETag of a response, if it is a strong one (weak ETags cannot be used with `If-Range`).
fn strong_etag(headers: &HeaderMap) -> Option<String> {
    let etag = headers.get(ETAG)?.to_str().ok()?.trim();
    (etag.starts_with('"') && etag.len() >= 2).then(|| etag.to_string())
}

#[derive(Debug, PartialEq, Eq)]
enum ContentRange {
    /// `bytes start-end/total` (`total` is `None` for `*`).
    Bytes { start: u64, total: Option<u64> },
    /// `bytes */total` (with a 416).
    Unsatisfied { total: u64 },
}

fn content_range(headers: &HeaderMap) -> Option<ContentRange> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    let rest = value.strip_prefix("bytes ")?.trim();
    let (range, total) = rest.split_once('/')?;
    if range == "*" {
        return Some(ContentRange::Unsatisfied {
            total: total.parse().ok()?,
        });
    }
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.parse().ok()?;
    let end: u64 = end.parse().ok()?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse::<u64>().ok()?)
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some(ContentRange::Bytes {
        start,
        total: total.map(|t| t.max(end + 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn range(value: &str) -> Option<ContentRange> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_RANGE, HeaderValue::from_str(value).unwrap());
        content_range(&headers)
    }

    #[test]
    fn content_range_is_parsed_strictly() {
        assert_eq!(
            range("bytes 100-199/200"),
            Some(ContentRange::Bytes {
                start: 100,
                total: Some(200)
            })
        );
        assert_eq!(
            range("bytes 0-9/*"),
            Some(ContentRange::Bytes {
                start: 0,
                total: None
            })
        );
        assert_eq!(
            range("bytes */5"),
            Some(ContentRange::Unsatisfied { total: 5 })
        );
        for bad in [
            "bytes 10-5/20",
            "bytes 0-20/20",
            "items 0-1/2",
            "bytes 0-1",
            "bytes a-b/c",
        ] {
            assert_eq!(range(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_strong_etags_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, HeaderValue::from_static("W/\"abc\""));
        assert_eq!(strong_etag(&headers), None);
        headers.insert(ETAG, HeaderValue::from_static("\"abc\""));
        assert_eq!(strong_etag(&headers).as_deref(), Some("\"abc\""));
    }
}
