//! A js-ipfs 0.66.1 daemon (an independent implementation of the Kubo RPC API) for tests of the
//! local-daemon tier, installed by `scripts/setup-peers` from `scripts/peers/jsipfs/` and started
//! here on loopback ports in a temporary repository.
//!
//! [`JsIpfs::shared`] starts one daemon for the whole test binary (js-ipfs takes several seconds
//! to start); a watchdog process stops it, and removes its repository, when the test binary
//! exits, however it exits. [`JsIpfs::start`] starts a private one, stopped on drop.

use super::peer_tool;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running js-ipfs daemon.
pub struct JsIpfs {
    /// `http://127.0.0.1:PORT`, the RPC API.
    pub api: String,
    /// The daemon's process id.
    pub pid: u32,
    /// Its repository.
    pub repo: PathBuf,
    /// The temporary folder holding the repository (`None` for the shared daemon, whose
    /// watchdog removes it).
    dir: Option<tempfile::TempDir>,
}

impl JsIpfs {
    /// The daemon shared by every test in the binary, started on first use; `None` when
    /// `TROVE_TEST_JSIPFS_DIR` is unset (the test is skipped; see [`peer_tool`]).
    pub fn shared() -> Option<&'static JsIpfs> {
        static SHARED: OnceLock<Option<JsIpfs>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let mut daemon = JsIpfs::start()?;
                // Statics are never dropped: the watchdog cleans up instead.
                let dir = daemon.dir.take().expect("a fresh daemon owns its folder");
                watchdog(daemon.pid, Some(&dir.keep()));
                Some(daemon)
            })
            .as_ref()
    }

    /// Starts a private daemon (stopped on drop); `None` when `TROVE_TEST_JSIPFS_DIR` is unset.
    /// Its repository is made by [`init_repo`] (loopback only, random ports); the API address
    /// is read from `repo/api` once the daemon writes it, and the daemon counts as started when
    /// that API answers `version`.
    pub fn start() -> Option<JsIpfs> {
        let install = peer_tool("TROVE_TEST_JSIPFS_DIR")?;
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let started = Instant::now();
        init_repo(&install, &repo);
        let log_path = repo.join("daemon.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let command = daemon_command(&install);
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .env("IPFS_PATH", &repo)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the js-ipfs daemon");
        let pid = child.id();
        // In case the test binary dies without dropping it.
        watchdog(pid, None);
        let deadline = started + START_TIMEOUT;
        let api = loop {
            if let Some(api) = api_of(&repo) {
                if rpc_answers(&api) {
                    break api;
                }
            }
            let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the js-ipfs daemon exited ({status}) before it answered:\n{}",
                    log()
                );
            }
            if Instant::now() > deadline {
                stop(pid);
                panic!(
                    "the js-ipfs daemon did not answer within {START_TIMEOUT:?}:\n{}",
                    log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        // Reaped when it ends.
        std::thread::spawn(move || child.wait());
        eprintln!("js-ipfs at {api} (pid {pid}) after {:?}", started.elapsed());
        Some(JsIpfs {
            api,
            pid,
            repo,
            dir: Some(dir),
        })
    }

    /// The RPC API's port.
    pub fn port(&self) -> u16 {
        self.api.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// `POST /api/v0/COMMAND?QUERY` with an optional multipart file, returning (status, body).
    pub fn post(&self, command_and_query: &str, file: Option<&[u8]>) -> (u16, Vec<u8>) {
        rpc_post(&self.api, command_and_query, file)
    }

    /// Imports a CAR with `dag/import` (pinning its roots); returns the root CID as printed.
    pub fn import_car(&self, car: &Path) -> String {
        let bytes = std::fs::read(car).unwrap_or_else(|e| panic!("{}: {e}", car.display()));
        let (status, body) = self.post("dag/import?pin-roots=true", Some(&bytes));
        assert_eq!(
            status,
            200,
            "dag/import: {}",
            String::from_utf8_lossy(&body)
        );
        let answer: serde_json::Value =
            serde_json::from_slice(body.split(|b| *b == b'\n').find(|l| !l.is_empty()).unwrap())
                .unwrap();
        answer["Root"]["Cid"]["/"].as_str().unwrap().to_string()
    }
}

impl Drop for JsIpfs {
    fn drop(&mut self) {
        if self.dir.is_some() {
            stop(self.pid);
        }
    }
}

/// How long js-ipfs may take to start (several seconds usually; more on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// `http://127.0.0.1:PORT` from the `api` file a running daemon writes into its repository.
fn api_of(repo: &Path) -> Option<String> {
    let text = std::fs::read_to_string(repo.join("api")).ok()?;
    let port = text.trim().rsplit("/tcp/").next()?.split('/').next()?;
    let port: u16 = port.parse().ok()?;
    Some(format!("http://127.0.0.1:{port}"))
}

/// Whether `POST /api/v0/version` answers 200 (any failure is a no: the daemon is starting).
fn rpc_answers(api: &str) -> bool {
    use std::io::{Read, Write};
    let authority = api.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(authority) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "POST /api/v0/version HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    let mut head = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.ends_with(b" 200")
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The command that runs the js-ipfs daemon installed in `install` in the foreground, with the
/// polyfill it needs on Node.js 20 (`scripts/peers/jsipfs/polyfill.cjs`).
pub fn daemon_command(install: &Path) -> Vec<String> {
    vec![
        "env".into(),
        format!(
            "NODE_OPTIONS=--require {}",
            install.join("polyfill.cjs").display()
        ),
        install
            .join("node_modules/.bin/jsipfs")
            .to_string_lossy()
            .into_owned(),
        "daemon".into(),
        "--enable-preload=false".into(),
    ]
}

/// Initialises a js-ipfs repository at `repo` with the `test` profile (every address on
/// 127.0.0.1 port 0, no bootstrap peers, no MDNS), with the gRPC port made random too, so a
/// daemon started on it announces its random API port in `repo/api`.
pub fn init_repo(install: &Path, repo: &Path) {
    let out = Command::new(install.join("node_modules/.bin/jsipfs"))
        .args(["init", "--profile", "test"])
        .env("IPFS_PATH", repo)
        .env(
            "NODE_OPTIONS",
            format!("--require {}", install.join("polyfill.cjs").display()),
        )
        .stdin(Stdio::null())
        .output()
        .expect("run jsipfs init");
    assert!(
        out.status.success(),
        "jsipfs init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = repo.join("config");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let addresses = &mut config["Addresses"];
    addresses["API"] = "/ip4/127.0.0.1/tcp/0".into();
    addresses["Gateway"] = "/ip4/127.0.0.1/tcp/0".into();
    addresses["RPC"] = "/ip4/127.0.0.1/tcp/0".into();
    addresses["Swarm"] = serde_json::json!(["/ip4/127.0.0.1/tcp/0"]);
    config["Bootstrap"] = serde_json::json!([]);
    config["Discovery"]["MDNS"]["Enabled"] = false.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// `POST {api}/api/v0/{command_and_query}`, with `file` as a multipart `file` field; returns
/// (status, body). Plain blocking HTTP/1.1 over a socket: test set-up only.
pub fn rpc_post(api: &str, command_and_query: &str, file: Option<&[u8]>) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let authority = api.strip_prefix("http://").expect("an http:// API");
    let authority = authority.trim_end_matches('/');
    let boundary = "trove-test-boundary-7d3f9a";
    let mut body = Vec::new();
    if let Some(bytes) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    }
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!(
        "POST /api/v0/{command_and_query} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if file.is_some() {
        request.push_str(&format!(
            "Content-Type: multipart/form-data; boundary={boundary}\r\n"
        ));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut rest = answer[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        rest = dechunk(&rest);
    }
    (status, rest)
}

/// Decodes a chunked HTTP/1.1 body (trailers ignored).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_text, 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// Stops a daemon: `SIGTERM`, up to 5 s to exit, then `SIGKILL`.
pub fn stop(pid: u32) {
    let pid = pid.to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && alive(&pid) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(&pid) {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }
}

fn alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A detached shell that waits for this test process (or the daemon) to end, then stops the
/// daemon and removes `remove` if given.
fn watchdog(daemon: u32, remove: Option<&Path>) {
    let me = std::process::id();
    let remove = remove
        .map(|p| format!("rm -rf '{}'", p.display()))
        .unwrap_or_default();
    let script = format!(
        "while kill -0 {me} 2>/dev/null && kill -0 {daemon} 2>/dev/null; do sleep 0.5; done; \
         if kill -0 {daemon} 2>/dev/null; then kill -TERM {daemon}; \
         for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 {daemon} 2>/dev/null || break; sleep 0.5; done; \
         kill -KILL {daemon} 2>/dev/null; fi; {remove}"
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the watchdog");
    // Reaped when it ends (with its daemon); a thread still waiting at exit is just dropped.
    std::thread::spawn(move || child.wait());
}
