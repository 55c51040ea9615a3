//! `trove get` over the network against real `trustless_gateway.py` processes: every fault mode
//! with a clean fallback and alone, interrupted downloads, offline mode, mirrors.

use crate::support::gateway::Gateway;
use crate::support::{splitmix64_bytes, vector_car, Trove};
use std::path::Path;
use std::time::{Duration, Instant};

/// A 1 MiB file (5 blocks, CIDv0) and a directory of three files (CIDv1, raw leaves).
const FILE_CAR: &str = "rand-1048576.v0-pb-256k-174.car";
const FILE_CID: &str = "QmVL67sWBFHxX6vJps4LzamyYGBBkNEzTuZrdYqwgQBPMv";
const DIR_CAR: &str = "kubo-sharness-planets.v1-raw-256k-174.car";
const DIR_CID: &str = "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi";

const FAULTS: &[&str] = &[
    "corrupt",
    "wrong-block",
    "truncate",
    "missing-child",
    "dup",
    "extra",
    "oversize",
    "stall",
    "drip",
    "slow-start",
    "429",
    "500",
    "html200",
    "wrong-ctype",
    "redirect-loop",
    "notfound",
];

/// Faults after which a gateway can still deliver everything, verified: duplicates and
/// unrequested blocks are ignored, a slow start is waited out, and a CAR cut short or missing a
/// child is completed with raw block requests (which these faults leave intact).
const HARMLESS: &[&str] = &["dup", "extra", "slow-start", "truncate", "missing-child"];

fn faulty(fault: &str) -> Gateway {
    Gateway::builder()
        .car(FILE_CAR)
        .car(DIR_CAR)
        .fault(fault)
        .stall_seconds(30.0)
        .log()
        .start()
}

fn get(t: &Trove, gateways: &[&Gateway], cid: &str, out: &Path) -> (i32, String, String) {
    let mut args = vec![
        "get".to_string(),
        cid.to_string(),
        "-o".into(),
        out.to_str().unwrap().into(),
        "--source".into(),
        "gateway".into(),
        "--idle-timeout".into(),
        "5s".into(),
        "--timeout".into(),
        "25s".into(),
    ];
    for g in gateways {
        args.push("--gateway".into());
        args.push(g.url.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    t.run(&refs)
}

/// `content` as a file in `dir`, exported to `dir/big.car` in 64 KiB raw leaves; returns the
/// CAR and its root CID.
fn car_of(dir: &Path, content: &[u8]) -> (std::path::PathBuf, String) {
    let src = dir.join("big");
    std::fs::write(&src, content).unwrap();
    let car = dir.join("big.car");
    let cid = Trove::new().ok(&[
        "car",
        "export",
        src.to_str().unwrap(),
        "-o",
        car.to_str().unwrap(),
        "--chunker",
        "size-65536",
        "--raw-leaves",
    ]);
    (car, cid)
}

fn expected_file() -> Vec<u8> {
    splitmix64_bytes(1_048_576, 1_048_576)
}

fn assert_dir(out: &Path) {
    assert_eq!(
        std::fs::read(out.join("mars.txt")).unwrap(),
        b"Hello Mars!\n"
    );
    assert_eq!(
        std::fs::read(out.join("venus.txt")).unwrap(),
        b"Hello Venus!\n"
    );
}

#[test]
fn every_fault_with_a_clean_fallback_gives_the_right_bytes() {
    std::thread::scope(|scope| {
        for chunk in FAULTS.chunks(4) {
            scope.spawn(move || {
                for fault in chunk {
                    let bad = faulty(fault);
                    let good = Gateway::with_cars(&[FILE_CAR, DIR_CAR]);
                    let t = Trove::new();
                    let dir = tempfile::tempdir().unwrap();
                    let file = dir.path().join("file");
                    let (code, _, err) = get(&t, &[&bad, &good], FILE_CID, &file);
                    assert_eq!(code, 0, "{fault}: {err}");
                    assert!(std::fs::read(&file).unwrap() == expected_file(), "{fault}");
                    let planets = dir.path().join("planets");
                    let (code, _, err) = get(&t, &[&bad, &good], DIR_CID, &planets);
                    assert_eq!(code, 0, "{fault} (directory): {err}");
                    assert_dir(&planets);
                    let (code, out, err) = t.run(&["cache", "verify"]);
                    assert_eq!(code, 0, "{fault}: cache verify: {out}{err}");
                }
            });
        }
    });
}

#[test]
fn every_fault_alone_fails_cleanly_within_the_time_out() {
    std::thread::scope(|scope| {
        for chunk in FAULTS.chunks(4) {
            scope.spawn(move || {
                for fault in chunk {
                    let bad = faulty(fault);
                    let t = Trove::new();
                    let dir = tempfile::tempdir().unwrap();
                    let file = dir.path().join("file");
                    let start = Instant::now();
                    let (code, _, err) = get(&t, &[&bad], FILE_CID, &file);
                    let took = start.elapsed();
                    assert!(took < Duration::from_secs(25), "{fault}: took {took:?}");
                    if HARMLESS.contains(fault) {
                        assert_eq!(code, 0, "{fault}: {err}");
                        assert!(std::fs::read(&file).unwrap() == expected_file(), "{fault}");
                    } else {
                        // The exit code says what kind of failure it was.
                        let expected = match *fault {
                            "corrupt" | "wrong-block" => 4, // wrong bytes: integrity
                            "notfound" => 3,                // no source holds it
                            _ => 1,                         // the source failed
                        };
                        assert_eq!(code, expected, "{fault}: {err}");
                        assert!(
                            err.contains("error:") && err.contains(FILE_CID),
                            "{fault}: {err}"
                        );
                        assert!(!file.exists(), "{fault}: no output file");
                        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
                        assert!(leftovers.is_empty(), "{fault}: temp files left");
                    }
                    let (code, out, err) = t.run(&["cache", "verify"]);
                    assert_eq!(code, 0, "{fault}: unverified block stored: {out}{err}");
                }
            });
        }
    });
}

#[test]
fn offline_on_a_warm_cache_makes_no_request() {
    let gw = Gateway::builder().car(FILE_CAR).log().start();
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = get(&t, &[&gw], FILE_CID, &dir.path().join("first"));
    assert_eq!(code, 0, "{err}");
    let before = gw.requests().len();
    assert!(before > 0);
    for args in [
        vec!["get", "--offline", FILE_CID, "-o"],
        vec!["cat", "--offline", FILE_CID, "--gateway", &gw.url, "-o"],
    ] {
        let out = dir.path().join(format!("again-{}", args[0]));
        let mut args: Vec<&str> = args;
        if args[0] == "cat" {
            args.pop();
            let got = t.cmd().args(&args).output().unwrap();
            assert!(got.status.success());
            assert!(got.stdout == expected_file());
        } else {
            args.push(out.to_str().unwrap());
            t.ok(&args);
        }
    }
    let got = t
        .cmd()
        .env("TROVE_OFFLINE", "1")
        .args(["get", FILE_CID, "--gateway", &gw.url, "-o"])
        .arg(dir.path().join("env"))
        .output()
        .unwrap();
    assert!(got.status.success());
    // Warm cache, even without --offline: nothing is asked.
    t.ok(&[
        "get",
        FILE_CID,
        "--gateway",
        &gw.url,
        "-o",
        dir.path().join("warm").to_str().unwrap(),
    ]);
    assert_eq!(
        gw.requests().len(),
        before,
        "offline / warm gets made requests"
    );
    // Offline on a cold cache: a clear error, still no request.
    let cold = Trove::new();
    let (code, _, err) = cold.run(&["get", "--offline", FILE_CID, "--gateway", &gw.url]);
    assert_eq!(code, 5, "offline and not cached: {err}");
    assert!(err.contains("offline") && err.contains(FILE_CID), "{err}");
    assert_eq!(gw.requests().len(), before);
}

#[test]
fn a_killed_get_resumes_without_fetching_blocks_twice() {
    // A larger DAG served slowly enough to be interrupted: 24 MiB in 64 KiB chunks.
    let work = tempfile::tempdir().unwrap();
    let content = splitmix64_bytes(3, 24 * 1024 * 1024);
    let (car, cid) = car_of(work.path(), &content);
    let gw = Gateway::builder().car(&car).log().start();
    let t = Trove::new();
    let out = work.path().join("out");
    for delay in [150u64, 400] {
        let mut child = t
            .cmd()
            .args([
                "get",
                &cid,
                "--source",
                "gateway",
                "--gateway",
                &gw.url,
                "-o",
            ])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (code, _, err) = t.run(&[
        "get",
        &cid,
        "--source",
        "gateway",
        "--gateway",
        &gw.url,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(&out).unwrap() == content);
    // Every raw block request names one block; a block is fetched twice at most when it was in
    // flight at a kill (bounded by the request window), and whole-DAG CARs are asked for only
    // while nothing was stored yet.
    let requests = gw.requests();
    let mut seen = std::collections::HashMap::new();
    for r in &requests {
        let path = r["path"].as_str().unwrap();
        if path.contains("format=raw") {
            *seen.entry(path.to_string()).or_insert(0) += 1;
        }
    }
    let repeated = seen.values().filter(|&&n| n > 1).count();
    assert!(
        repeated <= 2 * 32,
        "{repeated} blocks fetched more than once"
    );
    let cars = requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("format=car"))
        .count();
    assert!(cars <= 3, "{cars} CAR requests");
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
}

#[test]
fn blocks_a_gateway_hangs_on_are_asked_again_while_it_serves_the_rest() {
    // 4 MiB in 64 KiB leaves under one root; the cache holds the root only, so the 64 leaves
    // are asked for one by one.
    let work = tempfile::tempdir().unwrap();
    let content = splitmix64_bytes(5, 4 * 1024 * 1024);
    let (car, cid) = car_of(work.path(), &content);
    let mut reader = trove::car::CarReader::new(std::fs::File::open(&car).unwrap()).unwrap();
    let (root, data) = reader.next_section().unwrap().unwrap();
    let root_car = work.path().join("root.car");
    let mut writer =
        trove::car::CarWriter::new(std::fs::File::create(&root_car).unwrap(), &[root]).unwrap();
    writer.write_section(&root, &data).unwrap();
    writer.finish().unwrap();
    let t = Trove::new();
    t.run(&["car", "import", root_car.to_str().unwrap()]);
    // Every 20th answer stops half-way and never ends; the other requests are answered.
    let gw = Gateway::builder()
        .car(&car)
        .fault("stall")
        .fault_every(20)
        .stall_seconds(3600.0)
        .log()
        .start();
    let out = work.path().join("out");
    let (code, _, err) = t.run(&[
        "get",
        &cid,
        "-o",
        out.to_str().unwrap(),
        "--source",
        "gateway",
        "--gateway",
        &gw.url,
        "--idle-timeout",
        "2s",
        "--timeout",
        "60s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(&out).unwrap() == content);
    assert!(
        err.contains("retrying"),
        "the stuck requests are reported: {err}"
    );
    // The stalled requests were made again.
    let requests = gw.requests();
    let raw: Vec<&str> = requests
        .iter()
        .filter_map(|r| r["path"].as_str())
        .filter(|p| p.contains("format=raw"))
        .collect();
    let distinct: std::collections::HashSet<&str> = raw.iter().copied().collect();
    assert_eq!(distinct.len(), 64, "every leaf asked for");
    assert!(raw.len() > 64, "the stuck leaves asked for again");
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
}

#[test]
fn mirrors_serve_cars_and_raw_files() {
    let files = tempfile::tempdir().unwrap();
    std::fs::copy(vector_car(FILE_CAR), files.path().join("file.car")).unwrap();
    std::fs::write(files.path().join("file.bin"), expected_file()).unwrap();
    let gw = Gateway::builder().files_dir(files.path()).start();
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("file.car", vec![]),
        ("file.bin", vec!["--mirror-profile", "unixfs-v0-2015"]),
    ] {
        let t = Trove::new();
        let out = dir.path().join(name);
        let url = format!("{}/files/{name}", gw.url);
        let mut args = vec![
            "get", FILE_CID, "--source", "mirror", "--mirror", &url, "-o",
        ];
        args.push(out.to_str().unwrap());
        args.extend(extra);
        t.ok(&args);
        assert!(std::fs::read(&out).unwrap() == expected_file(), "{name}");
    }
    // A raw file verified with the wrong profile is refused.
    let t = Trove::new();
    let url = format!("{}/files/file.bin", gw.url);
    let (code, _, err) = t.run(&[
        "get",
        FILE_CID,
        "--source",
        "mirror",
        "--mirror",
        &url,
        "--mirror-profile",
        "unixfs-v1-2025",
    ]);
    assert_eq!(code, 4, "wrong bytes are an integrity failure: {err}");
    assert!(err.contains("does not match"), "{err}");
}

#[test]
fn json_progress_is_one_event_per_line() {
    let gw = Gateway::with_cars(&[FILE_CAR]);
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let out = t
        .cmd()
        .args([
            "get",
            FILE_CID,
            "--json",
            "--source",
            "gateway",
            "--gateway",
            &gw.url,
            "-o",
        ])
        .arg(dir.path().join("f"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert!(lines.iter().any(|e| e["event"] == "block"));
    let done = lines.last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(done["cid"], FILE_CID);
}

#[test]
fn a_car_can_be_written_instead_of_files() {
    let gw = Gateway::with_cars(&[DIR_CAR]);
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("planets.car");
    t.ok(&[
        "get",
        DIR_CID,
        "--source",
        "gateway",
        "--gateway",
        &gw.url,
        "--car",
        car.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&car).unwrap() == std::fs::read(vector_car(DIR_CAR)).unwrap());
}

#[test]
fn cat_of_a_range_on_a_cold_cache_fetches_only_the_blocks_it_needs() {
    // 8 MiB in 64 KiB raw leaves: 128 leaves under one root.
    let work = tempfile::tempdir().unwrap();
    let content = splitmix64_bytes(11, 8 * 1024 * 1024);
    let (car, cid) = car_of(work.path(), &content);
    let gw = Gateway::builder().car(&car).log().start();
    let t = Trove::new();
    let (offset, length) = (5 * 1024 * 1024 + 1000, 100_000usize);
    let out = t
        .cmd()
        .args(["cat", &cid, "--source", "gateway", "--gateway", &gw.url])
        .args([
            "--offset",
            &offset.to_string(),
            "--length",
            &length.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == content[offset..offset + length]);
    let requests = gw.requests();
    assert!(
        requests.iter().any(|r| {
            let path = r["path"].as_str().unwrap();
            path.contains("dag-scope=entity") && path.contains(&format!("entity-bytes={offset}:"))
        }),
        "no entity-bytes request: {requests:?}"
    );
    // The root and the three leaves the range covers, not the 128 of the whole file.
    let stored = t.ok(&["cache", "ls", "--blocks"]).lines().count();
    assert!(stored <= 6, "{stored} blocks stored for a 100 kB range");
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
    // A range at the very end, then the whole file, on the same cache.
    let tail = t
        .cmd()
        .args(["cat", &cid, "--source", "gateway", "--gateway", &gw.url])
        .args(["--offset", &(content.len() - 10).to_string()])
        .output()
        .unwrap();
    assert!(tail.status.success());
    assert!(tail.stdout == content[content.len() - 10..]);
    let all = t
        .cmd()
        .args(["cat", &cid, "--source", "gateway", "--gateway", &gw.url])
        .output()
        .unwrap();
    assert!(all.stdout == content);
}
