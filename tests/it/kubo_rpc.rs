//! The local-daemon tier: finding the daemon (flag > IPFS_API > api file > default), and the
//! Kubo RPC source against a real js-ipfs daemon (an independent implementation of the API).
//! One js-ipfs daemon serves every test here ([`JsIpfs::shared`]).

use crate::support::jsipfs::{self, free_port, JsIpfs};
use crate::support::{peer_tool, splitmix64_bytes, vector_car};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use trove::content::{cid_of, parse_cid, verify, HashCode, DAG_PB, RAW};
use trove::fetch::kubo::{
    discover_api_candidates, multiaddr_to_url, parse_api_address, ApiCandidate, ApiOrigin,
    DaemonImplementation, KuboError, KuboRpcSource,
};
use trove::fetch::{Source, SourceError, SourceKind};
use trove::store::MemoryStore;
use trove::Hint as _;
use url::Url;

const PLANETS: &str = "kubo-sharness-planets.v1-raw-256k-174.car";
const PLANETS_ROOT: &str = "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi";
const RAND_1M: &str = "rand-1048576.v0-pb-256k-174.car";
const RAND_1M_ROOT: &str = "QmVL67sWBFHxX6vJps4LzamyYGBBkNEzTuZrdYqwgQBPMv";

fn urls(candidates: &[ApiCandidate]) -> Vec<(&str, ApiOrigin)> {
    candidates
        .iter()
        .map(|c| (c.url.as_str(), c.origin.clone()))
        .collect()
}

fn candidate(url: &str, origin: ApiOrigin) -> ApiCandidate {
    ApiCandidate {
        url: parse_api_address(url).unwrap(),
        origin,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn write_api_file(repo: &Path, text: &str) {
    std::fs::create_dir_all(repo).unwrap();
    std::fs::write(repo.join("api"), text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Discovery: pure functions of their inputs.

#[test]
fn discovery_order_is_flag_then_ipfs_api_then_api_file_then_default() {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("custom-repo");
    write_api_file(&repo, "/ip4/127.0.0.1/tcp/5003\n");
    let all = discover_api_candidates(
        Some("http://127.0.0.1:5001/api/v0/"),
        Some("/ip4/127.0.0.1/tcp/5002"),
        Some(&repo),
        Some(home.path()),
    )
    .unwrap();
    assert_eq!(
        urls(&all),
        vec![
            ("http://127.0.0.1:5001/", ApiOrigin::Flag),
            ("http://127.0.0.1:5002/", ApiOrigin::Env),
            (
                "http://127.0.0.1:5003/",
                ApiOrigin::ApiFile(repo.join("api"))
            ),
        ],
        "the default equals the flag's address, so it is listed once, as the flag"
    );
    assert_eq!(
        all[2].to_string(),
        format!(
            "http://127.0.0.1:5003 (from `{}`)",
            repo.join("api").display()
        )
    );

    // Without flag and environment: the api file in IPFS_PATH, then the default.
    let all = discover_api_candidates(None, Some("  "), Some(&repo), Some(home.path())).unwrap();
    assert_eq!(
        urls(&all),
        vec![
            (
                "http://127.0.0.1:5003/",
                ApiOrigin::ApiFile(repo.join("api"))
            ),
            ("http://127.0.0.1:5001/", ApiOrigin::Default),
        ]
    );
    assert_eq!(
        all[1].to_string(),
        "http://127.0.0.1:5001 (from the default address)"
    );

    // IPFS_PATH unset: ~/.ipfs/api; no api file there: only the default.
    let all = discover_api_candidates(None, None, None, Some(home.path())).unwrap();
    assert_eq!(
        urls(&all),
        vec![("http://127.0.0.1:5001/", ApiOrigin::Default)]
    );
    write_api_file(&home.path().join(".ipfs"), "/ip4/127.0.0.1/tcp/45999/http");
    let all = discover_api_candidates(None, None, None, Some(home.path())).unwrap();
    assert_eq!(
        urls(&all),
        vec![
            (
                "http://127.0.0.1:45999/",
                ApiOrigin::ApiFile(home.path().join(".ipfs/api"))
            ),
            ("http://127.0.0.1:5001/", ApiOrigin::Default),
        ]
    );
    // `~` in IPFS_PATH means the home directory, as in Kubo.
    let all =
        discover_api_candidates(None, None, Some(Path::new("~/.ipfs")), Some(home.path())).unwrap();
    assert_eq!(all[0].url.as_str(), "http://127.0.0.1:45999/");
    // Nothing known at all: the default.
    let all = discover_api_candidates(None, None, None, None).unwrap();
    assert_eq!(
        urls(&all),
        vec![("http://127.0.0.1:5001/", ApiOrigin::Default)]
    );
    // An empty api file (a daemon writing it) is skipped.
    write_api_file(&repo, "");
    let all = discover_api_candidates(None, None, Some(&repo), None).unwrap();
    assert_eq!(
        urls(&all),
        vec![("http://127.0.0.1:5001/", ApiOrigin::Default)]
    );
}

#[test]
fn multiaddrs_and_urls_become_base_urls() {
    for (input, expected) in [
        ("/ip4/127.0.0.1/tcp/5001", "http://127.0.0.1:5001/"),
        ("/ip4/127.0.0.1/tcp/5001/", "http://127.0.0.1:5001/"),
        ("/ip4/127.0.0.1/tcp/45001/http", "http://127.0.0.1:45001/"),
        ("/ip4/10.0.0.7/tcp/5001/https", "https://10.0.0.7:5001/"),
        ("/ip4/10.0.0.7/tcp/443/tls/http", "https://10.0.0.7/"),
        ("/ip4/0.0.0.0/tcp/5001", "http://127.0.0.1:5001/"),
        ("/ip6/::1/tcp/5001", "http://[::1]:5001/"),
        ("/ip6/::/tcp/5001/http", "http://[::1]:5001/"),
        ("/ip6/fe80::1/tcp/5001", "http://[fe80::1]:5001/"),
        ("/dns4/localhost/tcp/5001", "http://localhost:5001/"),
        (
            "/dns/IPFS.example.org/tcp/5001/https",
            "https://ipfs.example.org:5001/",
        ),
        ("/dns6/node.lan/tcp/5001", "http://node.lan:5001/"),
        ("  /ip4/127.0.0.1/tcp/5001\n", "http://127.0.0.1:5001/"),
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001/"),
        ("http://127.0.0.1:5001/api/v0", "http://127.0.0.1:5001/"),
        (
            "http://127.0.0.1:5001/api/v0/?x=1#f",
            "http://127.0.0.1:5001/",
        ),
        (
            "https://rpc.example.org/ipfs-api/",
            "https://rpc.example.org/ipfs-api/",
        ),
        ("http://0.0.0.0:5001", "http://127.0.0.1:5001/"),
        ("localhost:5001", "http://localhost:5001/"),
        ("127.0.0.1:5001", "http://127.0.0.1:5001/"),
        ("[::1]:5001", "http://[::1]:5001/"),
    ] {
        let url = parse_api_address(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(url.as_str(), expected, "{input:?}");
    }
    assert_eq!(
        multiaddr_to_url("/ip4/127.0.0.1/tcp/5001").unwrap(),
        Url::parse("http://127.0.0.1:5001/").unwrap()
    );
}

#[test]
fn bad_addresses_are_clear_errors() {
    for (input, says) in [
        ("/ip4/300.1.1.1/tcp/5001", "not an IPv4 address"),
        ("/ip4/127.0.0.1", "missing /tcp/PORT"),
        ("/ip4/127.0.0.1/tcp", "needs a value"),
        ("/ip4/127.0.0.1/tcp/0", "not a TCP port"),
        ("/ip4/127.0.0.1/tcp/70000", "not a TCP port"),
        ("/ip4/127.0.0.1/tcp/abc", "not a TCP port"),
        ("/ip4/127.0.0.1/udp/5001/quic-v1", "TCP, not UDP"),
        ("/ip4/127.0.0.1/tcp/5001/ws", "unsupported `/ws`"),
        (
            "/ip4/127.0.0.1/tcp/5001/p2p/12D3KooW",
            "unsupported `/p2p/12D3KooW`",
        ),
        ("/ip6/127.0.0.1/tcp/5001", "not an IPv6 address"),
        ("/unix/run/ipfs.sock", "Unix-socket"),
        ("/dns4/bad host/tcp/5001", "not a host name"),
        ("/dnsaddr/example.org", "not an address trove can reach"),
        ("/ip4", "needs a value"),
        ("//", "empty multiaddr component"),
        ("ftp://127.0.0.1:5001", "unsupported scheme `ftp`"),
        ("localhost", "expected a URL"),
        ("http://", "not a URL"),
        ("", "empty"),
    ] {
        let err = parse_api_address(input).expect_err(input);
        assert!(err.contains(says), "{input:?}: {err}");
    }

    // Errors name the value and where it came from, and come with a hint.
    let err = discover_api_candidates(Some("/ip4/1.2.3/tcp/5001"), None, None, None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`/ip4/1.2.3/tcp/5001`") && text.contains("--kubo-api"),
        "{text}"
    );
    assert!(err.hint().unwrap().contains("/ip4/127.0.0.1/tcp/5001"));
    let err = discover_api_candidates(None, Some("tcp://x:1"), None, None).unwrap_err();
    assert!(
        matches!(
            err,
            KuboError::InvalidAddress {
                origin: ApiOrigin::Env,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("IPFS_API"), "{err}");

    // A garbled api file is an error naming the file, not a silent fallback.
    let repo = tempfile::tempdir().unwrap();
    write_api_file(repo.path(), "garbage");
    let err = discover_api_candidates(None, None, Some(repo.path()), None).unwrap_err();
    let api = repo.path().join("api");
    assert!(
        matches!(&err, KuboError::InvalidAddress { origin: ApiOrigin::ApiFile(p), .. } if *p == api),
        "{err}"
    );
    assert!(
        err.to_string().contains(&api.display().to_string()),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("stale"), "{:?}", err.hint());
    // An api "file" that cannot be read.
    let dir_repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir_repo.path().join("api")).unwrap();
    let err = discover_api_candidates(None, None, Some(dir_repo.path()), None).unwrap_err();
    assert!(matches!(err, KuboError::ApiFile { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Probing.

#[tokio::test]
async fn probing_absent_daemons_returns_none_within_150ms() {
    let candidates = [
        candidate(
            &format!("http://127.0.0.1:{}", free_port()),
            ApiOrigin::Flag,
        ),
        candidate(
            &format!("/ip4/127.0.0.1/tcp/{}", free_port()),
            ApiOrigin::Env,
        ),
        candidate(
            &format!("/dns4/localhost/tcp/{}", free_port()),
            ApiOrigin::Default,
        ),
    ];
    let client = client();
    // Warm up (first use of the resolver and the client).
    KuboRpcSource::connect(&candidates, client.clone())
        .await
        .unwrap();
    let started = Instant::now();
    let found = KuboRpcSource::connect(&candidates, client).await.unwrap();
    let took = started.elapsed();
    eprintln!("probing 3 absent candidates took {took:?}");
    assert!(found.is_none());
    assert!(took < Duration::from_millis(150), "took {took:?}");
}

/// A one-shot HTTP server answering every request with `answer`; returns its URL.
fn fake_server(answer: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

#[tokio::test]
async fn a_named_address_that_is_not_an_rpc_api_is_an_error_else_skipped() {
    let gateway = fake_server(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
    );
    // Named by the user: an error saying so.
    let err = KuboRpcSource::connect(&[candidate(&gateway, ApiOrigin::Flag)], client())
        .await
        .unwrap_err();
    assert!(matches!(err, KuboError::NotAnRpcApi { .. }), "{err}");
    assert!(
        err.to_string().contains(&gateway) && err.to_string().contains("404"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("5001"));
    // Found in an api file or by default: skipped.
    let other = fake_server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    let found = KuboRpcSource::connect(
        &[
            candidate(&other, ApiOrigin::ApiFile("/x/api".into())),
            candidate(&gateway, ApiOrigin::Default),
        ],
        client(),
    )
    .await
    .unwrap();
    assert!(found.is_none());
}

// ---------------------------------------------------------------------------------------------
// Against js-ipfs.

/// The shared daemon with the test CARs imported, and a source connected to it.
async fn daemon() -> Option<(&'static JsIpfs, KuboRpcSource)> {
    let daemon = JsIpfs::shared()?;
    static IMPORTED: std::sync::Once = std::sync::Once::new();
    IMPORTED.call_once(|| {
        for car in [PLANETS, RAND_1M] {
            daemon.import_car(&vector_car(car));
        }
    });
    let source = KuboRpcSource::connect(&[candidate(&daemon.api, ApiOrigin::Env)], client())
        .await
        .unwrap()
        .expect("js-ipfs answers");
    Some((daemon, source))
}

#[tokio::test]
async fn connect_skips_absent_candidates_and_names_the_daemon() {
    let Some((daemon, _)) = daemon().await else {
        return;
    };
    let repo = tempfile::tempdir().unwrap();
    write_api_file(
        repo.path(),
        &format!("/ip4/127.0.0.1/tcp/{}/http", daemon.port()),
    );
    let mut candidates = discover_api_candidates(
        Some(&format!("/ip4/127.0.0.1/tcp/{}", free_port())),
        None,
        Some(repo.path()),
        None,
    )
    .unwrap();
    candidates.retain(|c| c.origin != ApiOrigin::Default); // a real daemon may run on 5001
    let started = Instant::now();
    let source = KuboRpcSource::connect(&candidates, client())
        .await
        .unwrap()
        .expect("the daemon named by the api file answers");
    eprintln!("connect took {:?}", started.elapsed());
    assert_eq!(
        source.api().origin,
        ApiOrigin::ApiFile(repo.path().join("api"))
    );
    assert_eq!(source.implementation(), DaemonImplementation::JsIpfs);
    assert!(!source.implementation().honours_offline());
    assert_eq!(source.kind(), SourceKind::Kubo);
    let describe = source.describe();
    assert!(
        describe.contains(&daemon.api)
            && describe.contains("js-ipfs")
            && describe.contains("/api`"),
        "{describe}"
    );
}

async fn read_all(mut stream: trove::fetch::ByteStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn dag_export_is_a_car_that_verifies_complete() {
    let Some((_, source)) = daemon().await else {
        return;
    };
    for (name, root) in [(PLANETS, PLANETS_ROOT), (RAND_1M, RAND_1M_ROOT)] {
        let root = parse_cid(root).unwrap();
        let started = Instant::now();
        let car = read_all(source.dag(&root).await.unwrap()).await.unwrap();
        let took = started.elapsed();
        let store = MemoryStore::new();
        let summary = trove::car::import_car(std::io::Cursor::new(&car), &store)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(summary.roots.len(), 1, "{name}");
        assert_eq!(summary.roots[0].root, root, "{name}");
        assert!(summary.is_complete(), "{name}: {summary:?}");
        assert!(trove::car::check_dag(&store, &root).unwrap().is_complete());
        eprintln!(
            "{name}: {} bytes, {} blocks in {took:?}",
            car.len(),
            summary.sections
        );
        // js-ipfs exports the same bytes as the reference CAR (dfs-preorder, each block once).
        let reference = std::fs::read(vector_car(name)).unwrap();
        assert!(
            car == reference,
            "{name}: the export differs from the reference CAR"
        );
    }
}

#[tokio::test]
async fn block_get_returns_bytes_that_verify() {
    let Some((_, source)) = daemon().await else {
        return;
    };
    let store = MemoryStore::new();
    let reader = std::fs::File::open(vector_car(RAND_1M)).unwrap();
    trove::car::import_car(reader, &store).unwrap();
    let root = parse_cid(RAND_1M_ROOT).unwrap();
    let root_bytes = source.block(&root).await.unwrap();
    verify(&root, &root_bytes).unwrap();
    // A 256 KiB leaf, through a CIDv1 of the same multihash (the daemon keys blocks by hash).
    let links = trove::dag::links(&root, &root_bytes).unwrap();
    assert_eq!(links.len(), 4);
    let leaf = links[0];
    let data = source.block(&leaf).await.unwrap();
    verify(&leaf, &data).unwrap();
    assert_eq!(data.len(), 262_158);
    let planets = parse_cid(PLANETS_ROOT).unwrap();
    verify(&planets, &source.block(&planets).await.unwrap()).unwrap();
}

#[tokio::test]
async fn an_unknown_cid_is_not_found_within_2s() {
    let Some((_, source)) = daemon().await else {
        return;
    };
    let bytes = splitmix64_bytes(0x6b75626f, 1000);
    let raw = cid_of(cid::Version::V1, RAW, HashCode::Sha2_256, &bytes);
    let pb = cid_of(cid::Version::V0, DAG_PB, HashCode::Sha2_256, &bytes);
    for (what, cid) in [("raw", raw), ("dag-pb", pb)] {
        let started = Instant::now();
        let err = source.block(&cid).await.unwrap_err();
        let took = started.elapsed();
        eprintln!("block({what}) → {err} in {took:?}");
        assert!(
            matches!(err, SourceError::NotFound),
            "block {what}: {err:?}"
        );
        assert!(took < Duration::from_secs(2), "block {what} took {took:?}");
        let started = Instant::now();
        let err = match source.dag(&cid).await {
            Ok(_) => panic!("dag {what}: a stream for an unknown CID"),
            Err(e) => e,
        };
        let took = started.elapsed();
        eprintln!("dag({what}) → {err} in {took:?}");
        assert!(matches!(err, SourceError::NotFound), "dag {what}: {err:?}");
        assert!(took < Duration::from_secs(2), "dag {what} took {took:?}");
    }
}

#[tokio::test]
async fn a_car_with_a_missing_child_ends_instead_of_hanging() {
    let Some((daemon, source)) = daemon().await else {
        return;
    };
    // Only the root of a DAG nobody else imports: its children are missing.
    let path = vector_car("rand-178176.v0-pb-1k-174.car");
    let mut reader = trove::car::CarReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let (root, bytes) = reader.next_section().unwrap().unwrap();
    assert_eq!(root.codec(), DAG_PB);
    let (status, body) = daemon.post(
        "block/put?format=dag-pb&mhtype=sha2-256&version=0",
        Some(&bytes),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let source = source.with_stall_timeout(Duration::from_millis(800));
    let started = Instant::now();
    let stream = source.dag(&root).await.unwrap();
    let err = read_all(stream).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("partial dag export → {err} after {took:?}");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("offline"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // And the missing child, asked for alone, is not found.
    let child = trove::dag::links(&root, &bytes).unwrap()[0];
    assert!(matches!(
        source.block(&child).await,
        Err(SourceError::NotFound)
    ));
}

// ---------------------------------------------------------------------------------------------
// Starting a daemon.

#[tokio::test]
async fn starting_a_missing_daemon_binary_is_a_clear_error() {
    let repo = tempfile::tempdir().unwrap();
    let command = vec![
        "trove-test-no-such-ipfs-binary".to_string(),
        "daemon".to_string(),
    ];
    let started = Instant::now();
    let err = KuboRpcSource::start_daemon(&command, Some(repo.path()), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, KuboError::DaemonNotFound { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("`trove-test-no-such-ipfs-binary` was not found"),
        "{err}"
    );
    assert!(
        err.hint().unwrap().contains("install Kubo"),
        "{:?}",
        err.hint()
    );
    let err = KuboRpcSource::start_daemon(&[], None, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, KuboError::EmptyCommand), "{err}");
    // A daemon that exits at once: its exit and output are reported.
    let command: Vec<String> = ["sh", "-c", "echo 'Error: no IPFS repo found' >&2; exit 3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let err = KuboRpcSource::start_daemon(&command, Some(repo.path()), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, KuboError::DaemonExited { .. }), "{err}");
    assert!(err.to_string().contains("no IPFS repo found"), "{err}");
}

#[tokio::test]
async fn start_daemon_runs_js_ipfs_and_stops_only_what_it_started() {
    let Some(install) = peer_tool("TROVE_TEST_JSIPFS_DIR") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let started = Instant::now();
    jsipfs::init_repo(&install, &repo);
    eprintln!("jsipfs init took {:?}", started.elapsed());
    let command = jsipfs::daemon_command(&install);
    let started = Instant::now();
    let handle = KuboRpcSource::start_daemon(&command, Some(&repo), Duration::from_secs(30))
        .await
        .unwrap();
    eprintln!("start_daemon took {:?}", started.elapsed());
    assert!(handle.started_by_trove());
    assert_eq!(
        handle.candidate().origin,
        ApiOrigin::ApiFile(repo.join("api"))
    );
    let api = handle.candidate().clone();
    let source = KuboRpcSource::connect(std::slice::from_ref(&api), client())
        .await
        .unwrap()
        .expect("the started daemon answers");
    assert_eq!(source.implementation(), DaemonImplementation::JsIpfs);

    // Already running: nothing is started, and dropping that handle leaves the daemon alone.
    let again = KuboRpcSource::start_daemon(&command, Some(&repo), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!again.started_by_trove());
    assert_eq!(again.candidate().url, api.url);
    drop(again);
    assert!(KuboRpcSource::connect(std::slice::from_ref(&api), client())
        .await
        .unwrap()
        .is_some());

    // The handle that started it stops it.
    let pid = handle.pid().unwrap();
    let started = Instant::now();
    handle.stop();
    eprintln!("stopping took {:?}", started.elapsed());
    assert!(KuboRpcSource::connect(&[api], client())
        .await
        .unwrap()
        .is_none());
    let alive = std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(!alive, "the daemon (pid {pid}) is still running");
}

/// End to end: content added to the js-ipfs daemon is fetched by `trove get --source kubo`
/// through its RPC API, verified, and written out; the gateway tier is never needed.
#[test]
fn trove_get_fetches_from_the_daemon_through_the_rpc_api() {
    let Some(daemon) = JsIpfs::shared() else {
        return;
    };
    let car = crate::support::vector_car("kubo-sharness-planets.v1-raw-256k-174.car");
    daemon.import_car(&car);
    let t = crate::support::Trove::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("planets");
    t.ok(&[
        "get",
        "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi",
        "--source",
        "kubo",
        "--kubo-api",
        &daemon.api,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(out.join("mars.txt")).unwrap(),
        b"Hello Mars!\n"
    );
    assert_eq!(t.run(&["cache", "verify"]).0, 0);
}
