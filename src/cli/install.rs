//! `trove install COLLECTION | --all`: parse, call [`crate::Client::install`], one line per
//! artifact.

use super::args::InstallArgs;
use super::registry::human_size;
use super::settings::fetch_options;
use super::Context;
use crate::client::install::Installed;
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
    if ids.is_empty() {
        eprintln!("nothing to install");
        return Ok(0);
    }
    let failed = client.install(
        &set,
        &ids,
        &args.output,
        args.jobs,
        &|id, result| match result {
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
