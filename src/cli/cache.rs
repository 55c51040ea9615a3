//! `trove cache verify|ls|gc|pin|unpin`: parse, call the library, render.

use super::args::{CacheArgs, CacheCommand};
use super::Context;
use crate::content::parse_cid;
use crate::progress::Silent;
use serde_json::json;
use std::sync::Arc;

pub(crate) fn run(ctx: &Context, args: CacheArgs) -> anyhow::Result<i32> {
    let json = args.json;
    match args.command {
        CacheCommand::Verify { remove } => verify(ctx, remove, json),
        CacheCommand::Ls { blocks } => ls(ctx, blocks, json),
        CacheCommand::Gc { grace, snapshots } => {
            let client = ctx.client(&ctx.options(), Arc::new(Silent))?;
            let gc = client.collect_garbage(grace, snapshots)?;
            let report = &gc.blocks;
            let code = if report.walk_errors.is_empty() {
                super::exit::OK
            } else {
                super::exit::FAILURE
            };
            if json {
                super::print_json(&json!({
                    "removed_blocks": report.removed_blocks,
                    "removed_bytes": report.removed_bytes,
                    "kept_blocks": report.kept_blocks,
                    "kept_bytes": report.kept_bytes,
                    "kept_recent": report.kept_recent,
                    "roots": report.roots,
                    "missing_blocks": report.missing_blocks,
                    "unreadable": report.walk_errors.iter().map(|e| json!({"cid": e.cid.to_string(), "reason": e.reason})).collect::<Vec<_>>(),
                    "snapshots_removed": gc.snapshots_removed.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
                    "snapshot_bytes": gc.snapshot_bytes,
                }));
                return Ok(code);
            }
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
            Ok(code)
        }
        CacheCommand::Pin { cid, label } => {
            let cid = parse_cid(&cid)?;
            ctx.store()?.keep_root(&cid, &label)?;
            if json {
                super::print_json(&json!({"pinned": cid.to_string(), "label": label}));
            } else {
                println!("pinned {cid}");
            }
            Ok(0)
        }
        CacheCommand::Unpin { cid } => {
            let cid = parse_cid(&cid)?;
            if !ctx.store()?.unkeep_root(&cid)? {
                return Err(crate::Error::with_hint(
                    crate::ErrorKind::NotFound,
                    format!("`{cid}` is not a kept root"),
                    "`trove cache ls` lists the kept roots",
                )
                .into());
            }
            if json {
                super::print_json(&json!({"unpinned": cid.to_string()}));
            } else {
                println!("unpinned {cid}");
            }
            Ok(0)
        }
    }
}

fn verify(ctx: &Context, remove: bool, json: bool) -> anyhow::Result<i32> {
    let client = ctx.client(&ctx.options(), Arc::new(Silent))?;
    let check = client.verify_cache(remove)?;
    let report = &check.blocks;
    let code = if check.is_intact() || remove {
        super::exit::OK
    } else {
        super::exit::INTEGRITY
    };
    if json {
        let snapshots: Vec<_> = check
            .snapshots
            .iter()
            .map(|(s, result)| {
                let problems: Vec<String> = match result {
                    Ok(mismatches) => mismatches.iter().map(|m| m.to_string()).collect(),
                    Err(e) => vec![format!("cannot compare: {e}")],
                };
                json!({"cid": s.cid.to_string(), "path": s.path.display().to_string(), "problems": problems})
            })
            .collect();
        super::print_json(&json!({
            "intact": check.is_intact(),
            "checked_blocks": report.checked,
            "checked_bytes": report.checked_bytes,
            "bad_blocks": report.bad.iter().map(|b| json!({"key": b.key, "path": b.path.display().to_string(), "reason": b.reason})).collect::<Vec<_>>(),
            "removed_blocks": report.removed,
            "snapshots": snapshots,
            "snapshots_removed": check.snapshots_removed,
        }));
        return Ok(code);
    }
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
    Ok(code)
}

fn ls(ctx: &Context, blocks: bool, json: bool) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    if json {
        let out = if blocks {
            json!({"blocks": store.list_blocks()?.iter().map(|b| json!({"cid": b.raw_cid().to_string(), "size": b.size})).collect::<Vec<_>>()})
        } else {
            let roots: Vec<_> = store
                .kept_roots()?
                .iter()
                .map(|r| {
                    let when = r
                        .kept_at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    json!({"cid": r.cid.to_string(), "kept_at": when, "label": r.label})
                })
                .collect();
            let snapshots: Vec<_> = crate::client::Snapshots::new(store.root())
                .list()?
                .iter()
                .map(|s| json!({"cid": s.cid.to_string(), "size": crate::client::snapshot::tree_size(&s.path), "path": s.path.display().to_string()}))
                .collect();
            let stats = store.stats()?;
            json!({"roots": roots, "snapshots": snapshots, "blocks": stats.blocks, "bytes": stats.bytes, "cache_dir": store.root().display().to_string()})
        };
        super::print_json(&out);
        return Ok(0);
    }
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
