//! `trove get` and `trove cat`: content from the local store, verified block by block.

use super::args::{CatArgs, GetArgs};
use super::Context;
use crate::extract::extract;
use crate::target::parse_target;
use crate::unixfs::Reader;
use anyhow::Context as _;
use std::io::Write;
use std::path::PathBuf;

pub(crate) fn get(ctx: &Context, args: GetArgs) -> anyhow::Result<i32> {
    let target = parse_target(&args.target)?;
    let store = ctx.store()?;
    let reader = Reader::new(&store);
    let cid = reader
        .resolve(&target.cid, &target.path)
        .with_context(|| format!("cannot resolve `{target}`"))?;
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(target.default_name()));
    if out.as_os_str() == "-" {
        ensure_complete(&reader, &cid, &target)?;
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        reader
            .read_file(&cid, 0, None, &mut lock)
            .with_context(|| format!("cannot write `{target}` to standard output"))?;
        lock.flush()?;
        return Ok(0);
    }
    let summary = extract(&reader, &cid, &out)
        .with_context(|| format!("cannot get `{target}` into `{}`", out.display()))?;
    eprintln!(
        "wrote {} ({} file(s), {} bytes)",
        out.display(),
        summary.files,
        summary.bytes
    );
    Ok(0)
}

pub(crate) fn cat(ctx: &Context, args: CatArgs) -> anyhow::Result<i32> {
    let target = parse_target(&args.target)?;
    let store = ctx.store()?;
    let reader = Reader::new(&store);
    let cid = reader
        .resolve(&target.cid, &target.path)
        .with_context(|| format!("cannot resolve `{target}`"))?;
    ensure_complete(&reader, &cid, &target)?;
    let stdout = std::io::stdout();
    let mut lock = std::io::BufWriter::new(stdout.lock());
    reader
        .read_file(&cid, args.offset, args.length, &mut lock)
        .with_context(|| format!("cannot cat `{target}`"))?;
    lock.flush()?;
    Ok(0)
}

/// Before streaming to standard output (which cannot be undone), checks that every block is
/// here, so a missing block fails the command before any byte is printed.
fn ensure_complete<G: crate::store::BlockGetter>(
    reader: &Reader<G>,
    cid: &crate::content::Cid,
    target: &crate::target::Target,
) -> anyhow::Result<()> {
    if let Some(missing) = reader.first_missing(cid)? {
        return Err(anyhow::Error::new(crate::unixfs::ReadError::MissingBlock(
            missing,
        )))
        .with_context(|| format!("cannot read `{target}`"));
    }
    Ok(())
}
