//! The CLI's conventions, end to end against a real gateway process: data alone on standard
//! output, `--json` lines that match the published schema, exit codes that name the kind of
//! failure, plain progress lines off a terminal, completions, man pages, `--help`.

use crate::support::gateway::Gateway;
use crate::support::{splitmix64_bytes, Trove};
use std::path::Path;

/// A 1 MiB file (5 blocks, CIDv0).
const FILE_CAR: &str = "rand-1048576.v0-pb-256k-174.car";
const FILE_CID: &str = "QmVL67sWBFHxX6vJps4LzamyYGBBkNEzTuZrdYqwgQBPMv";

fn expected_file() -> Vec<u8> {
    splitmix64_bytes(1_048_576, 1_048_576)
}

pub(crate) fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/json-events.schema.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// Every line of `text` parsed and checked against the schema; returns the events' names.
pub(crate) fn events(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if let Err(e) = validator.validate(&value) {
                panic!("line does not match the schema ({e}): {line}");
            }
            value["event"].as_str().unwrap().to_string()
        })
        .collect()
}

/// `ARGS` fetching from `gw` only.
fn from_gateway<'a>(gw: &'a Gateway, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend([
        "--source",
        "gateway",
        "--gateway",
        &gw.url,
        "--timeout",
        "60s",
    ]);
    all
}

#[test]
fn json_events_never_mix_with_data_and_match_the_schema() {
    let validator = schema();
    let gw = Gateway::with_cars(&[FILE_CAR]);

    // cat and get -o -: the bytes alone on stdout, the events on stderr (a cold cache each).
    for args in [
        &["cat", FILE_CID, "--json"][..],
        &["get", FILE_CID, "-o", "-", "--json"],
    ] {
        let out = Trove::new()
            .cmd()
            .args(from_gateway(&gw, args))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(out.stdout == expected_file(), "{args:?} changed the bytes");
        let names = events(&validator, &stderr);
        assert!(names.iter().any(|n| n == "block"), "{args:?}: {names:?}");
    }

    // get --car -: a CAR that imports, the events on stderr.
    let t = Trove::new();
    let out = t
        .cmd()
        .args(from_gateway(
            &gw,
            &["get", FILE_CID, "--car", "-", "--json"],
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    events(&validator, &stderr);
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("x.car");
    std::fs::write(&car, &out.stdout).unwrap();
    assert_eq!(
        Trove::new().ok(&["car", "import", car.to_str().unwrap()]),
        FILE_CID
    );

    // get -o FILE: the events on stdout (nothing else is there), ending with `done`.
    let t = Trove::new();
    let file = dir.path().join("file");
    let out = t
        .cmd()
        .args(from_gateway(
            &gw,
            &["get", FILE_CID, "-o", file.to_str().unwrap(), "--json"],
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = events(&validator, &stdout);
    assert_eq!(names.last().map(String::as_str), Some("done"), "{names:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&file).unwrap() == expected_file());

    // A failure under --json: one `error` line on stderr, nothing on stdout.
    let (code, stdout, stderr) = t.run(&[
        "get",
        "no_such_artifact",
        "--registry",
        concat!(env!("CARGO_MANIFEST_DIR"), "/registry/registry.json"),
        "--offline",
        "--json",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(events(&validator, &stderr), ["error"]);
    let error: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(error["kind"], "not-found");
    assert_eq!(error["exit_code"], 3);
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("no_such_artifact"));
}

#[test]
fn json_results_of_the_other_commands_parse() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hello.txt");
    std::fs::write(&f, b"hello world\n").unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = t.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let added = json(&["add", "--json", f.to_str().unwrap()]);
    assert_eq!(
        added["cid"],
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    );
    let car = dir.path().join("hello.car");
    let exported = json(&[
        "car",
        "export",
        f.to_str().unwrap(),
        "-o",
        car.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(exported["blocks"], 1);
    let imported = json(&["car", "--json", "import", car.to_str().unwrap()]);
    assert_eq!(imported["roots"][0]["missing"], 0);
    let listed = json(&["cache", "ls", "--json"]);
    assert_eq!(listed["roots"].as_array().unwrap().len(), 1);
    let verified = json(&["cache", "verify", "--json"]);
    assert_eq!(verified["intact"], true);
    let gc = json(&["cache", "gc", "--grace", "0s", "--json"]);
    assert_eq!(gc["removed_blocks"], 0);
    let pinned = json(&["cache", "pin", "--json", "bafkqaaa"]);
    assert_eq!(pinned["pinned"], "bafkqaaa");
    // An unknown root: not found, with the hint (and the message) in one JSON line.
    let (code, _, err) = t.run(&[
        "cache",
        "unpin",
        "--json",
        "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk",
    ]);
    assert_eq!(code, 3, "{err}");
    let error: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert!(
        error["hint"].as_str().unwrap().contains("cache ls"),
        "{err}"
    );
}

#[test]
fn exit_codes_name_the_kind_of_failure() {
    let t = Trove::new();
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/registry/registry.json");
    // 2: usage (clap's own, a malformed CID).
    assert_eq!(t.run(&["get", "--no-such-flag"]).0, 2);
    let (code, _, err) = t.run(&["cat", "--offline", "Qm-not-a-cid"]);
    assert_eq!(code, 2, "{err}");
    // 3: an unknown ID, an unknown version.
    let (code, _, err) = t.run(&[
        "get",
        "no_such_artifact",
        "--registry",
        registry,
        "--offline",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("hint:"), "{err}");
    // 5: offline and not cached.
    let (code, _, err) = t.run(&["cat", "--offline", FILE_CID]);
    assert_eq!(code, 5, "{err}");
    // 1: the only source cannot be reached.
    let (code, _, err) = t.run(&[
        "cat",
        FILE_CID,
        "--source",
        "gateway",
        "--gateway",
        "http://127.0.0.1:9",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, 1, "{err}");
    // 3: the only source does not have it; 4: the only source sends wrong bytes (and none of
    // them is stored).
    for (fault, expected) in [("notfound", 3), ("corrupt", 4)] {
        let gw = Gateway::builder().car(FILE_CAR).fault(fault).start();
        let (code, out, err) = t.run(&from_gateway(&gw, &["cat", FILE_CID]));
        assert_eq!(code, expected, "{fault}: {err}");
        assert!(out.is_empty(), "{fault}: data on stdout after a failure");
        assert_eq!(t.ok(&["cache", "ls", "--blocks"]), "", "{fault}: stored");
    }
    // 4: an output changed after trove wrote it.
    let gw = Gateway::with_cars(&[FILE_CAR]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("file");
    t.ok(&from_gateway(
        &gw,
        &["get", FILE_CID, "-o", out.to_str().unwrap()],
    ));
    assert_eq!(t.run(&["verify", out.to_str().unwrap()]).0, 0);
    std::fs::write(&out, b"changed").unwrap();
    let (code, stdout, err) = t.run(&["verify", out.to_str().unwrap()]);
    assert_eq!(code, 4, "{stdout}{err}");
    // 4: a corrupt cache.
    let blocks = t.cache.path().join("blocks-v1");
    let victim = crate::support::walk_files(&blocks)
        .into_iter()
        .next()
        .expect("a stored block");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0xff;
    let mut perms = std::fs::metadata(&victim).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&victim, perms).unwrap();
    std::fs::write(&victim, &bytes).unwrap();
    let (code, stdout, err) = t.run(&["cache", "verify"]);
    assert_eq!(code, 4, "{stdout}{err}");
}

#[test]
fn off_a_terminal_progress_is_a_plain_line_every_interval() {
    // An interval of 0s: a line for every block (the default is 5 s).
    let gw = Gateway::with_cars(&[FILE_CAR]);
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("file");
    let (code, stdout, stderr) = crate::support::output(
        t.cmd()
            .env("TROVE_PROGRESS_INTERVAL", "0s")
            .args(from_gateway(
                &gw,
                &["get", FILE_CID, "-o", out.to_str().unwrap()],
            )),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(!lines.is_empty(), "no progress lines: {stderr}");
    assert!(lines.iter().all(|l| l.contains("MiB")), "{stderr}");
    // No terminal control characters (a bar) in a log.
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
}

#[test]
fn completions_man_pages_and_help_are_generated_from_the_real_commands() {
    let t = Trove::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = t.ok(&["completions", shell]);
        assert!(
            script.contains("trove") && script.contains("add-artifact"),
            "{shell}: {script}"
        );
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let bash = dir.path().join("trove.bash");
    std::fs::write(&bash, t.ok(&["completions", "bash"])).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&bash)
        .status()
        .unwrap();
    assert!(checked.success());
    assert_eq!(t.run(&["completions", "tcsh"]).0, 2);

    let page = t.ok(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH trove"),
        "{page}"
    );
    assert!(
        page.contains("TROVE_CACHE_DIR"),
        "env vars missing from the man page"
    );
    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    t.ok(&["man", "--dir", pages.to_str().unwrap()]);
    for name in [
        "trove.1",
        "trove-get.1",
        "trove-cache-verify.1",
        "trove-sync.1",
    ] {
        let text =
            std::fs::read_to_string(pages.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.contains(".TH"), "{name}");
    }
    let (code, _, err) = t.run(&["man", "--dir", "/no/such/folder"]);
    assert_eq!(code, 2, "{err}");

    let help = t.ok(&["--help"]);
    for needle in [
        "TROVE_CACHE_DIR",
        "TROVE_OFFLINE",
        "Exit codes:",
        "5  offline",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}: {help}");
    }
}

/// `serve --p2p --json`: one `listening` line per address as soon as the node listens, one
/// `stopped` line after SIGTERM, every line valid against the schema, nothing else on stdout.
#[test]
fn serve_json_lines_say_where_it_listens_and_when_it_stops() {
    use std::io::BufRead;
    let validator = schema();
    let t = Trove::new();
    let mut child = t
        .cmd()
        .args([
            "serve",
            "--p2p",
            "--json",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(events(&validator, &first), ["listening"], "{first}");
    let line: serde_json::Value = serde_json::from_str(&first).unwrap();
    let addr = line["addr"].as_str().unwrap();
    assert!(
        addr.starts_with("/ip4/127.0.0.1/tcp/")
            && addr.ends_with(line["peer_id"].as_str().unwrap()),
        "{addr}"
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let names = events(&validator, &rest);
    assert_eq!(names.last().map(String::as_str), Some("stopped"), "{rest}");
}
