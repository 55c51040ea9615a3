//! `trove install COLLECTION | --all`: parse, call [`crate::Client::install`], one line per
//! artifact.

use super::args::InstallArgs;
use super::settings::fetch_options;
use super::Context;
use crate::client::install::Installed;
use crate::progress::human_size;
use crate::progress::Silent;
use std::sync::Arc;

pub(crate) fn run(ctx: &Context, args: InstallArgs) -> anyhow::Result<i32> {
    let options = fetch_options(ctx.options(), &args.fetch, Some(&args.registry))?;
    // Each artifact is fetched quietly; the lines below are the output.
    let client = ctx.client(&options, Arc::new(Silent))?;
    let set = client.registries()?;
    let ids = client.collection_ids(
        &set,
        if args.all {
            None
        } else {
            args.collection.as_deref()
        },
    )?;
    let json = args.fetch.json;
    if ids.is_empty() {
        if json {
            println!(
                "{}",
                serde_json::json!({"event": "summary", "installed": 0, "failed": 0, "output": args.output.display().to_string()})
            );
        } else {
            eprintln!("nothing to install");
        }
        return Ok(0);
    }
    let failed = client.install(
        &set,
        &ids,
        &args.output,
        args.jobs,
        &|id, result| match result {
            _ if json => println!("{}", installed_json(id, &result)),
            Ok(Installed::Written {
                path,
                cid: Some(cid),
                size,
                ..
            }) => println!(
                "ok      {id:<24} {cid} {} -> {}",
                size.map(human_size).unwrap_or_default(),
                path.display()
            ),
            Ok(Installed::Written {
                path,
                cid: None,
                files,
                ..
            }) => println!(
                "ok      {id:<24} {files} repository file(s) -> {}",
                path.display()
            ),
            Ok(Installed::Present { cid, size, .. }) => println!(
                "ok      {id:<24} {cid} {} (already installed)",
                size.map(human_size).unwrap_or_default()
            ),
            Err(e) => println!(
                "FAILED  {id:<24} {}",
                format!("{:#}", anyhow::Error::from(e)).replace('\n', " ")
            ),
        },
    )?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "event": "summary",
                "installed": ids.len() - failed,
                "failed": failed,
                "output": args.output.display().to_string(),
            })
        );
        return Ok(if failed > 0 {
            super::exit::FAILURE
        } else {
            super::exit::OK
        });
    }
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

/// One artifact's outcome as a JSON line.
fn installed_json(id: &str, result: &Result<Installed, crate::Error>) -> serde_json::Value {
    use serde_json::json;
    match result {
        Ok(Installed::Written {
            path,
            cid,
            size,
            files,
        }) => json!({
            "event": "installed", "id": id, "state": "written",
            "cid": cid.map(|c| c.to_string()), "size": size, "files": files,
            "path": path.display().to_string(),
        }),
        Ok(Installed::Present { path, cid, size }) => json!({
            "event": "installed", "id": id, "state": "present",
            "cid": cid.to_string(), "size": size, "path": path.display().to_string(),
        }),
        Err(e) => json!({
            "event": "installed", "id": id, "state": "failed",
            "error": crate::error::chain(e), "kind": e.kind().name(),
            "hint": crate::Hint::hint(e),
        }),
    }
}
