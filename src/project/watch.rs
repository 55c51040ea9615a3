//! `trove sync --watch`: a project kept up to date by a long-running service.
//!
//! Every `interval` the registries are asked again with `If-None-Match` (an unchanged registry
//! costs one `304`, no body); every `hard_refresh` they are read whole whatever their ETag says.
//! When the manifest resolves to new content, a run is staged in its own folder, verified,
//! and swapped in:
//!
//! ```text
//! <project>/.trove/runs/<run id>/<output>     each run's outputs (read-only once complete)
//! <project>/<output> -> .trove/runs/<run id>/<output>   a symlink, replaced in one rename
//! <project>/.trove/watch.json                  the service's state (crash-safe)
//! ```
//!
//! After a swap the notify file is touched; with a wait file, the service waits (up to the
//! wait time-out) for the consumer to create or touch it before it deletes old runs or starts
//! the next one. Runs beyond the `keep` newest are deleted; marker files never are. Content
//! the new manifest resolves to that a run already holds is not fetched again (the blocks are in
//! the cache); a manifest that resolves to the same CIDs makes no run at all.
//!
//! State is written like the store (temporary file, fsync, rename) before and after each
//! swap, so a service killed at any moment resumes where it was: a half-staged run is removed,
//! a swap that was under way is finished, and nothing is fetched again that the cache has.
//! A stop request (SIGTERM) is honoured between steps, never in the middle of a swap.

use super::{Locked, Lockfile, Project, STATE_DIR};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// How the service runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often the registries are asked again.
    pub interval: Duration,
    /// How often they are read whole, whatever their ETag says (`None`: never).
    pub hard_refresh: Option<Duration>,
    /// Previous runs kept besides the current one.
    pub keep: usize,
    /// Touched after each swap.
    pub notify_file: Option<PathBuf>,
    /// Created or touched by the consumer when it is done with a run; waited for after each
    /// swap before old runs are deleted and before the next run.
    pub wait_file: Option<PathBuf>,
    /// How long to wait for it.
    pub wait_timeout: Duration,
    /// Stop after this many polls (tests; `None`: run until stopped).
    pub max_polls: Option<u64>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_secs(300),
            hard_refresh: Some(Duration::from_secs(3600)),
            keep: 2,
            notify_file: None,
            wait_file: None,
            wait_timeout: Duration::from_secs(600),
            max_polls: None,
        }
    }
}

/// What one poll did (one JSON line each with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct PollReport {
    /// `swapped`, `unchanged`, `failed` (retried at the next poll) or `stopped` (a stop
    /// request ended the poll; nothing was swapped).
    pub outcome: &'static str,
    /// The run now current.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Whether the registries were read whole (a hard refresh).
    pub hard_refresh: bool,
    /// Outputs whose content changed in this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// Runs deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// Whether the consumer's wait file was seen (when one is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_done: Option<bool>,
    /// What went wrong, for `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the poll took, in milliseconds.
    pub millis: u64,
}

/// The service's state, kept in `.trove/watch.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// The run the outputs point at.
    current: Option<String>,
    /// A complete run whose swap was under way.
    swapping: Option<String>,
    /// Complete runs, oldest first.
    runs: Vec<String>,
    /// The lock of each complete run (by run id).
    locks: std::collections::BTreeMap<String, Lockfile>,
    /// When the registries were last read whole (seconds since the epoch).
    last_hard_refresh: u64,
    /// The next run's number.
    next: u64,
}

struct Service<'a> {
    client: &'a Client,
    project: &'a Project,
    options: &'a WatchOptions,
    state_dir: PathBuf,
    state: State,
}

impl Client {
    /// Runs the service until `stop` is set (or after `options.max_polls`), telling `report`
    /// about each poll. Failures that another poll may not see (the network, a registry) are
    /// reported and retried; others end the service with the error.
    pub fn watch(
        &self,
        project: &Project,
        options: &WatchOptions,
        stop: &AtomicBool,
        report: &dyn Fn(&PollReport),
    ) -> Result<(), Error> {
        let state_dir = project.manifest.dir().join(STATE_DIR);
        let runs = state_dir.join("runs");
        std::fs::create_dir_all(&runs).map_err(|e| Error::io("create", &runs, e))?;
        let mut service = Service {
            client: self,
            project,
            options,
            state: read_state(&state_dir)?,
            state_dir,
        };
        service.recover()?;
        let mut polls = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let result = service.poll(stop);
            let millis = started.elapsed().as_millis() as u64;
            match result {
                Ok(mut r) => {
                    r.millis = millis;
                    report(&r);
                }
                Err(e)
                    if matches!(e.kind(), ErrorKind::Network | ErrorKind::NotFound)
                        || e.is_cancelled() =>
                {
                    let stopped = e.is_cancelled() && stop.load(Ordering::SeqCst);
                    report(&PollReport {
                        outcome: if stopped { "stopped" } else { "failed" },
                        run: service.state.current.clone(),
                        hard_refresh: false,
                        changed: Vec::new(),
                        deleted: Vec::new(),
                        consumer_done: None,
                        error: (!stopped).then(|| crate::error::chain(&e)),
                        millis,
                    });
                }
                Err(e) => return Err(e),
            }
            polls += 1;
            if options.max_polls.is_some_and(|max| polls >= max) {
                break;
            }
            sleep_unless_stopped(options.interval, stop);
        }
        Ok(())
    }
}

impl Service<'_> {
    fn runs_dir(&self) -> PathBuf {
        self.state_dir.join("runs")
    }

    fn save(&self) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| Error::msg(ErrorKind::Other, e.to_string()))?;
        super::manifest::write_atomic(&self.state_dir.join("watch.json"), &bytes)
    }

    /// After a crash: removes half-staged runs and finishes a swap that was under way.
    fn recover(&mut self) -> Result<(), Error> {
        let runs = self.runs_dir();
        for entry in std::fs::read_dir(&runs).map_err(|e| Error::io("list", &runs, e))? {
            let entry = entry.map_err(|e| Error::io("list", &runs, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".partial") {
                crate::output::remove_path(&entry.path())
                    .map_err(|e| Error::io("remove", entry.path(), e))?;
            }
        }
        if let Some(run) = self.state.swapping.clone() {
            self.swap(&run)?;
        }
        Ok(())
    }

    /// One poll: read the registries, and when the manifest resolves to new content, stage,
    /// verify and swap in a run.
    fn poll(&mut self, stop: &AtomicBool) -> Result<PollReport, Error> {
        let now = unix_now();
        let hard = self.options.hard_refresh.is_some_and(|every| {
            now.saturating_sub(self.state.last_hard_refresh) >= every.as_secs()
        });
        let mut report = PollReport {
            outcome: "unchanged",
            run: self.state.current.clone(),
            hard_refresh: hard,
            changed: Vec::new(),
            deleted: Vec::new(),
            consumer_done: None,
            error: None,
            millis: 0,
        };
        let fresh = self
            .client
            .with_registry_refresh(hard, || self.client.resolve_lock(self.project))?;
        if hard {
            self.state.last_hard_refresh = now;
            self.save()?;
        }
        let current = self
            .state
            .current
            .as_ref()
            .and_then(|r| self.state.locks.get(r));
        if current.is_some_and(|c| c.artifacts == fresh.artifacts)
            && self.outputs_point_at_current()
        {
            return Ok(report);
        }
        report.changed = fresh
            .artifacts
            .iter()
            .filter(|a| current.and_then(|c| c.get(&a.path)).map(|c| &c.cid) != Some(&a.cid))
            .map(|a| a.path.clone())
            .collect();
        // Stage the new run.
        let run = format!("{now}-{:04}", self.state.next);
        self.state.next += 1;
        let staged = self.runs_dir().join(format!("{run}.partial"));
        let result = self.stage(&fresh, &staged, stop);
        if let Err(e) = result {
            let _ = crate::output::remove_path(&staged);
            return Err(e);
        }
        let done = self.runs_dir().join(&run);
        std::fs::rename(&staged, &done)
            .map_err(|e| Error::io("move the staged run to", &done, e))?;
        self.state.locks.insert(run.clone(), fresh.clone());
        self.state.runs.push(run.clone());
        self.state.swapping = Some(run.clone());
        self.save()?;
        // Swap (never interrupted), record the lock, tell the consumer.
        self.swap(&run)?;
        fresh.write(&self.project.lock_path)?;
        report.outcome = "swapped";
        report.run = Some(run.clone());
        let notified = SystemTime::now();
        if let Some(notify) = &self.options.notify_file {
            touch(notify)?;
        }
        if let Some(wait) = &self.options.wait_file {
            report.consumer_done = Some(wait_for(wait, notified, self.options.wait_timeout, stop));
        }
        // Trim old runs (only once the consumer is done with the previous one, when it says).
        if report.consumer_done != Some(false) {
            report.deleted = self.trim()?;
        }
        Ok(report)
    }

    /// Writes every output of `lock` into `staged` (from the snapshots: nothing the cache has
    /// is fetched again) and checks each against its CID.
    fn stage(&self, lock: &Lockfile, staged: &Path, stop: &AtomicBool) -> Result<(), Error> {
        std::fs::create_dir_all(staged).map_err(|e| Error::io("create", staged, e))?;
        for locked in &lock.artifacts {
            if stop.load(Ordering::SeqCst) {
                return Err(Error::Cancelled);
            }
            let out = staged.join(&locked.path);
            let parent = crate::output::folder_of(&out);
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
            self.stage_one(locked, &out)?;
        }
        crate::output::make_read_only(staged)?;
        Ok(())
    }

    fn stage_one(&self, locked: &Locked, out: &Path) -> Result<(), Error> {
        let resolution = super::resolution_of_locked(locked, self.project.manifest.dir())?;
        let got = self.client.materialize(&resolution)?;
        crate::output::copy_out(&got.path, out, false)?;
        let problems =
            self.client
                .check_tree(out, &locked.cid, locked.profile.as_deref(), false)?;
        if !problems.is_empty() {
            return Err(Error::msg(
                ErrorKind::Integrity,
                format!(
                    "the staged `{}` does not match its CID: {}",
                    locked.path,
                    problems.join("; ")
                ),
            ));
        }
        Ok(())
    }

    /// Points every output at run `run` (each a symlink replaced in one rename), then records
    /// it as current.
    fn swap(&mut self, run: &str) -> Result<(), Error> {
        let lock = self.state.locks.get(run).cloned().unwrap_or_default();
        for locked in &lock.artifacts {
            let output = self.project.manifest.output(&locked.path);
            let depth = locked.path.split('/').count() - 1;
            let target = PathBuf::from("../".repeat(depth))
                .join(STATE_DIR)
                .join("runs")
                .join(run)
                .join(&locked.path);
            point(&output, &target)?;
        }
        self.state.current = Some(run.to_string());
        self.state.swapping = None;
        self.save()
    }

    /// Whether every output is the symlink into the current run.
    fn outputs_point_at_current(&self) -> bool {
        let Some(run) = &self.state.current else {
            return false;
        };
        let runs = self.runs_dir().join(run);
        self.state.locks.get(run).is_some_and(|lock| {
            lock.artifacts.iter().all(|a| {
                let output = self.project.manifest.output(&a.path);
                std::fs::canonicalize(&output).ok()
                    == std::fs::canonicalize(runs.join(&a.path)).ok()
            })
        })
    }

    /// Deletes the runs beyond the `keep` newest besides the current one.
    fn trim(&mut self) -> Result<Vec<String>, Error> {
        let current = self.state.current.clone();
        let older: Vec<String> = self
            .state
            .runs
            .iter()
            .filter(|r| Some(*r) != current.as_ref())
            .cloned()
            .collect();
        let excess = older.len().saturating_sub(self.options.keep);
        let gone: Vec<String> = older.into_iter().take(excess).collect();
        for run in &gone {
            let path = self.runs_dir().join(run);
            crate::output::remove_path(&path).map_err(|e| Error::io("remove", &path, e))?;
            self.state.runs.retain(|r| r != run);
            self.state.locks.remove(run);
        }
        if !gone.is_empty() {
            self.save()?;
        }
        Ok(gone)
    }
}

/// Makes `output` a symlink to `target` in one rename (whatever was there: a symlink of an
/// earlier run, or a folder an earlier plain sync wrote, which is removed after the rename).
fn point(output: &Path, target: &Path) -> Result<(), Error> {
    let parent = crate::output::folder_of(output);
    std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    let tmp = parent.join(format!(
        ".trove-link-{}",
        output.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| Error::io("create symlink", &tmp, e))?;
    #[cfg(not(unix))]
    return Err(Error::msg(
        ErrorKind::Other,
        "the watch service needs symlinks (a Unix system)",
    ));
    let existing = output.symlink_metadata().ok();
    match existing {
        Some(m) if m.is_dir() => crate::output::swap_in(&tmp, output, parent)?,
        _ => std::fs::rename(&tmp, output).map_err(|e| Error::io("move the link to", output, e))?,
    }
    Ok(())
}

/// Creates `path` or updates its modification time.
fn touch(path: &Path) -> Result<(), Error> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("touch", path, e))?;
    file.set_modified(SystemTime::now())
        .map_err(|e| Error::io("touch", path, e))
}

/// Waits until `path` exists with a modification time at or after `since` (the consumer
/// created or touched it), at most `limit`; whether it did.
fn wait_for(path: &Path, since: SystemTime, limit: Duration, stop: &AtomicBool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let seen = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since - Duration::from_millis(1));
        if seen {
            return true;
        }
        if Instant::now() >= deadline || stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sleep_unless_stopped(limit: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50).min(deadline - Instant::now()));
    }
}

fn read_state(dir: &Path) -> Result<State, Error> {
    let path = dir.join("watch.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::with_hint(
                ErrorKind::Other,
                format!("the watch state `{}` is unreadable: {e}", path.display()),
                "move it away to start the service afresh (the outputs and runs stay)",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

fn unix_now() -> u64 {
    crate::client::outputs::now_secs()
}
