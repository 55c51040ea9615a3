//! `trove cache verify|ls|gc|pin|unpin`: parse, call the library, render.

use super::args::CacheCommand;
use super::Context;
use crate::content::parse_cid;
use crate::progress::Silent;
use std::sync::Arc;

pub(crate) fn run(ctx: &Context, cmd: CacheCommand) -> anyhow::Result<i32> {
    match cmd {
        CacheCommand::Verify { remove } => verify(ctx, remove),
        CacheCommand::Ls { blocks } => ls(ctx, blocks),
        CacheCommand::Gc { grace, snapshots } => {
            let client = ctx.client(&ctx.options(), Arc::new(Silent))?;
            let gc = client.collect_garbage(grace, snapshots)?;
            let report = &gc.blocks;
            for err in &report.walk_errors {
                eprintln!(
                    "warning: cannot read links of `{}`: {}",
                    err.cid, err.reason
                );
            }
            if !report.walk_errors.is_empty() {
                eprintln!(
                    "warning: nothing was removed because part of a kept DAG is unreadable; run `trove cache verify --remove` first"
                );
            }
            println!(
                "removed {} block(s), {} bytes; kept {} block(s), {} bytes ({} kept root(s){})",
                report.removed_blocks,
                report.removed_bytes,
                report.kept_blocks,
                report.kept_bytes,
                report.roots,
                if report.kept_recent > 0 {
                    format!(
                        ", {} unreachable block(s) younger than --grace",
                        report.kept_recent
                    )
                } else {
                    String::new()
                }
            );
            println!(
                "removed {} snapshot(s), {} bytes",
                gc.snapshots_removed.len(),
                gc.snapshot_bytes
            );
            Ok(if report.walk_errors.is_empty() { 0 } else { 1 })
        }
        CacheCommand::Pin { cid, label } => {
            let cid = parse_cid(&cid)?;
            ctx.store()?.keep_root(&cid, &label)?;
            println!("pinned {cid}");
            Ok(0)
        }
        CacheCommand::Unpin { cid } => {
            let cid = parse_cid(&cid)?;
            if ctx.store()?.unkeep_root(&cid)? {
                println!("unpinned {cid}");
                Ok(0)
            } else {
                eprintln!("error: `{cid}` is not a kept root");
                eprintln!("hint: `trove cache ls` lists the kept roots");
                Ok(1)
            }
        }
    }
}

fn verify(ctx: &Context, remove: bool) -> anyhow::Result<i32> {
    let client = ctx.client(&ctx.options(), Arc::new(Silent))?;
    let check = client.verify_cache(remove)?;
    let report = &check.blocks;
    for bad in &report.bad {
        println!(
            "BAD {} ({}): {}",
            bad.key.as_deref().unwrap_or("?"),
            bad.path.display(),
            bad.reason
        );
    }
    let mut bad_snapshots = 0;
    for (snapshot, result) in &check.snapshots {
        match result {
            Ok(mismatches) if mismatches.is_empty() => {}
            Ok(mismatches) => {
                bad_snapshots += 1;
                for m in mismatches {
                    println!(
                        "BAD snapshot {} ({}): {m}",
                        snapshot.cid,
                        snapshot.path.display()
                    );
                }
            }
            Err(e) => {
                bad_snapshots += 1;
                println!(
                    "BAD snapshot {} ({}): cannot compare: {e}",
                    snapshot.cid,
                    snapshot.path.display()
                );
            }
        }
    }
    eprintln!(
        "checked {} block(s), {} bytes: {} bad; {} snapshot(s): {} bad{}",
        report.checked,
        report.checked_bytes,
        report.bad.len(),
        check.snapshots.len(),
        bad_snapshots,
        if remove {
            format!(
                "; removed {} block(s), {} snapshot(s)",
                report.removed, check.snapshots_removed
            )
        } else {
            String::new()
        }
    );
    if !check.is_intact() && !remove {
        eprintln!("hint: run `trove cache verify --remove` to delete them; they are fetched or written again when needed");
    }
    Ok(if check.is_intact() || remove { 0 } else { 1 })
}

fn ls(ctx: &Context, blocks: bool) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    if blocks {
        for block in store.list_blocks()? {
            println!("{}\t{}", block.raw_cid(), block.size);
        }
        return Ok(0);
    }
    for root in store.kept_roots()? {
        let when = root
            .kept_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        println!("{}\t{}\t{}", root.cid, when, root.label);
    }
    let snapshots = crate::client::Snapshots::new(store.root()).list()?;
    for s in &snapshots {
        println!(
            "snapshot\t{}\t{}\t{}",
            s.cid,
            crate::client::snapshot::tree_size(&s.path),
            s.path.display()
        );
    }
    let stats = store.stats()?;
    eprintln!(
        "{} block(s), {} bytes, {} snapshot(s) in {}",
        stats.blocks,
        stats.bytes,
        snapshots.len(),
        store.root().display()
    );
    Ok(0)
}
