//! `trove get` and `trove cat`: content by CID (or CID/path), from the local store when it is
//! there, otherwise from the sources, verified block by block.

use super::args::{CatArgs, FetchArgs, GetArgs};
use super::progress::CliReporter;
use super::settings::FetchSettings;
use super::sources::MirrorSpec;
use super::Context;
use crate::content::Cid;
use crate::extract::{check_folder, check_output, extract};
use crate::fetch::{frontier, FetchError, Fetcher};
use crate::store::FsStore;
use crate::target::{parse_target, Target};
use crate::unixfs::{ReadError, Reader};
use anyhow::Context as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) fn get(ctx: &Context, args: GetArgs) -> anyhow::Result<i32> {
    let mut session = Session::new(ctx, &args.fetch)?;
    session.replace_output = args.force;
    let (target, extra, default_name, expected_sha) = match parse_target(&args.target) {
        Ok(target) => {
            let name = target.default_name();
            (target, Extra::default(), name, None)
        }
        Err(cid_error) => {
            // Text shaped like a CID that does not parse is a mistyped CID, unless a registry
            // has an entry of that name: then the CID error is the one worth showing.
            let cid_shaped = args.target.starts_with("Qm") || args.target.starts_with("baf");
            let set = match super::registry::load(
                ctx,
                &args.registry,
                session.settings.offline,
                session.settings.quiet || session.settings.json,
            ) {
                Ok(set) => set,
                Err(_) if cid_shaped => return Err(cid_error.into()),
                Err(e) if !looks_like_id(&args.target) => {
                    return Err(anyhow::Error::new(cid_error).context(e.to_string()))
                }
                Err(e) => return Err(e),
            };
            let resolved = match set.resolve(&args.target) {
                Ok(resolved) => resolved,
                Err(_) if cid_shaped => return Err(cid_error.into()),
                Err(e) => return Err(e.into()),
            };
            let Some(target) = resolved.target() else {
                return super::install::get_repo_files(ctx, &args, &resolved, &session);
            };
            let name = if resolved.path.is_empty() {
                resolved.id.clone()
            } else {
                target.default_name()
            };
            (
                target,
                Extra::from_resolved(&resolved),
                name,
                resolved.sha256.clone(),
            )
        }
    };
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(&default_name));
    let to_stdout = out.as_os_str() == "-";
    match &args.car {
        Some(car) if car.as_os_str() != "-" => check_folder(car)?,
        Some(_) => {}
        None if !to_stdout => check_output(&out, args.force)?,
        None => {}
    }
    // A file or folder without a recorded sha256 is written while the blocks arrive.
    let overlapped_out =
        (args.car.is_none() && !to_stdout && expected_sha.is_none()).then_some(out.as_path());
    let (cid, written) = session.complete_into(&target, &extra, overlapped_out)?;
    match (written, overlapped_out) {
        (Some(summary), Some(out)) => say_wrote(&session, out, &summary),
        _ => write_output(
            &session,
            &cid,
            &target,
            &args,
            &out,
            expected_sha.as_deref(),
        )?,
    }
    if args.seed {
        session.seed(&cid, &target.to_string(), &args.fetch.peers, &args.listen)?;
    }
    Ok(0)
}

/// Writes the fetched content where `args` says: a CAR, or else `out` (standard output for
/// `-`, a file or folder otherwise).
fn write_output(
    session: &Session,
    cid: &Cid,
    target: &Target,
    args: &GetArgs,
    out: &std::path::Path,
    expected_sha: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(car) = &args.car {
        session.write_car(cid, car)?;
        session.say(&format!("wrote {} ({target})", car.display()));
        return Ok(());
    }
    if out.as_os_str() == "-" {
        let reader = Reader::new(&*session.store);
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        reader
            .read_file(cid, 0, None, &mut lock)
            .with_context(|| format!("cannot write `{target}` to standard output"))?;
        lock.flush()?;
        return Ok(());
    }
    let summary = session.write_out(cid, out, expected_sha)?;
    say_wrote(session, out, &summary);
    Ok(())
}

/// Says what a get wrote to a file or folder: `wrote OUT (N file(s), M bytes)`.
fn say_wrote(session: &Session, out: &std::path::Path, summary: &crate::extract::ExtractSummary) {
    session.say(&format!(
        "wrote {} ({} file(s), {} bytes)",
        out.display(),
        summary.files,
        summary.bytes
    ));
}

/// Whether the text is shaped like a registry ID rather than a mistyped CID.
fn looks_like_id(text: &str) -> bool {
    let id = text.split(['@', '/']).next().unwrap_or("");
    id.contains('_') || id.contains('-') || id.len() < 20
}

/// Places beyond the configured sources that one artifact can come from (its registry
/// entry's mirrors).
#[derive(Debug, Default, Clone)]
pub(crate) struct Extra {
    /// HTTP mirrors, with the profile the CID was made with.
    pub mirrors: Vec<MirrorSpec>,
    /// CAR files on this machine (mirrors of a local registry): imported, verified, before any
    /// network source is asked, so a repository checkout works offline.
    pub local_cars: Vec<PathBuf>,
}

impl Extra {
    pub(crate) fn from_resolved(resolved: &crate::registry::Resolved) -> Self {
        let params = resolved.profile.map(|p| p.params());
        let mut extra = Extra::default();
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

pub(crate) fn cat(ctx: &Context, args: CatArgs) -> anyhow::Result<i32> {
    let target = parse_target(&args.target)?;
    let session = Session::new(ctx, &args.fetch)?;
    let cid = if args.offset > 0 || args.length.is_some() {
        session.complete_range(&target, args.offset, args.length)?
    } else {
        session.complete(&target, &Extra::default())?
    };
    let reader = Reader::new(&*session.store);
    let stdout = std::io::stdout();
    let mut lock = std::io::BufWriter::new(stdout.lock());
    reader
        .read_file(&cid, args.offset, args.length, &mut lock)
        .with_context(|| format!("cannot cat `{target}`"))?;
    lock.flush()?;
    Ok(0)
}

/// One fetching command: the store, the settings, and (built only when needed) the sources.
pub(crate) struct Session<'a> {
    ctx: &'a Context,
    pub(crate) store: Arc<FsStore>,
    pub(crate) settings: FetchSettings,
    reporter: Arc<CliReporter>,
    runtime: tokio::runtime::Runtime,
    daemon: std::sync::Mutex<Option<crate::fetch::DaemonHandle>>,
    /// Blocks the fetcher stores, for an extraction running at the same time.
    arrivals: Arc<crate::store::Arrivals>,
    /// Whether an output folder already there is replaced (`get --force`).
    pub(crate) replace_output: bool,
}

impl<'a> Session<'a> {
    pub(crate) fn new(ctx: &'a Context, args: &FetchArgs) -> anyhow::Result<Self> {
        let settings = FetchSettings::resolve(args, &ctx.env, &ctx.config)?;
        let reporter = Arc::new(CliReporter::new(settings.json, settings.quiet));
        Ok(Session {
            ctx,
            store: Arc::new(ctx.store_with(crate::store::FsStoreOptions {
                trust_own_writes: true,
                ..Default::default()
            })?),
            settings,
            reporter,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?,
            daemon: std::sync::Mutex::new(None),
            arrivals: Arc::default(),
            replace_output: false,
        })
    }

    /// Runs a future on this command's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A line for the user on standard error (nothing with --quiet or --json).
    pub(crate) fn say(&self, line: &str) {
        if !self.settings.quiet && !self.settings.json {
            eprintln!("{line}");
        }
    }

    /// Makes `target` complete in the store, fetching the directories on its path and then its
    /// whole DAG when they are missing; returns the CID the path leads to. With everything in
    /// the cache, no source is built and nothing touches the network. `mirrors` are extra
    /// mirror URLs for this target (from a registry entry).
    pub(crate) fn complete(&self, target: &Target, extra: &Extra) -> anyhow::Result<Cid> {
        self.complete_into(target, extra, None).map(|(cid, _)| cid)
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
    ) -> anyhow::Result<Cid> {
        let reader = Reader::new(&*self.store);
        loop {
            match reader.resolve(&target.cid, &target.path) {
                Ok(cid) => return Ok(cid),
                Err(ReadError::MissingBlock(block)) => {
                    if let Some(car) = local_cars.next() {
                        self.import_local_car(car)?;
                        continue;
                    }
                    let f = self.fetcher(fetcher, target, &extra.mirrors, &block)?;
                    self.runtime
                        .block_on(f.fetch_block(&block))
                        .with_context(|| format!("cannot resolve `{target}`"))?;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot resolve `{target}`")),
            }
        }
    }

    /// Makes bytes `offset..offset+length` of the file `target` readable from the store,
    /// fetching only the blocks they need: a range request (`entity-bytes`) to the sources
    /// that serve them, then block by block whatever is still missing. Returns the file's CID.
    pub(crate) fn complete_range(
        &self,
        target: &Target,
        offset: u64,
        length: Option<u64>,
    ) -> anyhow::Result<Cid> {
        let reader = Reader::new(&*self.store);
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
                        self.runtime.block_on(f.fetch_block(&block))
                    } else {
                        asked_range = true;
                        self.runtime.block_on(f.fetch_range(&cid, offset, to))
                    };
                    step.with_context(|| format!("cannot get bytes of `{target}`"))?;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read `{target}`")),
            }
        }
        self.reporter.finish();
        Ok(cid)
    }

    /// [`Session::complete`], and when `out` is given and blocks must be fetched, the content
    /// is extracted into `out` at the same time, reading each block as soon as it is stored
    /// (the summary is returned then; otherwise the caller writes the output itself).
    pub(crate) fn complete_into(
        &self,
        target: &Target,
        extra: &Extra,
        out: Option<&std::path::Path>,
    ) -> anyhow::Result<(Cid, Option<crate::extract::ExtractSummary>)> {
        let mut fetcher: Option<Fetcher> = None;
        let mut local_cars = extra.local_cars.iter();
        let cid = self.resolve(target, extra, &mut fetcher, &mut local_cars)?;
        let mut missing = frontier(&*self.store, &cid)?;
        for car in local_cars {
            if missing.is_empty() {
                break;
            }
            self.import_local_car(car)?;
            missing = frontier(&*self.store, &cid)?;
        }
        if missing.is_empty() {
            return Ok((cid, None));
        }
        self.store
            .keep_root(&cid, &target.to_string())
            .context("cannot record the root being fetched")?;
        let f = self.fetcher(&mut fetcher, target, &extra.mirrors, &cid)?;
        let (report, written) = match out {
            None => (self.runtime.block_on(f.fetch(&cid)), None),
            Some(out) => {
                let (report, written) = self.fetch_and_extract(f, &cid, out);
                (report, Some((out, written)))
            }
        };
        self.reporter.finish();
        let (report, summary) = match (report, written) {
            (Ok(_), Some((out, Err(e)))) => {
                return Err(e)
                    .with_context(|| format!("cannot write `{cid}` into `{}`", out.display()))
            }
            // Everything was read and written, so the DAG is complete after all (a time-out
            // that fired at the very end, say).
            (Err(_), Some((_, Ok(summary)))) => return Ok((cid, Some(summary))),
            (Err(e), _) => return Err(e).with_context(|| format!("cannot get `{target}`")),
            (Ok(report), written) => (report, written.and_then(|(_, w)| w.ok())),
        };
        self.reporter.json(serde_json::json!({
            "event": "done",
            "cid": cid.to_string(),
            "blocks": report.blocks,
            "bytes": report.bytes,
        }));
        Ok((cid, summary))
    }

    /// Runs the fetch and, on another thread, the extraction into `out`, which waits for each
    /// block until it arrives (or until the fetch is over).
    fn fetch_and_extract(
        &self,
        fetcher: &Fetcher,
        cid: &Cid,
        out: &std::path::Path,
    ) -> (
        Result<crate::fetch::FetchReport, FetchError>,
        Result<crate::extract::ExtractSummary, crate::extract::ExtractError>,
    ) {
        let arrivals = &*self.arrivals;
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let getter = crate::store::WaitingGetter::new(&*self.store, arrivals);
                // Its own thread pool: waiting for a block must never occupy the shared rayon
                // pool, on which the fetcher verifies the very blocks being waited for.
                match rayon::ThreadPoolBuilder::new().num_threads(2).build() {
                    Ok(pool) => pool
                        .install(|| extract(&Reader::new(&getter), cid, out, self.replace_output)),
                    Err(e) => Err(crate::extract::ExtractError::io(
                        "start a thread pool for",
                        out,
                        std::io::Error::other(e),
                    )),
                }
            });
            let report = self.runtime.block_on(fetcher.fetch(cid));
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
    ) -> anyhow::Result<&'f Fetcher> {
        if slot.is_none() {
            if self.settings.offline {
                let all = frontier(&*self.store, missing)?;
                return Err(anyhow::Error::new(FetchError::Offline {
                    root: *missing,
                    missing: all.len().max(1),
                    first: all
                        .iter()
                        .take(5)
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }))
                .with_context(|| format!("cannot get `{target}`"));
            }
            let built = self.runtime.block_on(super::sources::build(
                self.ctx,
                &self.settings,
                &self.store,
                mirrors,
            ))?;
            *self.daemon.lock().expect("daemon lock") = built.daemon;
            let store =
                crate::store::NotifyingStore::new(self.store.clone(), self.arrivals.clone());
            *slot = Some(Fetcher::new(
                Arc::new(store),
                built.sources,
                self.settings.options.clone(),
                self.reporter.clone(),
            ));
        }
        Ok(slot.as_ref().expect("just built"))
    }

    /// Imports a CAR from this machine (a local registry's mirror): every block is verified
    /// before it is stored. A broken file is a warning: the other sources may still have it.
    fn import_local_car(&self, car: &std::path::Path) -> anyhow::Result<()> {
        let result = std::fs::File::open(car)
            .map_err(anyhow::Error::from)
            .and_then(|f| {
                crate::car::import_car(std::io::BufReader::new(f), &*self.store)
                    .map_err(anyhow::Error::from)
            });
        if let Err(e) = result {
            if !self.settings.quiet {
                eprintln!("warning: local mirror `{}`: {e:#}", car.display());
            }
        }
        Ok(())
    }

    /// Writes the content at `cid` to `out` (file or folder, atomically); when the registry
    /// records the file's sha256, checks it too.
    pub(crate) fn write_out(
        &self,
        cid: &Cid,
        out: &std::path::Path,
        expected_sha: Option<&str>,
    ) -> anyhow::Result<crate::extract::ExtractSummary> {
        let reader = Reader::new(&*self.store);
        if let Some(expected) = expected_sha {
            let mut hasher = Sha256Writer::default();
            reader.read_file(cid, 0, None, &mut hasher)?;
            let actual = hasher.hex();
            if !actual.eq_ignore_ascii_case(expected) {
                anyhow::bail!(
                    "`{cid}` verifies against its CID but its sha256 is {actual}, not {expected} as the registry says\nhint: the registry entry is inconsistent; report it to its maintainers"
                );
            }
        }
        extract(&reader, cid, out, self.replace_output)
            .with_context(|| format!("cannot write `{cid}` into `{}`", out.display()))
    }

    /// Serves the store over bitswap (announcing `cid`) until interrupted: `get --seed`.
    pub(crate) fn seed(
        &self,
        cid: &Cid,
        label: &str,
        peers: &[String],
        listen: &[String],
    ) -> anyhow::Result<()> {
        self.store
            .keep_root(cid, label)
            .context("cannot keep the root being seeded")?;
        let config = super::serve::serving_config(self.ctx, peers, listen)?;
        self.runtime.block_on(super::serve::serve_until_interrupted(
            self.store.clone(),
            config,
            vec![*cid],
            self.settings.quiet || self.settings.json,
        ))
    }

    /// Writes the verified DAG under `cid` as a CARv1, atomically.
    pub(crate) fn write_car(&self, cid: &Cid, out: &std::path::Path) -> anyhow::Result<()> {
        if out.as_os_str() == "-" {
            crate::car::export_dag(&*self.store, cid, std::io::stdout().lock())?;
            return Ok(());
        }
        super::car::write_car_file(&*self.store, cid, out)?;
        Ok(())
    }
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

impl Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
