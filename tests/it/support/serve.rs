//! `trove serve --http` as a test peer: started on a free port over a [`Trove`]'s cache, stopped
//! with SIGTERM on drop; and a small blocking HTTP client for the tests that talk to it.

use super::Trove;
use std::process::Child;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `trove serve --http 127.0.0.1:0`.
pub struct HttpServe {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
}

impl HttpServe {
    /// Serves `trove`'s cache with `extra` arguments (`--registry …`, `--fetch`, …).
    pub fn start(trove: &Trove, extra: &[&str]) -> HttpServe {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr.txt");
        let mut cmd = trove.cmd();
        cmd.args(["serve", "--http", "127.0.0.1:0"]).args(extra);
        let (mut child, rx) = super::spawn_listening(&mut cmd, &stderr, "trove serve --http");
        // With --p2p too, multiaddr lines come as well: the URL is the http one.
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let url = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("http://") => break Ok(line),
                Ok(_) => continue,
                Err(e) => break Err(e),
            }
        };
        match url {
            Ok(url) => HttpServe { child, url, dir },
            Err(_) => {
                let status = child.try_wait();
                let _ = child.kill();
                panic!(
                    "trove serve --http did not print LISTENING within {START_TIMEOUT:?} ({status:?}); stderr:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote on standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.txt")).unwrap_or_default()
    }

    /// The peak resident memory of the server so far (Linux: `VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc/PID/status");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib * 1024
    }

    /// Sends SIGTERM and waits (up to 15 s) for the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        for _ in 0..150 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for HttpServe {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The body, or why reading it failed (a CAR cut in the middle).
    pub body: Result<Vec<u8>, String>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    pub fn bytes(&self) -> &[u8] {
        self.body
            .as_deref()
            .unwrap_or_else(|e| panic!("the body was cut: {e}"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }
}

/// `METHOD url` with `headers`, on a runtime of its own.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Answer {
    try_request(method, url, headers).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`request`], or why no answer came (the connection closed before the headers).
pub fn try_request(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let response = req
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| format!("{e:?}"));
        Ok(Answer {
            status,
            headers,
            body,
        })
    })
}

/// `GET url`.
pub fn get(url: &str) -> Answer {
    request("GET", url, &[])
}
