//! `trove publish`, `trove registry add` and `trove registry pr`.
//!
//! `trove publish PATH --id ID` works in an order that leaves nothing half-done: it validates
//! the flags, the pinning services and their tokens, and reads the registry it will change;
//! imports PATH into the store and prints the CID (the only thing on standard output, unless
//! `--json`); builds the entry and checks the would-be registry (any new error aborts, naming
//! the field); then, unless `--dry-run`, writes the CAR (`--car`), adds the content to the local
//! daemon, pins it remotely, and last changes the registry (`--registry-file`) or opens the
//! pull request (`--pr`).

use super::args::{PublishArgs, RegistryRepoArgs};
use super::Context;
use crate::content::Cid;
use crate::fetch::{discover_api_candidates, KuboRpcSource};
use crate::import::import_path;
use crate::progress::Silent;
use crate::publish::edit::{self, Addition};
use crate::publish::entry::{build_entry, today_utc, ContentFacts, EntryMeta, VersionInfo};
use crate::publish::pin::{dag_import, PinOutcome, PinService, PinWait};
use crate::publish::pr::{PrChange, PrOptions, PrOutcome};
use crate::registry::check_document;
use crate::registry::model::is_valid_name;
use crate::store::FsStore;
use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use url::Url;

/// The forge API used when neither a flag nor the config names one.
const DEFAULT_API_URL: &str = "https://api.github.com";

/// The registry a command changes, as read before anything else happens.
enum RegistryTarget {
    /// A local file (`bytes` is a fresh registry when it does not exist yet).
    File { path: PathBuf, bytes: Vec<u8> },
    /// The registry file of a repository (for `--pr`).
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn run(ctx: &Context, args: PublishArgs) -> anyhow::Result<i32> {
    let say = |line: &str| {
        if !args.json {
            eprintln!("{line}");
        }
    };
    // 1. Everything that can be checked before any side effect.
    if !is_valid_name(&args.id) {
        bail!(
            "`{}` is not a valid registry ID: use ASCII letters, digits and `._+-`, starting with a letter or digit",
            args.id
        );
    }
    if let Some(v) = &args.version {
        if !is_valid_name(v) {
            bail!("`{v}` is not a valid version name");
        }
    }
    if args.daemon && args.no_daemon {
        bail!("--daemon and --no-daemon contradict each other");
    }
    if let Some(car) = &args.car {
        crate::extract::check_folder(car)?;
    }
    let meta = read_meta(&args)?;
    let services = pin_services(ctx, &args.pins)?;
    let rt = runtime()?;
    let target = if let Some(path) = &args.registry_file {
        Some(read_registry_file(path)?)
    } else if args.pr {
        let options = pr_options(ctx, &args.repo)?;
        let bytes = rt
            .block_on(crate::publish::pr::read_registry(&options))
            .with_context(|| {
                format!(
                    "cannot read `{}` from `{}`",
                    options.registry_path, options.repository
                )
            })?;
        Some(RegistryTarget::Repo { options, bytes })
    } else {
        None
    };

    // 2. Import, and print the CID.
    let store = ctx.store()?;
    let root = import_path(&args.path, &args.profile.params(), &store, &Silent)
        .with_context(|| format!("cannot import `{}`", args.path.display()))?;
    if !args.dry_run {
        store
            .keep_root(&root.cid, &format!("publish {}", args.id))
            .context("cannot record the published root in the cache")?;
    }
    if !args.json {
        println!("{}", root.cid);
        std::io::stdout().flush()?;
    }
    say(&format!(
        "imported `{}` ({} bytes, profile {})",
        args.path.display(),
        root.content_size,
        args.profile
    ));

    // 3. The entry and the would-be registry, checked.
    let facts = ContentFacts::read(&store, &root.cid, args.profile, root.content_size)?;
    for name in &facts.skipped {
        say(&format!(
            "note: `{name}` is not listed in `files` (only top-level regular files with safe names are)"
        ));
    }
    let version = args.version.clone().unwrap_or_else(|| "1".to_string());
    let info = VersionInfo {
        version: version.clone(),
        aliases: args.aliases.clone(),
        published: today_utc(),
        mirrors: args.mirrors.clone(),
    };
    let addition = Addition {
        id: args.id.clone(),
        entry: build_entry(&meta, &facts, &info),
        add_version: args.version.is_some(),
        aliases: args.aliases.clone(),
        force: args.repo.force,
    };
    let old = match &target {
        Some(t) => t.bytes().to_vec(),
        None => edit::new_document().to_vec(),
    };
    let name = target
        .as_ref()
        .map(RegistryTarget::name)
        .unwrap_or_else(|| "(a new registry)".into());
    let new = edit::apply(&old, &addition)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("cannot add `{}` to `{name}`", args.id))?;
    let warnings = checked(&old, &new, &name, target.as_ref().and_then(|t| t.base()))
        .with_context(|| format!("`{}` was not published", args.id))?;
    for w in &warnings {
        say(&format!("warning: {w}"));
    }
    let diff = target.as_ref().map(|t| {
        edit::unified_diff(
            &String::from_utf8_lossy(t.bytes()),
            &String::from_utf8_lossy(&new),
            &format!("a/{}", t.name()),
            &format!("b/{}", t.name()),
        )
    });
    let mut result = json!({
        "id": args.id,
        "version": version,
        "add_version": addition.add_version,
        "aliases": args.aliases,
        "cid": root.cid.to_string(),
        "profile": args.profile.name(),
        "size": root.content_size,
        "entry": addition.entry,
        "dry_run": args.dry_run,
        "warnings": warnings,
    });

    // 4. --dry-run stops here.
    if args.dry_run {
        result["diff"] = json!(diff);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&result)?);
        } else {
            eprintln!(
                "entry `{}`:\n{}",
                args.id,
                serde_json::to_string_pretty(&addition.entry)?
            );
            match &diff {
                Some(d) if !d.is_empty() => eprint!("{d}"),
                Some(_) => eprintln!("(the registry would not change)"),
                None => {}
            }
            eprintln!("dry run: nothing was written, added, pinned or proposed");
        }
        return Ok(0);
    }

    // 5. Make the content available.
    if let Some(out) = &args.car {
        let summary = super::car::write_car_file(&store, &root.cid, out)?;
        say(&format!(
            "wrote {} ({} blocks, {} bytes)",
            out.display(),
            summary.blocks,
            summary.bytes
        ));
        result["car"] = json!(out.display().to_string());
    }
    if !args.no_daemon {
        result["daemon"] = add_to_daemon(ctx, &args, &store, &root.cid, &rt, &say)?;
    }
    let mut pins = Vec::new();
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    let pin_name = match &args.version {
        Some(v) => format!("{}@{v}", args.id),
        None => args.id.clone(),
    };
    for service in &services {
        let outcome = rt
            .block_on(service.pin(&client, &root.cid, &pin_name, PinWait::default()))
            .map_err(anyhow::Error::new)
            .with_context(|| format!("cannot pin `{}`", root.cid))?;
        match &outcome {
            PinOutcome::Pinned { request_id } => {
                say(&format!("pinned on `{}`", service.name));
                pins.push(
                    json!({"service": service.name, "status": "pinned", "request_id": request_id}),
                );
            }
            PinOutcome::Queued { request_id, status } => {
                say(&format!(
                    "warning: `{}` accepted the pin but has not finished (status `{status}`, request `{request_id}`); it keeps working on it: check later with GET {}/pins/{request_id}",
                    service.name,
                    service.endpoint.as_str().trim_end_matches('/')
                ));
                pins.push(
                    json!({"service": service.name, "status": status, "request_id": request_id}),
                );
            }
        }
    }
    result["pins"] = json!(pins);

    // 6. The registry, last.
    match target {
        Some(RegistryTarget::File { path, .. }) => {
            write_atomic(&path, &new)?;
            say(&format!("added `{}` to {}", args.id, path.display()));
            result["registry_file"] = json!(path.display().to_string());
        }
        Some(RegistryTarget::Repo { options, .. }) => {
            let change = pr_change(&addition, &facts, &meta);
            let outcome = open_pr(&rt, &options, &change, addition)?;
            report_outcome(&outcome, &say);
            result["pull_request"] = outcome_json(&outcome);
        }
        None => {}
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(0)
}

/// The metadata from `--meta FILE.json` and the flags (flags win).
fn read_meta(args: &PublishArgs) -> anyhow::Result<EntryMeta> {
    let m = &args.meta;
    let base = match &m.meta {
        Some(path) => {
            let bytes = fs_err::read(path)?;
            EntryMeta::from_json(&bytes, &path.display().to_string())?
        }
        None => EntryMeta::default(),
    };
    Ok(base.with_flags(
        m.description.as_deref(),
        m.domain.as_deref(),
        m.model_type.as_deref(),
        &m.tags,
        m.license.as_deref(),
        m.author.as_deref(),
    ))
}

/// `--pin SERVICE` values: a `[pinning.NAME]` of the config file, or an endpoint URL (its token
/// from a config section with that endpoint, else `TROVE_PIN_TOKEN`).
fn pin_services(ctx: &Context, names: &[String]) -> anyhow::Result<Vec<PinService>> {
    let mut out = Vec::new();
    for name in names {
        let (endpoint, token) = match ctx.config.pinning.get(name) {
            Some(section) => (
                section.endpoint.clone(),
                section.token.clone().or_else(|| ctx.env.pin_token.clone()),
            ),
            None if name.contains("://") => {
                let token = ctx
                    .config
                    .pinning
                    .values()
                    .find(|s| s.endpoint.trim_end_matches('/') == name.trim_end_matches('/'))
                    .and_then(|s| s.token.clone())
                    .or_else(|| ctx.env.pin_token.clone());
                (name.clone(), token)
            }
            None => {
                let known: Vec<&str> = ctx.config.pinning.keys().map(String::as_str).collect();
                bail!(
                    "unknown pinning service `{name}`; name a `[pinning.NAME]` section of the config file ({}) or give the endpoint URL",
                    if known.is_empty() {
                        "there is none".to_string()
                    } else {
                        format!("known: {}", known.join(", "))
                    }
                );
            }
        };
        let url = crate::fetch::http::check_url(&endpoint, false)
            .with_context(|| format!("the pinning service `{name}` has a bad endpoint"))?;
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            bail!(
                "no access token for the pinning service `{name}`: set {} or `token` in its `[pinning.NAME]` section",
                crate::config::TROVE_PIN_TOKEN
            );
        };
        out.push(PinService::new(name.clone(), url, token.trim()));
    }
    Ok(out)
}

fn read_registry_file(path: &Path) -> anyhow::Result<RegistryTarget> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => edit::new_document().to_vec(),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read `{}`", path.display()));
        }
    };
    Ok(RegistryTarget::File {
        path: path.to_path_buf(),
        bytes,
    })
}

/// Checks the edited registry: errors that the old one did not have are fatal (each names its
/// entry and field); returns the new warnings.
fn checked(old: &[u8], new: &[u8], name: &str, base: Option<Url>) -> anyhow::Result<Vec<String>> {
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
        bail!(
            "the registry would not pass `trove registry check`:\n{}",
            list.join("\n")
        );
    }
    Ok(fresh
        .into_iter()
        .filter_map(|f| f.strip_prefix("warning: ").map(str::to_string))
        .collect())
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, synced, renamed).
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = crate::extract::folder_of(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in `{}`", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// Adds the content to the local daemon when one answers (an error with `--daemon` when none
/// does); returns what to report.
fn add_to_daemon(
    ctx: &Context,
    args: &PublishArgs,
    store: &FsStore,
    root: &Cid,
    rt: &tokio::runtime::Runtime,
    say: &dyn Fn(&str),
) -> anyhow::Result<Value> {
    let flag = args
        .kubo_api
        .clone()
        .or_else(|| ctx.config.kubo.api.clone());
    let candidates = match discover_api_candidates(
        flag.as_deref(),
        ctx.env.ipfs_api.as_deref(),
        ctx.env.ipfs_path.as_deref(),
        ctx.env.home.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) if args.daemon || args.kubo_api.is_some() => return Err(e.into()),
        Err(e) => {
            say(&format!("warning: skipping the local IPFS daemon: {e}"));
            return Ok(Value::Null);
        }
    };
    let client = reqwest::Client::builder().no_proxy().build()?;
    let source = rt.block_on(KuboRpcSource::connect(&candidates, client.clone()))?;
    let Some(source) = source else {
        if args.daemon || args.kubo_api.is_some() {
            bail!(
                "no IPFS daemon answered (tried {}); start one, or leave out --daemon",
                candidates
                    .iter()
                    .map(|c| format!("`{}`", c.display_url()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        say("no local IPFS daemon answered; the content was not added to one");
        return Ok(Value::Null);
    };
    let api = source.api().clone();
    // The CAR streams from a file: the one the user asked for, or a temporary export.
    let (car, _tmp) = match &args.car {
        Some(path) => (path.clone(), None),
        None => {
            let dir = ctx.cache_root()?.join("publish-v1").join("tmp");
            fs_err::create_dir_all(&dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
            crate::car::export_dag(store, root, tmp.as_file_mut())
                .context("cannot export the content for the daemon")?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let done = rt
        .block_on(dag_import(&client, &api.url, &car, root))
        .map_err(anyhow::Error::new)?;
    say(&format!(
        "added and pinned on the IPFS daemon at {} ({})",
        api.display_url(),
        source.version()
    ));
    Ok(json!({"api": api.display_url(), "pinned": true, "bytes": done.bytes}))
}

/// `PrOptions` from the flags, the config file's `[publish]` and the environment.
fn pr_options(ctx: &Context, repo: &RegistryRepoArgs) -> anyhow::Result<PrOptions> {
    let config = &ctx.config.publish;
    let Some(repository) = repo
        .repository
        .clone()
        .or_else(|| config.repository.clone())
    else {
        bail!("name the registry repository with --repo OWNER/REPO (or `repository` in the config file's `[publish]`)");
    };
    let registry_path = if repo.registry_path == "registry.json" {
        config
            .registry_path
            .clone()
            .unwrap_or_else(|| repo.registry_path.clone())
    } else {
        repo.registry_path.clone()
    };
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
        token: ctx.env.forge_token.clone().or_else(|| config.token.clone()),
        force: repo.force,
        work_dir: ctx.cache_root()?.join("publish-v1"),
        allow_insecure: false,
        ..PrOptions::default()
    })
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

/// Opens the pull request; the edit re-applies the addition to the registry as it is on the
/// base branch then, and checks the result.
fn open_pr(
    rt: &tokio::runtime::Runtime,
    options: &PrOptions,
    change: &PrChange,
    addition: Addition,
) -> anyhow::Result<PrOutcome> {
    let name = format!("{}:{}", options.repository, options.registry_path);
    let edit = move |old: &[u8]| -> Result<Vec<u8>, String> {
        let new = edit::apply(old, &addition).map_err(|e| e.to_string())?;
        checked(old, &new, &name, None).map_err(|e| format!("{e:#}"))?;
        Ok(new)
    };
    rt.block_on(crate::publish::pr::open_pull_request(
        options, change, &edit,
    ))
    .map_err(anyhow::Error::new)
    .context("cannot open the pull request")
}

fn report_outcome(outcome: &PrOutcome, say: &dyn Fn(&str)) {
    match outcome {
        PrOutcome::Opened { url, number, .. } => {
            say(&format!("opened pull request #{number}: {url}"))
        }
        PrOutcome::Pushed { branch, remote } => say(&format!(
            "pushed branch `{branch}` to `{remote}`; open the pull request from it"
        )),
        PrOutcome::ManualSteps {
            branch,
            steps,
            compare_url,
        } => {
            say(&format!(
                "the change is committed on branch `{branch}`; to propose it:\n{steps}"
            ));
            if let Some(url) = compare_url {
                say(&format!("compare: {url}"));
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

/// An entry file as `trove publish --dry-run --json` prints it (`id`, `entry`, and optionally
/// `add_version` and `aliases`), or `{"ID": {entry}}`.
fn read_entry_file(path: &Path, force: bool) -> anyhow::Result<Addition> {
    let bytes = fs_err::read(path)?;
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("`{}` is not valid JSON", path.display()))?;
    let Value::Object(object) = value else {
        bail!("`{}` is not a JSON object", path.display());
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
        _ => bail!(
            "`{}` is not an entry file: expected `{{\"id\": …, \"entry\": {{…}}}}` (as `trove publish --dry-run --json` prints) or `{{\"ID\": {{…}}}}`",
            path.display()
        ),
    };
    if !entry.is_object() {
        bail!("the entry in `{}` is not a JSON object", path.display());
    }
    Ok(Addition {
        id,
        entry,
        add_version,
        aliases,
        force,
    })
}

pub(crate) fn registry_add(
    _ctx: &Context,
    entry: &Path,
    file: &Path,
    force: bool,
) -> anyhow::Result<i32> {
    let addition = read_entry_file(entry, force)?;
    let target = read_registry_file(file)?;
    let (name, base) = (target.name(), target.base());
    let old = target.bytes();
    let new = edit::apply(old, &addition)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("cannot add `{}` to `{name}`", addition.id))?;
    let warnings = checked(old, &new, &name, base.clone())
        .with_context(|| format!("`{}` was not added", addition.id))?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    write_atomic(file, &new)?;
    eprintln!("added `{}` to {}", addition.id, file.display());
    let report = check_document(&new, &name, base);
    for finding in &report.findings {
        println!("{finding}");
    }
    let errors = report.errors().count();
    eprintln!(
        "{}: {} entries, {errors} error(s), {} warning(s)",
        report.registry,
        report.entries,
        report.findings.len() - errors
    );
    Ok(if report.is_ok() { 0 } else { 1 })
}

pub(crate) fn registry_pr(
    ctx: &Context,
    entry: &Path,
    repo: &RegistryRepoArgs,
) -> anyhow::Result<i32> {
    let addition = read_entry_file(entry, repo.force)?;
    let cid = addition
        .cid()
        .and_then(|c| crate::content::parse_cid(c).ok())
        .with_context(|| format!("the entry in `{}` has no valid `cid`", entry.display()))?;
    let options = pr_options(ctx, repo)?;
    let rt = runtime()?;
    let object = addition.entry.as_object().cloned().unwrap_or_default();
    let meta = EntryMeta {
        description: object
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        license: object
            .get("license")
            .and_then(Value::as_str)
            .map(str::to_string),
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
        .unwrap_or(crate::unixfs::Profile::UnixfsV1_2025);
    let facts = ContentFacts {
        cid,
        profile,
        size: object.get("size").and_then(Value::as_u64).unwrap_or(0),
        files: Vec::new(),
        sha256: None,
        skipped: Vec::new(),
    };
    let change = pr_change(&addition, &facts, &meta);
    let outcome = open_pr(&rt, &options, &change, addition)?;
    report_outcome(&outcome, &|line| eprintln!("{line}"));
    if let PrOutcome::Opened { url, .. } = &outcome {
        println!("{url}");
    }
    Ok(0)
}
