//! `trove get` and `trove cat`: content by CID (or CID/path), from the local store when it is
//! there, otherwise from the sources, verified block by block.

use super::args::{CatArgs, FetchArgs, GetArgs};
use super::progress::CliReporter;
use super::settings::FetchSettings;
use super::Context;
use crate::content::Cid;
use crate::extract::extract;
use crate::fetch::{frontier, FetchError, Fetcher};
use crate::store::FsStore;
use crate::target::{parse_target, Target};
use crate::unixfs::{ReadError, Reader};
use anyhow::Context as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) fn get(ctx: &Context, args: GetArgs) -> anyhow::Result<i32> {
    let target = parse_target(&args.target)?;
    let session = Session::new(ctx, &args.fetch)?;
    let cid = session.complete(&target, &[])?;
    if let Some(car) = &args.car {
        session.write_car(&cid, car)?;
        session.say(&format!("wrote {} ({target})", car.display()));
        return Ok(0);
    }
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(target.default_name()));
    let reader = Reader::new(&*session.store);
    if out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        reader
            .read_file(&cid, 0, None, &mut lock)
            .with_context(|| format!("cannot write `{target}` to standard output"))?;
        lock.flush()?;
        return Ok(0);
    }
    let summary = extract(&reader, &cid, &out)
        .with_context(|| format!("cannot get `{target}` into `{}`", out.display()))?;
    session.say(&format!(
        "wrote {} ({} file(s), {} bytes)",
        out.display(),
        summary.files,
        summary.bytes
    ));
    Ok(0)
}

pub(crate) fn cat(ctx: &Context, args: CatArgs) -> anyhow::Result<i32> {
    let target = parse_target(&args.target)?;
    let session = Session::new(ctx, &args.fetch)?;
    let cid = session.complete(&target, &[])?;
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
    settings: FetchSettings,
    reporter: Arc<CliReporter>,
    runtime: tokio::runtime::Runtime,
    daemon: std::sync::Mutex<Option<crate::fetch::DaemonHandle>>,
}

impl<'a> Session<'a> {
    pub(crate) fn new(ctx: &'a Context, args: &FetchArgs) -> anyhow::Result<Self> {
        let settings = FetchSettings::resolve(args, &ctx.env, &ctx.config)?;
        let reporter = Arc::new(CliReporter::new(settings.json, settings.quiet));
        Ok(Session {
            ctx,
            store: Arc::new(ctx.store()?),
            settings,
            reporter,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?,
            daemon: std::sync::Mutex::new(None),
        })
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
    pub(crate) fn complete(&self, target: &Target, mirrors: &[String]) -> anyhow::Result<Cid> {
        let reader = Reader::new(&*self.store);
        let mut fetcher: Option<Fetcher> = None;
        let cid = loop {
            match reader.resolve(&target.cid, &target.path) {
                Ok(cid) => break cid,
                Err(ReadError::MissingBlock(block)) => {
                    let f = self.fetcher(&mut fetcher, target, mirrors, &block)?;
                    self.runtime
                        .block_on(f.fetch_block(&block))
                        .with_context(|| format!("cannot resolve `{target}`"))?;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot resolve `{target}`")),
            }
        };
        let missing = frontier(&*self.store, &cid)?;
        if missing.is_empty() {
            return Ok(cid);
        }
        self.store
            .keep_root(&cid, &target.to_string())
            .context("cannot record the root being fetched")?;
        let f = self.fetcher(&mut fetcher, target, mirrors, &cid)?;
        let report = self.runtime.block_on(f.fetch(&cid));
        self.reporter.finish();
        let report = report.with_context(|| format!("cannot get `{target}`"))?;
        self.reporter.json(serde_json::json!({
            "event": "done",
            "cid": cid.to_string(),
            "blocks": report.blocks,
            "bytes": report.bytes,
        }));
        Ok(cid)
    }

    /// The fetcher, built on first use (sources are probed only when something is missing).
    fn fetcher<'f>(
        &self,
        slot: &'f mut Option<Fetcher>,
        target: &Target,
        mirrors: &[String],
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
            *slot = Some(Fetcher::new(
                self.store.clone(),
                built.sources,
                self.settings.options.clone(),
                self.reporter.clone(),
            ));
        }
        Ok(slot.as_ref().expect("just built"))
    }

    /// Writes the verified DAG under `cid` as a CARv1, atomically.
    pub(crate) fn write_car(&self, cid: &Cid, out: &std::path::Path) -> anyhow::Result<()> {
        if out.as_os_str() == "-" {
            crate::car::export_dag(&*self.store, cid, std::io::stdout().lock())?;
            return Ok(());
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        let mut tmp = crate::extract::staging_file(parent)
            .with_context(|| format!("cannot create a temporary file in `{}`", parent.display()))?;
        crate::car::export_dag(&*self.store, cid, tmp.as_file_mut())?;
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write `{}`", out.display()))?;
        tmp.persist(out)
            .with_context(|| format!("cannot move the CAR into `{}`", out.display()))?;
        Ok(())
    }
}
