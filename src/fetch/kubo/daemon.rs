//! Starting a daemon when none answers (`daemon.auto_start`), and stopping it again only if
//! trove started it.

use super::discover::probe;
use super::*;
use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use url::Url;

impl KuboRpcSource {
    /// Starts an IPFS daemon with `command` (such as `["ipfs", "daemon"]`) and waits up to
    /// `wait` for its API to answer.
    ///
    /// `ipfs_path` is the repository (the caller resolves `$IPFS_PATH` or `~/.ipfs`): it is
    /// passed to the daemon as `IPFS_PATH`, and its `api` file tells where the daemon listens.
    /// Without it the daemon uses its own default repository and trove waits for
    /// [`DEFAULT_API_URL`].
    ///
    /// When a daemon already answers there, nothing is started and the handle does not own it.
    /// Otherwise the returned handle owns the process: dropping it (or [`DaemonHandle::stop`])
    /// sends `SIGTERM`, waits up to [`STOP_GRACE`] and then kills it. A daemon trove did not
    /// start is never stopped. The daemon's output goes to a temporary file, quoted in errors.
    ///
    /// # Errors
    /// [`KuboError::DaemonNotFound`] when the program does not exist (checked by starting it:
    /// no `PATH` lookup of our own), [`KuboError::DaemonExited`] when it exits before answering
    /// (an uninitialised repository, a port in use), [`KuboError::DaemonTimeout`] when it does
    /// not answer within `wait` (it is stopped first).
    pub async fn start_daemon(
        command: &[String],
        ipfs_path: Option<&Path>,
        wait: Duration,
    ) -> Result<DaemonHandle, KuboError> {
        let (program, args) = command.split_first().ok_or(KuboError::EmptyCommand)?;
        let command_line = command.join(" ");
        let client =
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| KuboError::DaemonSpawn {
                    command: command_line.clone(),
                    source: io::Error::other(crate::error::chain(&e)),
                })?;
        let api_file = ipfs_path.map(|p| p.join("api"));
        if let Some(candidate) = ready(&client, api_file.as_deref()).await {
            return Ok(DaemonHandle {
                child: None,
                candidate,
                log: None,
            });
        }
        let spawn_error = |source: io::Error| {
            if source.kind() == io::ErrorKind::NotFound {
                KuboError::DaemonNotFound {
                    program: program.clone(),
                }
            } else {
                KuboError::DaemonSpawn {
                    command: command_line.clone(),
                    source,
                }
            }
        };
        let log = tempfile::NamedTempFile::new().map_err(|e| KuboError::DaemonSpawn {
            command: command_line.clone(),
            source: e,
        })?;
        let log_error = |source| KuboError::DaemonSpawn {
            command: command_line.clone(),
            source,
        };
        let out = log.reopen().map_err(log_error)?;
        let err = out.try_clone().map_err(log_error)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        if let Some(repo) = ipfs_path {
            cmd.env("IPFS_PATH", repo);
        }
        let child = cmd.spawn().map_err(spawn_error)?;
        let mut handle = DaemonHandle {
            child: Some(child),
            candidate: ApiCandidate {
                url: Url::parse(DEFAULT_API_URL).expect("the default API URL parses"),
                origin: ApiOrigin::Default,
            },
            log: Some(log),
        };
        let deadline = Instant::now() + wait;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(child) = handle.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    handle.child = None;
                    return Err(KuboError::DaemonExited {
                        command: command_line,
                        status: status.to_string(),
                        log: handle.log_tail(),
                    });
                }
            }
            if let Some(candidate) = ready(&client, api_file.as_deref()).await {
                handle.candidate = candidate;
                return Ok(handle);
            }
            if Instant::now() >= deadline {
                let log = handle.log_tail();
                handle.shutdown();
                return Err(KuboError::DaemonTimeout {
                    command: command_line,
                    wait,
                    log,
                });
            }
        }
    }
}

/// The API named by the `api` file (or the default address without one), if it answers.
async fn ready(client: &reqwest::Client, api_file: Option<&Path>) -> Option<ApiCandidate> {
    let candidate = match api_file {
        Some(path) => ApiCandidate {
            url: read_api_file(path).ok()??,
            origin: ApiOrigin::ApiFile(path.to_path_buf()),
        },
        None => ApiCandidate {
            url: Url::parse(DEFAULT_API_URL).ok()?,
            origin: ApiOrigin::Default,
        },
    };
    probe(client, &candidate.url).await.ok().map(|_| candidate)
}

/// A daemon started by [`KuboRpcSource::start_daemon`], or found already running.
///
/// Dropping it stops the daemon if, and only if, trove started it: `SIGTERM` (so that it
/// removes its `api` file and repository lock), up to [`STOP_GRACE`] for it to exit, then a
/// kill. That blocks the dropping thread for as long; call [`DaemonHandle::stop`] to choose
/// when.
#[derive(Debug)]
pub struct DaemonHandle {
    child: Option<Child>,
    candidate: ApiCandidate,
    log: Option<tempfile::NamedTempFile>,
}

impl DaemonHandle {
    /// The daemon's API address (from the repository's `api` file, or the default address).
    pub fn candidate(&self) -> &ApiCandidate {
        &self.candidate
    }

    /// Whether trove started this daemon (and will stop it).
    pub fn started_by_trove(&self) -> bool {
        self.child.is_some()
    }

    /// The process id of the daemon trove started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the daemon now if trove started it (see the type's docs); otherwise does nothing.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        #[cfg(unix)]
        {
            let terminated = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if terminated {
                let deadline = Instant::now() + STOP_GRACE;
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The last lines the daemon printed.
    fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read(log.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        let start = tail.len().saturating_sub(2000);
        let start = (start..=tail.len())
            .find(|i| tail.is_char_boundary(*i))
            .unwrap_or(tail.len());
        tail[start..].to_string()
    }
}

impl Drop for DaemonHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
