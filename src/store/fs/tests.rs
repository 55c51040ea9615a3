//! The on-disk store's tests: layout, atomic writes, verification on read, concurrent
//! processes and crash safety (SIGKILL at random moments, in a child process).

use super::*;
use crate::content::{hash_bytes, HashCode, DAG_PB};
use crate::test_blocks::{node, raw};
use std::sync::Arc;

fn store(dir: &Path) -> FsStore {
    FsStore::open(dir).unwrap()
}

fn store_with(dir: &Path, grace: Duration) -> FsStore {
    let options = FsStoreOptions {
        gc_grace: grace,
        ..FsStoreOptions::default()
    };
    FsStore::open_with(dir, options).unwrap()
}

fn age_file(path: &Path, by: Duration) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

#[test]
fn put_then_get_round_trips_and_put_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let b = raw(b"hello");
    assert!(!s.has_block(b.cid()).unwrap());
    assert_eq!(s.get_block(b.cid()).unwrap(), None);
    assert!(s.put_block(&b).unwrap());
    assert!(!s.put_block(&b).unwrap());
    assert!(s.has_block(b.cid()).unwrap());
    assert_eq!(s.get_block(b.cid()).unwrap(), Some(b.clone()));
    assert_eq!(
        s.stats().unwrap(),
        StoreStats {
            blocks: 1,
            bytes: 5
        }
    );
    let listed = s.list_blocks().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].raw_cid(), *b.cid());
    assert_eq!(count_files(&s.tmp), 0);
}

#[test]
fn cid_v0_and_v1_of_the_same_bytes_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let v0 = node(&[]);
    let v1 = Cid::new_v1(DAG_PB, *v0.cid().hash());
    assert!(s.put_block(&v0).unwrap());
    assert!(!s
        .put_block(&Block::verified(v1, v0.data().to_vec()).unwrap())
        .unwrap());
    assert_eq!(s.get_block(&v1).unwrap().unwrap().data(), v0.data());
    assert_eq!(s.stats().unwrap().blocks, 1);
}

#[test]
fn layout_puts_blocks_under_a_sharded_base32_multihash_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let b = raw(b"layout");
    s.put_block(&b).unwrap();
    let name = BASE32.encode(b.cid().hash().to_bytes());
    assert!(name.starts_with("ciq"), "{name}");
    let shard = &name[name.len() - 3..name.len() - 1];
    assert_eq!(
        fs::read(dir.path().join(BLOCKS_DIR).join(shard).join(&name)).unwrap(),
        b"layout"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(VERSION_FILE)).unwrap(),
        "trove-cache-layout 1\n"
    );
}

#[test]
fn inline_cids_are_never_written_but_readable() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let cid = Cid::new_v1(RAW, hash_bytes(HashCode::Identity, b"tiny"));
    let block = Block::verified(cid, b"tiny".to_vec()).unwrap();
    assert!(!s.put_block(&block).unwrap());
    assert_eq!(s.stats().unwrap().blocks, 0);
    assert!(s.has_block(&cid).unwrap());
    assert_eq!(s.get_block(&cid).unwrap(), Some(block));
}

#[test]
fn corrupt_file_is_an_error_never_wrong_bytes_and_put_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let b = raw(b"precious bytes");
    s.put_block(&b).unwrap();
    let path = s.block_path(b.cid());
    fs::write(&path, b"precious bytez").unwrap();
    let err = s.get_block(b.cid()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(s.put_block(&b).unwrap(), "a damaged copy is replaced");
    assert_eq!(s.get_block(b.cid()).unwrap(), Some(b));
}

#[test]
fn open_refuses_other_layouts_and_foreign_directories() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(VERSION_FILE), "trove-cache-layout 2\n").unwrap();
    let err = FsStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Layout { .. }), "{err}");
    assert!(err.to_string().contains("layout 2"), "{err}");

    fs::write(dir.path().join(VERSION_FILE), "something else").unwrap();
    assert!(matches!(
        FsStore::open(dir.path()),
        Err(StoreError::Layout { .. })
    ));

    let home = tempfile::tempdir().unwrap();
    fs::write(home.path().join("thesis.tex"), "x").unwrap();
    let err = FsStore::open(home.path()).unwrap_err();
    assert!(err.to_string().contains("thesis.tex"), "{err}");
    assert_eq!(
        count_files(home.path()),
        1,
        "nothing written into a foreign directory"
    );
}

#[test]
fn open_creates_nested_directories_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/cache");
    let b = raw(b"persist");
    store(&root).put_block(&b).unwrap();
    assert_eq!(store(&root).get_block(b.cid()).unwrap(), Some(b));
}

#[test]
fn default_cache_dir_ends_in_trove() {
    if let Ok(dir) = default_cache_dir() {
        assert!(dir.to_string_lossy().contains("trove"), "{}", dir.display());
    }
}

#[test]
fn old_temp_files_are_removed_fresh_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let old = s.tmp.join("1-2-old.tmp");
    let fresh = s.tmp.join("1-3-fresh.tmp");
    fs::write(&old, "junk").unwrap();
    fs::write(&fresh, "in flight").unwrap();
    age_file(&old, Duration::from_secs(3600));
    drop(s);
    let s = store(dir.path());
    assert!(!old.exists());
    assert!(fresh.exists(), "another process may still be writing it");
    assert_eq!(s.gc().unwrap().temp_files_removed, 0);
}

#[test]
fn verify_all_reports_and_removes_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let good = raw(b"good");
    let bad = raw(b"bad");
    let moved = raw(b"moved");
    for b in [&good, &bad, &moved] {
        s.put_block(b).unwrap();
    }
    fs::write(s.block_path(bad.cid()), b"bax").unwrap();
    let moved_path = s.block_path(moved.cid());
    let wrong_shard = s.blocks.join("aa").join(moved_path.file_name().unwrap());
    fs::create_dir_all(wrong_shard.parent().unwrap()).unwrap();
    fs::rename(&moved_path, &wrong_shard).unwrap();
    fs::write(s.blocks.join("aa").join("NOT-A-KEY"), b"?").unwrap();
    fs::write(s.blocks.join("stray.txt"), b"?").unwrap();

    let report = s.verify_all(false).unwrap();
    assert_eq!(report.bad.len(), 4, "{report:#?}");
    assert_eq!(report.removed, 0);
    let corrupt = report.bad.iter().find(|b| b.key.is_some()).unwrap();
    assert_eq!(corrupt.path, s.block_path(bad.cid()));
    assert!(
        corrupt.reason.contains("failed verification"),
        "{}",
        corrupt.reason
    );
    assert!(report.bad.iter().any(|b| b.reason.contains("wrong shard")));
    assert_eq!(
        s.list_blocks().unwrap().len(),
        2,
        "bad names are not listed"
    );

    let report = s.verify_all(true).unwrap();
    assert_eq!(report.removed, 4);
    let report = s.verify_all(false).unwrap();
    assert!(report.bad.is_empty(), "{report:#?}");
    assert_eq!((report.checked, report.checked_bytes), (1, 4));
    assert_eq!(s.get_block(good.cid()).unwrap(), Some(good));
    assert_eq!(s.get_block(bad.cid()).unwrap(), None);
}

#[test]
fn kept_roots_are_listed_updated_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let a = node(&[]);
    let b = raw(b"b");
    s.keep_root(a.cid(), "first").unwrap();
    s.keep_root(b.cid(), "second").unwrap();
    s.keep_root(a.cid(), "first, renamed").unwrap();
    let mut roots = s.kept_roots().unwrap();
    roots.sort_by_key(|r| r.label.clone());
    assert_eq!(roots.len(), 2);
    assert_eq!(
        (roots[0].cid, roots[0].label.as_str()),
        (*a.cid(), "first, renamed")
    );
    assert!(roots[0].kept_at <= SystemTime::now());
    // CIDv1 of the same node names the same record.
    assert!(s
        .unkeep_root(&Cid::new_v1(DAG_PB, *a.cid().hash()))
        .unwrap());
    assert!(!s.unkeep_root(a.cid()).unwrap());
    assert_eq!(s.kept_roots().unwrap().len(), 1);
    assert_eq!(count_files(&s.tmp), 0);
}

#[test]
fn unreadable_root_record_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    fs::write(s.roots.join("junk.json"), "{").unwrap();
    let err = s.kept_roots().unwrap_err();
    assert!(matches!(err, StoreError::BadRootFile { .. }), "{err}");
    assert!(crate::Hint::hint(&err).is_some());
}

#[test]
fn gc_keeps_reachable_blocks_and_removes_old_unreachable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with(dir.path(), Duration::ZERO);
    let leaf = raw(b"leaf");
    let missing = raw(b"never fetched");
    let shared = raw(b"shared leaf");
    let root = node(&[&leaf, &missing, &shared]);
    let orphan = raw(b"orphan");
    let old_root = node(&[&shared]);
    for b in [&leaf, &shared, &root, &orphan, &old_root] {
        s.put_block(b).unwrap();
    }
    s.keep_root(root.cid(), "kept").unwrap();
    let report = s.gc().unwrap();
    assert_eq!(report.roots, 1);
    assert_eq!(report.missing_blocks, 1);
    assert_eq!(report.removed_blocks, 2, "{report:#?}");
    assert_eq!(
        report.removed_bytes,
        (orphan.data().len() + old_root.data().len()) as u64
    );
    assert_eq!(report.kept_blocks, 3);
    assert!(report.walk_errors.is_empty());
    for b in [&leaf, &shared, &root] {
        assert!(s.has_block(b.cid()).unwrap());
    }
    assert!(!s.has_block(orphan.cid()).unwrap());

    s.unkeep_root(root.cid()).unwrap();
    let report = s.gc().unwrap();
    assert_eq!((report.removed_blocks, report.kept_blocks), (3, 0));
}

#[test]
fn gc_spares_recent_blocks_and_blocks_put_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with(dir.path(), Duration::from_secs(600));
    let old = raw(b"old");
    let again = raw(b"old but put again");
    let new = raw(b"new");
    for b in [&old, &again, &new] {
        s.put_block(b).unwrap();
    }
    age_file(&s.block_path(old.cid()), Duration::from_secs(3600));
    age_file(&s.block_path(again.cid()), Duration::from_secs(3600));
    assert!(!s.put_block(&again).unwrap());
    let report = s.gc().unwrap();
    assert_eq!(
        (report.removed_blocks, report.kept_recent),
        (1, 2),
        "{report:#?}"
    );
    assert!(!s.has_block(old.cid()).unwrap());
}

#[test]
fn gc_deletes_nothing_when_a_kept_dag_cannot_be_walked() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with(dir.path(), Duration::ZERO);
    let leaf = raw(b"leaf");
    let root = node(&[&leaf]);
    s.put_block(&leaf).unwrap();
    s.put_block(&root).unwrap();
    s.keep_root(root.cid(), "r").unwrap();
    fs::write(s.block_path(root.cid()), b"garbage").unwrap();
    let report = s.gc().unwrap();
    assert_eq!(report.walk_errors.len(), 1, "{report:#?}");
    assert_eq!(report.walk_errors[0].cid, *root.cid());
    assert_eq!(report.removed_blocks, 0);
    assert!(s.has_block(leaf.cid()).unwrap());

    // The same with a link extractor that cannot read the block.
    fs::write(s.block_path(root.cid()), root.data()).unwrap();
    let report = s.gc_with(|_, _| Err::<Vec<Cid>, _>("unsupported")).unwrap();
    assert_eq!((report.walk_errors.len(), report.removed_blocks), (1, 0));
}

/// Writers re-putting old blocks while gc runs: every block a `put_block` call returned for is
/// still there afterwards.
fn puts_race_gc(file_locks_only: bool) {
    let dir = tempfile::tempdir().unwrap();
    let options = FsStoreOptions {
        gc_grace: Duration::from_secs(30),
        file_locks_only,
        ..FsStoreOptions::default()
    };
    let s = Arc::new(FsStore::open_with(dir.path(), options.clone()).unwrap());
    let blocks: Vec<Block> = (0..200u32).map(|i| raw(&i.to_le_bytes())).collect();
    for b in &blocks {
        s.put_block(b).unwrap();
        age_file(&s.block_path(b.cid()), Duration::from_secs(3600));
    }
    let blocks = Arc::new(blocks);
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let (blocks, dir) = (blocks.clone(), dir.path().to_path_buf());
            let options = options.clone();
            std::thread::spawn(move || {
                let s = FsStore::open_with(&dir, options).unwrap();
                for b in blocks.iter().skip(t).step_by(3) {
                    s.put_block(b).unwrap();
                    assert!(s.has_block(b.cid()).unwrap());
                }
            })
        })
        .collect();
    let mut removed = 0;
    for _ in 0..20 {
        removed += s.gc().unwrap().removed_blocks;
    }
    for w in writers {
        w.join().unwrap();
    }
    for b in blocks.iter() {
        assert_eq!(
            s.get_block(b.cid()).unwrap().as_ref(),
            Some(b),
            "removed {removed}"
        );
    }
}

#[test]
fn puts_race_gc_with_os_locks() {
    puts_race_gc(false);
}

#[test]
fn puts_race_gc_with_lock_files() {
    puts_race_gc(true);
}

// ---- crash test: a child process writing blocks is SIGKILLed at random moments ----

const UNIVERSE: u64 = 600;
const CHILD_ENV: &str = "TROVE_CRASH_CHILD";

/// Deterministic block `i` of the crash test: 1 byte to 32 KiB of pseudo-random data.
fn crash_block(i: u64) -> Block {
    let mut rng = XorShift(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let len = 1 + (rng.next() % (32 * 1024)) as usize;
    let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    raw(&data)
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The child side: does nothing unless started by `sigkill_at_random_moments_*`.
#[test]
#[allow(clippy::disallowed_methods)] // the parent test passes the child its orders
fn crash_child() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let arg = |name: &str| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let options = FsStoreOptions {
        file_locks_only: arg("TROVE_CRASH_FILE_LOCKS") == 1,
        lock_timeout: Duration::from_secs(20),
        ..FsStoreOptions::default()
    };
    let s = FsStore::open_with(Path::new(&root), options).unwrap();
    let (start, count) = (arg("TROVE_CRASH_START"), arg("TROVE_CRASH_COUNT"));
    for j in 0..count {
        let block = crash_block((start + j) % UNIVERSE);
        s.put_block(&block).unwrap();
        if j % 16 == 0 {
            s.keep_root(block.cid(), "crash test").unwrap();
        }
        if j % 64 == 63 {
            s.gc().unwrap();
        }
    }
}

fn run_child(root: &Path, start: u64, count: u64, file_locks: bool) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["store::fs::tests::crash_child", "--exact", "--nocapture"])
        .args(["--test-threads=1", "-q"])
        .env(CHILD_ENV, root)
        .env("TROVE_CRASH_START", start.to_string())
        .env("TROVE_CRASH_COUNT", count.to_string())
        .env("TROVE_CRASH_FILE_LOCKS", u8::from(file_locks).to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// After each kill: only complete, correct blocks are readable, and junk is only in `tmp/`.
fn assert_consistent(root: &Path) {
    let options = FsStoreOptions {
        tmp_max_age: Duration::ZERO, // the writer is dead: all temp files are junk
        ..FsStoreOptions::default()
    };
    let s = FsStore::open_with(root, options).unwrap();
    assert_eq!(
        count_files(&s.tmp),
        0,
        "open removed the dead writer's temp files"
    );
    let report = s.verify_all(false).unwrap();
    assert!(report.bad.is_empty(), "{report:#?}");
    s.kept_roots().unwrap();
}

#[cfg(unix)]
#[test]
fn sigkill_at_random_moments_never_leaves_a_bad_block() {
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let mut rng = XorShift(seed.as_nanos() as u64 | 1);
    let linux = cfg!(target_os = "linux"); // lock files of dead pids are recognised there
    let rounds = 32;
    for round in 0..rounds {
        let start = rng.next() % UNIVERSE;
        let mut child = run_child(dir.path(), start, 1_000_000, linux && round % 2 == 1);
        std::thread::sleep(Duration::from_millis(5 + rng.next() % 100));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_consistent(dir.path());
    }
    // A final full run completes despite the debris of killed runs (stale lock files too).
    let status = run_child(dir.path(), 0, UNIVERSE, linux).wait().unwrap();
    assert!(status.success(), "final child failed: {status}");
    if linux {
        // Scratch files (`new-*`) without an owner line are swept only once 10 s old.
        let locks: Vec<String> = fs::read_dir(dir.path().join("locks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("new-"))
            .collect();
        assert!(
            locks.is_empty(),
            "dead processes' locks not broken: {locks:?}"
        );
    }
    assert_consistent(dir.path());
    let s = store(dir.path());
    for i in 0..UNIVERSE {
        let block = crash_block(i);
        assert_eq!(s.get_block(block.cid()).unwrap(), Some(block), "block {i}");
    }
    assert_eq!(s.stats().unwrap().blocks, UNIVERSE);
}
