//! Object storage — `s3://bucket/key`, `gs://bucket/key`, `az://container/key` (and the
//! `abfs(s)://`, `s3a://` spellings) — through the `object_store` crate: read as mirrors
//! ([`crate::fetch::MirrorSource`]) and written by `trove publish --upload`.
//!
//! Credentials follow each cloud's standard chain as `object_store` implements it
//! (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, web identity, container and
//! instance metadata; `GOOGLE_SERVICE_ACCOUNT`/`GOOGLE_APPLICATION_CREDENTIALS`;
//! `AZURE_STORAGE_ACCOUNT_NAME`/`AZURE_STORAGE_ACCOUNT_KEY`, …). On top of that, when no AWS key
//! is in the environment, the AWS shared files are read as the AWS CLI does: the profile
//! `AWS_PROFILE` (default `default`) of `~/.aws/credentials` (or
//! `AWS_SHARED_CREDENTIALS_FILE`) and its `region`/`endpoint_url` in `~/.aws/config` (or
//! `AWS_CONFIG_FILE`). `--endpoint URL` (or `AWS_ENDPOINT_URL`) points S3 URLs at an
//! S3-compatible store (MinIO, Ceph, moto, R2); an `http://` endpoint is allowed for it.
//!
//! The shared-file parser is hand-written (a few lines of INI) because `object_store` does not
//! read profiles; everything that talks to a store is the crate's.

#[cfg(feature = "cloud")]
use object_store::{path::Path as ObjectPath, GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use std::collections::BTreeMap;
#[cfg(feature = "cloud")]
use std::path::Path;
#[cfg(feature = "cloud")]
use std::sync::Arc;
#[cfg(feature = "cloud")]
use url::Url;

/// The URL schemes that name object storage.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss"];

/// Whether `text` is an object-storage URL (by its scheme).
pub fn is_object_url(text: &str) -> bool {
    text.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// Why object storage failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The URL names no bucket or is not an object-storage URL.
    #[error("`{url}` is not an object-storage URL trove can use: {detail}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// The object does not exist.
    #[error("`{url}` does not exist")]
    NotFound {
        /// The object.
        url: String,
    },
    /// The store refused the credentials.
    #[error("access to `{url}` was refused: {detail}")]
    Denied {
        /// The object.
        url: String,
        /// What the store said.
        detail: String,
    },
    /// The object changed since a partial download began.
    #[error("`{url}` changed since the download began")]
    Changed {
        /// The object.
        url: String,
    },
    /// Anything else (network, server errors).
    #[error("cannot {action} `{url}`: {detail}")]
    Failed {
        /// What was being done.
        action: &'static str,
        /// The object.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// This build has no object storage (feature `cloud`).
    #[error("`{url}` is object storage, which this build of trove does not support")]
    NotBuilt {
        /// The URL.
        url: String,
    },
    /// A local file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Local {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ObjectError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            ObjectError::BadUrl { .. } | ObjectError::NotBuilt { .. } => ErrorKind::Usage,
            ObjectError::NotFound { .. } => ErrorKind::NotFound,
            ObjectError::Denied { .. }
            | ObjectError::Changed { .. }
            | ObjectError::Failed { .. }
            | ObjectError::Local { .. } => ErrorKind::Other,
        }
    }

    #[cfg(feature = "cloud")]
    fn from_store(action: &'static str, url: &Url, e: object_store::Error) -> Self {
        let url = url.to_string();
        match e {
            object_store::Error::NotFound { .. } => ObjectError::NotFound { url },
            object_store::Error::Precondition { .. } => ObjectError::Changed { url },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => ObjectError::Denied {
                url,
                detail: source.to_string(),
            },
            // Without credentials in the environment or profile files, `object_store` falls
            // back to the cloud's instance metadata service, which only answers inside it.
            other if other.to_string().contains("169.254.169.254") => ObjectError::Denied {
                url,
                detail: "no credentials were found (not in the environment, the profile files or an instance's metadata service)".into(),
            },
            other => ObjectError::Failed {
                action,
                url,
                detail: other.to_string(),
            },
        }
    }
}

impl crate::Hint for ObjectError {
    fn hint(&self) -> Option<String> {
        match self {
            ObjectError::BadUrl { .. } => Some(
                "write s3://BUCKET/KEY, gs://BUCKET/KEY or az://CONTAINER/KEY".into(),
            ),
            ObjectError::NotFound { .. } => Some(
                "check the bucket and key (and --endpoint for an S3-compatible store)".into(),
            ),
            ObjectError::Denied { .. } => Some(
                "set credentials the usual way: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_NAME/AZURE_STORAGE_ACCOUNT_KEY"
                    .into(),
            ),
            ObjectError::Failed { .. } => Some(
                "for an S3-compatible store give its address with --endpoint URL (or AWS_ENDPOINT_URL)"
                    .into(),
            ),
            ObjectError::NotBuilt { .. } => {
                Some("install a build with the `cloud` feature (the default)".into())
            }
            ObjectError::Changed { .. } | ObjectError::Local { .. } => None,
        }
    }
}

/// The settings every object-store URL is opened with: `object_store` configuration keys
/// (`aws_access_key_id`, `aws_endpoint`, `google_service_account`, …) and their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ObjectStoreConfig {
    options: BTreeMap<String, String>,
}

/// Keys and values, except the values of anything that may be a secret.
impl std::fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plain = |k: &str| {
            [
                "region",
                "endpoint",
                "allow_http",
                "virtual_hosted",
                "profile",
                "bucket",
            ]
            .iter()
            .any(|p| k.contains(p))
        };
        f.debug_map()
            .entries(
                self.options
                    .iter()
                    .map(|(k, v)| (k.as_str(), if plain(k) { v.as_str() } else { "<redacted>" })),
            )
            .finish()
    }
}

impl ObjectStoreConfig {
    /// The configuration from the environment's cloud variables (`AWS_*`, `GOOGLE_*`,
    /// `AZURE_*`, as `(name, value)`), the AWS shared files' text when no key is in the
    /// environment, and an S3 endpoint (`--endpoint`, which wins over the rest).
    pub fn new(
        vars: &[(String, String)],
        aws_credentials: Option<&str>,
        aws_config: Option<&str>,
        endpoint: Option<&str>,
    ) -> Self {
        let mut options = BTreeMap::new();
        for (name, value) in vars {
            options.insert(name.to_ascii_lowercase(), value.clone());
        }
        let profile = options
            .get("aws_profile")
            .cloned()
            .unwrap_or_else(|| "default".into());
        if !options.contains_key("aws_access_key_id") {
            if let Some(section) = aws_credentials.and_then(|t| ini_section(t, &profile)) {
                for key in [
                    "aws_access_key_id",
                    "aws_secret_access_key",
                    "aws_session_token",
                ] {
                    if let Some(value) = section.get(key) {
                        options.insert(key.into(), value.clone());
                    }
                }
            }
        }
        let config_section = if profile == "default" {
            "default".to_string()
        } else {
            format!("profile {profile}")
        };
        if let Some(section) = aws_config.and_then(|t| ini_section(t, &config_section)) {
            if let Some(region) = section.get("region") {
                options
                    .entry("aws_region".into())
                    .or_insert_with(|| region.clone());
            }
            if let Some(url) = section.get("endpoint_url") {
                options
                    .entry("aws_endpoint_url".into())
                    .or_insert_with(|| url.clone());
            }
        }
        if let Some(endpoint) = endpoint {
            options.remove("aws_endpoint_url");
            options.insert("aws_endpoint".into(), endpoint.to_string());
        }
        let endpoint = options
            .get("aws_endpoint")
            .or_else(|| options.get("aws_endpoint_url"))
            .cloned();
        if let Some(endpoint) = endpoint {
            if endpoint.starts_with("http://") {
                options.insert("aws_allow_http".into(), "true".into());
            }
            // An S3-compatible store at an address of its own takes the bucket in the path.
            options
                .entry("aws_virtual_hosted_style_request".into())
                .or_insert_with(|| "false".into());
        }
        ObjectStoreConfig { options }
    }

    /// The configuration keys and values (secrets included: never print them).
    pub fn options(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Without the `cloud` feature: a location that cannot be opened (every URL is
/// [`ObjectError::NotBuilt`]), so that callers need no feature gates of their own.
#[cfg(not(feature = "cloud"))]
#[derive(Debug, Clone)]
pub struct ObjectLocation {
    url: url::Url,
}

#[cfg(not(feature = "cloud"))]
impl ObjectLocation {
    /// Always [`ObjectError::NotBuilt`] in this build.
    pub fn open(url: &str, _config: &ObjectStoreConfig) -> Result<Self, ObjectError> {
        Err(ObjectError::NotBuilt {
            url: url.to_string(),
        })
    }

    /// The URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The object `name` under this location.
    pub fn child(&self, name: &str) -> ObjectLocation {
        let mut url = self.url.clone();
        let joined = format!("{}/{name}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        ObjectLocation { url }
    }

    /// Always [`ObjectError::NotBuilt`] in this build.
    pub async fn upload(&self, _file: &std::path::Path) -> Result<u64, ObjectError> {
        Err(ObjectError::NotBuilt {
            url: self.url.to_string(),
        })
    }
}

/// The `key = value` pairs of `[section]` in an INI text (keys lowercased), if it has one.
fn ini_section(text: &str, section: &str) -> Option<BTreeMap<String, String>> {
    let mut current: Option<String> = None;
    let mut found: Option<BTreeMap<String, String>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            current = Some(name.clone());
            if name == section {
                found.get_or_insert_with(BTreeMap::new);
            }
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            if let Some(map) = found.as_mut() {
                map.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
    }
    found
}

/// One object (or prefix) in a store.
#[cfg(feature = "cloud")]
#[derive(Debug, Clone)]
pub struct ObjectLocation {
    url: Url,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
}

/// An object being read: its bytes from `start` on, and what the store says about it.
#[cfg(feature = "cloud")]
pub struct ObjectRead {
    /// The first byte the stream holds.
    pub start: u64,
    /// The object's whole size.
    pub size: u64,
    /// The object's ETag, for resuming.
    pub etag: Option<String>,
    /// The bytes.
    pub stream: futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
}

#[cfg(feature = "cloud")]
impl ObjectLocation {
    /// Opens `url` with `config` (no request is made yet).
    pub fn open(url: &str, config: &ObjectStoreConfig) -> Result<Self, ObjectError> {
        let bad = |detail: String| ObjectError::BadUrl {
            url: url.to_string(),
            detail,
        };
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !SCHEMES.contains(&parsed.scheme()) {
            return Err(bad(format!("the scheme `{}` is not one", parsed.scheme())));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no bucket".into()));
        }
        let (store, path) = build_store(&parsed, config).map_err(|e| bad(e.to_string()))?;
        Ok(ObjectLocation {
            url: parsed,
            store,
            path,
        })
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object `name` under this location taken as a prefix.
    pub fn child(&self, name: &str) -> ObjectLocation {
        let mut url = self.url.clone();
        let joined = format!("{}/{name}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        ObjectLocation {
            store: self.store.clone(),
            path: self.path.clone().join(name),
            url,
        }
    }

    /// Reads the object from byte `start` on; with `if_match`, only if it still has that ETag
    /// ([`ObjectError::Changed`] otherwise).
    pub async fn read_from(
        &self,
        start: u64,
        if_match: Option<&str>,
    ) -> Result<ObjectRead, ObjectError> {
        let options = GetOptions {
            if_match: if_match.map(str::to_string),
            range: (start > 0).then_some(GetRange::Offset(start)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&self.path, options)
            .await
            .map_err(|e| ObjectError::from_store("read", &self.url, e))?;
        Ok(ObjectRead {
            start: result.range.start,
            size: result.meta.size,
            etag: result.meta.e_tag.clone(),
            stream: result.into_stream(),
        })
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn size(&self) -> Result<Option<u64>, ObjectError> {
        match self.store.head(&self.path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(ObjectError::from_store("look up", &self.url, e)),
        }
    }

    /// Uploads the file at `file` to this object (in parts when it is large); returns its
    /// size. The object appears whole or not at all.
    pub async fn upload(&self, file: &Path) -> Result<u64, ObjectError> {
        use tokio::io::AsyncWriteExt as _;
        let local = |source| ObjectError::Local {
            path: file.to_path_buf(),
            source,
        };
        let mut input = tokio::fs::File::open(file).await.map_err(local)?;
        let mut writer = object_store::buffered::BufWriter::with_capacity(
            self.store.clone(),
            self.path.clone(),
            16 * 1024 * 1024,
        );
        let failed = |e: std::io::Error| ObjectError::Failed {
            action: "upload to",
            url: self.url.to_string(),
            detail: e.to_string(),
        };
        let copied = tokio::io::copy(&mut input, &mut writer).await;
        let size = match copied {
            Ok(size) => size,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(failed(e));
            }
        };
        writer.shutdown().await.map_err(failed)?;
        Ok(size)
    }
}

/// The store for `url` with `config`, and the object's path in it. Built per scheme rather than
/// with `object_store::parse_url_opts` to set two things its defaults get wrong for trove: no
/// overall request time-out (a large object takes as long as it takes; the mirror applies its
/// own idle time-out to the stream) and few retries (the fetcher retries and falls back to the
/// next source itself, instead of waiting minutes on a store that is down).
#[cfg(feature = "cloud")]
fn build_store(
    url: &Url,
    config: &ObjectStoreConfig,
) -> Result<(Arc<dyn ObjectStore>, ObjectPath), object_store::Error> {
    use object_store::{ClientOptions, ObjectStoreScheme, RetryConfig};
    let (scheme, path) = ObjectStoreScheme::parse(url)?;
    let client = ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(std::time::Duration::from_secs(10));
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: std::time::Duration::from_secs(30),
        ..RetryConfig::default()
    };
    macro_rules! build {
        ($builder:ty) => {{
            let mut builder = <$builder>::new()
                .with_client_options(client)
                .with_retry(retry)
                .with_url(url.to_string());
            for (key, value) in config.options() {
                if let Ok(key) = key.parse() {
                    builder = builder.with_config(key, value);
                }
            }
            Arc::new(builder.build()?) as Arc<dyn ObjectStore>
        }};
    }
    let store = match scheme {
        ObjectStoreScheme::AmazonS3 => build!(object_store::aws::AmazonS3Builder),
        ObjectStoreScheme::GoogleCloudStorage => {
            build!(object_store::gcp::GoogleCloudStorageBuilder)
        }
        ObjectStoreScheme::MicrosoftAzure => build!(object_store::azure::MicrosoftAzureBuilder),
        other => {
            return Err(object_store::Error::NotSupported {
                source: format!("{other:?} is not object storage").into(),
            })
        }
    };
    Ok((store, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_are_told_by_their_scheme() {
        assert!(is_object_url("s3://bucket/key.car"));
        assert!(is_object_url("GS://bucket/key"));
        assert!(is_object_url("az://container/a/b"));
        assert!(!is_object_url("https://example.org/a.car"));
        assert!(!is_object_url("bucket/key"));
    }

    #[test]
    fn the_aws_profile_is_read_when_the_environment_has_no_key() {
        let credentials = "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n[lab]\naws_access_key_id=L\naws_secret_access_key=LS\n";
        let config = "[default]\nregion = eu-west-1\n[profile lab]\nregion = us-west-2\nendpoint_url = http://127.0.0.1:9000\n";
        let get = |c: &ObjectStoreConfig, k: &str| {
            c.options()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        let plain = ObjectStoreConfig::new(&[], Some(credentials), Some(config), None);
        assert_eq!(get(&plain, "aws_access_key_id").as_deref(), Some("D"));
        assert_eq!(get(&plain, "aws_region").as_deref(), Some("eu-west-1"));
        assert_eq!(get(&plain, "aws_allow_http"), None);

        let vars = vec![("AWS_PROFILE".to_string(), "lab".to_string())];
        let lab = ObjectStoreConfig::new(&vars, Some(credentials), Some(config), None);
        assert_eq!(get(&lab, "aws_access_key_id").as_deref(), Some("L"));
        assert_eq!(get(&lab, "aws_region").as_deref(), Some("us-west-2"));
        assert_eq!(
            get(&lab, "aws_endpoint_url").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(get(&lab, "aws_allow_http").as_deref(), Some("true"));

        // The environment's key wins over the files; --endpoint over every other endpoint.
        let vars = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), "E".to_string()),
            ("AWS_PROFILE".to_string(), "lab".to_string()),
        ];
        let env = ObjectStoreConfig::new(
            &vars,
            Some(credentials),
            Some(config),
            Some("https://s3.example.org"),
        );
        assert_eq!(get(&env, "aws_access_key_id").as_deref(), Some("E"));
        assert_eq!(get(&env, "aws_secret_access_key"), None);
        assert_eq!(get(&env, "aws_endpoint_url"), None);
        assert_eq!(
            get(&env, "aws_endpoint").as_deref(),
            Some("https://s3.example.org")
        );
        assert_eq!(get(&env, "aws_allow_http"), None);
        let shown = format!("{env:?}");
        assert!(
            shown.contains("https://s3.example.org") && !shown.contains("\"E\""),
            "{shown}"
        );
    }

    #[cfg(feature = "cloud")]
    #[test]
    fn object_locations_are_checked() {
        let config = ObjectStoreConfig::default();
        assert!(matches!(
            ObjectLocation::open("https://example.org/x", &config),
            Err(ObjectError::BadUrl { .. })
        ));
        assert!(matches!(
            ObjectLocation::open("s3:///key", &config),
            Err(ObjectError::BadUrl { .. })
        ));
        let prefix = ObjectLocation::open("s3://bucket/runs/", &config).unwrap();
        let child = prefix.child("a.car");
        assert_eq!(child.url().as_str(), "s3://bucket/runs/a.car");
        assert_eq!(child.path.as_ref(), "runs/a.car");
    }
}
