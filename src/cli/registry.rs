//! `trove list`, `search`, `info` and `registry check`, and loading registries for the other
//! commands.

use super::args::{InfoArgs, ListArgs, QueryArgs, RegistryArgs, RegistryCommand, SearchArgs};
use super::Context;
use crate::registry::{
    check_document, Client, ClientOptions, Entry, Filter, Registry, RegistrySet, RegistrySource,
};
use serde_json::json;

/// The registries to read: `--registry` > `TROVE_REGISTRY` > the config file's `registries`.
pub(crate) fn sources(ctx: &Context, args: &RegistryArgs) -> anyhow::Result<Vec<RegistrySource>> {
    let texts: Vec<String> = if !args.registries.is_empty() {
        args.registries.clone()
    } else if let Some(env) = &ctx.env.registry {
        env.split(',').map(|s| s.trim().to_string()).collect()
    } else {
        ctx.config.registries.clone().unwrap_or_default()
    };
    let texts: Vec<String> = texts.into_iter().filter(|t| !t.is_empty()).collect();
    if texts.is_empty() {
        anyhow::bail!(
            "no registry is configured\nhint: pass --registry PATH|URL|owner/repo (e.g. --registry registry/registry.json), set TROVE_REGISTRY, or add `registries = [...]` to the config file"
        );
    }
    texts
        .iter()
        .map(|t| RegistrySource::parse(t).map_err(anyhow::Error::from))
        .collect()
}

/// A registry client with the cache, TTL and offline settings of this command.
pub(crate) fn client(ctx: &Context, args: &RegistryArgs, offline: bool) -> anyhow::Result<Client> {
    let mut options = ClientOptions::new(ctx.cache_root()?);
    options.offline = offline || ctx.env.offline()?.or(ctx.config.offline).unwrap_or(false);
    options.refresh = args.refresh;
    if let Some(ttl) = &ctx.config.registry_ttl {
        options.ttl = crate::config::parse_duration("registry_ttl", ttl)?;
    }
    options.allow_insecure = ctx.config.gateway.allow_insecure.unwrap_or(false);
    Ok(Client::new(options)?)
}

/// Loads every configured registry (warnings go to standard error).
pub(crate) fn load(
    ctx: &Context,
    args: &RegistryArgs,
    offline: bool,
    quiet: bool,
) -> anyhow::Result<RegistrySet> {
    let sources = sources(ctx, args)?;
    let client = client(ctx, args, offline)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (set, warnings) = runtime.block_on(client.load_all(&sources))?;
    if !quiet {
        for w in warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(set)
}

/// Loads the registries of `list`, `search` or `info` (with `--json`, without the warnings).
fn load_query(ctx: &Context, query: &QueryArgs) -> anyhow::Result<RegistrySet> {
    load(ctx, &query.registry, query.offline, query.json)
}

pub(crate) fn list(ctx: &Context, args: ListArgs) -> anyhow::Result<i32> {
    let set = load_query(ctx, &args.query)?;
    let filter = Filter {
        domain: args.domain.clone(),
        model_type: args.model_type.clone(),
        tags: args.tags.clone(),
        include_retracted: false,
    };
    let entries = set.list(&filter);
    print_entries(entries.iter().map(|(r, e)| (*r, *e)), args.query.json);
    Ok(0)
}

pub(crate) fn search(ctx: &Context, args: SearchArgs) -> anyhow::Result<i32> {
    let set = load_query(ctx, &args.query)?;
    let text = args.text.join(" ");
    let hits = set.search(&text);
    if hits.is_empty() && !args.query.json {
        eprintln!("no artifact matches `{text}`");
        return Ok(1);
    }
    print_entries(hits.iter().map(|(r, h)| (*r, h.entry)), args.query.json);
    Ok(0)
}

fn print_entries<'a>(entries: impl Iterator<Item = (&'a Registry, &'a Entry)>, json: bool) {
    let entries: Vec<_> = entries.collect();
    if json {
        let out: Vec<_> = entries
            .iter()
            .map(|(r, e)| json!({"registry": r.name, "entry": e}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializable")
        );
        return;
    }
    let width = entries
        .iter()
        .map(|(_, e)| e.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:width$}  {:>8}  {:>10}  DESCRIPTION",
        "ID", "VERSION", "SIZE"
    );
    for (_, e) in entries {
        let latest = e.latest();
        let version = latest.map(|v| v.version.as_str()).unwrap_or("-");
        let size = latest
            .and_then(|v| v.size)
            .map(human_size)
            .unwrap_or_else(|| "-".into());
        let mut desc = e.description.replace('\n', " ");
        if desc.chars().count() > 70 {
            desc = desc.chars().take(69).collect::<String>() + "…";
        }
        println!("{:width$}  {version:>8}  {size:>10}  {desc}", e.id);
    }
}

pub(crate) fn info(ctx: &Context, args: InfoArgs) -> anyhow::Result<i32> {
    let set = load_query(ctx, &args.query)?;
    let resolved = set.resolve(&args.id)?;
    let (registry, entry) = set.find(&resolved.id).expect("a resolved ID is in the set");
    if args.query.json {
        let out = json!({"registry": registry.name, "entry": entry, "resolved": resolved});
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializable")
        );
        return Ok(0);
    }
    println!("{}  ({})", entry.id, registry.name);
    if !entry.description.is_empty() {
        println!("  {}", entry.description);
    }
    let m = &entry.metadata;
    for (label, value) in [
        ("domain", m.domain.clone()),
        ("model type", m.model_type.clone()),
        ("variant", m.variant.clone()),
        ("author", m.author.clone()),
        ("created", m.created.clone()),
        (
            "license",
            entry.license.clone().or_else(|| m.license.clone()),
        ),
    ] {
        if let Some(v) = value {
            println!("  {label:<11} {v}");
        }
    }
    if !m.tags.is_empty() {
        println!("  {:<11} {}", "tags", m.tags.join(", "));
    }
    if let Some(c) = &m.citation {
        let text = c.text.clone().unwrap_or_default();
        let doi = c
            .doi
            .as_ref()
            .map(|d| format!(" doi:{d}"))
            .unwrap_or_default();
        println!("  {:<11} {text}{doi}", "citation");
    }
    println!("  versions:");
    for v in &entry.versions {
        let aliases: Vec<&str> = entry
            .aliases
            .iter()
            .filter(|(_, target)| **target == v.version)
            .map(|(a, _)| a.as_str())
            .collect();
        println!(
            "    {:<6} {}  {}  {}{}",
            v.version,
            v.cid.as_deref().unwrap_or("(repository files)"),
            v.size.map(human_size).unwrap_or_else(|| "-".into()),
            v.profile.as_deref().unwrap_or(""),
            if aliases.is_empty() {
                String::new()
            } else {
                format!("  [{}]", aliases.join(", "))
            }
        );
    }
    println!("  selected:   version {}", resolved.version);
    if !resolved.files.is_empty() {
        println!("  files:");
        for f in &resolved.files {
            println!(
                "    {}  {}",
                f.name,
                f.size.map(human_size).unwrap_or_else(|| "-".into())
            );
        }
    }
    println!("  fetch from:");
    if let Some(cid) = resolved.cid {
        println!("    IPFS (local daemon, peers, gateways): {cid}");
    }
    for m in &resolved.mirrors {
        println!("    mirror: {m}");
    }
    for f in &resolved.repo_files {
        println!("    repository file: {} (sha256 {})", f.url, f.sha256);
    }
    Ok(0)
}

pub(crate) fn registry(ctx: &Context, cmd: RegistryCommand) -> anyhow::Result<i32> {
    match cmd {
        RegistryCommand::Add { entry, file, force } => {
            super::publish::registry_add(ctx, &entry, &file, force)
        }
        RegistryCommand::Pr { entry, repo } => super::publish::registry_pr(ctx, &entry, &repo),
        RegistryCommand::Check {
            source,
            json,
            offline,
        } => {
            let args = RegistryArgs {
                registries: source.into_iter().collect(),
                refresh: true,
            };
            let sources = sources(ctx, &args)?;
            let client = client(ctx, &args, offline)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut failed = false;
            let mut reports = Vec::new();
            for src in &sources {
                // The error names the registry already.
                let doc = runtime.block_on(client.fetch_document(src))?;
                let report = check_document(&doc.bytes, &doc.name, doc.base.clone());
                failed |= !report.is_ok();
                reports.push(report);
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&reports).expect("serializable")
                );
            } else {
                for report in &reports {
                    for finding in &report.findings {
                        println!("{finding}");
                    }
                    let errors = report.errors().count();
                    let warnings = report.findings.len() - errors;
                    eprintln!(
                        "{}: {} entries, {errors} error(s), {warnings} warning(s)",
                        report.registry, report.entries
                    );
                }
            }
            Ok(if failed { 1 } else { 0 })
        }
    }
}

/// `1536` → `1.5 KiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
