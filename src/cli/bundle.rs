//! `trove import` and `trove export`: parse, call [`crate::Client::import_bundle`] /
//! [`crate::Client::export`], render. The CID goes to standard output; the rest to standard
//! error (or one JSON document with `--json`).

use super::args::{BundleImportArgs, ExportArgs};
use super::progress::CliReporter;
use super::settings::fetch_options;
use super::Context;
use crate::bundle::Limits;
use crate::client::bundle::ImportOptions;
use crate::progress::Silent;
use serde_json::json;
use std::sync::Arc;

pub(crate) fn import(ctx: &Context, args: BundleImportArgs) -> anyhow::Result<i32> {
    let client = ctx.client(&ctx.options(), Arc::new(Silent))?;
    let defaults = Limits::default();
    let options = ImportOptions {
        sha256: args.sha256.clone(),
        params: args.profile.map(|p| p.params()),
        limits: Limits {
            max_bytes: args.max_bytes.unwrap_or(defaults.max_bytes),
            max_entries: args.max_entries.unwrap_or(defaults.max_entries),
        },
    };
    let imported = client.import_bundle(&args.path, &options)?;
    if args.json {
        super::print_json(&json!({
            "cid": imported.cid.to_string(),
            "path": args.path.display().to_string(),
            "format": imported.format.map(|f| f.extension().trim_start_matches('.')),
            "entries": imported.unpacked.entries,
            "bytes": imported.unpacked.bytes,
            "checked": imported.checked,
            "profile": imported.profile,
            "cid_verified": imported.cid_verified,
        }));
        return Ok(0);
    }
    println!("{}", imported.cid);
    if !args.quiet {
        let what = match imported.format {
            Some(format) => format!(
                "{} archive, {} entries, {} bytes",
                format.extension().trim_start_matches('.'),
                imported.unpacked.entries,
                imported.unpacked.bytes
            ),
            None => "folder".to_string(),
        };
        let checked = if imported.checked.is_empty() {
            "no published sums to check".to_string()
        } else {
            format!("checked: {}", imported.checked.join(", "))
        };
        eprintln!(
            "imported {} ({what}; {checked}{}) with profile {}",
            args.path.display(),
            if imported.cid_verified {
                "; the CID its manifest records"
            } else {
                ""
            },
            imported.profile.unwrap_or("(custom)")
        );
    }
    Ok(0)
}

pub(crate) fn export(ctx: &Context, args: ExportArgs) -> anyhow::Result<i32> {
    let reporter = Arc::new(CliReporter::new(args.fetch.json, args.fetch.quiet, false));
    let options = fetch_options(ctx.options(), &args.fetch, Some(&args.registry))?;
    let client = ctx.client(&options, reporter.clone())?;
    let result = client.export(&args.target, &args.output, None, args.force);
    reporter.finish();
    let exported = result?;
    if args.fetch.json {
        reporter.json(json!({
            "event": "exported",
            "cid": exported.cid.to_string(),
            "output": exported.path.display().to_string(),
            "format": exported.format.extension().trim_start_matches('.'),
            "files": exported.files,
            "bytes": exported.bytes,
            "profile": exported.profile.map(|p| p.name()),
        }));
        return Ok(0);
    }
    println!("{}", exported.cid);
    if !args.fetch.quiet {
        eprintln!(
            "wrote {} ({} files, {} bytes; manifest.json and checksums.sha256 inside{})",
            exported.path.display(),
            exported.files,
            exported.bytes,
            match exported.profile {
                Some(p) => format!("; re-imports as the same CID with {}", p.name()),
                None => "; no known profile reproduces its CID".into(),
            }
        );
    }
    Ok(0)
}
