//! The library's front door: [`Client`], which every front end uses — the `trove` command, the
//! Python package, services — so they all resolve settings, registries and content the same
//! way.
//!
//! - [`settings`]: explicit options > environment variables > config file > defaults.
//! - [`session`]: one fetching operation (local CAR mirrors first, then the sources, built only
//!   when something is missing; extraction overlapped with the fetch).
//! - [`sources`]: building the tiers, finding (or starting) the local daemon.
//! - [`snapshot`]: verified read-only trees in the cache, the warm path of [`Client::get`].
//!
//! A `Client` owns one tokio runtime (one per process is enough: sessions on several threads
//! share it), the block store and the snapshots of one cache, and a [`Reporter`] that receives
//! progress; it never prints.

pub mod bundle;
pub mod cache;
pub mod diff;
pub mod install;
pub mod outputs;
pub mod reachable;
#[cfg(feature = "server")]
pub mod serve;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod sources;
pub mod upstream;

pub use session::{Completed, Extra, Session};
pub use settings::{FetchSettings, Options, Settings};
pub use snapshot::{Mismatch, Snapshot, Snapshots};

use crate::content::Cid;
use crate::error::{Error, ErrorKind, ResultExt};
use crate::extract::ExtractOptions;
use crate::output::CopySummary;
use crate::progress::{Reporter, Silent};
use crate::registry::{Entry, Filter, RegistrySet, Resolved};
use crate::store::{FsStore, FsStoreOptions};
use crate::target::{parse_target, Target};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a target names once resolved: content by CID (and path), or a registry 2.0 entry's
/// repository files.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The CID and path to fetch; `None` for a 2.0 entry (repository files checked by sha256).
    pub target: Option<Target>,
    /// The registry's answer, when an ID was given.
    pub entry: Option<Resolved>,
    /// What to call the content where it is written (the ID, the file name, or the CID).
    pub name: String,
    /// Mirrors the registry entry lists.
    pub extra: Extra,
    /// The sha256 the registry records for the selected file.
    pub expected_sha256: Option<String>,
}

/// An entry as listed: the registry it is in, and the entry.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The registry's name.
    pub registry: String,
    /// The entry.
    pub entry: Entry,
}

/// Where [`Client::materialize`] put the content, and what it fetched.
#[derive(Debug, Clone)]
pub struct Got {
    /// The snapshot.
    pub path: PathBuf,
    /// The content's CID (`None` for a registry 2.0 entry's repository files).
    pub cid: Option<Cid>,
    /// What had to be fetched (`None`: the cache had it all).
    pub fetched: Option<crate::fetch::FetchReport>,
}

impl Listed {
    fn of(registry: &crate::registry::Registry, entry: &Entry) -> Self {
        Listed {
            registry: registry.name.clone(),
            entry: entry.clone(),
        }
    }
}

/// What [`Client::get_to`] wrote.
#[derive(Debug, Clone)]
pub struct GetReport {
    /// The snapshot it was copied from.
    pub snapshot: PathBuf,
    /// Files and bytes written.
    pub copied: CopySummary,
}

/// What [`Client::verify`] found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The content's CID.
    pub cid: Cid,
    /// Blocks read and re-hashed.
    pub blocks: u64,
    /// Blocks the cache lacks (the first few), when the content is incomplete.
    pub missing: Vec<Cid>,
    /// How many blocks are missing (below the ones that are present).
    pub missing_count: u64,
    /// The snapshots of the content that were compared with it.
    pub snapshots: Vec<PathBuf>,
    /// How they differ from it (empty: intact).
    pub mismatches: Vec<Mismatch>,
}

impl VerifyReport {
    /// Whether the content is complete, every block matches its CID and every snapshot its
    /// content.
    pub fn is_intact(&self) -> bool {
        self.missing_count == 0 && self.mismatches.is_empty()
    }
}

/// The front door: settings, one cache, one runtime, a reporter.
pub struct Client {
    settings: Settings,
    store: Arc<FsStore>,
    snapshots: Snapshots,
    runtime: tokio::runtime::Runtime,
    reporter: Arc<dyn Reporter>,
    /// Cancels the operations in flight (see [`Client::cancel`]).
    cancel: std::sync::Mutex<tokio_util::sync::CancellationToken>,
    /// Registry reads asked for by [`Client::with_registry_refresh`]: (refresh, unconditional).
    registry_refresh: std::sync::Mutex<Option<(bool, bool)>>,
}

impl Client {
    /// A client with `options`, resolved against this process's environment and config file.
    pub fn new(options: &Options) -> Result<Client, Error> {
        Client::with_settings(Settings::from_environment(options)?)
    }

    /// A client with resolved settings.
    pub fn with_settings(settings: Settings) -> Result<Client, Error> {
        let store = FsStore::open_with(
            &settings.cache_dir,
            FsStoreOptions {
                trust_own_writes: true,
                ..FsStoreOptions::default()
            },
        )
        .context(|| {
            format!(
                "cannot open the cache at `{}`",
                settings.cache_dir.display()
            )
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the async runtime for", &settings.cache_dir, e))?;
        Ok(Client {
            snapshots: Snapshots::new(&settings.cache_dir),
            store: Arc::new(store),
            settings,
            runtime,
            reporter: Arc::new(Silent),
            cancel: std::sync::Mutex::default(),
            registry_refresh: std::sync::Mutex::default(),
        })
    }

    /// The same client reporting progress to `reporter`.
    pub fn with_reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The block store.
    pub fn store(&self) -> &Arc<FsStore> {
        &self.store
    }

    /// The snapshots.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// The reporter.
    pub fn reporter(&self) -> &Arc<dyn Reporter> {
        &self.reporter
    }

    /// Runs a future on the client's runtime (callable from any thread but the runtime's own).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Runs `future` on the client's runtime in the background.
    pub fn spawn<F>(&self, future: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(future);
    }

    /// Runs a future on the client's runtime unless `token` is cancelled first (`None`).
    pub fn block_on_until<F: std::future::Future>(
        &self,
        token: &tokio_util::sync::CancellationToken,
        future: F,
    ) -> Option<F::Output> {
        self.runtime.block_on(async {
            tokio::select! {
                out = future => Some(out),
                () = token.cancelled() => None,
            }
        })
    }

    /// Runs a fallible future unless the operations in flight are cancelled first
    /// ([`Error::Cancelled`]).
    pub fn run<T, E: Into<Error>>(
        &self,
        future: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Error> {
        match self.block_on_until(&self.cancel_token(), future) {
            Some(result) => result.map_err(Into::into),
            None => Err(Error::Cancelled),
        }
    }

    /// Cancels every operation in flight (a fetch stops, nothing half-written is left; the
    /// operation fails with [`Error::Cancelled`]). Operations started afterwards run normally.
    pub fn cancel(&self) {
        let mut token = self.cancel.lock().expect("cancel lock");
        token.cancel();
        *token = tokio_util::sync::CancellationToken::new();
    }

    /// The token the operations starting now are cancelled with.
    pub fn cancel_token(&self) -> tokio_util::sync::CancellationToken {
        self.cancel.lock().expect("cancel lock").clone()
    }

    /// A fetching session reporting to the client's reporter.
    pub fn session(&self) -> Session<'_> {
        Session::new(self, self.reporter.clone())
    }

    /// Loads the configured registries (cached copies within their TTL need no network;
    /// warnings go to the reporter).
    pub fn registries(&self) -> Result<RegistrySet, Error> {
        self.load_registries(&self.settings.registries)
            .map(|(set, _)| set)
    }

    /// Loads the registries `texts` names (paths, URLs, `owner/repo[@ref]`) in search order,
    /// with the copy of each that was read. One that cannot be loaded is skipped with a
    /// warning when others load; the call fails only when none does.
    pub fn load_registries(
        &self,
        texts: &[String],
    ) -> Result<(RegistrySet, Vec<crate::project::LockedRegistry>), Error> {
        let sources = self.settings.parse_registries(texts)?;
        let mut options = self.settings.registry_options();
        if let Some((refresh, unconditional)) = *self.registry_refresh.lock().expect("lock") {
            options.refresh |= refresh;
            options.unconditional |= unconditional;
        }
        let client = crate::registry::Client::new(options)?;
        let mut set = RegistrySet::default();
        let mut read = Vec::new();
        let mut failed = Vec::new();
        for (text, source) in texts.iter().zip(&sources) {
            let loaded = match self.run(client.load(source)) {
                Ok(loaded) => loaded,
                Err(e) => {
                    failed.push((source.to_string(), e));
                    continue;
                }
            };
            for w in &loaded.warnings {
                self.reporter.report(crate::progress::Event::Warning {
                    message: &w.to_string(),
                });
            }
            read.push(crate::project::LockedRegistry {
                source: text.clone(),
                revision: loaded.revision,
            });
            set.registries.push(loaded.registry);
        }
        if set.registries.is_empty() && !failed.is_empty() {
            // Said once, as the error.
            return Err(failed.swap_remove(0).1);
        }
        for (source, e) in &failed {
            self.reporter.report(crate::progress::Event::Warning {
                message: &format!("registry `{source}` skipped: {e}"),
            });
        }
        Ok((set, read))
    }

    /// Runs `f` with every registry asked again (`If-None-Match`, even within the TTL), or,
    /// with `whole`, read whole whatever its ETag says: a service's polls and hard refreshes.
    pub fn with_registry_refresh<T>(&self, whole: bool, f: impl FnOnce() -> T) -> T {
        *self.registry_refresh.lock().expect("lock") = Some((true, whole));
        let out = f();
        *self.registry_refresh.lock().expect("lock") = None;
        out
    }

    /// The records of the outputs trove wrote with this cache.
    pub fn outputs(&self) -> outputs::Outputs {
        outputs::Outputs::new(&self.settings.cache_dir)
    }

    /// Copies the snapshot `got` (of `resolution`, asked for as `target`) to `output` with the
    /// rules of [`crate::output::copy_out`], and records the output (for `status`/`verify`).
    pub fn write_output(
        &self,
        target: &str,
        resolution: &Resolution,
        got: &Got,
        output: &Path,
        force: bool,
    ) -> Result<CopySummary, Error> {
        let copied = crate::output::copy_out(&got.path, output, force)
            .context(|| format!("cannot write `{target}` to `{}`", output.display()))?;
        if let Some(cid) = got.cid {
            let path = std::path::absolute(output).map_err(|e| Error::io("resolve", output, e))?;
            let entry = resolution.entry.as_ref();
            self.outputs().put(&outputs::OutputRecord {
                fingerprint: outputs::fingerprint(&path).unwrap_or_default(),
                path,
                cid: cid.to_string(),
                target: target.to_string(),
                id: entry.map(|e| e.id.clone()),
                version: entry.map(|e| e.version.clone()),
                profile: entry.and_then(|e| e.profile).map(|p| p.name().to_string()),
                written_at: outputs::now_secs(),
            })?;
        }
        Ok(copied)
    }

    /// Resolves `text`: a CID (`CID`, `CID/path`, `/ipfs/…`, `ipfs://…`) as it is, anything
    /// else as `ID[@version|@alias][/file]` through the registries. Nothing is fetched.
    pub fn resolve(&self, text: &str) -> Result<Resolution, Error> {
        let cid_error = match parse_target(text) {
            Ok(target) => {
                return Ok(Resolution {
                    name: target.default_name(),
                    target: Some(target),
                    entry: None,
                    extra: Extra::default(),
                    expected_sha256: None,
                })
            }
            Err(e) => e,
        };
        // Text shaped like a CID that does not parse is a mistyped CID, unless a registry has an
        // entry of that name: then the CID error is the one worth showing.
        let cid_shaped = text.starts_with("Qm") || text.starts_with("baf");
        let set = match self.registries() {
            Ok(set) => set,
            Err(_) if cid_shaped => return Err(cid_error.into()),
            Err(e) if !looks_like_id(text) => {
                return Err(Error::from(cid_error).context(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        let resolved = match set.resolve(text) {
            Ok(resolved) => resolved,
            Err(_) if cid_shaped => return Err(cid_error.into()),
            Err(e) => return Err(e.into()),
        };
        Ok(resolution_of(resolved))
    }

    /// Makes the content `text` names available and returns its path: a verified, read-only
    /// snapshot in the cache (see [`snapshot`]). A warm call finds the snapshot and does no
    /// copying and no network; a cold one fetches what the cache lacks and writes the snapshot
    /// while the blocks arrive.
    pub fn get(&self, text: &str) -> Result<PathBuf, Error> {
        let resolution = self.resolve(text)?;
        self.materialize(&resolution)
            .map(|got| got.path)
            .context(|| format!("cannot get `{text}`"))
    }

    /// [`Client::get`], then the snapshot copied to `output` (the fastest safe way the
    /// filesystem offers: a reflink, else an in-kernel copy), atomically. A folder already at
    /// `output` is an error unless `force`; then the copy replaces it in one rename.
    pub fn get_to(&self, text: &str, output: &Path, force: bool) -> Result<GetReport, Error> {
        crate::output::check_output(output, force)?;
        let resolution = self.resolve(text)?;
        let got = self
            .materialize(&resolution)
            .context(|| format!("cannot get `{text}`"))?;
        let copied = self.write_output(text, &resolution, &got, output, force)?;
        Ok(GetReport {
            snapshot: got.path,
            copied,
        })
    }

    /// The snapshot of what `resolution` names, made when it is not there yet.
    pub fn materialize(&self, resolution: &Resolution) -> Result<Got, Error> {
        self.materialize_with(resolution, self.reporter.clone())
    }

    /// [`Client::materialize`] of content that has a CID (not a registry 2.0 entry's
    /// repository files); `what` says what the CID is needed for (`export`, `compare`).
    pub fn materialize_cid(
        &self,
        text: &str,
        resolution: &Resolution,
        what: &str,
    ) -> Result<(Got, Cid), Error> {
        let got = self.materialize(resolution)?;
        let cid = got.cid.ok_or_else(|| {
            Error::msg(
                ErrorKind::Usage,
                format!(
                    "`{text}` is a registry 2.0 entry (repository files): it has no CID to {what}"
                ),
            )
        })?;
        Ok((got, cid))
    }

    /// [`Client::materialize`], reporting this fetch's progress to `reporter`.
    pub fn materialize_with(
        &self,
        resolution: &Resolution,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Got, Error> {
        let Some(target) = &resolution.target else {
            let entry = resolution
                .entry
                .as_ref()
                .expect("a 2.0 entry came from a registry");
            return Ok(Got {
                path: self.repo_files_snapshot(entry)?,
                cid: None,
                fetched: None,
            });
        };
        // The warm path: a CID without a path names the content itself.
        if target.path.is_empty() {
            if let Some(path) = self.snapshots.find(&target.cid, &resolution.name) {
                return Ok(Got {
                    path,
                    cid: Some(target.cid),
                    fetched: None,
                });
            }
        }
        let session = Session::new(self, reporter);
        let read_only = ExtractOptions {
            replace: false,
            read_only: true,
        };
        // With a recorded sha256 nothing is written before the bytes are checked; otherwise the
        // snapshot is written while the blocks arrive.
        let overlap = resolution.expected_sha256.is_none();
        let name = &resolution.name;
        let done = session.complete_with(target, &resolution.extra, |cid| {
            if self.snapshots.find(cid, name).is_some() {
                return Ok(session::Destination::Skip);
            }
            if !overlap {
                return Ok(session::Destination::Store);
            }
            Ok(session::Destination::Write(
                self.prepare_snapshot(cid, name)?,
                read_only,
            ))
        })?;
        let got = |path: PathBuf| Got {
            path,
            cid: Some(done.cid),
            fetched: done.fetched.clone(),
        };
        let path = self.snapshots.path(&done.cid, name);
        if done.written.is_some() || path.symlink_metadata().is_ok() {
            return Ok(got(path));
        }
        // Nothing had to be fetched (or a sha256 is to be checked first): written from the
        // store.
        self.prepare_snapshot(&done.cid, name)?;
        match session.write_out(
            &done.cid,
            &path,
            resolution.expected_sha256.as_deref(),
            read_only,
        ) {
            Ok(_) => Ok(got(path)),
            // Another process finished the same snapshot first.
            Err(_) if path.symlink_metadata().is_ok() => Ok(got(path)),
            Err(e) => Err(e),
        }
    }

    fn prepare_snapshot(&self, cid: &Cid, name: &str) -> Result<PathBuf, Error> {
        crate::unixfs::check_entry_name(name).map_err(|e| {
            Error::msg(
                ErrorKind::Usage,
                format!("cannot name a snapshot `{name}`: {e}"),
            )
        })?;
        self.snapshots
            .prepare(cid, name)
            .map_err(|e| Error::io("create", self.snapshots.root(), e))
    }

    /// A registry 2.0 entry's repository files, each checked by sha256, as a snapshot folder
    /// named by the files' digests (`snapshots-v1/sha256-…/<id>`).
    fn repo_files_snapshot(&self, resolved: &Resolved) -> Result<PathBuf, Error> {
        use sha2::Digest;
        if resolved.repo_files.is_empty() {
            return Err(Error::msg(
                ErrorKind::Registry,
                format!("`{}` has neither a CID nor repository files", resolved.id),
            ));
        }
        let mut digest = sha2::Sha256::new();
        for file in &resolved.repo_files {
            digest.update(format!("{}\0{}\n", file.name, file.sha256));
        }
        let key: String = digest.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let path = self
            .snapshots
            .root()
            .join(format!("sha256-{key}"))
            .join(&resolved.id);
        if path.symlink_metadata().is_ok() {
            return Ok(path);
        }
        let parent = crate::output::folder_of(&path);
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        self.write_repo_files(
            resolved,
            &path,
            ExtractOptions {
                replace: false,
                read_only: true,
            },
        )?;
        Ok(path)
    }

    /// Downloads a 2.0 entry's files (sha256-checked by the registry client) into a new folder
    /// `out`, which appears only once every file is there.
    pub fn write_repo_files(
        &self,
        resolved: &Resolved,
        out: &Path,
        options: ExtractOptions,
    ) -> Result<usize, Error> {
        if out.symlink_metadata().is_ok() && !options.replace {
            return Err(crate::output::OutputError::Exists {
                path: out.to_path_buf(),
            }
            .into());
        }
        let client = crate::registry::Client::new(self.settings.registry_options())?;
        let parent = crate::output::folder_of(out);
        let staging = crate::output::staging_dir(parent)
            .map_err(|e| Error::io("create a temporary folder in", parent, e))?;
        let staged = staging.path().join("content");
        std::fs::create_dir(&staged).map_err(|e| Error::io("create", &staged, e))?;
        for file in &resolved.repo_files {
            crate::unixfs::check_entry_name(&file.name).map_err(|e| {
                Error::msg(
                    ErrorKind::Registry,
                    format!("registry entry `{}`: {e}", resolved.id),
                )
            })?;
            let bytes = self
                .run(client.fetch_repo_file(file))
                .context(|| format!("cannot fetch `{}` of `{}`", file.name, resolved.id))?;
            let path = staged.join(&file.name);
            std::fs::write(&path, bytes).map_err(|e| Error::io("write", &path, e))?;
        }
        if options.read_only {
            crate::output::make_read_only(&staged)?;
        }
        match crate::output::place(&staged, out, options.replace) {
            Ok(()) => Ok(resolved.repo_files.len()),
            Err(_) if options.read_only && out.symlink_metadata().is_ok() => {
                Ok(resolved.repo_files.len())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Imports the file or folder at `path` into the cache with `params` (Kubo-identical CIDs
    /// for each profile) and keeps its root through gc; returns its CID.
    pub fn add(&self, path: &Path, params: &crate::unixfs::ImportParams) -> Result<Cid, Error> {
        let root = crate::import::import_path(path, params, &*self.store, &*self.reporter)
            .context(|| format!("cannot import `{}`", path.display()))?;
        self.store
            .keep_root(&root.cid, &format!("add {}", path.display()))?;
        Ok(root.cid)
    }

    /// Makes the content `text` names complete in the cache (fetching what is missing) and
    /// keeps it through gc; returns its CID.
    pub fn pin(&self, text: &str) -> Result<Cid, Error> {
        self.pin_resolution(&self.resolve(text)?, text)
    }

    /// [`Client::pin`] of what `text` was already resolved to.
    pub fn pin_resolution(&self, resolution: &Resolution, text: &str) -> Result<Cid, Error> {
        let target = resolution.target.as_ref().ok_or_else(|| {
            Error::msg(
                ErrorKind::Usage,
                format!(
                    "`{text}` is a registry 2.0 entry (repository files): it has no CID to pin"
                ),
            )
        })?;
        let cid = self
            .session()
            .complete(target, &resolution.extra)
            .context(|| format!("cannot pin `{text}`"))?;
        self.store.keep_root(&cid, text)?;
        Ok(cid)
    }

    /// The entries of every registry that pass `filter` (retracted ones left out unless asked).
    pub fn list(&self, filter: &Filter) -> Result<Vec<Listed>, Error> {
        let set = self.registries()?;
        Ok(set
            .list(filter)
            .into_iter()
            .map(|(r, e)| Listed::of(r, e))
            .collect())
    }

    /// The entries whose ID, description, tags or metadata match `text`, best first.
    pub fn search(&self, text: &str) -> Result<Vec<Listed>, Error> {
        let set = self.registries()?;
        Ok(set
            .search(text)
            .into_iter()
            .map(|(r, hit)| Listed::of(r, hit.entry))
            .collect())
    }

    /// The entry `id` (with `@version` or `/file` ignored for the lookup).
    pub fn info(&self, id: &str) -> Result<Listed, Error> {
        let set = self.registries()?;
        let resolved = set.resolve(id)?;
        set.find(&resolved.id)
            .map(|(r, e)| Listed::of(r, e))
            .ok_or_else(|| {
                Error::msg(
                    ErrorKind::NotFound,
                    format!("no entry `{}` in the registries", resolved.id),
                )
            })
    }

    /// Checks the content `text` names in this cache, without any network: every block is read
    /// and re-hashed against its CID, the DAG is walked for missing blocks, and every snapshot
    /// of it is compared with it byte for byte.
    pub fn verify(&self, text: &str) -> Result<VerifyReport, Error> {
        let resolution = self.resolve(text)?;
        let Some(target) = &resolution.target else {
            return Err(Error::msg(
                ErrorKind::Usage,
                format!(
                    "`{text}` is a registry 2.0 entry (repository files): it has no CID to verify"
                ),
            ));
        };
        let reader = crate::unixfs::Reader::new(&*self.store);
        let cid = reader
            .resolve(&target.cid, &target.path)
            .context(|| format!("cannot verify `{text}`"))?;
        let status = crate::car::check_dag(&*self.store, &cid)
            .context(|| format!("cannot verify `{text}`"))?;
        let mut report = VerifyReport {
            cid,
            blocks: status.blocks,
            missing: status.first_missing.clone(),
            missing_count: status.missing,
            snapshots: Vec::new(),
            mismatches: Vec::new(),
        };
        if status.is_complete() {
            let snapshots = self
                .snapshots
                .list()
                .map_err(|e| Error::io("list", self.snapshots.root(), e))?;
            for snapshot in snapshots.into_iter().filter(|s| s.cid == cid) {
                report
                    .mismatches
                    .extend(snapshot::compare(&reader, &cid, &snapshot.path)?);
                report.snapshots.push(snapshot.path);
            }
        }
        Ok(report)
    }
}

/// What a registry answer asks to fetch.
pub fn resolution_of(resolved: Resolved) -> Resolution {
    let target = resolved.target();
    let name = match &target {
        Some(t) if !resolved.path.is_empty() => t.default_name(),
        _ => resolved.id.clone(),
    };
    Resolution {
        target,
        name,
        extra: Extra::from_resolved(&resolved),
        expected_sha256: resolved.sha256.clone(),
        entry: Some(resolved),
    }
}

/// Whether the text is shaped like a registry ID rather than a mistyped CID.
fn looks_like_id(text: &str) -> bool {
    let id = text.split(['@', '/']).next().unwrap_or("");
    id.contains('_') || id.contains('-') || id.len() < 20
}
