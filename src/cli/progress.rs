//! Rendering library progress events: a bar on a terminal (indicatif), JSON lines with `--json`,
//! nothing with `--quiet`.

use crate::progress::{Event, Reporter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How progress is shown.
pub(crate) enum CliReporter {
    /// A live bar on standard error.
    Bar { bar: ProgressBar, blocks: AtomicU64 },
    /// One JSON object per line on standard output.
    Json { out: Mutex<std::io::Stdout> },
    /// Only warnings about failing sources, on standard error.
    Plain,
    /// Nothing.
    Quiet,
}

impl CliReporter {
    /// Picks the mode from the flags and whether standard error is a terminal.
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        if json {
            return CliReporter::Json {
                out: Mutex::new(std::io::stdout()),
            };
        }
        if quiet {
            return CliReporter::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return CliReporter::Plain;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes:>10} {binary_bytes_per_sec:>12}  {prefix} blocks  {wide_msg}",
            )
            .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        CliReporter::Bar {
            bar,
            blocks: AtomicU64::new(0),
        }
    }

    /// Removes the bar (before the final summary is printed).
    pub(crate) fn finish(&self) {
        if let CliReporter::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }

    /// Writes one JSON event (only in JSON mode).
    pub(crate) fn json(&self, value: serde_json::Value) {
        if let CliReporter::Json { out } = self {
            let mut out = out.lock().expect("stdout lock");
            let _ = writeln!(out, "{value}");
        }
    }
}

impl Reporter for CliReporter {
    fn report(&self, event: Event<'_>) {
        match self {
            CliReporter::Quiet => {}
            CliReporter::Plain => {
                if let Event::SourceFailed { source, reason } = event {
                    eprintln!("warning: {source}: {reason}");
                }
            }
            CliReporter::Bar { bar, blocks } => match event {
                Event::Source { what } => bar.set_message(format!("from {what}")),
                Event::Fetched { size, .. } | Event::BlockStored { size, .. } => {
                    bar.inc(size);
                    let n = blocks.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_prefix(n.to_string());
                }
                Event::Bytes(n) => bar.inc(n),
                Event::SourceFailed { source, reason } => {
                    bar.suspend(|| eprintln!("warning: {source}: {reason}"))
                }
                Event::Start { what, .. } => bar.set_message(what.to_string()),
                Event::Finish => {}
            },
            CliReporter::Json { .. } => self.json(event_json(&event)),
        }
    }
}

fn event_json(event: &Event<'_>) -> serde_json::Value {
    use serde_json::json;
    match event {
        Event::Start { what, total } => json!({"event": "start", "what": what, "total": total}),
        Event::Bytes(n) => json!({"event": "bytes", "bytes": n}),
        Event::BlockStored { size, new } => json!({"event": "stored", "size": size, "new": new}),
        Event::Source { what } => json!({"event": "source", "source": what}),
        Event::Fetched { size, source } => {
            json!({"event": "block", "size": size, "source": source})
        }
        Event::SourceFailed { source, reason } => {
            json!({"event": "source_failed", "source": source, "reason": reason})
        }
        Event::Finish => json!({"event": "finish"}),
    }
}
