//! Shared test helpers: paths to the test data in `tests/fixtures/` and the test peers in
//! `scripts/peers/`, the vectors' PRNG, and running the binary.
#![allow(dead_code)]

pub mod forge;
pub mod gateway;
pub mod jsipfs;
pub mod kubo;
pub mod pinning;
pub mod s3;
pub mod serve;
pub mod vectors;

use std::path::PathBuf;

pub use vectors::vector_car;

/// The repository's root (where `Cargo.toml` is).
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/vectors`: reference vectors from real implementations (see its README and
/// `tests/fixtures/README.md`).
pub fn vectors_dir() -> PathBuf {
    repo_dir().join("tests/fixtures/vectors")
}

/// `tests/fixtures/vectors/fixtures`: the conformance fixtures `fixtures/INDEX.md` lists.
pub fn fixtures_dir() -> PathBuf {
    vectors_dir().join("fixtures")
}

/// `tests/fixtures/registry-samples`: registries written by the original Python tool.
pub fn samples_dir() -> PathBuf {
    repo_dir().join("tests/fixtures/registry-samples")
}

/// `scripts/peers`: the test peers this repository brings (Kubo driver, trustless gateway,
/// Helia peer, npm package files).
pub fn peers_dir() -> PathBuf {
    repo_dir().join("scripts/peers")
}

/// The bytes a hex string spells; odd lengths and bad digits fail the test, naming the string.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails the test when `failures` is not empty, with their count and one per line (vector tests
/// collect every disagreement before failing, so one run shows them all).
#[track_caller]
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The vectors README's SplitMix64 generator: little-endian u64 words, cut to `n` bytes.
pub fn splitmix64_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// The content of a non-generated golden input (`text-small`, `hello-world`, `kubo-sharness-*`),
/// read back out of its reference CAR (`car/<name>.v1-raw-256k-174.car`) with trove's own CAR
/// and UnixFS readers.
pub fn content_from_reference_car(name: &str) -> crate::golden::Input {
    let path = vector_car(&format!("{name}.v1-raw-256k-174.car"));
    let store = trove::store::MemoryStore::new();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let summary = trove::car::import_car(file, &store).unwrap();
    read_tree(&trove::unixfs::Reader::new(&store), &summary.roots[0].root)
}

/// Reads a whole UnixFS tree into memory.
pub fn read_tree<G: trove::store::BlockGetter>(
    reader: &trove::unixfs::Reader<G>,
    cid: &cid::Cid,
) -> crate::golden::Input {
    use trove::unixfs::NodeKind;
    match reader.kind(cid).unwrap() {
        NodeKind::File { .. } => {
            let mut out = Vec::new();
            reader.read_file(cid, 0, None, &mut out).unwrap();
            crate::golden::Input::File(out)
        }
        NodeKind::Directory | NodeKind::ShardedDirectory => crate::golden::Input::Dir(
            reader
                .list(cid)
                .unwrap()
                .into_iter()
                .map(|e| (e.name, read_tree(reader, &e.cid)))
                .collect(),
        ),
        other => panic!("{cid}: unexpected {other:?}"),
    }
}

/// The path a peer-tool environment variable names. When it is unset the test is skipped, unless
/// `TROVE_REQUIRE_PEERS=1` (as `scripts/test` and CI set it), where that is a failure.
pub fn peer_tool(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            if std::env::var("TROVE_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("{var} is not set: run the tests with scripts/test (it installs the peers)");
            }
            eprintln!("skipped: {var} is not set (run scripts/test to install the test peers)");
            None
        }
    }
}

/// Kubo v0.22's CID for `path` (`ipfs add -Q --only-hash`, default profile), through
/// `scripts/peers/kubo_peer.py hash`.
pub fn kubo_hash(python: &std::path::Path, path: &std::path::Path) -> String {
    let out = std::process::Command::new(python)
        .arg(peers_dir().join("kubo_peer.py"))
        .arg("hash")
        .arg(path)
        .output()
        .expect("run kubo_peer.py");
    assert!(
        out.status.success(),
        "kubo_peer.py hash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Spawns `cmd` with stdin closed, stderr into `stderr_path`, and a thread that sends every
/// stdout line starting with `LISTENING ` (the rest of the line) on the returned channel.
pub fn spawn_listening(
    cmd: &mut std::process::Command,
    stderr_path: &std::path::Path,
    what: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let stderr = std::fs::File::create(stderr_path).unwrap();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    (child, rx)
}

/// A `trove` command using its own fresh cache directory.
pub struct Trove {
    /// The cache directory (deleted on drop).
    pub cache: tempfile::TempDir,
    /// Holds the p2p identity key (deleted on drop).
    pub home: tempfile::TempDir,
}

impl Trove {
    /// A fresh cache.
    pub fn new() -> Self {
        Trove {
            cache: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `trove ARGS…` with `TROVE_CACHE_DIR` pointing at this cache, and the p2p tier kept
    /// off the public network (no bootstrap peers, no delegated routers, no mDNS, an identity
    /// key inside the cache directory): tests name their peers.
    pub fn cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trove"));
        cmd.env("TROVE_CACHE_DIR", self.cache.path())
            .env("TROVE_P2P_BOOTSTRAP", "none")
            .env("TROVE_P2P_ROUTERS", "none")
            .env("TROVE_P2P_MDNS", "0")
            .env(
                "TROVE_P2P_IDENTITY",
                self.home.path().join("p2p-identity.key"),
            );
        cmd
    }

    /// Runs and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        output(self.cmd().args(args))
    }

    /// Runs, asserts success, returns stdout trimmed.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "trove {args:?} failed:\n{err}");
        out.trim().to_string()
    }
}

/// Runs `cmd` (a [`Trove::cmd`] with more settings, say) and returns (exit code, or -1 when a
/// signal ended it, stdout, stderr).
pub fn output(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().expect("run trove");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A small deterministic PRNG for test data (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A seed from the clock, printed so a failure can be replayed with `TROVE_TEST_SEED`.
pub fn test_seed(what: &str) -> u64 {
    let seed = std::env::var("TROVE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{what}: TROVE_TEST_SEED={seed}");
    seed
}

/// Options for [`random_tree`].
#[derive(Clone, Copy)]
pub struct TreeOptions {
    /// Include symlinks.
    pub symlinks: bool,
    /// Include empty directories.
    pub empty_dirs: bool,
    /// Largest file.
    pub max_file: usize,
}

/// Writes a random directory tree under `dir`: nested folders, hidden and non-ASCII names, empty
/// files, identical files, optionally symlinks and empty folders.
pub fn random_tree(dir: &std::path::Path, rng: &mut Rng, opts: TreeOptions, depth: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let names = [
        "a",
        "B",
        ".hidden",
        "data.csv",
        "ünïcødé",
        "space name",
        "z-last",
        "0",
        "dup",
        "x.y.z",
    ];
    let entries = 1 + rng.below(5) as usize;
    for i in 0..entries {
        let name = format!("{}{}", names[rng.below(names.len() as u64) as usize], i);
        let path = dir.join(&name);
        match rng.below(10) {
            0..=5 => {
                let size = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(300) as usize,
                    _ => rng.below(opts.max_file as u64 + 1) as usize,
                };
                std::fs::write(&path, splitmix64_bytes(rng.next(), size)).unwrap();
            }
            6 => std::fs::write(&path, b"identical content\n").unwrap(),
            7 if opts.symlinks => {
                #[cfg(unix)]
                std::os::unix::fs::symlink("a0", &path).unwrap();
            }
            8 if opts.empty_dirs => std::fs::create_dir(&path).unwrap(),
            _ if depth < 3 => random_tree(&path, rng, opts, depth + 1),
            _ => std::fs::write(&path, b"leaf").unwrap(),
        }
    }
}

/// Asserts two directory trees hold the same names, file bytes and symlink targets.
pub fn assert_same_tree(expected: &std::path::Path, actual: &std::path::Path) {
    let meta = std::fs::symlink_metadata(expected).unwrap();
    let other = std::fs::symlink_metadata(actual)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", actual.display()));
    if meta.file_type().is_symlink() {
        assert!(
            other.file_type().is_symlink(),
            "{} is not a symlink",
            actual.display()
        );
        assert_eq!(
            std::fs::read_link(expected).unwrap(),
            std::fs::read_link(actual).unwrap()
        );
    } else if meta.is_dir() {
        assert!(other.is_dir(), "{} is not a directory", actual.display());
        let list = |p: &std::path::Path| {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let names = list(expected);
        assert_eq!(names, list(actual), "entries of {}", actual.display());
        for name in names {
            assert_same_tree(&expected.join(&name), &actual.join(&name));
        }
    } else {
        assert!(other.is_file(), "{} is not a file", actual.display());
        assert!(
            std::fs::read(expected).unwrap() == std::fs::read(actual).unwrap(),
            "content of {} differs",
            actual.display()
        );
    }
}

/// Every file below `dir`, sorted.
pub fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
