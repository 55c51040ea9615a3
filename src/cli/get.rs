//! `trove get` and `trove cat`: parse, call the library, render.

use super::args::{CatArgs, GetArgs};
use super::progress::CliReporter;
use super::settings::fetch_options;
use super::Context;
use crate::client::{Client, Extra};
use crate::output::{check_folder, check_output};
use crate::target::parse_target;
use crate::unixfs::Reader;
use anyhow::Context as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) fn get(ctx: &Context, args: GetArgs) -> anyhow::Result<i32> {
    let data_on_stdout = args.output.as_deref().is_some_and(|o| o.as_os_str() == "-")
        || args.car.as_deref().is_some_and(|c| c.as_os_str() == "-");
    let reporter = Arc::new(CliReporter::new(
        args.fetch.json,
        args.fetch.quiet,
        data_on_stdout,
    ));
    let options = fetch_options(ctx.options(), &args.fetch, Some(&args.registry))?;
    let client = ctx.client(&options, reporter.clone())?;
    let say = |line: &str| {
        if !args.fetch.quiet && !args.fetch.json {
            eprintln!("{line}");
        }
    };
    let resolution = client.resolve(&args.target)?;
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(&resolution.name));
    let to_stdout = out.as_os_str() == "-";
    // Outputs that would be refused whatever the content is are refused before any fetch.
    match &args.car {
        Some(car) if car.as_os_str() != "-" => check_folder(car)?,
        Some(_) => {}
        None if !to_stdout => check_output(&out, args.force)?,
        None => {}
    }
    let result = if args.car.is_some() || to_stdout {
        stream(&client, &args, &resolution, &out)
    } else {
        client
            .materialize(&resolution)
            .map_err(anyhow::Error::from)
            .and_then(|got| {
                let copied =
                    client.write_output(&args.target, &resolution, &got, &out, args.force)?;
                Ok((got, copied))
            })
            .map(|(got, copied)| {
                reporter.finish();
                if let Some(cid) = got.cid {
                    let (blocks, bytes) =
                        got.fetched.as_ref().map_or((0, 0), |r| (r.blocks, r.bytes));
                    reporter.json(serde_json::json!({
                        "event": "done",
                        "cid": cid.to_string(),
                        "blocks": blocks,
                        "bytes": bytes,
                    }));
                }
                say(&format!(
                    "wrote {} ({} file(s), {} bytes)",
                    out.display(),
                    copied.files,
                    copied.bytes
                ));
                got.cid
            })
    };
    reporter.finish();
    let cid = result?;
    if args.seed {
        let cid = cid.context("a registry 2.0 entry has no CID to seed")?;
        seed(&client, &cid, &args)?;
    }
    Ok(0)
}

/// `get --seed`: serves the content until interrupted.
#[cfg(feature = "p2p")]
fn seed(client: &Client, cid: &crate::content::Cid, args: &GetArgs) -> anyhow::Result<()> {
    let quiet = args.fetch.quiet || args.fetch.json;
    super::serve_p2p::seed(
        client,
        cid,
        &args.target,
        &args.fetch.peers,
        &args.listen,
        quiet,
    )
}

#[cfg(not(feature = "p2p"))]
fn seed(_client: &Client, _cid: &crate::content::Cid, _args: &GetArgs) -> anyhow::Result<()> {
    Err(super::not_built("get --seed", "p2p"))
}

/// `get --car` and `get -o -`: the content is completed in the store and streamed from there
/// (a CAR, or a file's bytes to standard output); no snapshot is written.
fn stream(
    client: &Client,
    args: &GetArgs,
    resolution: &crate::client::Resolution,
    out: &Path,
) -> anyhow::Result<Option<crate::content::Cid>> {
    let target = resolution.target.as_ref().with_context(|| {
        format!(
            "`{}` is a registry 2.0 entry (repository files): write it to a folder with -o DIR",
            args.target
        )
    })?;
    let session = client.session();
    let cid = session.complete(target, &resolution.extra)?;
    let store = client.store();
    if let Some(car) = &args.car {
        if car.as_os_str() == "-" {
            crate::car::export_dag(&**store, &cid, std::io::stdout().lock())?;
        } else {
            crate::output::write_car_file(&**store, &cid, car)?;
            if !args.fetch.quiet && !args.fetch.json {
                eprintln!("wrote {} ({target})", car.display());
            }
        }
        return Ok(Some(cid));
    }
    debug_assert_eq!(out.as_os_str(), "-");
    if let Some(expected) = &resolution.expected_sha256 {
        crate::client::session::check_sha256(&Reader::new(&**store), &cid, expected)?;
    }
    let reader = Reader::new(&**store);
    let stdout = std::io::stdout();
    let mut lock = std::io::BufWriter::new(stdout.lock());
    reader
        .read_file(&cid, 0, None, &mut lock)
        .with_context(|| format!("cannot write `{target}` to standard output"))?;
    lock.flush()?;
    Ok(Some(cid))
}

pub(crate) fn cat(ctx: &Context, args: CatArgs) -> anyhow::Result<i32> {
    let target = parse_target(&args.target)?;
    let reporter = Arc::new(CliReporter::new(args.fetch.json, args.fetch.quiet, true));
    let options = fetch_options(ctx.options(), &args.fetch, None)?;
    let client = ctx.client(&options, reporter.clone())?;
    let session = client.session();
    let result = if args.offset > 0 || args.length.is_some() {
        session.complete_range(&target, args.offset, args.length)
    } else {
        session.complete(&target, &Extra::default())
    };
    reporter.finish();
    let cid = result?;
    let store = client.store();
    let reader = Reader::new(&**store);
    let stdout = std::io::stdout();
    let mut lock = std::io::BufWriter::new(stdout.lock());
    reader
        .read_file(&cid, args.offset, args.length, &mut lock)
        .with_context(|| format!("cannot cat `{target}`"))?;
    lock.flush()?;
    Ok(0)
}
