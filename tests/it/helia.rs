//! Interop with a current bitswap implementation: Helia 7 (JS, libp2p 3, `@helia/bitswap`,
//! `scripts/peers/helia/helia_peer.mjs`) on loopback, both ways.
//!
//! - Helia's defaults (`@helia/unixfs`: CIDv1, 1 MiB raw leaves) for files of 3, 16 and 64 MiB,
//!   Kubo's defaults (CIDv0, 256 KiB dag-pb leaves) for a file, and directories with nested
//!   files (one of them over 5 MB) under both.
//! - The CIDs Helia's importer gives equal trove's for the same profile, so each side can ask
//!   the other for content it imported itself.
//!
//! Before the fix these pin down, trove got the root and the first leaves of a 3 MiB file from
//! Helia and then lost the connection: Helia's yamux sends frames as large as the credit it
//! holds (2 MiB after rust-yamux's window auto-tuning) and rust-yamux refuses frames over 1 MiB
//! (see `fetch::p2p::transport`).

use crate::p2p::{assert_cache_clean, p2p_get};
use crate::support::kubo::{helia_dir, helia_fetch, Peer, TroveServer};
use crate::support::{assert_same_tree, splitmix64_bytes, Trove};
use std::path::{Path, PathBuf};

const MIB: usize = 1024 * 1024;

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    path
}

/// A folder with nested folders, an empty file, a small text and a file of a little over 5 MB
/// (several 1 MiB leaves).
fn tree(dir: &Path, seed: u64) -> PathBuf {
    let root = dir.join(format!("tree-{seed}"));
    write(&root, "README.txt", b"a directory served over bitswap\n");
    write(&root, "empty", b"");
    write(&root, "data/big.bin", &splitmix64_bytes(seed, 5_000_003));
    write(&root, "data/deeper/small.csv", b"a,b\n1,2\n");
    write(
        &root,
        "data/deeper/mid.bin",
        &splitmix64_bytes(seed + 1, 700_001),
    );
    root
}

/// `trove get TARGET -o OUT --source p2p --peer PEER`, asserting success.
fn get_from(trove: &Trove, target: &str, peer: &str, out: &Path) {
    p2p_get(trove, target, out, &["--peer", peer]);
}

#[test]
fn trove_fetches_helia_default_content_files_and_directories() {
    let Some(helia) = helia_dir() else { return };
    let src = tempfile::tempdir().unwrap();
    let files: Vec<(PathBuf, usize)> = [3, 16, 64]
        .iter()
        .map(|&mib| {
            let path = write(
                src.path(),
                &format!("f{mib}.bin"),
                &splitmix64_bytes(mib as u64, mib * MIB),
            );
            (path, mib)
        })
        .collect();
    let dir = tree(src.path(), 21);
    let mut paths: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    paths.push(&dir);
    let peer = Peer::helia(&helia, &paths, "v1-raw-1m", &[]);
    let trove = Trove::new();
    let out = tempfile::tempdir().unwrap();
    for (file, mib) in &files {
        let cid = peer.cid_of(file);
        // Helia's importer and trove's unixfs-v1-2025 profile agree.
        let ours = trove.ok(&[
            "add",
            "-Q",
            "--only-hash",
            "--profile",
            "unixfs-v1-2025",
            file.to_str().unwrap(),
        ]);
        assert_eq!(cid, ours, "{mib} MiB: Helia's CID and trove's differ");
        let got = out.path().join(format!("f{mib}"));
        get_from(&trove, &cid, peer.tcp_addr(), &got);
        assert!(
            std::fs::read(&got).unwrap() == std::fs::read(file).unwrap(),
            "{mib} MiB: other bytes"
        );
    }
    let cid = peer.cid_of(&dir);
    let got = out.path().join("tree");
    get_from(&trove, &cid, peer.tcp_addr(), &got);
    assert_same_tree(&dir, &got);
    assert_cache_clean(&trove);
}

#[test]
fn trove_fetches_kubo_profile_content_from_helia() {
    let Some(helia) = helia_dir() else { return };
    let src = tempfile::tempdir().unwrap();
    let file = write(src.path(), "v0.bin", &splitmix64_bytes(5, 3 * MIB + 12345));
    let dir = tree(src.path(), 22);
    let peer = Peer::helia(&helia, &[&file, &dir], "v0-pb-256k", &[]);
    let cid = peer.cid_of(&file);
    let trove = Trove::new();
    let ours = trove.ok(&["add", "-Q", "--only-hash", file.to_str().unwrap()]);
    assert!(cid.starts_with("Qm"), "{cid}");
    assert_eq!(cid, ours, "Helia's CIDv0 and trove's differ");
    let out = tempfile::tempdir().unwrap();
    let got = out.path().join("v0.bin");
    get_from(&trove, &cid, peer.tcp_addr(), &got);
    assert!(std::fs::read(&got).unwrap() == std::fs::read(&file).unwrap());
    let got = out.path().join("tree");
    get_from(&trove, &peer.cid_of(&dir), peer.tcp_addr(), &got);
    assert_same_tree(&dir, &got);
    // One file inside the directory, by path.
    let one = out.path().join("mid.bin");
    let target = format!("{}/data/deeper/mid.bin", peer.cid_of(&dir));
    get_from(&Trove::new(), &target, peer.tcp_addr(), &one);
    assert_eq!(std::fs::read(&one).unwrap(), splitmix64_bytes(23, 700_001));
}

#[test]
fn helia_fetches_files_and_directories_from_trove_serve() {
    let Some(helia) = helia_dir() else { return };
    let src = tempfile::tempdir().unwrap();
    let trove = Trove::new();
    let add = |profile: &str, path: &Path| {
        trove.ok(&["add", "-Q", "--profile", profile, path.to_str().unwrap()])
    };
    let mut cases: Vec<(String, PathBuf)> = Vec::new();
    for mib in [3, 16, 64] {
        let file = write(
            src.path(),
            &format!("f{mib}.bin"),
            &splitmix64_bytes(100 + mib as u64, mib * MIB),
        );
        cases.push((add("unixfs-v1-2025", &file), file));
    }
    let v0 = write(src.path(), "v0.bin", &splitmix64_bytes(7, 3 * MIB + 1));
    cases.push((add("unixfs-v0-2015", &v0), v0));
    let dir = tree(src.path(), 31);
    cases.push((add("unixfs-v1-2025", &dir), dir.clone()));
    cases.push((add("unixfs-v0-2015", &dir), dir));
    let mut cmd = trove.cmd();
    cmd.args(["serve", "--p2p", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    let server = TroveServer::start(cmd);
    let out = tempfile::tempdir().unwrap();
    for (i, (cid, path)) in cases.iter().enumerate() {
        let got = out.path().join(format!("case-{i}"));
        let report = helia_fetch(&helia, server.tcp_addr(), cid, &got);
        assert_eq!(
            report["ok"],
            true,
            "Helia could not fetch {cid} ({}): {report}\ntrove's stderr:\n{}",
            path.display(),
            server.stderr()
        );
        assert_same_tree(path, &got);
    }
}
