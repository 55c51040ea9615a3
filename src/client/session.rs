//! One fetching operation: make a target complete in the store, from the registry entry's
//! local CARs first, then from the sources (built only when something is missing, so a warm or
//! offline get never touches the network), and write it out while the blocks arrive.

use super::sources::{self, MirrorSpec};
use super::Client;
use crate::content::Cid;
use crate::error::{Error, ErrorKind, ResultExt};
use crate::extract::{extract_with, ExtractOptions, ExtractSummary};
use crate::fetch::{frontier, DaemonHandle, FetchError, FetchReport, Fetcher};
use crate::progress::{Event, Reporter};
use crate::store::{Arrivals, BlockGetter};
use crate::target::Target;
use crate::unixfs::{ReadError, Reader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Places beyond the configured sources that one artifact can come from (its registry entry's
/// mirrors).
#[derive(Debug, Default, Clone)]
pub struct Extra {
    /// HTTP mirrors, with the profile the CID was made with.
    pub mirrors: Vec<MirrorSpec>,
    /// CAR files (or archives) on this machine (mirrors of a local registry): imported,
    /// verified, before any network source is asked, so a repository checkout works offline.
    pub local_cars: Vec<PathBuf>,
    /// The entry's root CID and import parameters: what a local archive must import to.
    pub local_root: Option<(Cid, Option<crate::unixfs::ImportParams>)>,
}

impl Extra {
    /// The mirrors of a resolved registry entry.
    pub fn from_resolved(resolved: &crate::registry::Resolved) -> Self {
        let params = resolved.profile.map(|p| p.params());
        let mut extra = Extra {
            local_root: resolved.cid.map(|cid| (cid, params)),
            ..Extra::default()
        };
        for url in &resolved.mirrors {
            if url.scheme() == "file" {
                if let Ok(path) = url.to_file_path() {
                    extra.local_cars.push(path);
                }
            } else {
                extra.mirrors.push(MirrorSpec {
                    url: url.to_string(),
                    params,
                });
            }
        }
        extra
    }
}

/// Where [`Session::complete_with`] puts the content once it knows the CID the target's path
/// leads to.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Nowhere: the caller already has it (a snapshot exists); nothing is fetched.
    Skip,
    /// Only into the store.
    Store,
    /// Into the store and, while the blocks arrive, to this path with these options.
    Write(PathBuf, ExtractOptions),
}

/// What [`Session::complete_into`] did.
#[derive(Debug, Default)]
pub struct Completed {
    /// The CID the target's path leads to.
    pub cid: Cid,
    /// What was written while the blocks arrived, when something had to be fetched and an
    /// output was given (otherwise the caller writes it from the store).
    pub written: Option<ExtractSummary>,
    /// What the fetch did, when something had to be fetched.
    pub fetched: Option<FetchReport>,
}

/// One fetching operation: the client's store, settings and runtime, a reporter, and (built
/// only when needed) the sources.
pub struct Session<'c> {
    client: &'c Client,
    reporter: Arc<dyn Reporter>,
    daemon: Mutex<Option<DaemonHandle>>,
    /// Blocks the fetcher stores, for an extraction running at the same time.
    arrivals: Arc<Arrivals>,
    /// Cancels this session's work (see [`Client::cancel`]).
    cancel: tokio_util::sync::CancellationToken,
}

impl<'c> Session<'c> {
    /// A session of `client` reporting to `reporter`.
    pub fn new(client: &'c Client, reporter: Arc<dyn Reporter>) -> Self {
        Session {
            client,
            reporter,
            daemon: Mutex::new(None),
            arrivals: Arc::default(),
            cancel: client.cancel_token(),
        }
    }

    /// Runs a fallible future unless the session is cancelled first.
    fn run<T, E: Into<Error>>(
        &self,
        future: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Error> {
        match self.client.block_on_until(&self.cancel, future) {
            Some(result) => result.map_err(Into::into),
            None => Err(Error::Cancelled),
        }
    }

    /// The client this session works for.
    pub fn client(&self) -> &'c Client {
        self.client
    }

    /// Makes `target` complete in the store, fetching the directories on its path and then its
    /// whole DAG when they are missing; returns the CID the path leads to.
    pub fn complete(&self, target: &Target, extra: &Extra) -> Result<Cid, Error> {
        self.complete_into(target, extra, None).map(|done| done.cid)
    }

    /// Follows `target`'s path to the CID it names, getting the directories on the way when
    /// they are missing: from the next of `local_cars` (imported, verified) while there is one,
    /// else from the sources (built on first use into `fetcher`).
    fn resolve(
        &self,
        target: &Target,
        extra: &Extra,
        fetcher: &mut Option<Fetcher>,
        local_cars: &mut std::slice::Iter<'_, PathBuf>,
    ) -> Result<Cid, Error> {
        let store = self.client.store();
        let reader = Reader::new(&**store);
        loop {
            match reader.resolve(&target.cid, &target.path) {
                Ok(cid) => return Ok(cid),
                Err(ReadError::MissingBlock(block)) => {
                    if let Some(car) = local_cars.next() {
                        self.import_local_car(car, extra);
                        continue;
                    }
                    let f = self.fetcher(fetcher, target, &extra.mirrors, &block)?;
                    self.run(f.fetch_block(&block))
                        .context(|| format!("cannot resolve `{target}`"))?;
                }
                Err(e) => return Err(e).context(|| format!("cannot resolve `{target}`")),
            }
        }
    }

    /// Makes bytes `offset..offset+length` of the file `target` readable from the store,
    /// fetching only the blocks they need: a range request (`entity-bytes`) to the sources that
    /// serve them, then block by block whatever is still missing. Returns the file's CID.
    pub fn complete_range(
        &self,
        target: &Target,
        offset: u64,
        length: Option<u64>,
    ) -> Result<Cid, Error> {
        let store = self.client.store();
        let reader = Reader::new(&**store);
        let mut fetcher: Option<Fetcher> = None;
        let cid = self.resolve(target, &Extra::default(), &mut fetcher, &mut [].iter())?;
        let to = match length {
            Some(0) => return Ok(cid),
            Some(n) => Some(offset.saturating_add(n - 1)),
            None => None,
        };
        let mut asked_range = false;
        loop {
            match reader.read_file(&cid, offset, length, &mut std::io::sink()) {
                Ok(_) => break,
                Err(ReadError::MissingBlock(block)) => {
                    let f = self.fetcher(&mut fetcher, target, &[], &block)?;
                    let step = if asked_range {
                        self.run(f.fetch_block(&block))
                    } else {
                        asked_range = true;
                        self.run(f.fetch_range(&cid, offset, to))
                    };
                    step.context(|| format!("cannot get bytes of `{target}`"))?;
                }
                Err(e) => return Err(e).context(|| format!("cannot read `{target}`")),
            }
        }
        Ok(cid)
    }

    /// [`Session::complete`], and when `out` is given and blocks must be fetched, the content
    /// is extracted into `out` (with those options) at the same time, reading each block as
    /// soon as it is stored.
    pub fn complete_into(
        &self,
        target: &Target,
        extra: &Extra,
        out: Option<(&Path, ExtractOptions)>,
    ) -> Result<Completed, Error> {
        self.complete_with(target, extra, |_| {
            Ok(match out {
                Some((path, options)) => Destination::Write(path.to_path_buf(), options),
                None => Destination::Store,
            })
        })
    }

    /// [`Session::complete_into`], with the destination chosen by `destination` once the CID
    /// the target's path leads to is known (after the directories on the way were fetched).
    pub fn complete_with(
        &self,
        target: &Target,
        extra: &Extra,
        destination: impl FnOnce(&Cid) -> Result<Destination, Error>,
    ) -> Result<Completed, Error> {
        let store = self.client.store();
        let mut fetcher: Option<Fetcher> = None;
        let mut local_cars = extra.local_cars.iter();
        let cid = self.resolve(target, extra, &mut fetcher, &mut local_cars)?;
        let out = match destination(&cid)? {
            Destination::Skip => {
                return Ok(Completed {
                    cid,
                    ..Completed::default()
                })
            }
            Destination::Store => None,
            Destination::Write(path, options) => Some((path, options)),
        };
        let mut missing = frontier(&**store, &cid)?;
        for car in local_cars {
            if missing.is_empty() {
                break;
            }
            self.import_local_car(car, extra);
            missing = frontier(&**store, &cid)?;
        }
        if missing.is_empty() {
            return Ok(Completed {
                cid,
                ..Completed::default()
            });
        }
        store.keep_root(&cid, &target.to_string())?;
        let f = self.fetcher(&mut fetcher, target, &extra.mirrors, &cid)?;
        let (report, written) = match &out {
            None => (self.fetch(f, &cid, missing), None),
            Some((path, options)) => {
                let (report, written) = self.fetch_and_extract(f, &cid, missing, path, *options);
                (report, Some((path, written)))
            }
        };
        match (report, written) {
            (Ok(_), Some((out, Err(e)))) => {
                Err(e).context(|| format!("cannot write `{cid}` into `{}`", out.display()))
            }
            // Everything was read and written, so the DAG is complete after all (a time-out
            // that fired at the very end, say).
            (Err(_), Some((_, Ok(summary)))) => Ok(Completed {
                cid,
                written: Some(summary),
                fetched: None,
            }),
            (Err(e), _) => Err(e).context(|| format!("cannot get `{target}`")),
            (Ok(report), written) => Ok(Completed {
                cid,
                written: written.and_then(|(_, w)| w.ok()),
                fetched: Some(report),
            }),
        }
    }

    /// Runs the fetch of what is `missing` under `cid` (the frontier the caller just walked)
    /// unless the session is cancelled first.
    fn fetch(
        &self,
        fetcher: &Fetcher,
        cid: &Cid,
        missing: Vec<Cid>,
    ) -> Result<FetchReport, FetchError> {
        self.client
            .block_on_until(&self.cancel, fetcher.fetch_missing(cid, missing))
            .unwrap_or(Err(FetchError::Cancelled))
    }

    /// Runs the fetch and, on another thread, the extraction into `out`, which waits for each
    /// block until it arrives (or until the fetch is over).
    fn fetch_and_extract(
        &self,
        fetcher: &Fetcher,
        cid: &Cid,
        missing: Vec<Cid>,
        out: &Path,
        options: ExtractOptions,
    ) -> (
        Result<FetchReport, FetchError>,
        Result<ExtractSummary, crate::extract::ExtractError>,
    ) {
        let arrivals = &*self.arrivals;
        let store = self.client.store();
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let getter = crate::store::WaitingGetter::new(&**store, arrivals);
                // Its own thread pool: waiting for a block must never occupy the shared rayon
                // pool, on which the fetcher verifies the very blocks being waited for.
                match rayon::ThreadPoolBuilder::new().num_threads(2).build() {
                    Ok(pool) => {
                        pool.install(|| extract_with(&Reader::new(&getter), cid, out, options))
                    }
                    Err(e) => Err(crate::extract::ExtractError::io(
                        "start a thread pool for",
                        out,
                        std::io::Error::other(e),
                    )),
                }
            });
            let report = self.fetch(fetcher, cid, missing);
            arrivals.finish();
            let written = writer.join().expect("the extracting thread panicked");
            (report, written)
        })
    }

    /// The fetcher, built on first use (sources are probed only when something is missing).
    fn fetcher<'f>(
        &self,
        slot: &'f mut Option<Fetcher>,
        target: &Target,
        mirrors: &[MirrorSpec],
        missing: &Cid,
    ) -> Result<&'f Fetcher, Error> {
        if slot.is_none() {
            let settings = &self.client.settings().fetch;
            let store = self.client.store();
            if settings.offline {
                let all = frontier(&**store, missing)?;
                return Err(Error::from(FetchError::Offline {
                    root: *missing,
                    missing: all.len().max(1),
                    first: all
                        .iter()
                        .take(5)
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .context(format!("cannot get `{target}`")));
            }
            let built = self.run(sources::build(
                settings,
                &self.client.settings().env,
                store,
                mirrors,
                &*self.reporter,
            ))?;
            *self.daemon.lock().expect("daemon lock") = built.daemon;
            let notifying = crate::store::NotifyingStore::new(store.clone(), self.arrivals.clone());
            *slot = Some(Fetcher::new(
                Arc::new(notifying),
                built.sources,
                settings.options.clone(),
                self.reporter.clone(),
            ));
        }
        Ok(slot.as_ref().expect("just built"))
    }

    /// Imports a CAR from this machine (a local registry's mirror): every block is verified
    /// before it is stored. A broken file is a warning: the other sources may still have it.
    fn import_local_car(&self, car: &Path, extra: &Extra) {
        let store = self.client.store();
        let result = if let Some(format) = crate::bundle::Format::from_path(car) {
            self.import_local_archive(car, format, extra)
        } else {
            std::fs::File::open(car)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    crate::car::import_car(std::io::BufReader::new(f), &**store)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
        };
        if let Err(e) = result {
            self.reporter.report(Event::Warning {
                message: &format!("local mirror `{}`: {e}", car.display()),
            });
        }
    }

    /// A local archive mirror: unpacked in the bundle sandbox, its content hashed with the
    /// entry's profile (or the one a trove export's manifest names) and stored only when the
    /// root is the entry's CID.
    fn import_local_archive(
        &self,
        path: &Path,
        format: crate::bundle::Format,
        extra: &Extra,
    ) -> Result<(), String> {
        use crate::bundle::prepare::{prepare, PrepareOptions};
        let Some((root, params)) = extra.local_root else {
            return Err("an archive mirror needs the entry's CID to be checked against".into());
        };
        let options = PrepareOptions {
            format: Some(format),
            ..PrepareOptions::default()
        };
        let scratch = self.client.settings().cache_dir.join("tmp");
        let prepared = prepare(path, &options, &scratch).map_err(|e| e.to_string())?;
        let params = params
            .or_else(|| prepared.recorded.and_then(|(_, p)| p).map(|p| p.params()))
            .ok_or("the entry names no profile to check the archive's content with")?;
        // Hashed first, stored only on a match: the same candidates a remote archive gets.
        let mut got = Vec::new();
        for content in prepared.candidates() {
            let hashed = crate::import::import_path(
                content,
                &params,
                &crate::import::Discard,
                &crate::progress::Silent,
            )
            .map_err(|e| e.to_string())?;
            if hashed.cid.hash() == root.hash() {
                return crate::import::import_path(
                    content,
                    &params,
                    &**self.client.store(),
                    &crate::progress::Silent,
                )
                .map(|_| ())
                .map_err(|e| e.to_string());
            }
            got.push(hashed.cid.to_string());
        }
        Err(format!(
            "its content imports as `{}`, not `{root}`: it is not this entry's archive",
            got.join("` or `")
        ))
    }

    /// Writes the content at `cid` to `out` (file or folder, atomically); when the registry
    /// records the file's sha256, checks it first.
    pub fn write_out(
        &self,
        cid: &Cid,
        out: &Path,
        expected_sha: Option<&str>,
        options: ExtractOptions,
    ) -> Result<ExtractSummary, Error> {
        let store = self.client.store();
        let reader = Reader::new(&**store);
        if let Some(expected) = expected_sha {
            check_sha256(&reader, cid, expected)?;
        }
        extract_with(&reader, cid, out, options)
            .context(|| format!("cannot write `{cid}` into `{}`", out.display()))
    }
}

/// Checks the sha256 a registry records for the file at `cid`.
pub fn check_sha256<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
    expected: &str,
) -> Result<(), Error> {
    let mut hasher = Sha256Writer::default();
    reader.read_file(cid, 0, None, &mut hasher)?;
    let actual = hasher.hex();
    if actual.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    Err(Error::with_hint(
        ErrorKind::Integrity,
        format!(
            "`{cid}` verifies against its CID but its sha256 is {actual}, not {expected} as the registry says"
        ),
        "the registry entry is inconsistent; report it to its maintainers",
    ))
}

/// A `Write` that only hashes (sha256) what passes through it.
#[derive(Default)]
struct Sha256Writer(sha2::Sha256);

impl Sha256Writer {
    fn hex(self) -> String {
        use sha2::Digest;
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
