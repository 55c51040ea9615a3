//! Progress reporting. The library never prints: it tells a [`Reporter`] what happens and the
//! CLI renders that (a bar on a TTY, JSON lines with `--json`, nothing with `--quiet`).

/// Something worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Work on an item of known total size started (`total` in bytes, when known).
    Start {
        /// What is being worked on (a path or CID).
        what: &'a str,
        /// Total bytes, when known.
        total: Option<u64>,
    },
    /// This many more content bytes were processed.
    Bytes(u64),
    /// A block was written to the store (`new` = it was not there before).
    BlockStored {
        /// Block size in bytes.
        size: u64,
        /// Whether it was new.
        new: bool,
    },
    /// The fetcher starts asking a source (`what` describes it).
    Source {
        /// The source, e.g. `gateway http://127.0.0.1:8080`.
        what: &'a str,
    },
    /// A block arrived from a source, was verified and stored.
    Fetched {
        /// Block size in bytes.
        size: u64,
        /// The source it came from.
        source: &'a str,
    },
    /// A source failed; the fetcher goes on with the next one (shown as a warning).
    SourceFailed {
        /// The source.
        source: &'a str,
        /// What went wrong.
        reason: &'a str,
    },
    /// Something the user should know that is not an error (a local mirror that could not be
    /// read, a daemon address that was skipped).
    Warning {
        /// What happened, naming the thing.
        message: &'a str,
    },
    /// The item is done.
    Finish,
}

/// Receives progress events. Implementations must be cheap: events come from hot loops.
pub trait Reporter: Send + Sync {
    /// Handles one event.
    fn report(&self, event: Event<'_>);
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: Event<'_>) {}
}

/// `1536` → `1.5 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
