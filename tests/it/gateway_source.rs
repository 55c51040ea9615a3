//! The trustless-gateway and mirror sources against real `trustless_gateway.py` processes on
//! loopback: what they deliver verifies, and every fault maps to the right `SourceError`.

use crate::support::gateway::Gateway;
use crate::support::{splitmix64_bytes, vector_car, vectors_dir};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use trove::car::{check_dag, import_car, CarReader};
use trove::content::{parse_cid, Cid};
use trove::fetch::gateway::CAR_ACCEPT;
use trove::fetch::{
    ByteStream, GatewaySource, HttpClient, HttpError, HttpOptions, MirrorSource, Source,
    SourceError, SourceKind,
};
use trove::store::MemoryStore;
use trove::unixfs::{ImportParams, Profile};
use trove::Hint as _;

const RAND_1M_V0: &str = "rand-1048576.v0-pb-256k-174.car";
const RAND_1M_V0_ROOT: &str = "QmVL67sWBFHxX6vJps4LzamyYGBBkNEzTuZrdYqwgQBPMv";
const PLANETS_V1: &str = "kubo-sharness-planets.v1-raw-256k-174.car";
const PLANETS_V1_ROOT: &str = "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi";
const RAND_178177_1K: &str = "rand-178177.v0-pb-1k-174.car";
const RAND_178177_1K_ROOT: &str = "QmQEzGbSZ4G6dbWZH2YeTv5SnogAgQ2cPQ9dcULGWEowju";

fn cid(text: &str) -> Cid {
    parse_cid(text).unwrap()
}

fn client() -> HttpClient {
    HttpClient::new(&HttpOptions::default()).unwrap()
}

fn gateway_source(gw: &Gateway) -> GatewaySource {
    GatewaySource::new(&gw.url, &client()).unwrap()
}

async fn read_all(mut stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    out
}

/// Imports a CAR into a fresh store (every block verified) and asserts the DAG under `root` is
/// complete; returns the store and the number of distinct blocks.
fn assert_complete(car: &[u8], root: &Cid) -> (MemoryStore, u64) {
    let store = MemoryStore::new();
    import_car(car, &store).unwrap();
    let status = check_dag(&store, root).unwrap();
    assert!(
        status.is_complete(),
        "{root}: missing {:?}",
        status.first_missing
    );
    (store, status.blocks)
}

/// The CIDs of a CAR's sections, in order.
fn section_order(car: &[u8]) -> Vec<Cid> {
    CarReader::new(car)
        .unwrap()
        .blocks()
        .map(|b| *b.unwrap().cid())
        .collect()
}

fn reference_car(name: &str) -> Vec<u8> {
    std::fs::read(vector_car(name)).unwrap()
}

fn one_kilobyte_chunks() -> ImportParams {
    ImportParams {
        chunker: trove::unixfs::Chunker::Size(1024),
        ..Profile::UnixfsV0_2015.params()
    }
}

#[tokio::test]
async fn gateway_dag_streams_a_car_that_verifies_complete() {
    let gw = Gateway::builder()
        .car(RAND_1M_V0)
        .car(PLANETS_V1)
        .log()
        .start();
    let source = gateway_source(&gw);
    assert_eq!(source.kind(), SourceKind::Gateway);
    assert_eq!(source.describe(), format!("gateway {}", gw.url));
    for (root, blocks) in [(RAND_1M_V0_ROOT, 5), (PLANETS_V1_ROOT, 3)] {
        let root = cid(root);
        let car = read_all(source.dag(&root).await.unwrap()).await;
        let (_, found) = assert_complete(&car, &root);
        assert_eq!(found, blocks, "{root}");
    }
    let requests = gw.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r["accept"], CAR_ACCEPT);
        let path = r["path"].as_str().unwrap();
        assert!(
            path.contains("?format=car&dag-scope=all"),
            "request path {path}"
        );
    }
}

#[tokio::test]
async fn gateway_block_returns_the_blocks_bytes_and_404_is_not_found() {
    let gw = Gateway::with_cars(&[RAND_1M_V0, PLANETS_V1]);
    let source = gateway_source(&gw);
    let car = reference_car(RAND_1M_V0);
    let mut reader = CarReader::new(&car[..]).unwrap();
    while let Some(block) = reader.next_block().unwrap() {
        let got = source.block(block.cid()).await.unwrap();
        assert!(got == block.data(), "block {}", block.cid());
    }
    // A raw leaf (CIDv1) from the other CAR.
    let planets = reference_car(PLANETS_V1);
    let leaf = CarReader::new(&planets[..])
        .unwrap()
        .blocks()
        .map(Result::unwrap)
        .find(|b| b.cid().codec() == 0x55)
        .unwrap();
    assert!(source.block(leaf.cid()).await.unwrap() == leaf.data());
    let absent = cid("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    assert!(matches!(
        source.block(&absent).await,
        Err(SourceError::NotFound)
    ));
    assert!(matches!(
        source.dag(&absent).await,
        Err(SourceError::NotFound)
    ));
}

#[tokio::test]
async fn gateway_entity_bytes_brings_only_the_blocks_of_the_range() {
    let gw = Gateway::with_cars(&[RAND_1M_V0]);
    let source = gateway_source(&gw);
    let root = cid(RAND_1M_V0_ROOT);
    // Bytes 300000..=300009 are in the second 256 KiB leaf: the root and that leaf.
    let car = read_all(
        source
            .entity_bytes(&root, 300_000, Some(300_009))
            .await
            .unwrap(),
    )
    .await;
    let order = section_order(&car);
    let reference = section_order(&reference_car(RAND_1M_V0));
    assert_eq!(order, vec![reference[0], reference[2]]);
    let car = read_all(source.entity_bytes(&root, 0, None).await.unwrap()).await;
    assert_complete(&car, &root);
}

#[tokio::test]
async fn gateway_faults_map_to_source_errors() {
    let root = cid(RAND_1M_V0_ROOT);
    let start = |fault: &str| Gateway::builder().car(RAND_1M_V0).fault(fault).start();

    let gw = start("notfound");
    let source = gateway_source(&gw);
    assert!(matches!(
        source.dag(&root).await,
        Err(SourceError::NotFound)
    ));
    assert!(matches!(
        source.block(&root).await,
        Err(SourceError::NotFound)
    ));

    let gw = start("429");
    let source = gateway_source(&gw);
    for result in [
        source.dag(&root).await.map(|_| ()),
        source.block(&root).await.map(|_| ()),
    ] {
        match result {
            Err(SourceError::Transient { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(1)))
            }
            other => panic!("429: {other:?}"),
        }
    }

    let gw = start("500");
    let source = gateway_source(&gw);
    match source.block(&root).await {
        Err(e @ SourceError::Transient { .. }) => {
            assert!(e.to_string().contains("500"), "{e}");
            assert!(e.to_string().contains("internal error"), "{e}");
        }
        other => panic!("500: {other:?}"),
    }
    assert!(matches!(
        source.dag(&root).await,
        Err(SourceError::Transient { .. })
    ));

    for (fault, expect) in [
        ("wrong-ctype", "application/octet-stream"),
        ("html200", "HTML"),
        ("redirect-loop", "redirect"),
    ] {
        let gw = start(fault);
        let source = gateway_source(&gw);
        for result in [
            source.dag(&root).await.map(|_| ()),
            source.block(&root).await.map(|_| ()),
        ] {
            match result {
                Err(SourceError::Misbehaved(m)) => assert!(m.contains(expect), "{fault}: {m}"),
                other => panic!("{fault}: {other:?}"),
            }
        }
    }

    let gw = start("oversize");
    let source = gateway_source(&gw);
    match source.block(&root).await {
        Err(SourceError::Misbehaved(m)) => assert!(m.contains("beyond the maximum"), "{m}"),
        other => panic!("oversize: {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_gateway_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let source = GatewaySource::new(&format!("http://127.0.0.1:{port}"), &client()).unwrap();
    match source.block(&cid(RAND_1M_V0_ROOT)).await {
        Err(SourceError::Unavailable(m)) => assert!(m.contains("refused"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn plain_http_to_a_public_host_is_refused_when_the_source_is_built() {
    let strict = client();
    for url in ["http://example.org", "http://8.8.8.8:8080/prefix/"] {
        match GatewaySource::new(url, &strict) {
            Err(e @ HttpError::InsecureUrl { .. }) => {
                assert!(e.to_string().contains(url), "{e}");
                assert!(e.hint().unwrap().contains("https://"));
            }
            other => panic!("{url}: {other:?}"),
        }
        assert!(MirrorSource::new(url, &strict, &Default::default(), None, "/tmp".into()).is_err());
    }
    for url in [
        "https://example.org",
        "http://127.0.0.1:8080",
        "http://localhost:8080/",
        "http://192.168.1.2/",
        "http://[::1]:8080",
    ] {
        assert!(GatewaySource::new(url, &strict).is_ok(), "{url}");
    }
    let lenient = HttpClient::new(&HttpOptions {
        allow_insecure: true,
        ..HttpOptions::default()
    })
    .unwrap();
    assert!(GatewaySource::new("http://example.org", &lenient).is_ok());
    assert!(matches!(
        GatewaySource::new("ftp://example.org", &lenient),
        Err(HttpError::UnsupportedScheme { .. })
    ));
}

/// A folder of files for `--files-dir`, and a download folder.
struct MirrorFixture {
    files: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

impl MirrorFixture {
    fn new() -> Self {
        MirrorFixture {
            files: tempfile::tempdir().unwrap(),
            downloads: tempfile::tempdir().unwrap(),
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.files.path().join(name), bytes).unwrap();
    }

    fn gateway(&self) -> Gateway {
        Gateway::builder()
            .files_dir(self.files.path())
            .log()
            .start()
    }

    fn mirror(&self, gw: &Gateway, name: &str, params: Option<ImportParams>) -> MirrorSource {
        MirrorSource::new(
            &format!("{}/files/{name}", gw.url),
            &client(),
            &Default::default(),
            params,
            self.downloads.path().to_path_buf(),
        )
        .unwrap()
    }

    fn downloads_left(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.downloads.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

#[tokio::test]
async fn mirror_serves_car_files_v1_and_v2() {
    let fx = MirrorFixture::new();
    fx.put("a.car", &reference_car(RAND_1M_V0));
    let v2 = std::fs::read(vectors_dir().join("fixtures/go-car/v2/testdata/sample-unixfs-v2.car"))
        .unwrap();
    fx.put("b.car", &v2);
    let gw = fx.gateway();

    let mirror = fx.mirror(&gw, "a.car", None);
    assert_eq!(mirror.kind(), SourceKind::Mirror);
    assert!(matches!(
        mirror.block(&cid(RAND_1M_V0_ROOT)).await,
        Err(SourceError::Unsupported)
    ));
    let car = read_all(mirror.dag(&cid(RAND_1M_V0_ROOT)).await.unwrap()).await;
    assert!(
        car == reference_car(RAND_1M_V0),
        "a CAR is passed on as it is"
    );
    assert_complete(&car, &cid(RAND_1M_V0_ROOT));

    let root = cid("bafybeiakgrehdxxgy5kca72znt6jllrj2sqkehtqeojfuxlbeuqg3vfkwq");
    let car = read_all(fx.mirror(&gw, "b.car", None).dag(&root).await.unwrap()).await;
    assert_complete(&car, &root);
    assert!(fx.downloads_left().is_empty(), "{:?}", fx.downloads_left());

    let missing = fx.mirror(&gw, "nope.car", None);
    assert!(matches!(
        missing.dag(&root).await,
        Err(SourceError::NotFound)
    ));
}

#[tokio::test]
async fn mirror_raw_file_becomes_the_dag_in_export_order() {
    let fx = MirrorFixture::new();
    fx.put("rand-1m.bin", &splitmix64_bytes(1_048_576, 1_048_576));
    fx.put("rand-178177.bin", &splitmix64_bytes(178_177, 178_177));
    fx.put("empty.bin", b"");
    let gw = fx.gateway();

    // Byte for byte the reference CAR (`ipfs dag export` order), for a one-level and a two-level
    // tree (175 leaves of 1 KiB under 174-link nodes).
    for (file, params, car_name, root) in [
        (
            "rand-1m.bin",
            Profile::UnixfsV0_2015.params(),
            RAND_1M_V0,
            RAND_1M_V0_ROOT,
        ),
        (
            "rand-178177.bin",
            one_kilobyte_chunks(),
            RAND_178177_1K,
            RAND_178177_1K_ROOT,
        ),
        (
            "empty.bin",
            Profile::UnixfsV0_2015.params(),
            "rand-0.v0-pb-256k-174.car",
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
        ),
    ] {
        let mirror = fx.mirror(&gw, file, Some(params));
        let car = read_all(mirror.dag(&cid(root)).await.unwrap()).await;
        assert_complete(&car, &cid(root));
        assert!(
            car == reference_car(car_name),
            "{file}: not the reference CAR"
        );
    }
    assert!(fx.downloads_left().is_empty(), "{:?}", fx.downloads_left());

    // A sub-DAG: the second node under the root of the two-level tree (one leaf).
    let reference = reference_car(RAND_178177_1K);
    let order = section_order(&reference);
    let store = MemoryStore::new();
    import_car(&reference[..], &store).unwrap();
    let root_links = trove::dag::links(&order[0], &reference_block(&reference, &order[0])).unwrap();
    assert_eq!(root_links.len(), 2);
    let mirror = fx.mirror(&gw, "rand-178177.bin", Some(one_kilobyte_chunks()));
    let car = read_all(mirror.dag(&root_links[1]).await.unwrap()).await;
    let (_, blocks) = assert_complete(&car, &root_links[1]);
    assert_eq!(blocks, 2);
    assert_eq!(section_order(&car).len(), 2);
}

/// A raw file whose registry profile cuts by buzhash: the leaves (of sizes of their own) are
/// cut from the download at the offsets the import found, and the CAR is `trove car export`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_raw_file_with_content_defined_chunks() {
    let fx = MirrorFixture::new();
    let bytes = splitmix64_bytes(77, 3_000_000);
    fx.put("cdc.bin", &bytes);
    let gw = fx.gateway();
    let params = Profile::UnixfsV1_2025Buzhash.params();
    let (root, blocks) = trove::unixfs::import_bytes(&params, &bytes);
    assert!(blocks.len() > 8, "several leaves of varying size");
    let mirror = fx.mirror(&gw, "cdc.bin", Some(params));
    let car = read_all(mirror.dag(&root.cid).await.unwrap()).await;
    let (store, n) = assert_complete(&car, &root.cid);
    assert_eq!(n as usize, blocks.len());
    let mut out = Vec::new();
    trove::unixfs::Reader::new(&store)
        .read_file(&root.cid, 0, None, &mut out)
        .unwrap();
    assert_eq!(out, bytes);
}

fn reference_block(car: &[u8], cid: &Cid) -> Vec<u8> {
    CarReader::new(car)
        .unwrap()
        .blocks()
        .map(Result::unwrap)
        .find(|b| b.cid() == cid)
        .unwrap()
        .into_data()
}

#[tokio::test]
async fn mirror_raw_file_with_wrong_params_is_corrupt_and_without_params_misbehaves() {
    let fx = MirrorFixture::new();
    fx.put("rand-1m.bin", &splitmix64_bytes(1_048_576, 1_048_576));
    let gw = fx.gateway();
    let root = cid(RAND_1M_V0_ROOT);

    // Bytes that do not give the CID are wrong bytes (an integrity failure); a file that
    // cannot be checked at all is the mirror's misbehaviour.
    let wrong = fx.mirror(&gw, "rand-1m.bin", Some(Profile::UnixfsV1_2025.params()));
    match wrong.dag(&root).await {
        Err(SourceError::Corrupt(m)) => {
            assert!(m.contains("does not match CID"), "{m}");
            assert!(m.contains(RAND_1M_V0_ROOT), "{m}");
        }
        Ok(_) => panic!("wrong params accepted"),
        Err(e) => panic!("{e:?}"),
    }
    assert!(fx.downloads_left().is_empty(), "a wrong file is not kept");

    let none = fx.mirror(&gw, "rand-1m.bin", None);
    match none.dag(&root).await {
        Err(SourceError::Misbehaved(m)) => assert!(m.contains("UnixFS profile"), "{m}"),
        Ok(_) => panic!("unverifiable file accepted"),
        Err(e) => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn mirror_resumes_a_partial_download_with_a_range_request() {
    let fx = MirrorFixture::new();
    let content = splitmix64_bytes(1_048_576, 1_048_576);
    fx.put("rand-1m.bin", &content);
    let gw = fx.gateway();
    let etag = client()
        .reqwest()
        .head(format!("{}/files/rand-1m.bin", gw.url))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let root = cid(RAND_1M_V0_ROOT);

    // Part of the file, as an interrupted download leaves it.
    let mirror = fx.mirror(&gw, "rand-1m.bin", Some(Profile::UnixfsV0_2015.params()));
    write_partial(&mirror, &content[..300_000], &etag);
    let car = read_all(mirror.dag(&root).await.unwrap()).await;
    assert!(car == reference_car(RAND_1M_V0));
    // All of the file: the server answers 416 and the part file is used as it is.
    write_partial(&mirror, &content, &etag);
    let car = read_all(mirror.dag(&root).await.unwrap()).await;
    assert!(car == reference_car(RAND_1M_V0));
    assert!(fx.downloads_left().is_empty(), "{:?}", fx.downloads_left());

    let statuses: Vec<u64> = gw
        .requests()
        .iter()
        .filter(|r| r["path"] == "/files/rand-1m.bin" && r["method"] == "GET")
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![206, 416], "the downloads asked for ranges");

    // Without a saved ETag the part file is not trusted: a full download.
    write_partial(&mirror, &content[..1000], "");
    std::fs::remove_file(mirror.etag_path()).unwrap();
    let car = read_all(mirror.dag(&root).await.unwrap()).await;
    assert!(car == reference_car(RAND_1M_V0));
    assert_eq!(gw.requests().last().unwrap()["status"], 200);
}

fn write_partial(mirror: &MirrorSource, bytes: &[u8], etag: &str) {
    std::fs::write(mirror.part_path(), bytes).unwrap();
    std::fs::write(mirror.etag_path(), etag).unwrap();
}
