//! Archive mirrors (issue 14, item 3): a registry entry whose mirror is a `.tar.gz`, `.tar`,
//! `.zip` or `.tar.zst` served over HTTP by the test server completes `trove get ID --source
//! mirror` — whether the archive holds the content as one top folder (`tar czf x.tar.gz data`),
//! as the folder's children (`tar cf x.tar -C data .`) or is a `trove export` — and a tampered
//! archive, an archive of other content and a zip-slip archive are refused with nothing stored.
//! `registry check` says which mirrors are archives.

use crate::support::gateway::Gateway;
use crate::support::{splitmix64_bytes, Trove};
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder `data` with nested folders and a file of several chunks.
fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    std::fs::create_dir_all(root.join("tables/raw")).unwrap();
    std::fs::write(root.join("README.md"), b"# n5 traces\n").unwrap();
    std::fs::write(root.join("tables/sfs.tsv"), b"k\tvalue\n1\t0.48\n2\t0.24\n").unwrap();
    std::fs::write(
        root.join("tables/raw/trace.bin"),
        splitmix64_bytes(14, 2_500_000),
    )
    .unwrap();
    root
}

fn tar(args: &[&str]) {
    let status = Command::new("tar").args(args).status().expect("tar");
    assert!(status.success(), "tar {args:?} failed");
}

/// A registry with one entry `arch` (profile unixfs-v1-2025) whose only mirror is `mirror`.
fn registry(dir: &Path, cid: &str, mirror: &str) -> String {
    let reg = serde_json::json!({
        "version": "1.0",
        "traces": {
            "arch": {
                "cid": cid,
                "description": "archive mirror test",
                "license": "CC0-1.0",
                "profile": "unixfs-v1-2025",
                "mirrors": [mirror],
            }
        }
    });
    let path = dir.join(format!("registry-{}.json", mirror.len()));
    std::fs::write(&path, serde_json::to_vec_pretty(&reg).unwrap()).unwrap();
    s(&path).to_string()
}

/// `get arch --registry REG --offline -o OUT`: only what is beside the registry.
fn get_offline(t: &Trove, reg: &str, out: &Path) -> (i32, String, String) {
    t.run(&["get", "arch", "--registry", reg, "--offline", "-o", s(out)])
}

fn get(t: &Trove, reg: &str, out: &Path) -> (i32, String, String) {
    t.run(&[
        "get",
        "arch",
        "--registry",
        reg,
        "--source",
        "mirror",
        "-o",
        s(out),
    ])
}

#[test]
fn archive_mirrors_complete_a_get_by_id() {
    let work = tempfile::tempdir().unwrap();
    let src = tree(work.path());
    let files = work.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let exporter = Trove::new();
    let cid = exporter.ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&src)]);
    // One top folder, as `tar czf` of the folder makes it.
    tar(&[
        "czf",
        s(&files.join("data.tar.gz")),
        "-C",
        s(work.path()),
        "data",
    ]);
    // The folder's children at the top (`tar -C data .`).
    tar(&["cf", s(&files.join("flat.tar")), "-C", s(&src), "."]);
    // trove's own exports (a manifest naming the profile, sums beside the content).
    for ext in ["zip", "tar.zst"] {
        let out = files.join(format!("export.{ext}"));
        exporter.ok(&["export", &cid, "-o", s(&out)]);
    }
    let server = Gateway::builder().files_dir(&files).log().start();
    for name in ["data.tar.gz", "flat.tar", "export.zip", "export.tar.zst"] {
        let reg = registry(work.path(), &cid, &format!("{}/files/{name}", server.url));
        let t = Trove::new();
        let out = work.path().join(format!("out-{name}"));
        let (code, _, err) = get(&t, &reg, &out);
        assert_eq!(code, 0, "{name}: {err}");
        crate::support::assert_same_tree(&src, &out);
        // Every block is in the cache and verifies; the download is gone.
        assert_eq!(t.run(&["cache", "verify"]).0, 0, "{name}");
        let downloads = t.cache.path().join("downloads-v1");
        let left: Vec<_> = std::fs::read_dir(&downloads)
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{name}: left in downloads: {left:?}");
    }
    // Object-storage and archive mirrors are named by `registry check`.
    let reg = registry(
        work.path(),
        &cid,
        &format!("{}/files/data.tar.gz", server.url),
    );
    let t = Trove::new();
    let (code, out, err) = t.run(&["registry", "check", &reg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("archive (tar.gz), checked by re-import on http"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&t.ok(&["registry", "check", &reg, "--json"])).unwrap();
    assert_eq!(json[0]["mirrors"][0]["kind"], "archive");
    assert_eq!(json[0]["mirrors"][0]["format"], "tar.gz");
}

#[test]
fn wrong_tampered_and_hostile_archive_mirrors_are_refused_with_nothing_stored() {
    let work = tempfile::tempdir().unwrap();
    let src = tree(work.path());
    let files = work.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let cid = Trove::new().ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&src)]);
    // Other content: one byte changed before packing.
    let other = work.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let copy = other.join("data");
    Command::new("cp")
        .args(["-r", s(&src), s(&copy)])
        .status()
        .unwrap();
    std::fs::write(copy.join("tables/sfs.tsv"), b"k\tvalue\n1\t0.49\n2\t0.24\n").unwrap();
    tar(&[
        "czf",
        s(&files.join("other.tar.gz")),
        "-C",
        s(&other),
        "data",
    ]);
    // A tampered gzip stream: bytes flipped in the middle.
    tar(&[
        "czf",
        s(&files.join("cut.tar.gz")),
        "-C",
        s(work.path()),
        "data",
    ]);
    let mut bytes = std::fs::read(files.join("cut.tar.gz")).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(files.join("cut.tar.gz"), &bytes).unwrap();
    // A zip whose entry climbs out of the folder.
    let status = Command::new("python3")
        .arg("-c")
        .arg("import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('data/README.md', '# n5\\n')\nz.writestr('../../escaped.txt', 'gotcha')\nz.close()\n")
        .arg(files.join("slip.zip"))
        .status()
        .unwrap();
    assert!(status.success());
    let server = Gateway::builder().files_dir(&files).start();
    for (name, expected) in [
        ("other.tar.gz", "does not hold CID"),
        ("cut.tar.gz", "cannot read"),
        ("slip.zip", "is refused"),
    ] {
        let reg = registry(work.path(), &cid, &format!("{}/files/{name}", server.url));
        let t = Trove::new();
        let out = work.path().join(format!("out-{name}"));
        let (code, _, err) = get(&t, &reg, &out);
        assert_eq!(
            code, 4,
            "{name}: wrong bytes are an integrity failure: {err}"
        );
        assert!(err.contains(expected), "{name}: {err}");
        assert!(!out.exists(), "{name}: output written");
        // Nothing was stored: offline, the content is not there.
        let (code, _, _) = t.run(&["get", &cid, "--offline", "-o", s(&out)]);
        assert_eq!(code, 5, "{name}: something was stored");
    }
    assert!(!work.path().join("escaped.txt").exists());
    assert!(!files.join("escaped.txt").exists());
}

#[test]
fn a_local_registrys_archive_mirror_works_offline_and_a_wrong_one_is_skipped() {
    let work = tempfile::tempdir().unwrap();
    let src = tree(work.path());
    let cid = Trove::new().ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&src)]);
    // A registry checkout: the registry file and its archives beside it.
    let checkout = work.path().join("checkout");
    std::fs::create_dir_all(checkout.join("archives")).unwrap();
    tar(&[
        "czf",
        s(&checkout.join("archives/data.tar.gz")),
        "-C",
        s(work.path()),
        "data",
    ]);
    let reg = registry(&checkout, &cid, "archives/data.tar.gz");
    let t = Trove::new();
    let out = work.path().join("offline-out");
    let (code, _, err) = get_offline(&t, &reg, &out);
    assert_eq!(code, 0, "{err}");
    crate::support::assert_same_tree(&src, &out);
    // An archive of other content beside the registry: skipped with a warning, nothing stored.
    std::fs::write(src.join("README.md"), b"# changed\n").unwrap();
    tar(&[
        "czf",
        s(&checkout.join("archives/other.tar.gz")),
        "-C",
        s(work.path()),
        "data",
    ]);
    let reg = registry(&checkout, &cid, "archives/other.tar.gz");
    let t = Trove::new();
    let (code, _, err) = t.run(&["get", "arch", "--registry", &reg, "--offline"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("not this entry's archive"), "{err}");
    // Nothing of it was stored: the root block is still missing.
    let (code, _, _) = t.run(&["get", &cid, "--offline", "-o", s(&work.path().join("x"))]);
    assert_eq!(code, 5, "nothing was stored");
    // A folder whose only child is a folder, archived as its children (`tar -C dir .`): the
    // archive's one top folder is not the content, the whole tree is (as for remote mirrors).
    let solo = work.path().join("solo");
    std::fs::create_dir_all(solo.join("inner")).unwrap();
    std::fs::write(solo.join("inner/only.txt"), b"just this\n").unwrap();
    let solo_cid = Trove::new().ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&solo)]);
    tar(&[
        "czf",
        s(&checkout.join("archives/solo.tar.gz")),
        "-C",
        s(&solo),
        ".",
    ]);
    let reg = registry(&checkout, &solo_cid, "archives/solo.tar.gz");
    let out = work.path().join("solo-out");
    let (code, _, err) = get_offline(&Trove::new(), &reg, &out);
    assert_eq!(code, 0, "{err}");
    crate::support::assert_same_tree(&solo, &out);
}
