//! `trove car export` and `trove car import`.

use super::args::{CarArgs, CarCommand, CarExportArgs, CarImportArgs};
use super::Context;
use crate::car::{export_dag, import_car};
use crate::import::import_path;
use crate::progress::Silent;
use anyhow::Context as _;

pub(crate) fn run(ctx: &Context, args: CarArgs) -> anyhow::Result<i32> {
    match args.command {
        CarCommand::Export(export_args) => export(ctx, export_args, args.json),
        CarCommand::Import(import_args) => import(ctx, import_args, args.json),
    }
}

fn export(ctx: &Context, args: CarExportArgs, json: bool) -> anyhow::Result<i32> {
    let params = super::import_params(&args.import)?;
    if args.output.as_os_str() != "-" {
        crate::output::check_folder(&args.output)?;
    }
    let store = ctx.store()?;
    let root = import_path(&args.path, &params, &store, &Silent)?;
    if args.output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let summary = export_dag(&store, &root.cid, stdout.lock())?;
        if json {
            // The CAR is on standard output: the result goes to standard error.
            eprintln!(
                "{}",
                serde_json::json!({"cid": root.cid.to_string(), "output": "-", "blocks": summary.blocks, "bytes": summary.bytes})
            );
        }
        return Ok(0);
    }
    let summary = crate::output::write_car_file(&store, &root.cid, &args.output)?;
    if json {
        super::print_json(&serde_json::json!({
            "cid": root.cid.to_string(),
            "output": args.output.display().to_string(),
            "blocks": summary.blocks,
            "bytes": summary.bytes,
        }));
        return Ok(0);
    }
    println!("{}", root.cid);
    eprintln!(
        "wrote {} ({} blocks, {} bytes)",
        args.output.display(),
        summary.blocks,
        summary.bytes
    );
    Ok(0)
}

fn import(ctx: &Context, args: CarImportArgs, json: bool) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let label = args.car.display().to_string();
    let summary = if args.car.as_os_str() == "-" {
        import_car(std::io::stdin().lock(), &store)
    } else {
        let file = std::fs::File::open(&args.car)
            .with_context(|| format!("cannot open `{}`", args.car.display()))?;
        import_car(std::io::BufReader::with_capacity(1 << 20, file), &store)
    }
    .with_context(|| format!("cannot import `{label}`"))?;
    let mut incomplete = 0;
    for root in &summary.roots {
        if !json {
            println!("{}", root.root);
        }
        if root.is_complete() {
            if !args.no_keep {
                store.keep_root(&root.root, &label)?;
            }
        } else {
            incomplete += 1;
            if json {
                continue;
            }
            let listed: Vec<String> = root
                .first_missing
                .iter()
                .map(|c| format!("`{c}`"))
                .collect();
            eprintln!(
                "error: root `{}` is incomplete: {} block(s) missing, first {}",
                root.root,
                root.missing,
                listed.join(", ")
            );
        }
    }
    if json {
        let roots: Vec<_> = summary
            .roots
            .iter()
            .map(|r| {
                serde_json::json!({
                    "root": r.root.to_string(),
                    "blocks": r.blocks,
                    "missing": r.missing,
                    "first_missing": r.first_missing.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    "kept": r.is_complete() && !args.no_keep,
                })
            })
            .collect();
        super::print_json(&serde_json::json!({
            "car": label,
            "version": summary.version,
            "sections": summary.sections,
            "stored": summary.stored,
            "already_present": summary.already_present,
            "roots": roots,
        }));
        return Ok(if incomplete > 0 {
            super::exit::FAILURE
        } else {
            super::exit::OK
        });
    }
    eprintln!(
        "imported {} (CARv{}): {} block(s) verified, {} new, {} root(s)",
        label,
        summary.version,
        summary.sections,
        summary.stored,
        summary.roots.len()
    );
    if incomplete > 0 {
        eprintln!("hint: the verified blocks were stored; import a CAR with the missing blocks to complete the DAG");
        return Ok(1);
    }
    Ok(0)
}
