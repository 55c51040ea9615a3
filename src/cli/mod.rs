//! The command-line interface: argument parsing, one file per command, error rendering.

mod add;
pub mod args;
mod cache;
mod car;
mod get;
mod install;
mod logging;
mod progress;
mod project;
#[cfg(feature = "publish")]
mod publish;
mod registry;
#[cfg(feature = "p2p")]
mod serve;
mod settings;

use crate::client::{Client, Options, Settings};
use crate::progress::Reporter;
use anyhow::Context as _;
use args::{Cli, Command};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;

/// Runs trove with the process arguments; returns the exit code (0 ok, 1 failure, 2 usage).
pub fn main() -> i32 {
    main_with(std::env::args_os())
}

/// Runs trove with `args` (the first is the program name), as the `trove` command does; the
/// Python package's console script calls this.
pub fn main_with<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
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
    let ctx = Context {
        cache_dir: cli.cache_dir,
        config: cli.config,
        settings: std::cell::OnceCell::new(),
    };
    match cli.command {
        Command::Add(args) => add::run(&ctx, args),
        Command::Car(cmd) => car::run(&ctx, cmd),
        Command::Get(args) => get::get(&ctx, args),
        Command::Cat(args) => get::cat(&ctx, args),
        #[cfg(feature = "p2p")]
        Command::Serve(args) => serve::run(&ctx, args),
        #[cfg(not(feature = "p2p"))]
        Command::Serve(_) => Err(not_built("serve --p2p", "p2p")),
        Command::Cache(cmd) => cache::run(&ctx, cmd),
        Command::List(args) => registry::list(&ctx, args),
        Command::Search(args) => registry::search(&ctx, args),
        Command::Info(args) => registry::info(&ctx, args),
        Command::Install(args) => install::run(&ctx, args),
        Command::Registry(cmd) => registry::registry(&ctx, cmd),
        #[cfg(feature = "publish")]
        Command::Publish(args) => publish::run(&ctx, args),
        #[cfg(not(feature = "publish"))]
        Command::Publish(_) => Err(not_built("publish", "publish")),
        Command::Lock(args) => project::lock(&ctx, args),
        Command::Sync(args) => project::sync(&ctx, args),
        Command::Status(args) => project::status(&ctx, args),
        Command::Verify(args) => project::verify(&ctx, args),
        Command::AddArtifact(args) => project::add_artifact(&ctx, args),
        Command::RemoveArtifact(args) => project::remove_artifact(&ctx, args),
    }
}

/// What every command shares: the global flags. Settings are resolved by the library.
pub(crate) struct Context {
    cache_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    /// The settings with only the global flags, resolved on first use.
    settings: std::cell::OnceCell<Settings>,
}

impl Context {
    /// The options the global flags set.
    pub(crate) fn options(&self) -> Options {
        Options {
            cache_dir: self.cache_dir.clone(),
            config_file: self.config.clone(),
            ..Options::default()
        }
    }

    /// The settings with only the global flags.
    pub(crate) fn settings(&self) -> anyhow::Result<&Settings> {
        if let Some(settings) = self.settings.get() {
            return Ok(settings);
        }
        let settings = Settings::from_environment(&self.options())?;
        Ok(self.settings.get_or_init(|| settings))
    }

    /// A client with `options` (made from [`Context::options`]), reporting to `reporter`.
    pub(crate) fn client(
        &self,
        options: &Options,
        reporter: Arc<dyn Reporter>,
    ) -> anyhow::Result<Client> {
        Ok(Client::new(options)?.with_reporter(reporter))
    }

    /// The cache directory: `--cache-dir`, `TROVE_CACHE_DIR`, the config file, or the default.
    pub(crate) fn cache_root(&self) -> anyhow::Result<PathBuf> {
        Ok(self.settings()?.cache_dir.clone())
    }

    /// Opens the block store at the cache directory.
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

/// The error for a command this build was made without.
#[allow(dead_code)] // used only in builds without some features
fn not_built(command: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`trove {command}` is not in this build of trove\nhint: build it with the `{feature}` feature (cargo install trove --features {feature}), or use a full build"
    )
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

/// The first hint any error in the chain offers (every error type trove has implements
/// [`crate::Hint`]).
fn hint_for(err: &anyhow::Error) -> Option<String> {
    macro_rules! hint_of {
        ($cause:expr, $($ty:ty),* $(,)?) => {
            $(
                if let Some(hint) = $cause.downcast_ref::<$ty>().and_then(crate::Hint::hint) {
                    return Some(hint);
                }
            )*
        };
    }
    for cause in err.chain() {
        hint_of!(
            cause,
            crate::Error,
            crate::registry::RegistryError,
            crate::fetch::FetchError,
            crate::fetch::HttpError,
            crate::fetch::KuboError,
            crate::store::StoreError,
            crate::extract::ExtractError,
            crate::output::OutputError,
            crate::unixfs::ReadError,
            crate::import::ImportError,
            crate::car::CarError,
            crate::content::CidError,
            crate::config::ConfigError,
        );
        #[cfg(feature = "p2p")]
        hint_of!(cause, crate::fetch::p2p::P2pError);
        #[cfg(feature = "publish")]
        hint_of!(
            cause,
            crate::publish::PublishError,
            crate::publish::pr::PrError,
            crate::publish::pin::PinError,
            crate::publish::forge::ForgeError,
        );
    }
    None
}
