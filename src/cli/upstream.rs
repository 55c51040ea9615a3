//! `trove fetch` and `trove diff`: parse, call [`crate::Client::fetch_url`] /
//! [`crate::Client::diff`], render. Data (the CID; the differences) on standard output, notes
//! on standard error.

use super::args::{DiffArgs, FetchUrlArgs};
use super::settings::registry_options;
use super::Context;
use crate::client::diff::DiffOptions;
use crate::client::upstream::{FetchUrlOptions, Freshness};
use crate::diff::table::{Difference, Tolerance};
use crate::diff::Status;
use crate::progress::Silent;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) fn fetch(ctx: &Context, args: FetchUrlArgs) -> anyhow::Result<i32> {
    let mut options = ctx.options();
    options.offline = args.offline.then_some(true);
    options.allow_insecure = args.allow_insecure;
    let client = ctx.client(&options, Arc::new(Silent))?;
    let fetch = FetchUrlOptions {
        ttl: args.ttl,
        sha256: args.sha256.clone(),
        decompress: args.decompress,
        refresh: args.refresh,
        profile: args.profile,
    };
    let fetched = client.fetch_url(&args.url, &fetch)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let age = fetched.record.age(now);
    if let Some(out) = &args.output {
        client.get_to(&fetched.cid.to_string(), out, args.force)?;
    }
    if args.json {
        super::print_json(&json!({
            "url": args.url,
            "cid": fetched.cid.to_string(),
            "freshness": fetched.freshness,
            "previous": fetched.previous.map(|c| c.to_string()),
            "etag": fetched.record.etag,
            "last_modified": fetched.record.last_modified,
            "fetched_at": fetched.record.fetched_at,
            "age_seconds": age.as_secs(),
            "size": fetched.record.size,
            "sha256": fetched.record.sha256,
            "output": args.output.as_ref().map(|p| p.display().to_string()),
        }));
        return Ok(0);
    }
    println!("{}", fetched.cid);
    if fetched.freshness == Freshness::Stale {
        eprintln!(
            "warning: offline: `{}` was last confirmed {} ago, past its time-to-live",
            args.url,
            human_duration(age)
        );
    }
    if !args.quiet {
        let what = match fetched.freshness {
            Freshness::Fresh => format!(
                "fresh (fetched {} ago), no request made",
                human_duration(age)
            ),
            Freshness::NotModified => "not modified (304)".to_string(),
            Freshness::Downloaded => match fetched.previous {
                Some(old) => format!("new version ({} bytes; was {old})", fetched.record.size),
                None => format!("downloaded ({} bytes)", fetched.record.size),
            },
            Freshness::Unchanged => "downloaded again, same content".to_string(),
            Freshness::Stale => "offline copy".to_string(),
        };
        eprintln!("{}: {what}", args.url);
    }
    Ok(0)
}

fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub(crate) fn diff(ctx: &Context, args: DiffArgs) -> anyhow::Result<i32> {
    let options = registry_options(ctx.options(), &args.registry);
    let client = ctx.client(&options, Arc::new(Silent))?;
    let tolerance = Tolerance::parse(&args.tolerance).map_err(|why| {
        crate::Error::with_hint(
            crate::ErrorKind::Usage,
            format!("--tolerance `{}`: {why}", args.tolerance),
            "write e.g. --tolerance 1e-9, --tolerance rel=1e-6 or --tolerance abs=1e-9,rel=1e-6",
        )
    })?;
    let format = match &args.format {
        Some(text) => Some(
            crate::diff::table::TableFormat::from_name(&format!("x.{text}"))
                .map(|(f, _)| f)
                .ok_or_else(|| {
                    crate::Error::with_hint(
                        crate::ErrorKind::Usage,
                        format!("--format `{text}` is not a table format"),
                        "use tsv, csv, jsonl or json",
                    )
                })?,
        ),
        None => None,
    };
    let diff_options = DiffOptions {
        key: args.key.clone(),
        columns: args.columns.clone(),
        tolerance,
        memory_budget: None,
        format,
    };
    let json = args.json;
    let mut shown: HashMap<String, usize> = HashMap::new();
    let mut hidden: HashMap<String, usize> = HashMap::new();
    let limit = args.limit;
    let mut found = |path: &str, d: Difference| {
        if json {
            let mut line = serde_json::to_value(&d).expect("serializable");
            line["event"] = "difference".into();
            line["file"] = path.into();
            println!("{line}");
            return;
        }
        let n = shown.entry(path.to_string()).or_default();
        if *n >= limit {
            *hidden.entry(path.to_string()).or_default() += 1;
            return;
        }
        *n += 1;
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}: ")
        };
        match d {
            Difference::Mismatch { key, values } => {
                let cells: Vec<String> = values
                    .iter()
                    .map(|v| format!("{} {} → {}", v.column, v.a, v.b))
                    .collect();
                println!("{prefix}~ {}: {}", key.join(","), cells.join("; "));
            }
            Difference::MissingInB { key } => {
                println!("{prefix}- {} (missing in B)", key.join(","))
            }
            Difference::NewInB { key } => println!("{prefix}+ {} (new in B)", key.join(",")),
            Difference::DuplicateKey { key, in_file } => {
                println!(
                    "{prefix}! {} (key repeated in {})",
                    key.join(","),
                    in_file.to_uppercase()
                )
            }
        }
    };
    let report = client.diff(&args.a, &args.b, &diff_options, &mut found)?;
    let same = report.is_same();
    if json {
        let mut summary = serde_json::to_value(&report).expect("serializable");
        summary["event"] = "summary".into();
        summary["same"] = same.into();
        println!("{summary}");
        return Ok(if same { 0 } else { 1 });
    }
    for (path, n) in &hidden {
        println!(
            "{}… {n} more differences (--limit, or --json for all)",
            if path.is_empty() {
                String::new()
            } else {
                format!("{path}: ")
            }
        );
    }
    let t = &report.tree;
    let single = t.files.len() == 1 && t.files[0].path.is_empty();
    if !single {
        for f in &t.files {
            let mark = match f.status {
                Status::Added => "A",
                Status::Removed => "D",
                Status::Changed => "M",
                Status::Unchanged => continue,
            };
            let sizes = match (f.size_a, f.size_b) {
                (Some(a), Some(b)) => format!("{a} → {b} bytes"),
                (Some(a), None) => format!("{a} bytes"),
                (None, Some(b)) => format!("{b} bytes"),
                (None, None) => String::new(),
            };
            println!("{mark} {} ({sizes})", f.path);
        }
    }
    let s = &t.sharing;
    eprintln!(
        "{} → {}: {} added, {} removed, {} changed, {} unchanged; {} of {} blocks shared ({} bytes); an update fetches {} blocks ({} bytes)",
        report.a.cid,
        report.b.cid,
        t.added,
        t.removed,
        t.changed,
        t.unchanged,
        s.shared_blocks,
        s.blocks_b,
        s.shared_bytes,
        s.fetch_blocks,
        s.fetch_bytes
    );
    for table in &report.tables {
        let x = &table.summary;
        eprintln!(
            "{}rows {} → {}: {} match ({} within the tolerance), {} differ ({} values), {} missing in B, {} new in B{}",
            if table.path.is_empty() { String::new() } else { format!("{}: ", table.path) },
            x.rows_a,
            x.rows_b,
            x.matched,
            x.within_tolerance,
            x.mismatched,
            x.mismatched_values,
            x.missing_in_b,
            x.new_in_b,
            if x.duplicate_keys > 0 { format!(", {} repeated keys", x.duplicate_keys) } else { String::new() }
        );
        if !x.columns_only_in_a.is_empty() || !x.columns_only_in_b.is_empty() {
            eprintln!(
                "  columns not compared: only in A: [{}], only in B: [{}]",
                x.columns_only_in_a.join(", "),
                x.columns_only_in_b.join(", ")
            );
        }
    }
    Ok(if same { 0 } else { 1 })
}
