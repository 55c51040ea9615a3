//! `trove publish` and `trove registry add`: CIDs equal Kubo's and the JS importer's, registry
//! edits that touch only the new lines, refusals, dry runs, CARs, the local daemon (js-ipfs),
//! and a remote pinning service that gets the token while no output shows it.

use crate::support::jsipfs::JsIpfs;
use crate::support::{
    kubo_hash, output, peer_tool, random_tree, splitmix64_bytes, test_seed, vectors_dir, Rng,
    TreeOptions, Trove,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn our_registry() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("registry/registry.json")
}

/// A small random folder (files up to 600 KB, so some span several chunks).
fn folder(dir: &Path, what: &str) -> PathBuf {
    let mut rng = Rng(test_seed(what));
    let root = dir.join(what);
    random_tree(
        &root,
        &mut rng,
        TreeOptions {
            symlinks: false,
            empty_dirs: false,
            max_file: 600_000,
        },
        0,
    );
    std::fs::write(
        root.join("model.json"),
        format!("{{\"what\": \"{what}\"}}\n"),
    )
    .unwrap();
    root
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every line of `old` appears in `new`, in order.
fn keeps_old_lines(old: &str, new: &str) -> bool {
    let mut new_lines = new.lines();
    old.lines().all(|l| new_lines.any(|n| n == l))
}

fn tsv_cid(name: &str, implementation: &str, params_prefix: &str) -> String {
    let tsv = std::fs::read_to_string(vectors_dir().join("golden_cids.tsv")).unwrap();
    tsv.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f[0] == name && f[3] == implementation && f[4].starts_with(params_prefix))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| panic!("no {name} {implementation} row"))
}

#[test]
fn publish_prints_the_cid_kubo_and_the_js_importer_compute() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let content = folder(dir.path(), "cids");
    let v1 = t.ok(&[
        "publish",
        s(&content),
        "--id",
        "cids",
        "--no-daemon",
        "--profile",
        "unixfs-v1-2025",
    ]);
    let own = t.ok(&[
        "add",
        "-Q",
        "-n",
        "--profile",
        "unixfs-v1-2025",
        s(&content),
    ]);
    assert_eq!(v1, own, "stdout is the CID only");
    let v0 = t.ok(&[
        "publish",
        s(&content),
        "--id",
        "cids",
        "--no-daemon",
        "--profile",
        "unixfs-v0-2015",
    ]);
    assert!(v0.starts_with("Qm"), "{v0}");
    if let Some(python) = peer_tool("TROVE_TEST_KUBO_PYTHON") {
        assert_eq!(v0, kubo_hash(&python, &content), "Kubo's CID");
    }
    // A single file: ipfs-car 3.1.0 --no-wrap (the JS importer with the unixfs-v1-2025 params).
    let file = dir.path().join("rand-1048576");
    std::fs::write(&file, splitmix64_bytes(1_048_576, 1_048_576)).unwrap();
    let expected = tsv_cid(
        "rand-1048576",
        "ipfs-car-3.1.0",
        "cmd=ipfs-car pack FILE --no-wrap",
    );
    let printed = t.ok(&["publish", s(&file), "--id", "rand", "--no-daemon"]);
    assert_eq!(printed, expected);
    let json: Value = serde_json::from_str(&t.ok(&[
        "publish",
        s(&file),
        "--id",
        "rand",
        "--no-daemon",
        "--dry-run",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["entry"]["cid"], expected.as_str());
    assert_eq!(json["entry"]["size"], 1_048_576);
    assert_eq!(json["entry"]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn registry_file_edits_touch_only_new_lines_and_refuse_conflicts() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("registry.json");
    std::fs::copy(our_registry(), &reg).unwrap();
    let original = std::fs::read_to_string(&reg).unwrap();
    let content = folder(dir.path(), "first");
    let publish = |path: &Path, id: &str, extra: &[&str]| {
        let mut args = vec![
            "publish",
            s(path),
            "--id",
            id,
            "--no-daemon",
            "--registry-file",
            s(&reg),
            "--description",
            "A test artifact",
            "--license",
            "CC0-1.0",
            "--domain",
            "testing",
            "--tag",
            "a",
            "--tag",
            "b",
        ];
        args.extend_from_slice(extra);
        t.run(&args)
    };

    // Dry run: the diff is shown, nothing changes.
    let (code, out, err) = publish(&content, "first_test", &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let cid = out.trim().to_string();
    assert!(err.contains("+    \"first_test\": {"), "{err}");
    assert_eq!(std::fs::read_to_string(&reg).unwrap(), original);

    // The real thing: only new lines.
    let (code, out, err) = publish(&content, "first_test", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), cid);
    let after = std::fs::read_to_string(&reg).unwrap();
    assert!(keeps_old_lines(&original, &after), "old lines changed");
    let doc: Value = serde_json::from_str(&after).unwrap();
    let entry = &doc["traces"]["first_test"];
    assert_eq!(entry["cid"], cid.as_str());
    assert_eq!(entry["profile"], "unixfs-v1-2025");
    assert_eq!(entry["metadata"]["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(entry["aliases"]["latest"], "1");
    let model_size = std::fs::metadata(content.join("model.json")).unwrap().len();
    assert_eq!(entry["files"]["model.json"]["size_bytes"], model_size);
    let (code, _, err) = t.run(&["registry", "check", s(&reg)]);
    assert_eq!(code, 0, "{err}");

    // Refusals: the ID exists; the CID is registered under another ID.
    let second = folder(dir.path(), "second");
    let (code, _, err) = publish(&second, "first_test", &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("exists already") && err.contains("--version"),
        "{err}"
    );
    let (code, _, err) = publish(&content, "other_id", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("already registered as `first_test`"), "{err}");
    assert_eq!(std::fs::read_to_string(&reg).unwrap(), after, "unchanged");

    // A new version that takes `latest` (and `recommended`).
    let (code, out, err) = publish(
        &second,
        "first_test",
        &[
            "--version",
            "2",
            "--alias",
            "latest",
            "--alias",
            "recommended",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let cid2 = out.trim().to_string();
    let v2 = std::fs::read_to_string(&reg).unwrap();
    assert!(keeps_old_lines(&original, &v2));
    let doc: Value = serde_json::from_str(&v2).unwrap();
    let entry = &doc["traces"]["first_test"];
    assert_eq!(entry["cid"], cid2.as_str());
    assert_eq!(entry["aliases"]["latest"], "2");
    assert_eq!(entry["aliases"]["recommended"], "2");
    assert_eq!(entry["versions"][0]["cid"], cid.as_str());
    assert!(
        entry["versions"][0]["files"].is_object(),
        "v1 keeps its files"
    );
    let (code, _, err) = t.run(&["registry", "check", s(&reg)]);
    assert_eq!(code, 0, "{err}");
    let info = t.ok(&["info", "first_test@1", "--registry", s(&reg)]);
    assert!(info.contains(&cid), "{info}");
    // The same version again is refused.
    let third = folder(dir.path(), "third");
    let (code, _, err) = publish(&third, "first_test", &["--version", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("version `2` of `first_test` exists"), "{err}");
}

#[test]
fn registry_add_merges_a_dry_run_entry() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let content = folder(dir.path(), "added");
    let json = t.ok(&[
        "publish",
        s(&content),
        "--id",
        "added_entry",
        "--no-daemon",
        "--dry-run",
        "--json",
        "--description",
        "Added by registry add",
        "--license",
        "MIT",
    ]);
    let entry_file = dir.path().join("entry.json");
    std::fs::write(&entry_file, &json).unwrap();
    let reg = dir.path().join("registry.json");
    std::fs::copy(our_registry(), &reg).unwrap();
    let original = std::fs::read_to_string(&reg).unwrap();
    let (code, _, err) = t.run(&["registry", "add", s(&entry_file), "--file", s(&reg)]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(&reg).unwrap();
    assert!(keeps_old_lines(&original, &after));
    let doc: Value = serde_json::from_str(&after).unwrap();
    let parsed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["traces"]["added_entry"], parsed["entry"]);
    // Again: refused, unless --force.
    let (code, _, err) = t.run(&["registry", "add", s(&entry_file), "--file", s(&reg)]);
    assert_eq!(code, 2);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = t.run(&[
        "registry",
        "add",
        s(&entry_file),
        "--file",
        s(&reg),
        "--force",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&reg).unwrap(), after);
    // --json: one document on stdout, the check's findings in it, nothing else printed.
    let (code, out, err) = t.run(&[
        "registry",
        "add",
        s(&entry_file),
        "--file",
        s(&reg),
        "--force",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let result: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(result["added"], "added_entry");
    assert_eq!(result["ok"], true);
    assert!(result["findings"].is_array(), "{result}");
}

#[test]
fn car_output_imports_with_its_root() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let content = folder(dir.path(), "car");
    let car = dir.path().join("out.car");
    let cid = t.ok(&[
        "publish",
        s(&content),
        "--id",
        "car_test",
        "--no-daemon",
        "--car",
        s(&car),
    ]);
    let fresh = Trove::new();
    let roots = fresh.ok(&["car", "import", s(&car)]);
    assert!(roots.contains(&cid), "{roots}");
    let out = dir.path().join("back");
    fresh.ok(&["get", &cid, "-o", s(&out), "--offline"]);
    crate::support::assert_same_tree(&content, &out);
}

#[test]
fn publish_adds_and_pins_on_the_local_daemon() {
    let Some(daemon) = JsIpfs::shared() else {
        return;
    };
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let content = folder(dir.path(), "daemon");
    let (code, out, err) = t.run(&[
        "publish",
        s(&content),
        "--id",
        "daemon_test",
        "--daemon",
        "--kubo-api",
        &daemon.api,
    ]);
    assert_eq!(code, 0, "{err}");
    let cid = out.trim();
    assert!(err.contains("pinned on the IPFS daemon"), "{err}");
    let (status, body) = daemon.post(&format!("block/stat?arg={cid}"), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, body) = daemon.post(&format!("pin/ls?arg={cid}"), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // With --daemon, an address where nobody answers is an error.
    let port = crate::support::jsipfs::free_port();
    let (code, _, err) = t.run(&[
        "publish",
        s(&content),
        "--id",
        "daemon_test",
        "--daemon",
        "--kubo-api",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no IPFS daemon answered"), "{err}");
}

/// One request as the fake pinning service saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    authorization: String,
    body: String,
}

/// A fake IPFS Pinning Service: `POST /pins` answers `queued`, `GET /pins/r1` answers `pinned`;
/// with `refuse`, every request gets 401 with the token echoed back.
fn pin_service(refuse: bool) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/psa", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => len = value.trim().parse().unwrap(),
                    "authorization" => auth = value.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(Seen {
                line: line.trim().to_string(),
                authorization: auth.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let (status, answer) = if refuse {
                (
                    "401 Unauthorized",
                    format!(
                        r#"{{"error":{{"reason":"UNAUTHORIZED","details":"bad token {}"}}}}"#,
                        auth.trim_start_matches("Bearer ")
                    ),
                )
            } else if line.starts_with("POST /psa/pins ") {
                (
                    "202 Accepted",
                    r#"{"requestid":"r1","status":"queued","created":"2025-01-01T00:00:00Z","pin":{"cid":"x"},"delegates":[]}"#.to_string(),
                )
            } else {
                (
                    "200 OK",
                    r#"{"requestid":"r1","status":"pinned","created":"2025-01-01T00:00:00Z","pin":{"cid":"x"},"delegates":[]}"#.to_string(),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn a_pinning_service_gets_the_token_and_no_output_shows_it() {
    const TOKEN: &str = "psa-secret-token-0123456789";
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let content = folder(dir.path(), "pinned");
    let (url, seen) = pin_service(false);
    let publish_with_token = |extra: &[&str]| {
        output(
            t.cmd()
                .env("TROVE_PIN_TOKEN", TOKEN)
                .args(["publish", s(&content), "--id", "pin_test", "--no-daemon"])
                .args(extra),
        )
    };
    let (code, stdout, stderr) = publish_with_token(&["--pin", &url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    let cid = stdout.trim();
    let seen = seen.lock().unwrap().clone();
    assert!(seen[0].line.starts_with("POST /psa/pins "), "{seen:?}");
    assert_eq!(seen[0].authorization, format!("Bearer {TOKEN}"));
    let body: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["cid"], cid);
    assert_eq!(body["name"], "pin_test");
    assert!(seen.iter().any(|s| s.line.starts_with("GET /psa/pins/r1 ")));
    assert!(stderr.contains("pinned on"), "{stderr}");

    // A refused token: an error that names the problem, the token nowhere, the registry file
    // untouched.
    let (url, _) = pin_service(true);
    let reg = dir.path().join("registry.json");
    std::fs::copy(our_registry(), &reg).unwrap();
    let before = std::fs::read(&reg).unwrap();
    let (code, stdout, stderr) =
        publish_with_token(&["--pin", &url, "--registry-file", s(&reg), "--json"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("token was refused"), "{stderr}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&reg).unwrap(), before);

    // No token at all: refused before anything happens.
    let (code, out, err) = t.run(&[
        "publish",
        s(&content),
        "--id",
        "pin_test",
        "--no-daemon",
        "--pin",
        &url,
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty() && err.contains("TROVE_PIN_TOKEN"), "{err}");
}
