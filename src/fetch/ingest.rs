//! The CAR ingest pipeline: one CAR stream read, verified on the rayon pool while the next
//! sections arrive, decided on in stream order, and stored (again on the pool). Split from the
//! fetcher, which decides what to ask which source for; this decides what of an answer to keep.

use super::fetcher::{BlockStore, FetchError};
use super::SourceError;
use crate::car::{CarError, CarReader};
use crate::content::{is_inline, Block, Cid};
use crate::progress::{Event, Reporter};
use crate::store::StoreError;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Unverified CAR blocks held back until a verified block links to them (for CARs that are not
/// in depth-first order); beyond this they are dropped and fetched again if needed.
const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// CAR sections are handed to the verifying stage in batches of about this many bytes...
const INGEST_BATCH_BYTES: usize = 1024 * 1024;
/// ...or this many sections...
const INGEST_BATCH_BLOCKS: usize = 256;
/// ...or once the oldest section of the batch has waited this long (a slow stream still shows
/// progress and gets its blocks stored as they come).
const INGEST_BATCH_AGE: Duration = Duration::from_millis(20);
/// Bytes of sections being verified or stored at once, while the next ones are read.
const INGEST_IN_FLIGHT_BYTES: usize = 8 * 1024 * 1024;

/// A section that matched its CID, with the links it holds (decoded up front, on the worker
/// that hashed it; a decoding error only matters once the DAG turns out to need the block).
struct Checked {
    block: Block,
    links: Result<Vec<Cid>, String>,
}

/// What a worker hands back: the value, or the panic it died of (re-raised by the ingest).
type WorkerResult<T> = std::thread::Result<T>;

/// A verified batch: per section, the checked block or why it does not match its CID.
type Verified = WorkerResult<Vec<Result<Checked, String>>>;

/// A finished store task: the bytes it held, and per block whether it was new and its size.
struct Stored {
    bytes: usize,
    result: WorkerResult<Result<Vec<(bool, u64)>, StoreError>>,
}

/// Why an ingest stops early.
enum Stop {
    /// The source sent a bad block.
    Source(SourceError),
    /// The store failed or the content is broken.
    Fatal(FetchError),
}

/// Verifies and stores the blocks of one CAR stream.
///
/// The calling thread only reads and parses sections; batches of them are hashed on the rayon
/// pool while the next ones arrive. The verified batches come back in stream order and the
/// decisions (is the block part of the DAG? hold it back? which blocks does it bring in?) are
/// taken here, one block after the other, exactly as if the stream were processed sequentially;
/// the accepted blocks are then written by the pool, again in parallel. What is in flight is
/// bounded by [`INGEST_IN_FLIGHT_BYTES`]. Nothing is stored before it is verified, and a block
/// is only stored once a verified block of the DAG links to it.
pub(super) struct CarIngest<'a> {
    store: Arc<dyn BlockStore>,
    /// The blocks the DAG needs (that a verified block of it links to), each with whether it
    /// was accepted already (a CAR may repeat a block).
    expected: HashMap<Cid, bool>,
    pending: HashMap<Cid, Checked>,
    pending_bytes: usize,
    reporter: &'a dyn Reporter,
    source: &'a str,
    blocks: &'a AtomicU64,
    bytes: &'a AtomicU64,
    /// Sections read but not yet handed to the pool.
    batch: Vec<(Cid, Vec<u8>)>,
    batch_bytes: usize,
    batch_started: std::time::Instant,
    /// Batches being verified, oldest first, with their size.
    verifying: VecDeque<(usize, std::sync::mpsc::Receiver<Verified>)>,
    /// Store tasks running, and where they report. The queue holds at most one message per
    /// task, and tasks are bounded by `INGEST_IN_FLIGHT_BYTES`; it is not a bounded channel
    /// because a rayon worker must never block on a full one.
    storing: usize,
    #[allow(clippy::disallowed_types)]
    stored_tx: std::sync::mpsc::Sender<Stored>,
    stored_rx: std::sync::mpsc::Receiver<Stored>,
    /// Bytes in the verifying and storing stages.
    in_flight: usize,
    /// The first reason to stop, in stream order.
    stop: Option<Stop>,
}

impl<'a> CarIngest<'a> {
    pub(super) fn new(
        store: Arc<dyn BlockStore>,
        root: Cid,
        reporter: &'a dyn Reporter,
        source: &'a str,
        blocks: &'a AtomicU64,
        bytes: &'a AtomicU64,
    ) -> Self {
        #[allow(clippy::disallowed_methods)] // bounded by the in-flight budget: see `storing`
        let (stored_tx, stored_rx) = std::sync::mpsc::channel();
        CarIngest {
            store,
            expected: HashMap::from([(root, false)]),
            pending: HashMap::new(),
            pending_bytes: 0,
            reporter,
            source,
            blocks,
            bytes,
            batch: Vec::new(),
            batch_bytes: 0,
            batch_started: std::time::Instant::now(),
            verifying: VecDeque::new(),
            storing: 0,
            stored_tx,
            stored_rx,
            in_flight: 0,
            stop: None,
        }
    }

    pub(super) fn run(
        &mut self,
        input: impl std::io::Read,
    ) -> Result<Result<(), SourceError>, FetchError> {
        let mut reader = match CarReader::new(input) {
            Ok(r) => r,
            Err(e) => return Ok(Err(car_error(e))),
        };
        let read_end = loop {
            match reader.next_section() {
                Ok(Some(section)) => {
                    self.push(section);
                    if self.stop.is_some() {
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(car_error(e)),
            }
        };
        drop(reader);
        if self.stop.is_none() {
            self.submit();
        }
        while !self.verifying.is_empty() {
            self.wait_verified();
        }
        while self.storing > 0 {
            self.wait_stored();
        }
        match self.stop.take() {
            Some(Stop::Fatal(e)) => Err(e),
            Some(Stop::Source(e)) => Ok(Err(e)),
            None => Ok(read_end),
        }
    }

    /// Takes one section; hands the batch on when it is big or old enough, takes in whatever
    /// the pool finished, and waits while too much is in flight.
    fn push(&mut self, section: (Cid, Vec<u8>)) {
        if self.batch.is_empty() {
            self.batch_started = std::time::Instant::now();
        }
        self.batch_bytes += section.1.len();
        self.batch.push(section);
        if self.batch_bytes >= INGEST_BATCH_BYTES
            || self.batch.len() >= INGEST_BATCH_BLOCKS
            || self.batch_started.elapsed() >= INGEST_BATCH_AGE
        {
            self.submit();
        }
        self.poll();
        while self.in_flight > INGEST_IN_FLIGHT_BYTES && self.stop.is_none() {
            if !self.verifying.is_empty() {
                self.wait_verified();
            } else if self.storing > 0 {
                self.wait_stored();
            } else {
                break;
            }
        }
    }

    /// Sends the current batch to the pool for hashing (and link decoding).
    fn submit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let bytes = std::mem::take(&mut self.batch_bytes);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rayon::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                use rayon::prelude::*;
                batch
                    .into_par_iter()
                    .map(|(cid, data)| {
                        let block = Block::verified(cid, data).map_err(|e| e.to_string())?;
                        let links =
                            crate::dag::links(block.cid(), block.data()).map_err(|e| e.to_string());
                        Ok(Checked { block, links })
                    })
                    .collect::<Vec<_>>()
            }));
            let _ = tx.send(result);
        });
        self.in_flight += bytes;
        self.verifying.push_back((bytes, rx));
    }

    /// Takes in, without waiting, the batches verified (in order) and the stores finished.
    fn poll(&mut self) {
        while let Some((_, rx)) = self.verifying.front() {
            match rx.try_recv() {
                Ok(result) => {
                    let (bytes, _) = self.verifying.pop_front().expect("front exists");
                    self.verified(bytes, result);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    panic!("a block verification task vanished")
                }
            }
        }
        while let Ok(done) = self.stored_rx.try_recv() {
            self.stored(done);
        }
    }

    fn wait_verified(&mut self) {
        let (bytes, rx) = self
            .verifying
            .pop_front()
            .expect("a batch is being verified");
        let result = rx.recv().expect("a block verification task vanished");
        self.verified(bytes, result);
    }

    fn wait_stored(&mut self) {
        let done = self.stored_rx.recv().expect("the ingest holds a sender");
        self.stored(done);
    }

    /// Decides, in stream order, what a verified batch brings to the DAG, and stores that.
    fn verified(&mut self, bytes: usize, result: Verified) {
        self.in_flight -= bytes;
        let checked = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if self.stop.is_some() {
            return; // the stream went wrong earlier: what came after it is dropped
        }
        let mut to_store = Vec::new();
        for section in checked {
            let section = match section {
                Ok(s) => s,
                Err(e) => {
                    self.stop = Some(Stop::Source(SourceError::Corrupt(e)));
                    break;
                }
            };
            let cid = *section.block.cid();
            if self.expected.contains_key(&cid) {
                if let Err(e) = self.accept(section, &mut to_store) {
                    self.stop = Some(Stop::Fatal(e));
                    break;
                }
            } else if self.pending_bytes + section.block.data().len() <= MAX_PENDING_BYTES {
                self.pending_bytes += section.block.data().len();
                if let Some(old) = self.pending.insert(cid, section) {
                    self.pending_bytes -= old.block.data().len();
                }
            }
        }
        self.store(to_store);
    }

    /// Accepts a block the DAG needs and everything held back that it (transitively) links to;
    /// the blocks to write go to `to_store`.
    fn accept(&mut self, first: Checked, to_store: &mut Vec<Block>) -> Result<(), FetchError> {
        let mut work = vec![first];
        while let Some(Checked { block, links }) = work.pop() {
            let accepted = self.expected.entry(*block.cid()).or_default();
            if std::mem::replace(accepted, true) {
                continue; // a repeated block: stored already, its links taken in already
            }
            let links = links.map_err(|detail| FetchError::BadContent {
                cid: *block.cid(),
                detail,
            })?;
            for child in links {
                if let std::collections::hash_map::Entry::Vacant(new) = self.expected.entry(child) {
                    new.insert(false);
                    if let Some(held) = self.pending.remove(&child) {
                        self.pending_bytes -= held.block.data().len();
                        work.push(held);
                    }
                }
            }
            if !is_inline(block.cid()) {
                to_store.push(block);
            }
        }
        Ok(())
    }

    /// Writes accepted blocks on the pool.
    fn store(&mut self, blocks: Vec<Block>) {
        if blocks.is_empty() {
            return;
        }
        let bytes: usize = blocks.iter().map(|b| b.data().len()).sum();
        let store = self.store.clone();
        let tx = self.stored_tx.clone();
        rayon::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                use rayon::prelude::*;
                blocks
                    .par_iter()
                    .map(|b| Ok((store.put_block(b)?, b.data().len() as u64)))
                    .collect::<Result<Vec<_>, StoreError>>()
            }));
            let _ = tx.send(Stored { bytes, result });
        });
        self.in_flight += bytes;
        self.storing += 1;
    }

    /// Counts and reports what a store task wrote.
    fn stored(&mut self, done: Stored) {
        self.storing -= 1;
        self.in_flight -= done.bytes;
        match done
            .result
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        {
            Ok(written) => {
                for (new, size) in written {
                    if new {
                        self.blocks.fetch_add(1, Ordering::Relaxed);
                        self.bytes.fetch_add(size, Ordering::Relaxed);
                        self.reporter.report(Event::Fetched {
                            size,
                            source: self.source,
                        });
                    }
                }
            }
            // The block came before whatever else stopped the ingest (nothing after that point
            // is stored): the first store error wins.
            Err(e) => {
                if !matches!(self.stop, Some(Stop::Fatal(FetchError::Store(_)))) {
                    self.stop = Some(Stop::Fatal(e.into()));
                }
            }
        }
    }
}

/// What a broken CAR stream says about its source: cut short or stalled streams are temporary,
/// anything malformed is misbehaviour.
fn car_error(e: CarError) -> SourceError {
    match e {
        CarError::Read { ref source, .. } if source.kind() == std::io::ErrorKind::TimedOut => {
            SourceError::TimedOut(format!("the CAR stream stalled: {e}"))
        }
        CarError::Empty | CarError::Truncated { .. } | CarError::Read { .. } => {
            SourceError::Transient {
                detail: format!("the CAR stream broke off: {e}"),
                retry_after: None,
            }
        }
        other => SourceError::Misbehaved(format!("sent a bad CAR: {other}")),
    }
}
