//! The publishing flow behind [`crate::Client::publish`] (and `trove publish`, and
//! `trove.publish` in Python), `registry add` and `registry pr`.
//!
//! It works in an order that leaves nothing half-done: it checks the options, the pinning
//! services and their tokens, and reads the registry it will change; imports the path into the
//! store and reports the CID; builds the entry and checks the would-be registry (any new error
//! aborts, naming the field); then, unless it is a dry run, writes the CAR, adds the content to
//! the local daemon, pins it remotely, and last changes the registry file or opens the pull
//! request. What it does along the way goes to a [`Step`] callback: the library never prints.

use super::edit::{self, Addition};
use super::entry::{build_entry, today_utc, ContentFacts, EntryMeta, VersionInfo};
use super::forge::Forge;
use super::pin::{dag_import, PinOutcome, PinService, PinWait};
use super::pr::{PrChange, PrOptions, PrOutcome};
use super::release::{self, ReleaseTarget};
use super::PublishError;
use crate::client::Client;
use crate::content::Cid;
use crate::error::{Error, ErrorKind, ResultExt};
use crate::fetch::{discover_api_candidates, KuboRpcSource};
use crate::import::import_path;
use crate::progress::Silent;
use crate::registry::check_document;
use crate::registry::model::is_valid_name;
use crate::unixfs::Profile;
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use url::Url;

/// The forge API used when neither an option nor the config names one.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Whether the content is added to the local IPFS daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DaemonChoice {
    /// When one answers (a warning otherwise).
    #[default]
    IfRunning,
    /// Required: an error when none answers.
    Required,
    /// Never.
    Off,
}

/// The registry repository of a pull request; unset fields come from the config file's
/// `[publish]` and the environment.
#[derive(Debug, Clone, Default)]
pub struct RepoOptions {
    /// `owner/repo`, a git URL or a local path.
    pub repository: Option<String>,
    /// The registry file inside it (default `registry.json`).
    pub registry_path: Option<String>,
    /// The base branch.
    pub base: Option<String>,
    /// The forge's REST API.
    pub api_url: Option<String>,
    /// Replace the entry (or version) and an earlier branch.
    pub force: bool,
}

/// Which registry a publish changes.
#[derive(Debug, Clone, Default)]
pub enum RegistryChange {
    /// None: import, make available, show the entry.
    #[default]
    None,
    /// A local registry file (created when missing).
    File(PathBuf),
    /// A pull request against a registry repository.
    PullRequest(RepoOptions),
}

/// Where `--release` attaches the assets.
#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    /// `OWNER/REPO@TAG`.
    pub target: String,
    /// The forge's REST API (default: the config file's `[publish] api_url`, else GitHub's).
    pub api_url: Option<String>,
}

/// Everything a publish is told.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// The registry ID (new, or existing with `version`).
    pub id: String,
    /// Add this version to an existing ID instead of creating a new one.
    pub version: Option<String>,
    /// Aliases to point at the new version.
    pub aliases: Vec<String>,
    /// The entry's metadata.
    pub meta: EntryMeta,
    /// The import profile.
    pub profile: Profile,
    /// Also write the content as a CAR here.
    pub car: Option<PathBuf>,
    /// Mirror URLs to record in the entry.
    pub mirrors: Vec<String>,
    /// Object-storage prefixes (`s3://bucket/prefix`, `gs://…`, `az://…`) the CAR is uploaded
    /// to as `<cid>.car`, each recorded as a mirror.
    pub uploads: Vec<String>,
    /// A GitHub release the CAR (and a published archive) is attached to; the assets are
    /// recorded as mirrors.
    pub release: Option<ReleaseOptions>,
    /// The local daemon.
    pub daemon: DaemonChoice,
    /// The Kubo RPC API to add to.
    pub kubo_api: Option<String>,
    /// Remote pinning services (config `[pinning.NAME]` names or endpoint URLs).
    pub pins: Vec<String>,
    /// Which registry to change.
    pub registry: RegistryChange,
    /// Replace an existing entry or version (and, for a pull request, an earlier branch).
    pub force: bool,
    /// Show the entry and diff; change nothing.
    pub dry_run: bool,
}

impl PublishOptions {
    /// Options for `id` with the defaults: profile `unixfs-v1-2025`, the daemon when it runs,
    /// no registry change.
    pub fn new(id: impl Into<String>) -> Self {
        PublishOptions {
            id: id.into(),
            version: None,
            aliases: Vec::new(),
            meta: EntryMeta::default(),
            profile: Profile::UnixfsV1_2025,
            car: None,
            mirrors: Vec::new(),
            uploads: Vec::new(),
            release: None,
            daemon: DaemonChoice::IfRunning,
            kubo_api: None,
            pins: Vec::new(),
            registry: RegistryChange::None,
            force: false,
            dry_run: false,
        }
    }
}

/// What a publish tells its caller along the way.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The path was imported: its CID (Kubo-identical for the profile).
    Imported {
        /// The root CID.
        cid: &'a Cid,
        /// Content bytes.
        size: u64,
        /// The profile.
        profile: Profile,
    },
    /// Something done or worth knowing.
    Note(&'a str),
    /// Something that did not go as it should but did not stop the publish.
    Warning(&'a str),
}

/// What a publish did (also its `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// The ID.
    pub id: String,
    /// The version published.
    pub version: String,
    /// Whether it was added to an existing ID.
    pub add_version: bool,
    /// Aliases pointed at it.
    pub aliases: Vec<String>,
    /// The root CID.
    #[serde(serialize_with = "crate::registry::model::ser::display")]
    pub cid: Cid,
    /// The profile's name.
    pub profile: String,
    /// Content bytes.
    pub size: u64,
    /// The registry entry.
    pub entry: Value,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// New warnings of the registry check.
    pub warnings: Vec<String>,
    /// The registry diff (dry runs with a registry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The CAR written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub car: Option<String>,
    /// The local daemon's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<Value>,
    /// Remote pins.
    pub pins: Vec<Value>,
    /// The registry file changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_file: Option<String>,
    /// The pull request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Value>,
    /// Uploads to object storage and release assets: `{"url", "action"}` each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<Value>,
}

/// The registry a command changes, as read before anything else happens.
enum RegistryTarget {
    /// A local file (`bytes` is a fresh registry when it does not exist yet).
    File { path: PathBuf, bytes: Vec<u8> },
    /// The registry file of a repository (for a pull request).
    Repo { options: PrOptions, bytes: Vec<u8> },
}

impl RegistryTarget {
    fn bytes(&self) -> &[u8] {
        match self {
            RegistryTarget::File { bytes, .. } | RegistryTarget::Repo { bytes, .. } => bytes,
        }
    }

    fn name(&self) -> String {
        match self {
            RegistryTarget::File { path, .. } => path.display().to_string(),
            RegistryTarget::Repo { options, .. } => {
                format!("{}:{}", options.repository, options.registry_path)
            }
        }
    }

    fn base(&self) -> Option<Url> {
        match self {
            RegistryTarget::File { path, .. } => std::path::absolute(path)
                .ok()
                .and_then(|abs| Url::from_file_path(abs).ok()),
            RegistryTarget::Repo { .. } => None,
        }
    }
}

/// `given` with what a bundle's `manifest.json` says filled in where `given` says nothing:
/// `description`, `license`, and the keys of its `metadata` object.
fn bundle_meta(manifest: &Value, given: &EntryMeta) -> EntryMeta {
    let mut meta = given.clone();
    if meta.description.is_none() {
        meta.description = manifest["description"].as_str().map(str::to_string);
    }
    if meta.license.is_none() {
        meta.license = manifest["license"].as_str().map(str::to_string);
    }
    if let Some(extra) = manifest["metadata"].as_object() {
        for (key, value) in extra {
            meta.metadata
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
    }
    meta
}

fn usage(message: impl Into<String>) -> Error {
    Error::msg(ErrorKind::Usage, message)
}

impl Client {
    /// Publishes the file or folder at `path` (see the module docs); `step` hears what happens.
    /// An archive (`.tar.gz`, `.zip`, …) is published as its content: its published sums are
    /// checked and it is unpacked in a sandbox first ([`Client::prepare_bundle`]), and its
    /// `manifest.json` fills in the description, licence and metadata the options leave out.
    pub fn publish(
        &self,
        path: &Path,
        options: &PublishOptions,
        step: &dyn Fn(Step<'_>),
    ) -> Result<PublishReport, Error> {
        let given = path.to_path_buf();
        let bundle = if path.is_file() && crate::bundle::Format::from_path(path).is_some() {
            let prepared = self
                .prepare_bundle(path, &crate::client::bundle::ImportOptions::default())
                .context(|| format!("cannot open the bundle `{}`", path.display()))?;
            step(Step::Note(&format!(
                "bundle `{}`: {}",
                path.display(),
                if prepared.checked.is_empty() {
                    "no published sums to check".to_string()
                } else {
                    format!("checked {}", prepared.checked.join(", "))
                }
            )));
            Some(prepared)
        } else {
            None
        };
        let merged;
        let (path, options) = match &bundle {
            Some(prepared) => {
                let mut with_meta = options.clone();
                if let Some(manifest) = &prepared.manifest {
                    with_meta.meta = bundle_meta(manifest, &options.meta);
                }
                merged = with_meta;
                (prepared.content.as_path(), &merged)
            }
            None => (path, options),
        };
        let note = |line: &str| step(Step::Note(line));
        let warn = |line: &str| step(Step::Warning(line));
        // 1. Everything that can be checked before any side effect.
        if !is_valid_name(&options.id) {
            return Err(usage(format!(
                "`{}` is not a valid registry ID: use ASCII letters, digits and `._+-`, starting with a letter or digit",
                options.id
            )));
        }
        if let Some(v) = &options.version {
            if !is_valid_name(v) {
                return Err(usage(format!("`{v}` is not a valid version name")));
            }
        }
        if let Some(car) = &options.car {
            crate::output::check_folder(car)?;
        }
        let services = self.pin_services(&options.pins)?;
        let uploads = options
            .uploads
            .iter()
            .map(|u| self.upload_location(u))
            .collect::<Result<Vec<_>, _>>()?;
        let release = match &options.release {
            Some(r) => Some(self.release_forge(r)?),
            None => None,
        };
        let target = match &options.registry {
            RegistryChange::File(path) => Some(read_registry_file(path)?),
            RegistryChange::PullRequest(repo) => {
                let options = self.pr_options(repo)?;
                let bytes = self
                    .block_on(super::pr::read_registry(&options))
                    .map_err(PublishError::from)
                    .context(|| {
                        format!(
                            "cannot read `{}` from `{}`",
                            options.registry_path, options.repository
                        )
                    })?;
                Some(RegistryTarget::Repo { options, bytes })
            }
            RegistryChange::None => None,
        };

        // 2. Import, and report the CID.
        let store = self.store();
        let root = import_path(path, &options.profile.params(), &**store, &Silent)
            .context(|| format!("cannot import `{}`", path.display()))?;
        if !options.dry_run {
            store.keep_root(&root.cid, &format!("publish {}", options.id))?;
        }
        step(Step::Imported {
            cid: &root.cid,
            size: root.content_size,
            profile: options.profile,
        });
        note(&format!(
            "imported `{}` ({} bytes, profile {})",
            path.display(),
            root.content_size,
            options.profile
        ));

        // 3. The entry and the would-be registry, checked.
        let facts = ContentFacts::read(&**store, &root.cid, options.profile, root.content_size)
            .map_err(PublishError::from)?;
        for name in &facts.skipped {
            note(&format!(
                "note: `{name}` is not listed in `files` (only top-level regular files with safe names are)"
            ));
        }
        let version = options.version.clone().unwrap_or_else(|| "1".to_string());
        let old = match &target {
            Some(t) => t.bytes().to_vec(),
            None => edit::new_document().to_vec(),
        };
        let name = target
            .as_ref()
            .map(RegistryTarget::name)
            .unwrap_or_else(|| "(a new registry)".into());
        // The entry with these mirrors, merged into the registry and checked.
        let entry_with = |mirrors: Vec<String>| -> Result<(Addition, Vec<u8>, Vec<String>), Error> {
            let info = VersionInfo {
                version: version.clone(),
                aliases: options.aliases.clone(),
                published: today_utc(),
                mirrors,
            };
            let addition = Addition {
                id: options.id.clone(),
                entry: build_entry(&options.meta, &facts, &info),
                add_version: options.version.is_some(),
                aliases: options.aliases.clone(),
                force: options.force,
            };
            let new = edit::apply(&old, &addition)
                .map_err(PublishError::from)
                .context(|| format!("cannot add `{}` to `{name}`", options.id))?;
            let warnings = checked(&old, &new, &name, target.as_ref().and_then(|t| t.base()))
                .context(|| format!("`{}` was not published", options.id))?;
            Ok((addition, new, warnings))
        };
        // What will be uploaded, and the mirrors it is expected to become (checked now; the
        // addresses the release API returns replace the expected ones later).
        let car_name = format!("{}.car", root.cid);
        let mut assets = vec![release::Asset {
            name: car_name.clone(),
            path: PathBuf::new(),
            content_addressed: true,
        }];
        if bundle.is_some() {
            if let Some(file_name) = given.file_name() {
                assets.push(release::Asset {
                    name: file_name.to_string_lossy().into_owned(),
                    path: given.clone(),
                    content_addressed: false,
                });
            }
        }
        let mut mirrors = options.mirrors.clone();
        for location in &uploads {
            mirrors.push(location.child(&car_name).url().to_string());
        }
        if let Some((release, _)) = &release {
            for asset in &assets {
                mirrors.push(release::predicted_url(release, &asset.name));
            }
        }
        let (mut addition, mut new, warnings) = entry_with(mirrors.clone())?;
        for w in &warnings {
            warn(w);
        }
        let diff = target.as_ref().map(|t| {
            edit::unified_diff(
                &String::from_utf8_lossy(t.bytes()),
                &String::from_utf8_lossy(&new),
                &format!("a/{}", t.name()),
                &format!("b/{}", t.name()),
            )
        });
        let mut report = PublishReport {
            id: options.id.clone(),
            version: version.clone(),
            add_version: addition.add_version,
            aliases: options.aliases.clone(),
            cid: root.cid,
            profile: options.profile.name().to_string(),
            size: root.content_size,
            entry: addition.entry.clone(),
            dry_run: options.dry_run,
            warnings,
            diff: None,
            car: None,
            daemon: None,
            pins: Vec::new(),
            registry_file: None,
            pull_request: None,
            uploads: Vec::new(),
        };

        // 4. A dry run stops here.
        if options.dry_run {
            report.diff = diff;
            return Ok(report);
        }

        // 5. Make the content available.
        if let Some(out) = &options.car {
            let summary = crate::output::write_car_file(&**store, &root.cid, out)?;
            note(&format!(
                "wrote {} ({} blocks, {} bytes)",
                out.display(),
                summary.blocks,
                summary.bytes
            ));
            report.car = Some(out.display().to_string());
        }
        if !uploads.is_empty() || release.is_some() {
            // The CAR to upload: the one written above, or one in the cache's scratch folder.
            let scratch_dir;
            let car_path = match &options.car {
                Some(out) => out.clone(),
                None => {
                    let tmp = self.settings().cache_dir.join("tmp");
                    std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
                    scratch_dir = tempfile::Builder::new()
                        .prefix(".publish-")
                        .tempdir_in(&tmp)
                        .map_err(|e| Error::io("create a folder in", &tmp, e))?;
                    let out = scratch_dir.path().join(&car_name);
                    crate::output::write_car_file(&**store, &root.cid, &out)?;
                    out
                }
            };
            let mut actual = options.mirrors.clone();
            for location in &uploads {
                let object = location.child(&car_name);
                let size = self
                    .block_on(object.upload(&car_path))
                    .context(|| format!("cannot upload the CAR to `{}`", object.url()))?;
                note(&format!("uploaded {} ({size} bytes)", object.url()));
                actual.push(object.url().to_string());
                report.uploads.push(
                    json!({"url": object.url().as_str(), "action": "uploaded", "bytes": size}),
                );
            }
            if let Some((target, forge)) = &release {
                assets[0].path = car_path.clone();
                let done = self
                    .block_on(release::attach(forge, target, &assets, options.force))
                    .map_err(PublishError::from)
                    .context(|| format!("cannot attach the assets to the release {target}"))?;
                if done.created {
                    note(&format!("created the release {target}"));
                }
                for asset in done.assets {
                    note(&format!(
                        "{} `{}` on the release {target}: {}",
                        asset.action, asset.name, asset.url
                    ));
                    report
                        .uploads
                        .push(json!({"url": asset.url, "action": asset.action, "release": target.to_string()}));
                    actual.push(asset.url);
                }
            }
            if actual != mirrors {
                // The release API's addresses differ from the expected ones: record what it
                // said (checked again).
                let (a, n, _) = entry_with(actual)?;
                addition = a;
                new = n;
                report.entry = addition.entry.clone();
            }
        }
        if options.daemon != DaemonChoice::Off {
            report.daemon = self.add_to_daemon(options, &root.cid, &note, &warn)?;
        }
        let client = super::pin::service_client(false)?;
        let pin_name = match &options.version {
            Some(v) => format!("{}@{v}", options.id),
            None => options.id.clone(),
        };
        for service in &services {
            let outcome = self
                .block_on(service.pin(&client, &root.cid, &pin_name, PinWait::default()))
                .map_err(PublishError::from)
                .context(|| format!("cannot pin `{}`", root.cid))?;
            match &outcome {
                PinOutcome::Pinned { request_id } => {
                    note(&format!("pinned on `{}`", service.name));
                    report.pins.push(
                        json!({"service": service.name, "status": "pinned", "request_id": request_id}),
                    );
                }
                PinOutcome::Queued { request_id, status } => {
                    warn(&format!(
                        "`{}` accepted the pin but has not finished (status `{status}`, request `{request_id}`); it keeps working on it: check later with GET {}/pins/{request_id}",
                        service.name,
                        service.endpoint.as_str().trim_end_matches('/')
                    ));
                    report.pins.push(
                        json!({"service": service.name, "status": status, "request_id": request_id}),
                    );
                }
            }
        }

        // 6. The registry, last.
        match target {
            Some(RegistryTarget::File { path, .. }) => {
                write_atomic(&path, &new)?;
                note(&format!("added `{}` to {}", options.id, path.display()));
                report.registry_file = Some(path.display().to_string());
            }
            Some(RegistryTarget::Repo { options: pr, .. }) => {
                let change = pr_change(&addition, &facts, &options.meta);
                let outcome = self.open_pr(&pr, &change, addition)?;
                report_outcome(&outcome, &note);
                report.pull_request = Some(outcome_json(&outcome));
            }
            None => {}
        }
        Ok(report)
    }

    /// An object-storage prefix to upload to, opened with the client's settings.
    fn upload_location(&self, url: &str) -> Result<crate::objects::ObjectLocation, Error> {
        if !crate::objects::is_object_url(url) {
            return Err(crate::objects::ObjectError::BadUrl {
                url: url.to_string(),
                detail: "--upload takes an object-storage prefix".into(),
            }
            .into());
        }
        Ok(crate::objects::ObjectLocation::open(
            url,
            &self.settings().fetch.objects,
        )?)
    }

    /// The release to attach assets to, and a forge client with the token `--pr` uses.
    fn release_forge(&self, options: &ReleaseOptions) -> Result<(ReleaseTarget, Forge), Error> {
        let target = ReleaseTarget::parse(&options.target)?;
        let config = &self.settings().config.publish;
        let token = self
            .settings()
            .env
            .forge_token
            .clone()
            .or_else(|| config.token.clone())
            .ok_or_else(|| {
                Error::with_hint(
                    ErrorKind::Usage,
                    format!("--release {target} needs a token to upload release assets"),
                    "set TROVE_GITHUB_TOKEN (or GITHUB_TOKEN) to a token with contents write access, or `token` in the config file's [publish]",
                )
            })?;
        let api = options
            .api_url
            .clone()
            .or_else(|| config.api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let forge = Forge::new(&api, Some(&token), false).map_err(PublishError::from)?;
        Ok((target, forge))
    }

    /// Pinning services by config name or endpoint URL (its token from a config section with
    /// that endpoint, else `TROVE_PIN_TOKEN`).
    pub(crate) fn pin_services(&self, names: &[String]) -> Result<Vec<PinService>, Error> {
        let (env, config) = (&self.settings().env, &self.settings().config);
        let mut out = Vec::new();
        for name in names {
            let (endpoint, token) = match config.pinning.get(name) {
                Some(section) => (
                    section.endpoint.clone(),
                    section.token.clone().or_else(|| env.pin_token.clone()),
                ),
                None if name.contains("://") => {
                    let token = config
                        .pinning
                        .values()
                        .find(|s| s.endpoint.trim_end_matches('/') == name.trim_end_matches('/'))
                        .and_then(|s| s.token.clone())
                        .or_else(|| env.pin_token.clone());
                    (name.clone(), token)
                }
                None => {
                    let known: Vec<&str> = config.pinning.keys().map(String::as_str).collect();
                    return Err(usage(format!(
                        "unknown pinning service `{name}`; name a `[pinning.NAME]` section of the config file ({}) or give the endpoint URL",
                        if known.is_empty() {
                            "there is none".to_string()
                        } else {
                            format!("known: {}", known.join(", "))
                        }
                    )));
                }
            };
            let url = crate::http::check_url(&endpoint, false)
                .context(|| format!("the pinning service `{name}` has a bad endpoint"))?;
            let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
                return Err(usage(format!(
                    "no access token for the pinning service `{name}`: set {} or `token` in its `[pinning.NAME]` section",
                    crate::config::TROVE_PIN_TOKEN
                )));
            };
            out.push(PinService::new(name.clone(), url, token.trim()));
        }
        Ok(out)
    }

    /// Adds the content to the local daemon when one answers (an error when it is required and
    /// none does); returns what to report.
    fn add_to_daemon(
        &self,
        options: &PublishOptions,
        root: &Cid,
        note: &dyn Fn(&str),
        warn: &dyn Fn(&str),
    ) -> Result<Option<Value>, Error> {
        let env = &self.settings().env;
        let required = options.daemon == DaemonChoice::Required || options.kubo_api.is_some();
        let flag = options
            .kubo_api
            .clone()
            .or_else(|| self.settings().config.kubo.api.clone());
        let candidates = match discover_api_candidates(
            flag.as_deref(),
            env.ipfs_api.as_deref(),
            env.ipfs_path.as_deref(),
            env.home.as_deref(),
        ) {
            Ok(c) => c,
            Err(e) if required => return Err(e.into()),
            Err(e) => {
                warn(&format!("skipping the local IPFS daemon: {e}"));
                return Ok(None);
            }
        };
        let client = super::pin::service_client(true)?;
        let source = self.block_on(KuboRpcSource::connect(&candidates, client.clone()))?;
        let Some(source) = source else {
            if required {
                return Err(Error::msg(
                    ErrorKind::Network,
                    format!(
                        "no IPFS daemon answered (tried {}); start one, or leave out --daemon",
                        candidates
                            .iter()
                            .map(|c| format!("`{}`", c.display_url()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            note("no local IPFS daemon answered; the content was not added to one");
            return Ok(None);
        };
        let api = source.api().clone();
        // The CAR streams from a file: the one asked for, or a temporary export.
        let (car, _tmp) = match &options.car {
            Some(path) => (path.clone(), None),
            None => {
                let dir = self.settings().cache_dir.join("publish-v1").join("tmp");
                std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
                let mut tmp = tempfile::NamedTempFile::new_in(&dir)
                    .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
                crate::car::export_dag(&**self.store(), root, tmp.as_file_mut())
                    .context(|| "cannot export the content for the daemon".to_string())?;
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        let done = self
            .block_on(dag_import(&client, &api.url, &car, root))
            .map_err(PublishError::from)?;
        note(&format!(
            "added and pinned on the IPFS daemon at {} ({})",
            api.display_url(),
            source.version()
        ));
        Ok(Some(
            json!({"api": api.display_url(), "pinned": true, "bytes": done.bytes}),
        ))
    }

    /// `PrOptions` from `repo`, the config file's `[publish]` and the environment.
    pub fn pr_options(&self, repo: &RepoOptions) -> Result<PrOptions, Error> {
        let config = &self.settings().config.publish;
        let Some(repository) = repo
            .repository
            .clone()
            .or_else(|| config.repository.clone())
        else {
            return Err(usage(
                "name the registry repository with --repo OWNER/REPO (or `repository` in the config file's `[publish]`)",
            ));
        };
        let registry_path = repo
            .registry_path
            .clone()
            .or_else(|| config.registry_path.clone())
            .unwrap_or_else(|| "registry.json".to_string());
        Ok(PrOptions {
            repository,
            registry_path,
            base: repo.base.clone(),
            api_url: repo
                .api_url
                .clone()
                .or_else(|| config.api_url.clone())
                .unwrap_or_else(|| DEFAULT_API_URL.to_string()),
            web_url: None,
            token: self
                .settings()
                .env
                .forge_token
                .clone()
                .or_else(|| config.token.clone()),
            force: repo.force,
            work_dir: self.settings().cache_dir.join("publish-v1"),
            allow_insecure: false,
            ..PrOptions::default()
        })
    }

    /// Opens the pull request; the edit re-applies the addition to the registry as it is on the
    /// base branch then, and checks the result.
    fn open_pr(
        &self,
        options: &PrOptions,
        change: &PrChange,
        addition: Addition,
    ) -> Result<PrOutcome, Error> {
        let name = format!("{}:{}", options.repository, options.registry_path);
        let edit = move |old: &[u8]| -> Result<Vec<u8>, String> {
            let new = edit::apply(old, &addition).map_err(|e| e.to_string())?;
            checked(old, &new, &name, None).map_err(|e| {
                let mut text = e.to_string();
                if let Some(source) = std::error::Error::source(&e) {
                    text.push_str(&format!(": {source}"));
                }
                text
            })?;
            Ok(new)
        };
        self.block_on(super::pr::open_pull_request(options, change, &edit))
            .map_err(PublishError::from)
            .context(|| "cannot open the pull request".to_string())
    }

    /// Merges the entry file `entry` (as a dry run's JSON prints it) into the registry file
    /// `file`, keeping its formatting, and checks the result; returns the entry's ID and the
    /// check's report.
    pub fn registry_add(
        &self,
        entry: &Path,
        file: &Path,
        force: bool,
        warn: &dyn Fn(&str),
    ) -> Result<(String, crate::registry::Report), Error> {
        let addition = read_entry_file(entry, force)?;
        let target = read_registry_file(file)?;
        let (name, base) = (target.name(), target.base());
        let old = target.bytes();
        let new = edit::apply(old, &addition)
            .map_err(PublishError::from)
            .context(|| format!("cannot add `{}` to `{name}`", addition.id))?;
        let warnings = checked(old, &new, &name, base.clone())
            .context(|| format!("`{}` was not added", addition.id))?;
        for w in &warnings {
            warn(w);
        }
        write_atomic(file, &new)?;
        Ok((addition.id, check_document(&new, &name, base)))
    }

    /// Proposes the entry file `entry` as a pull request against `repo`.
    pub fn registry_pr(
        &self,
        entry: &Path,
        repo: &RepoOptions,
        note: &dyn Fn(&str),
    ) -> Result<PrOutcome, Error> {
        let addition = read_entry_file(entry, repo.force)?;
        let cid = addition
            .cid()
            .and_then(|c| crate::content::parse_cid(c).ok())
            .ok_or_else(|| {
                usage(format!(
                    "the entry in `{}` has no valid `cid`",
                    entry.display()
                ))
            })?;
        let options = self.pr_options(repo)?;
        let object = addition.entry.as_object().cloned().unwrap_or_default();
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        let meta = EntryMeta {
            description: text("description"),
            license: text("license"),
            metadata: object
                .get("metadata")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        };
        let profile = object
            .get("profile")
            .and_then(Value::as_str)
            .and_then(|p| p.parse().ok())
            .unwrap_or(Profile::UnixfsV1_2025);
        let facts = ContentFacts {
            cid,
            profile,
            size: object.get("size").and_then(Value::as_u64).unwrap_or(0),
            files: Vec::new(),
            sha256: None,
            skipped: Vec::new(),
        };
        let change = pr_change(&addition, &facts, &meta);
        let outcome = self.open_pr(&options, &change, addition)?;
        report_outcome(&outcome, note);
        Ok(outcome)
    }
}

fn read_registry_file(path: &Path) -> Result<RegistryTarget, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => edit::new_document().to_vec(),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    Ok(RegistryTarget::File {
        path: path.to_path_buf(),
        bytes,
    })
}

/// Checks the edited registry: errors that the old one did not have are fatal (each names its
/// entry and field); returns the new warnings.
fn checked(old: &[u8], new: &[u8], name: &str, base: Option<Url>) -> Result<Vec<String>, Error> {
    let before = check_document(old, name, base.clone());
    let after = check_document(new, name, base);
    let known: std::collections::HashSet<String> =
        before.findings.iter().map(|f| f.to_string()).collect();
    let fresh: Vec<String> = after
        .findings
        .iter()
        .map(|f| f.to_string())
        .filter(|f| !known.contains(f))
        .collect();
    let errors: Vec<&String> = fresh.iter().filter(|f| f.starts_with("error")).collect();
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        return Err(Error::msg(
            ErrorKind::Registry,
            format!(
                "the registry would not pass `trove registry check`:\n{}",
                list.join("\n")
            ),
        ));
    }
    Ok(fresh
        .into_iter()
        .filter_map(|f| f.strip_prefix("warning: ").map(str::to_string))
        .collect())
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, synced, renamed).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = crate::output::folder_of(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .map_err(|e| Error::io("write", path, e.error))?;
    Ok(())
}

/// The pull request's title, body and commit message.
fn pr_change(addition: &Addition, facts: &ContentFacts, meta: &EntryMeta) -> PrChange {
    let id = &addition.id;
    let version = addition.version().unwrap_or("1");
    let title = if addition.add_version {
        format!("Add {id} version {version} ({})", facts.cid)
    } else {
        format!("Add {id} ({})", facts.cid)
    };
    let mut body = format!(
        "{}\n\n| | |\n|---|---|\n| ID | `{id}` |\n| version | `{version}` |\n| CID | `{}` |\n| size | {} bytes |\n| profile | `{}` |\n",
        meta.description.as_deref().unwrap_or("(no description)"),
        facts.cid,
        facts.size,
        facts.profile
    );
    if let Some(l) = &meta.license {
        body.push_str(&format!("| license | `{l}` |\n"));
    }
    if !addition.aliases.is_empty() {
        body.push_str(&format!("| aliases | {} |\n", addition.aliases.join(", ")));
    }
    if !meta.metadata.is_empty() {
        body.push_str(&format!(
            "\nMetadata:\n\n```json\n{}\n```\n",
            serde_json::to_string_pretty(&meta.metadata).unwrap_or_default()
        ));
    }
    body.push_str(&format!(
        "\nVerify: `trove add -Q --only-hash --profile {} PATH` prints `{}`; the entry passes `trove registry check`.\n\nOpened by `trove publish`.\n",
        facts.profile, facts.cid
    ));
    PrChange {
        id: id.clone(),
        commit_message: format!(
            "{title}\n\nsize {} bytes, profile {}",
            facts.size, facts.profile
        ),
        title,
        body,
    }
}

/// Says what a pull request attempt did.
fn report_outcome(outcome: &PrOutcome, note: &dyn Fn(&str)) {
    match outcome {
        PrOutcome::Opened { url, number, .. } => {
            note(&format!("opened pull request #{number}: {url}"))
        }
        PrOutcome::Pushed { branch, remote } => note(&format!(
            "pushed branch `{branch}` to `{remote}`; open the pull request from it"
        )),
        PrOutcome::ManualSteps {
            branch,
            steps,
            compare_url,
        } => {
            note(&format!(
                "the change is committed on branch `{branch}`; to propose it:\n{steps}"
            ));
            if let Some(url) = compare_url {
                note(&format!("compare: {url}"));
            }
        }
    }
}

fn outcome_json(outcome: &PrOutcome) -> Value {
    match outcome {
        PrOutcome::Opened {
            url,
            number,
            branch,
            fork,
        } => json!({"opened": true, "url": url, "number": number, "branch": branch, "fork": fork}),
        PrOutcome::Pushed { branch, remote } => {
            json!({"opened": false, "branch": branch, "remote": remote})
        }
        PrOutcome::ManualSteps {
            branch,
            steps,
            compare_url,
        } => json!({"opened": false, "branch": branch, "steps": steps, "compare_url": compare_url}),
    }
}

/// An entry file as a dry run's JSON prints it (`id`, `entry`, and optionally `add_version`
/// and `aliases`), or `{"ID": {entry}}`.
fn read_entry_file(path: &Path, force: bool) -> Result<Addition, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| usage(format!("`{}` is not valid JSON: {e}", path.display())))?;
    let Value::Object(object) = value else {
        return Err(usage(format!("`{}` is not a JSON object", path.display())));
    };
    let (id, entry, add_version, aliases) = match (object.get("id"), object.get("entry")) {
        (Some(Value::String(id)), Some(entry)) => (
            id.clone(),
            entry.clone(),
            object
                .get("add_version")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            object
                .get("aliases")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ if object.len() == 1 => {
            let (id, entry) = object.into_iter().next().expect("one key");
            (id, entry, false, Vec::new())
        }
        _ => {
            return Err(usage(format!(
                "`{}` is not an entry file: expected `{{\"id\": …, \"entry\": {{…}}}}` (as `trove publish --dry-run --json` prints) or `{{\"ID\": {{…}}}}`",
                path.display()
            )))
        }
    };
    if !entry.is_object() {
        return Err(usage(format!(
            "the entry in `{}` is not a JSON object",
            path.display()
        )));
    }
    Ok(Addition {
        id,
        entry,
        add_version,
        aliases,
        force,
    })
}
