//! Cross-process locking of the on-disk store: writers take a *shared* lock, the garbage collector
//! (and `verify --remove-bad`) an *exclusive* one, so a block is never deleted while another
//! process is deciding that it already has it.
//!
//! The lock is an OS file lock (`File::try_lock_shared` / `File::try_lock`) on `<root>/lock`.
//! Where the filesystem does not support file locks (some network and FUSE filesystems), the
//! locker switches to lock *files* under `<root>/locks/`:
//!
//! - exclusive: create `locks/exclusive` with `O_EXCL`, then wait until no live `shared-*` file is
//!   left;
//! - shared: create a unique `locks/shared-…` file, then look for `locks/exclusive`; if it is there,
//!   remove ours and retry later (the writer never starves).
//!
//! Each lock file holds the owner's pid and host identity. A lock file is stale when its owner is
//! a dead process on this host (checked through `/proc` on Linux), or when it has not been
//! refreshed for [`STALE_AFTER`]; stale files are broken. Acquisition polls with a small back-off
//! and gives up after the configured time-out with [`StoreError::Locked`].

use super::StoreError;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A lock file not refreshed for this long is considered abandoned.
const STALE_AFTER: Duration = Duration::from_secs(5 * 60);
/// A lock file still without its owner line after this long was left by a crashed creator.
const EMPTY_STALE_AFTER: Duration = Duration::from_secs(10);
/// How often a long-held lock file is touched to show that its owner is alive.
const REFRESH_EVERY: Duration = Duration::from_secs(15);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(50);
const EXCLUSIVE: &str = "exclusive";
const SHARED_PREFIX: &str = "shared-";
/// Other files in `locks/`: lock files being created, and broken locks being removed.
const SCRATCH_PREFIXES: &[&str] = &["new-", "broken-"];

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Which kind of lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// Many holders at once (block writers).
    Shared,
    /// One holder, nobody else (gc).
    Exclusive,
}

/// Takes locks on one store.
#[derive(Debug)]
pub(crate) struct Locker {
    lock_file: PathBuf,
    locks_dir: PathBuf,
    files_only: AtomicBool,
    timeout: Duration,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct LockGuard {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Os(File),
    File { path: PathBuf, refreshed: Instant },
}

impl Locker {
    /// A locker for the store at `root`; `files_only` skips OS locks (for filesystems known not to
    /// support them, and for tests).
    pub(crate) fn new(root: &Path, files_only: bool, timeout: Duration) -> Self {
        Locker {
            lock_file: root.join("lock"),
            locks_dir: root.join("locks"),
            files_only: AtomicBool::new(files_only),
            timeout,
        }
    }

    /// Waits for the lock, up to the time-out.
    pub(crate) fn acquire(&self, mode: LockMode) -> Result<LockGuard, StoreError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut backoff = Duration::from_millis(1);
        loop {
            let attempt = if self.files_only.load(Ordering::Relaxed) {
                self.try_files(mode, deadline)?
            } else {
                match self.try_os(mode)? {
                    OsAttempt::Held(file) => Some(LockGuard {
                        held: Held::Os(file),
                    }),
                    OsAttempt::Busy => None,
                    OsAttempt::Unsupported => {
                        self.files_only.store(true, Ordering::Relaxed);
                        continue;
                    }
                }
            };
            if let Some(guard) = attempt {
                return Ok(guard);
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Locked {
                    path: self.lock_file.clone(),
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn try_os(&self, mode: LockMode) -> Result<OsAttempt, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_file)
            .map_err(|e| StoreError::io("failed to open lock file", &self.lock_file, e))?;
        let result = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match result {
            Ok(()) => Ok(OsAttempt::Held(file)),
            Err(TryLockError::WouldBlock) => Ok(OsAttempt::Busy),
            Err(TryLockError::Error(e)) if locks_unsupported(&e) => Ok(OsAttempt::Unsupported),
            Err(TryLockError::Error(e)) => {
                Err(StoreError::io("failed to lock", &self.lock_file, e))
            }
        }
    }

    fn try_files(
        &self,
        mode: LockMode,
        deadline: Instant,
    ) -> Result<Option<LockGuard>, StoreError> {
        fs::create_dir_all(&self.locks_dir)
            .map_err(|e| StoreError::io("failed to create lock directory", &self.locks_dir, e))?;
        let exclusive = self.locks_dir.join(EXCLUSIVE);
        match mode {
            LockMode::Exclusive => {
                if !self.create_lock_file(&exclusive)? {
                    break_if_stale(&exclusive, &self.locks_dir);
                    return Ok(None);
                }
                let guard = LockGuard::file(exclusive);
                // Readers that arrived before us finish; new readers back off when they see us.
                let mut backoff = Duration::from_millis(1);
                while self.live_shared_holders()? {
                    if Instant::now() >= deadline {
                        return Ok(None); // dropping the guard removes our file
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Ok(Some(guard))
            }
            LockMode::Shared => {
                let name = format!("{SHARED_PREFIX}{}", unique_suffix());
                let mine = self.locks_dir.join(name);
                if !self.create_lock_file(&mine)? {
                    return Ok(None);
                }
                let guard = LockGuard::file(mine);
                if exclusive.exists() {
                    break_if_stale(&exclusive, &self.locks_dir);
                    return Ok(None); // dropping the guard removes our file
                }
                Ok(Some(guard))
            }
        }
    }

    /// Whether a live `shared-*` lock file exists; stale ones (and scratch files of crashed
    /// processes) are removed on the way.
    fn live_shared_holders(&self) -> Result<bool, StoreError> {
        let entries = fs::read_dir(&self.locks_dir)
            .map_err(|e| StoreError::io("failed to list lock directory", &self.locks_dir, e))?;
        let mut live = false;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let shared = name.starts_with(SHARED_PREFIX);
            if !shared && !SCRATCH_PREFIXES.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let path = entry.path();
            if is_stale(&path).is_some() {
                let _ = fs::remove_file(&path);
            } else if shared && path.exists() {
                live = true;
            }
        }
        Ok(live)
    }

    /// Creates the lock file `path` holding our owner line, atomically where the filesystem has
    /// hard links (so a crash never leaves an empty lock file); `Ok(false)` if it exists.
    fn create_lock_file(&self, path: &Path) -> Result<bool, StoreError> {
        let scratch = self.locks_dir.join(format!("new-{}", unique_suffix()));
        fs::write(&scratch, owner_line())
            .map_err(|e| StoreError::io("failed to write lock file", &scratch, e))?;
        let linked = fs::hard_link(&scratch, path);
        let _ = fs::remove_file(&scratch);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Unsupported | ErrorKind::PermissionDenied
                ) =>
            {
                create_lock_file_in_place(path)
            }
            Err(e) => Err(StoreError::io("failed to create lock file", path, e)),
        }
    }
}

enum OsAttempt {
    Held(File),
    Busy,
    Unsupported,
}

impl LockGuard {
    fn file(path: PathBuf) -> Self {
        LockGuard {
            held: Held::File {
                path,
                refreshed: Instant::now(),
            },
        }
    }

    /// Shows other processes that the holder is alive; cheap, call it often during long work.
    pub(crate) fn refresh(&mut self) {
        if let Held::File { path, refreshed } = &mut self.held {
            if refreshed.elapsed() >= REFRESH_EVERY {
                if let Ok(file) = OpenOptions::new().write(true).open(&*path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                *refreshed = Instant::now();
            }
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        match &self.held {
            Held::Os(file) => {
                let _ = file.unlock();
            }
            Held::File { path, .. } => {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// Whether a lock error means "this filesystem has no file locks" rather than a real failure.
fn locks_unsupported(e: &std::io::Error) -> bool {
    if e.kind() == ErrorKind::Unsupported {
        return true;
    }
    // ENOLCK (no lock daemon, e.g. NFS without lockd), EOPNOTSUPP, ENOSYS.
    #[cfg(target_os = "linux")]
    const CODES: &[i32] = &[37, 95, 38];
    #[cfg(target_os = "macos")]
    const CODES: &[i32] = &[77, 102, 45, 78];
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    const CODES: &[i32] = &[];
    e.raw_os_error().is_some_and(|code| CODES.contains(&code))
}

/// Creates `path` exclusively, then writes our owner line (for filesystems without hard links).
fn create_lock_file_in_place(path: &Path) -> Result<bool, StoreError> {
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(StoreError::io("failed to create lock file", path, e)),
    };
    if let Err(e) = file.write_all(owner_line().as_bytes()) {
        let _ = fs::remove_file(path);
        return Err(StoreError::io("failed to write lock file", path, e));
    }
    Ok(true)
}

/// If the lock file at `path` is stale, removes it, taking care not to remove a fresh lock that
/// another process created after we looked.
fn break_if_stale(path: &Path, locks_dir: &Path) {
    let Some(seen) = is_stale(path) else { return };
    let aside = locks_dir.join(format!("broken-{}", unique_suffix()));
    if fs::rename(path, &aside).is_err() {
        return; // someone else broke or released it
    }
    let moved = fs::read_to_string(&aside).unwrap_or_default();
    if moved != seen {
        // We moved a lock taken after our check: put it back (unless yet another one appeared).
        if fs::hard_link(&aside, path).is_err() && !path.exists() {
            let _ = fs::rename(&aside, path);
            return;
        }
    }
    let _ = fs::remove_file(&aside);
}

/// `Some(contents)` when the lock file is abandoned; `None` when live or gone.
fn is_stale(path: &Path) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    let contents = fs::read_to_string(path).ok()?;
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    let owner = contents.split_once(' ').and_then(|(pid, host)| {
        let pid: u32 = pid.trim().parse().ok()?;
        Some((pid, host.trim_end()))
    });
    let Some((pid, host)) = owner else {
        // The creator died between creating the file and writing its owner line.
        return (age >= EMPTY_STALE_AFTER).then_some(contents);
    };
    let dead_here = pid != std::process::id()
        && !host.is_empty()
        && host == host_identity()
        && pid_alive(pid) == Some(false);
    (age >= STALE_AFTER || dead_here).then_some(contents)
}

/// `<pid> <host identity>\n`.
fn owner_line() -> String {
    format!("{} {}\n", std::process::id(), host_identity())
}

/// The host name plus the pid namespace, so that a pid is only judged on the machine and
/// namespace it belongs to; empty where unknown (then only the age decides staleness).
fn host_identity() -> String {
    #[cfg(target_os = "linux")]
    {
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let ns = fs::read_link("/proc/self/ns/pid").unwrap_or_default();
        let (host, ns) = (host.trim(), ns.to_string_lossy());
        if !host.is_empty() && !ns.is_empty() {
            return format!("{host}/{ns}").replace(char::is_whitespace, "_");
        }
    }
    String::new()
}

/// Whether process `pid` exists on this host; `None` where that cannot be told.
fn pid_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        Some(Path::new("/proc").join(pid.to_string()).exists())
    } else {
        None
    }
}

/// `<pid>-<counter>-<random>`: unique among processes and threads.
pub(crate) fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(count);
    if let Ok(now) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    format!("{}-{count}-{:016x}", std::process::id(), hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn locker(dir: &Path, files_only: bool) -> Locker {
        Locker::new(dir, files_only, Duration::from_secs(10))
    }

    fn exclusion_holds(files_only: bool) {
        let dir = tempfile::tempdir().unwrap();
        let locker = Arc::new(locker(dir.path(), files_only));
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (locker, inside) = (locker.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        if i % 3 == 0 {
                            let _g = locker.acquire(LockMode::Exclusive).unwrap();
                            // Nobody else may be inside at all.
                            assert_eq!(inside.fetch_add(1000, Ordering::SeqCst), 0);
                            std::thread::sleep(Duration::from_millis(1));
                            inside.fetch_sub(1000, Ordering::SeqCst);
                        } else {
                            let _g = locker.acquire(LockMode::Shared).unwrap();
                            // Other readers may be inside, a writer may not.
                            assert!(inside.fetch_add(1, Ordering::SeqCst) < 1000);
                            std::thread::sleep(Duration::from_millis(1));
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn os_locks_exclude_writers_from_gc() {
        exclusion_holds(false);
    }

    #[test]
    fn file_locks_exclude_writers_from_gc() {
        exclusion_holds(true);
    }

    #[test]
    fn file_lock_times_out_with_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = locker(dir.path(), true);
        let b = Locker::new(dir.path(), true, Duration::from_millis(50));
        let _held = a.acquire(LockMode::Exclusive).unwrap();
        let err = b.acquire(LockMode::Shared).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }

    #[test]
    fn os_lock_times_out_with_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = locker(dir.path(), false);
        let b = Locker::new(dir.path(), false, Duration::from_millis(50));
        let _held = a.acquire(LockMode::Shared).unwrap();
        let err = b.acquire(LockMode::Exclusive).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }

    #[test]
    fn old_lock_files_are_broken() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        fs::create_dir_all(&locks).unwrap();
        let stale = locks.join(EXCLUSIVE);
        fs::write(&stale, "1 some-other-host\n").unwrap();
        let old = SystemTime::now() - STALE_AFTER - Duration::from_secs(1);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let _g = locker(dir.path(), true).acquire(LockMode::Shared).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lock_files_of_dead_processes_are_broken() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        fs::create_dir_all(&locks).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        fs::write(
            locks.join(EXCLUSIVE),
            format!("{pid} {}\n", host_identity()),
        )
        .unwrap();
        fs::write(
            locks.join("shared-x"),
            format!("{pid} {}\n", host_identity()),
        )
        .unwrap();
        let _g = locker(dir.path(), true)
            .acquire(LockMode::Exclusive)
            .unwrap();
    }

    #[test]
    fn live_lock_files_are_respected() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        fs::create_dir_all(&locks).unwrap();
        // Our own pid is alive; a foreign host's pid cannot be judged.
        fs::write(locks.join(EXCLUSIVE), owner_line()).unwrap();
        let short = Locker::new(dir.path(), true, Duration::from_millis(30));
        assert!(short.acquire(LockMode::Shared).is_err());
        fs::write(locks.join(EXCLUSIVE), "1 elsewhere\n").unwrap();
        assert!(short.acquire(LockMode::Shared).is_err());
    }
}
