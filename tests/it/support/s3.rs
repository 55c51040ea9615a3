//! A real S3-compatible server for the object-storage tests: moto's server mode in its own
//! process (`scripts/peers/s3_peer.py`, installed by `scripts/setup-peers`), on 127.0.0.1.
//! Objects are put and read back with boto3 in a separate process, so trove's own S3 code is
//! checked against tools it did not write.

use super::{peer_tool, repo_dir, spawn_listening};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// The credentials the tests use (moto accepts any).
pub const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

/// A running S3 server; killed on drop.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    python: std::path::PathBuf,
    child: Child,
    _log: tempfile::TempDir,
}

impl S3Server {
    /// Starts the server with `buckets`, and `puts` (`("bucket/key", file)`) uploaded with
    /// boto3; `None` when the peer is not installed (and not required).
    pub fn start(buckets: &[&str], puts: &[(&str, &Path)]) -> Option<S3Server> {
        let python = peer_tool("TROVE_TEST_S3_PYTHON")?;
        let log = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(&python);
        cmd.arg(repo_dir().join("scripts/peers/s3_peer.py"));
        for b in buckets {
            cmd.args(["--bucket", b]);
        }
        for (key, file) in puts {
            cmd.arg("--put").arg(format!("{key}={}", file.display()));
        }
        let stderr = log.path().join("s3.log");
        let (child, rx) = spawn_listening(&mut cmd, &stderr, "the S3 server");
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "the S3 server did not start: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        Some(S3Server {
            url,
            python,
            child,
            _log: log,
        })
    }

    /// The object's bytes, read with boto3; `None` when it does not exist.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("object");
        let status = Command::new(&self.python)
            .arg(repo_dir().join("scripts/peers/s3_peer.py"))
            .args(["--endpoint", &self.url, "--get"])
            .arg(format!("{bucket}/{key}={}", dest.display()))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        status.success().then(|| std::fs::read(&dest).unwrap())
    }

    /// The keys in a bucket, with their sizes.
    pub fn list(&self, bucket: &str) -> Vec<(String, u64)> {
        let out = Command::new(&self.python)
            .arg(repo_dir().join("scripts/peers/s3_peer.py"))
            .args(["--endpoint", &self.url, "--list", bucket])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let (k, n) = l.rsplit_once(' ')?;
                Some((k.to_string(), n.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
