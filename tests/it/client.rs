//! `trove::Client`, the library's front door: snapshots (the warm path), their maintenance,
//! error kinds, cancellation, and several processes making the same snapshot.

use crate::support::gateway::Gateway;
use crate::support::{splitmix64_bytes, vector_car, Trove};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use trove::{Client, ErrorKind, Options};

/// A 1 MiB file (5 blocks, CIDv0) the reference CAR holds.
const FILE_CAR: &str = "rand-1048576.v0-pb-256k-174.car";
const FILE_CID: &str = "QmVL67sWBFHxX6vJps4LzamyYGBBkNEzTuZrdYqwgQBPMv";

fn repo_registry() -> PathBuf {
    crate::support::repo_dir().join("registry/registry.json")
}

/// Options for a client on `cache` that asks only `gateway` (and no daemon, peer or mirror).
fn gateway_options(cache: &Path, gateway: &str) -> Options {
    Options {
        cache_dir: Some(cache.to_path_buf()),
        config_file: Some(empty_config(cache)),
        sources: vec![trove::fetch::SourceKind::Gateway],
        gateways: vec![gateway.to_string()],
        timeout: Some(Duration::from_secs(30)),
        ..Options::default()
    }
}

/// An empty config file beside the cache (so the user's own config is never read).
fn empty_config(cache: &Path) -> PathBuf {
    let path = cache.with_extension("toml");
    std::fs::write(&path, "").unwrap();
    path
}

fn is_read_only(path: &Path) -> bool {
    std::fs::metadata(path).unwrap().permissions().readonly()
}

#[test]
fn get_returns_a_read_only_snapshot_and_a_warm_get_asks_no_source() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let gw = Gateway::builder().car(FILE_CAR).log().start();
    let client = Client::new(&gateway_options(&cache, &gw.url)).unwrap();
    let path = client.get(FILE_CID).unwrap();
    assert_eq!(
        path,
        cache.join("snapshots-v1").join(FILE_CID).join(FILE_CID)
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        splitmix64_bytes(1_048_576, 1_048_576)
    );
    assert!(is_read_only(&path));
    let asked = gw.requests().len();
    assert!(asked > 0);
    // Warm: the same path, nothing asked, and offline too.
    assert_eq!(client.get(FILE_CID).unwrap(), path);
    assert_eq!(gw.requests().len(), asked);
    let offline = Client::new(&Options {
        offline: Some(true),
        ..gateway_options(&cache, &gw.url)
    })
    .unwrap();
    assert_eq!(offline.get(FILE_CID).unwrap(), path);
    // get_to copies it, writable, and refuses an existing folder unless forced.
    let out = dir.path().join("out.bin");
    let report = client.get_to(FILE_CID, &out, false).unwrap();
    assert_eq!(report.copied.bytes, 1_048_576);
    assert!(!is_read_only(&out));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&path).unwrap());
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let err = client.get_to(FILE_CID, &folder, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    assert!(trove::Hint::hint(&err).unwrap().contains("force"));
    client.get_to(FILE_CID, &folder, true).unwrap();
    assert!(folder.is_file());
    assert_eq!(gw.requests().len(), asked);
}

#[test]
fn a_registry_file_gets_a_snapshot_named_after_it_and_ids_resolve_offline() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let options = Options {
        cache_dir: Some(cache.clone()),
        config_file: Some(empty_config(&cache)),
        registries: vec![repo_registry().display().to_string()],
        offline: Some(true),
        ..Options::default()
    };
    let client = Client::new(&options).unwrap();
    // The registry's mirror is the CAR beside it: no network even on the first get.
    let sfs = client.get("coalescent_n5_theta1@1/sfs.csv").unwrap();
    assert_eq!(sfs.file_name().unwrap(), "sfs.csv");
    let expected = crate::support::repo_dir().join("registry/artifacts/coalescent_n5_theta1");
    assert_eq!(
        std::fs::read(&sfs).unwrap(),
        std::fs::read(expected.join("sfs.csv")).unwrap()
    );
    let whole = client.get("coalescent_n5_theta1").unwrap();
    assert_eq!(whole.file_name().unwrap(), "coalescent_n5_theta1");
    crate::support::assert_same_tree(&expected, &whole);
    // Errors have kinds a front end can branch on.
    let err = client.get("no_such_id").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = client
        .get("bafkreiexxe3oglrr3hr4cxkydkempei57i5qufii7pcvwxubp3x4y3im7e")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Offline, "{err}");
    let err = client.get("QmNotACid").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
}

#[test]
fn verify_finds_a_changed_snapshot_and_cache_maintenance_handles_snapshots() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    std::fs::write(&file, splitmix64_bytes(9, 700_000)).unwrap();
    let cid = t.ok(&["add", "-Q", file.to_str().unwrap()]);
    let out = dir.path().join("out.bin");
    t.ok(&["get", &cid, "-o", out.to_str().unwrap()]);
    let snapshot = t.cache.path().join("snapshots-v1").join(&cid).join(&cid);
    assert!(snapshot.is_file(), "get -o leaves a snapshot");
    let client = Client::new(&Options {
        cache_dir: Some(t.cache.path().to_path_buf()),
        config_file: Some(empty_config(&dir.path().join("c"))),
        offline: Some(true),
        ..Options::default()
    })
    .unwrap();
    assert!(client.verify(&cid).unwrap().is_intact());
    // Someone changes the read-only copy.
    let mut perms = std::fs::metadata(&snapshot).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&snapshot, perms).unwrap();
    std::fs::write(&snapshot, b"tampered").unwrap();
    let report = client.verify(&cid).unwrap();
    assert!(!report.is_intact());
    assert!(
        matches!(&report.mismatches[..], [trove::client::Mismatch::Changed(p)] if p == &snapshot)
    );
    let (code, listed, _) = t.run(&["cache", "verify"]);
    assert_eq!(code, 4);
    assert!(listed.contains("BAD snapshot"), "{listed}");
    // --remove drops it; the next get writes it anew from the verified blocks.
    assert_eq!(t.run(&["cache", "verify", "--remove"]).0, 0);
    assert!(!snapshot.exists());
    assert_eq!(
        std::fs::read(client.get(&cid).unwrap()).unwrap(),
        splitmix64_bytes(9, 700_000)
    );
    // `cache ls` lists it; gc keeps it while its content is kept, drops it after an unpin.
    assert!(t.ok(&["cache", "ls"]).contains("snapshot"));
    t.ok(&["cache", "gc", "--grace", "0s"]);
    assert!(snapshot.exists());
    t.ok(&["cache", "unpin", &cid]);
    let gc = t.ok(&["cache", "gc", "--grace", "0s"]);
    assert!(gc.contains("removed 1 snapshot(s)"), "{gc}");
    assert!(!snapshot.exists());
    // --snapshots drops every snapshot, the blocks stay.
    t.ok(&["add", "-Q", file.to_str().unwrap()]);
    t.ok(&["get", &cid, "-o", out.to_str().unwrap(), "--force"]);
    assert!(snapshot.exists());
    t.ok(&["cache", "gc", "--grace", "0s", "--snapshots"]);
    assert!(!snapshot.exists());
    let (code, _, err) = t.run(&[
        "get",
        &cid,
        "-o",
        out.to_str().unwrap(),
        "--offline",
        "--force",
    ]);
    assert_eq!(code, 0, "the blocks stayed: {err}");
}

#[test]
fn several_processes_make_the_same_snapshot_at_once() {
    let gw = Gateway::with_cars(&[FILE_CAR]);
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let out = dir.path().join(format!("out{i}"));
            let child = t
                .cmd()
                .args(["get", FILE_CID, "--source", "gateway", "--gateway", &gw.url])
                .arg("-o")
                .arg(&out)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    for (child, out) in children {
        let done = child.wait_with_output().unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            splitmix64_bytes(1_048_576, 1_048_576)
        );
    }
    let snapshots = t.cache.path().join("snapshots-v1").join(FILE_CID);
    let names: Vec<_> = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [FILE_CID], "one snapshot, no leftovers");
}

#[test]
fn a_cancelled_get_stops_and_leaves_nothing_half_written() {
    let gw = Gateway::builder()
        .car(vector_car(FILE_CAR))
        .fault("stall")
        .stall_seconds(60.0)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let client = Client::new(&gateway_options(&cache, &gw.url)).unwrap();
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        let get = scope.spawn(|| client.get(FILE_CID));
        std::thread::sleep(Duration::from_millis(1500));
        client.cancel();
        get.join().unwrap()
    });
    let err = result.unwrap_err();
    assert!(err.is_cancelled(), "cancelled, not {err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let folder = cache.join("snapshots-v1").join(FILE_CID);
    let left: Vec<_> = std::fs::read_dir(&folder)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
    // The client works again afterwards.
    let ok = Gateway::with_cars(&[FILE_CAR]);
    let again = Client::new(&gateway_options(&cache, &ok.url)).unwrap();
    assert!(again.get(FILE_CID).is_ok());
}
