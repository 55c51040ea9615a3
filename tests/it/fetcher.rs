//! The fetcher's decisions (fallback, bans, retries, resume, time-outs) with scripted sources.
//! Real servers are exercised in `gateway_source`, `kubo_rpc` and `get_network`.

use crate::support::splitmix64_bytes;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trove::content::Cid;
use trove::fetch::{
    ByteStream, FetchError, FetchOptions, Fetcher, Source, SourceError, SourceKind,
};
use trove::progress::Silent;
use trove::store::{BlockGetter, BlockPutter, MemoryStore};
use trove::unixfs::{import_bytes, ImportParams};

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Flip a byte in every block it serves.
    Corrupt,
    /// Cut CAR streams in half.
    Truncate,
    /// Answer 429-like temporary failures this many times first.
    Busy(u64),
    /// Never answer.
    Hang,
    /// Never answer the block request with this number (counting from 0); answer the others.
    HangCall(u64),
}

struct Scripted {
    name: String,
    kind: SourceKind,
    blocks: MemoryStore,
    car: bool,
    fault: Fault,
    block_calls: AtomicU64,
    dag_calls: AtomicU64,
    /// Bytes of blocks and CARs sent.
    bytes_sent: AtomicU64,
    served: Mutex<Vec<Cid>>,
}

impl Scripted {
    fn new(name: &str, blocks: &[trove::content::Block], car: bool, fault: Fault) -> Arc<Self> {
        let store = MemoryStore::new();
        for b in blocks {
            store.put_block(b).unwrap();
        }
        Arc::new(Scripted {
            name: name.into(),
            kind: SourceKind::Gateway,
            blocks: store,
            car,
            fault,
            block_calls: AtomicU64::new(0),
            dag_calls: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            served: Mutex::new(Vec::new()),
        })
    }

    fn busy(&self, calls: u64) -> Option<SourceError> {
        match self.fault {
            Fault::Busy(n) if calls < n => Some(SourceError::Transient {
                detail: "HTTP 429".into(),
                retry_after: Some(Duration::from_millis(10)),
            }),
            _ => None,
        }
    }
}

#[async_trait::async_trait]
impl Source for Scripted {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn kind(&self) -> SourceKind {
        self.kind
    }
    async fn dag(&self, cid: &Cid) -> Result<ByteStream, SourceError> {
        let calls = self.dag_calls.fetch_add(1, Ordering::SeqCst);
        if !self.car {
            return Err(SourceError::Unsupported);
        }
        if self.fault == Fault::Hang {
            std::future::pending::<()>().await;
        }
        if let Some(e) = self.busy(calls) {
            return Err(e);
        }
        if !self.blocks.has_block(cid).unwrap() {
            return Err(SourceError::NotFound);
        }
        let mut car = Vec::new();
        trove::car::export_dag(&self.blocks, cid, &mut car).map_err(|_| SourceError::NotFound)?;
        match self.fault {
            Fault::Truncate => car.truncate(car.len() / 2),
            Fault::Corrupt => {
                let last = car.len() - 1;
                car[last] ^= 1;
            }
            _ => {}
        }
        self.bytes_sent
            .fetch_add(car.len() as u64, Ordering::SeqCst);
        Ok(Box::pin(Cursor::new(car)))
    }
    async fn block(&self, cid: &Cid) -> Result<Vec<u8>, SourceError> {
        let calls = self.block_calls.fetch_add(1, Ordering::SeqCst);
        if self.fault == Fault::Hang || self.fault == Fault::HangCall(calls) {
            std::future::pending::<()>().await;
        }
        if let Some(e) = self.busy(calls) {
            return Err(e);
        }
        let mut data = self
            .blocks
            .get_block(cid)
            .unwrap()
            .ok_or(SourceError::NotFound)?
            .into_data();
        if self.fault == Fault::Corrupt && !data.is_empty() {
            data[0] ^= 1;
        }
        self.served.lock().unwrap().push(*cid);
        self.bytes_sent
            .fetch_add(data.len() as u64, Ordering::SeqCst);
        Ok(data)
    }
}

fn content() -> (Cid, Vec<trove::content::Block>, Vec<u8>) {
    let params = ImportParams {
        chunker: trove::unixfs::Chunker::Size(1024),
        max_links: 8,
        ..ImportParams::default()
    };
    let bytes = splitmix64_bytes(42, 100_000);
    let (root, blocks) = import_bytes(&params, &bytes);
    (root.cid, blocks, bytes)
}

fn options() -> FetchOptions {
    FetchOptions {
        idle_timeout: Duration::from_millis(500),
        hedge_after: Duration::from_millis(100),
        backoff: Duration::from_millis(5),
        ..FetchOptions::default()
    }
}

fn fetcher(store: &Arc<MemoryStore>, sources: Vec<Arc<Scripted>>, opts: FetchOptions) -> Fetcher {
    Fetcher::new(
        store.clone(),
        sources.into_iter().map(|s| s as Arc<dyn Source>).collect(),
        opts,
        Arc::new(Silent),
    )
}

fn read_back(store: &MemoryStore, root: &Cid) -> Vec<u8> {
    let mut out = Vec::new();
    trove::unixfs::Reader::new(store)
        .read_file(root, 0, None, &mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn one_car_brings_the_whole_dag() {
    let (root, blocks, bytes) = content();
    let store = Arc::new(MemoryStore::new());
    let good = Scripted::new("good", &blocks, true, Fault::None);
    let report = fetcher(&store, vec![good.clone()], options())
        .fetch(&root)
        .await
        .unwrap();
    assert_eq!(read_back(&store, &root), bytes);
    assert_eq!(good.dag_calls.load(Ordering::SeqCst), 1);
    // Before the CAR, the root and one node per level below it are looked at alone (is
    // anything under them cached?): a handful of small requests, never the whole DAG.
    let probes = good.block_calls.load(Ordering::SeqCst);
    assert!(probes <= 4, "{probes} single-block requests before the CAR");
    assert_eq!(report.blocks as usize, store.len());
}

#[tokio::test]
async fn a_new_version_fetches_only_what_the_cache_lacks() {
    // v1: 2 MiB in 64 KiB chunks (a two-level DAG with dag-pb leaves); v2: 1% changed in
    // place in one run, in the second half.
    let v1 = splitmix64_bytes(21, 2 << 20);
    let mut v2 = v1.clone();
    let at = 1_400_000;
    for b in &mut v2[at..at + 20_000] {
        *b ^= 0x5a;
    }
    let params = ImportParams {
        chunker: trove::unixfs::Chunker::Size(64 * 1024),
        max_links: 16,
        ..ImportParams::default()
    };
    let (root1, mut blocks) = import_bytes(&params, &v1);
    let (root2, more) = import_bytes(&params, &v2);
    blocks.extend(more);
    let (root1, root2) = (root1.cid, root2.cid);
    let store = Arc::new(MemoryStore::new());
    let server = Scripted::new("server", &blocks, true, Fault::None);
    fetcher(&store, vec![server.clone()], options())
        .fetch(&root1)
        .await
        .unwrap();
    let (dags, singles) = (
        server.dag_calls.load(Ordering::SeqCst),
        server.block_calls.load(Ordering::SeqCst),
    );
    let sent_before = server.bytes_sent.load(Ordering::SeqCst);
    let report = fetcher(&store, vec![server.clone()], options())
        .fetch(&root2)
        .await
        .unwrap();
    assert_eq!(read_back(&store, &root2), v2);
    let sent = server.bytes_sent.load(Ordering::SeqCst) - sent_before;
    // The changed leaves (one or two of 64 KiB) and the nodes above them; not the 2 MiB.
    assert!(
        sent < 3 * 64 * 1024,
        "{sent} bytes sent for v2 ({} blocks; {} CARs and {} single blocks for v1)",
        report.blocks,
        dags,
        singles
    );
}

#[tokio::test]
async fn a_corrupt_source_is_dropped_and_the_next_completes() {
    let (root, blocks, bytes) = content();
    for car in [true, false] {
        let store = Arc::new(MemoryStore::new());
        let bad = Scripted::new("bad", &blocks, car, Fault::Corrupt);
        let good = Scripted::new("good", &blocks, car, Fault::None);
        fetcher(&store, vec![bad.clone(), good.clone()], options())
            .fetch(&root)
            .await
            .unwrap();
        assert_eq!(read_back(&store, &root), bytes, "car={car}");
        // Ruled out after its first bad block: never asked again.
        assert!(bad.block_calls.load(Ordering::SeqCst) <= 1, "car={car}");
    }
}

#[tokio::test]
async fn only_bad_sources_fail_with_what_was_tried() {
    let (root, blocks, _) = content();
    let store = Arc::new(MemoryStore::new());
    let bad = Scripted::new("gateway bad", &blocks, true, Fault::Corrupt);
    let err = fetcher(&store, vec![bad], options())
        .fetch(&root)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            FetchError::Incomplete {
                only_bad_bytes: true,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("gateway bad") && msg.contains("sent wrong bytes"),
        "{msg}"
    );
    // Nothing unverified was stored: what is there is exactly the good blocks of the DAG.
    for b in &blocks {
        if let Some(stored) = store.get_block(b.cid()).unwrap() {
            assert_eq!(stored.data(), b.data());
        }
    }
}

#[tokio::test]
async fn a_truncated_car_is_completed_block_by_block() {
    let (root, blocks, bytes) = content();
    let store = Arc::new(MemoryStore::new());
    let cut = Scripted::new("cut", &blocks, true, Fault::Truncate);
    fetcher(&store, vec![cut.clone()], options())
        .fetch(&root)
        .await
        .unwrap();
    assert_eq!(read_back(&store, &root), bytes);
    assert!(cut.block_calls.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn a_resumed_fetch_asks_only_for_missing_blocks() {
    let (root, blocks, bytes) = content();
    let store = Arc::new(MemoryStore::new());
    // An interrupted earlier run stored the first half of the blocks in DAG order.
    let mut order = Vec::new();
    let source = MemoryStore::new();
    for b in &blocks {
        source.put_block(b).unwrap();
    }
    trove::car::export_dag(&source, &root, &mut order).unwrap();
    let mut reader = trove::car::CarReader::new(order.as_slice()).unwrap();
    let mut kept = 0;
    while let Some(b) = reader.next_block().unwrap() {
        if kept * 2 < blocks.len() {
            store.put_block(&b).unwrap();
            kept += 1;
        }
    }
    let had = store.len();
    let good = Scripted::new("good", &blocks, false, Fault::None);
    fetcher(&store, vec![good.clone()], options())
        .fetch(&root)
        .await
        .unwrap();
    assert_eq!(read_back(&store, &root), bytes);
    let served = good.served.lock().unwrap().clone();
    assert_eq!(
        served.len(),
        blocks.len() - had,
        "fetched only what was missing"
    );
    let unique: std::collections::HashSet<_> = served.iter().collect();
    assert_eq!(unique.len(), served.len(), "no block fetched twice");
}

#[tokio::test]
async fn temporary_failures_are_retried() {
    let (root, blocks, bytes) = content();
    let store = Arc::new(MemoryStore::new());
    let busy = Scripted::new("busy", &blocks, true, Fault::Busy(2));
    fetcher(&store, vec![busy.clone()], options())
        .fetch(&root)
        .await
        .unwrap();
    assert_eq!(read_back(&store, &root), bytes);
    assert_eq!(busy.dag_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_silent_source_times_out_and_the_next_one_answers() {
    let (root, blocks, bytes) = content();
    let store = Arc::new(MemoryStore::new());
    let silent = Scripted::new("silent", &blocks, true, Fault::Hang);
    let good = Scripted::new("good", &blocks, true, Fault::None);
    let start = Instant::now();
    let mut opts = options();
    opts.retries = 0;
    opts.timeout = Some(Duration::from_secs(20));
    fetcher(&store, vec![silent, good], opts)
        .fetch(&root)
        .await
        .unwrap();
    assert_eq!(read_back(&store, &root), bytes);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_block_the_only_source_hangs_on_is_asked_again_while_it_serves_the_rest() {
    let (root, blocks, bytes) = content();
    let store = Arc::new(MemoryStore::new());
    // Block requests only; the third one (an inner node: its subtree waits) never gets an
    // answer, while the source keeps answering everything asked after it.
    let source = Scripted::new("hangs once", &blocks, false, Fault::HangCall(2));
    let mut opts = options();
    opts.timeout = Some(Duration::from_secs(20));
    fetcher(&store, vec![source.clone()], opts)
        .fetch(&root)
        .await
        .unwrap();
    assert_eq!(read_back(&store, &root), bytes);
    // Every block once, and the stuck one asked for again.
    let calls = source.block_calls.load(Ordering::SeqCst);
    assert_eq!(calls, blocks.len() as u64 + 1);
}

#[tokio::test]
async fn nobody_has_it_fails_fast() {
    let (root, _, _) = content();
    let store = Arc::new(MemoryStore::new());
    let empty1 = Scripted::new("empty one", &[], true, Fault::None);
    let empty2 = Scripted::new("empty two", &[], true, Fault::None);
    let start = Instant::now();
    let err = fetcher(&store, vec![empty1, empty2], options())
        .fetch(&root)
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&root.to_string()) && msg.contains("empty one") && msg.contains("empty two"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_whole_fetch_has_a_time_limit() {
    let (root, blocks, _) = content();
    let store = Arc::new(MemoryStore::new());
    let silent = Scripted::new("silent", &blocks, true, Fault::Hang);
    let mut opts = options();
    opts.idle_timeout = Duration::from_secs(60);
    opts.timeout = Some(Duration::from_millis(300));
    let start = Instant::now();
    let err = fetcher(&store, vec![silent], opts)
        .fetch(&root)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TimedOut { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2));
}
