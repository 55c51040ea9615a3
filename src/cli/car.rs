//! `trove car export` and `trove car import`.

use super::args::{CarCommand, CarExportArgs, CarImportArgs};
use super::Context;
use crate::car::{export_dag, import_car};
use crate::import::import_path;
use crate::progress::Silent;
use anyhow::Context as _;

pub(crate) fn run(ctx: &Context, cmd: CarCommand) -> anyhow::Result<i32> {
    match cmd {
        CarCommand::Export(args) => export(ctx, args),
        CarCommand::Import(args) => import(ctx, args),
    }
}

fn export(ctx: &Context, args: CarExportArgs) -> anyhow::Result<i32> {
    let params = super::import_params(&args.import)?;
    if args.output.as_os_str() != "-" {
        crate::output::check_folder(&args.output)?;
    }
    let store = ctx.store()?;
    let root = import_path(&args.path, &params, &store, &Silent)?;
    if args.output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        export_dag(&store, &root.cid, stdout.lock())?;
        return Ok(0);
    }
    let summary = crate::output::write_car_file(&store, &root.cid, &args.output)?;
    println!("{}", root.cid);
    eprintln!(
        "wrote {} ({} blocks, {} bytes)",
        args.output.display(),
        summary.blocks,
        summary.bytes
    );
    Ok(0)
}

fn import(ctx: &Context, args: CarImportArgs) -> anyhow::Result<i32> {
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
        println!("{}", root.root);
        if root.is_complete() {
            if !args.no_keep {
                store.keep_root(&root.root, &label)?;
            }
        } else {
            incomplete += 1;
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
