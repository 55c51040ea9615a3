//! The command-line interface: argument parsing, one file per command, error rendering. The
//! only module that prints (the lints deny it everywhere else).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod add;
pub mod args;
mod bundle;
mod cache;
mod car;
mod completions;
pub mod exit;
mod get;
mod install;
mod logging;
#[cfg(feature = "publish")]
mod mirror;
mod progress;
mod project;
#[cfg(feature = "publish")]
mod publish;
mod registry;
mod serve;
#[cfg(feature = "p2p")]
mod serve_p2p;
mod settings;
mod signals;
mod upstream;

use crate::client::{Client, Options, Settings};
use crate::progress::Reporter;
use anyhow::Context as _;
use args::{Cli, Command};
use clap::{CommandFactory, FromArgMatches};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs trove with the process arguments; returns the exit code ([`exit`]).
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
    let cli = match command()
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = err.print();
            return code;
        }
    };
    let json = cli.command.wants_json();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return exit::OK;
            }
            let kind = exit::kind_of_error(&err);
            let code = exit::of_kind(kind);
            if json {
                report_json(&err, kind, code);
            } else {
                report(&err);
            }
            code
        }
    }
}

/// Prints a failure on standard error: the error, its causes, the hint.
fn report(err: &anyhow::Error) {
    eprintln!("error: {err}");
    // A cause the message above it already quotes (`cannot read …: {source}`) is not said
    // twice.
    let mut said = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !said.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        said = text;
    }
    if let Some(hint) = hint_for(err) {
        eprintln!("hint: {hint}");
    }
}

/// Prints a failure on standard error as one JSON line (the `error` event of
/// `json-events.schema.json`).
fn report_json(err: &anyhow::Error, kind: crate::ErrorKind, code: i32) {
    let line = serde_json::json!({
        "event": "error",
        "message": crate::error::chain(err.as_ref()),
        "kind": kind.name(),
        "hint": hint_for(err),
        "exit_code": code,
    });
    eprintln!("{line}");
}

/// The whole command line as clap knows it, with the environment variables and exit codes at
/// the end of `--help`: what parses the arguments, and what completions and man pages are made
/// from.
pub fn command() -> clap::Command {
    Cli::command().after_long_help(help_footer())
}

/// The environment variables trove reads and its exit codes, for the end of `--help`.
fn help_footer() -> String {
    let mut text = String::from("Environment variables:\n");
    let width = crate::config::ENV_VARS
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, what) in crate::config::ENV_VARS {
        text.push_str(&format!("  {name:width$}  {what}\n"));
    }
    text.push_str(
        "\nExit codes:\n  0  success\n  1  other failure (network, disk, registry, publish)\n  2  usage (bad flag, CID, target or setting; output already there)\n  3  not found (unknown ID, version or path; content no source holds)\n  4  integrity (bytes that do not match their CID or recorded sum; a tampered output)\n  5  offline and not in the cache",
    );
    text
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
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Cache(cmd) => cache::run(&ctx, cmd),
        Command::List(args) => registry::list(&ctx, args),
        Command::Search(args) => registry::search(&ctx, args),
        Command::Info(args) => registry::info(&ctx, args),
        Command::Install(args) => install::run(&ctx, args),
        Command::Registry(cmd) => registry::registry(&ctx, cmd),
        #[cfg(feature = "publish")]
        Command::Publish(args) => publish::run(&ctx, args),
        #[cfg(feature = "publish")]
        Command::Mirror(args) => mirror::run(&ctx, args),
        #[cfg(not(feature = "publish"))]
        Command::Mirror(_) => Err(not_built("mirror", "publish")),
        #[cfg(not(feature = "publish"))]
        Command::Publish(_) => Err(not_built("publish", "publish")),
        Command::Lock(args) => project::lock(&ctx, args),
        Command::Sync(args) => project::sync(&ctx, args),
        Command::Status(args) => project::status(&ctx, args),
        Command::Verify(args) => project::verify(&ctx, args),
        Command::AddArtifact(args) => project::add_artifact(&ctx, args),
        Command::RemoveArtifact(args) => project::remove_artifact(&ctx, args),
        Command::Import(args) => bundle::import(&ctx, args),
        Command::Export(args) => bundle::export(&ctx, args),
        Command::Fetch(args) => upstream::fetch(&ctx, args),
        Command::Diff(args) => upstream::diff(&ctx, args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
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
pub(crate) fn not_built(command: &str, feature: &str) -> anyhow::Error {
    crate::Error::with_hint(
        crate::ErrorKind::Usage,
        format!("`trove {command}` is not in this build of trove"),
        format!("build it with the `{feature}` feature (cargo install trove --features {feature}), or use a full build"),
    )
    .into()
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
        chunker: args.chunker,
        max_links: args.max_links,
        hash: args.hash,
    };
    args.profile
        .params()
        .with_overrides(overrides)
        .map_err(anyhow::Error::msg)
}

/// Prints a command's JSON result on standard output: pretty, one document.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value serializes")
    );
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
    crate::error::hint_of(err.as_ref())
}
