//! Command-line arguments (clap). Raw arguments only; commands turn them into settings.
//!
//! The doc comments here are the `--help` texts, written for a terminal, not for rustdoc.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::bare_urls)]

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Fetch research artifacts by name and prove they are the right bytes.
#[derive(Debug, Parser)]
#[command(name = "trove", version, about, propagate_version = true)]
pub struct Cli {
    /// Where blocks and kept roots live (default: $TROVE_CACHE_DIR, else the user cache
    /// directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// The config file to read (default: $TROVE_CONFIG, else the user config directory's
    /// trove/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Explain what happens on stderr: -v what each tier does (connections, streams,
    /// requests, failures, dropped peers), -vv every want, block and message as well.
    /// RUST_LOG (a tracing filter such as trove=debug) overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// trove's commands.
#[derive(Debug, Subcommand)]
// Parsed once per run: the size of the largest variant (`publish`) does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Compute the CID of a file or directory (like `ipfs add`) and store its blocks.
    Add(AddArgs),
    /// Read and write CAR files.
    Car(CarArgs),
    /// Write the content of CID[/path] to a file or directory.
    Get(GetArgs),
    /// Write a file's bytes (CID[/path]) to standard output.
    Cat(CatArgs),
    /// Serve the local cache to other peers (`--p2p`: bitswap over libp2p) until interrupted.
    Serve(ServeArgs),
    /// Inspect and maintain the local block cache.
    Cache(CacheArgs),
    /// List the artifacts in the registries.
    List(ListArgs),
    /// Search artifacts by ID, description and tags.
    Search(SearchArgs),
    /// Show an artifact's metadata, versions, aliases, size, citation and where to fetch it.
    Info(InfoArgs),
    /// Get every artifact of a collection (or of the whole registry) into a folder.
    Install(InstallArgs),
    /// Check and maintain registry files.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Publish a file or folder: import it, make it available (IPFS daemon, pinning services,
    /// a CAR for a mirror), build its registry entry, and optionally open a registry pull request.
    Publish(PublishArgs),
    /// Resolve every artifact of trove.toml and write trove.lock.
    Lock(ProjectArgs),
    /// Make every output of trove.toml match trove.lock (locking first), or keep them up to
    /// date as a service (--watch).
    Sync(SyncArgs),
    /// Show each output of the project (or a folder trove wrote): ID, version, CID, whether it
    /// is intact and whether the registry has something newer.
    Status(StatusArgs),
    /// Compare each output of the project (or a folder trove wrote) with its content file by
    /// file; exit 4 naming every file that was changed, added or is missing.
    Verify(VerifyArgs),
    /// Add an artifact to trove.toml (creating it) and update trove.lock.
    AddArtifact(AddArtifactArgs),
    /// Remove an artifact from trove.toml and update trove.lock (its output is left alone).
    RemoveArtifact(RemoveArtifactArgs),
    /// Bring an archive (.tar, .tar.gz, .tgz, .tar.zst, .zip) or a folder into the cache: its
    /// published sums checked first, unpacked in a sandbox, imported; prints the CID.
    Import(BundleImportArgs),
    /// Write content (ID[@version], CID[/path]) as a deterministic .tar.gz, .tar.zst, .tar or
    /// .zip with manifest.json and checksums.sha256 (`sha256sum -c` works without trove).
    Export(ExportArgs),
    /// Download an upstream file over HTTPS into the cache under a CID, remembering its ETag:
    /// within the time-to-live no request is made, after it a 304 costs one round trip.
    Fetch(FetchUrlArgs),
    /// Compare two versions (IDs with versions/aliases, CIDs, paths, fetched URLs): files added,
    /// removed and changed, blocks shared; with --key, table files row by row (exit 1 when they
    /// differ).
    Diff(DiffArgs),
    /// Make an institution's IPFS infrastructure hold every entry of the registries: a
    /// Kubo-compatible daemon (--to kubo), a pinning service (--to psa=NAME|URL), an IPFS
    /// Cluster (--to cluster=URL). Idempotent: what a target has is left alone.
    Mirror(MirrorArgs),
    /// Print a shell completion script (e.g. `trove completions bash > ~/.local/share/bash-completion/completions/trove`).
    Completions(CompletionsArgs),
    /// Print trove's man page (roff), or write one page per command into a folder.
    Man(ManArgs),
}

/// `trove import`.
#[derive(Debug, Args)]
pub struct BundleImportArgs {
    /// The archive or folder.
    pub path: PathBuf,
    /// The archive's published sha256, checked before it is opened (a `checksums.sha256` or
    /// `SHA256SUMS` beside it that lists it is checked too).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Import profile (default: the one a trove export records, else unixfs-v1-2025).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<crate::unixfs::Profile>,
    /// Refuse an archive that unpacks to more bytes than this (default 256 GiB).
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<u64>,
    /// Refuse an archive of more entries than this (default 10 million).
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
    /// Print only the CID.
    #[arg(long, short = 'Q')]
    pub quiet: bool,
    /// Print the result as JSON.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
}

/// `trove export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export: ID[@version|@alias][/file], CID[/path], /ipfs/CID/…, ipfs://CID/….
    pub target: String,
    /// The archive to write; its name says the format (.tar.gz, .tgz, .tar.zst, .tar, .zip).
    #[arg(short, long, value_name = "OUT.tar.gz")]
    pub output: PathBuf,
    /// Replace a folder at the output path (a file there is always replaced atomically).
    #[arg(long)]
    pub force: bool,
    /// Registries.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Sources and time-outs.
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// `trove fetch`.
#[derive(Debug, Args)]
pub struct FetchUrlArgs {
    /// The file's https:// URL.
    pub url: String,
    /// Also write the content here.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Use a fetched copy this long without asking the server (e.g. 7d, 168h; default: the
    /// server's Cache-Control max-age, else ask every time).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ttl: Option<std::time::Duration>,
    /// The file's published sha256, checked before anything is stored.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Store the decoded bytes of a .gz or .zst file (default: as published).
    #[arg(long)]
    pub decompress: bool,
    /// Ask the server even within the time-to-live.
    #[arg(long)]
    pub refresh: bool,
    /// Import profile (default unixfs-v1-2025).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<crate::unixfs::Profile>,
    /// Replace a folder at the output path.
    #[arg(long)]
    pub force: bool,
    /// No network: the last good copy (a warning when it is past its time-to-live).
    #[arg(long)]
    pub offline: bool,
    /// Allow plain http:// to public addresses.
    #[arg(long)]
    pub allow_insecure: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors (and the CID).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `trove mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// A target (repeatable): `kubo` or `kubo=API` (dag/import + pin on a Kubo-compatible
    /// daemon), `psa=NAME|URL` (IPFS Pinning Service API: a `[pinning.NAME]` config section,
    /// or an endpoint with TROVE_PIN_TOKEN), `cluster=URL` (IPFS Cluster REST API; credentials
    /// as https://USER:PASSWORD@HOST:9094).
    #[arg(long = "to", value_name = "TARGET", required = true)]
    pub to: Vec<String>,
    /// Only each entry's latest version (default: every version).
    #[arg(long)]
    pub latest: bool,
    /// Roots worked on at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// How long to follow a pinning service's or cluster's work on one root before reporting
    /// it queued (it carries on).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub wait: std::time::Duration,
    /// The registries to mirror.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Where missing content is fetched from (for daemon targets), and the output.
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// `trove diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old version: ID[@version|@alias][/file], CID[/path], a local path, or a URL fetched
    /// with `trove fetch`.
    pub a: String,
    /// The new version (same forms).
    pub b: String,
    /// Key column(s) of table files (.tsv, .csv, .jsonl, .json, also .gz/.zst): compare them row
    /// by row.
    #[arg(long, value_name = "COL[,COL…]", value_delimiter = ',')]
    pub key: Vec<String>,
    /// The core columns compared (default: every non-key column both files have).
    #[arg(long, value_name = "COL[,COL…]", value_delimiter = ',')]
    pub columns: Vec<String>,
    /// How far numbers may differ and still match: `1e-6` (absolute), `rel=1e-9`, or
    /// `abs=1e-6,rel=1e-9`.
    #[arg(long, value_name = "TOL", default_value = "0")]
    pub tolerance: String,
    /// The tables' format when their names do not say it (e.g. two CIDs): tsv, csv, jsonl,
    /// json (gzip and zstd are told by the first bytes).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Differences printed per table (all with --json).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Print one JSON line per difference and a summary.
    #[arg(long)]
    pub json: bool,
    /// Registries.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `trove completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `trove man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write trove.1 and one trove-COMMAND.1 per command into this folder instead of printing
    /// trove.1 (e.g. `trove man --dir ~/.local/share/man/man1`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl Command {
    /// Whether `--json` was asked for (a failure is then reported as a JSON line too).
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Add(a) => a.json,
            Command::Car(a) => a.json,
            Command::Get(a) => a.fetch.json,
            Command::Cat(a) => a.fetch.json,
            Command::Serve(a) => a.json,
            Command::Cache(a) => a.json,
            Command::List(a) => a.query.json,
            Command::Search(a) => a.query.json,
            Command::Info(a) => a.query.json,
            Command::Install(a) => a.fetch.json,
            Command::Registry(RegistryCommand::Check { fetch, .. }) => fetch.json,
            Command::Registry(
                RegistryCommand::Add { json, .. } | RegistryCommand::Pr { json, .. },
            ) => *json,
            Command::Publish(a) => a.json,
            Command::Lock(a) => a.fetch.json,
            Command::Sync(a) => a.project.fetch.json,
            Command::Status(a) => a.project.fetch.json,
            Command::Verify(a) => a.project.fetch.json,
            Command::AddArtifact(a) => a.project.fetch.json,
            Command::RemoveArtifact(a) => a.project.fetch.json,
            Command::Import(a) => a.json,
            Command::Export(a) => a.fetch.json,
            Command::Fetch(a) => a.json,
            Command::Diff(a) => a.json,
            Command::Mirror(a) => a.fetch.json,
            Command::Completions(_) | Command::Man(_) => false,
        }
    }
}

/// Which project, and how to fetch for it.
#[derive(Debug, Args, Clone)]
pub struct ProjectArgs {
    /// The manifest (default: trove.toml in the current folder or the nearest one above).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Sources and time-outs.
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// `trove sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Fail when trove.lock is out of date instead of updating it (CI).
    #[arg(long, conflicts_with = "frozen")]
    pub locked: bool,
    /// Use trove.lock as it is, reading no registry; fail when it does not cover trove.toml.
    #[arg(long)]
    pub frozen: bool,
    /// Replace outputs that were changed since trove wrote them, or that trove did not write.
    #[arg(long)]
    pub force: bool,
    /// Keep the outputs up to date until stopped (SIGTERM or Ctrl-C ends it after the current
    /// step): poll, stage each run in .trove/runs/, verify, swap the outputs (symlinks) in.
    #[arg(long, conflicts_with_all = ["locked", "frozen"])]
    pub watch: bool,
    /// How often the registries are asked again (If-None-Match: an unchanged one costs one 304).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, requires = "watch")]
    pub interval: std::time::Duration,
    /// How often they are read whole whatever their ETag says (0: never).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, requires = "watch")]
    pub hard_refresh: std::time::Duration,
    /// Previous runs kept besides the current one.
    #[arg(long, value_name = "N", default_value_t = 2, requires = "watch")]
    pub keep: usize,
    /// A file touched after each swap (the consumer's signal).
    #[arg(long, value_name = "PATH", requires = "watch")]
    pub notify_file: Option<PathBuf>,
    /// A file the consumer creates or touches when it is done with a run: waited for before old
    /// runs are deleted and before the next run (trove never deletes it).
    #[arg(long, value_name = "PATH", requires = "watch")]
    pub wait_file: Option<PathBuf>,
    /// How long to wait for the wait file.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration, requires = "watch")]
    pub wait_timeout: std::time::Duration,
    /// Stop after this many polls (for tests and one-shot runs).
    #[arg(long, value_name = "N", requires = "watch")]
    pub max_polls: Option<u64>,
}

/// `trove status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A folder trove wrote (default: the project's outputs).
    pub path: Option<PathBuf>,
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `trove verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A folder trove wrote (default: the project's outputs).
    pub path: Option<PathBuf>,
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `trove add-artifact`.
#[derive(Debug, Args)]
pub struct AddArtifactArgs {
    /// The output path, relative to the manifest (e.g. data/n5).
    pub output: String,
    /// What goes there: ID[@version|@alias][/file], or a CID[/path].
    pub target: String,
    /// A registry to add to the manifest's `registries` (repeatable).
    #[arg(long = "registry", value_name = "SOURCE")]
    pub registries: Vec<String>,
    /// Only edit trove.toml; do not lock.
    #[arg(long)]
    pub no_lock: bool,
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `trove remove-artifact`.
#[derive(Debug, Args)]
pub struct RemoveArtifactArgs {
    /// The output path, as in trove.toml.
    pub output: String,
    /// Only edit trove.toml; do not lock.
    #[arg(long)]
    pub no_lock: bool,
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// The metadata of a registry entry, from flags or a JSON file.
#[derive(Debug, Args, Clone, Default)]
pub struct EntryMetaArgs {
    /// One-line description.
    #[arg(long)]
    pub description: Option<String>,
    /// Scientific domain (e.g. population-genetics).
    #[arg(long)]
    pub domain: Option<String>,
    /// Model type (e.g. coalescent).
    #[arg(long)]
    pub model_type: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// SPDX license identifier (e.g. CC0-1.0).
    #[arg(long)]
    pub license: Option<String>,
    /// Author(s).
    #[arg(long)]
    pub author: Option<String>,
    /// A JSON file with more metadata (`description`, `metadata` {…}, `license`, …); flags win.
    #[arg(long, value_name = "FILE.json")]
    pub meta: Option<PathBuf>,
}

/// Where the registry to change lives, and how to reach its forge.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryRepoArgs {
    /// The registry's git repository: `owner/repo` on GitHub, an https/ssh URL, or a local path
    /// (default: the config file's `publish.repository`).
    #[arg(long = "repo", value_name = "REPO")]
    pub repository: Option<String>,
    /// The registry file inside the repository.
    #[arg(long, value_name = "PATH", default_value = "registry.json")]
    pub registry_path: String,
    /// The branch to propose the change against (default: the repository's default branch).
    #[arg(long, value_name = "BRANCH")]
    pub base: Option<String>,
    /// The forge's REST API (default: https://api.github.com; GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Replace what exists: the entry (or, with --version, the version) in the registry, and the
    /// branch `trove/publish/<id>` of an earlier pull request.
    #[arg(long)]
    pub force: bool,
}

/// `trove publish`.
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct PublishArgs {
    /// The file or folder to publish.
    pub path: PathBuf,
    /// The registry ID (new, or existing with --version).
    #[arg(long)]
    pub id: String,
    /// Add this version to an existing ID instead of creating a new one.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Point these aliases at the new version (repeatable; e.g. latest, recommended).
    #[arg(long = "alias", value_name = "ALIAS")]
    pub aliases: Vec<String>,
    /// Entry metadata.
    #[command(flatten)]
    pub meta: EntryMetaArgs,
    /// Import profile (default unixfs-v1-2025; unixfs-v0-2015 for Kubo-default CIDv0).
    #[arg(long, value_name = "PROFILE", default_value = "unixfs-v1-2025")]
    pub profile: crate::unixfs::Profile,
    /// Also write the content as a CAR (for an HTTP mirror).
    #[arg(long, value_name = "OUT.car")]
    pub car: Option<PathBuf>,
    /// A mirror URL to record in the entry (repeatable).
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Upload the content's CAR to this object-storage prefix as `<cid>.car` and record it as a
    /// mirror (s3://BUCKET/PREFIX, gs://…, az://…; repeatable; credentials as the AWS/Google/Azure
    /// tools read them).
    #[arg(long = "upload", value_name = "URL")]
    pub uploads: Vec<String>,
    /// The S3-compatible store s3:// URLs go to (MinIO, Ceph, R2, …), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Attach the CAR (and a published archive) to this GitHub release, made when the tag has
    /// none, and record the assets as mirrors (token as for --pr).
    #[arg(long, value_name = "OWNER/REPO@TAG")]
    pub release: Option<String>,
    /// Add and pin the content on the local IPFS daemon (default: when one answers).
    #[arg(long, overrides_with = "no_daemon")]
    pub daemon: bool,
    /// Do not add the content to a local IPFS daemon.
    #[arg(long)]
    pub no_daemon: bool,
    /// The Kubo RPC API to add the content to (URL or multiaddr).
    #[arg(long, value_name = "URL")]
    pub kubo_api: Option<String>,
    /// Pin on this remote pinning service (a name from the config file's `[pinning.NAME]`, or an
    /// endpoint URL; repeatable). Its token comes from the config or `TROVE_PIN_TOKEN`.
    #[arg(long = "pin", value_name = "SERVICE")]
    pub pins: Vec<String>,
    /// Show the entry and the registry diff; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Open a pull request against the registry repository.
    #[arg(long)]
    pub pr: bool,
    /// Merge the entry into this local registry file instead (maintainers).
    #[arg(long, value_name = "registry.json", conflicts_with = "pr")]
    pub registry_file: Option<PathBuf>,
    /// The registry repository (for --pr, and to check the ID is new).
    #[command(flatten)]
    pub repo: RegistryRepoArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which registries to read.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// A registry: a path, a URL, or `owner/repo[@ref]` on GitHub (repeatable; searched in
    /// order; default: TROVE_REGISTRY, else the config file's `registries`).
    #[arg(long = "registry", value_name = "SOURCE")]
    pub registries: Vec<String>,
    /// Ask the registry servers again even if the cached copy is fresh.
    #[arg(long)]
    pub refresh: bool,
}

/// What `list`, `search` and `info` share: the output format, the registries, the network.
#[derive(Debug, Args, Clone, Default)]
pub struct QueryArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Registries.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Make no network call (cached registry copies only).
    #[arg(long)]
    pub offline: bool,
}

/// `trove list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this domain (e.g. population-genetics).
    #[arg(long)]
    pub domain: Option<String>,
    /// Only this model type (e.g. coalescent).
    #[arg(long)]
    pub model_type: Option<String>,
    /// Only entries with this tag (repeatable: all must match).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Output, registries and network.
    #[command(flatten)]
    pub query: QueryArgs,
}

/// `trove search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for (all must match).
    #[arg(required = true)]
    pub text: Vec<String>,
    /// Output, registries and network.
    #[command(flatten)]
    pub query: QueryArgs,
}

/// `trove info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The artifact: ID[@version|@alias].
    pub id: String,
    /// Output, registries and network.
    #[command(flatten)]
    pub query: QueryArgs,
}

/// `trove install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The collection to install.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub collection: Option<String>,
    /// Install every artifact of the registries.
    #[arg(long)]
    pub all: bool,
    /// The folder to install into (one subfolder or file per artifact).
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
    /// Artifacts fetched at once.
    #[arg(long, short = 'j', default_value_t = 4)]
    pub jobs: usize,
    /// Registries.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Sources and time-outs.
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// `trove registry …`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Merge an entry (a JSON file as `trove publish --dry-run --json` prints it) into a local
    /// registry file, keeping its formatting, then check it.
    Add {
        /// The entry file.
        entry: PathBuf,
        /// The registry file to change.
        #[arg(
            long = "file",
            value_name = "registry.json",
            default_value = "registry/registry.json"
        )]
        file: PathBuf,
        /// Replace an entry or version that exists already.
        #[arg(long)]
        force: bool,
        /// Print the result (the ID and the check's findings) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open a pull request adding an entry (a JSON file as `trove publish --dry-run --json`
    /// prints it) to a registry repository.
    Pr {
        /// The entry file.
        entry: PathBuf,
        /// The registry repository.
        #[command(flatten)]
        repo: RegistryRepoArgs,
        /// Print the outcome (the pull request, the pushed branch, or the steps left) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a registry file: schema, CIDs and codecs, duplicates, dangling collection members
    /// and aliases, unsafe file names, size mismatches; with --reachable, also which sources
    /// have each entry's content. Exit 1 when anything is wrong.
    Check {
        /// The registry (path or URL; default: the configured registries).
        source: Option<String>,
        /// Also ask every configured source (the daemon, the p2p tier, the gateways, each
        /// entry's mirrors) for every entry's root, and say which have it; exit 1 when an
        /// entry's content is reachable nowhere.
        #[arg(long)]
        reachable: bool,
        /// With --reachable: only each entry's latest version (default: every version).
        #[arg(long, requires = "reachable")]
        latest: bool,
        /// With --reachable: how long one source may take to answer for one root.
        #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration, requires = "reachable")]
        probe_timeout: std::time::Duration,
        /// The sources to ask (with --reachable), and --json / --offline.
        #[command(flatten)]
        fetch: FetchArgs,
    },
}

/// UnixFS import parameters: a profile and Kubo's knobs on top of it.
#[derive(Debug, Args, Clone)]
pub struct ImportArgs {
    /// Import profile: `unixfs-v0-2015` (Kubo's defaults), `unixfs-v1-2025` (IPIP-0499), or either
    /// with `-buzhash` (the same cut by content-defined chunks: `--chunker buzhash`).
    #[arg(long, value_name = "PROFILE", default_value = "unixfs-v0-2015")]
    pub profile: crate::unixfs::Profile,
    /// CID version of the DAG nodes (1 also turns on raw leaves unless --raw-leaves says otherwise).
    #[arg(long, value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub cid_version: Option<u8>,
    /// Store file chunks as raw blocks instead of UnixFS nodes.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub raw_leaves: Option<bool>,
    /// Chunker: `size-N` (fixed chunks of N bytes) or `buzhash` (content-defined, 128-512 KiB, as
    /// `ipfs add --chunker=buzhash`: a new version with bytes inserted shares the other chunks).
    #[arg(long, value_name = "size-N|buzhash", value_parser = crate::unixfs::parse_chunker)]
    pub chunker: Option<crate::unixfs::Chunker>,
    /// Maximum links per file node.
    #[arg(long, value_name = "N")]
    pub max_links: Option<usize>,
    /// Hash function: sha2-256 (default), sha2-512 or blake2b-256 (not sha2-256 implies CIDv1).
    #[arg(long, value_name = "NAME", value_parser = parse_hash)]
    pub hash: Option<crate::content::HashCode>,
}

fn parse_hash(text: &str) -> Result<crate::content::HashCode, String> {
    use crate::content::HashCode;
    match text {
        "sha2-256" => Ok(HashCode::Sha2_256),
        "sha2-512" => Ok(HashCode::Sha2_512),
        "blake2b-256" => Ok(HashCode::Blake2b256),
        other => Err(format!(
            "unsupported hash `{other}`; use sha2-256, sha2-512 or blake2b-256"
        )),
    }
}

/// `trove add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// File or directory to add (directories are added recursively, hidden files included).
    pub path: PathBuf,
    /// Only compute the CID; store nothing.
    #[arg(long, short = 'n')]
    pub only_hash: bool,
    /// Print only the root CID.
    #[arg(long, short = 'Q')]
    pub quiet: bool,
    /// Print the result as JSON.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// Import parameters.
    #[command(flatten)]
    pub import: ImportArgs,
}

/// `trove car …`.
#[derive(Debug, Args)]
pub struct CarArgs {
    /// Print the result as JSON on standard output (standard error when the CAR goes there).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CarCommand,
}

/// `trove car` subcommands.
#[derive(Debug, Subcommand)]
pub enum CarCommand {
    /// Import a file or directory and write it as a CARv1 (in `ipfs dag export` order).
    Export(CarExportArgs),
    /// Verify a CAR (v1 or v2), store its blocks and print its roots.
    Import(CarImportArgs),
}

/// `trove car export`.
#[derive(Debug, Args)]
pub struct CarExportArgs {
    /// File or directory to export.
    pub path: PathBuf,
    /// Where to write the CAR (`-` for standard output).
    #[arg(short, long, value_name = "OUT.car")]
    pub output: PathBuf,
    /// Import parameters.
    #[command(flatten)]
    pub import: ImportArgs,
}

/// `trove car import`.
#[derive(Debug, Args)]
pub struct CarImportArgs {
    /// The CAR file (`-` for standard input).
    pub car: PathBuf,
    /// Do not keep the roots (gc may then remove the blocks).
    #[arg(long)]
    pub no_keep: bool,
}

/// Where content may come from, and how long to try.
#[derive(Debug, Args, Clone, Default)]
pub struct FetchArgs {
    /// Sources to ask, in order: kubo, p2p, gateway, mirror (comma-separated; default all).
    #[arg(long = "source", value_name = "LIST", value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Make no network call: use the local cache only (also TROVE_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    /// A trustless gateway to use (repeatable; replaces the configured list).
    #[arg(long = "gateway", value_name = "URL")]
    pub gateways: Vec<String>,
    /// A mirror holding a CAR, the raw file or an archive of it: https://… or object storage
    /// (s3://, gs://, az://) (repeatable).
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// The UnixFS profile a raw-file or archive mirror's CID was made with (to verify it by
    /// re-import).
    #[arg(long, value_name = "PROFILE")]
    pub mirror_profile: Option<crate::unixfs::Profile>,
    /// The S3-compatible store s3:// mirrors are read from (MinIO, Ceph, R2, …), e.g.
    /// http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL, the config's `[mirror] endpoint`, AWS).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The Kubo RPC API to use (URL or multiaddr; default: IPFS_API, $IPFS_PATH/api, 127.0.0.1:5001).
    #[arg(long, value_name = "URL")]
    pub kubo_api: Option<String>,
    /// Allow plain http:// to public addresses (loopback and private ones are always allowed).
    #[arg(long)]
    pub allow_insecure: bool,
    /// A libp2p peer to fetch from over bitswap, e.g. /ip4/10.0.0.5/tcp/4001/p2p/12D3Koo…
    /// (repeatable; added to the configured peers).
    #[arg(long = "peer", value_name = "MULTIADDR")]
    pub peers: Vec<String>,
    /// A DHT bootstrap peer for the p2p tier (repeatable; replaces the configured and public
    /// ones).
    #[arg(long = "bootstrap", value_name = "MULTIADDR", alias = "bootstrap-peer")]
    pub bootstrap: Vec<String>,
    /// A delegated routing endpoint for the p2p tier, e.g. https://delegated-ipfs.dev
    /// (repeatable; replaces the configured ones).
    #[arg(long = "router", value_name = "URL", aliases = ["routing", "delegated-routing"])]
    pub routers: Vec<String>,
    /// Give up after this long (e.g. 90s, 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// A request that delivers no byte for this long fails over to the next source (default 30s;
    /// a single-block request, when its source answers nothing at all for this long; one the
    /// source hangs on while it answers others is asked again).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<std::time::Duration>,
    /// Print progress and the result as JSON lines (one event per line) on standard output
    /// (standard error when the command writes data there: cat, get -o -, get --car -).
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `trove get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to get: a registry ID (ID[@version|@alias][/file]), CID, CID/path, /ipfs/CID/path
    /// or ipfs://CID/path.
    pub target: String,
    /// Where to write it (`-` streams a file to standard output). Default: the last path
    /// component, or the CID.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write the verified DAG as a CARv1 file instead of unpacking it.
    #[arg(long, value_name = "OUT.car", conflicts_with = "output")]
    pub car: Option<PathBuf>,
    /// Replace a folder already at the output path (the new output is moved into place in one
    /// rename, then the old one is deleted). An existing file is always replaced.
    #[arg(long)]
    pub force: bool,
    /// After the get, keep serving the content to other peers over bitswap (like
    /// `trove serve --p2p`) until interrupted.
    #[arg(long)]
    pub seed: bool,
    /// Addresses to listen on while seeding (repeatable; default: the config's `p2p.listen`,
    /// else /ip4/0.0.0.0/tcp/0 and /ip4/0.0.0.0/udp/0/quic-v1).
    #[arg(long = "listen", value_name = "MULTIADDR", requires = "seed")]
    pub listen: Vec<String>,
    /// Sources and time-outs.
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Registries (for registry IDs).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `trove serve`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("servers").required(true).multiple(true).args(["p2p", "http"]))]
pub struct ServeArgs {
    /// Serve the local cache over bitswap with the embedded libp2p node.
    #[arg(long)]
    pub p2p: bool,
    /// Serve the local cache over HTTP: a trustless gateway at /ipfs/{cid} and the registry's
    /// web page at / (default address: 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub http: Option<String>,
    /// With --http: fetch content a request asks for that the cache lacks through the
    /// configured sources first (and keep it), instead of answering 404.
    #[arg(long, requires = "http")]
    pub fetch: bool,
    /// With --http: a trustless gateway the fetches may use (repeatable; replaces the
    /// configured list).
    #[arg(long = "gateway", value_name = "URL", requires = "fetch")]
    pub gateways: Vec<String>,
    /// With --http: serve no registry page at / (only the gateway).
    #[arg(long, requires = "http")]
    pub no_page: bool,
    /// The registries the page lists.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// With --p2p: an address to listen on (repeatable; default: the config's `p2p.listen`,
    /// else /ip4/0.0.0.0/tcp/0 and /ip4/0.0.0.0/udp/0/quic-v1).
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A peer to connect to at start (repeatable); with --fetch, also one to fetch from.
    #[arg(long = "peer", value_name = "MULTIADDR")]
    pub peers: Vec<String>,
    /// Print what the servers listen on as JSON lines on standard output (for supervisors
    /// and scripts), instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `trove cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// What to print: CID, CID/path, /ipfs/CID/path or ipfs://CID/path.
    pub target: String,
    /// Sources and time-outs.
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Start at this byte.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Print at most this many bytes.
    #[arg(long, short = 'l')]
    pub length: Option<u64>,
}

/// `trove cache …`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// `trove cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Re-hash every stored block and compare every snapshot with its content; exit 4 and list
    /// what is bad if anything is.
    Verify {
        /// Delete bad blocks and snapshots (they are fetched or written again when needed).
        #[arg(long)]
        remove: bool,
    },
    /// List kept roots and snapshots (and, with --blocks, every stored block).
    Ls {
        /// List every block instead of the kept roots.
        #[arg(long)]
        blocks: bool,
    },
    /// Delete blocks not reachable from a kept root.
    Gc {
        /// Keep unreachable blocks written less than this long ago (e.g. `0s`, `10m`, `1h`),
        /// which protects downloads running in other processes.
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
        grace: std::time::Duration,
        /// Remove every snapshot too (the read-only trees `get` hands out; they are written
        /// again from the blocks when needed). Without it only those whose content is gone are.
        #[arg(long)]
        snapshots: bool,
    },
    /// Keep a root (and everything under it) through gc.
    Pin {
        /// The root CID.
        cid: String,
        /// A label to show in `trove cache ls`.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Stop keeping a root; gc may then remove its blocks.
    Unpin {
        /// The root CID.
        cid: String,
    },
}

/// Parses `500ms`, `90`, `90s`, `10m`, `2h`, `1d`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration("duration", text).map_err(|e| e.to_string())
}
