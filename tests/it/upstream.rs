//! Upstream bulk files (issue 16): `trove fetch URL` against trove's own test server (ETags,
//! `If-None-Match` → 304, `Cache-Control`), and `trove diff` of trees and tables.
//!
//! - within the TTL no request is made; after it, one conditional request and a 304; a changed
//!   upstream file is downloaded as a new CID and the record says so; offline, the last good
//!   copy is served with a warning once stale; a wrong `--sha256` stores nothing; gzip input is
//!   stored as published or decoded with `--decompress`;
//! - `diff` of two versions of a folder (files added, removed, changed; shared blocks), and of
//!   two tables: float noise under the tolerance matches, a real mismatch, a missing and a new
//!   key, exit 1; `--json` lines; gzip tables.

use crate::support::gateway::Gateway;
use crate::support::{splitmix64_bytes, Trove};
use std::io::Write;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// How many requests for `/files/NAME` the server saw, and their statuses.
fn file_requests(gw: &Gateway, name: &str) -> Vec<u64> {
    gw.requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("/files/{name}")))
        })
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes `bytes` and sets the mtime, so the server's ETag (size-mtime) changes.
fn put(dir: &Path, name: &str, bytes: &[u8], mtime: u64) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))
        .unwrap();
}

#[test]
fn fetch_uses_the_ttl_then_a_304_then_downloads_a_changed_file() {
    let files = tempfile::tempdir().unwrap();
    let v1 = splitmix64_bytes(161, 1_500_000);
    put(files.path(), "metrics.tsv", &v1, 1_700_000_000);
    let gw = Gateway::builder().files_dir(files.path()).log().start();
    let url = format!("{}/files/metrics.tsv", gw.url);
    let t = Trove::new();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("metrics.tsv");

    // First fetch: downloaded, stored, written.
    let first: serde_json::Value =
        serde_json::from_str(&t.ok(&["fetch", &url, "--ttl", "1h", "--json", "-o", s(&out)]))
            .unwrap();
    assert_eq!(first["freshness"], "downloaded");
    assert!(std::fs::read(&out).unwrap() == v1);
    let cid = first["cid"].as_str().unwrap().to_string();
    assert_eq!(
        t.ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&out)]),
        cid,
        "the CID of the bytes as published"
    );
    assert_eq!(file_requests(&gw, "metrics.tsv"), vec![200]);

    // Within the TTL: no request at all.
    assert_eq!(t.ok(&["fetch", &url, "--ttl", "1h", "-q"]), cid);
    assert_eq!(file_requests(&gw, "metrics.tsv").len(), 1);

    // TTL expired (0s): one conditional request, answered 304.
    let again: serde_json::Value =
        serde_json::from_str(&t.ok(&["fetch", &url, "--ttl", "0s", "--json"])).unwrap();
    assert_eq!(again["freshness"], "not_modified");
    assert_eq!(again["cid"], cid.as_str());
    assert_eq!(file_requests(&gw, "metrics.tsv"), vec![200, 304]);
    let conditional = gw
        .requests()
        .into_iter()
        .filter(|r| r["status"] == 304)
        .count();
    assert_eq!(conditional, 1);

    // The upstream file changes: a new CID, the old one named.
    let v2 = splitmix64_bytes(162, 1_400_000);
    put(files.path(), "metrics.tsv", &v2, 1_700_000_100);
    let changed: serde_json::Value =
        serde_json::from_str(&t.ok(&["fetch", &url, "--ttl", "0s", "--json"])).unwrap();
    assert_eq!(changed["freshness"], "downloaded");
    assert_eq!(changed["previous"], cid.as_str());
    let cid2 = changed["cid"].as_str().unwrap().to_string();
    assert_ne!(cid2, cid);
    assert_eq!(file_requests(&gw, "metrics.tsv"), vec![200, 304, 200]);

    // Offline: the last good copy, with a warning once stale; nothing is asked.
    let (code, stdout, stderr) = t.run(&["fetch", &url, "--ttl", "0s", "--offline"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), cid2);
    assert!(stderr.contains("past its time-to-live"), "{stderr}");
    assert_eq!(file_requests(&gw, "metrics.tsv").len(), 3);
    // Offline and never fetched: exit 5.
    let other = Trove::new();
    assert_eq!(other.run(&["fetch", &url, "--offline"]).0, 5);

    // A wrong published sha256: refused, nothing stored, no record.
    let bad = Trove::new();
    let (code, _, err) = bad.run(&["fetch", &url, "--sha256", &"0".repeat(64)]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("does not match its published sha256"), "{err}");
    assert_eq!(bad.run(&["fetch", &url, "--offline"]).0, 5);
    assert_eq!(bad.run(&["get", &cid2, "--offline"]).0, 5);
}

#[test]
fn cache_control_max_age_is_honoured_unless_a_ttl_overrides_it() {
    let files = tempfile::tempdir().unwrap();
    put(
        files.path(),
        "genes.json",
        br#"{"genes": ["A", "B"]}"#,
        1_700_000_000,
    );
    let gw = Gateway::builder()
        .files_dir(files.path())
        .files_cache_control("public, max-age=3600")
        .log()
        .start();
    let url = format!("{}/files/genes.json", gw.url);
    let t = Trove::new();
    t.ok(&["fetch", &url]);
    t.ok(&["fetch", &url]);
    assert_eq!(
        file_requests(&gw, "genes.json").len(),
        1,
        "max-age=3600 holds"
    );
    t.ok(&["fetch", &url, "--ttl", "0s"]);
    assert_eq!(file_requests(&gw, "genes.json"), vec![200, 304]);
    t.ok(&["fetch", &url, "--refresh"]);
    assert_eq!(file_requests(&gw, "genes.json").len(), 3);
}

#[test]
fn gzip_is_stored_as_published_or_decoded() {
    let files = tempfile::tempdir().unwrap();
    let table = b"gene\tscore\nA\t1.5\nB\t2.5\n".repeat(1000);
    let packed = gzip(&table);
    put(files.path(), "matrix.tsv.gz", &packed, 1_700_000_000);
    let gw = Gateway::builder().files_dir(files.path()).start();
    let url = format!("{}/files/matrix.tsv.gz", gw.url);
    let work = tempfile::tempdir().unwrap();
    let t = Trove::new();
    let as_published = work.path().join("published.gz");
    t.ok(&["fetch", &url, "-o", s(&as_published)]);
    assert!(std::fs::read(&as_published).unwrap() == packed);
    let decoded = work.path().join("decoded.tsv");
    t.ok(&["fetch", &url, "--decompress", "-o", s(&decoded)]);
    assert!(std::fs::read(&decoded).unwrap() == table);
    // Not gzip or zstd at all: a clear refusal.
    put(files.path(), "plain.gz", b"not compressed", 1_700_000_000);
    let (code, _, err) = t.run(&[
        "fetch",
        &format!("{}/files/plain.gz", gw.url),
        "--decompress",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("neither gzip nor zstd"), "{err}");
}

/// A TSV of `rows` genes with 3 score columns and a note.
fn table(rows: usize, tweak: impl Fn(usize, &mut Vec<String>)) -> String {
    let mut out = String::from("gene\tsource\ts1\ts2\ts3\tnote\n");
    for i in 0..rows {
        let mut cells = vec![
            format!("G{i:05}"),
            "gnomad".to_string(),
            format!("{:.6}", i as f64 / 7.0),
            format!("{:.6}", (i as f64).sqrt()),
            format!("{}", i * 3),
            "ok".to_string(),
        ];
        tweak(i, &mut cells);
        if !cells.is_empty() {
            out.push_str(&cells.join("\t"));
            out.push('\n');
        }
    }
    out
}

#[test]
fn table_diff_reports_noise_mismatches_missing_and_new_keys() {
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a.tsv");
    let b = work.path().join("b.tsv");
    std::fs::write(&a, table(2000, |_, _| {})).unwrap();
    std::fs::write(
        &b,
        table(2001, |i, cells| {
            match i {
                // Float noise far under the tolerance.
                10 => cells[2] = format!("{:.9}", 10.0 / 7.0 + 1e-9),
                // A real change.
                20 => cells[4] = "61".into(),
                // Metadata only: not a core column below.
                30 => cells[5] = "revised".into(),
                // Gone.
                40 => cells.clear(),
                // New.
                2000 => cells[0] = "NEW01".into(),
                _ => {}
            }
        }),
    )
    .unwrap();
    let t = Trove::new();
    let (code, out, err) = t.run(&[
        "diff",
        s(&a),
        s(&b),
        "--key",
        "gene,source",
        "--columns",
        "s1,s2,s3",
        "--tolerance",
        "abs=1e-6",
    ]);
    assert_eq!(code, 1, "a real mismatch fails the gate: {err}");
    assert!(out.contains("~ G00020,gnomad: s3 60 → 61"), "{out}");
    assert!(out.contains("- G00040,gnomad (missing in B)"), "{out}");
    assert!(out.contains("+ NEW01,gnomad (new in B)"), "{out}");
    assert!(!out.contains("G00010") && !out.contains("G00030"), "{out}");
    assert!(
        err.contains("rows 2000 → 2000: 1998 match (1 within the tolerance), 1 differ (1 values), 1 missing in B, 1 new in B"),
        "{err}"
    );
    // JSON: one line per difference and a summary.
    let (code, out, _) = t.run(&[
        "diff",
        s(&a),
        s(&b),
        "--key",
        "gene,source",
        "--columns",
        "s1,s2,s3",
        "--tolerance",
        "1e-6",
        "--json",
    ]);
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l["event"] == "difference").count(),
        3
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["same"], false);
    assert_eq!(summary["tables"][0]["summary"]["within_tolerance"], 1);
    // Without the tolerance the noise is a mismatch; without --columns the note counts.
    let (_, out, _) = t.run(&["diff", s(&a), s(&b), "--key", "gene,source"]);
    assert!(out.contains("G00010") && out.contains("G00030"), "{out}");
    // Only noise under the tolerance: the gate passes. Gzip on one side.
    let noisy = work.path().join("noisy.tsv.gz");
    std::fs::write(
        &noisy,
        gzip(
            table(2000, |i, cells| {
                if i % 100 == 0 {
                    cells[3] = format!("{:.9}", (i as f64).sqrt() + 2e-7);
                }
            })
            .as_bytes(),
        ),
    )
    .unwrap();
    let (code, _, err) = t.run(&[
        "diff",
        s(&a),
        s(&noisy),
        "--key",
        "gene",
        "--columns",
        "s1,s2,s3",
        "--tolerance",
        "1e-6",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("2000 match (20 within the tolerance)"),
        "{err}"
    );
    // Two CIDs have no file names: --format says what they are.
    let ca = t.ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&a)]);
    let cb = t.ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&b)]);
    let (code, _, err) = t.run(&["diff", &ca, &cb, "--key", "gene,source"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--format"), "{err}");
    let (code, out, _) = t.run(&[
        "diff",
        &ca,
        &cb,
        "--key",
        "gene,source",
        "--columns",
        "s3",
        "--format",
        "tsv",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("~ G00020,gnomad: s3 60 → 61"), "{out}");
    // A key column that is not there: a usage error naming the columns.
    let (code, _, err) = t.run(&["diff", s(&a), s(&b), "--key", "symbol"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no column `symbol`") && err.contains("gene, source"),
        "{err}"
    );
}

#[test]
fn tree_diff_names_files_and_what_an_update_fetches() {
    let work = tempfile::tempdir().unwrap();
    let v1 = work.path().join("v1");
    let v2 = work.path().join("v2");
    for dir in [&v1, &v2] {
        std::fs::create_dir_all(dir.join("tables")).unwrap();
        std::fs::write(dir.join("README.md"), b"# release\n").unwrap();
        std::fs::write(dir.join("big.bin"), splitmix64_bytes(3, 3_000_000)).unwrap();
    }
    std::fs::write(v1.join("tables/old.tsv"), b"k\tv\n1\t2\n").unwrap();
    std::fs::write(v2.join("tables/new.tsv"), b"k\tv\n1\t2\n").unwrap();
    std::fs::write(v1.join("tables/scores.tsv"), b"k\tv\n1\t0.5\n2\t0.25\n").unwrap();
    std::fs::write(v2.join("tables/scores.tsv"), b"k\tv\n1\t0.5\n2\t0.26\n").unwrap();
    let t = Trove::new();
    let a = t.ok(&["add", "-Q", s(&v1)]);
    let b = t.ok(&["add", "-Q", s(&v2)]);
    let (code, out, err) = t.run(&["diff", &a, &b]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("D tables/old.tsv"), "{out}");
    assert!(out.contains("A tables/new.tsv"), "{out}");
    assert!(out.contains("M tables/scores.tsv (17 → 17 bytes)"), "{out}");
    assert!(
        !out.contains("big.bin"),
        "unchanged files are not listed: {out}"
    );
    assert!(
        err.contains("1 added, 1 removed, 1 changed, 2 unchanged"),
        "{err}"
    );
    // The 3 MB file's blocks are shared; an update fetches only the small changes.
    let (_, out, _) = t.run(&["diff", &a, &b, "--json"]);
    let json: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let sharing = &json["tree"]["sharing"];
    assert!(
        sharing["shared_bytes"].as_u64().unwrap() >= 3_000_000,
        "{sharing}"
    );
    assert!(
        sharing["fetch_bytes"].as_u64().unwrap() < 2_000,
        "{sharing}"
    );
    // With a key, the changed table is compared row by row.
    let (code, out, _) = t.run(&["diff", &a, &b, "--key", "k"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("tables/scores.tsv: ~ 2: v 0.25 → 0.26"),
        "{out}"
    );
    // A folder against itself as a path and as a CID (a CIDv0: the path is hashed with the
    // matching profile): the same, exit 0.
    let (code, _, err) = t.run(&["diff", s(&v1), &a]);
    assert_eq!(code, 0, "{err}");
    let a1 = t.ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&v1)]);
    let (code, _, err) = t.run(&["diff", &a1, s(&v1)]);
    assert_eq!(code, 0, "{err}");
    // A registry entry made with a buzhash profile: the folder is hashed with that profile
    // (with the default one its 3 MB file would look changed).
    let checkout = work.path().join("checkout");
    std::fs::create_dir_all(&checkout).unwrap();
    let car = checkout.join("v1.car");
    t.ok(&[
        "car",
        "export",
        "--profile",
        "unixfs-v1-2025-buzhash",
        s(&v1),
        "-o",
        s(&car),
    ]);
    let cdc = t.ok(&[
        "add",
        "-Q",
        "-n",
        "--profile",
        "unixfs-v1-2025-buzhash",
        s(&v1),
    ]);
    let doc = serde_json::json!({"version": "1.1.0", "traces": {"rel": {
        "cid": cdc, "description": "buzhash release", "profile": "unixfs-v1-2025-buzhash",
        "mirrors": ["v1.car"], "metadata": {"tags": []}}}});
    let reg = checkout.join("registry.json");
    std::fs::write(&reg, serde_json::to_vec(&doc).unwrap()).unwrap();
    let fresh = Trove::new();
    let (code, out, err) = fresh.run(&["diff", "rel", s(&v1), "--registry", s(&reg)]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn a_manifest_url_output_is_locked_by_cid_and_etag_and_frozen_sync_reproduces_it() {
    let files = tempfile::tempdir().unwrap();
    let v1 = b"gene\tscore\nA\t1\n".repeat(5000);
    put(files.path(), "metrics.tsv", &v1, 1_700_000_000);
    let gw = Gateway::builder().files_dir(files.path()).log().start();
    let url = format!("{}/files/metrics.tsv", gw.url);
    let project = tempfile::tempdir().unwrap();
    let manifest = |ttl: &str| {
        std::fs::write(
            project.path().join("trove.toml"),
            format!("[artifacts]\n\"data/metrics.tsv\" = {{ url = \"{url}\", ttl = \"{ttl}\" }}\n"),
        )
        .unwrap();
    };
    manifest("1h");
    let t = Trove::new();
    let run = |args: &[&str]| {
        let mut cmd = t.cmd();
        cmd.current_dir(project.path()).args(args);
        crate::support::output(&mut cmd)
    };
    let (code, _, err) = run(&["sync"]);
    assert_eq!(code, 0, "{err}");
    let out = project.path().join("data/metrics.tsv");
    assert!(std::fs::read(&out).unwrap() == v1);
    let lock: toml::Table =
        toml::from_str(&std::fs::read_to_string(project.path().join("trove.lock")).unwrap())
            .unwrap();
    let locked = &lock["artifact"].as_array().unwrap()[0];
    assert_eq!(locked["target"].as_str(), Some(url.as_str()));
    let cid1 = locked["cid"].as_str().unwrap().to_string();
    assert!(
        locked["etag"].as_str().is_some_and(|e| e.starts_with('"')),
        "{locked}"
    );
    assert_eq!(file_requests(&gw, "metrics.tsv").len(), 1);

    // Upstream changes; within the TTL a lock asks nothing and changes nothing.
    put(
        files.path(),
        "metrics.tsv",
        b"gene\tscore\nA\t2\n",
        1_700_000_100,
    );
    let (code, _, err) = run(&["lock"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(file_requests(&gw, "metrics.tsv").len(), 1);
    // --frozen reproduces the locked version from the cache, whatever the URL serves now.
    std::fs::remove_file(&out).unwrap();
    let (code, _, err) = run(&["sync", "--frozen"]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(&out).unwrap() == v1);
    assert_eq!(file_requests(&gw, "metrics.tsv").len(), 1);
    // Past the TTL, sync re-locks to the new version.
    manifest("0s");
    let (code, _, err) = run(&["sync"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"gene\tscore\nA\t2\n");
    let lock = std::fs::read_to_string(project.path().join("trove.lock")).unwrap();
    assert!(!lock.contains(&cid1), "{lock}");
    // A manifest url that is not http(s) is refused, naming the output.
    std::fs::write(
        project.path().join("trove.toml"),
        "[artifacts]\n\"x\" = { url = \"ftp://example.org/x\" }\n",
    )
    .unwrap();
    let (code, _, err) = run(&["lock"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("artifact `x`") && err.contains("http(s)"),
        "{err}"
    );
}
