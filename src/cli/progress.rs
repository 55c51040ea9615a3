//! Rendering library progress events: a bar on a terminal (indicatif), a plain line every few
//! seconds elsewhere (CI logs, notebooks), JSON lines with `--json`, nothing with `--quiet`.
//!
//! Streams: JSON lines go to standard output, unless the command writes data there (`cat`,
//! `get -o -`, `get --car -`): then they go to standard error, so the data stays exactly the
//! file's bytes. Everything that is not data or JSON goes to standard error.

use crate::progress::{Event, Reporter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How progress is shown.
pub(crate) enum CliReporter {
    /// A live bar on standard error.
    Bar {
        bar: ProgressBar,
        blocks: AtomicU64,
        warnings: Warnings,
    },
    /// One JSON object per line on standard output (standard error when data goes there).
    Json { out: Mutex<Box<dyn Write + Send>> },
    /// Warnings about failing sources, and a progress line every `every`, on standard error.
    Plain {
        warnings: Warnings,
        every: std::time::Duration,
        tally: Mutex<Tally>,
    },
    /// Nothing.
    Quiet,
}

impl CliReporter {
    /// Picks the mode from the flags and whether standard error is a terminal;
    /// `data_on_stdout` when the command writes content to standard output.
    pub(crate) fn new(json: bool, quiet: bool, data_on_stdout: bool) -> Self {
        if json {
            let out: Box<dyn Write + Send> = if data_on_stdout {
                Box::new(std::io::stderr())
            } else {
                Box::new(std::io::stdout())
            };
            return CliReporter::Json {
                out: Mutex::new(out),
            };
        }
        if quiet {
            return CliReporter::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return CliReporter::Plain {
                warnings: Warnings::default(),
                every: crate::config::Env::from_process()
                    .progress_interval()
                    .unwrap_or(PLAIN_PROGRESS_EVERY),
                tally: Mutex::new(Tally::new()),
            };
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
            warnings: Warnings::default(),
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
            CliReporter::Plain {
                warnings,
                every,
                tally,
            } => match event {
                Event::SourceFailed { source, reason } => {
                    if let Some(line) = warnings.line(source, reason) {
                        eprintln!("{line}");
                    }
                }
                Event::Warning { message } => eprintln!("warning: {message}"),
                Event::Source { what } => {
                    tally.lock().expect("tally lock").source = what.to_string()
                }
                Event::Fetched { size, .. } | Event::BlockStored { size, .. } => {
                    let mut tally = tally.lock().expect("tally lock");
                    tally.blocks += 1;
                    tally.bytes += size;
                    if let Some(line) = tally.due(*every) {
                        eprintln!("{line}");
                    }
                }
                Event::Bytes(n) => {
                    let mut tally = tally.lock().expect("tally lock");
                    tally.bytes += n;
                    if let Some(line) = tally.due(*every) {
                        eprintln!("{line}");
                    }
                }
                _ => {}
            },
            CliReporter::Bar {
                bar,
                blocks,
                warnings,
            } => match event {
                Event::Source { what } => bar.set_message(format!("from {what}")),
                Event::Fetched { size, .. } | Event::BlockStored { size, .. } => {
                    bar.inc(size);
                    let n = blocks.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_prefix(n.to_string());
                }
                Event::Bytes(n) => bar.inc(n),
                Event::SourceFailed { source, reason } => {
                    if let Some(line) = warnings.line(source, reason) {
                        bar.suspend(|| eprintln!("{line}"));
                    }
                }
                Event::Warning { message } => bar.suspend(|| eprintln!("warning: {message}")),
                Event::Start { what, .. } => bar.set_message(what.to_string()),
                Event::Finish => {}
            },
            CliReporter::Json { .. } => self.json(event_json(&event)),
        }
    }
}

/// How often a progress line is printed when standard error is not a terminal (unless
/// `TROVE_PROGRESS_INTERVAL` says otherwise).
const PLAIN_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What was fetched so far, for the plain progress lines.
pub(crate) struct Tally {
    started: std::time::Instant,
    last_line: std::time::Instant,
    blocks: u64,
    bytes: u64,
    source: String,
}

impl Tally {
    fn new() -> Self {
        let now = std::time::Instant::now();
        Tally {
            started: now,
            last_line: now,
            blocks: 0,
            bytes: 0,
            source: String::new(),
        }
    }

    /// The progress line, when `every` has passed since the last one.
    fn due(&mut self, every: std::time::Duration) -> Option<String> {
        let now = std::time::Instant::now();
        if now.duration_since(self.last_line) < every {
            return None;
        }
        self.last_line = now;
        let secs = now.duration_since(self.started).as_secs_f64().max(1e-3);
        let mib = self.bytes as f64 / (1024.0 * 1024.0);
        let from = if self.source.is_empty() {
            String::new()
        } else {
            format!(" from {}", self.source)
        };
        Some(format!(
            "progress: {mib:.1} MiB in {} block(s), {:.1} MiB/s after {secs:.0} s{from}",
            self.blocks,
            mib / secs
        ))
    }
}

/// How many warnings one source gets on a terminal or in plain output before the rest are
/// left out (a source that stops answering can have dozens of requests in flight; the final
/// error says what each source last did, and `--json` reports every event).
const WARNINGS_PER_SOURCE: u32 = 5;

/// Counts the warnings said about each source.
#[derive(Default)]
pub(crate) struct Warnings(Mutex<std::collections::HashMap<String, u32>>);

impl Warnings {
    /// The line to print for this warning, if any: the first [`WARNINGS_PER_SOURCE`] of a
    /// source, then one saying that more are left out.
    fn line(&self, source: &str, reason: &str) -> Option<String> {
        let mut said = self.0.lock().expect("warnings lock");
        let n = said.entry(source.to_string()).or_default();
        *n += 1;
        match *n {
            n if n <= WARNINGS_PER_SOURCE => Some(format!("warning: {source}: {reason}")),
            n if n == WARNINGS_PER_SOURCE + 1 => Some(format!(
                "warning: {source}: more failures of this source are not shown (--json lists them all)"
            )),
            _ => None,
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
        Event::Warning { message } => json!({"event": "warning", "message": message}),
        Event::Finish => json!({"event": "finish"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_a_few_warnings_then_one_saying_the_rest_are_left_out() {
        let warnings = Warnings::default();
        let lines: Vec<Option<String>> = (0..8)
            .map(|i| warnings.line("gateway A", &format!("failure {i}")))
            .collect();
        let shown = WARNINGS_PER_SOURCE as usize;
        assert!(lines[..shown].iter().all(Option::is_some));
        assert_eq!(lines[0].as_deref(), Some("warning: gateway A: failure 0"));
        assert!(lines[shown]
            .as_deref()
            .is_some_and(|l| l.contains("not shown")));
        assert!(lines[shown + 1..].iter().all(Option::is_none));
        // Another source has its own count.
        assert!(warnings.line("gateway B", "failure").is_some());
    }
}
