//! `trove publish --release OWNER/REPO@TAG` (issue 14, item 5) against the recording fake forge
//! (an in-process fake: no real GitHub API can run here). Publishing an archive makes the
//! release, uploads the CAR (`<cid>.car`) and the archive as assets with the token, records the
//! addresses the API returned as the entry's mirrors, and a fresh cache then gets the content
//! from either asset alone (the archive one through the archive-mirror path). A second publish
//! to the same tag keeps the CAR asset, refuses to overwrite the archive without `--force` and replaces it with
//! it; without a token nothing is sent.

use crate::support::forge::{FakeForge, ForgeConfig};
use crate::support::{output, splitmix64_bytes, Trove};
use std::path::Path;
use std::process::Command;

const TOKEN: &str = "ghp_release_token_123";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn forge() -> FakeForge {
    FakeForge::start(ForgeConfig {
        owner: "lab".into(),
        repo: "traces".into(),
        user: "alice".into(),
        upstream_clone_url: "file:///nonexistent/upstream.git".into(),
        fork_clone_url: "file:///nonexistent/fork.git".into(),
        default_branch: "main".into(),
    })
}

fn publish(t: &Trove, args: &[&str], token: Option<&str>) -> (i32, String, String) {
    let mut cmd = t.cmd();
    cmd.arg("publish").args(args);
    cmd.env_remove("GITHUB_TOKEN")
        .env_remove("TROVE_GITHUB_TOKEN");
    if let Some(token) = token {
        cmd.env("TROVE_GITHUB_TOKEN", token);
    }
    output(&mut cmd)
}

/// A registry with the entry `id` of `file` but only the mirror `mirror`.
fn only_mirror(file: &Path, id: &str, mirror: &str, dir: &Path) -> String {
    let mut reg: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let entry = &mut reg["traces"][id];
    entry["mirrors"] = serde_json::json!([mirror]);
    if let Some(versions) = entry["versions"].as_array_mut() {
        for v in versions {
            v["mirrors"] = serde_json::json!([mirror]);
        }
    }
    let path = dir.join(format!("only-{}.json", mirror.len()));
    std::fs::write(&path, serde_json::to_vec_pretty(&reg).unwrap()).unwrap();
    s(&path).to_string()
}

#[test]
fn publish_attaches_the_car_and_the_archive_to_a_release_and_records_them_as_mirrors() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir_all(data.join("raw")).unwrap();
    std::fs::write(data.join("README.md"), b"# release traces\n").unwrap();
    std::fs::write(data.join("raw/trace.bin"), splitmix64_bytes(5, 1_500_000)).unwrap();
    let archive = work.path().join("traces-v1.tar.gz");
    let status = Command::new("tar")
        .args(["czf", s(&archive), "-C", s(work.path()), "data"])
        .status()
        .unwrap();
    assert!(status.success());
    let forge = forge();
    let reg = work.path().join("registry.json");
    let common = [
        "--no-daemon",
        "--registry-file",
        s(&reg),
        "--description",
        "traces attached to a release",
        "--license",
        "CC0-1.0",
        "--api-url",
        &forge.url,
        "--release",
        "lab/traces@v1",
    ];
    // Without a token: refused before anything is sent or written.
    let t = Trove::new();
    let mut args = vec![s(&archive), "--id", "released"];
    args.extend(common);
    let (code, _, err) = publish(&t, &args, None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TROVE_GITHUB_TOKEN"), "{err}");
    assert!(forge.requests().is_empty());
    assert!(!reg.exists());

    let (code, out, err) = publish(&t, &args, Some(TOKEN));
    assert_eq!(code, 0, "{err}");
    let cid = out.trim().to_string();
    assert!(err.contains("created the release lab/traces@v1"), "{err}");
    // The release was made, both assets uploaded with the token.
    assert_eq!(
        forge
            .requests_to("POST", "/repos/lab/traces/releases")
            .len(),
        1
    );
    let uploads: Vec<_> = forge
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/uploads/"))
        .collect();
    assert_eq!(uploads.len(), 2);
    for u in &uploads {
        assert_eq!(u.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
        assert_eq!(u.header("content-type"), Some("application/octet-stream"));
    }
    let assets = forge.assets("v1");
    let names: Vec<&str> = assets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![format!("{cid}.car").as_str(), "traces-v1.tar.gz"]
    );
    assert!(
        assets[1].1 == std::fs::read(&archive).unwrap(),
        "the archive as published"
    );
    // The entry records the addresses the API returned.
    let text = std::fs::read_to_string(&reg).unwrap();
    let car_url = format!("{}/download/lab/traces/v1/{cid}.car", forge.url);
    let archive_url = format!("{}/download/lab/traces/v1/traces-v1.tar.gz", forge.url);
    assert!(
        text.contains(&car_url) && text.contains(&archive_url),
        "{text}"
    );
    assert!(!text.contains("github.com/lab"), "{text}");
    // A fresh cache gets the content from either asset alone.
    for mirror in [&car_url, &archive_url] {
        let only = only_mirror(&reg, "released", mirror, work.path());
        let fresh = Trove::new();
        let out = work.path().join(format!("got-{}", mirror.len()));
        let (code, _, err) = fresh.run(&[
            "get",
            "released",
            "--registry",
            &only,
            "--source",
            "mirror",
            "-o",
            s(&out),
        ]);
        assert_eq!(code, 0, "{mirror}: {err}");
        crate::support::assert_same_tree(&data, &out);
    }

    // Again into another registry under the same tag: the CAR asset (named by its CID) is
    // kept; the archive asset is not overwritten without --force, and nothing is recorded.
    let reg = work.path().join("other-registry.json");
    std::fs::write(&reg, br#"{"version": "1.0", "traces": {}}"#).unwrap();
    let before = std::fs::read(&reg).unwrap();
    let mut again = vec![s(&archive), "--id", "released"];
    again.extend(common);
    let at = again.iter().position(|a| *a == "--registry-file").unwrap() + 1;
    again[at] = s(&reg);
    let (code, _, err) = publish(&t, &again, Some(TOKEN));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already has an asset `traces-v1.tar.gz`"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&reg).unwrap(), before);
    again.push("--force");
    let (code, _, err) = publish(&t, &again, Some(TOKEN));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("kept `{cid}.car`")), "{err}");
    assert!(err.contains("replaced `traces-v1.tar.gz`"), "{err}");
    assert_eq!(forge.assets("v1").len(), 2);
    assert_eq!(
        forge
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE")
            .count(),
        1
    );
}
