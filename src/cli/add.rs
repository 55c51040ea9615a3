//! `trove add`: compute a path's CID like `ipfs add`, storing the blocks unless `--only-hash`.

use super::args::AddArgs;
use super::Context;
use crate::import::{import_path, Discard};
use crate::progress::Silent;
use anyhow::Context as _;

pub(crate) fn run(ctx: &Context, args: AddArgs) -> anyhow::Result<i32> {
    let params = super::import_params(&args.import)?;
    let root = if args.only_hash {
        import_path(&args.path, &params, &Discard, &Silent)?
    } else {
        let store = ctx.store()?;
        let root = import_path(&args.path, &params, &store, &Silent)?;
        let label = args.path.display().to_string();
        store
            .keep_root(&root.cid, &label)
            .context("cannot record the added root in the cache")?;
        root
    };
    if args.json {
        super::print_json(&serde_json::json!({
            "cid": root.cid.to_string(),
            "path": args.path.display().to_string(),
            "stored": !args.only_hash,
        }));
    } else if args.quiet {
        println!("{}", root.cid);
    } else {
        let name = args
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| args.path.display().to_string());
        println!("added {} {}", root.cid, name);
    }
    Ok(0)
}
