//! `trove list`, `search`, `info` and `registry check`, and loading registries for the other
//! commands.

use super::args::{InfoArgs, ListArgs, QueryArgs, RegistryArgs, RegistryCommand, SearchArgs};
use super::settings::registry_options;
use super::Context;
use crate::client::{Client, Listed};
use crate::progress::{human_size, Event, Reporter};
use crate::registry::{check_document, Filter, RegistrySet};
use serde_json::json;
use std::sync::Arc;

/// Prints the library's warnings (registry copies used when a server failed, …) on standard
/// error, unless asked for silence.
struct Warnings {
    quiet: bool,
}

impl Reporter for Warnings {
    fn report(&self, event: Event<'_>) {
        if let Event::Warning { message } = event {
            if !self.quiet {
                eprintln!("warning: {message}");
            }
        }
    }
}

/// A client for the registry flags of a query (`--json` silences the warnings).
fn query_client(ctx: &Context, query: &QueryArgs) -> anyhow::Result<Client> {
    let mut options = registry_options(ctx.options(), &query.registry);
    if query.offline {
        options.offline = Some(true);
    }
    ctx.client(&options, Arc::new(Warnings { quiet: query.json }))
}

/// Loads the registries of `list`, `search` or `info` (with `--json`, without the warnings).
fn load_query(ctx: &Context, query: &QueryArgs) -> anyhow::Result<RegistrySet> {
    Ok(query_client(ctx, query)?.registries()?)
}

pub(crate) fn list(ctx: &Context, args: ListArgs) -> anyhow::Result<i32> {
    let client = query_client(ctx, &args.query)?;
    let filter = Filter {
        domain: args.domain.clone(),
        model_type: args.model_type.clone(),
        tags: args.tags.clone(),
        include_retracted: false,
    };
    print_entries(&client.list(&filter)?, args.query.json);
    Ok(0)
}

pub(crate) fn search(ctx: &Context, args: SearchArgs) -> anyhow::Result<i32> {
    let client = query_client(ctx, &args.query)?;
    let text = args.text.join(" ");
    let hits = client.search(&text)?;
    if hits.is_empty() && !args.query.json {
        eprintln!("no artifact matches `{text}`");
        return Ok(1);
    }
    print_entries(&hits, args.query.json);
    Ok(0)
}

fn print_entries(entries: &[Listed], json: bool) {
    if json {
        let out: Vec<_> = entries
            .iter()
            .map(|l| json!({"registry": l.registry, "entry": l.entry}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializable")
        );
        return;
    }
    let width = entries
        .iter()
        .map(|l| l.entry.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:width$}  {:>8}  {:>10}  DESCRIPTION",
        "ID", "VERSION", "SIZE"
    );
    for Listed { entry: e, .. } in entries {
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
        #[cfg(feature = "publish")]
        RegistryCommand::Add {
            entry,
            file,
            force,
            json,
        } => super::publish::registry_add(ctx, &entry, &file, force, json),
        #[cfg(feature = "publish")]
        RegistryCommand::Pr { entry, repo, json } => {
            super::publish::registry_pr(ctx, &entry, &repo, json)
        }
        #[cfg(not(feature = "publish"))]
        RegistryCommand::Add { .. } => Err(super::not_built("registry add", "publish")),
        #[cfg(not(feature = "publish"))]
        RegistryCommand::Pr { .. } => Err(super::not_built("registry pr", "publish")),
        RegistryCommand::Check {
            source,
            reachable,
            latest,
            probe_timeout,
            fetch,
        } => {
            let json = fetch.json;
            let args = RegistryArgs {
                registries: source.into_iter().collect(),
                refresh: true,
            };
            let options = super::settings::fetch_options(ctx.options(), &fetch, Some(&args))?;
            let settings = crate::client::Settings::from_environment(&options)?;
            let sources = settings.registry_sources()?;
            let client = crate::registry::Client::new(settings.registry_options())?;
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
            let reach = if reachable {
                let reporter = Arc::new(super::progress::CliReporter::new(true, true, true));
                let client = ctx.client(&options, reporter)?;
                let report = client.check_reachable(&crate::client::reachable::ReachOptions {
                    latest_only: latest,
                    timeout: probe_timeout,
                    ..Default::default()
                })?;
                failed |= report.unreachable().next().is_some();
                Some(report)
            } else {
                None
            };
            if json {
                let doc = match &reach {
                    Some(reach) => {
                        serde_json::json!({"registries": reports, "reachability": reach})
                    }
                    None => serde_json::to_value(&reports).expect("serializable"),
                };
                println!(
                    "{}",
                    serde_json::to_string_pretty(&doc).expect("serializable")
                );
            } else {
                for report in &reports {
                    for finding in &report.findings {
                        println!("{finding}");
                    }
                    for m in &report.mirrors {
                        let kind = match m.format {
                            Some(format) => format!("archive ({format}), checked by re-import"),
                            None => m.kind.to_string(),
                        };
                        println!(
                            "mirror: entry `{}`, field `{}`: {kind} on {}: {}",
                            m.entry, m.field, m.storage, m.url
                        );
                    }
                    let errors = report.errors().count();
                    let warnings = report.findings.len() - errors;
                    eprintln!(
                        "{}: {} entries, {errors} error(s), {warnings} warning(s)",
                        report.registry, report.entries
                    );
                }
                if let Some(reach) = &reach {
                    print_reachability(reach);
                }
            }
            Ok(if failed { 1 } else { 0 })
        }
    }
}

/// One line per entry version (which sources have it), the sources that failed, a summary.
fn print_reachability(reach: &crate::client::reachable::ReachReport) {
    if reach.sources.is_empty() {
        eprintln!("warning: no source is configured besides the entries' mirrors (no daemon answered, no gateway, no p2p peers)");
    }
    for entry in &reach.entries {
        let has: Vec<&str> = entry
            .sources
            .iter()
            .filter(|s| s.outcome.has())
            .map(|s| s.source.as_str())
            .collect();
        if entry.reachable {
            println!(
                "reachable: {}@{} {} from {}",
                entry.id,
                entry.version,
                entry.cid,
                has.join(", ")
            );
        } else {
            println!(
                "UNREACHABLE: {}@{} {}: no source has it",
                entry.id, entry.version, entry.cid
            );
        }
        for s in entry.sources.iter().filter(|s| !s.outcome.has()) {
            let outcome = serde_json::to_value(s.outcome).expect("serializable");
            println!(
                "  {}: {}{}",
                s.source,
                outcome.as_str().unwrap_or_default(),
                s.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
        }
    }
    let unreachable = reach.unreachable().count();
    eprintln!(
        "{} of {} roots reachable from {} source(s) (and the entries' mirrors); {unreachable} unreachable",
        reach.entries.len() - unreachable,
        reach.entries.len(),
        reach.sources.len()
    );
}
