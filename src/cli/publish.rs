//! `trove publish`, `trove registry add` and `trove registry pr`: parse, call the library's
//! publishing flow ([`crate::publish::flow`]), render. The CID is the only thing on standard
//! output (unless `--json`), printed as soon as the import is done.

use super::args::{PublishArgs, RegistryRepoArgs};
use super::Context;
use crate::progress::Silent;
use crate::publish::entry::EntryMeta;
use crate::publish::flow::{
    DaemonChoice, PublishOptions, RegistryChange, ReleaseOptions, RepoOptions, Step,
};
use crate::publish::pr::PrOutcome;
use anyhow::bail;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

pub(crate) fn run(ctx: &Context, args: PublishArgs) -> anyhow::Result<i32> {
    if args.daemon && args.no_daemon {
        bail!("--daemon and --no-daemon contradict each other");
    }
    let options = PublishOptions {
        meta: read_meta(&args)?,
        version: args.version.clone(),
        aliases: args.aliases.clone(),
        profile: args.profile,
        car: args.car.clone(),
        mirrors: args.mirrors.clone(),
        uploads: args.uploads.clone(),
        release: args.release.clone().map(|target| ReleaseOptions {
            target,
            api_url: args.repo.api_url.clone(),
        }),
        daemon: if args.no_daemon {
            DaemonChoice::Off
        } else if args.daemon {
            DaemonChoice::Required
        } else {
            DaemonChoice::IfRunning
        },
        kubo_api: args.kubo_api.clone(),
        pins: args.pins.clone(),
        registry: match (&args.registry_file, args.pr) {
            (Some(path), _) => RegistryChange::File(path.clone()),
            (None, true) => RegistryChange::PullRequest(repo_options(&args.repo)),
            (None, false) => RegistryChange::None,
        },
        force: args.repo.force,
        dry_run: args.dry_run,
        ..PublishOptions::new(args.id.clone())
    };
    let mut client_options = ctx.options();
    client_options.endpoint = args.endpoint.clone();
    let client = ctx.client(&client_options, Arc::new(Silent))?;
    let json = args.json;
    let step = |step: Step<'_>| match step {
        Step::Imported { cid, .. } => {
            if !json {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{cid}");
                let _ = out.flush();
            }
        }
        Step::Note(line) if !json => eprintln!("{line}"),
        Step::Warning(line) if !json => eprintln!("warning: {line}"),
        Step::Note(_) | Step::Warning(_) => {}
    };
    let report = client.publish(&args.path, &options, &step)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.dry_run {
        eprintln!(
            "entry `{}`:\n{}",
            report.id,
            serde_json::to_string_pretty(&report.entry)?
        );
        match &report.diff {
            Some(d) if !d.is_empty() => eprint!("{d}"),
            Some(_) => eprintln!("(the registry would not change)"),
            None => {}
        }
        eprintln!("dry run: nothing was written, added, pinned or proposed");
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

/// The repository flags (`registry.json` is clap's default: the config's path wins over it).
fn repo_options(repo: &RegistryRepoArgs) -> RepoOptions {
    RepoOptions {
        repository: repo.repository.clone(),
        registry_path: (repo.registry_path != "registry.json").then(|| repo.registry_path.clone()),
        base: repo.base.clone(),
        api_url: repo.api_url.clone(),
        force: repo.force,
    }
}

pub(crate) fn registry_add(
    ctx: &Context,
    entry: &Path,
    file: &Path,
    force: bool,
    json: bool,
) -> anyhow::Result<i32> {
    let client = ctx.client(&ctx.options(), Arc::new(Silent))?;
    let (id, report) = client.registry_add(entry, file, force, &|w| {
        if !json {
            eprintln!("warning: {w}")
        }
    })?;
    let code = if report.is_ok() { 0 } else { 1 };
    if json {
        super::print_json(&serde_json::json!({
            "added": id,
            "file": file.display().to_string(),
            "ok": report.is_ok(),
            "findings": report.findings,
        }));
        return Ok(code);
    }
    eprintln!("added `{id}` to {}", file.display());
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
    Ok(code)
}

pub(crate) fn registry_pr(
    ctx: &Context,
    entry: &Path,
    repo: &RegistryRepoArgs,
    json: bool,
) -> anyhow::Result<i32> {
    let client = ctx.client(&ctx.options(), Arc::new(Silent))?;
    let outcome = client.registry_pr(entry, &repo_options(repo), &|line| {
        if !json {
            eprintln!("{line}")
        }
    })?;
    if json {
        let value = match &outcome {
            PrOutcome::Opened {
                url,
                number,
                branch,
                fork,
            } => serde_json::json!({
                "outcome": "opened", "url": url, "number": number, "branch": branch, "fork": fork,
            }),
            PrOutcome::Pushed { branch, remote } => serde_json::json!({
                "outcome": "pushed", "branch": branch, "remote": remote,
            }),
            PrOutcome::ManualSteps {
                branch,
                steps,
                compare_url,
            } => serde_json::json!({
                "outcome": "manual", "branch": branch, "steps": steps, "compare_url": compare_url,
            }),
        };
        super::print_json(&value);
        return Ok(0);
    }
    if let PrOutcome::Opened { url, .. } = &outcome {
        println!("{url}");
    }
    Ok(0)
}
