//! `trove registry check --reachable`: every entry's root asked of every source, against real
//! servers: `trove serve --http` as a trustless gateway (holding one entry), the reference
//! gateway's file server as an HTTP mirror (holding another), a missing mirror, and an entry
//! no source holds.

use crate::support::gateway::Gateway;
use crate::support::serve::HttpServe;
use crate::support::{splitmix64_bytes, Trove};
use std::path::Path;

fn entry(cid: &str, mirrors: &[String]) -> serde_json::Value {
    serde_json::json!({
        "cid": cid,
        "description": "test entry",
        "profile": "unixfs-v0-2015",
        "metadata": {"domain": "tests", "model_type": "none", "tags": []},
        "mirrors": mirrors,
    })
}

/// A registry with `entries` (ID → entry) written into `dir`.
fn registry(dir: &Path, entries: &[(&str, serde_json::Value)]) -> String {
    let traces: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(id, e)| (id.to_string(), e.clone()))
        .collect();
    let doc = serde_json::json!({"version": "1.1.0", "traces": traces});
    let path = dir.join("registry.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn reachable_says_which_sources_have_each_root_and_flags_the_lost_one() {
    let dir = tempfile::tempdir().unwrap();
    // `served`: in the cache behind `trove serve --http`.
    let serving = Trove::new();
    let served_file = dir.path().join("served.bin");
    std::fs::write(&served_file, splitmix64_bytes(1, 300_000)).unwrap();
    let served = serving.ok(&["add", "-Q", served_file.to_str().unwrap()]);
    let server = HttpServe::start(&serving, &["--no-page"]);
    // `mirrored`: only as a raw file on an HTTP mirror.
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let mirrored_bytes = splitmix64_bytes(2, 200_000);
    std::fs::write(files.join("mirrored.bin"), &mirrored_bytes).unwrap();
    let mirrored = Trove::new().ok(&[
        "add",
        "-Q",
        "--only-hash",
        files.join("mirrored.bin").to_str().unwrap(),
    ]);
    let mirror_server = Gateway::builder().files_dir(&files).start();
    // `lost`: its mirror is gone and nobody holds it.
    let lost_file = dir.path().join("lost.bin");
    std::fs::write(&lost_file, splitmix64_bytes(3, 1000)).unwrap();
    let lost = Trove::new().ok(&["add", "-Q", "--only-hash", lost_file.to_str().unwrap()]);
    let reg = registry(
        dir.path(),
        &[
            ("served_entry", entry(&served, &[])),
            (
                "mirrored_entry",
                entry(
                    &mirrored,
                    &[format!("{}/files/mirrored.bin", mirror_server.url)],
                ),
            ),
            (
                "lost_entry",
                entry(&lost, &[format!("{}/files/lost.bin", mirror_server.url)]),
            ),
        ],
    );
    let checker = Trove::new();
    let args = |json: bool| {
        let mut a = vec![
            "registry".to_string(),
            "check".into(),
            reg.clone(),
            "--reachable".into(),
            "--source".into(),
            "gateway,mirror".into(),
            "--gateway".into(),
            server.url.clone(),
            "--probe-timeout".into(),
            "10s".into(),
        ];
        if json {
            a.push("--json".into());
        }
        a
    };
    let json_args = args(true);
    let (code, stdout, stderr) =
        checker.run(&json_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        code, 1,
        "an unreachable entry fails the check\n{stdout}\n{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let entries = doc["reachability"]["entries"].as_array().unwrap();
    let find = |id: &str| entries.iter().find(|e| e["id"] == id).unwrap().clone();
    let outcome = |e: &serde_json::Value, tier: &str| -> Vec<String> {
        e["sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["tier"] == tier)
            .map(|s| s["outcome"].as_str().unwrap().to_string())
            .collect()
    };
    let served_e = find("served_entry");
    assert_eq!(served_e["reachable"], true);
    assert_eq!(outcome(&served_e, "gateway"), vec!["verified"]);
    let mirrored_e = find("mirrored_entry");
    assert_eq!(mirrored_e["reachable"], true);
    assert_eq!(outcome(&mirrored_e, "gateway"), vec!["not-found"]);
    assert_eq!(outcome(&mirrored_e, "mirror"), vec!["present"]);
    let lost_e = find("lost_entry");
    assert_eq!(lost_e["reachable"], false);
    assert_eq!(outcome(&lost_e, "gateway"), vec!["not-found"]);
    assert_eq!(outcome(&lost_e, "mirror"), vec!["not-found"]);

    // The same as text: one line per entry, the lost one flagged.
    let text_args = args(false);
    let (code, stdout, stderr) =
        checker.run(&text_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1);
    assert!(
        stdout.contains(&format!("UNREACHABLE: lost_entry@1 {lost}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("reachable: served_entry@1 {served} from gateway")),
        "{stdout}"
    );
    assert!(stderr.contains("2 of 3 roots reachable"), "{stderr}");

    // Once the lost content is served, everything is reachable: exit 0.
    serving.ok(&["add", "-Q", lost_file.to_str().unwrap()]);
    let (code, stdout, stderr) =
        checker.run(&json_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn reachable_times_out_a_source_that_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"some bytes").unwrap();
    let cid = Trove::new().ok(&["add", "-Q", "--only-hash", file.to_str().unwrap()]);
    let car = dir.path().join("f.car");
    Trove::new().ok(&[
        "car",
        "export",
        file.to_str().unwrap(),
        "-o",
        car.to_str().unwrap(),
    ]);
    // It holds the block, and sends half of it before going silent.
    let stalling = Gateway::builder()
        .car(&car)
        .fault("stall")
        .stall_seconds(30.0)
        .start();
    let reg = registry(dir.path(), &[("slow", entry(&cid, &[]))]);
    let started = std::time::Instant::now();
    let (code, stdout, _) = Trove::new().run(&[
        "registry",
        "check",
        &reg,
        "--reachable",
        "--source",
        "gateway",
        "--gateway",
        &stalling.url,
        "--probe-timeout",
        "2s",
        "--json",
    ]);
    assert_eq!(code, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the probe was not cut"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let source = &doc["reachability"]["entries"][0]["sources"][0];
    assert!(
        source["outcome"] == "timed-out" || source["outcome"] == "failed",
        "{source}"
    );
}

/// The p2p tier as a source: a Kubo v0.22 peer holds one entry's root and is asked over
/// bitswap; the other entry is held by nobody.
#[test]
fn reachable_asks_the_p2p_tier() {
    let Some(python) = crate::support::kubo::kubo_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let held = dir.path().join("held.bin");
    std::fs::write(&held, splitmix64_bytes(11, 400_000)).unwrap();
    let kubo = crate::support::kubo::KuboPeer::kubo(&python, &[&held], "none", &[]);
    let held_cid = kubo.cid_of(&held);
    let nobody = dir.path().join("nobody.bin");
    std::fs::write(&nobody, splitmix64_bytes(12, 5000)).unwrap();
    let nobody_cid = Trove::new().ok(&["add", "-Q", "--only-hash", nobody.to_str().unwrap()]);
    let reg = registry(
        dir.path(),
        &[
            ("held", entry(&held_cid, &[])),
            ("nobody", entry(&nobody_cid, &[])),
        ],
    );
    let (code, stdout, stderr) = Trove::new().run(&[
        "registry",
        "check",
        &reg,
        "--reachable",
        "--source",
        "p2p",
        "--peer",
        &kubo.multiaddrs[0],
        "--probe-timeout",
        "10s",
        "--json",
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let entries = doc["reachability"]["entries"].as_array().unwrap();
    let find = |id: &str| entries.iter().find(|e| e["id"] == id).unwrap();
    assert_eq!(find("held")["reachable"], true, "{doc}");
    assert_eq!(find("held")["sources"][0]["tier"], "p2p");
    assert_eq!(find("held")["sources"][0]["outcome"], "verified");
    assert_eq!(find("nobody")["reachable"], false, "{doc}");
}
