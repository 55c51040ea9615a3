//! `trove install COLLECTION | --all`, and getting registry 2.0 entries (repository files).

use super::args::{FetchArgs, GetArgs, InstallArgs};
use super::get::{Extra, Session};
use super::Context;
use crate::import::{import_path, Discard};
use crate::progress::Silent;
use crate::registry::{Filter, RegistrySet, Resolved};
use anyhow::Context as _;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(crate) fn run(ctx: &Context, args: InstallArgs) -> anyhow::Result<i32> {
    let set = super::registry::load(ctx, &args.registry, args.fetch.offline, args.fetch.quiet)?;
    let ids: Vec<String> = if args.all {
        set.list(&Filter::default())
            .into_iter()
            .map(|(_, e)| e.id.clone())
            .collect()
    } else {
        let name = args
            .collection
            .as_deref()
            .expect("clap requires a collection without --all");
        set.collection(name)?.1.members.clone()
    };
    if ids.is_empty() {
        eprintln!("nothing to install");
        return Ok(0);
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create `{}`", args.output.display()))?;
    // Each worker fetches quietly; the summary lines are the output.
    let fetch = FetchArgs {
        quiet: true,
        json: false,
        ..args.fetch.clone()
    };
    let queue = Mutex::new(ids.iter().cloned().collect::<VecDeque<_>>());
    let failed = Mutex::new(0usize);
    let workers = args.jobs.clamp(1, 16).min(ids.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let session = match Session::new(ctx, &fetch) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        *failed.lock().expect("lock") += queue.lock().expect("lock").len();
                        queue.lock().expect("lock").clear();
                        return;
                    }
                };
                loop {
                    let Some(id) = queue.lock().expect("lock").pop_front() else {
                        break;
                    };
                    match install_one(ctx, &args, &set, &session, &id) {
                        Ok(line) => println!("ok      {id:<24} {line}"),
                        Err(e) => {
                            *failed.lock().expect("lock") += 1;
                            println!("FAILED  {id:<24} {}", format!("{e:#}").replace('\n', " "));
                        }
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().expect("lock");
    eprintln!(
        "{} of {} artifact(s) installed into {}{}",
        ids.len() - failed,
        ids.len(),
        args.output.display(),
        if failed > 0 {
            "; run the same command again to retry the failed ones"
        } else {
            ""
        }
    );
    Ok(if failed > 0 { 1 } else { 0 })
}

fn install_one(
    ctx: &Context,
    args: &InstallArgs,
    set: &RegistrySet,
    session: &Session<'_>,
    id: &str,
) -> anyhow::Result<String> {
    let resolved = set.resolve(id)?;
    let out = args.output.join(&resolved.id);
    let Some(target) = resolved.target() else {
        write_repo_files(ctx, &args.registry, &resolved, session, &out)?;
        return Ok(format!(
            "{} repository file(s) -> {}",
            resolved.repo_files.len(),
            out.display()
        ));
    };
    let size = resolved
        .size
        .map(super::registry::human_size)
        .unwrap_or_default();
    if out.symlink_metadata().is_ok() {
        let params = resolved.profile.map(|p| p.params()).unwrap_or_default();
        let present = import_path(&out, &params, &Discard, &Silent)?;
        if present.cid == target.cid && target.path.is_empty() {
            return Ok(format!("{} {size} (already installed)", target.cid));
        }
        anyhow::bail!(
            "`{}` exists and is not version {} ({}); remove it to reinstall",
            out.display(),
            resolved.version,
            target.cid
        );
    }
    let cid = session.complete(&target, &Extra::from_resolved(&resolved))?;
    session.write_out(&cid, &out, resolved.sha256.as_deref())?;
    Ok(format!("{cid} {size} -> {}", out.display()))
}

/// `trove get` of a registry 2.0 entry: its repository files, each checked by sha256.
pub(crate) fn get_repo_files(
    ctx: &Context,
    args: &GetArgs,
    resolved: &Resolved,
    session: &Session<'_>,
) -> anyhow::Result<i32> {
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(&resolved.id));
    write_repo_files(ctx, &args.registry, resolved, session, &out)?;
    session.say(&format!(
        "wrote {} ({} file(s), sha256 verified)",
        out.display(),
        resolved.repo_files.len()
    ));
    Ok(0)
}

/// Downloads a 2.0 entry's files (sha256-checked by the registry client) into a new folder,
/// which appears only once every file is there.
fn write_repo_files(
    ctx: &Context,
    registry: &super::args::RegistryArgs,
    resolved: &Resolved,
    session: &Session<'_>,
    out: &Path,
) -> anyhow::Result<()> {
    if resolved.repo_files.is_empty() {
        anyhow::bail!("`{}` has neither a CID nor repository files", resolved.id);
    }
    if out.symlink_metadata().is_ok() {
        anyhow::bail!(
            "`{}` already exists; remove it or pass another -o",
            out.display()
        );
    }
    let client = super::registry::client(ctx, registry, session.settings.offline)?;
    let parent = crate::extract::folder_of(out);
    let staging = crate::extract::staging_dir(parent)
        .with_context(|| format!("cannot create a temporary folder in `{}`", parent.display()))?;
    for file in &resolved.repo_files {
        crate::unixfs::check_entry_name(&file.name)
            .with_context(|| format!("registry entry `{}`", resolved.id))?;
        let bytes = session
            .block_on(client.fetch_repo_file(file))
            .with_context(|| format!("cannot fetch `{}` of `{}`", file.name, resolved.id))?;
        std::fs::write(staging.path().join(&file.name), bytes)
            .with_context(|| format!("cannot write `{}`", file.name))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, out).with_context(|| {
        let _ = std::fs::remove_dir_all(&staged);
        format!("cannot move the files into `{}`", out.display())
    })?;
    Ok(())
}
