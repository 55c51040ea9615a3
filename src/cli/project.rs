//! `trove lock`, `sync`, `status`, `verify`, `add-artifact`, `remove-artifact`: parse, call
//! the library's project operations ([`crate::project`]), render.

use super::args::{
    AddArtifactArgs, ProjectArgs, RemoveArtifactArgs, StatusArgs, SyncArgs, VerifyArgs,
};
use super::progress::CliReporter;
use super::settings::fetch_options;
use super::Context;
use crate::client::Client;
use crate::project::watch::{PollReport, WatchOptions};
use crate::project::{manifest, Action, LockMode, Project};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The project the flags name, and a client whose registries are the manifest's (the client's
/// configured ones when it lists none).
fn open(ctx: &Context, args: &ProjectArgs) -> anyhow::Result<(Project, Client, Arc<CliReporter>)> {
    let start = args
        .manifest
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let project = Project::open(&start)?;
    let reporter = Arc::new(CliReporter::new(args.fetch.json, args.fetch.quiet, false));
    let options = fetch_options(ctx.options(), &args.fetch, None)?;
    let client = ctx.client(&options, reporter.clone())?;
    Ok((project, client, reporter))
}

fn say(args: &ProjectArgs, line: &str) {
    if !args.fetch.quiet && !args.fetch.json {
        eprintln!("{line}");
    }
}

pub(crate) fn lock(ctx: &Context, args: ProjectArgs) -> anyhow::Result<i32> {
    let (project, client, reporter) = open(ctx, &args)?;
    let result = client.lock(&project);
    reporter.finish();
    let (lock, changed) = result?;
    if args.fetch.json {
        println!("{}", serde_json::to_string_pretty(&lock)?);
    }
    say(
        &args,
        &format!(
            "{} {} artifact(s) in {}",
            if changed { "locked" } else { "unchanged:" },
            lock.artifacts.len(),
            project.lock_path.display()
        ),
    );
    Ok(0)
}

pub(crate) fn sync(ctx: &Context, args: SyncArgs) -> anyhow::Result<i32> {
    let (project, client, reporter) = open(ctx, &args.project)?;
    if args.watch {
        return watch(&client, &project, &args);
    }
    let mode = if args.frozen {
        LockMode::Frozen
    } else if args.locked {
        LockMode::Locked
    } else {
        LockMode::Update
    };
    let result = client.sync(&project, mode, args.force);
    reporter.finish();
    let report = result?;
    if args.project.fetch.json {
        let mut line = serde_json::to_value(&report)?;
        line["event"] = "sync".into();
        println!("{line}");
        return Ok(0);
    }
    for output in &report.outputs {
        let what = match output.action {
            Action::Unchanged => "unchanged",
            Action::Adopted => "adopted  ",
            Action::Written => "written  ",
        };
        say(
            &args.project,
            &format!("{what} {}  {}", output.path, output.cid),
        );
    }
    for path in &report.left_alone {
        say(
            &args.project,
            &format!(
                "left     {path}  (no longer in the manifest; delete it yourself if unneeded)"
            ),
        );
    }
    if report.lock_changed {
        say(
            &args.project,
            &format!("updated {}", project.lock_path.display()),
        );
    }
    Ok(0)
}

/// `sync --watch`: until SIGTERM/SIGINT, one line per poll on standard error (JSON lines on
/// standard output with --json).
fn watch(client: &Client, project: &Project, args: &SyncArgs) -> anyhow::Result<i32> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        // The stop ends the loop between steps; the token ends a fetch in flight (its staged
        // run is removed), so a stalled source does not hold the service up.
        let stop = stop.clone();
        let in_flight = client.cancel_token();
        let mut interrupts = client.block_on(async { super::signals::Interrupts::register() })?;
        client.spawn(async move {
            interrupts.recv().await;
            stop.store(true, Ordering::SeqCst);
            in_flight.cancel();
        });
    }
    let options = WatchOptions {
        interval: args.interval,
        hard_refresh: (!args.hard_refresh.is_zero()).then_some(args.hard_refresh),
        keep: args.keep,
        notify_file: args.notify_file.clone(),
        wait_file: args.wait_file.clone(),
        wait_timeout: args.wait_timeout,
        max_polls: args.max_polls,
    };
    let json = args.project.fetch.json;
    let quiet = args.project.fetch.quiet;
    let report = |r: &PollReport| {
        if json {
            // Beside the progress events on the same stream: `"event": "poll"` tells them apart.
            if let Ok(mut line) = serde_json::to_value(r) {
                line["event"] = "poll".into();
                println!("{line}");
            }
        } else if !quiet {
            let mut line = format!("{} ({} ms)", r.outcome, r.millis);
            if let Some(run) = &r.run {
                line.push_str(&format!(", run {run}"));
            }
            if !r.changed.is_empty() {
                line.push_str(&format!(", changed: {}", r.changed.join(", ")));
            }
            if !r.deleted.is_empty() {
                line.push_str(&format!(", deleted runs: {}", r.deleted.join(", ")));
            }
            if r.consumer_done == Some(false) {
                line.push_str(", the consumer did not answer in time: old runs kept");
            }
            if let Some(e) = &r.error {
                line.push_str(&format!(": {e}"));
            }
            eprintln!("{line}");
        }
    };
    client.watch(project, &options, &stop, &report)?;
    Ok(0)
}

pub(crate) fn status(ctx: &Context, args: StatusArgs) -> anyhow::Result<i32> {
    if let Some(path) = &args.path {
        return lone_output(ctx, &args.project, path, false);
    }
    let (project, client, reporter) = open(ctx, &args.project)?;
    let result = client.status(&project, !args.project.fetch.offline);
    reporter.finish();
    let statuses = result?;
    if args.project.fetch.json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(0);
    }
    let width = statuses
        .iter()
        .map(|s| s.path.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  {:<10}  {:<8}  CID", "PATH", "STATE", "VERSION");
    for s in &statuses {
        let version = match (&s.version, &s.alias) {
            (Some(v), Some(a)) => format!("{v} ({a})"),
            (Some(v), None) => v.clone(),
            _ => "-".into(),
        };
        let mut line = format!(
            "{:width$}  {:<10}  {:<8}  {}",
            s.path,
            s.state,
            version,
            s.cid.as_deref().unwrap_or("-")
        );
        if let Some(newer) = &s.newer {
            line.push_str(&format!("  (newer: {newer})"));
        }
        println!("{line}");
    }
    Ok(0)
}

pub(crate) fn verify(ctx: &Context, args: VerifyArgs) -> anyhow::Result<i32> {
    if let Some(path) = &args.path {
        return lone_output(ctx, &args.project, path, true);
    }
    let (project, client, reporter) = open(ctx, &args.project)?;
    let result = client.verify_project(&project);
    reporter.finish();
    let checks = result?;
    if args.project.fetch.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for check in &checks {
            if check.problems.is_empty() {
                println!("ok   {}  {}", check.path, check.cid);
            }
            for problem in &check.problems {
                println!("BAD  {}: {problem}", check.path);
            }
        }
    }
    Ok(if checks.iter().all(|c| c.problems.is_empty()) {
        super::exit::OK
    } else {
        super::exit::INTEGRITY
    })
}

/// `status PATH` / `verify PATH` of a folder trove wrote outside a project.
fn lone_output(
    ctx: &Context,
    args: &ProjectArgs,
    path: &Path,
    verify: bool,
) -> anyhow::Result<i32> {
    let reporter = Arc::new(CliReporter::new(args.fetch.json, args.fetch.quiet, false));
    let options = fetch_options(ctx.options(), &args.fetch, None)?;
    let client = ctx.client(&options, reporter.clone())?;
    let result = client.check_output(path);
    reporter.finish();
    let (record, problems) = result?;
    if args.fetch.json {
        let out = serde_json::json!({
            "path": record.path,
            "target": record.target,
            "id": record.id,
            "version": record.version,
            "cid": record.cid,
            "state": if problems.is_empty() { "intact" } else { "changed" },
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}  {}  {}{}",
            record.path.display(),
            if problems.is_empty() {
                "intact"
            } else {
                "changed"
            },
            record.cid,
            record
                .version
                .as_ref()
                .map(|v| format!("  ({} version {v})", record.id.as_deref().unwrap_or("")))
                .unwrap_or_default()
        );
        for problem in &problems {
            println!("BAD  {problem}");
        }
    }
    Ok(if verify && !problems.is_empty() {
        super::exit::INTEGRITY
    } else {
        super::exit::OK
    })
}

pub(crate) fn add_artifact(ctx: &Context, args: AddArtifactArgs) -> anyhow::Result<i32> {
    let path = match &args.project.manifest {
        Some(path) => path.clone(),
        None => crate::project::Manifest::find(Path::new("."))
            .unwrap_or_else(|_| std::path::PathBuf::from(manifest::MANIFEST)),
    };
    manifest::add_artifact(&path, &args.output, &args.target, &args.registries)?;
    say(
        &args.project,
        &format!(
            "added `{}` = `{}` to {}",
            args.output,
            args.target,
            path.display()
        ),
    );
    relock(ctx, &args.project, path, args.no_lock)
}

pub(crate) fn remove_artifact(ctx: &Context, args: RemoveArtifactArgs) -> anyhow::Result<i32> {
    let path =
        crate::project::Manifest::find(args.project.manifest.as_deref().unwrap_or(Path::new(".")))?;
    if !manifest::remove_artifact(&path, &args.output)? {
        return Err(crate::Error::with_hint(
            crate::ErrorKind::NotFound,
            format!("`{}` is not an artifact of {}", args.output, path.display()),
            "`trove status` lists them",
        )
        .into());
    }
    say(
        &args.project,
        &format!(
            "removed `{}` from {} (its output is left where it is)",
            args.output,
            path.display()
        ),
    );
    relock(ctx, &args.project, path, args.no_lock)
}

/// After an edit of the manifest at `path`: locks again, unless asked not to.
fn relock(
    ctx: &Context,
    args: &ProjectArgs,
    path: std::path::PathBuf,
    no_lock: bool,
) -> anyhow::Result<i32> {
    if no_lock {
        return Ok(0);
    }
    let project_args = ProjectArgs {
        manifest: Some(path),
        ..args.clone()
    };
    lock(ctx, project_args)
}
