//! The command-line interface: argument parsing, one file per command, error rendering.

mod add;
pub mod args;
mod cache;
mod car;
mod get;
mod install;
mod kubo;
mod logging;
mod progress;
mod publish;
mod registry;
mod serve;
mod settings;
mod sources;

use anyhow::Context as _;
use args::{Cli, Command};
use clap::Parser;
use std::path::PathBuf;

/// Runs trove with the process arguments; returns the exit code (0 ok, 1 failure, 2 usage).
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return 0;
            }
            eprintln!("error: {err}");
            // A cause the message above it already quotes (`cannot read …: {source}`) is not
            // said twice.
            let mut said = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                said = text;
            }
            if let Some(hint) = hint_for(&err) {
                eprintln!("hint: {hint}");
            }
            1
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let env = crate::config::Env::from_process();
    logging::init(cli.verbose, env.rust_log.as_deref())?;
    let (config_path, explicit) = match cli.config.clone().or_else(|| env.config.clone()) {
        Some(path) => (Some(path), true),
        None => (crate::config::default_config_path(), false),
    };
    let config = match &config_path {
        Some(path) => crate::config::load_config(path, explicit)?,
        None => crate::config::ConfigFile::default(),
    };
    let ctx = Context {
        cache_dir: cli
            .cache_dir
            .or_else(|| env.cache_dir.clone())
            .or_else(|| config.cache_dir.clone()),
        env,
        config,
    };
    match cli.command {
        Command::Add(args) => add::run(&ctx, args),
        Command::Car(cmd) => car::run(&ctx, cmd),
        Command::Get(args) => get::get(&ctx, args),
        Command::Cat(args) => get::cat(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Cache(cmd) => cache::run(&ctx, cmd),
        Command::List(args) => registry::list(&ctx, args),
        Command::Search(args) => registry::search(&ctx, args),
        Command::Info(args) => registry::info(&ctx, args),
        Command::Install(args) => install::run(&ctx, args),
        Command::Registry(cmd) => registry::registry(&ctx, cmd),
        Command::Publish(args) => publish::run(&ctx, args),
    }
}

/// Settings every command shares.
pub(crate) struct Context {
    cache_dir: Option<PathBuf>,
    env: crate::config::Env,
    config: crate::config::ConfigFile,
}

impl Context {
    /// The cache directory: `--cache-dir`, `TROVE_CACHE_DIR`, the config file, or the default.
    pub(crate) fn cache_root(&self) -> anyhow::Result<PathBuf> {
        Ok(match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => crate::store::default_cache_dir()?,
        })
    }

    /// Opens the block store at `--cache-dir`, `TROVE_CACHE_DIR` or the default location.
    pub(crate) fn store(&self) -> anyhow::Result<crate::store::FsStore> {
        self.store_with(crate::store::FsStoreOptions::default())
    }

    /// Opens the block store with non-default options.
    pub(crate) fn store_with(
        &self,
        options: crate::store::FsStoreOptions,
    ) -> anyhow::Result<crate::store::FsStore> {
        let dir = self.cache_root()?;
        crate::store::FsStore::open_with(&dir, options)
            .with_context(|| format!("cannot open the cache at `{}`", dir.display()))
    }
}

/// The import parameters asked for on the command line.
pub(crate) fn import_params(
    args: &args::ImportArgs,
) -> anyhow::Result<crate::unixfs::ImportParams> {
    let overrides = crate::unixfs::ImportOverrides {
        cid_version: args.cid_version.map(|v| {
            if v == 0 {
                cid::Version::V0
            } else {
                cid::Version::V1
            }
        }),
        raw_leaves: args.raw_leaves,
        chunk_size: args.chunker,
        max_links: args.max_links,
        hash: args.hash,
    };
    args.profile
        .params()
        .with_overrides(overrides)
        .map_err(anyhow::Error::msg)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The first hint any error in the chain offers.
fn hint_for(err: &anyhow::Error) -> Option<String> {
    use crate::extract::ExtractError;
    use crate::store::StoreError;
    use crate::unixfs::ReadError;
    for cause in err.chain() {
        if let Some(crate::content::CidError::Invalid { .. }) = cause.downcast_ref() {
            return Some(
                "copy the CID whole (a CIDv0 is 46 characters starting with `Qm`; a CIDv1 usually starts with `bafy` or `bafk`), or name an artifact by its registry ID (`trove list`)".into(),
            );
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        if let Some(e) = cause.downcast_ref::<crate::registry::RegistryError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        if let Some(e) = cause.downcast_ref::<crate::fetch::KuboError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        if let Some(e) = cause.downcast_ref::<crate::fetch::HttpError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        if let Some(e) = cause.downcast_ref::<crate::fetch::FetchError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        if let Some(e) = cause.downcast_ref::<crate::fetch::p2p::P2pError>() {
            return Some(e.hint());
        }
        if let Some(e) = cause.downcast_ref::<crate::import::ImportError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        if let Some(e) = cause.downcast_ref::<crate::car::CarError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        match cause.downcast_ref::<ExtractError>() {
            Some(ExtractError::Exists { .. }) => {
                return Some(
                    "pass --force to replace it, or choose another path with -o PATH".into(),
                )
            }
            Some(ExtractError::SymlinkRoot { .. }) => {
                return Some(
                    "get the folder that holds it, or the file it points to (CID/path/to/file)"
                        .into(),
                )
            }
            Some(ExtractError::NoFolder { path }) => {
                return Some(format!(
                    "create it first (`mkdir -p {}`), or write somewhere else",
                    path.display()
                ))
            }
            _ => {}
        }
        let read = cause.downcast_ref::<ReadError>().or_else(|| {
            match cause.downcast_ref::<ExtractError>() {
                Some(ExtractError::Read(r)) => Some(r),
                _ => None,
            }
        });
        if let Some(ReadError::NotAFile { kind, .. }) = read {
            if kind.contains("directory") {
                return Some(
                    "only a file can go to standard output: name one as CID/path/to/file, or write the folder with `trove get CID -o DIR`".into(),
                );
            }
        }
        if let Some(ReadError::MissingBlock(_)) = read {
            return Some(
                "the block is not in the local cache; import a CAR that holds it with `trove car import FILE.car`"
                    .into(),
            );
        }
    }
    None
}
