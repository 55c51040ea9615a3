//! Object storage (issue 14, item 4) against a real S3-compatible server process (moto's server
//! mode, `support::s3`): registry mirrors at `s3://` URLs holding a CAR, the raw file or an
//! archive complete `trove get ID --source mirror --endpoint URL`; a missing object is "not
//! found" (exit 3), wrong bytes are refused (exit 4) with nothing stored, refused credentials
//! are named; an interrupted download resumes with a ranged read on the object's ETag; and
//! `trove publish --upload s3://…` writes the CAR (read back with boto3) and records it as a
//! mirror that a fresh cache then fetches from.

use crate::support::s3::{S3Server, AWS_ENV};
use crate::support::{output, splitmix64_bytes, Trove};
use std::path::{Path, PathBuf};
use std::process::Command;
use trove::content::parse_cid;
use trove::fetch::{HttpClient, HttpOptions, MirrorSource, Source, SourceError};
use trove::objects::ObjectStoreConfig;
use trove::unixfs::Profile;

const BUCKET: &str = "trove-data";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder with a file of several chunks.
fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    std::fs::create_dir_all(root.join("raw")).unwrap();
    std::fs::write(root.join("README.md"), b"# s3 traces\n").unwrap();
    std::fs::write(root.join("raw/trace.bin"), splitmix64_bytes(41, 2_300_000)).unwrap();
    root
}

/// `trove ARGS…` with the S3 test credentials.
fn trove(t: &Trove, args: &[&str]) -> (i32, String, String) {
    let mut cmd = t.cmd();
    cmd.args(args);
    for (k, v) in AWS_ENV {
        cmd.env(k, v);
    }
    output(&mut cmd)
}

/// A registry whose entry `obj` (profile unixfs-v1-2025) has `mirror` as its only mirror.
fn registry(dir: &Path, name: &str, cid: &str, mirror: &str) -> String {
    let reg = serde_json::json!({
        "version": "1.0",
        "traces": {"obj": {
            "cid": cid, "description": "object storage test", "license": "CC0-1.0",
            "profile": "unixfs-v1-2025", "mirrors": [mirror],
        }}
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&reg).unwrap()).unwrap();
    s(&path).to_string()
}

#[test]
fn s3_mirrors_serve_cars_raw_files_and_archives() {
    let work = tempfile::tempdir().unwrap();
    let src = tree(work.path());
    let maker = Trove::new();
    let cid = maker.ok(&["add", "-Q", "--profile", "unixfs-v1-2025", s(&src)]);
    let file_cid = maker.ok(&[
        "add",
        "-Q",
        "--profile",
        "unixfs-v1-2025",
        s(&src.join("raw/trace.bin")),
    ]);
    let car = work.path().join("data.car");
    maker.ok(&[
        "car",
        "export",
        s(&src),
        "-o",
        s(&car),
        "--profile",
        "unixfs-v1-2025",
    ]);
    let archive = work.path().join("data.tar.gz");
    let status = Command::new("tar")
        .args(["czf", s(&archive), "-C", s(work.path()), "data"])
        .status()
        .unwrap();
    assert!(status.success());
    let tampered = work.path().join("tampered.bin");
    let mut bytes = std::fs::read(src.join("raw/trace.bin")).unwrap();
    bytes[1_500_000] ^= 1;
    std::fs::write(&tampered, &bytes).unwrap();
    let Some(server) = S3Server::start(
        &[BUCKET],
        &[
            ("trove-data/runs/data.car", &car),
            ("trove-data/runs/data.tar.gz", &archive),
            ("trove-data/raw/trace.bin", &src.join("raw/trace.bin")),
            ("trove-data/raw/tampered.bin", &tampered),
        ],
    ) else {
        return;
    };
    for (key, target, expected) in [
        ("runs/data.car", &cid, src.clone()),
        ("runs/data.tar.gz", &cid, src.clone()),
        ("raw/trace.bin", &file_cid, src.join("raw/trace.bin")),
    ] {
        let reg = registry(work.path(), "ok", target, &format!("s3://{BUCKET}/{key}"));
        let t = Trove::new();
        let out = work.path().join(format!("out-{}", key.replace('/', "-")));
        let (code, _, err) = trove(
            &t,
            &[
                "get",
                "obj",
                "--registry",
                &reg,
                "--source",
                "mirror",
                "--endpoint",
                &server.url,
                "-o",
                s(&out),
            ],
        );
        assert_eq!(code, 0, "{key}: {err}");
        if expected.is_dir() {
            crate::support::assert_same_tree(&expected, &out);
        } else {
            assert!(std::fs::read(&out).unwrap() == std::fs::read(&expected).unwrap());
        }
        assert_eq!(t.run(&["cache", "verify"]).0, 0, "{key}");
    }
    // A key that does not exist: not found (exit 3).
    let reg = registry(
        work.path(),
        "missing",
        &cid,
        &format!("s3://{BUCKET}/runs/none.car"),
    );
    let t = Trove::new();
    let (code, _, err) = trove(
        &t,
        &[
            "get",
            "obj",
            "--registry",
            &reg,
            "--source",
            "mirror",
            "--endpoint",
            &server.url,
        ],
    );
    assert_eq!(code, 3, "{err}");
    // Wrong bytes: refused as an integrity failure, nothing stored.
    let reg = registry(
        work.path(),
        "tampered",
        &file_cid,
        &format!("s3://{BUCKET}/raw/tampered.bin"),
    );
    let out = work.path().join("tampered-out");
    let (code, _, err) = trove(
        &t,
        &[
            "get",
            "obj",
            "--registry",
            &reg,
            "--source",
            "mirror",
            "--endpoint",
            &server.url,
            "-o",
            s(&out),
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("does not match"), "{err}");
    assert!(!out.exists());
    assert_eq!(t.run(&["get", &file_cid, "--offline"]).0, 5);
    // Without --endpoint the URL goes to AWS itself, where nothing answers here: the failure
    // names the mirror and says how to point trove at the store.
    let mut cmd = t.cmd();
    cmd.args([
        "get",
        "obj",
        "--registry",
        &reg,
        "--source",
        "mirror",
        "--timeout",
        "20s",
    ]);
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let (code, _, err) = output(&mut cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("s3://{BUCKET}/raw/tampered.bin")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_s3_download_resumes_on_the_objects_etag() {
    let work = tempfile::tempdir().unwrap();
    let data = splitmix64_bytes(77, 3_000_000);
    let file = work.path().join("trace.bin");
    std::fs::write(&file, &data).unwrap();
    let Some(server) = S3Server::start(&[BUCKET], &[("trove-data/trace.bin", &file)]) else {
        return;
    };
    let params = Profile::UnixfsV1_2025.params();
    let cid = trove::import::import_path(
        &file,
        &params,
        &trove::import::Discard,
        &trove::progress::Silent,
    )
    .unwrap()
    .cid;
    let vars: Vec<(String, String)> = AWS_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let objects = ObjectStoreConfig::new(&vars, None, None, Some(&server.url));
    let client = HttpClient::new(&HttpOptions::default()).unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let mirror = || {
        MirrorSource::new(
            &format!("s3://{BUCKET}/trace.bin"),
            &client,
            &objects,
            Some(params),
            downloads.path().to_path_buf(),
        )
        .unwrap()
    };
    let etag = server_etag(&server);
    // A part file that is not the object's first bytes, kept under the object's ETag: a
    // download that resumes keeps it (and the result is wrong bytes); one that starts over
    // would not.
    let m = mirror();
    std::fs::write(m.part_path(), vec![0u8; 1_000_000]).unwrap();
    std::fs::write(m.etag_path(), &etag).unwrap();
    match m.dag(&cid).await {
        Err(SourceError::Corrupt(why)) => assert!(why.contains("does not match"), "{why}"),
        Err(other) => panic!("expected wrong bytes from a resumed download, got {other}"),
        Ok(_) => panic!("a resumed download with a wrong prefix cannot match"),
    }
    // The right first bytes under the ETag: resumed, complete, and it matches.
    let m = mirror();
    std::fs::write(m.part_path(), &data[..1_000_000]).unwrap();
    std::fs::write(m.etag_path(), &etag).unwrap();
    let car = read_all(m.dag(&cid).await.expect("resumed download")).await;
    let roots = trove::car::CarReader::new(std::io::Cursor::new(&car))
        .unwrap()
        .roots()
        .to_vec();
    assert_eq!(roots, vec![cid]);
    assert!(
        !m.part_path().exists(),
        "the download is removed once passed on"
    );
    // A part file kept under an ETag the object no longer has: started over, and it matches.
    let m = mirror();
    std::fs::write(m.part_path(), vec![0u8; 1_000_000]).unwrap();
    std::fs::write(m.etag_path(), "\"stale-etag\"").unwrap();
    let car = read_all(m.dag(&cid).await.expect("fresh download")).await;
    assert!(!car.is_empty());
    assert!(parse_cid(&cid.to_string()).is_ok());
}

/// The object's ETag, as the store reports it (through trove's object-store code).
fn server_etag(server: &S3Server) -> String {
    let vars: Vec<(String, String)> = AWS_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let objects = ObjectStoreConfig::new(&vars, None, None, Some(&server.url));
    let location =
        trove::objects::ObjectLocation::open(&format!("s3://{BUCKET}/trace.bin"), &objects)
            .unwrap();
    let runtime = tokio::runtime::Handle::current();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                runtime
                    .block_on(location.read_from(0, None))
                    .unwrap()
                    .etag
                    .expect("S3 sends an ETag")
            })
            .join()
            .unwrap()
    })
}

async fn read_all(mut stream: trove::fetch::ByteStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    out
}

#[test]
fn publish_uploads_the_car_to_s3_and_records_it_as_a_mirror() {
    let work = tempfile::tempdir().unwrap();
    let src = tree(work.path());
    let Some(server) = S3Server::start(&[BUCKET], &[]) else {
        return;
    };
    let reg = work.path().join("registry.json");
    let publisher = Trove::new();
    let (code, out, err) = trove(
        &publisher,
        &[
            "publish",
            s(&src),
            "--id",
            "uploaded",
            "--no-daemon",
            "--registry-file",
            s(&reg),
            "--description",
            "uploaded to S3",
            "--license",
            "CC0-1.0",
            "--upload",
            &format!("s3://{BUCKET}/published"),
            "--endpoint",
            &server.url,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let cid = out.trim().to_string();
    let key = format!("published/{cid}.car");
    // boto3 reads back a CAR of the content.
    let object = server.get(BUCKET, &key).expect("the CAR was uploaded");
    let reader = trove::car::CarReader::new(std::io::Cursor::new(&object)).unwrap();
    assert_eq!(reader.roots()[0].to_string(), cid);
    assert_eq!(
        server.list(BUCKET),
        vec![(key.clone(), object.len() as u64)]
    );
    // The entry lists it as a mirror, and a fresh cache gets the content from it alone.
    let text = std::fs::read_to_string(&reg).unwrap();
    let mirror = format!("s3://{BUCKET}/{key}");
    assert!(text.contains(&mirror), "{text}");
    let t = Trove::new();
    let out = work.path().join("fetched");
    let (code, _, err) = trove(
        &t,
        &[
            "get",
            "uploaded",
            "--registry",
            s(&reg),
            "--source",
            "mirror",
            "--endpoint",
            &server.url,
            "-o",
            s(&out),
        ],
    );
    assert_eq!(code, 0, "{err}");
    crate::support::assert_same_tree(&src, &out);
    // `--upload` with a bad URL fails before anything is done, naming the flag's form.
    let (code, _, err) = trove(
        &publisher,
        &[
            "publish",
            s(&src),
            "--id",
            "other",
            "--no-daemon",
            "--registry-file",
            s(&reg),
            "--description",
            "x",
            "--license",
            "CC0-1.0",
            "--upload",
            "https://example.org/x",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s3://BUCKET"), "{err}");
    assert!(!std::fs::read_to_string(&reg).unwrap().contains("\"other\""));
}
