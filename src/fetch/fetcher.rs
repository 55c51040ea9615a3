//! The fetcher: finds what the store lacks under a root, asks the sources for it tier by tier,
//! verifies every block against its CID and stores it.
//!
//! Strategy, per tier (kubo → p2p → gateways → mirrors, or the order asked for):
//! 1. Walk the DAG in the store; the blocks it cannot reach are the *frontier*.
//! 2. Sources that serve CARs are asked for the sub-DAG under each frontier node that is not a
//!    raw leaf (one stream usually brings the whole DAG). Each block is verified on arrival; a
//!    block nobody asked for is ignored; a bad block rules the source out for the run.
//! 3. What is still missing is fetched block by block with a bounded window of requests, hedged
//!    across the tier's sources (ordered by a reliability score): when the best one does not
//!    answer in time, the next one is asked too, and the first verified answer wins.
//!
//! Because everything goes through the shared store, a later tier (or a later run, after an
//! interruption) only fetches what is still missing.

use super::idle::IdleTimeout;
use super::ingest::CarIngest;
use super::{Source, SourceError, SourceKind};
use crate::content::{is_inline, Block, Cid, RAW};
use crate::progress::{Event, Reporter};
use crate::store::{BlockGetter, BlockPutter, StoreError};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A store the fetcher can share between tasks.
pub trait BlockStore: BlockGetter + BlockPutter + Send + Sync {}
impl<T: BlockGetter + BlockPutter + Send + Sync> BlockStore for T {}

/// Up to this many missing sub-DAGs are asked for as CARs; a wider frontier is fetched block by
/// block (in parallel), which never downloads a block twice.
const MAX_CAR_FRONTIER: usize = 8;

/// The widest level of missing nodes [`Fetcher::narrow`] looks at one by one.
const NARROW_WIDTH: usize = 256;

/// How many frontier nodes are listed in messages.
const LISTED: usize = 5;

/// Tunables of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Block requests in flight at once.
    pub window: usize,
    /// A request or stream that delivers no byte for this long fails.
    pub idle_timeout: Duration,
    /// A stream slower than this (bytes per second, measured over `idle_timeout`) fails, so a
    /// server that drips data cannot hold a fetch hostage. 0 turns the check off.
    pub min_rate: u64,
    /// The whole fetch fails after this long.
    pub timeout: Option<Duration>,
    /// Retries of one request after a temporary failure (429, 5xx, resets).
    pub retries: u32,
    /// Delay before the first retry (doubling each time; a longer `Retry-After` wins).
    pub backoff: Duration,
    /// The longest `Retry-After` honoured; a source asking for more is skipped.
    pub max_retry_after: Duration,
    /// How long a block request may go unanswered before the next source is asked as well.
    pub hedge_after: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            window: 32,
            idle_timeout: Duration::from_secs(30),
            min_rate: 1024,
            timeout: None,
            retries: 3,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(30),
            hedge_after: Duration::from_secs(2),
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Blocks fetched, verified and stored.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Blocks per source (description, count), in tier order.
    pub per_source: Vec<(String, u64)>,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Sources were asked but blocks are still missing.
    #[error("could not fetch `{root}`: {missing} block(s) still missing (first: {first}); tried: {tried}")]
    Incomplete {
        /// The root asked for.
        root: Cid,
        /// How many frontier blocks are missing (what is below them is unknown).
        missing: usize,
        /// The first missing blocks, in backticks.
        first: String,
        /// What each source said.
        tried: String,
        /// The tiers those sources belong to.
        tiers: Vec<SourceKind>,
        /// Whether every source that answered said only "not found" (no failures).
        only_not_found: bool,
        /// Whether every source that failed did so by sending bytes that do not match their
        /// CIDs (and at least one did).
        only_bad_bytes: bool,
    },
    /// `--offline`: the store lacks blocks and no source may be asked.
    #[error("`{root}` is not complete in the local cache and trove is offline: {missing} block(s) missing (first: {first})")]
    Offline {
        /// The root asked for.
        root: Cid,
        /// How many frontier blocks are missing.
        missing: usize,
        /// The first missing blocks.
        first: String,
    },
    /// No source is configured or reachable.
    #[error("`{root}` is not complete in the local cache ({missing} block(s) missing, first: {first}) and there is no source to fetch it from")]
    NoSources {
        /// The root asked for.
        root: Cid,
        /// Missing frontier blocks.
        missing: usize,
        /// The first missing blocks.
        first: String,
    },
    /// The whole fetch took longer than `--timeout`.
    #[error("fetching `{root}` timed out after {after:?} with {missing} block(s) still missing (first: {first}); tried: {tried}")]
    TimedOut {
        /// The root asked for.
        root: Cid,
        /// The time-out.
        after: Duration,
        /// Missing frontier blocks.
        missing: usize,
        /// The first missing blocks.
        first: String,
        /// What each source said.
        tried: String,
    },
    /// A verified block cannot be decoded (the content itself is broken, not the source).
    #[error("block `{cid}` is verified but cannot be decoded: {detail}")]
    BadContent {
        /// The block.
        cid: Cid,
        /// Why.
        detail: String,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The caller cancelled the fetch.
    #[error("cancelled")]
    Cancelled,
}

impl crate::Hint for FetchError {
    fn hint(&self) -> Option<String> {
        match self {
            FetchError::Incomplete {
                only_bad_bytes: true,
                ..
            } => Some(
                "the sources that failed sent bytes that do not match their CIDs (nothing unverified was stored): they serve damaged or different data; add another source (--gateway URL, --peer MULTIADDR) or tell their operators"
                    .into(),
            ),
            FetchError::Incomplete {
                only_not_found: false,
                ..
            } => Some(
                "some sources failed rather than lacked the content (see `tried`): run again with -v to see what each peer and server did, or add another source (--gateway URL, --peer MULTIADDR)"
                    .into(),
            ),
            FetchError::Incomplete { tiers, .. }
                if tiers.contains(&SourceKind::P2p) && !tiers.contains(&SourceKind::Gateway) =>
            {
                Some(
                "the p2p tier found no peer with this content: check the --peer addresses, name a peer that holds it (--peer MULTIADDR) or a delegated router (--router URL), or add a gateway with --gateway URL"
                    .into(),
            )
            }
            FetchError::Incomplete { .. } | FetchError::NoSources { .. } => Some(
                "add a gateway with --gateway URL, start an IPFS daemon, or check the registry's mirrors"
                    .into(),
            ),
            FetchError::Offline { .. } => Some(
                "fetch without offline mode (drop --offline and TROVE_OFFLINE=1; offline=False in Python) to get the missing blocks".into(),
            ),
            FetchError::TimedOut { .. } => {
                Some("run again (what was fetched is kept) or raise --timeout".into())
            }
            FetchError::Store(e) => e.hint(),
            FetchError::BadContent { .. } | FetchError::Cancelled => None,
        }
    }
}

/// Per-run memory of the sources: which are ruled out, how reliable each has been, and what
/// each said (for the final message).
struct RunState {
    banned: Mutex<HashSet<usize>>,
    /// Each source's answers to block requests.
    traffic: Mutex<Vec<Traffic>>,
    scores: Mutex<Vec<f64>>,
    said: Mutex<Vec<Option<SourceError>>>,
    per_source: Vec<AtomicU64>,
    blocks: AtomicU64,
    bytes: AtomicU64,
}

impl RunState {
    fn new(n: usize) -> Self {
        RunState {
            banned: Mutex::new(HashSet::new()),
            traffic: Mutex::new(vec![Traffic::default(); n]),
            scores: Mutex::new(vec![1.0; n]),
            said: Mutex::new(vec![None; n]),
            per_source: (0..n).map(|_| AtomicU64::new(0)).collect(),
            blocks: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn is_banned(&self, i: usize) -> bool {
        self.banned.lock().expect("lock").contains(&i)
    }

    /// Rules source `i` out for the rest of the run; false if it already was.
    fn ban(&self, i: usize) -> bool {
        self.banned.lock().expect("lock").insert(i)
    }

    /// Notes that source `i` just answered a block request made at `asked`.
    fn answered(&self, i: usize, asked: std::time::Instant) {
        let mut traffic = self.traffic.lock().expect("lock");
        let t = &mut traffic[i];
        t.last_answer = Some(std::time::Instant::now());
        t.latest_request_answered =
            Some(t.latest_request_answered.map_or(asked, |at| at.max(asked)));
    }

    fn traffic(&self, i: usize) -> Traffic {
        self.traffic.lock().expect("lock")[i]
    }

    fn success(&self, i: usize) {
        let mut s = self.scores.lock().expect("lock");
        s[i] = s[i] * 0.8 + 0.2;
    }

    fn failure(&self, i: usize, what: &SourceError) {
        {
            let mut s = self.scores.lock().expect("lock");
            s[i] *= 0.8;
        }
        self.said.lock().expect("lock")[i] = Some(what.clone());
    }

    /// Whether some source sent wrong bytes and none failed in another way.
    fn only_bad_bytes(&self) -> bool {
        let said = self.said.lock().expect("lock");
        said.iter()
            .any(|s| matches!(s, Some(SourceError::Corrupt(_))))
            && said.iter().all(|s| {
                matches!(
                    s,
                    None | Some(
                        SourceError::NotFound | SourceError::Unsupported | SourceError::Corrupt(_)
                    )
                )
            })
    }

    /// Whether no source failed in a way other than not having the content.
    fn only_not_found(&self) -> bool {
        self.said.lock().expect("lock").iter().all(|said| {
            matches!(
                said,
                None | Some(SourceError::NotFound | SourceError::Unsupported)
            )
        })
    }
}

/// One source's answers to block requests during a run.
#[derive(Debug, Clone, Copy, Default)]
struct Traffic {
    /// When it last answered one.
    last_answer: Option<std::time::Instant>,
    /// When the most recently made request it answered was made.
    latest_request_answered: Option<std::time::Instant>,
}

/// Fetches DAGs into a store from a list of sources.
pub struct Fetcher {
    store: Arc<dyn BlockStore>,
    sources: Vec<Arc<dyn Source>>,
    options: FetchOptions,
    reporter: Arc<dyn Reporter>,
}

impl Fetcher {
    /// A fetcher over `sources`, asked in the order given, tier by tier.
    pub fn new(
        store: Arc<dyn BlockStore>,
        sources: Vec<Arc<dyn Source>>,
        options: FetchOptions,
        reporter: Arc<dyn Reporter>,
    ) -> Self {
        Fetcher {
            store,
            sources,
            options,
            reporter,
        }
    }

    /// The missing frontier under `root` in the local store, without asking any source.
    pub async fn missing(&self, root: &Cid) -> Result<Vec<Cid>, FetchError> {
        let store = self.store.clone();
        let root = *root;
        tokio::task::spawn_blocking(move || frontier(&*store, &root))
            .await
            .expect("frontier walk panicked")
    }

    /// Fetches one block (a directory on the way to a path, say) into the store, trying the
    /// tiers in order; a block already in the store is not fetched again.
    pub async fn fetch_block(&self, cid: &Cid) -> Result<(), FetchError> {
        if is_inline(cid) || self.store.has_block(cid)? {
            return Ok(());
        }
        if self.sources.is_empty() {
            return Err(FetchError::NoSources {
                root: *cid,
                missing: 1,
                first: format!("`{cid}`"),
            });
        }
        let state = RunState::new(self.sources.len());
        let work = async {
            for tier in self.tiers() {
                let members: Vec<usize> = (0..self.sources.len())
                    .filter(|&i| self.sources[i].kind() == tier)
                    .collect();
                if let Some((_, block)) = self.hedged_block(&members, *cid, &state).await {
                    let store = self.store.clone();
                    tokio::task::spawn_blocking(move || store.put_block(&block))
                        .await
                        .expect("store task panicked")?;
                    return Ok(());
                }
            }
            Err(FetchError::Incomplete {
                root: *cid,
                missing: 1,
                first: format!("`{cid}`"),
                tried: self.tried(&state),
                tiers: self.tiers(),
                only_not_found: state.only_not_found(),
                only_bad_bytes: state.only_bad_bytes(),
            })
        };
        match self.options.timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                Err(FetchError::TimedOut {
                    root: *cid,
                    after: limit,
                    missing: 1,
                    first: format!("`{cid}`"),
                    tried: self.tried(&state),
                })
            }),
            None => work.await,
        }
    }

    /// Fetches the blocks needed to read bytes `from..=to` (`to: None`: to the end) of the
    /// UnixFS file `root`, from the first source that serves byte ranges as CARs (trustless
    /// gateways); every block is verified as in [`Fetcher::fetch`]. The range may still lack
    /// blocks afterwards (no such source, a cut-short answer): the caller fetches those with
    /// [`Fetcher::fetch_block`].
    pub async fn fetch_range(
        &self,
        root: &Cid,
        from: u64,
        to: Option<u64>,
    ) -> Result<(), FetchError> {
        let state = RunState::new(self.sources.len());
        for (i, source) in self.sources.iter().enumerate() {
            let what = || format!("a range of `{root}`");
            let request = || source.dag_range(root, from, to);
            let limit = self.options.idle_timeout;
            match self
                .car_request(i, *root, limit, what, request, &state)
                .await?
            {
                Ok(()) => return Ok(()),
                Err(SourceError::Unsupported) => {}
                Err(e) => self.note_failure(i, &e, &state),
            }
        }
        Ok(())
    }

    /// Makes the DAG under `root` complete in the store; returns what was fetched.
    pub async fn fetch(&self, root: &Cid) -> Result<FetchReport, FetchError> {
        self.fetch_known(root, None).await
    }

    /// [`Fetcher::fetch`] when the caller has just walked the store: `missing` is the frontier
    /// under `root` it found (not walked again).
    pub async fn fetch_missing(
        &self,
        root: &Cid,
        missing: Vec<Cid>,
    ) -> Result<FetchReport, FetchError> {
        self.fetch_known(root, Some(missing)).await
    }

    async fn fetch_known(
        &self,
        root: &Cid,
        missing: Option<Vec<Cid>>,
    ) -> Result<FetchReport, FetchError> {
        let state = RunState::new(self.sources.len());
        let work = self.fetch_inner(root, missing, &state);
        let result = match self.options.timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(r) => r,
                Err(_) => {
                    let missing = self.missing(root).await?;
                    return Err(FetchError::TimedOut {
                        root: *root,
                        after: limit,
                        missing: missing.len(),
                        first: list(&missing),
                        tried: self.tried(&state),
                    });
                }
            },
            None => work.await,
        };
        result.map(|()| FetchReport {
            blocks: state.blocks.load(Ordering::Relaxed),
            bytes: state.bytes.load(Ordering::Relaxed),
            per_source: self
                .sources
                .iter()
                .zip(&state.per_source)
                .map(|(s, n)| (s.describe(), n.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        })
    }

    async fn fetch_inner(
        &self,
        root: &Cid,
        known: Option<Vec<Cid>>,
        state: &RunState,
    ) -> Result<(), FetchError> {
        let mut missing = match known {
            Some(missing) => missing,
            None => self.missing(root).await?,
        };
        if missing.is_empty() {
            return Ok(());
        }
        if self.sources.is_empty() {
            return Err(FetchError::NoSources {
                root: *root,
                missing: missing.len(),
                first: list(&missing),
            });
        }
        for source in &self.sources {
            source.prepare();
        }
        // The first CAR pass asks only for subtrees of which nothing is cached (see `narrow`).
        let mut car_targets = Some(self.narrow(&missing, state).await?);
        missing = self.missing(root).await?;
        if missing.is_empty() {
            return Ok(());
        }
        for tier in self.tiers() {
            let members: Vec<usize> = (0..self.sources.len())
                .filter(|&i| self.sources[i].kind() == tier)
                .collect();
            tracing::debug!(
                tier = tier.name(),
                sources = members.len(),
                missing = missing.len(),
                "asking the next tier"
            );
            // CAR-capable sources first: one stream usually brings everything. A wide frontier
            // (an interrupted download of a big DAG) is mostly leaves: those go block by block.
            for &i in &self.ordered(&members, state) {
                if missing.is_empty() {
                    return Ok(());
                }
                if state.is_banned(i) {
                    continue;
                }
                // The narrowed targets are non-leaf nodes above cold subtrees, however many.
                let targets = match car_targets.take() {
                    Some(narrowed) => narrowed,
                    None if missing.len() > MAX_CAR_FRONTIER => break,
                    None => missing.clone(),
                };
                self.car_pass(i, &targets, state).await?;
                missing = self.missing(root).await?;
            }
            if missing.is_empty() {
                return Ok(());
            }
            // Then block by block, hedged across the tier.
            tracing::debug!(
                tier = tier.name(),
                missing = missing.len(),
                "fetching block by block"
            );
            self.block_pass(&members, missing.clone(), state).await?;
            missing = self.missing(root).await?;
            if missing.is_empty() {
                return Ok(());
            }
        }
        Err(FetchError::Incomplete {
            root: *root,
            missing: missing.len(),
            first: list(&missing),
            tried: self.tried(state),
            tiers: self.tiers(),
            only_not_found: state.only_not_found(),
            only_bad_bytes: state.only_bad_bytes(),
        })
    }

    /// The tiers of the sources, in order, each once.
    fn tiers(&self) -> Vec<SourceKind> {
        let mut tiers: Vec<SourceKind> = self.sources.iter().map(|s| s.kind()).collect();
        tiers.dedup();
        tiers
    }

    /// The tier's sources that are not ruled out, most reliable first (ties keep their order).
    fn ordered(&self, members: &[usize], state: &RunState) -> Vec<usize> {
        let scores = state.scores.lock().expect("lock").clone();
        let mut out: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| !state.is_banned(i))
            .collect();
        out.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        out
    }

    fn tried(&self, state: &RunState) -> String {
        let said = state.said.lock().expect("lock");
        let parts: Vec<String> = self
            .sources
            .iter()
            .zip(said.iter())
            .map(|(s, w)| {
                format!(
                    "{}: {}",
                    s.describe(),
                    w.as_ref().map_or_else(
                        || "did not have the missing blocks".to_string(),
                        SourceError::to_string
                    )
                )
            })
            .collect();
        if parts.is_empty() {
            "no source".into()
        } else {
            parts.join("; ")
        }
    }

    /// Delta updates: a new version of a DAG the cache mostly holds has a missing root above
    /// cached subtrees, and a CAR of the root would bring them all again. So the missing
    /// non-leaf nodes of the frontier are first fetched alone (from the sources that serve
    /// single blocks) and their children looked up, level by level:
    /// - below a node with cached children, only its missing children are looked at next;
    /// - a node none of whose children is cached is *cold* when a sample says so (its first
    ///   missing non-leaf child followed down, alone, until a level with a cached child —
    ///   warm — or with leaves only — cold) and is returned, to be asked for as one CAR.
    ///
    /// A cold fetch pays one small request per level of the DAG before the CAR; a level wider
    /// than [`NARROW_WIDTH`] or no source serving single blocks ends narrowing (what is left is
    /// returned). Leaves are left to the block-by-block pass.
    async fn narrow(&self, missing: &[Cid], state: &RunState) -> Result<Vec<Cid>, FetchError> {
        // Only sources that serve CARs gain from it (bitswap goes block by block anyway, a
        // mirror serves whole files).
        let members: Vec<usize> = (0..self.sources.len())
            .filter(|&i| {
                matches!(
                    self.sources[i].kind(),
                    SourceKind::Kubo | SourceKind::Gateway
                )
            })
            .collect();
        let mut candidates: Vec<Cid> = missing
            .iter()
            .filter(|c| c.codec() != RAW)
            .copied()
            .collect();
        if members.is_empty() {
            return Ok(candidates);
        }
        let mut cars = Vec::new();
        while !candidates.is_empty() {
            if candidates.len() > NARROW_WIDTH {
                cars.extend(candidates);
                break;
            }
            let members = &members;
            let looked: Vec<_> = futures_util::stream::iter(candidates)
                .map(|cid| async move { (cid, self.alone(members, cid, state).await) })
                .buffer_unordered(self.options.window.max(1))
                .collect()
                .await;
            let mut next = Vec::new();
            for (cid, result) in looked {
                let Some((cached, absent)) = result? else {
                    cars.push(cid);
                    continue;
                };
                if absent.is_empty() {
                    continue;
                }
                if cached == 0 && self.sample_is_cold(members, &absent, state).await? {
                    cars.push(cid);
                    continue;
                }
                next.extend(absent.into_iter().filter(|c| c.codec() != RAW));
            }
            candidates = next;
        }
        Ok(cars)
    }

    /// Whether nothing is cached below `absent` (the missing children of a node none of whose
    /// children is cached), judged by following the first non-leaf one down.
    async fn sample_is_cold(
        &self,
        members: &[usize],
        absent: &[Cid],
        state: &RunState,
    ) -> Result<bool, FetchError> {
        let mut level = absent.to_vec();
        loop {
            let Some(first) = level.iter().find(|c| c.codec() != RAW).copied() else {
                return Ok(true);
            };
            match self.alone(members, first, state).await? {
                Some((0, below)) if !below.is_empty() => level = below,
                Some((0, _)) | None => return Ok(true),
                Some(_) => return Ok(false),
            }
        }
    }

    /// Node `cid` from the store or, fetched alone, from `members`: (how many of its children
    /// are cached, the missing ones). `None` when no source gave it.
    async fn alone(
        &self,
        members: &[usize],
        cid: Cid,
        state: &RunState,
    ) -> Result<Option<(usize, Vec<Cid>)>, FetchError> {
        let stored = {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.get_block(&cid))
                .await
                .expect("store task panicked")?
        };
        let (block, fetched_from) = match stored {
            Some(block) => (block, None),
            None => match self.probe(members, cid, state).await {
                Some((i, block)) => (block, Some(i)),
                None => return Ok(None),
            },
        };
        let size = block.data().len() as u64;
        let store = self.store.clone();
        let fresh = fetched_from.is_some();
        let looked =
            tokio::task::spawn_blocking(move || -> Result<(usize, Vec<Cid>), FetchError> {
                if fresh {
                    store.put_block(&block)?;
                }
                let links = links_of(&block)?;
                let mut absent = Vec::new();
                for child in &links {
                    if !is_inline(child) && !store.has_block(child)? {
                        absent.push(*child);
                    }
                }
                Ok((links.len() - absent.len(), absent))
            })
            .await
            .expect("store task panicked")?;
        if let Some(i) = fetched_from {
            self.count_block(i, size, state);
        }
        Ok(Some(looked))
    }

    /// Reports and counts one block of `size` bytes fetched alone from source `i`.
    fn count_block(&self, i: usize, size: u64, state: &RunState) {
        let source = self.sources[i].describe();
        self.reporter.report(Event::Fetched {
            size,
            source: &source,
        });
        state.blocks.fetch_add(1, Ordering::Relaxed);
        state.bytes.fetch_add(size, Ordering::Relaxed);
        state.per_source[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Block `cid` from the most reliable of `members`, asked once: narrowing is best-effort,
    /// so no answer is not held against the source (the passes that follow ask again, with
    /// retries, and judge); a wrong answer is.
    async fn probe(&self, members: &[usize], cid: Cid, state: &RunState) -> Option<(usize, Block)> {
        let i = *self.ordered(members, state).first()?;
        let data = answer_within(
            self.options.idle_timeout,
            || format!("block `{cid}`"),
            self.sources[i].block(&cid),
        )
        .await
        .ok()?;
        match Block::verified(cid, data) {
            Ok(block) => Some((i, block)),
            Err(e) => {
                // A wrong block is no accident: that rules the source out as anywhere else.
                self.note_failure(i, &SourceError::Corrupt(e.to_string()), state);
                None
            }
        }
    }

    /// Asks source `i` for a CAR of each non-leaf frontier node.
    async fn car_pass(
        &self,
        i: usize,
        missing: &[Cid],
        state: &RunState,
    ) -> Result<(), FetchError> {
        let source = self.sources[i].clone();
        let what = source.describe();
        for cid in missing.iter().filter(|c| c.codec() != RAW) {
            if state.is_banned(i) {
                return Ok(());
            }
            self.reporter.report(Event::Source { what: &what });
            // A mirror downloads the whole file inside `dag()` and applies the idle time-out
            // to its own transfer; every other source must start answering within it.
            let limit = if source.kind() == SourceKind::Mirror {
                Duration::MAX
            } else {
                self.options.idle_timeout
            };
            let name = || format!("`{cid}`");
            let request = || source.dag(cid);
            // A source that failed for good is banned by note_failure: the loop ends above.
            match self
                .car_request(i, *cid, limit, name, request, state)
                .await?
            {
                Ok(()) => state.success(i),
                Err(SourceError::Unsupported) => return Ok(()),
                Err(e) => self.note_failure(i, &e, state),
            }
        }
        Ok(())
    }

    /// One CAR from source `i`: asked with `request` (retried as [`Fetcher::with_retries`]
    /// says, each attempt answered within `limit`), then verified and stored as the DAG under
    /// `root`. The outer error is fatal; the inner one is about the source.
    async fn car_request<Fut>(
        &self,
        i: usize,
        root: Cid,
        limit: Duration,
        what: impl Fn() -> String,
        request: impl Fn() -> Fut,
        state: &RunState,
    ) -> Result<Result<(), SourceError>, FetchError>
    where
        Fut: std::future::Future<Output = Result<super::ByteStream, SourceError>>,
    {
        let attempt = || answer_within(limit, &what, request());
        match self.with_retries(i, attempt).await {
            Ok(stream) => self.ingest_car(i, stream, root, state).await,
            Err(e) => Ok(Err(e)),
        }
    }

    /// Reads a CAR stream from source `i`, verifying and storing the blocks of the DAG under
    /// `root`. The outer error is fatal (store, undecodable content); the inner one is about the
    /// source.
    async fn ingest_car(
        &self,
        i: usize,
        stream: super::ByteStream,
        root: Cid,
        state: &RunState,
    ) -> Result<Result<(), SourceError>, FetchError> {
        let store = self.store.clone();
        let reporter = self.reporter.clone();
        let source = self.sources[i].describe();
        let stream = IdleTimeout::new(stream, self.options.idle_timeout, self.options.min_rate);
        let bridge = tokio_util::io::SyncIoBridge::new(stream);
        let counters = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (blocks, bytes) = (counters.0.clone(), counters.1.clone());
        let result = tokio::task::spawn_blocking(move || {
            CarIngest::new(store, root, &*reporter, &source, &blocks, &bytes).run(bridge)
        })
        .await
        .expect("CAR ingest panicked");
        let (n, b) = (
            counters.0.load(Ordering::Relaxed),
            counters.1.load(Ordering::Relaxed),
        );
        state.blocks.fetch_add(n, Ordering::Relaxed);
        state.bytes.fetch_add(b, Ordering::Relaxed);
        state.per_source[i].fetch_add(n, Ordering::Relaxed);
        result
    }

    /// Fetches `start` and whatever is missing below it block by block, across `members`.
    async fn block_pass(
        &self,
        members: &[usize],
        start: Vec<Cid>,
        state: &RunState,
    ) -> Result<(), FetchError> {
        let mut seen: HashSet<Cid> = start.iter().copied().collect();
        let mut queue: VecDeque<Cid> = start.into();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.options.window.max(1) {
                let Some(cid) = queue.pop_front() else { break };
                in_flight.push(self.hedged_block(members, cid, state));
            }
            let Some(result) = in_flight.next().await else {
                return Ok(());
            };
            let Some((i, block)) = result else {
                continue; // every source failed for this block: the caller reports it
            };
            let size = block.data().len() as u64;
            let store = self.store.clone();
            // Store it, then find what is missing below it (children may be present already).
            let children = tokio::task::spawn_blocking(move || -> Result<Vec<Cid>, FetchError> {
                store.put_block(&block)?;
                let links = links_of(&block)?;
                let mut missing = Vec::new();
                for child in links {
                    missing.extend(frontier(&*store, &child)?);
                }
                Ok(missing)
            })
            .await
            .expect("store task panicked")?;
            self.count_block(i, size, state);
            for child in children {
                if seen.insert(child) {
                    queue.push_back(child);
                }
            }
        }
    }

    /// One block from the best source of the tier, asking the next one too when the current
    /// ones are slow; the first verified answer wins. `None` when every source failed.
    async fn hedged_block(
        &self,
        members: &[usize],
        cid: Cid,
        state: &RunState,
    ) -> Option<(usize, Block)> {
        let order = self.ordered(members, state);
        let mut next = 0;
        let mut retried = HashMap::new();
        let mut attempts = FuturesUnordered::new();
        let launch = |i: usize| {
            let source = self.sources[i].clone();
            async move {
                let result = self
                    .with_retries(i, || async {
                        answer_while_active(
                            state,
                            i,
                            self.options.idle_timeout,
                            || format!("block `{cid}`"),
                            source.block(&cid),
                        )
                        .await
                    })
                    .await;
                (i, result)
            }
        };
        if order.is_empty() {
            return None;
        }
        attempts.push(launch(order[0]));
        next += 1;
        loop {
            let hedge = tokio::time::sleep(self.options.hedge_after);
            tokio::select! {
                finished = attempts.next() => {
                    let (i, result) = finished?;
                    let mut ask_again = false;
                    match result.and_then(|data| {
                        Block::verified(cid, data).map_err(|e| {
                            // A multi-peer source drops the peer and is asked once more.
                            let n = retried.entry(i).or_insert(0u32);
                            *n += 1;
                            ask_again = *n <= 3 && self.sources[i].reject(&cid);
                            SourceError::Corrupt(e.to_string())
                        })
                    }) {
                        Ok(block) => {
                            state.success(i);
                            self.report_notes(i);
                            return Some((i, block));
                        }
                        Err(SourceError::Unsupported) => {}
                        Err(e) if ask_again => {
                            self.report_notes(i);
                            let source = self.sources[i].describe();
                            let reason = e.to_string();
                            self.reporter.report(Event::SourceFailed { source: &source, reason: &reason });
                            attempts.push(launch(i));
                            continue;
                        }
                        Err(e) => {
                            self.report_notes(i);
                            self.note_failure(i, &e, state)
                        }
                    }
                    while next < order.len() && state.is_banned(order[next]) {
                        next += 1;
                    }
                    if next < order.len() {
                        attempts.push(launch(order[next]));
                        next += 1;
                    } else if attempts.is_empty() {
                        return None;
                    }
                }
                () = hedge, if next < order.len() => {
                    attempts.push(launch(order[next]));
                    next += 1;
                }
            }
        }
    }

    /// Runs a request, retrying temporary failures with exponential back-off (a server's
    /// `Retry-After` is honoured up to [`FetchOptions::max_retry_after`]).
    async fn with_retries<T, F, Fut>(&self, i: usize, mut request: F) -> Result<T, SourceError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SourceError>>,
    {
        let mut delay = self.options.backoff;
        let mut attempt = 0;
        loop {
            match request().await {
                Err(e) if attempt < self.options.retries => match e.retry_after() {
                    Some(wait) if wait <= self.options.max_retry_after => {
                        let source = self.sources[i].describe();
                        let reason = format!("{e}; retrying");
                        self.reporter.report(Event::SourceFailed {
                            source: &source,
                            reason: &reason,
                        });
                        tokio::time::sleep(wait.max(delay)).await;
                        delay *= 2;
                        attempt += 1;
                    }
                    _ => return Err(e),
                },
                other => return other,
            }
        }
    }

    /// Passes on what source `i` had to say (dropped peers and the like).
    fn report_notes(&self, i: usize) {
        let notes = self.sources[i].take_notes();
        if notes.is_empty() {
            return;
        }
        let source = self.sources[i].describe();
        for note in notes {
            self.reporter.report(Event::SourceFailed {
                source: &source,
                reason: &note,
            });
        }
    }

    fn note_failure(&self, i: usize, e: &SourceError, state: &RunState) {
        // A source that broke the protocol, cannot be reached or stalled is not asked again
        // this run, and that is said once, however many of its requests were in flight.
        if gives_up_on_source(e) && !state.ban(i) {
            return;
        }
        tracing::debug!(source = %self.sources[i].describe(), "source failed: {e}");
        // "Not found" is the normal way to move on to the next source: no warning for it.
        if !matches!(e, SourceError::NotFound | SourceError::Unsupported) {
            let source = self.sources[i].describe();
            self.reporter.report(Event::SourceFailed {
                source: &source,
                reason: &e.to_string(),
            });
        }
        state.failure(i, e);
    }
}

/// `request`'s answer, or [`SourceError::TimedOut`] naming `what` when none comes within
/// `limit`.
async fn answer_within<T>(
    limit: Duration,
    what: impl FnOnce() -> String,
    request: impl std::future::Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(limit, request)
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::TimedOut(format!(
                "no answer for {} within {limit:?}",
                what()
            )))
        })
}

/// The links of a verified block; one that does not decode is bad content (its CID matched,
/// so the source is not to blame: the content is).
fn links_of(block: &Block) -> Result<Vec<Cid>, FetchError> {
    crate::dag::links(block.cid(), block.data()).map_err(|e| FetchError::BadContent {
        cid: *block.cid(),
        detail: e.to_string(),
    })
}

/// How many idle time-outs a block request may last in all while its source keeps answering
/// other requests.
const BUSY_SOURCE_PATIENCE: u32 = 10;

/// A block request's answer; or, naming `what`:
/// - [`SourceError::Transient`] (asked again) once the request has waited `limit` while the
///   source answered a request made clearly after it (by a tenth of `limit` or more), or once
///   the source has been silent for `limit` after answering other requests while this one was
///   pending: this request is stuck, the source may not be (a gateway hanging on one block
///   while it serves the others). The request made again tells: if the source stays silent,
///   it is [`SourceError::TimedOut`].
/// - [`SourceError::TimedOut`] once source `i` has answered nothing at all for `limit` while
///   the request was pending (a stalled source: the caller rules it out).
///
/// A source working through a queue in order (a slow link with many blocks asked for) answers
/// nothing out of turn: it is waited for while it keeps answering, up to
/// [`BUSY_SOURCE_PATIENCE`] times `limit`.
async fn answer_while_active<T>(
    state: &RunState,
    i: usize,
    limit: Duration,
    what: impl Fn() -> String,
    request: impl std::future::Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    let asked = std::time::Instant::now();
    let stuck_at = asked + limit;
    tokio::pin!(request);
    loop {
        let now = std::time::Instant::now();
        let traffic = state.traffic(i);
        let stuck = |why: &str| SourceError::Transient {
            detail: format!(
                "no answer for {} after {:.1}s, {why}",
                what(),
                asked.elapsed().as_secs_f64()
            ),
            retry_after: None,
        };
        let overtaken = traffic
            .latest_request_answered
            .is_some_and(|at| at > asked + limit / 10);
        if now >= stuck_at && overtaken {
            return Err(stuck("while this source answered requests made after it"));
        }
        let quiet_since = traffic.last_answer.map_or(asked, |at| at.max(asked));
        let deadline = (quiet_since + limit).min(asked + limit * BUSY_SOURCE_PATIENCE);
        if deadline <= now {
            if traffic.last_answer.is_some_and(|at| at > asked) {
                return Err(stuck("though this source answered others meanwhile"));
            }
            return Err(SourceError::TimedOut(format!(
                "no answer for {} after {:.1}s (no answer from this source at all for {limit:?}, or {BUSY_SOURCE_PATIENCE} times that in all)",
                what(),
                asked.elapsed().as_secs_f64()
            )));
        }
        // Requests made later may overtake this one meanwhile: look again at `stuck_at`, and
        // now and then after it.
        let deadline = deadline.min(stuck_at.max(now + limit / 4));
        tokio::select! {
            answer = &mut request => {
                if answer.is_ok() {
                    state.answered(i, asked);
                }
                return answer;
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
        }
    }
}

/// Whether an error means the rest of the run should skip this source (it is broken,
/// unreachable or stalled), rather than ask it for the next frontier node or block.
fn gives_up_on_source(e: &SourceError) -> bool {
    e.is_misbehaviour() || matches!(e, SourceError::Unavailable(_) | SourceError::TimedOut(_))
}

/// The blocks the store lacks under `root`: the roots of the missing sub-DAGs, depth-first.
/// Raw leaves are only checked for presence (they are verified when read). A corrupt stored
/// block counts as missing (storing it again replaces it).
///
/// The walk is depth-first as if done one block at a time, but the next blocks on its stack
/// (up to `FRONTIER_AHEAD` of them: a node's children, mostly) are read and verified in
/// parallel on the rayon pool.
pub fn frontier(store: &dyn BlockStore, root: &Cid) -> Result<Vec<Cid>, FetchError> {
    use rayon::prelude::*;
    let mut missing = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![*root];
    let mut found: HashMap<Cid, Result<Found, FetchError>> = HashMap::new();
    while let Some(&cid) = stack.last() {
        if seen.contains(&cid) {
            stack.pop();
            continue;
        }
        if !found.contains_key(&cid) {
            let mut next = HashSet::new();
            let ahead: Vec<Cid> = stack
                .iter()
                .rev()
                .filter(|c| !seen.contains(*c) && !found.contains_key(*c) && next.insert(**c))
                .take(FRONTIER_AHEAD)
                .copied()
                .collect();
            let results: Vec<_> = ahead
                .into_par_iter()
                .map(|c| (c, look_up(store, &c)))
                .collect();
            found.extend(results);
        }
        stack.pop();
        seen.insert(cid);
        match found.remove(&cid).expect("looked up just now")? {
            Found::Missing => missing.push(cid),
            Found::Present(links) => stack.extend(links.into_iter().rev()),
        }
    }
    Ok(missing)
}

/// How many blocks the frontier walk reads ahead.
const FRONTIER_AHEAD: usize = 64;

/// What the frontier walk finds for one block.
enum Found {
    /// Not in the store (or corrupt there).
    Missing,
    /// In the store, with these links (none for raw leaves, which are not read).
    Present(Vec<Cid>),
}

fn look_up(store: &dyn BlockStore, cid: &Cid) -> Result<Found, FetchError> {
    let data = if is_inline(cid) {
        cid.hash().digest().to_vec()
    } else if cid.codec() == RAW {
        return Ok(if store.has_block(cid)? {
            Found::Present(Vec::new())
        } else {
            Found::Missing
        });
    } else {
        match store.get_block(cid) {
            Ok(Some(block)) => block.into_data(),
            Ok(None) | Err(StoreError::Corrupt { .. }) => return Ok(Found::Missing),
            Err(e) => return Err(e.into()),
        }
    };
    crate::dag::links(cid, &data)
        .map(Found::Present)
        .map_err(|e| FetchError::BadContent {
            cid: *cid,
            detail: e.to_string(),
        })
}

fn list(cids: &[Cid]) -> String {
    let mut parts: Vec<String> = cids.iter().take(LISTED).map(|c| format!("`{c}`")).collect();
    if cids.len() > LISTED {
        parts.push(format!("and {} more", cids.len() - LISTED));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::car::CarWriter;
    use crate::content::{cid_of, HashCode};
    use crate::progress::Silent;
    use crate::store::MemoryStore;
    use crate::unixfs::{import_bytes, ImportParams};

    /// A file DAG of many small blocks (several batches, several levels), root first.
    fn dag() -> (Cid, Vec<Block>) {
        let params = ImportParams {
            cid_version: cid::Version::V1,
            raw_leaves: true,
            chunker: crate::unixfs::Chunker::Size(100),
            max_links: 7,
            hash: HashCode::Sha2_256,
        };
        let content = crate::test_blocks::pseudo_random(0x2545_f491_4f6c_dd1d, 70_000);
        let (root, mut blocks) = import_bytes(&params, &content);
        blocks.reverse(); // the importer emits children first
        (root.cid, blocks)
    }

    fn car(sections: &[(Cid, Vec<u8>)]) -> Vec<u8> {
        let mut w = CarWriter::new(Vec::new(), &[]).unwrap();
        for (cid, data) in sections {
            w.write_section(cid, data).unwrap();
        }
        w.finish().unwrap()
    }

    fn sections(blocks: &[Block]) -> Vec<(Cid, Vec<u8>)> {
        blocks
            .iter()
            .map(|b| (*b.cid(), b.data().to_vec()))
            .collect()
    }

    fn ingest(
        store: &Arc<MemoryStore>,
        root: Cid,
        input: &[u8],
    ) -> (Result<Result<(), SourceError>, FetchError>, u64) {
        let (blocks, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
        let result =
            CarIngest::new(store.clone(), root, &Silent, "test", &blocks, &bytes).run(input);
        (result, blocks.load(Ordering::Relaxed))
    }

    /// The frontier walk done one block at a time, as a reference.
    fn frontier_in_order(store: &dyn BlockStore, root: &Cid) -> Vec<Cid> {
        let (mut missing, mut seen, mut stack) = (Vec::new(), HashSet::new(), vec![*root]);
        while let Some(cid) = stack.pop() {
            if !seen.insert(cid) {
                continue;
            }
            match look_up(store, &cid).unwrap() {
                Found::Missing => missing.push(cid),
                Found::Present(links) => stack.extend(links.into_iter().rev()),
            }
        }
        missing
    }

    #[test]
    fn the_frontier_is_found_in_depth_first_order() {
        let (root, blocks) = dag();
        for keep_every in [1, 2, 3, 7, 50] {
            let store = MemoryStore::new();
            for (i, b) in blocks.iter().enumerate() {
                // Always keep the root; drop leaves and inner nodes alike.
                if i == 0 || i % keep_every != 1 {
                    store.put_block(b).unwrap();
                }
            }
            let got = frontier(&store, &root).unwrap();
            assert_eq!(
                got,
                frontier_in_order(&store, &root),
                "keep_every {keep_every}"
            );
            assert_eq!(got.is_empty(), keep_every == 1);
        }
        assert_eq!(frontier(&MemoryStore::new(), &root).unwrap(), vec![root]);
    }

    #[test]
    fn a_car_in_any_order_brings_the_dag_and_nothing_else() {
        let (root, blocks) = dag();
        let stray = Block::verified(
            cid_of(cid::Version::V1, RAW, HashCode::Sha2_256, b"stray"),
            b"stray".to_vec(),
        )
        .unwrap();
        for order in [false, true] {
            let mut s = sections(&blocks);
            if order {
                s.reverse(); // children before their parents: held back, then taken in
            }
            s.insert(s.len() / 2, (*stray.cid(), stray.data().to_vec()));
            s.push(s[3].clone()); // a repeated block is stored once
            let store = Arc::new(MemoryStore::new());
            let (result, n) = ingest(&store, root, &car(&s));
            assert!(matches!(result, Ok(Ok(()))));
            assert_eq!(n, blocks.len() as u64);
            assert_eq!(store.len(), blocks.len());
            assert!(!store.has_block(stray.cid()).unwrap());
            assert!(frontier(&*store, &root).unwrap().is_empty());
        }
    }

    #[test]
    fn a_bad_block_stops_the_ingest_and_keeps_what_came_before() {
        let (root, blocks) = dag();
        let mut s = sections(&blocks);
        let bad = s.len() - 30;
        s[bad].1[0] ^= 1;
        let store = Arc::new(MemoryStore::new());
        let (result, n) = ingest(&store, root, &car(&s));
        assert!(
            matches!(result, Ok(Err(SourceError::Corrupt(_)))),
            "{result:?}"
        );
        assert_eq!(n, bad as u64);
        for (i, b) in blocks.iter().enumerate() {
            assert_eq!(store.has_block(b.cid()).unwrap(), i < bad, "block {i}");
        }
    }

    #[test]
    fn a_broken_off_stream_keeps_what_arrived() {
        let (root, blocks) = dag();
        let whole = car(&sections(&blocks));
        let store = Arc::new(MemoryStore::new());
        let (result, n) = ingest(&store, root, &whole[..whole.len() - 10]);
        assert!(
            matches!(result, Ok(Err(SourceError::Transient { .. }))),
            "{result:?}"
        );
        assert_eq!(n, blocks.len() as u64 - 1);
        assert_eq!(
            frontier(&*store, &root).unwrap(),
            vec![*blocks.last().unwrap().cid()]
        );
    }
}
