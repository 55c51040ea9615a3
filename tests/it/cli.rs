//! The `trove` binary end to end: add, car export/import, get, cat, cache verify/ls/gc.

use crate::support::{splitmix64_bytes, vector_car, vectors_dir, Trove};
use std::path::Path;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// A file under `tests/fixtures/vectors` (`car/NAME` is a reference CAR, rebuilt when it is
/// not committed: see `support::vectors`).
fn fixture(rel: &str) -> String {
    let path = match rel.strip_prefix("car/") {
        Some(name) => vector_car(name),
        None => vectors_dir().join(rel),
    };
    path.to_str().unwrap().to_string()
}

#[test]
fn add_prints_like_ipfs_add_and_only_hash_stores_nothing() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hello.txt", b"hello world\n");
    assert_eq!(
        t.ok(&["add", "-Q", "--only-hash", &f]),
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    );
    assert_eq!(
        t.ok(&["cache", "ls", "--blocks"]),
        "",
        "--only-hash stored blocks"
    );
    assert_eq!(
        t.ok(&["add", "--only-hash", "--cid-version", "1", &f]),
        "added bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4 hello.txt"
    );
    // CIDv1 with dag-pb leaves: the same node as Kubo's default, named by a CIDv1.
    let v0 = trove::content::parse_cid("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
    assert_eq!(
        t.ok(&[
            "add",
            "-Q",
            "-n",
            "--cid-version=1",
            "--raw-leaves=false",
            &f
        ]),
        cid::Cid::new_v1(0x70, *v0.hash()).to_string()
    );
    assert_eq!(
        t.ok(&["add", "-Q", "-n", "--profile", "unixfs-v1-2025", &f]),
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    );
    let (code, _, err) = t.run(&["add", "-Q", "-n", "--chunker", "rabin-1-2-3", &f]);
    assert_eq!(code, 2);
    assert!(err.contains("size-N") && err.contains("buzhash"), "{err}");
    // Content-defined chunks: `--chunker buzhash` on a profile is the `-buzhash` profile, and a
    // file of several chunks gets another CID than with fixed chunks.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, crate::support::splitmix64_bytes(3, 2_000_000)).unwrap();
    let big = big.to_str().unwrap();
    let flag = t.ok(&[
        "add",
        "-Q",
        "-n",
        "--profile",
        "unixfs-v1-2025",
        "--chunker",
        "buzhash",
        big,
    ]);
    let named = t.ok(&[
        "add",
        "-Q",
        "-n",
        "--profile",
        "unixfs-v1-2025-buzhash",
        big,
    ]);
    assert_eq!(flag, named);
    assert_ne!(
        named,
        t.ok(&["add", "-Q", "-n", "--profile", "unixfs-v1-2025", big])
    );
    let stored = t.ok(&["add", "-Q", "--profile", "unixfs-v1-2025-buzhash", big]);
    assert_eq!(stored, named);
    let out = dir.path().join("back.bin");
    t.ok(&["get", &stored, "-o", out.to_str().unwrap(), "--offline"]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(big).unwrap());
    let (code, _, err) = t.run(&["add", "-Q", "-n", "/nonexistent/path"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/path"), "{err}");
}

#[test]
fn add_then_get_and_cat_round_trip_from_the_store() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let content = splitmix64_bytes(7, 1_000_000);
    let f = write(dir.path(), "data.bin", &content);
    let cid = t.ok(&["add", "-Q", &f]);
    let out = dir.path().join("out.bin");
    t.ok(&["get", "--offline", &cid, "-o", out.to_str().unwrap()]);
    assert!(std::fs::read(&out).unwrap() == content);
    let cat = t.cmd().args(["cat", "--offline", &cid]).output().unwrap();
    assert!(cat.status.success());
    assert!(cat.stdout == content);
    let part = t
        .cmd()
        .args([
            "cat",
            "--offline",
            &format!("ipfs://{cid}"),
            "--offset",
            "262140",
            "--length",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(part.stdout, content[262_140..262_150]);
    let stdout = t
        .cmd()
        .args(["get", "--offline", &cid, "-o", "-"])
        .output()
        .unwrap();
    assert!(stdout.stdout == content);
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
}

#[test]
fn car_export_matches_kubo_dag_export_byte_for_byte() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "rand", &splitmix64_bytes(1_048_576, 1_048_576));
    for (profile_args, reference) in [
        (vec![], "car/rand-1048576.v0-pb-256k-174.car"),
        (
            vec!["--cid-version", "1"],
            "car/rand-1048576.v1-raw-256k-174.car",
        ),
        (
            vec!["--profile", "unixfs-v1-2025"],
            "car/rand-1048576.v1-raw-1m-1024.car",
        ),
    ] {
        let out = dir.path().join("out.car");
        let mut args = vec!["car", "export", &f, "-o", out.to_str().unwrap()];
        args.extend(profile_args.iter().copied());
        t.ok(&args);
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(fixture(reference)).unwrap(),
            "{reference}"
        );
    }
}

#[test]
fn car_import_verifies_stores_and_keeps_complete_roots() {
    let t = Trove::new();
    let roots = t.ok(&[
        "car",
        "import",
        &fixture("car/kubo-sharness-planets.ipfs-car.car"),
    ]);
    assert_eq!(
        roots,
        "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi"
    );
    assert!(t.ok(&["cache", "ls"]).contains(&roots));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("planets");
    t.ok(&["get", "--offline", &roots, "-o", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out.join("mars.txt")).unwrap(),
        b"Hello Mars!\n"
    );
    assert_eq!(
        t.ok(&["cat", "--offline", &format!("{roots}/mars.txt")]),
        "Hello Mars!"
    );
    // A CARv2 works the same way.
    let v2 = t.ok(&[
        "car",
        "import",
        &fixture("fixtures/go-car/v2/testdata/sample-unixfs-v2.car"),
    ]);
    assert_eq!(
        t.ok(&["cat", "--offline", &format!("/ipfs/{v2}/a/b.txt")]),
        "hello world"
    );
}

#[test]
fn a_corrupt_car_is_rejected_and_nothing_unverified_is_stored() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let mut car = std::fs::read(fixture("car/rand-1000.v1-raw-256k-174.car")).unwrap();
    let last = car.len() - 1;
    car[last] ^= 0x01;
    let bad = write(dir.path(), "bad.car", &car);
    let (code, _, err) = t.run(&["car", "import", &bad]);
    assert_eq!(code, 4);
    assert!(
        err.contains("bafkreicbr3vslhx257lrxhadeo2yonupcgv5dtad4grfkce6uojuzqf2li"),
        "{err}"
    );
    assert_eq!(t.ok(&["cache", "ls", "--blocks"]), "");
    let garbage = write(dir.path(), "garbage.car", b"this is not a car file at all");
    let (code, _, err) = t.run(&["car", "import", &garbage]);
    assert_eq!(code, 4);
    assert!(err.contains("error:"), "{err}");
}

#[test]
fn a_missing_block_is_an_error_that_names_it_and_writes_nothing() {
    let t = Trove::new();
    let car = fixture(
        "fixtures/gateway-conformance/fixtures/trustless_gateway_car/file-3k-and-3-blocks-missing-block.car",
    );
    let (code, out, err) = t.run(&["car", "import", &car]);
    assert_eq!(code, 1, "an incomplete CAR is reported");
    assert_eq!(out.trim(), "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk");
    assert!(
        err.contains("QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("file");
    let (code, _, err) = t.run(&[
        "get",
        "--offline",
        "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(code, 5);
    assert!(
        err.contains("QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W"),
        "{err}"
    );
    assert!(!target.exists(), "no partial output");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temp file left"
    );
    let cat = t
        .cmd()
        .args([
            "cat",
            "--offline",
            "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk",
        ])
        .output()
        .unwrap();
    assert_eq!(cat.status.code(), Some(5), "offline and not cached");
    assert!(
        cat.stdout.is_empty(),
        "cat checks the DAG before printing anything"
    );
}

#[test]
fn unsafe_names_and_escaping_symlinks_are_refused() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    for (car, bad) in [
        (
            "fixtures/gateway-conformance/fixtures/path_gateway_tar/outside-root.car",
            "../foo",
        ),
        (
            "fixtures/gateway-conformance/fixtures/path_gateway_tar/inside-root.car",
            "../file",
        ),
    ] {
        let root = t.ok(&["car", "import", &fixture(car)]);
        let out = dir.path().join("out");
        let (code, _, err) = t.run(&["get", "--offline", &root, "-o", out.to_str().unwrap()]);
        assert_eq!(code, 4, "{car}");
        assert!(err.contains(bad), "{car}: {err}");
        assert!(!out.exists(), "{car}: nothing written");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{car}: no leftovers"
        );
    }
    // A symlink inside the output is recreated as a symlink, never followed.
    let root = t.ok(&[
        "car",
        "import",
        &fixture("fixtures/gateway-conformance/fixtures/path_gateway_unixfs/symlink.car"),
    ]);
    let out = dir.path().join("links");
    t.ok(&["get", "--offline", &root, "-o", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(out.join("bar")).unwrap(),
        Path::new("foo")
    );
    let (code, _, err) = t.run(&["cat", "--offline", &format!("{root}/bar")]);
    assert_eq!(code, 2);
    assert!(err.contains("symlink"), "{err}");
}

#[test]
fn cache_verify_finds_corruption_and_gc_drops_unkept_blocks() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let keep = t.ok(&[
        "add",
        "-Q",
        &write(dir.path(), "keep", &splitmix64_bytes(1, 600_000)),
    ]);
    let drop = t.ok(&[
        "add",
        "-Q",
        &write(dir.path(), "drop", &splitmix64_bytes(2, 600_000)),
    ]);
    assert_eq!(t.ok(&["cache", "ls", "--blocks"]).lines().count(), 8);
    t.ok(&["cache", "unpin", &drop]);
    let gc = t.ok(&["cache", "gc", "--grace", "0s"]);
    assert!(gc.starts_with("removed 4 block(s)"), "{gc}");
    t.ok(&["cat", "--offline", &keep]);
    let (code, _, err) = t.run(&["cat", "--offline", &drop]);
    assert_eq!(code, 5);
    assert!(err.contains("missing"), "{err}");
    // Flip one byte in one stored block: verify reports it and exits 1.
    let blocks = t.cache.path().join("blocks-v1");
    let victim = crate::support::walk_files(&blocks)
        .into_iter()
        .next()
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let (code, out, _) = t.run(&["cache", "verify"]);
    assert_eq!(code, 4);
    assert!(out.contains("BAD"), "{out}");
    let (code, _, err) = t.run(&["cat", "--offline", &keep]);
    assert_eq!(
        code, 5,
        "a corrupt block is never served (it counts as absent)"
    );
    assert!(err.contains("corrupt") || err.contains("missing"), "{err}");
    t.ok(&["cache", "verify", "--remove"]);
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
}

/// `trove add` of a large file is SIGKILLed many times at random moments: afterwards the cache
/// verifies clean and a re-run completes with the right content.
#[test]
fn sigkill_during_add_never_leaves_a_bad_block() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let content = splitmix64_bytes(99, 24 * 1024 * 1024);
    let f = write(dir.path(), "big", &content);
    let mut rng = crate::support::Rng(crate::support::test_seed("sigkill during add"));
    for _ in 0..25 {
        let mut child = t
            .cmd()
            .args(["add", "-Q", "--chunker", "size-65536", &f])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.below(120)));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (code, out, err) = t.run(&["cache", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    let cid = t.ok(&["add", "-Q", "--chunker", "size-65536", &f]);
    let back = dir.path().join("back");
    t.ok(&["get", "--offline", &cid, "-o", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == content);
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
}

/// A full disk is a clear error with a hint, and leaves no temp file behind. Needs a tiny tmpfs
/// (root); skipped where mounting is not allowed.
#[test]
fn a_full_disk_is_a_clear_error() {
    let mnt = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(mnt.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let f = write(src.path(), "big", &splitmix64_bytes(5, 3_000_000));
    let cache = mnt.path().join("cache");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["--cache-dir", cache.to_str().unwrap(), "add", "-Q", &f])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let leftovers = std::fs::read_dir(cache.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    let _ = std::process::Command::new("umount")
        .arg(mnt.path())
        .status();
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("disk holding the cache is full"), "{err}");
    assert!(
        err.contains("hint:") && err.contains("--cache-dir"),
        "{err}"
    );
    assert_eq!(leftovers, 0, "temp files left behind");
}

#[cfg(unix)]
#[test]
fn a_symlink_alone_is_not_written_out_and_the_error_says_what_to_get() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    write(&tree, "a.txt", b"alpha\n");
    std::os::unix::fs::symlink("a.txt", tree.join("link")).unwrap();
    let cid = t.ok(&["add", "-Q", tree.to_str().unwrap()]);
    let out = dir.path().join("out");
    let (code, _, err) = t.run(&["get", &format!("{cid}/link"), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is a symlink (to `a.txt`)") && err.contains("hint: get the folder"),
        "{err}"
    );
    assert!(out.symlink_metadata().is_err(), "nothing written");
    // Inside its folder, it is written as a symlink.
    t.ok(&["get", &cid, "-o", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        std::path::Path::new("a.txt")
    );
}

#[test]
fn an_output_in_a_missing_folder_is_refused_before_any_work() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let absent = "bafkreiexxe3oglrr3hr4cxkydkempei57i5qufii7pcvwxubp3x4y3im7e";
    let file = write(dir.path(), "in.txt", b"some content\n");
    let into = |name: &str| missing.join(name).to_str().unwrap().to_string();
    for args in [
        vec![
            "get".to_string(),
            absent.into(),
            "--offline".into(),
            "-o".into(),
            into("out"),
        ],
        vec![
            "get".to_string(),
            absent.into(),
            "--offline".into(),
            "--car".into(),
            into("out.car"),
        ],
        vec![
            "car".to_string(),
            "export".into(),
            file.clone(),
            "-o".into(),
            into("out.car"),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = t.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("does not exist") && err.contains("hint: create it first"),
            "{args:?}: {err}"
        );
    }
    assert!(!missing.exists());
    // Nothing was imported by the refused export.
    let (_, listed, _) = t.run(&["cache", "ls", "--blocks"]);
    assert!(listed.trim().is_empty(), "{listed}");
}

#[test]
fn an_existing_output_folder_is_kept_unless_force_replaces_it() {
    let t = Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    write(&tree, "a.txt", b"new\n");
    write(&tree.join("sub"), "b.bin", &splitmix64_bytes(12, 300_000));
    let cid = t.ok(&["add", "-Q", tree.to_str().unwrap()]);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    write(&out, "old.txt", b"the previous output\n");
    let out_s = out.to_str().unwrap();

    let (code, _, err) = t.run(&["get", "--offline", &cid, "-o", out_s]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert!(
        out.join("old.txt").exists(),
        "nothing may be lost without --force"
    );
    // The folder is refused before anything is fetched: content that is nowhere (offline, not
    // cached) fails on the folder, not on the missing content.
    let absent = "bafkreiexxe3oglrr3hr4cxkydkempei57i5qufii7pcvwxubp3x4y3im7e";
    let (code, _, err) = t.run(&["get", "--offline", absent, "-o", out_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists"), "{err}");

    t.ok(&["get", "--offline", &cid, "-o", out_s, "--force"]);
    crate::support::assert_same_tree(&tree, &out);
    // A file replaces a folder too, and nothing is left behind beside the output.
    let one = write(dir.path(), "one.bin", &splitmix64_bytes(13, 5_000));
    let file_cid = t.ok(&["add", "-Q", &one]);
    let (code, _, err) = t.run(&["get", "--offline", &file_cid, "-o", out_s]);
    assert_eq!(code, 2, "{err}");
    t.ok(&["get", "--offline", &file_cid, "-o", out_s, "--force"]);
    assert_eq!(std::fs::read(&out).unwrap(), splitmix64_bytes(13, 5_000));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["one.bin", "out", "tree"]);
}
