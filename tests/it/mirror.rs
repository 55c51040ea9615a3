//! `trove mirror`: every entry of the repository's registry onto a real js-ipfs daemon
//! (`dag/import` + pin, then nothing on a second run), and onto a pinning service and an IPFS
//! Cluster (in-process fakes: neither can run here; see `support/pinning.rs`), following
//! queued pins, leaving existing ones alone, and reporting a failed one with exit 1.

use crate::support::jsipfs::JsIpfs;
use crate::support::pinning::{FakePinning, TOKEN};
use crate::support::{repo_dir, Trove};

fn registry() -> String {
    repo_dir()
        .join("registry/registry.json")
        .to_str()
        .unwrap()
        .to_string()
}

/// The roots of the repository registry's entries (every version).
fn registry_roots() -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(registry()).unwrap()).unwrap();
    let mut roots: Vec<String> = doc["traces"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|e| e["versions"].as_array().unwrap().iter())
        .map(|v| v["cid"].as_str().unwrap().to_string())
        .collect();
    roots.sort();
    roots
}

/// `trove mirror ARGS --json`: (exit code, `mirrored` events, summary, stderr).
fn mirror(
    trove: &Trove,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (i32, Vec<serde_json::Value>, serde_json::Value, String) {
    let mut cmd = trove.cmd();
    cmd.arg("mirror")
        .args(args)
        .args(["--registry", &registry(), "--json", "--offline"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let (code, stdout, stderr) = crate::support::output(&mut cmd);
    // Every line is an event of the CLI's JSON schema.
    crate::conventions::events(&crate::conventions::schema(), &stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
        .collect();
    let summary = events
        .iter()
        .find(|e| e["event"] == "mirror_summary")
        .cloned()
        .unwrap_or_else(|| panic!("no summary: {stdout}\n{stderr}"));
    let mirrored = events
        .into_iter()
        .filter(|e| e["event"] == "mirrored")
        .collect();
    (code, mirrored, summary, stderr)
}

fn outcomes(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn mirror_to_a_jsipfs_daemon_pins_every_entry_and_a_second_run_does_nothing() {
    let Some(daemon) = JsIpfs::start() else {
        return;
    };
    let roots = registry_roots();
    let trove = Trove::new();
    let target = format!("kubo={}", daemon.api);
    let (code, events, summary, stderr) = mirror(&trove, &["--to", &target], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events.len(), roots.len());
    assert!(
        outcomes(&events).iter().all(|o| o == "pinned"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["bytes"].as_u64().unwrap() > 0));
    assert_eq!(summary["pinned"], roots.len());
    // The daemon pins each root recursively and holds every block (`pin/verify`-free check:
    // `dag/export` of each root answers the whole DAG).
    let (status, body) = daemon.post("pin/ls?type=recursive", None);
    assert_eq!(status, 200);
    let keys: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let pinned: Vec<trove::content::Cid> = keys["Keys"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| trove::content::Cid::try_from(k.as_str()).unwrap())
        .collect();
    for root in &roots {
        let cid = trove::content::Cid::try_from(root.as_str()).unwrap();
        assert!(
            pinned.iter().any(|p| p.hash() == cid.hash()),
            "{root} not pinned: {keys}"
        );
        let (status, car) = daemon.post(&format!("dag/export?arg={root}"), None);
        assert_eq!(status, 200);
        let mut reader = trove::car::CarReader::new(&car[..]).unwrap();
        let mut n = 0;
        while reader.next_block().unwrap().is_some() {
            n += 1;
        }
        assert!(n > 1, "{root}: {n} blocks");
    }
    // Again: everything is there already; nothing is sent.
    let (code, events, summary, stderr) = mirror(&trove, &["--to", &target], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        outcomes(&events).iter().all(|o| o == "already"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["bytes"] == 0));
    assert_eq!(summary["already"], roots.len());
    assert_eq!(summary["pinned"], 0);
}

#[test]
fn mirror_to_a_pinning_service_and_a_cluster_follows_pins_and_is_idempotent() {
    let fake = FakePinning::start();
    let roots = registry_roots();
    let trove = Trove::new();
    let psa = format!("psa={}/psa", fake.url);
    let cluster = format!("cluster={}/cluster", fake.url);
    let args = [
        "--to",
        psa.as_str(),
        "--to",
        cluster.as_str(),
        "--wait",
        "20s",
    ];
    let env = [("TROVE_PIN_TOKEN", TOKEN)];
    let (code, events, summary, stderr) = mirror(&trove, &args, &env);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events.len(), 2 * roots.len());
    assert!(
        outcomes(&events).iter().all(|o| o == "pinned"),
        "{events:?}"
    );
    assert_eq!(summary["pinned"], 2 * roots.len());
    let requests = fake.requests();
    for root in &roots {
        assert_eq!(
            requests
                .iter()
                .filter(|r| **r == format!("POST /psa/pins {root}"))
                .count(),
            1
        );
        assert_eq!(
            requests
                .iter()
                .filter(|r| **r == format!("POST /cluster/pins/{root}"))
                .count(),
            1
        );
    }
    assert!(!stderr.contains(TOKEN), "the token is never shown");

    // A second run asks, finds everything pinned, and creates nothing.
    let before = fake.requests().len();
    let (code, events, summary, stderr) = mirror(&trove, &args, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        outcomes(&events).iter().all(|o| o == "already"),
        "{events:?}"
    );
    assert_eq!(summary["already"], 2 * roots.len());
    let new: Vec<String> = fake.requests()[before..].to_vec();
    assert!(new.iter().all(|r| !r.starts_with("POST")), "{new:?}");
}

#[test]
fn a_pin_that_fails_is_reported_and_the_others_go_on() {
    let fake = FakePinning::start();
    let roots = registry_roots();
    fake.state.lock().unwrap().fail.insert(roots[0].clone());
    let trove = Trove::new();
    let cluster = format!("cluster={}/cluster", fake.url);
    let (code, events, summary, _) = mirror(&trove, &["--to", &cluster, "--wait", "20s"], &[]);
    assert_eq!(code, 1);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["pinned"], roots.len() - 1);
    let failed = events.iter().find(|e| e["outcome"] == "failed").unwrap();
    assert_eq!(failed["cid"], roots[0]);
    assert!(
        failed["detail"].as_str().unwrap().contains("could not pin"),
        "{failed}"
    );
    // Text mode names it too.
    let (code, _, stderr) = trove.run(&[
        "mirror",
        "--to",
        &cluster,
        "--registry",
        &registry(),
        "--offline",
        "--wait",
        "20s",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("FAILED"), "{stderr}");
    // A service that refuses the token: nothing is half done, the error says why.
    let psa = format!("psa={}/psa", fake.url);
    let (code, _, stderr) = trove
        .cmd()
        .args([
            "mirror",
            "--to",
            &psa,
            "--registry",
            &registry(),
            "--offline",
        ])
        .env("TROVE_PIN_TOKEN", "wrong")
        .output()
        .map(|o| {
            (
                o.status.code().unwrap_or(-1),
                o.stdout,
                String::from_utf8_lossy(&o.stderr).to_string(),
            )
        })
        .unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("token was refused"), "{stderr}");
}

#[test]
fn bad_targets_are_usage_errors() {
    let trove = Trove::new();
    for target in ["ftp=x", "psa", "cluster="] {
        let (code, _, stderr) = trove.run(&["mirror", "--to", target, "--registry", &registry()]);
        assert_eq!(code, 2, "{target}: {stderr}");
        assert!(stderr.contains("--to kubo"), "{stderr}");
    }
}
