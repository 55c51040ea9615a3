//! `trove serve --http`: the trustless gateway and its clients.
//!
//! - The answers for the gateway-conformance and boxo fixture CARs (every path in them, every
//!   dag-scope, entity-bytes ranges, duplicates) are those of the repository's reference
//!   gateway (`scripts/peers/trustless_gateway.py`, a separate Python implementation of the
//!   spec), and paths send exactly the blocks crossed.
//! - Headers: media types, ETag and `If-None-Match` → 304, HEAD, Content-Disposition,
//!   immutable caching; 400/404/406 with a message.
//! - Clients: trove's own gateway tier (`get`, `cat` ranges) and Helia (`@helia/http`, the
//!   server as its only recursive gateway) fetch files and directories through it.
//! - `--fetch` fetches what the cache lacks through the tiers first.
//! - 50 concurrent clients fetching a 64 MiB CAR all get identical bytes with the server's
//!   peak RSS at most 150 MiB.

use crate::support::gateway::Gateway;
use crate::support::serve::{get, request, HttpServe};
use crate::support::{assert_same_tree, fixtures_dir, splitmix64_bytes, Trove};
use std::path::{Path, PathBuf};
use trove::car::CarReader;
use trove::content::{Block, Cid};
use trove::store::FsStore;
use trove::unixfs::{NodeKind, Reader};

/// Fixture CARs whose DAGs are complete: plain and HAMT directories (one and several shard
/// levels), multi-block files, duplicate files, dag-cbor with links, a symlink, names that need
/// percent-encoding.
const FIXTURES: &[&str] = &[
    "gateway-conformance/fixtures/trustless_gateway_car/dir-with-dag-cbor-with-links.car",
    "gateway-conformance/fixtures/trustless_gateway_car/dir-with-duplicate-files.car",
    "gateway-conformance/fixtures/trustless_gateway_car/single-layer-hamt-with-multi-block-files.car",
    "gateway-conformance/fixtures/trustless_gateway_car/subdir-with-mixed-block-files.car",
    "gateway-conformance/fixtures/trustless_gateway_car/subdir-with-two-single-block-files.car",
    "gateway-conformance/fixtures/path_gateway_unixfs/dir-with-percent-encoded-filename.car",
    "gateway-conformance/fixtures/path_gateway_unixfs/symlink.car",
    "boxo/gateway/testdata/directory-with-multilayer-hamt-and-multiblock-files.car",
];

const MISSING_BLOCK: &str =
    "gateway-conformance/fixtures/trustless_gateway_car/file-3k-and-3-blocks-missing-block.car";

fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

/// Imports `cars` into a fresh cache; returns it with each CAR's root.
fn cache_with(cars: &[PathBuf]) -> (Trove, Vec<Cid>) {
    let trove = Trove::new();
    let mut roots = Vec::new();
    for car in cars {
        let (code, _, err) = trove.run(&["car", "import", car.to_str().unwrap()]);
        // A CAR of a partial DAG is imported all the same (what it has is stored).
        assert!(
            code == 0 || err.contains("is incomplete"),
            "car import {}: {err}",
            car.display()
        );
        let reader = CarReader::new(std::fs::File::open(car).unwrap()).unwrap();
        roots.push(reader.roots()[0]);
    }
    (trove, roots)
}

/// The roots and section CIDs of a CAR answer, every section verified against its CID.
fn sections(car: &[u8]) -> (Vec<Cid>, Vec<Cid>) {
    let mut reader = CarReader::new(car).unwrap();
    let roots = reader.roots().to_vec();
    let mut cids = Vec::new();
    while let Some((cid, data)) = reader.next_section().unwrap() {
        Block::verified(cid, data).unwrap_or_else(|e| panic!("section {cid}: {e}"));
        cids.push(cid);
    }
    (roots, cids)
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|s| {
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Paths inside `root` (depth ≤ 3, at most 6 entries per directory) with each one's kind.
fn paths(reader: &Reader<&FsStore>, root: &Cid) -> Vec<(String, NodeKind, Cid)> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), *root, 0)];
    while let Some((prefix, cid, depth)) = stack.pop() {
        let Ok(NodeKind::Directory | NodeKind::ShardedDirectory) = reader.kind(&cid) else {
            continue;
        };
        for entry in reader.list(&cid).unwrap().into_iter().take(6) {
            let path = if prefix.is_empty() {
                entry.name.clone()
            } else {
                format!("{prefix}/{}", entry.name)
            };
            let kind = reader
                .kind(&entry.cid)
                .unwrap_or(NodeKind::Other { codec: "?".into() });
            out.push((path.clone(), kind, entry.cid));
            if depth < 3 {
                stack.push((path, entry.cid, depth + 1));
            }
        }
    }
    out
}

/// The requests compared for one root.
fn requests_for(reader: &Reader<&FsStore>, root: &Cid) -> Vec<(String, Option<&'static str>)> {
    const DUPS: &str = "application/vnd.ipld.car; version=1; order=dfs; dups=y";
    let mut out = vec![
        (format!("/ipfs/{root}?format=car"), None),
        (format!("/ipfs/{root}?format=car&dag-scope=entity"), None),
        (format!("/ipfs/{root}?format=car&dag-scope=block"), None),
        (format!("/ipfs/{root}"), Some(DUPS)),
        (format!("/ipfs/{root}/no-such-entry?format=car"), None),
    ];
    for (path, kind, _) in paths(reader, root) {
        let base = format!("/ipfs/{root}/{}", encode_path(&path));
        out.push((format!("{base}?format=car"), None));
        out.push((format!("{base}?format=car&dag-scope=entity"), None));
        out.push((format!("{base}?format=car&dag-scope=block"), None));
        out.push((base.clone(), Some(DUPS)));
        if let NodeKind::File { size } = kind {
            for range in ["0:0", "1:*", "-3:*", "0:300", "200:-100"] {
                out.push((format!("{base}?format=car&entity-bytes={range}"), None));
            }
            out.push((
                format!("{base}?format=car&entity-bytes={}:*", size + 5),
                None,
            ));
        }
    }
    out
}

#[test]
fn answers_for_the_fixtures_are_those_of_the_reference_gateway() {
    let cars: Vec<PathBuf> = FIXTURES.iter().map(|f| fixture(f)).collect();
    let (trove, roots) = cache_with(&cars);
    let server = HttpServe::start(&trove, &["--no-page"]);
    let reference = cars
        .iter()
        .fold(Gateway::builder(), |b, car| b.car(car))
        .start();
    let store = FsStore::open(trove.cache.path()).unwrap();
    let reader = Reader::new(&store);
    let mut compared = 0;
    let mut failures = Vec::new();
    for root in &roots {
        for (path, accept) in requests_for(&reader, root) {
            let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
            let ours = request("GET", &format!("{}{path}", server.url), &headers);
            let theirs = request("GET", &format!("{}{path}", reference.url), &headers);
            compared += 1;
            if ours.status != theirs.status {
                failures.push(format!(
                    "{path}: status {} (reference {}): {}",
                    ours.status,
                    theirs.status,
                    String::from_utf8_lossy(ours.body.as_deref().unwrap_or_default())
                ));
                continue;
            }
            if ours.status != 200 {
                assert!(
                    !ours.text().trim().is_empty(),
                    "{path}: an error without a message"
                );
                continue;
            }
            assert_eq!(
                ours.header("content-type"),
                theirs.header("content-type"),
                "{path}"
            );
            let (our_roots, our_sections) = sections(ours.bytes());
            let (their_roots, their_sections) = sections(theirs.bytes());
            assert_eq!(our_roots, their_roots, "{path}: CAR roots");
            if our_sections != their_sections {
                failures.push(format!(
                    "{path}: sections\n  ours      {our_sections:?}\n  reference {their_sections:?}"
                ));
            }
        }
    }
    crate::support::assert_no_failures(&failures);
    assert!(compared > 200, "only {compared} requests compared");
}

#[test]
fn paths_send_exactly_the_blocks_crossed_and_raw_paths_give_the_terminal_block() {
    let car = fixture(FIXTURES[4]); // subdir-with-two-single-block-files: root/subdir/{files}
    let (trove, roots) = cache_with(&[car]);
    let root = roots[0];
    let server = HttpServe::start(&trove, &["--no-page"]);
    let store = FsStore::open(trove.cache.path()).unwrap();
    let reader = Reader::new(&store);
    let all = paths(&reader, &root);
    let (dir_path, _, dir_cid) = all
        .iter()
        .find(|(_, k, _)| matches!(k, NodeKind::Directory))
        .expect("a subdirectory");
    let (file_path, _, file_cid) = all
        .iter()
        .find(|(p, k, _)| {
            matches!(k, NodeKind::File { .. }) && p.starts_with(&format!("{dir_path}/"))
        })
        .expect("a file in it");
    let answer = get(&format!(
        "{}/ipfs/{root}/{file_path}?format=car",
        server.url
    ));
    assert_eq!(answer.status, 200);
    let (car_roots, cids) = sections(answer.bytes());
    assert_eq!(car_roots, vec![root], "the CAR names the requested root");
    assert_eq!(cids, vec![root, *dir_cid, *file_cid]);
    assert_eq!(
        answer.header("x-ipfs-path").unwrap(),
        format!("/ipfs/{root}/{file_path}")
    );
    // A raw request with a path answers the block at its end.
    let raw = get(&format!(
        "{}/ipfs/{root}/{file_path}?format=raw",
        server.url
    ));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("x-ipfs-roots").unwrap(), file_cid.to_string());
    Block::verified(*file_cid, raw.bytes().to_vec()).unwrap();
}

#[test]
fn a_dag_the_server_holds_in_part_is_404_whole_and_served_where_complete() {
    let (trove, roots) = cache_with(&[fixture(MISSING_BLOCK)]);
    let root = roots[0];
    let server = HttpServe::start(&trove, &["--no-page"]);
    let whole = get(&format!("{}/ipfs/{root}?format=car", server.url));
    assert_eq!(whole.status, 404, "{}", whole.text());
    assert!(
        whole.text().contains("does not hold all of"),
        "{}",
        whole.text()
    );
    // The file has three 1 KiB leaves; the middle one is missing.
    let first = get(&format!(
        "{}/ipfs/{root}?format=car&entity-bytes=0:1023",
        server.url
    ));
    assert_eq!(first.status, 200);
    assert_eq!(
        sections(first.bytes()).1.len(),
        2,
        "root and the first leaf"
    );
    let last = get(&format!(
        "{}/ipfs/{root}?format=car&entity-bytes=2048:*",
        server.url
    ));
    assert_eq!(last.status, 200);
    assert_eq!(sections(last.bytes()).1.len(), 2, "root and the last leaf");
    let block = get(&format!(
        "{}/ipfs/{root}?format=car&dag-scope=block",
        server.url
    ));
    assert_eq!(sections(block.bytes()).1, vec![root]);
    // The middle range needs the missing leaf: the transfer is cut (before or after the
    // headers, as the race goes), never a short CAR that looks whole.
    let middle = crate::support::serve::try_request(
        "GET",
        &format!(
            "{}/ipfs/{root}?format=car&entity-bytes=1024:2047",
            server.url
        ),
        &[],
    );
    if let Ok(answer) = middle {
        assert_eq!(answer.status, 200);
        if let Ok(bytes) = &answer.body {
            panic!(
                "a CAR missing a block was sent as if whole ({} bytes, {} sections)",
                bytes.len(),
                sections(bytes).1.len()
            );
        }
    }
}

#[test]
fn headers_etags_head_and_errors() {
    let (trove, roots) = cache_with(&[fixture(FIXTURES[1])]);
    let root = roots[0];
    let server = HttpServe::start(&trove, &["--no-page"]);
    let url = |p: &str| format!("{}{p}", server.url);

    let car = get(&url(&format!("/ipfs/{root}?format=car")));
    assert_eq!(car.status, 200);
    assert_eq!(
        car.header("content-type").unwrap(),
        "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    );
    assert_eq!(
        car.header("content-disposition").unwrap(),
        format!("attachment; filename=\"{root}.car\"")
    );
    assert!(car.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(car.header("x-content-type-options").unwrap(), "nosniff");
    let etag = car.header("etag").unwrap();
    let again = request(
        "GET",
        &url(&format!("/ipfs/{root}?format=car")),
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    assert!(again.bytes().is_empty());
    let entity = get(&url(&format!("/ipfs/{root}?format=car&dag-scope=entity")));
    assert_ne!(
        entity.header("etag").unwrap(),
        etag,
        "another scope, another ETag"
    );
    let stale = request(
        "GET",
        &url(&format!("/ipfs/{root}?format=car&dag-scope=entity")),
        &[("If-None-Match", &etag)],
    );
    assert_eq!(stale.status, 200);

    let raw = request(
        "GET",
        &url(&format!("/ipfs/{root}")),
        &[("Accept", "application/vnd.ipld.raw")],
    );
    assert_eq!(raw.status, 200);
    assert_eq!(
        raw.header("content-type").unwrap(),
        "application/vnd.ipld.raw"
    );
    assert_eq!(raw.header("etag").unwrap(), format!("\"{root}.raw\""));
    assert_eq!(
        raw.header("content-length").unwrap(),
        raw.bytes().len().to_string()
    );
    Block::verified(root, raw.bytes().to_vec()).unwrap();
    let raw304 = request(
        "GET",
        &url(&format!("/ipfs/{root}?format=raw")),
        &[("If-None-Match", &format!("W/\"x\", \"{root}.raw\""))],
    );
    assert_eq!(raw304.status, 304);
    let named = get(&url(&format!("/ipfs/{root}?format=raw&filename=data.bin")));
    assert_eq!(
        named.header("content-disposition").unwrap(),
        "attachment; filename=\"data.bin\""
    );

    let head = request("HEAD", &url(&format!("/ipfs/{root}?format=car")), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("etag").unwrap(), etag);
    assert_eq!(head.header("content-type"), car.header("content-type"));
    assert!(head.bytes().is_empty());
    let head_raw = request("HEAD", &url(&format!("/ipfs/{root}?format=raw")), &[]);
    assert_eq!(
        head_raw.header("content-length").unwrap(),
        raw.bytes().len().to_string()
    );

    // The probe trove's gateway tier sends, an identity CID.
    let probe = get(&url("/ipfs/bafkqaaa?format=raw"));
    assert_eq!((probe.status, probe.bytes().len()), (200, 0));

    let absent = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    for (path, accept, status, says) in [
        (
            format!("/ipfs/{absent}?format=raw"),
            None,
            404,
            "does not hold",
        ),
        (
            format!("/ipfs/{absent}?format=car"),
            None,
            404,
            "does not hold",
        ),
        (
            "/ipfs/not-a-cid?format=raw".to_string(),
            None,
            400,
            "not a valid CID",
        ),
        ("/ipfs/?format=raw".to_string(), None, 400, "no CID"),
        (format!("/ipfs/{root}"), None, 406, "trustless gateway"),
        (
            format!("/ipfs/{root}"),
            Some("text/html"),
            406,
            "format=car",
        ),
        (
            format!("/ipfs/{root}?format=tar"),
            None,
            400,
            "format `tar`",
        ),
        (
            format!("/ipfs/{root}?format=car&dag-scope=most"),
            None,
            400,
            "dag-scope",
        ),
        (
            format!("/ipfs/{root}?format=car&entity-bytes=x"),
            None,
            400,
            "entity-bytes",
        ),
        (format!("/ipfs/{root}/nope?format=car"), None, 404, "nope"),
        (format!("/ipfs/{root}/nope?format=raw"), None, 404, "nope"),
        ("/elsewhere".to_string(), None, 404, "/ipfs/{cid}"),
    ] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
        let answer = request("GET", &url(&path), &headers);
        assert_eq!(answer.status, status, "{path}: {}", answer.text());
        assert!(answer.text().contains(says), "{path}: {}", answer.text());
    }
}

/// A folder with nested folders, an empty file, a small text and a multi-block file.
fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("tree");
    let write = |name: &str, data: &[u8]| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    write("README.txt", b"served over HTTP\n");
    write("empty", b"");
    write("data/big.bin", &splitmix64_bytes(17, 3_000_001));
    write("data/deeper/small.csv", b"a,b\n1,2\n");
    root
}

#[test]
fn trove_gets_and_cats_through_serve_http_as_its_gateway() {
    let src = tempfile::tempdir().unwrap();
    let tree = tree(src.path());
    let serving = Trove::new();
    let cid = serving.ok(&["add", "-Q", tree.to_str().unwrap()]);
    let server = HttpServe::start(&serving, &["--no-page"]);
    let client = Trove::new();
    let out = src.path().join("out");
    client.ok(&[
        "get",
        &cid,
        "-o",
        out.to_str().unwrap(),
        "--source",
        "gateway",
        "--gateway",
        &server.url,
        "--timeout",
        "60s",
    ]);
    assert_same_tree(&tree, &out);
    // `cat` of a byte range asks for entity-bytes and gets only those bytes' blocks.
    let (code, bytes) = {
        let out = client
            .cmd()
            .args([
                "cat",
                &format!("{cid}/data/big.bin"),
                "--offset",
                "1500000",
                "--length",
                "1000",
                "--source",
                "gateway",
                "--gateway",
                &server.url,
            ])
            .output()
            .unwrap();
        (out.status.code(), out.stdout)
    };
    assert_eq!(code, Some(0));
    let big = std::fs::read(tree.join("data/big.bin")).unwrap();
    assert_eq!(bytes, &big[1_500_000..1_501_000]);
}

#[test]
fn helia_fetches_files_and_directories_through_serve_http() {
    let Some(helia) = crate::support::kubo::helia_dir() else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let tree = tree(src.path());
    let serving = Trove::new();
    // Helia's own importer defaults (CIDv1, raw leaves, 1 MiB chunks) and Kubo's.
    for profile in ["unixfs-v1-2025", "unixfs-v0-2015"] {
        let cid = serving.ok(&["add", "-Q", "--profile", profile, tree.to_str().unwrap()]);
        let server = HttpServe::start(&serving, &["--no-page"]);
        let out = src.path().join(format!("helia-{profile}"));
        let mut cmd = std::process::Command::new("node");
        cmd.arg(helia.join("helia_peer.mjs"))
            .args([
                "gateway-fetch",
                "--gateway",
                &server.url,
                "--cid",
                &cid,
                "--timeout",
                "100",
            ])
            .arg("--out")
            .arg(&out);
        let (code, stdout, stderr) = crate::support::output(&mut cmd);
        assert_eq!(code, 0, "Helia through {}: {stdout}\n{stderr}", server.url);
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(report["ok"], true, "{report}");
        assert_same_tree(&tree, &out);
        // A single file too, by its own CID.
        let file = serving.ok(&[
            "add",
            "-Q",
            "--profile",
            profile,
            tree.join("data/big.bin").to_str().unwrap(),
        ]);
        let file_out = src.path().join(format!("helia-{profile}.bin"));
        let mut cmd = std::process::Command::new("node");
        cmd.arg(helia.join("helia_peer.mjs"))
            .args([
                "gateway-fetch",
                "--gateway",
                &server.url,
                "--cid",
                &file,
                "--timeout",
                "100",
            ])
            .arg("--out")
            .arg(&file_out);
        let (code, stdout, stderr) = crate::support::output(&mut cmd);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(
            std::fs::read(&file_out).unwrap(),
            std::fs::read(tree.join("data/big.bin")).unwrap()
        );
    }
}

#[test]
fn fetch_flag_fetches_what_the_cache_lacks_through_the_tiers() {
    let car = fixture(FIXTURES[3]);
    let root = CarReader::new(std::fs::File::open(&car).unwrap())
        .unwrap()
        .roots()[0];
    let upstream = Gateway::with_cars(&[car.to_str().unwrap()]);
    let empty = Trove::new();
    let plain = HttpServe::start(&empty, &["--no-page"]);
    assert_eq!(
        get(&format!("{}/ipfs/{root}?format=car", plain.url)).status,
        404
    );
    drop(plain);
    let fetching = HttpServe::start(
        &empty,
        &["--no-page", "--fetch", "--gateway", &upstream.url],
    );
    let answer = get(&format!("{}/ipfs/{root}?format=car", fetching.url));
    assert_eq!(answer.status, 200, "{}", fetching.stderr());
    let (_, cids) = sections(answer.bytes());
    let expected = {
        let mut reader = CarReader::new(std::fs::File::open(&car).unwrap()).unwrap();
        let mut all = std::collections::HashSet::new();
        while let Some((cid, _)) = reader.next_section().unwrap() {
            all.insert(cid);
        }
        all
    };
    assert_eq!(
        cids.iter()
            .copied()
            .collect::<std::collections::HashSet<_>>(),
        expected
    );
    // Kept: the cache now holds it without the server.
    drop(fetching);
    let out = tempfile::tempdir().unwrap();
    empty.ok(&[
        "get",
        &root.to_string(),
        "-o",
        out.path().join("x").to_str().unwrap(),
        "--offline",
    ]);
}

#[test]
fn fifty_clients_get_identical_car_bytes_with_bounded_memory() {
    use sha2::{Digest, Sha256};
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("64m.bin");
    std::fs::write(&file, splitmix64_bytes(64, 64 << 20)).unwrap();
    let trove = Trove::new();
    // 1 MiB leaves: the largest blocks a profile makes, the most memory per client.
    let cid = trove.ok(&[
        "add",
        "-Q",
        "--profile",
        "unixfs-v1-2025",
        file.to_str().unwrap(),
    ]);
    let exported = src.path().join("export.car");
    trove.ok(&[
        "car",
        "export",
        "--profile",
        "unixfs-v1-2025",
        file.to_str().unwrap(),
        "-o",
        exported.to_str().unwrap(),
    ]);
    let expected = hex(&Sha256::digest(std::fs::read(&exported).unwrap()));
    let server = HttpServe::start(&trove, &["--no-page"]);
    let url = format!("{}/ipfs/{cid}?format=car", server.url);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let digests: Vec<String> = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                // A client (and connection) each, reading as it arrives.
                let client = reqwest::Client::new();
                let mut response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let mut hasher = Sha256::new();
                while let Some(chunk) = response.chunk().await.unwrap() {
                    hasher.update(&chunk);
                }
                hex(&hasher.finalize())
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    });
    assert!(
        digests.iter().all(|d| *d == expected),
        "a client got other bytes"
    );
    let peak = server.peak_rss();
    println!(
        "50 clients × 64 MiB CAR: server peak RSS {} MiB",
        peak >> 20
    );
    assert!(peak <= 150 << 20, "peak RSS {} MiB > 150 MiB", peak >> 20);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn http_and_p2p_serve_the_same_cache_from_one_process() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("f.bin");
    std::fs::write(&file, splitmix64_bytes(9, 700_000)).unwrap();
    let serving = Trove::new();
    let cid = serving.ok(&["add", "-Q", file.to_str().unwrap()]);
    let mut cmd = serving.cmd();
    cmd.args([
        "serve",
        "--http",
        "127.0.0.1:0",
        "--no-page",
        "--p2p",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--json",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr.txt");
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    // With --json both servers say where they listen as events of the schema.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let (mut url, mut addr) = (None, None);
    let schema = crate::conventions::schema();
    while url.is_none() || addr.is_none() {
        let line = lines.next().expect("a listening line").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(schema.is_valid(&event), "{line} is not in the schema");
        if let Some(u) = event["url"].as_str() {
            url = Some(u.to_string());
        }
        if let Some(a) = event["addr"].as_str() {
            addr = Some(a.to_string());
        }
    }
    for (source, flag, at) in [("gateway", "--gateway", &url), ("p2p", "--peer", &addr)] {
        let out = src.path().join(format!("via-{source}.bin"));
        Trove::new().ok(&[
            "get",
            &cid,
            "-o",
            out.to_str().unwrap(),
            "--source",
            source,
            flag,
            at.as_deref().unwrap(),
            "--timeout",
            "60s",
        ]);
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{status:?}: {}",
        std::fs::read_to_string(&stderr).unwrap()
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let trove = Trove::new();
    let mut server = HttpServe::start(&trove, &["--no-page"]);
    assert_eq!(get(&format!("{}/", server.url)).status, 200);
    let status = server.stop().expect("stopped within 15 s");
    assert!(status.success(), "{status:?}: {}", server.stderr());
}
