//! Loading registries: a local path, an `http(s)` URL, or `owner/repo[@ref]` on GitHub (its raw
//! `registry.json`).
//!
//! Downloaded registries are cached politely: the last good copy lives under
//! `<cache>/registry-v1/<hash of the URL>/` (`body-<sha256>.json` plus `state.json` with the
//! ETag and the fetch and check times, each written atomically). Within the TTL no request is
//! made; after it, a conditional request (`If-None-Match`) is made and a `304` keeps the copy.
//! When the server fails or sends something invalid, the last good copy is used and a
//! [`Warning`] is returned (the library never prints). Offline, no request is ever made.

use super::model::MAX_REGISTRY_BYTES;
use super::resolve::RepoFile;
use super::{parse_registry, Registry, RegistryError, RegistrySet};
use crate::http::{HttpClient, HttpError, HttpOptions};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

/// How long a downloaded registry is used without asking the server again (1 hour).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);
/// Where `owner/repo[@ref]` registries are read from.
pub const DEFAULT_GITHUB_RAW_BASE: &str = "https://raw.githubusercontent.com";
/// The cache bucket for registry copies, under the cache directory.
pub const CACHE_BUCKET: &str = "registry-v1";
/// The largest 2.0 repository file downloaded when the registry records no size (1 GiB).
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// Where a registry is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrySource {
    /// A local `registry.json` (a folder means its `registry.json`).
    Path(PathBuf),
    /// An `http(s)` URL of a registry file.
    Url(Url),
    /// `owner/repo[@ref]`: `registry.json` at the root of a GitHub repository.
    GitHub {
        /// The owner.
        owner: String,
        /// The repository.
        repo: String,
        /// A branch, tag or commit; `HEAD` (the default branch) when `None`.
        reference: Option<String>,
    },
}

impl RegistrySource {
    /// Parses `--registry` / `TROVE_REGISTRY` values: `http(s)://…` and `file://…` URLs, an
    /// existing path, `owner/repo[@ref]`, or else a path (which then fails to read clearly).
    /// Anything ending in `.json` or starting with `.`, `/` or `~` is a path.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let t = text.trim();
        let bad = |reason: &str| RegistryError::BadSource {
            text: t.to_string(),
            reason: reason.to_string(),
        };
        if t.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some((scheme, _)) = t.split_once("://") {
            let url = Url::parse(t).map_err(|e| bad(&e.to_string()))?;
            return match scheme.to_ascii_lowercase().as_str() {
                "http" | "https" if url.has_host() => Ok(RegistrySource::Url(url)),
                "file" => url
                    .to_file_path()
                    .map(RegistrySource::Path)
                    .map_err(|_| bad("not a local file URL")),
                _ => Err(bad("only http(s) and file URLs are supported")),
            };
        }
        let looks_like_path =
            t.ends_with(".json") || t.starts_with(['.', '/', '~', '\\']) || Path::new(t).exists();
        if !looks_like_path {
            if let Some(gh) = parse_github(t) {
                return Ok(gh);
            }
        }
        Ok(RegistrySource::Path(PathBuf::from(t)))
    }

    /// The URL to download, `None` for a local path.
    pub fn url(&self, github_base: &str) -> Result<Option<Url>, RegistryError> {
        match self {
            RegistrySource::Path(_) => Ok(None),
            RegistrySource::Url(u) => Ok(Some(u.clone())),
            RegistrySource::GitHub {
                owner,
                repo,
                reference,
            } => {
                let text = format!(
                    "{}/{owner}/{repo}/{}/registry.json",
                    github_base.trim_end_matches('/'),
                    reference.as_deref().unwrap_or("HEAD")
                );
                Url::parse(&text)
                    .map(Some)
                    .map_err(|e| RegistryError::BadSource {
                        text: self.to_string(),
                        reason: format!("`{text}`: {e}"),
                    })
            }
        }
    }
}

fn parse_github(t: &str) -> Option<RegistrySource> {
    let (repo_part, reference) = match t.split_once('@') {
        Some((r, rf)) => (r, Some(rf)),
        None => (t, None),
    };
    let (owner, repo) = repo_part.split_once('/')?;
    let owner_ok = !owner.is_empty()
        && owner.len() <= 39
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let repo_ok = !repo.is_empty()
        && repo.len() <= 100
        && repo != "."
        && repo != ".."
        && repo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let ref_ok = reference.is_none_or(|r| {
        !r.is_empty()
            && r.len() <= 255
            && !r.starts_with('/')
            && !r.split('/').any(|p| p.is_empty() || p == "." || p == "..")
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
    });
    (owner_ok && repo_ok && ref_ok).then(|| RegistrySource::GitHub {
        owner: owner.to_string(),
        repo: repo.to_string(),
        reference: reference.map(str::to_string),
    })
}

impl fmt::Display for RegistrySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrySource::Path(p) => write!(f, "{}", p.display()),
            RegistrySource::Url(u) => write!(f, "{u}"),
            RegistrySource::GitHub {
                owner,
                repo,
                reference: None,
            } => write!(f, "{owner}/{repo}"),
            RegistrySource::GitHub {
                owner,
                repo,
                reference: Some(r),
            } => write!(f, "{owner}/{repo}@{r}"),
        }
    }
}

/// How the client behaves; [`ClientOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// trove's cache directory; copies go to `<cache_dir>/registry-v1/`.
    pub cache_dir: PathBuf,
    /// How long a copy is used without asking the server (default [`DEFAULT_TTL`]).
    pub ttl: Duration,
    /// Make no request at all; use cached copies only.
    pub offline: bool,
    /// Ask the server even within the TTL (`--refresh`); a `304` still keeps the copy.
    pub refresh: bool,
    /// Base URL for `owner/repo[@ref]` (default [`DEFAULT_GITHUB_RAW_BASE`]; tests use loopback).
    pub github_base: String,
    /// Largest registry document (default [`MAX_REGISTRY_BYTES`]).
    pub max_bytes: u64,
    /// Time-out of one request (default 30 s).
    pub timeout: Duration,
    /// Allow plain `http://` to public hosts (loopback and private networks are always
    /// allowed). Off by default: over plain HTTP anyone on the path could change which CID an
    /// ID names.
    pub allow_insecure: bool,
    /// A hard refresh: ask for the whole document, even within the TTL and without
    /// `If-None-Match` (a service's periodic re-read whatever the ETag says).
    pub unconditional: bool,
}

impl ClientOptions {
    /// The defaults, with copies kept under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        ClientOptions {
            cache_dir: cache_dir.into(),
            ttl: DEFAULT_TTL,
            offline: false,
            refresh: false,
            github_base: DEFAULT_GITHUB_RAW_BASE.to_string(),
            max_bytes: MAX_REGISTRY_BYTES,
            timeout: Duration::from_secs(30),
            allow_insecure: false,
            unconditional: false,
        }
    }
}

/// Where a loaded registry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A local file.
    Local,
    /// Downloaded now (`200`).
    Downloaded,
    /// The cached copy, confirmed unchanged by the server now (`304`).
    Revalidated,
    /// The cached copy, within its TTL: no request.
    Cached,
    /// The cached copy, because trove is offline: no request.
    Offline,
    /// The last good copy, because the server failed or sent something invalid (see warnings).
    Stale,
}

/// Something the caller should tell the user; loading went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The registry it is about.
    pub registry: String,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "registry `{}`: {}", self.registry, self.message)
    }
}

/// A loaded registry.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The registry.
    pub registry: Registry,
    /// Where it came from.
    pub origin: Origin,
    /// When the copy was downloaded (`None` for local files).
    pub fetched_at: Option<SystemTime>,
    /// Problems that did not stop loading.
    pub warnings: Vec<Warning>,
    /// Which copy of the document this is.
    pub revision: Revision,
}

/// Which copy of a registry document was read: what a lockfile records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The server's ETag for it (downloaded registries that sent one).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub etag: Option<String>,
    /// The sha256 of the document's bytes (hex).
    pub sha256: String,
}

/// A registry document as stored, not yet parsed (for `trove registry check`).
#[derive(Debug, Clone)]
pub struct Document {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The registry's name.
    pub name: String,
    /// Its location, for relative links.
    pub base: Option<Url>,
}

/// What `state.json` records about the cached copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheState {
    url: String,
    etag: Option<String>,
    /// When the body was downloaded (ms since the epoch).
    fetched_at: u64,
    /// When the server last confirmed it (ms since the epoch).
    checked_at: u64,
    /// sha256 of the body, which names `body-<sha256>.json`.
    sha256: String,
}

struct Cached {
    state: CacheState,
    registry: Registry,
}

enum Fetched {
    NotModified,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
    },
}

/// Loads registries (see the module docs).
#[derive(Debug, Clone)]
pub struct Client {
    options: ClientOptions,
    http: HttpClient,
}

impl Client {
    /// A client with these options (no request is made here).
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        let http = HttpClient::new(&HttpOptions {
            allow_insecure: options.allow_insecure,
            ..HttpOptions::default()
        })
        .map_err(|e| RegistryError::BadSource {
            text: "(http client)".into(),
            reason: e.to_string(),
        })?;
        Ok(Client { options, http })
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Loads one registry: a local file directly; a URL from the cache within the TTL, else by a
    /// (conditional) request, falling back to the last good copy with a warning.
    pub async fn load(&self, source: &RegistrySource) -> Result<Loaded, RegistryError> {
        let name = source.to_string();
        let Some(url) = source.url(&self.options.github_base)? else {
            let doc = self.local_document(source)?;
            let revision = Revision {
                etag: None,
                sha256: sha256_hex(&doc.bytes),
            };
            return Ok(Loaded {
                registry: parse_registry(&doc.bytes, &doc.name, doc.base)?,
                origin: Origin::Local,
                fetched_at: None,
                warnings: Vec::new(),
                revision,
            });
        };
        let dir = self.cache_dir_for(&url);
        let mut warnings = Vec::new();
        let warn = |message: String| Warning {
            registry: name.clone(),
            message,
        };
        let cached = match read_cache(&dir, &name, &url) {
            Ok(c) => c,
            Err(why) => {
                warnings.push(warn(format!(
                    "the cached copy is unusable and was ignored: {why}"
                )));
                None
            }
        };
        let loaded = |c: Cached, origin, warnings| Loaded {
            fetched_at: Some(from_ms(c.state.fetched_at)),
            revision: Revision {
                etag: c.state.etag.clone(),
                sha256: c.state.sha256.clone(),
            },
            registry: c.registry,
            origin,
            warnings,
        };
        if self.options.offline {
            return match cached {
                Some(c) => Ok(loaded(c, Origin::Offline, warnings)),
                None => Err(RegistryError::NotCached { registry: name }),
            };
        }
        if let Some(c) = &cached {
            let age = now_ms()
                .checked_sub(c.state.checked_at)
                .map(Duration::from_millis);
            let fresh = age.is_some_and(|a| a < self.options.ttl);
            if !self.options.refresh && !self.options.unconditional && fresh {
                return Ok(loaded(cached.unwrap(), Origin::Cached, warnings));
            }
        }
        // A hard refresh asks for the body whatever the server's ETag says.
        let etag = cached
            .as_ref()
            .filter(|_| !self.options.unconditional)
            .and_then(|c| c.state.etag.clone());
        let failure = match self
            .get(&url, etag.as_deref(), self.options.max_bytes)
            .await
        {
            Ok(Fetched::NotModified) => match cached {
                Some(mut c) => {
                    c.state.checked_at = now_ms();
                    if let Err(e) = write_atomic(&dir, "state.json", &state_bytes(&c.state)) {
                        warnings.push(warn(format!("cannot update the cache: {e}")));
                    }
                    return Ok(loaded(c, Origin::Revalidated, warnings));
                }
                None => {
                    "the server answered 304 Not Modified to an unconditional request".to_string()
                }
            },
            Ok(Fetched::Body { bytes, etag }) => {
                match parse_registry(&bytes, &name, Some(url.clone())) {
                    Ok(registry) => {
                        let now = now_ms();
                        let revision = Revision {
                            etag: etag.clone(),
                            sha256: sha256_hex(&bytes),
                        };
                        let state = CacheState {
                            url: url.to_string(),
                            etag,
                            fetched_at: now,
                            checked_at: now,
                            sha256: revision.sha256.clone(),
                        };
                        if let Err(e) = store(&dir, &state, &bytes) {
                            warnings.push(warn(format!("cannot write the cache: {e}")));
                        }
                        return Ok(Loaded {
                            registry,
                            origin: Origin::Downloaded,
                            fetched_at: Some(from_ms(now)),
                            warnings,
                            revision,
                        });
                    }
                    Err(e) if cached.is_none() => return Err(e),
                    Err(e) => format!("the server sent an invalid registry ({e})"),
                }
            }
            Err(e) if cached.is_none() => return Err(e),
            Err(e) => e.to_string(),
        };
        let c = cached.expect("handled above");
        let age = now_ms().saturating_sub(c.state.fetched_at) / 1000;
        warnings.push(warn(format!(
            "{failure}; using the last good copy, downloaded {}",
            describe_age(age)
        )));
        Ok(loaded(c, Origin::Stale, warnings))
    }

    /// Loads several registries in search order. One that cannot be loaded is skipped with a
    /// warning when others load; the call fails only when none does (with the first error).
    pub async fn load_all(
        &self,
        sources: &[RegistrySource],
    ) -> Result<(RegistrySet, Vec<Warning>), RegistryError> {
        let mut set = RegistrySet::default();
        let mut warnings = Vec::new();
        let mut first_error = None;
        for source in sources {
            match self.load(source).await {
                Ok(l) => {
                    warnings.extend(l.warnings);
                    set.registries.push(l.registry);
                }
                Err(e) => {
                    warnings.push(Warning {
                        registry: source.to_string(),
                        message: format!("skipped: {e}"),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if set.registries.is_empty() => Err(e),
            _ => Ok((set, warnings)),
        }
    }

    /// The document as it is now, unparsed, for `trove registry check`: a local file, or a fresh
    /// download (offline: the cached copy).
    pub async fn fetch_document(&self, source: &RegistrySource) -> Result<Document, RegistryError> {
        let name = source.to_string();
        let Some(url) = source.url(&self.options.github_base)? else {
            return self.local_document(source);
        };
        let bytes = if self.options.offline {
            let dir = self.cache_dir_for(&url);
            match read_cache(&dir, &name, &url).ok().flatten() {
                Some(c) => {
                    read_body(&dir, &c.state.sha256, self.options.max_bytes).map_err(|_| {
                        RegistryError::NotCached {
                            registry: name.clone(),
                        }
                    })?
                }
                None => return Err(RegistryError::NotCached { registry: name }),
            }
        } else {
            match self.get(&url, None, self.options.max_bytes).await? {
                Fetched::Body { bytes, .. } => bytes,
                Fetched::NotModified => unreachable!("no If-None-Match was sent"),
            }
        };
        Ok(Document {
            bytes,
            name,
            base: Some(url),
        })
    }

    /// Downloads a 2.0 repository file (or reads it, for a local registry) and checks its size
    /// and sha256 against the registry.
    pub async fn fetch_repo_file(&self, file: &RepoFile) -> Result<Vec<u8>, RegistryError> {
        let limit = file.size.unwrap_or(MAX_ARTIFACT_BYTES);
        let mismatch = |detail: String| RegistryError::Artifact {
            url: file.url.to_string(),
            detail,
        };
        let bytes = if file.url.scheme() == "file" {
            let path = file
                .url
                .to_file_path()
                .map_err(|_| mismatch("not a local path".into()))?;
            read_limited(&path, limit).map_err(|e| match e {
                LocalError::TooLarge => mismatch(format!("larger than the recorded {limit} bytes")),
                LocalError::Io(source) => RegistryError::Read { path, source },
            })?
        } else if self.options.offline {
            return Err(RegistryError::Offline {
                url: file.url.to_string(),
            });
        } else {
            match self.get(&file.url, None, limit).await {
                Ok(Fetched::Body { bytes, .. }) => bytes,
                Ok(Fetched::NotModified) => unreachable!("no If-None-Match was sent"),
                Err(RegistryError::TooLarge { .. }) => {
                    return Err(mismatch(format!("larger than the recorded {limit} bytes")))
                }
                Err(e) => return Err(e),
            }
        };
        if let Some(size) = file.size {
            if bytes.len() as u64 != size {
                return Err(mismatch(format!(
                    "{} bytes, the registry says {size}",
                    bytes.len()
                )));
            }
        }
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&file.sha256) {
            return Err(mismatch(format!(
                "sha256 is {actual}, the registry says {}",
                file.sha256
            )));
        }
        Ok(bytes)
    }

    fn local_document(&self, source: &RegistrySource) -> Result<Document, RegistryError> {
        let RegistrySource::Path(path) = source else {
            unreachable!("only paths have no URL")
        };
        let path = if path.is_dir() {
            path.join("registry.json")
        } else {
            path.clone()
        };
        let bytes = read_limited(&path, self.options.max_bytes).map_err(|e| match e {
            LocalError::TooLarge => RegistryError::TooLarge {
                registry: path.display().to_string(),
                limit: self.options.max_bytes,
            },
            LocalError::Io(source) => RegistryError::Read {
                path: path.clone(),
                source,
            },
        })?;
        let base = std::path::absolute(&path)
            .ok()
            .and_then(|abs| Url::from_file_path(abs).ok());
        Ok(Document {
            bytes,
            name: source.to_string(),
            base,
        })
    }

    fn cache_dir_for(&self, url: &Url) -> PathBuf {
        let key = &sha256_hex(url.as_str().as_bytes())[..32];
        self.options.cache_dir.join(CACHE_BUCKET).join(key)
    }

    /// One GET, conditional when `etag` is given; the body is cut off at `limit` bytes.
    async fn get(
        &self,
        url: &Url,
        etag: Option<&str>,
        limit: u64,
    ) -> Result<Fetched, RegistryError> {
        let http_err = |detail: String| RegistryError::Http {
            registry: url.to_string(),
            url: url.to_string(),
            detail,
        };
        self.http.check_url(url.as_str()).map_err(|e| match e {
            HttpError::InsecureUrl { .. } => RegistryError::Insecure {
                url: url.to_string(),
            },
            other => http_err(other.to_string()),
        })?;
        let mut request = self
            .http
            .reqwest()
            .get(url.clone())
            .timeout(self.options.timeout);
        if let Some(tag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| http_err(crate::error::chain(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(http_err(format!("the server answered {status}")));
        }
        let too_large = || RegistryError::TooLarge {
            registry: url.to_string(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 1024)
            .map(str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| http_err(crate::error::chain(&e)))?
        {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes, etag })
    }
}

enum LocalError {
    TooLarge,
    Io(std::io::Error),
}

/// Reads a file of at most `limit` bytes (checked before and while reading).
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, LocalError> {
    let file = std::fs::File::open(path).map_err(LocalError::Io)?;
    let len = file.metadata().map_err(LocalError::Io)?.len();
    if len > limit {
        return Err(LocalError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(LocalError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(LocalError::TooLarge);
    }
    Ok(bytes)
}

/// The cached copy for `url`, if there is a usable one. A missing cache is `Ok(None)`; a
/// damaged one is an error message (the caller warns and goes on without it).
fn read_cache(dir: &Path, name: &str, url: &Url) -> Result<Option<Cached>, String> {
    let state_path = dir.join("state.json");
    let text = match std::fs::read(&state_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("`{}`: {e}", state_path.display())),
    };
    let state: CacheState =
        serde_json::from_slice(&text).map_err(|e| format!("`{}`: {e}", state_path.display()))?;
    if state.url != url.as_str() || !super::model::is_sha256_hex(&state.sha256) {
        return Err(format!("`{}` is for another URL", state_path.display()));
    }
    let bytes = read_body(dir, &state.sha256, MAX_REGISTRY_BYTES)?;
    let registry = parse_registry(&bytes, name, Some(url.clone())).map_err(|e| e.to_string())?;
    Ok(Some(Cached { state, registry }))
}

fn read_body(dir: &Path, sha256: &str, limit: u64) -> Result<Vec<u8>, String> {
    let path = dir.join(format!("body-{sha256}.json"));
    let bytes = match read_limited(&path, limit) {
        Ok(b) => b,
        Err(LocalError::TooLarge) => return Err(format!("`{}` is too large", path.display())),
        Err(LocalError::Io(e)) => return Err(format!("`{}`: {e}", path.display())),
    };
    if sha256_hex(&bytes) != sha256 {
        return Err(format!(
            "`{}` is damaged (its sha256 does not match)",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Writes the body (named by its hash), then the state that points at it; removes old bodies.
fn store(dir: &Path, state: &CacheState, bytes: &[u8]) -> Result<(), RegistryError> {
    let body = format!("body-{}.json", state.sha256);
    write_atomic(dir, &body, bytes)?;
    write_atomic(dir, "state.json", &state_bytes(state))?;
    if let Ok(list) = std::fs::read_dir(dir) {
        for item in list.flatten() {
            let n = item.file_name();
            let n = n.to_string_lossy();
            // A body written in the last minute may belong to another process's update.
            let fresh = item
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < Duration::from_secs(60)));
            if n.starts_with("body-") && n != body.as_str() && !fresh {
                let _ = std::fs::remove_file(item.path());
            }
        }
    }
    Ok(())
}

fn state_bytes(state: &CacheState) -> Vec<u8> {
    serde_json::to_vec_pretty(state).expect("a struct of strings and numbers serializes")
}

/// Temp file in the target folder, fsync, rename: readers see the old or the new file, whole.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    let cache_err = |action, path: &Path, source| RegistryError::Cache {
        action,
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| cache_err("create", dir, e))?;
    let target = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| cache_err("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| cache_err("write", tmp.path(), e))?;
    tmp.persist(&target)
        .map_err(|e| cache_err("rename into", &target, e.error))?;
    Ok(())
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn describe_age(secs: u64) -> String {
    match secs {
        0..=89 => format!("{secs} s ago"),
        90..=5399 => format!("{} min ago", secs / 60),
        5400..=129_599 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        let gh = RegistrySource::parse("munch-group/phasic-traces@v1.0").unwrap();
        assert_eq!(gh.to_string(), "munch-group/phasic-traces@v1.0");
        assert_eq!(
            gh.url("http://127.0.0.1:9/files/")
                .unwrap()
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/files/munch-group/phasic-traces/v1.0/registry.json"
        );
        let head = RegistrySource::parse("o/r").unwrap();
        assert!(head
            .url(DEFAULT_GITHUB_RAW_BASE)
            .unwrap()
            .unwrap()
            .as_str()
            .ends_with("/o/r/HEAD/registry.json"));
        assert!(matches!(
            RegistrySource::parse("https://x.example/r.json").unwrap(),
            RegistrySource::Url(_)
        ));
        for path in [
            "registry/registry.json",
            "./o/r",
            "/abs/o",
            "o/r/x",
            "o/r@../x",
        ] {
            assert!(
                matches!(
                    RegistrySource::parse(path).unwrap(),
                    RegistrySource::Path(_)
                ),
                "{path}"
            );
        }
        assert!(RegistrySource::parse("ftp://x/y").is_err());
        assert!(RegistrySource::parse(" ").is_err());
    }

    #[test]
    fn atomic_cache_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::parse("https://example.org/registry.json").unwrap();
        let body = br#"{"traces": {}}"#;
        let state = CacheState {
            url: url.to_string(),
            etag: Some("\"1\"".into()),
            fetched_at: 1,
            checked_at: 2,
            sha256: sha256_hex(body),
        };
        store(dir.path(), &state, body).unwrap();
        let c = read_cache(dir.path(), "r", &url).unwrap().unwrap();
        assert_eq!(c.state.etag.as_deref(), Some("\"1\""));
        std::fs::write(
            dir.path().join(format!("body-{}.json", state.sha256)),
            b"{}",
        )
        .unwrap();
        assert!(
            read_cache(dir.path(), "r", &url).is_err(),
            "a damaged body is detected"
        );
        let other = Url::parse("https://example.org/other.json").unwrap();
        assert!(read_cache(dir.path(), "r", &other).is_err());
    }
}
