//! Projects end to end: `add-artifact`, `lock`, `sync` (`--locked`, `--frozen`, `--force`),
//! `status`, `verify`, `remove-artifact`, and the `sync --watch` service against a registry
//! served over HTTP with ETags by the test gateway (`scripts/peers/trustless_gateway.py`), with
//! a consumer process that waits for the notify file and writes the wait file, SIGKILL during a
//! run and SIGTERM in the middle of one.

use crate::support::gateway::{Gateway, GatewayBuilder};
use crate::support::kubo::free_port;
use crate::support::{repo_dir, Trove};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const N5: &str = "coalescent_n5_theta1";
const N5_CID: &str = "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m";
const N10: &str = "coalescent_n10_theta1";

/// Copies the repository's registry (registry.json and its CARs) to `dir/registry`.
fn copy_registry(dir: &Path) {
    let from = repo_dir().join("registry");
    let to = dir.join("registry");
    std::fs::create_dir_all(to.join("cars")).unwrap();
    std::fs::copy(from.join("registry.json"), to.join("registry.json")).unwrap();
    for entry in std::fs::read_dir(from.join("cars")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("cars").join(entry.file_name())).unwrap();
    }
}

/// Runs `trove ARGS` in `dir`: (exit code, stdout, stderr).
fn run_in(t: &Trove, dir: &Path, args: &[&str]) -> (i32, String, String) {
    crate::support::output(t.cmd().current_dir(dir).args(args))
}

#[track_caller]
fn ok_in(t: &Trove, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run_in(t, dir, args);
    assert_eq!(code, 0, "trove {args:?} failed:\n{err}");
    out
}

/// The JSON object on the last line of `out` that has `"event": event`.
#[track_caller]
fn event(out: &str, event: &str) -> Value {
    out.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == event)
        .unwrap_or_else(|| panic!("no {event} line in:\n{out}"))
}

/// Asserts that the folder `out` holds exactly the committed files of artifact `id`.
#[track_caller]
fn assert_holds_artifact(out: &Path, id: &str) {
    let want = repo_dir().join("registry/artifacts").join(id);
    let mut names: Vec<String> = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want_names: Vec<String> = std::fs::read_dir(&want)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    want_names.sort();
    assert_eq!(names, want_names, "{}", out.display());
    for name in names {
        assert_eq!(
            std::fs::read(out.join(&name)).unwrap(),
            std::fs::read(want.join(&name)).unwrap(),
            "{name}"
        );
    }
}

fn read_lock(project: &Path) -> toml::Table {
    let text = std::fs::read_to_string(project.join("trove.lock")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("trove.lock: {e}\n{text}"))
}

fn actions(report: &Value) -> Vec<(String, String)> {
    report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["path"].as_str().unwrap().to_string(),
                o["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(path: &str, action: &str) -> (String, String) {
    (path.to_string(), action.to_string())
}

#[test]
fn lock_sync_locked_and_frozen() {
    let t = Trove::new();
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("study");
    std::fs::create_dir_all(&project).unwrap();
    copy_registry(&project);

    // add-artifact creates the manifest and locks it.
    ok_in(
        &t,
        &project,
        &[
            "add-artifact",
            "data/n5",
            &format!("{N5}@latest"),
            "--registry",
            "registry/registry.json",
        ],
    );
    let manifest = std::fs::read_to_string(project.join("trove.toml")).unwrap();
    assert!(
        manifest.contains("registry/registry.json") && manifest.contains("\"data/n5\""),
        "{manifest}"
    );
    let lock = read_lock(&project);
    let registry = &lock["registry"].as_array().unwrap()[0];
    assert_eq!(registry["source"].as_str(), Some("registry/registry.json"));
    assert_eq!(registry["sha256"].as_str().map(str::len), Some(64));
    let locked = &lock["artifact"].as_array().unwrap()[0];
    assert_eq!(locked["path"].as_str(), Some("data/n5"));
    assert_eq!(
        locked["target"].as_str(),
        Some("coalescent_n5_theta1@latest")
    );
    assert_eq!(locked["id"].as_str(), Some(N5));
    assert_eq!(locked["version"].as_str(), Some("1"));
    assert_eq!(locked["alias"].as_str(), Some("latest"));
    assert_eq!(locked["cid"].as_str(), Some(N5_CID));
    assert_eq!(locked["profile"].as_str(), Some("unixfs-v1-2025"));
    assert_eq!(locked["size"].as_integer(), Some(602));
    for mirror in locked["mirrors"].as_array().unwrap() {
        assert!(
            !Path::new(mirror.as_str().unwrap()).is_absolute(),
            "the lock stays portable: {mirror}"
        );
    }

    // sync writes the output; a second sync touches nothing.
    let report = event(&ok_in(&t, &project, &["sync", "--json"]), "sync");
    assert_eq!(actions(&report), [pair("data/n5", "written")]);
    assert_holds_artifact(&project.join("data/n5"), N5);
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = mtime(&project.join("data/n5/sfs.csv"));
    let lock_bytes = std::fs::read(project.join("trove.lock")).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let report = event(&ok_in(&t, &project, &["sync", "--json"]), "sync");
    assert_eq!(actions(&report), [pair("data/n5", "unchanged")]);
    assert_eq!(report["lock_changed"], false);
    assert_eq!(mtime(&project.join("data/n5/sfs.csv")), before);
    assert_eq!(
        std::fs::read(project.join("trove.lock")).unwrap(),
        lock_bytes
    );
    ok_in(&t, &project, &["sync", "--locked"]);

    // A manifest the lock does not cover: --locked and --frozen refuse, naming the output.
    ok_in(
        &t,
        &project,
        &[
            "add-artifact",
            "data/sfs.csv",
            &format!("{N10}@1/sfs.csv"),
            "--no-lock",
        ],
    );
    for flag in ["--locked", "--frozen"] {
        let (code, _, err) = run_in(&t, &project, &["sync", flag]);
        assert_ne!(code, 0, "sync {flag} with a stale lock succeeded");
        assert!(
            err.contains("data/sfs.csv") && err.contains("trove.lock"),
            "sync {flag}: {err}"
        );
    }
    assert!(!project.join("data/sfs.csv").exists());
    ok_in(&t, &project, &["lock"]);
    let lock = read_lock(&project);
    let sfs = lock["artifact"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"].as_str() == Some("data/sfs.csv"))
        .expect("data/sfs.csv locked");
    assert_eq!(sfs["subpath"].as_str(), Some("sfs.csv"));
    assert_eq!(sfs["id"].as_str(), Some(N10));

    // Moved elsewhere with a cold cache and no registry file: --frozen needs only the lock
    // (and the CARs its mirrors name, relative to the project); --locked must read the registry.
    let moved = root.path().join("elsewhere");
    std::fs::rename(&project, &moved).unwrap();
    std::fs::remove_file(moved.join("registry/registry.json")).unwrap();
    let cold = Trove::new();
    let report = event(
        &ok_in(&cold, &moved, &["sync", "--frozen", "--json"]),
        "sync",
    );
    assert_eq!(
        actions(&report),
        [pair("data/n5", "adopted"), pair("data/sfs.csv", "written")]
    );
    assert_eq!(
        std::fs::read(moved.join("data/sfs.csv")).unwrap(),
        std::fs::read(
            repo_dir()
                .join("registry/artifacts")
                .join(N10)
                .join("sfs.csv")
        )
        .unwrap()
    );
    let (code, _, err) = run_in(&cold, &moved, &["sync", "--locked"]);
    assert_ne!(code, 0);
    assert!(err.contains("registry.json"), "{err}");
}

#[test]
fn status_and_verify_name_every_tampered_file_and_sync_never_loses_a_change() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    copy_registry(project);
    ok_in(
        &t,
        project,
        &[
            "add-artifact",
            "data/n5",
            N5,
            "--registry",
            "registry/registry.json",
        ],
    );
    ok_in(&t, project, &["sync"]);
    let out = ok_in(&t, project, &["verify"]);
    assert!(out.contains("ok") && out.contains(N5_CID), "{out}");
    let status: Value = serde_json::from_str(&ok_in(&t, project, &["status", "--json"])).unwrap();
    assert_eq!(status[0]["state"], "intact", "{status}");
    assert_eq!(status[0]["id"], N5);
    assert_eq!(status[0]["version"], "1");
    assert_eq!(status[0]["cid"], N5_CID);

    // Change one file, delete one, add one.
    let n5 = project.join("data/n5");
    let mut sfs = std::fs::read(n5.join("sfs.csv")).unwrap();
    sfs[0] ^= 1;
    std::fs::write(n5.join("sfs.csv"), &sfs).unwrap();
    std::fs::remove_file(n5.join("states.csv")).unwrap();
    std::fs::write(n5.join("notes.txt"), b"mine").unwrap();
    let (code, out, _) = run_in(&t, project, &["verify"]);
    assert_eq!(code, 4, "verify of a tampered output: {out}");
    for name in ["sfs.csv", "states.csv", "notes.txt"] {
        assert!(out.contains(name), "verify does not name {name}: {out}");
    }
    assert!(
        !out.contains("model.json"),
        "intact files are not named: {out}"
    );
    let status: Value = serde_json::from_str(&ok_in(&t, project, &["status", "--json"])).unwrap();
    assert_eq!(status[0]["state"], "changed", "{status}");
    // The folder alone (no manifest) is known too.
    let (code, out, _) = run_in(&t, dir.path(), &["verify", n5.to_str().unwrap()]);
    assert_eq!(code, 4);
    assert!(out.contains("sfs.csv"), "{out}");

    // sync refuses to overwrite the change; --force restores the locked content.
    let (code, _, err) = run_in(&t, project, &["sync"]);
    assert_ne!(code, 0);
    assert!(err.contains("data/n5") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(n5.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read(n5.join("sfs.csv")).unwrap(), sfs);
    let report = event(&ok_in(&t, project, &["sync", "--force", "--json"]), "sync");
    assert_eq!(actions(&report), [pair("data/n5", "written")]);
    assert_holds_artifact(&n5, N5);
    ok_in(&t, project, &["verify"]);

    // Something else at an output is left for the user to move; the content itself, adopted.
    std::fs::write(project.join("data/other.csv"), b"someone else's").unwrap();
    ok_in(
        &t,
        project,
        &["add-artifact", "data/other.csv", &format!("{N10}/sfs.csv")],
    );
    let (code, _, err) = run_in(&t, project, &["sync"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("other.csv") && err.contains("not written by trove"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(project.join("data/other.csv")).unwrap(),
        b"someone else's"
    );
    ok_in(&t, project, &["remove-artifact", "data/other.csv"]);
    let n10 = project.join("data/n10");
    std::fs::create_dir_all(&n10).unwrap();
    for entry in std::fs::read_dir(repo_dir().join("registry/artifacts").join(N10)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), n10.join(entry.file_name())).unwrap();
    }
    ok_in(&t, project, &["add-artifact", "data/n10", N10]);
    let report = event(&ok_in(&t, project, &["sync", "--json"]), "sync");
    assert_eq!(
        actions(&report),
        [pair("data/n10", "adopted"), pair("data/n5", "unchanged")]
    );

    // A removed artifact's output stays where it is, and sync says so.
    ok_in(&t, project, &["remove-artifact", "data/n10"]);
    let report = event(&ok_in(&t, project, &["sync", "--json"]), "sync");
    assert_eq!(report["left_alone"], serde_json::json!(["data/n10"]));
    assert_holds_artifact(&n10, N10);
}

// ---- the watch service ----

/// A registry served over HTTP: `registry.json` and `cars/` in a folder the gateway serves
/// under `/files/`, holding versions of the artifact `toy` (each a folder with `version.txt`
/// and a shared `data.bin`).
struct Served {
    dir: tempfile::TempDir,
    /// (version, CID) in the order they were made.
    versions: Vec<(String, String)>,
}

impl Served {
    /// Made with a cache of its own: the services under test have none of it.
    fn new(versions: usize) -> Served {
        let t = Trove::new();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cars")).unwrap();
        let shared = crate::support::splitmix64_bytes(13, 300_000);
        let mut made = Vec::new();
        for n in 1..=versions {
            let src = dir.path().join(format!("src-v{n}"));
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(src.join("version.txt"), format!("v{n}\n")).unwrap();
            std::fs::write(src.join("data.bin"), &shared).unwrap();
            let car = dir.path().join(format!("cars/toy-v{n}.car"));
            let (s, c) = (src.to_str().unwrap(), car.to_str().unwrap());
            t.ok(&["car", "export", s, "-o", c, "--profile", "unixfs-v1-2025"]);
            let cid = t.ok(&["add", "-Q", "-n", "--profile", "unixfs-v1-2025", s]);
            made.push((n.to_string(), cid));
        }
        let served = Served {
            dir,
            versions: made,
        };
        served.publish(1);
        served
    }

    /// Writes registry.json with versions 1..=`latest` and `latest` pointing at the last.
    fn publish(&self, latest: usize) {
        let versions: Vec<Value> = self.versions[..latest]
            .iter()
            .map(|(v, cid)| {
                serde_json::json!({
                    "version": v, "cid": cid, "profile": "unixfs-v1-2025",
                    "mirrors": [format!("cars/toy-v{v}.car")],
                })
            })
            .collect();
        let (v, cid) = &self.versions[latest - 1];
        let registry = serde_json::json!({
            "version": "1.1.0",
            "traces": {"toy": {
                "cid": cid,
                "description": "a toy artifact for the watch tests",
                "profile": "unixfs-v1-2025",
                "mirrors": [format!("cars/toy-v{v}.car")],
                "versions": versions,
                "aliases": {"latest": v},
            }},
        });
        let path = self.dir.path().join("registry.json");
        let tmp = self.dir.path().join("registry.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&registry).unwrap()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    fn gateway(&self) -> GatewayBuilder {
        Gateway::builder().files_dir(self.dir.path()).log()
    }
}

/// A project whose manifest names `data` = `toy@latest` from the registry at `url`.
fn watch_project(url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("trove.toml"),
        format!(
            "registries = [\"{url}/files/registry.json\"]\n\n[artifacts]\n\"data\" = \"toy@latest\"\n"
        ),
    )
    .unwrap();
    dir
}

/// A running `trove sync --watch --json`, its poll lines read as they come.
struct Watcher {
    child: Child,
    polls: Receiver<Value>,
    stderr: PathBuf,
}

impl Watcher {
    fn start(t: &Trove, project: &Path, extra: &[&str]) -> Watcher {
        let stderr = project.join(".watch-stderr.txt");
        let mut child = t
            .cmd()
            .current_dir(project)
            .args([
                "sync",
                "--watch",
                "--json",
                "--source",
                "mirror",
                "--interval",
                "200ms",
                "--hard-refresh",
                "0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, polls) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["event"] == "poll" && tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Watcher {
            child,
            polls,
            stderr,
        }
    }

    /// The next poll line; fails the test after `limit`.
    #[track_caller]
    fn next(&self, limit: Duration) -> Value {
        match self.polls.recv_timeout(limit) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!(
                "no poll within {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the service ended; stderr:\n{}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            ),
        }
    }

    /// Polls until one has `outcome`; returns it.
    #[track_caller]
    fn until(&self, outcome: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let poll = self.next(left.max(Duration::from_millis(1)));
            if poll["outcome"] == outcome {
                return poll;
            }
            assert_ne!(poll["outcome"], "failed", "{poll}");
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end (at most `limit`): its exit code (`None`: a signal).
    #[track_caller]
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the service did not end within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the output `data` (a symlink into the current run) holds now.
fn version_of(project: &Path) -> String {
    std::fs::read_to_string(project.join("data/version.txt"))
        .unwrap()
        .trim()
        .to_string()
}

fn runs(project: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.join(".trove/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The gateway's log lines for `path` (requests under `/files/`).
fn requests_for(gateway: &Gateway, path: &str) -> Vec<Value> {
    gateway
        .requests()
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with(path)))
        .collect()
}

/// The consumer: waits for the notify file to change, reads `data/version.txt` into its log,
/// then writes the wait file; `count` times.
const CONSUMER: &str = r#"
import os, sys, time
notify, wait, project, log, count = sys.argv[1:6]
deadline = time.time() + 120  # a failed test does not leave it behind for long
last = None
for _ in range(int(count)):
    while True:
        try:
            stamp = os.stat(notify).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp != last:
            last = stamp
            break
        if time.time() > deadline:
            sys.exit("no notification within 120 s")
        time.sleep(0.02)
    with open(os.path.join(project, "data", "version.txt")) as f:
        seen = f.read().strip()
    time.sleep(0.3)  # the consumer's work on this run
    with open(log, "a") as f:
        f.write(seen + "\n")
    with open(wait, "a"):
        pass
    os.utime(wait)
"#;

#[test]
fn watch_polls_with_etags_swaps_runs_and_waits_for_the_consumer() {
    let t = Trove::new();
    let served = Served::new(3);
    let gateway = served.gateway().start();
    let dir = watch_project(&gateway.url);
    let project = dir.path();
    let (notify, wait, log) = (
        project.join("run_silo"),
        project.join("silo_done"),
        project.join("consumer.log"),
    );
    let mut consumer = Command::new("python3")
        .args(["-c", CONSUMER])
        .args([&notify, &wait, project, &log])
        .arg("3")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut w = Watcher::start(
        &t,
        project,
        &[
            "--keep",
            "1",
            "--notify-file",
            notify.to_str().unwrap(),
            "--wait-file",
            wait.to_str().unwrap(),
            "--wait-timeout",
            "30s",
        ],
    );
    let first = w.until("swapped", Duration::from_secs(60));
    assert_eq!(first["changed"], serde_json::json!(["data"]));
    assert_eq!(first["consumer_done"], true, "{first}");
    assert!(project
        .join("data")
        .symlink_metadata()
        .unwrap()
        .is_symlink());
    assert_eq!(version_of(project), "v1");

    // Unchanged polls cost a 304 and no body.
    for _ in 0..3 {
        assert_eq!(w.next(Duration::from_secs(30))["outcome"], "unchanged");
    }
    let registry_reads = requests_for(&gateway, "/files/registry.json");
    assert!(registry_reads.len() >= 4, "{registry_reads:?}");
    assert_eq!(registry_reads[0]["status"], 200);
    for r in &registry_reads[1..] {
        assert_eq!(
            r["status"], 304,
            "an unchanged registry is not downloaded: {r}"
        );
    }
    let car_reads = requests_for(&gateway, "/files/cars/").len();

    // A new release: a new run, swapped in, announced; the consumer saw it.
    served.publish(2);
    let second = w.until("swapped", Duration::from_secs(60));
    assert_eq!(second["changed"], serde_json::json!(["data"]));
    assert_eq!(second["consumer_done"], true, "{second}");
    assert_eq!(version_of(project), "v2");
    assert_eq!(runs(project).len(), 2, "keep 1 previous run");
    assert!(requests_for(&gateway, "/files/cars/").len() > car_reads);

    served.publish(3);
    let third = w.until("swapped", Duration::from_secs(60));
    assert_eq!(version_of(project), "v3");
    assert_eq!(
        third["deleted"],
        serde_json::json!([first["run"]]),
        "the oldest run goes once the consumer is done: {third}"
    );
    let kept = runs(project);
    assert_eq!(
        kept,
        [
            second["run"].as_str().unwrap(),
            third["run"].as_str().unwrap()
        ]
    );
    assert!(consumer.wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "v1\nv2\nv3\n");
    // The lock follows the current run.
    let lock = read_lock(project);
    assert_eq!(
        lock["artifact"][0]["cid"].as_str(),
        Some(served.versions[2].1.as_str())
    );

    // SIGTERM between polls: a clean exit; the markers stay.
    w.signal("TERM");
    assert_eq!(w.wait(Duration::from_secs(20)), Some(0));
    assert!(
        notify.exists() && wait.exists(),
        "markers are never deleted"
    );
    assert_eq!(version_of(project), "v3");
}

#[test]
fn watch_killed_mid_run_restarts_cleanly_and_does_not_refetch() {
    let t = Trove::new();
    let served = Served::new(1);
    let port = free_port();
    // The registry is answered; the CAR hangs (the run is being staged when it is killed).
    let stalling = served
        .gateway()
        .port(port)
        .fault("stall")
        .fault_after(1)
        .stall_seconds(60.0)
        .start();
    let dir = watch_project(&stalling.url);
    let project = dir.path();
    let mut w = Watcher::start(&t, project, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests_for(&stalling, "/files/cars/").is_empty() {
        assert!(Instant::now() < deadline, "the run never asked for the CAR");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        runs(project).iter().any(|r| r.ends_with(".partial")),
        "{:?}",
        runs(project)
    );
    w.signal("KILL");
    assert_eq!(w.wait(Duration::from_secs(10)), None);
    drop(w);
    drop(stalling);
    assert!(!project.join("data").exists(), "nothing was swapped in");

    // Restarted against a working server: the half-staged run is gone, the output swapped in.
    let gateway = served.gateway().port(port).start();
    let out = ok_in(
        &t,
        project,
        &["sync", "--watch", "--json", "--max-polls", "1"],
    );
    let poll = event(&out, "poll");
    assert_eq!(poll["outcome"], "swapped", "{out}");
    assert_eq!(version_of(project), "v1");
    assert_eq!(runs(project), [poll["run"].as_str().unwrap()]);

    // Killed after the swap and restarted: nothing fetched again, the registry asked with its
    // ETag.
    let mut w = Watcher::start(&t, project, &[]);
    assert_eq!(w.next(Duration::from_secs(30))["outcome"], "unchanged");
    w.signal("KILL");
    w.wait(Duration::from_secs(10));
    let before = gateway.requests().len();
    let out = ok_in(
        &t,
        project,
        &["sync", "--watch", "--json", "--max-polls", "1"],
    );
    assert_eq!(event(&out, "poll")["outcome"], "unchanged", "{out}");
    let after: Vec<Value> = gateway.requests()[before..].to_vec();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["path"], "/files/registry.json");
    assert_eq!(after[0]["status"], 304);
    assert_eq!(version_of(project), "v1");
}

#[test]
fn watch_sigterm_mid_run_leaves_the_current_run_in_place() {
    let t = Trove::new();
    let served = Served::new(2);
    let port = free_port();
    let gateway = served.gateway().port(port).start();
    let dir = watch_project(&gateway.url);
    let project = dir.path();
    let out = ok_in(
        &t,
        project,
        &["sync", "--watch", "--json", "--max-polls", "1"],
    );
    let first = event(&out, "poll");
    assert_eq!(first["outcome"], "swapped", "{out}");
    drop(gateway);

    // v2 is released; its CAR hangs.
    served.publish(2);
    let stalling = served
        .gateway()
        .port(port)
        .fault("stall")
        .fault_after(1)
        .stall_seconds(60.0)
        .start();
    let mut w = Watcher::start(&t, project, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests_for(&stalling, "/files/cars/").is_empty() {
        assert!(Instant::now() < deadline, "the run never asked for the CAR");
        std::thread::sleep(Duration::from_millis(50));
    }
    let asked = Instant::now();
    w.signal("TERM");
    assert_eq!(w.wait(Duration::from_secs(30)), Some(0));
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "the stalled fetch was abandoned, not waited out"
    );
    let last = w.until("stopped", Duration::from_secs(5));
    assert!(last.get("error").is_none(), "{last}");
    // The outputs still point at the complete first run; no staged run is left.
    assert_eq!(version_of(project), "v1");
    assert_eq!(runs(project), [first["run"].as_str().unwrap()]);
    let lock = read_lock(project);
    assert_eq!(
        lock["artifact"][0]["cid"].as_str(),
        Some(served.versions[0].1.as_str())
    );
}
