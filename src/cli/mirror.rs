//! `trove mirror`: the CLI side of [`crate::Client::mirror`]. A line per (root, target) on
//! standard error as each finishes, then the table on standard output; with `--json`, one
//! `mirrored` event per pair and a `mirror_summary` event. Exit 1 when any pair failed.

use super::args::MirrorArgs;
use super::Context;
use crate::publish::mirror::{MirrorOptions, MirrorOutcome, MirrorTarget, Mirrored};
use crate::publish::pin::PinWait;
use std::io::Write;
use std::sync::Arc;

pub(crate) fn run(ctx: &Context, args: MirrorArgs) -> anyhow::Result<i32> {
    let targets = args
        .to
        .iter()
        .map(|t| t.parse::<MirrorTarget>())
        .collect::<Result<Vec<_>, _>>()?;
    let options = super::settings::fetch_options(ctx.options(), &args.fetch, Some(&args.registry))?;
    let (json, quiet) = (args.fetch.json, args.fetch.quiet);
    // Fetch progress stays quiet: the per-root lines say what happened.
    let reporter = Arc::new(super::progress::CliReporter::new(json, true, true));
    let client = ctx.client(&options, reporter)?;
    let mirror_options = MirrorOptions {
        targets,
        latest_only: args.latest,
        jobs: args.jobs,
        wait: PinWait {
            give_up_after: args.wait,
            ..PinWait::default()
        },
    };
    let done = |m: &Mirrored| {
        if json {
            let mut event = serde_json::to_value(m).expect("serializable");
            event["event"] = "mirrored".into();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        } else if !quiet || m.outcome == MirrorOutcome::Failed {
            eprintln!("{}", line(m));
        }
    };
    let report = client.mirror(&mirror_options, &done)?;
    let counts = [
        MirrorOutcome::Already,
        MirrorOutcome::Pinned,
        MirrorOutcome::Queued,
        MirrorOutcome::Failed,
    ]
    .map(|o| report.count(o));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "event": "mirror_summary",
                "already": counts[0],
                "pinned": counts[1],
                "queued": counts[2],
                "failed": counts[3],
            })
        );
    } else {
        print_table(&report.items);
        eprintln!(
            "{} root(s) × target(s): {} already there, {} pinned now, {} queued, {} failed",
            report.items.len(),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        );
    }
    Ok(if counts[3] > 0 { 1 } else { 0 })
}

fn outcome_name(o: MirrorOutcome) -> &'static str {
    match o {
        MirrorOutcome::Already => "already",
        MirrorOutcome::Pinned => "pinned",
        MirrorOutcome::Queued => "queued",
        MirrorOutcome::Failed => "FAILED",
    }
}

fn line(m: &Mirrored) -> String {
    let detail = m
        .detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    format!(
        "{} {}@{} ({}) on {}{detail}",
        outcome_name(m.outcome),
        m.id,
        m.version,
        m.cid,
        m.target
    )
}

/// The summary table: ID@version, target, outcome, bytes sent, CID.
fn print_table(items: &[Mirrored]) {
    let rows: Vec<[String; 5]> = items
        .iter()
        .map(|m| {
            [
                format!("{}@{}", m.id, m.version),
                m.target.clone(),
                outcome_name(m.outcome).to_string(),
                if m.bytes > 0 {
                    crate::progress::human_size(m.bytes)
                } else {
                    "-".into()
                },
                m.cid.clone(),
            ]
        })
        .collect();
    let header = ["ENTRY", "TARGET", "OUTCOME", "SENT", "CID"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
}
