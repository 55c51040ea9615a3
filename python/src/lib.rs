//! `trove._trove`: the Python binding of [`trove::Client`] (PyO3). The Python package
//! (`python/trove/`) is a thin layer over it: keyword arguments, `pathlib.Path`, tqdm.
//!
//! - Every call that may touch the disk or the network runs on a worker thread while this one
//!   waits without the GIL, checking for signals every 50 ms: Ctrl-C cancels the operation
//!   ([`trove::Client::cancel`]: the fetch stops, nothing half-written is left) and raises
//!   `KeyboardInterrupt` once the worker is done.
//! - Errors become `trove.TroveError` or the subclass their kind says (`NotFound`,
//!   `OfflineError`, `VerificationError`, `RegistryError`), with `.hint` and `.kind`.
//! - Progress goes to a Python callable `(bytes, blocks)`, at most ten times a second.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trove::progress::{Event, Reporter};
use trove::{ErrorKind, Hint};

create_exception!(
    _trove,
    TroveError,
    PyException,
    "Base class of trove's errors; `.hint` says what to do, `.kind` what failed."
);
create_exception!(
    _trove,
    NotFound,
    TroveError,
    "No such ID, version, alias or file; or content that no source has."
);
create_exception!(
    _trove,
    OfflineError,
    TroveError,
    "Offline, and the content (or the registry) is not in the cache."
);
create_exception!(
    _trove,
    VerificationError,
    TroveError,
    "Bytes that do not match the CID or the sha256 that names them."
);
create_exception!(
    _trove,
    RegistryError,
    TroveError,
    "A registry that cannot be read, parsed or trusted."
);

/// The Python exception for `error`.
fn to_pyerr(py: Python<'_>, error: trove::Error) -> PyErr {
    if error.is_cancelled() {
        return PyKeyboardInterrupt::new_err("cancelled");
    }
    let text = trove::error::chain(&error);
    let err = match error.kind() {
        ErrorKind::NotFound => NotFound::new_err(text),
        ErrorKind::Offline => OfflineError::new_err(text),
        ErrorKind::Integrity => VerificationError::new_err(text),
        ErrorKind::Registry => RegistryError::new_err(text),
        _ => TroveError::new_err(text),
    };
    let value = err.value(py);
    let _ = value.setattr("hint", error.hint());
    let _ = value.setattr("kind", error.kind().name());
    err
}

/// Runs `work` on a worker thread while this one waits without the GIL; Ctrl-C (any pending
/// signal handler raising) cancels the client's operations and is raised once the worker ends.
fn blocking<T: Send>(
    py: Python<'_>,
    client: &trove::Client,
    work: impl FnOnce(&trove::Client) -> Result<T, trove::Error> + Send,
) -> PyResult<T> {
    let outcome = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let worker = scope.spawn(move || {
            let result = work(client);
            let _ = tx.send(());
            result
        });
        let rx = Mutex::new(rx);
        let mut interrupted: Option<PyErr> = None;
        loop {
            let waited = py.detach(|| {
                rx.lock()
                    .expect("channel lock")
                    .recv_timeout(Duration::from_millis(50))
            });
            if !matches!(waited, Err(std::sync::mpsc::RecvTimeoutError::Timeout)) {
                break;
            }
            if interrupted.is_none() {
                if let Err(e) = py.check_signals() {
                    client.cancel();
                    interrupted = Some(e);
                }
            }
        }
        let result = py.detach(|| worker.join());
        (result, interrupted)
    });
    match outcome {
        (_, Some(interrupt)) => Err(interrupt),
        (Ok(result), None) => result.map_err(|e| to_pyerr(py, e)),
        (Err(_), None) => Err(TroveError::new_err("trove's worker thread panicked")),
    }
}

/// Calls a Python progress callback `(bytes, blocks)` at most every 100 ms (and once at the
/// end, from [`Client::get`]).
struct PyReporter {
    callback: Py<PyAny>,
    bytes: AtomicU64,
    blocks: AtomicU64,
    last: Mutex<Instant>,
}

impl PyReporter {
    fn call(&self) {
        let (bytes, blocks) = (
            self.bytes.load(Ordering::Relaxed),
            self.blocks.load(Ordering::Relaxed),
        );
        Python::attach(|py| {
            if let Err(e) = self.callback.call1(py, (bytes, blocks)) {
                e.write_unraisable(py, None);
            }
        });
    }
}

impl Reporter for PyReporter {
    fn report(&self, event: Event<'_>) {
        let size = match event {
            Event::Fetched { size, .. } | Event::BlockStored { size, .. } => size,
            _ => return,
        };
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.blocks.fetch_add(1, Ordering::Relaxed);
        let due = {
            let mut last = self.last.lock().expect("progress lock");
            let due = last.elapsed() >= Duration::from_millis(100);
            if due {
                *last = Instant::now();
            }
            due
        };
        if due {
            self.call();
        }
    }
}

/// A registry entry.
#[pyclass(module = "trove", frozen, get_all)]
struct Entry {
    /// The ID.
    id: String,
    /// The latest version's root CID (`None` for repository files).
    cid: Option<String>,
    /// One-line description.
    description: String,
    /// The registry it is in.
    registry: String,
    /// Scientific domain.
    domain: Option<String>,
    /// Model type.
    model_type: Option<String>,
    /// Tags.
    tags: Vec<String>,
    /// Licence.
    license: Option<String>,
    /// Version names, oldest first.
    versions: Vec<String>,
    /// The latest version's name.
    version: Option<String>,
    /// Alias → version.
    aliases: std::collections::BTreeMap<String, String>,
    /// The latest version's size in bytes, when recorded.
    size: Option<u64>,
    /// The whole entry as JSON.
    json: String,
}

#[pymethods]
impl Entry {
    /// The whole entry as a dict (every field the registry has).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (&self.json,))
    }

    fn __repr__(&self) -> String {
        format!(
            "Entry(id={:?}, version={:?}, cid={:?}, registry={:?})",
            self.id,
            self.version.as_deref().unwrap_or(""),
            self.cid.as_deref().unwrap_or(""),
            self.registry
        )
    }
}

impl From<trove::client::Listed> for Entry {
    fn from(listed: trove::client::Listed) -> Self {
        let e = listed.entry;
        let latest = e.latest().cloned();
        Entry {
            json: serde_json::to_string(&e).unwrap_or_default(),
            id: e.id,
            cid: latest.as_ref().and_then(|v| v.cid.clone()).or(e.cid),
            description: e.description,
            registry: listed.registry,
            domain: e.metadata.domain,
            model_type: e.metadata.model_type,
            tags: e.metadata.tags,
            license: e.license.or(e.metadata.license),
            versions: e.versions.iter().map(|v| v.version.clone()).collect(),
            version: latest.as_ref().map(|v| v.version.clone()),
            aliases: e.aliases,
            size: latest.and_then(|v| v.size),
        }
    }
}

/// A trove client: one cache, its settings, a runtime.
#[pyclass(module = "trove._trove", frozen)]
struct Client {
    inner: trove::Client,
}

fn sources(list: Vec<String>) -> PyResult<Vec<trove::fetch::SourceKind>> {
    trove::config::parse_sources("sources", &list).map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymethods]
impl Client {
    /// Resolves the settings: these arguments > environment variables > config file > defaults.
    #[new]
    #[pyo3(signature = (*, cache_dir=None, registries=None, offline=None, sources=None, gateways=None, peers=None, timeout=None, config=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        cache_dir: Option<PathBuf>,
        registries: Option<Vec<String>>,
        offline: Option<bool>,
        sources: Option<Vec<String>>,
        gateways: Option<Vec<String>>,
        peers: Option<Vec<String>>,
        timeout: Option<f64>,
        config: Option<PathBuf>,
    ) -> PyResult<Self> {
        let options = trove::Options {
            cache_dir,
            config_file: config,
            registries: registries.unwrap_or_default(),
            offline,
            sources: self::sources(sources.unwrap_or_default())?,
            gateways: gateways.unwrap_or_default(),
            peers: peers.unwrap_or_default(),
            timeout: match timeout {
                Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
                Some(t) => {
                    return Err(PyValueError::new_err(format!(
                        "timeout must be a positive number of seconds, not {t}"
                    )))
                }
                None => None,
            },
            ..trove::Options::default()
        };
        let inner = trove::Client::new(&options).map_err(|e| to_pyerr(py, e))?;
        Ok(Client { inner })
    }

    /// The content `target` names, as a read-only path in the cache (fetched and verified
    /// when not there yet); with `output`, copied there too and that path returned.
    #[pyo3(signature = (target, *, output=None, force=false, progress=None))]
    fn get(
        &self,
        py: Python<'_>,
        target: String,
        output: Option<PathBuf>,
        force: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PathBuf> {
        let reporter = progress.map(|callback| {
            Arc::new(PyReporter {
                callback,
                bytes: AtomicU64::new(0),
                blocks: AtomicU64::new(0),
                last: Mutex::new(Instant::now()),
            })
        });
        let result = blocking(py, &self.inner, |client| {
            let session_reporter: Arc<dyn Reporter> = match &reporter {
                Some(r) => r.clone(),
                None => client.reporter().clone(),
            };
            if let Some(out) = &output {
                // Refused before anything is fetched.
                trove::output::check_output(out, force)?;
            }
            let resolution = client.resolve(&target)?;
            let got = client
                .materialize_with(&resolution, session_reporter)
                .map_err(|e| e.context(format!("cannot get `{target}`")))?;
            match &output {
                None => Ok(got.path),
                Some(out) => {
                    trove::output::copy_out(&got.path, out, force).map_err(|e| {
                        trove::Error::from(e)
                            .context(format!("cannot write `{target}` to `{}`", out.display()))
                    })?;
                    Ok(out.clone())
                }
            }
        });
        if let Some(r) = &reporter {
            r.call();
        }
        result
    }

    /// What `target` names, without fetching: a dict with `cid`, `path`, `name`, and the
    /// registry's `id`, `version`, `registry`, `profile`, `size`, `sha256` when an ID was given.
    fn resolve<'py>(&self, py: Python<'py>, target: String) -> PyResult<Bound<'py, PyDict>> {
        let r = blocking(py, &self.inner, |client| client.resolve(&target))?;
        let out = PyDict::new(py);
        out.set_item("name", &r.name)?;
        out.set_item("cid", r.target.as_ref().map(|t| t.cid.to_string()))?;
        out.set_item("path", r.target.as_ref().map(|t| t.path.clone()))?;
        out.set_item("sha256", &r.expected_sha256)?;
        if let Some(e) = &r.entry {
            out.set_item("id", &e.id)?;
            out.set_item("version", &e.version)?;
            out.set_item("registry", &e.registry)?;
            out.set_item("profile", e.profile.map(|p| p.name()))?;
            out.set_item("size", e.size)?;
        }
        Ok(out)
    }

    /// Registry entries, optionally filtered.
    #[pyo3(signature = (*, domain=None, model_type=None, tags=None))]
    fn list(
        &self,
        py: Python<'_>,
        domain: Option<String>,
        model_type: Option<String>,
        tags: Option<Vec<String>>,
    ) -> PyResult<Vec<Entry>> {
        let filter = trove::registry::Filter {
            domain,
            model_type,
            tags: tags.unwrap_or_default(),
            include_retracted: false,
        };
        let listed = blocking(py, &self.inner, |client| client.list(&filter))?;
        Ok(listed.into_iter().map(Entry::from).collect())
    }

    /// Entries matching `text` (ID, description, tags, metadata), best first.
    fn search(&self, py: Python<'_>, text: String) -> PyResult<Vec<Entry>> {
        let listed = blocking(py, &self.inner, |client| client.search(&text))?;
        Ok(listed.into_iter().map(Entry::from).collect())
    }

    /// The entry `id`.
    fn info(&self, py: Python<'_>, id: String) -> PyResult<Entry> {
        blocking(py, &self.inner, |client| client.info(&id)).map(Entry::from)
    }

    /// Checks the cached content `target` names (blocks re-hashed, snapshots compared); a dict
    /// with `cid`, `intact`, `blocks`, `missing`, `problems`.
    fn verify<'py>(&self, py: Python<'py>, target: String) -> PyResult<Bound<'py, PyDict>> {
        let report = blocking(py, &self.inner, |client| client.verify(&target))?;
        let out = PyDict::new(py);
        out.set_item("cid", report.cid.to_string())?;
        out.set_item("intact", report.is_intact())?;
        out.set_item("blocks", report.blocks)?;
        out.set_item("missing", report.missing_count)?;
        out.set_item(
            "problems",
            report
                .mismatches
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )?;
        Ok(out)
    }

    /// Imports a file or folder into the cache (kept through gc); returns its CID.
    #[pyo3(signature = (path, *, profile="unixfs-v1-2025"))]
    fn add(&self, py: Python<'_>, path: PathBuf, profile: &str) -> PyResult<String> {
        let profile: trove::unixfs::Profile = profile
            .parse()
            .map_err(|e: String| PyValueError::new_err(e))?;
        blocking(py, &self.inner, |client| {
            client.add(&path, &profile.params())
        })
        .map(|cid| cid.to_string())
    }

    /// Makes the content complete in the cache and keeps it through gc; returns its CID.
    fn pin(&self, py: Python<'_>, target: String) -> PyResult<String> {
        blocking(py, &self.inner, |client| client.pin(&target)).map(|cid| cid.to_string())
    }

    /// Publishes a file or folder; returns the report as a dict (see `trove publish --json`).
    #[pyo3(signature = (path, id, *, version=None, aliases=None, metadata=None, profile="unixfs-v1-2025", car=None, mirrors=None, daemon=None, pins=None, registry_file=None, force=false, dry_run=false))]
    #[allow(clippy::too_many_arguments)]
    fn publish<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        id: String,
        version: Option<String>,
        aliases: Option<Vec<String>>,
        metadata: Option<String>,
        profile: &str,
        car: Option<PathBuf>,
        mirrors: Option<Vec<String>>,
        daemon: Option<bool>,
        pins: Option<Vec<String>>,
        registry_file: Option<PathBuf>,
        force: bool,
        dry_run: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        use trove::publish::flow::{DaemonChoice, PublishOptions, RegistryChange};
        let meta = match &metadata {
            Some(json) => trove::publish::entry::EntryMeta::from_json(json.as_bytes(), "metadata")
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
            None => Default::default(),
        };
        let options = PublishOptions {
            version,
            aliases: aliases.unwrap_or_default(),
            meta,
            profile: profile
                .parse()
                .map_err(|e: String| PyValueError::new_err(e))?,
            car,
            mirrors: mirrors.unwrap_or_default(),
            daemon: match daemon {
                None => DaemonChoice::IfRunning,
                Some(true) => DaemonChoice::Required,
                Some(false) => DaemonChoice::Off,
            },
            pins: pins.unwrap_or_default(),
            registry: registry_file.map_or(RegistryChange::None, RegistryChange::File),
            force,
            dry_run,
            ..PublishOptions::new(id)
        };
        let report = blocking(py, &self.inner, |client| {
            client.publish(&path, &options, &|_| {})
        })?;
        let json =
            serde_json::to_string(&report).map_err(|e| TroveError::new_err(e.to_string()))?;
        py.import("json")?.call_method1("loads", (json,))
    }

    /// The cache directory.
    #[getter]
    fn cache_dir(&self) -> PathBuf {
        self.inner.settings().cache_dir.clone()
    }

    /// The registries this client reads.
    #[getter]
    fn registries(&self) -> Vec<String> {
        self.inner.settings().registries.clone()
    }
}

/// Runs the `trove` command with `argv` (the console script); returns its exit code.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| trove::cli::main_with(argv))
}

/// The version of the Rust library.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _trove(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TroveError", py.get_type::<TroveError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("OfflineError", py.get_type::<OfflineError>())?;
    m.add("VerificationError", py.get_type::<VerificationError>())?;
    m.add("RegistryError", py.get_type::<RegistryError>())?;
    m.add_class::<Client>()?;
    m.add_class::<Entry>()?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
