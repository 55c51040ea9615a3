//! The registry commands end to end: `list`, `search`, `info`, `get ID…` (local mirror,
//! gateway, HTTP mirror, 2.0 repository files), `install` and `registry check`.

use crate::support::gateway::Gateway;
use crate::support::{samples_dir, Trove};
use std::path::{Path, PathBuf};

fn our_registry() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("registry/registry.json")
        .to_str()
        .unwrap()
        .to_string()
}

fn artifact(id: &str, file: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("registry/artifacts")
            .join(id)
            .join(file),
    )
    .unwrap()
}

/// Asserts that `dir/file` holds the bytes of the committed artifact `id`'s `file`.
#[track_caller]
fn assert_artifact_file(dir: &Path, id: &str, file: &str) {
    assert_eq!(
        std::fs::read(dir.join(file)).unwrap(),
        artifact(id, file),
        "{file}"
    );
}

const N5: &str = "coalescent_n5_theta1";
const N5_CID: &str = "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m";

#[test]
fn list_search_and_info_show_our_registry() {
    let t = Trove::new();
    let reg = our_registry();
    let list = t.ok(&["list", "--registry", &reg]);
    assert!(
        list.contains(N5) && list.contains("coalescent_n10_theta1"),
        "{list}"
    );
    let filtered = t.ok(&[
        "list",
        "--registry",
        &reg,
        "--tag",
        "kingman",
        "--domain",
        "population-genetics",
    ]);
    assert!(filtered.contains(N5), "{filtered}");
    let none = t.ok(&["list", "--registry", &reg, "--model-type", "no-such-type"]);
    assert!(!none.contains(N5), "{none}");
    let json: serde_json::Value =
        serde_json::from_str(&t.ok(&["list", "--registry", &reg, "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(t.ok(&["search", "n=5", "--registry", &reg]).contains(N5));
    let (code, _, _) = t.run(&["search", "zebrafish", "--registry", &reg]);
    assert_eq!(code, 1, "no match is exit 1");
    let info = t.ok(&["info", N5, "--registry", &reg]);
    for needle in [
        N5_CID,
        "Kingman",
        "latest",
        "cars/coalescent_n5_theta1.car",
        "unixfs-v1-2025",
    ] {
        assert!(info.contains(needle), "info lacks {needle}: {info}");
    }
    let (code, _, err) = t.run(&["info", "coalescent_n5_theta2", "--registry", &reg]);
    assert_eq!(code, 3);
    assert!(
        err.contains("coalescent_n5_theta2") && err.contains(N5),
        "suggests the near miss: {err}"
    );
}

#[test]
fn every_sample_registry_loads_and_check_names_the_bad_entries() {
    let t = Trove::new();
    let samples = samples_dir().join("phasic-traces");
    for entry in std::fs::read_dir(&samples).unwrap() {
        let path = entry.unwrap().path();
        let p = path.to_str().unwrap();
        let (code, out, err) = t.run(&["list", "--registry", p]);
        assert_eq!(code, 0, "{p}: {err}");
        let (check, found, _) = t.run(&["registry", "check", p]);
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.contains("323a2e7") || name.contains("2.0-") {
            assert_eq!(check, 0, "{name} is clean: {found}");
        } else {
            assert_eq!(check, 1, "{name} has invalid CIDs");
            for id in out
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
            {
                assert!(
                    found.contains(&format!("`{id}`")),
                    "{name}: {id} not named: {found}"
                );
            }
        }
    }
    assert_eq!(t.run(&["registry", "check", &our_registry()]).0, 0);
}

#[test]
fn get_by_id_works_offline_from_the_committed_car() {
    let t = Trove::new();
    let reg = our_registry();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("n5");
    t.ok(&[
        "get",
        N5,
        "--registry",
        &reg,
        "--offline",
        "-o",
        out.to_str().unwrap(),
    ]);
    for file in ["model.json", "sfs.csv", "states.csv", "subintensity.csv"] {
        assert_artifact_file(&out, N5, file);
    }
    // An alias, a version and a file inside the directory.
    let sfs = t
        .cmd()
        .args([
            "get",
            &format!("{N5}@latest/sfs.csv"),
            "--registry",
            &reg,
            "--offline",
            "-o",
            "-",
        ])
        .output()
        .unwrap();
    assert!(sfs.status.success());
    assert_eq!(sfs.stdout, artifact(N5, "sfs.csv"));
    let v1 = dir.path().join("v1.csv");
    t.ok(&[
        "get",
        &format!("{N5}@1/states.csv"),
        "--registry",
        &reg,
        "-o",
        v1.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&v1).unwrap(), artifact(N5, "states.csv"));
    let (code, _, err) = t.run(&["get", &format!("{N5}@nightly"), "--registry", &reg]);
    assert_eq!(code, 3);
    assert!(err.contains("nightly"), "{err}");
    let (code, _, err) = t.run(&[
        "get",
        &format!("{N5}/nope.csv"),
        "--registry",
        &reg,
        "--offline",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("nope.csv"), "{err}");
}

/// A registry whose mirror is an HTTP URL, in a temporary folder.
fn registry_with_mirror(dir: &Path, mirror: &str) -> String {
    let text = std::fs::read_to_string(our_registry()).unwrap();
    let mut reg: serde_json::Value = serde_json::from_str(&text).unwrap();
    for entry in reg["traces"].as_object_mut().unwrap().values_mut() {
        entry["mirrors"] = serde_json::json!([mirror]);
        for v in entry["versions"].as_array_mut().unwrap() {
            v["mirrors"] = serde_json::json!([mirror]);
        }
    }
    let path = dir.join("registry.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&reg).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn get_by_id_through_a_gateway_and_through_an_http_mirror() {
    let car =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("registry/cars/coalescent_n5_theta1.car");
    let work = tempfile::tempdir().unwrap();
    // Gateway: the registry points at a mirror nobody serves; the gateway has the blocks.
    let gw = Gateway::builder().car(&car).log().start();
    let reg = registry_with_mirror(work.path(), "http://127.0.0.1:9/none.car");
    let t = Trove::new();
    let out = work.path().join("via-gateway");
    t.ok(&[
        "get",
        N5,
        "--registry",
        &reg,
        "--source",
        "gateway",
        "--gateway",
        &gw.url,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_artifact_file(&out, N5, "sfs.csv");
    assert!(!gw.requests().is_empty());
    // HTTP mirror: the CAR served as a plain file.
    let files = work.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::copy(&car, files.join("n5.car")).unwrap();
    let server = Gateway::builder().files_dir(&files).start();
    let mirror_dir = work.path().join("m");
    std::fs::create_dir(&mirror_dir).unwrap();
    let reg = registry_with_mirror(&mirror_dir, &format!("{}/files/n5.car", server.url));
    let t = Trove::new();
    let out = work.path().join("via-mirror");
    t.ok(&[
        "get",
        &format!("{N5}@recommended"),
        "--registry",
        &reg,
        "--source",
        "mirror",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_artifact_file(&out, N5, "model.json");
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
}

#[test]
fn registry_2_0_repository_files_are_checked_by_sha256() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path();
    std::fs::create_dir(repo.join("artifacts")).unwrap();
    let good = b"parent graph bytes".to_vec();
    let sha = |b: &[u8]| {
        use sha2::Digest;
        sha2::Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    std::fs::write(repo.join("artifacts/parent.bin"), &good).unwrap();
    std::fs::write(repo.join("artifacts/bad.bin"), b"tampered").unwrap();
    let reg = serde_json::json!({
        "version": "2.0",
        "format": "ptd_pcg",
        "computes": {
            "good_entry": {"graph_hash": "ab", "format_revision": 2, "artifacts": {
                "parent": {"cid_or_path": "artifacts/parent.bin", "sha256": sha(&good), "size_bytes": good.len()}}},
            "bad_entry": {"graph_hash": "cd", "format_revision": 2, "artifacts": {
                "parent": {"cid_or_path": "artifacts/bad.bin", "sha256": sha(&good), "size_bytes": 8}}}
        }
    });
    let reg_path = repo.join("registry.json");
    std::fs::write(&reg_path, serde_json::to_vec(&reg).unwrap()).unwrap();
    let reg_path = reg_path.to_str().unwrap();
    let t = Trove::new();
    let out = work.path().join("out-good");
    t.ok(&[
        "get",
        "good_entry",
        "--registry",
        reg_path,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(out.join("parent.bin")).unwrap(), good);
    let bad = work.path().join("out-bad");
    let (code, _, err) = t.run(&[
        "get",
        "bad_entry",
        "--registry",
        reg_path,
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 4);
    assert!(err.contains("sha256") || err.contains("size"), "{err}");
    assert!(!bad.exists(), "nothing written for a bad artifact");
}

#[test]
fn install_gets_a_collection_and_a_rerun_only_retries_failures() {
    let t = Trove::new();
    let reg = our_registry();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lib");
    let first = t.ok(&[
        "install",
        "coalescent",
        "--registry",
        &reg,
        "--offline",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        first.lines().filter(|l| l.starts_with("ok")).count(),
        2,
        "{first}"
    );
    assert_artifact_file(&out.join(N5), N5, "sfs.csv");
    // Damage one installed copy: the re-run reports it, leaves the other alone, exits 1.
    std::fs::write(out.join(N5).join("sfs.csv"), b"changed").unwrap();
    let (code, again, _) = t.run(&[
        "install",
        "--all",
        "--registry",
        &reg,
        "--offline",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(again.contains("FAILED") && again.contains(N5), "{again}");
    assert!(again.contains("already installed"), "{again}");
    let (code, _, err) = t.run(&[
        "install",
        "no-such-collection",
        "--registry",
        &reg,
        "--offline",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("no-such-collection"), "{err}");
}

#[test]
fn no_registry_configured_is_a_clear_error() {
    let t = Trove::new();
    let (code, _, err) = t.run(&["get", N5]);
    assert_eq!(code, 2);
    assert!(
        err.contains("registry") && err.contains("--registry"),
        "{err}"
    );
    // A mistyped CID is said to be one, registry or not.
    let reg = our_registry();
    for args in [
        vec!["get", "QmNotACid1234567890123456789012345678901234567"],
        vec!["get", "QmNotACid"],
        vec!["get", "QmNotACid", "--registry", &reg],
        vec!["get", "bafyNotACid", "--registry", &reg],
    ] {
        let (code, _, err) = t.run(&args);
        assert_eq!(code, 2);
        assert!(
            err.contains("is not a valid CID") && err.contains("hint: copy the CID whole"),
            "{args:?}: {err}"
        );
    }
    let (_, _, err) = t.run(&["get", "QmNotACid"]);
    assert!(err.contains("46 characters long, not 9"), "{err}");
    // A registry file that is not there is named, with where the path came from.
    let (code, _, err) = t.run(&["get", N5, "--registry", "/nonexistent/registry.json"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("`/nonexistent/registry.json`") && err.contains("hint: check the path"),
        "{err}"
    );
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");
}

/// A registry downloaded into a fresh cache (which creates `registry-v1/` there) and then a get
/// into the same cache: the block store accepts the folder the registry client made first.
#[test]
fn a_downloaded_registry_and_the_block_store_share_a_fresh_cache() {
    let files = tempfile::tempdir().unwrap();
    std::fs::copy(our_registry(), files.path().join("registry.json")).unwrap();
    let cars = files.path().join("cars");
    std::fs::create_dir(&cars).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("registry/cars");
    for car in std::fs::read_dir(root).unwrap() {
        let car = car.unwrap().path();
        std::fs::copy(&car, cars.join(car.file_name().unwrap())).unwrap();
    }
    let server = Gateway::builder().files_dir(files.path()).log().start();
    let url = format!("{}/files/registry.json", server.url);
    let t = Trove::new();
    assert!(t.ok(&["list", "--registry", &url]).contains(N5));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("n5");
    t.ok(&[
        "get",
        N5,
        "--registry",
        &url,
        "--source",
        "mirror",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_artifact_file(&out, N5, "sfs.csv");
    // Within the TTL the registry is not asked again; offline, nothing at all is asked.
    let before = server.requests().len();
    t.ok(&["list", "--registry", &url, "--offline"]);
    assert!(t.ok(&["info", N5, "--registry", &url]).contains(N5_CID));
    let after: Vec<_> = server.requests()[before..].to_vec();
    assert!(
        after
            .iter()
            .all(|r| !r["path"].as_str().unwrap().ends_with("registry.json")),
        "{after:?}"
    );
}
