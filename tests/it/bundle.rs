//! `trove import` / `trove export`: every archive format round trip (export → import → the same
//! CID, `sha256sum -c` on the exported sums with the system's tools, byte-identical
//! re-exports), and every way a bundle is refused — tampered archive, wrong sums beside and
//! inside it, zip-slip, absolute paths, symlink escapes, writing through a link, device files,
//! bombs over the limits — each with a clear error, exit code and nothing stored. Hostile
//! archives are written with Python's `tarfile`/`zipfile`, which write what they are told.

use crate::support::{splitmix64_bytes, Trove};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tree: nested folders, a 300 KiB file (several chunks under v0), an executable, a
/// symlink inside the tree.
fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("bundle-src");
    std::fs::create_dir_all(root.join("data/deep")).unwrap();
    std::fs::write(root.join("README.md"), b"# a bundle\n").unwrap();
    std::fs::write(root.join("data/values.tsv"), b"gene\tvalue\nA\t1.5\n").unwrap();
    std::fs::write(root.join("data/deep/big.bin"), splitmix64_bytes(5, 300_000)).unwrap();
    let script = root.join("run.sh");
    std::fs::write(&script, b"#!/bin/sh\necho hi\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("data/values.tsv", root.join("latest.tsv")).unwrap();
    }
    root
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the system's `tar` (the archives projects publish are made with it).
fn tar(args: &[&str]) {
    let status = Command::new("tar").args(args).status().expect("tar");
    assert!(status.success(), "tar {args:?} failed");
}

fn python(script: &str, args: &[&str]) {
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .status()
        .expect("python3");
    assert!(status.success(), "python failed: {script}");
}

/// Unpacks `archive` with Python's standard library (not trove) into `dest`.
fn extract_with_python(archive: &Path, dest: &Path) {
    python(
        "import sys, tarfile, zipfile\n\
         a, d = sys.argv[1], sys.argv[2]\n\
         if a.endswith('.zip'):\n    zipfile.ZipFile(a).extractall(d)\n\
         else:\n    tarfile.open(a).extractall(d)\n",
        &[s(archive), s(dest)],
    );
}

#[test]
fn every_format_round_trips_to_the_same_cid_and_checks_without_trove() {
    let dir = tempfile::tempdir().unwrap();
    let src = tree(dir.path());
    for profile in ["unixfs-v1-2025", "unixfs-v0-2015"] {
        let t = Trove::new();
        let cid = t.ok(&["add", "-Q", "--profile", profile, s(&src)]);
        for ext in ["tar.gz", "tar.zst", "tar", "zip"] {
            let out = dir.path().join(format!("{profile}.{ext}"));
            assert_eq!(t.ok(&["export", &cid, "-o", s(&out)]), cid, "{ext}");
            // Deterministic: a second export is byte for byte the same.
            let again = dir.path().join(format!("again-{profile}.{ext}"));
            t.ok(&["export", &cid, "-o", s(&again)]);
            assert!(
                std::fs::read(&out).unwrap() == std::fs::read(&again).unwrap(),
                "{ext}: exports differ"
            );
            // Without trove: unpack, then sha256sum -c.
            if ext != "tar.zst" {
                let plain = dir.path().join(format!("plain-{profile}-{ext}"));
                std::fs::create_dir(&plain).unwrap();
                extract_with_python(&out, &plain);
                let check = Command::new("sha256sum")
                    .args(["-c", "--strict", "checksums.sha256"])
                    .current_dir(&plain)
                    .output()
                    .unwrap();
                assert!(
                    check.status.success(),
                    "{ext}: sha256sum -c: {}",
                    String::from_utf8_lossy(&check.stdout)
                );
                let manifest: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(plain.join("manifest.json")).unwrap())
                        .unwrap();
                assert_eq!(manifest["cid"], cid.as_str());
                assert_eq!(manifest["profile"], profile);
                assert_eq!(manifest["files"].as_array().unwrap().len(), 4);
            }
            // Into a fresh cache: the same CID, the recorded one verified.
            let fresh = Trove::new();
            let (code, stdout, stderr) = fresh.run(&["import", s(&out)]);
            assert_eq!(code, 0, "{ext}: {stderr}");
            assert_eq!(stdout.trim(), cid, "{ext}: {stderr}");
            assert!(stderr.contains("the CID its manifest records"), "{stderr}");
            let back = dir.path().join(format!("back-{profile}-{ext}"));
            fresh.ok(&["get", "--offline", &cid, "-o", s(&back)]);
            crate::support::assert_same_tree(&src, &back);
        }
    }
}

#[test]
fn a_published_bundle_is_checked_against_its_sums_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let src = tree(dir.path());
    // A bundle as projects publish them: a tarball of a folder with checksums.sha256 inside,
    // and SHA256SUMS beside it.
    let published = dir.path().join("release");
    std::fs::create_dir(&published).unwrap();
    let sums = Command::new("sh")
        .arg("-c")
        .arg("sha256sum README.md data/values.tsv data/deep/big.bin > checksums.sha256")
        .current_dir(&src)
        .status()
        .unwrap();
    assert!(sums.success());
    let archive = published.join("bundle-v1.tar.gz");
    tar(&["czf", s(&archive), "-C", s(dir.path()), "bundle-src"]);
    let beside = Command::new("sh")
        .arg("-c")
        .arg("sha256sum bundle-v1.tar.gz > SHA256SUMS")
        .current_dir(&published)
        .status()
        .unwrap();
    assert!(beside.success());

    let t = Trove::new();
    let (code, stdout, stderr) = t.run(&["import", s(&archive)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("SHA256SUMS (beside it)") && stderr.contains("checksums.sha256 (3 files)"),
        "{stderr}"
    );
    // The content is the one folder at the top, sums file included (as published).
    let cid = stdout.trim().to_string();
    assert_eq!(
        t.ok(&["add", "-Q", "-n", "--profile", "unixfs-v1-2025", s(&src)]),
        cid
    );

    // The archive changed after its sums were published: refused, nothing stored.
    let tampered = published.join("bundle-v1.tar.gz");
    let mut bytes = std::fs::read(&tampered).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&tampered, &bytes).unwrap();
    let t = Trove::new();
    let (code, _, stderr) = t.run(&["import", s(&tampered)]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("SHA256SUMS") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert_eq!(
        t.ok(&["cache", "ls", "--blocks"]),
        "",
        "stored after a mismatch"
    );

    // --sha256 that does not match, on an archive without sums beside it.
    let alone = dir.path().join("alone.tar");
    tar(&["cf", s(&alone), "-C", s(dir.path()), "bundle-src"]);
    let (code, _, stderr) = t.run(&["import", s(&alone), "--sha256", &"0".repeat(64)]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("--sha256"), "{stderr}");
    assert_eq!(t.ok(&["cache", "ls", "--blocks"]), "");

    // A file inside that does not match the checksums.sha256 inside.
    std::fs::write(src.join("README.md"), b"# changed after the sums\n").unwrap();
    let inside = dir.path().join("inside.tar");
    tar(&["cf", s(&inside), "-C", s(dir.path()), "bundle-src"]);
    let (code, _, stderr) = t.run(&["import", s(&inside)]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("README.md") && stderr.contains("checksums.sha256"),
        "{stderr}"
    );
    assert_eq!(t.ok(&["cache", "ls", "--blocks"]), "");
    // No unpacked leftovers in the cache's temporary folder either.
    let leftovers: Vec<_> = std::fs::read_dir(t.cache.path().join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_changed_trove_export_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = tree(dir.path());
    let t = Trove::new();
    let cid = t.ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&src)]);
    let out = dir.path().join("x.tar");
    t.ok(&["export", &cid, "-o", s(&out)]);
    // Unpack, change a file and its sums consistently, pack again: the sums pass, the CID
    // recorded in the manifest does not.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    extract_with_python(&out, &plain);
    std::fs::write(plain.join(&cid).join("README.md"), b"# edited\n").unwrap();
    let resum = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {cid} -type f | sort | xargs sha256sum > checksums.sha256 && python3 -c \"import json,hashlib;m=json.load(open('manifest.json'));m['checksums']={{l.split()[1]:l.split()[0] for l in open('checksums.sha256')}};json.dump(m,open('manifest.json','w'))\""
        ))
        .current_dir(&plain)
        .status()
        .unwrap();
    assert!(resum.success());
    let edited = dir.path().join("edited.tar");
    tar(&["cf", s(&edited), "-C", s(&plain), "."]);
    let fresh = Trove::new();
    let (code, _, stderr) = fresh.run(&["import", s(&edited)]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("manifest.json says") && stderr.contains(&cid),
        "{stderr}"
    );
    assert_eq!(fresh.ok(&["cache", "ls", "--blocks"]), "");
}

/// Hostile archives, each refused with exit 4 (or 2 for limits), a message naming the entry,
/// nothing stored, nothing written outside the sandbox.
#[test]
fn hostile_archives_are_refused_and_nothing_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    // Python writes each archive exactly as told; `{out}` and `{victim}` are filled in.
    let cases: &[(&str, &str, &str)] = &[
        (
            "zip-slip.zip",
            "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nz.writestr('ok.txt','fine')\nz.writestr('../victim.txt','pwned')\nz.close()",
            "climbs out",
        ),
        (
            "absolute.tar",
            "import tarfile,sys,io\nt=tarfile.open(sys.argv[1],'w')\ni=tarfile.TarInfo(sys.argv[2]);d=b'pwned';i.size=len(d)\nt.addfile(i,io.BytesIO(d))\nt.close()",
            "absolute path",
        ),
        (
            "dotdot.tar.gz",
            "import tarfile,sys,io\nt=tarfile.open(sys.argv[1],'w:gz')\ni=tarfile.TarInfo('a/../../victim.txt');d=b'pwned';i.size=len(d)\nt.addfile(i,io.BytesIO(d))\nt.close()",
            "climbs out",
        ),
        (
            "symlink-escape.tar",
            "import tarfile,sys\nt=tarfile.open(sys.argv[1],'w')\ni=tarfile.TarInfo('link');i.type=tarfile.SYMTYPE;i.linkname='../../etc'\nt.addfile(i)\nt.close()",
            "outside the archive",
        ),
        (
            "through-link.tar",
            "import tarfile,sys,io\nt=tarfile.open(sys.argv[1],'w')\ni=tarfile.TarInfo('sub');i.type=tarfile.DIRTYPE\nt.addfile(i)\ni=tarfile.TarInfo('d');i.type=tarfile.SYMTYPE;i.linkname='sub'\nt.addfile(i)\ni=tarfile.TarInfo('d/x');d=b'x';i.size=1\nt.addfile(i,io.BytesIO(d))\nt.close()",
            "through a symlink",
        ),
        (
            "device.tar",
            "import tarfile,sys\nt=tarfile.open(sys.argv[1],'w')\ni=tarfile.TarInfo('null');i.type=tarfile.CHRTYPE;i.devmajor=1;i.devminor=3\nt.addfile(i)\nt.close()",
            "device file",
        ),
        (
            "fifo.tar",
            "import tarfile,sys\nt=tarfile.open(sys.argv[1],'w')\ni=tarfile.TarInfo('pipe');i.type=tarfile.FIFOTYPE\nt.addfile(i)\nt.close()",
            "FIFO",
        ),
        (
            "zip-symlink-escape.zip",
            "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\ni=zipfile.ZipInfo('up');i.external_attr=(0o120777<<16)\nz.writestr(i,'../../victim.txt')\nz.close()",
            "outside the archive",
        ),
    ];
    for (name, script, reason) in cases {
        let archive = dir.path().join(name);
        python(script, &[s(&archive), s(&victim)]);
        let t = Trove::new();
        let (code, stdout, stderr) = t.run(&["import", s(&archive)]);
        assert_eq!(code, 4, "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}: {stdout}");
        assert!(
            stderr.contains("is refused") && stderr.contains(reason) && stderr.contains("hint:"),
            "{name}: {stderr}"
        );
        assert!(!victim.exists(), "{name}: wrote outside the sandbox");
        assert_eq!(t.ok(&["cache", "ls", "--blocks"]), "", "{name}: stored");
        let leftovers = std::fs::read_dir(t.cache.path().join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 0, "{name}: sandbox left behind");
    }
}

#[test]
fn bombs_stop_at_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB of zeros compress to about 64 KiB.
    let bomb = dir.path().join("bomb.tar.gz");
    python(
        "import tarfile,sys,io\nt=tarfile.open(sys.argv[1],'w:gz')\nn=64<<20\ni=tarfile.TarInfo('zeros');i.size=n\nt.addfile(i,io.BytesIO(bytes(n)))\nt.close()",
        &[s(&bomb)],
    );
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let t = Trove::new();
    let (code, _, stderr) = t.run(&["import", s(&bomb), "--max-bytes", "1000000"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("more than 1000000 bytes") && stderr.contains("--max-bytes"),
        "{stderr}"
    );
    assert_eq!(t.ok(&["cache", "ls", "--blocks"]), "");
    // Many small entries.
    let many = dir.path().join("many.zip");
    python(
        "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nfor k in range(50): z.writestr(f'f{k}','x')\nz.close()",
        &[s(&many)],
    );
    let (code, _, stderr) = t.run(&["import", s(&many), "--max-entries", "10"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("more than 10 entries"), "{stderr}");
    // Within the limits the same archive imports.
    t.ok(&["import", s(&many), "--max-entries", "50"]);
    // Not an archive at all, by name and by content.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"hello").unwrap();
    let (code, _, stderr) = t.run(&["import", s(&text)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(".tar.gz") && stderr.contains("hint:"),
        "{stderr}"
    );
    let fake = dir.path().join("fake.tar.gz");
    std::fs::write(&fake, b"not gzip at all").unwrap();
    let (code, _, stderr) = t.run(&["import", s(&fake)]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("fake.tar.gz"), "{stderr}");
}

/// `trove publish BUNDLE.tar.gz --id … --registry-file F`: the archive's sums are checked, its
/// content is published (the same CID `trove import` gives), and its manifest.json supplies the
/// description, licence and metadata the flags leave out.
#[test]
fn a_bundle_publishes_with_its_manifest_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("expression-v3");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("matrix.tsv"), b"gene\tx\nA\t1\n").unwrap();
    let sum = Command::new("sha256sum")
        .arg("matrix.tsv")
        .current_dir(&src)
        .output()
        .unwrap();
    let hex = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let manifest = serde_json::json!({
        "description": "Expression matrix, release 3",
        "license": "CC-BY-4.0",
        "metadata": {"domain": "genomics", "tags": ["expression"]},
        "checksums": {"matrix.tsv": hex},
    });
    std::fs::write(src.join("manifest.json"), manifest.to_string()).unwrap();
    let archive = dir.path().join("expression-v3.tar.gz");
    tar(&["czf", s(&archive), "-C", s(dir.path()), "expression-v3"]);
    let reg = dir.path().join("registry.json");
    std::fs::write(&reg, "{\n  \"version\": \"1.1.0\",\n  \"traces\": {}\n}\n").unwrap();
    let t = Trove::new();
    let (code, stdout, stderr) = t.run(&[
        "publish",
        s(&archive),
        "--id",
        "expression_v3",
        "--no-daemon",
        "--registry-file",
        s(&reg),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("checked manifest.json (1 files)"),
        "{stderr}"
    );
    let cid = stdout.lines().next().unwrap().trim().to_string();
    assert_eq!(Trove::new().ok(&["import", "-Q", s(&archive)]), cid);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&reg).unwrap()).unwrap();
    let entry = &doc["traces"]["expression_v3"];
    assert_eq!(entry["cid"], cid.as_str(), "{entry}");
    assert_eq!(
        entry["description"], "Expression matrix, release 3",
        "{entry}"
    );
    assert_eq!(entry["license"], "CC-BY-4.0", "{entry}");
    assert_eq!(entry["metadata"]["domain"], "genomics", "{entry}");
    // A bundle whose sums fail is not published, and the registry is untouched.
    std::fs::write(src.join("matrix.tsv"), b"gene\tx\nA\t2\n").unwrap();
    let bad = dir.path().join("bad.tar.gz");
    tar(&["czf", s(&bad), "-C", s(dir.path()), "expression-v3"]);
    let before = std::fs::read(&reg).unwrap();
    let (code, _, stderr) = t.run(&[
        "publish",
        s(&bad),
        "--id",
        "expression_bad",
        "--no-daemon",
        "--registry-file",
        s(&reg),
    ]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("matrix.tsv"), "{stderr}");
    assert_eq!(std::fs::read(&reg).unwrap(), before);
}
