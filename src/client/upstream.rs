//! [`Client::fetch_url`]: an upstream bulk file (a TSV of constraint metrics, a JSON gene set, a
//! gzipped matrix) downloaded over plain HTTPS, imported into the cache under a CID, and
//! remembered as *URL → (CID, ETag, Last-Modified, fetched-at, size, sha256)* in
//! `<cache>/upstream-v1/<hash>.json`:
//!
//! - within its time-to-live (`--ttl`, else the server's `Cache-Control: max-age`, else none)
//!   no request is made at all;
//! - after it, one conditional request (`If-None-Match`/`If-Modified-Since`): a `304` renews
//!   the record, a `200` downloads the new version (resumable: an interrupted download is kept
//!   and continued with `Range`/`If-Range`);
//! - offline, the last good copy is served, with a warning when it is stale.
//!
//! A published sha256 (`--sha256`) is checked before anything is stored. Compressed files are
//! stored as published; with `decompress` the decoded bytes are (gzip, zstd). Records are
//! written atomically, and only once the content is in the store.

use super::Client;
use crate::compression::Compression;
use crate::content::{parse_cid, Cid};
use crate::error::{Error, ErrorKind, ResultExt};
use crate::fetch::download::{Download, Outcome, Validators};
use crate::fetch::{HttpClient, HttpOptions, SourceError};
use crate::unixfs::Profile;
use reqwest::header::{HeaderMap, CACHE_CONTROL, ETAG, LAST_MODIFIED};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The folder under the cache that holds the records and partial downloads.
pub const UPSTREAM_DIR: &str = "upstream-v1";

/// How to fetch a URL.
#[derive(Debug, Clone, Default)]
pub struct FetchUrlOptions {
    /// How long a fetched copy is used without asking the server (overrides `Cache-Control`).
    pub ttl: Option<Duration>,
    /// The file's published sha256 (of the bytes as served), checked before storing.
    pub sha256: Option<String>,
    /// Store the decoded bytes of a `.gz`/`.zst` file instead of the file as published.
    pub decompress: bool,
    /// Ask the server even within the time-to-live.
    pub refresh: bool,
    /// The import profile (default `unixfs-v1-2025`).
    pub profile: Option<Profile>,
}

/// What the cache remembers about a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamRecord {
    /// The URL.
    pub url: String,
    /// The CID of what was stored.
    pub cid: String,
    /// The profile it was imported with.
    pub profile: String,
    /// Whether the decoded bytes were stored.
    #[serde(default)]
    pub decompressed: bool,
    /// The server's ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The server's `Last-Modified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// When it was downloaded or last confirmed (seconds since 1970).
    pub fetched_at: u64,
    /// When the content itself last changed (seconds since 1970).
    pub changed_at: u64,
    /// The server's `max-age`, in seconds (0: ask every time).
    #[serde(default)]
    pub max_age: u64,
    /// Bytes as served.
    pub size: u64,
    /// The sha256 of the bytes as served.
    pub sha256: String,
}

impl UpstreamRecord {
    /// The CID.
    pub fn cid(&self) -> Result<Cid, Error> {
        parse_cid(&self.cid).map_err(Error::from)
    }

    /// How old the copy is at `now`.
    pub fn age(&self, now: u64) -> Duration {
        Duration::from_secs(now.saturating_sub(self.fetched_at))
    }
}

/// How a [`Client::fetch_url`] was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Within the time-to-live: no request was made.
    Fresh,
    /// The server said `304 Not Modified`.
    NotModified,
    /// A new version was downloaded.
    Downloaded,
    /// The server had the same bytes again (a `200` without validators).
    Unchanged,
    /// Offline, the last good copy, past its time-to-live.
    Stale,
}

/// What [`Client::fetch_url`] did.
#[derive(Debug, Clone)]
pub struct FetchedUrl {
    /// The content's CID.
    pub cid: Cid,
    /// How it was answered.
    pub freshness: Freshness,
    /// The record as it is now.
    pub record: UpstreamRecord,
    /// The CID before, when a new version replaced it.
    pub previous: Option<Cid>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `max-age` from `Cache-Control` (`no-cache`/`no-store` give 0).
pub fn max_age(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for part in value.split(',').map(str::trim) {
        let lower = part.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(0);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse().ok();
        }
    }
    age
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Client {
    /// The record for `url` fetched with `options`' profile and decoding, if there is one.
    pub fn upstream_record(&self, url: &str, options: &FetchUrlOptions) -> Option<UpstreamRecord> {
        let path = self.record_path(url, options);
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn upstream_dir(&self) -> PathBuf {
        self.settings().cache_dir.join(UPSTREAM_DIR)
    }

    fn record_key(url: &str, options: &FetchUrlOptions) -> String {
        let profile = options.profile.unwrap_or(Profile::UnixfsV1_2025);
        let digest = Sha256::digest(format!("{url}\n{profile}\n{}", options.decompress).as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn record_path(&self, url: &str, options: &FetchUrlOptions) -> PathBuf {
        self.upstream_dir()
            .join(format!("{}.json", Self::record_key(url, options)))
    }

    fn save_record(&self, path: &Path, record: &UpstreamRecord) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(record).expect("serializable");
        crate::output::write_file(path, &bytes)
    }

    /// Fetches `url` into the cache (see the module docs) and keeps it through gc.
    pub fn fetch_url(&self, url: &str, options: &FetchUrlOptions) -> Result<FetchedUrl, Error> {
        self.fetch_url_inner(url, options)
            .context(|| format!("cannot fetch `{url}`"))
    }

    fn fetch_url_inner(&self, url: &str, options: &FetchUrlOptions) -> Result<FetchedUrl, Error> {
        if let Some(hex) = &options.sha256 {
            crate::bundle::sums::check_sha256_arg(hex)?;
        }
        let profile = options.profile.unwrap_or(Profile::UnixfsV1_2025);
        let record_path = self.record_path(url, options);
        let now = now_secs();
        // The record counts only while its content is complete in the store.
        let record = self
            .upstream_record(url, options)
            .filter(|r| r.url == url)
            .filter(|r| {
                r.cid()
                    .ok()
                    .and_then(|cid| crate::fetch::frontier(&**self.store(), &cid).ok())
                    .is_some_and(|missing| missing.is_empty())
            });
        if let Some(r) = &record {
            let ttl = options.ttl.map(|t| t.as_secs()).unwrap_or(r.max_age);
            let fresh = now < r.fetched_at.saturating_add(ttl);
            if fresh && !options.refresh {
                return Ok(FetchedUrl {
                    cid: r.cid()?,
                    freshness: Freshness::Fresh,
                    record: r.clone(),
                    previous: None,
                });
            }
            if self.settings().fetch.offline {
                return Ok(FetchedUrl {
                    cid: r.cid()?,
                    freshness: if fresh {
                        Freshness::Fresh
                    } else {
                        Freshness::Stale
                    },
                    record: r.clone(),
                    previous: None,
                });
            }
        } else if self.settings().fetch.offline {
            return Err(Error::with_hint(
                ErrorKind::Offline,
                format!("`{url}` has not been fetched into this cache"),
                "fetch it once with network access",
            ));
        }
        let client = HttpClient::new(&HttpOptions {
            allow_insecure: self.settings().fetch.allow_insecure,
            ..HttpOptions::default()
        })?;
        let parsed = client.check_url(url)?;
        let dir = self.upstream_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let key = Self::record_key(url, options);
        let download = Download {
            part: dir.join(format!("{key}.part")),
            etag: dir.join(format!("{key}.etag")),
            idle: self.settings().fetch.options.idle_timeout,
        };
        let validators = record.as_ref().map(|r| Validators {
            etag: r.etag.clone(),
            last_modified: r.last_modified.clone(),
        });
        let outcome = self
            .block_on(download.http_if(&client, &parsed, validators.as_ref()))
            .map_err(|e| source_error(url, e))?;
        let headers = match outcome {
            Outcome::NotModified(headers) => {
                let mut r = record.expect("a conditional request needs a record");
                r.fetched_at = now;
                r.max_age = max_age(&headers).unwrap_or(0);
                if let Some(etag) = header(&headers, ETAG) {
                    r.etag = Some(etag);
                }
                self.save_record(&record_path, &r)?;
                return Ok(FetchedUrl {
                    cid: r.cid()?,
                    freshness: Freshness::NotModified,
                    record: r,
                    previous: None,
                });
            }
            Outcome::Complete(_, headers) => headers,
        };
        let part = download.part.clone();
        let result = self.store_download(&part, url, options, profile);
        let files = [download.part.clone(), download.etag.clone()];
        let (cid, size, sha256) = match result {
            Ok(stored) => stored,
            Err(e) => {
                // Wrong bytes are not kept for resuming.
                crate::fetch::download::remove_files(&files);
                return Err(e);
            }
        };
        crate::fetch::download::remove_files(&files);
        self.store().keep_root(&cid, &format!("fetch {url}"))?;
        let previous = record.as_ref().and_then(|r| r.cid().ok());
        let changed = previous != Some(cid);
        let new = UpstreamRecord {
            url: url.to_string(),
            cid: cid.to_string(),
            profile: profile.name().to_string(),
            decompressed: options.decompress,
            etag: header(&headers, ETAG).or_else(|| record.as_ref().and_then(|r| r.etag.clone())),
            last_modified: header(&headers, LAST_MODIFIED)
                .or_else(|| record.as_ref().and_then(|r| r.last_modified.clone())),
            fetched_at: now,
            changed_at: if changed {
                now
            } else {
                record.as_ref().map(|r| r.changed_at).unwrap_or(now)
            },
            max_age: max_age(&headers).unwrap_or(0),
            size,
            sha256,
        };
        self.save_record(&record_path, &new)?;
        Ok(FetchedUrl {
            cid,
            freshness: if changed {
                Freshness::Downloaded
            } else {
                Freshness::Unchanged
            },
            record: new,
            previous: if changed { previous } else { None },
        })
    }

    /// Checks the download's sha256, decodes it when asked, imports it; returns the CID, the
    /// bytes as served and their sha256.
    fn store_download(
        &self,
        part: &Path,
        url: &str,
        options: &FetchUrlOptions,
        profile: Profile,
    ) -> Result<(Cid, u64, String), Error> {
        let size = std::fs::metadata(part)
            .map_err(|e| Error::io("read", part, e))?
            .len();
        let sha256 = crate::bundle::sums::sha256_file(part)?;
        if let Some(expected) = &options.sha256 {
            if !expected.eq_ignore_ascii_case(&sha256) {
                return Err(crate::bundle::BundleError::SumMismatch {
                    name: url.to_string(),
                    source_of_sum: "--sha256".into(),
                    expected: expected.to_ascii_lowercase(),
                    actual: sha256,
                }
                .into());
            }
        }
        let params = profile.params();
        let root = if options.decompress {
            let decoded = self.decode(part, url)?;
            crate::import::import_path(decoded.path(), &params, &**self.store(), &**self.reporter())
        } else {
            crate::import::import_path(part, &params, &**self.store(), &**self.reporter())
        }
        .context(|| format!("cannot import the download of `{url}`"))?;
        Ok((root.cid, size, sha256))
    }

    /// The decoded bytes of a gzip or zstd download, in a temporary file.
    fn decode(&self, part: &Path, url: &str) -> Result<tempfile::NamedTempFile, Error> {
        let tmp = self.settings().cache_dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let mut out = tempfile::Builder::new()
            .prefix(".decoded-")
            .tempfile_in(&tmp)
            .map_err(|e| Error::io("create a file in", &tmp, e))?;
        let compression = Compression::sniff_file(part).map_err(|e| Error::io("read", part, e))?;
        if compression == Compression::None {
            return Err(Error::with_hint(
                ErrorKind::Usage,
                format!("`{url}` is neither gzip nor zstd data, so it cannot be decompressed"),
                "drop --decompress to store the file as published",
            ));
        }
        let file = std::fs::File::open(part).map_err(|e| Error::io("read", part, e))?;
        let mut reader = compression
            .reader(file)
            .map_err(|e| Error::io("decode", part, e))?;
        std::io::copy(&mut reader, out.as_file_mut()).map_err(|e| {
            Error::with_hint(
                ErrorKind::Integrity,
                format!("cannot decompress `{url}`: {e}"),
                "the download is damaged, or not what its name says: nothing was stored",
            )
        })?;
        Ok(out)
    }
}

/// A download failure as an error of the right kind.
fn source_error(url: &str, e: SourceError) -> Error {
    let kind = match &e {
        SourceError::NotFound => ErrorKind::NotFound,
        SourceError::Corrupt(_) => ErrorKind::Integrity,
        _ => ErrorKind::Network,
    };
    let hint = match &e {
        SourceError::NotFound => "check the URL",
        _ => "run it again: an interrupted download resumes where it stopped; with --offline the last good copy is used",
    };
    Error::with_hint(kind, format!("downloading `{url}` failed: {e}"), hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cache_control_gives_the_time_to_live() {
        let mut h = HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        assert_eq!(max_age(&h), Some(3600));
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("no-cache, max-age=60"),
        );
        assert_eq!(max_age(&h), Some(0));
    }
}
