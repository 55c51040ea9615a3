//! Fixtures for `trove publish --pr`, loopback only:
//!
//! - [`FakeForge`]: a recording fake of the GitHub REST endpoints trove calls (`GET /user`,
//!   `GET /repos/{o}/{r}`, `POST /repos/{o}/{r}/forks`, `POST|GET /repos/{o}/{r}/pulls`, and the
//!   releases API: `GET /repos/{o}/{r}/releases/tags/{tag}`, `POST /repos/{o}/{r}/releases`,
//!   `DELETE /repos/{o}/{r}/releases/assets/{id}`, uploads at the release's `upload_url` and
//!   downloads at each asset's `browser_download_url`), on 127.0.0.1, HTTP/1.1, one thread. Its clone URLs point at bare repositories the test makes.
//!   Every request is recorded (method, path, headers, body); any endpoint can be told to fail.
//! - [`GitDaemon`]: `git daemon` serving a folder of bare repositories over `git://` with pushes
//!   enabled, killed (by PID) on drop.
//! - [`git`]: runs the system `git` (fixtures and inspection only; trove itself uses libgit2).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The web address the fake forge's `html_url`s use.
pub const WEB: &str = "https://forge.test";

/// What the fake forge serves.
#[derive(Clone, Debug)]
pub struct ForgeConfig {
    /// The upstream's owner.
    pub owner: String,
    /// The repository name (upstream and fork).
    pub repo: String,
    /// The token's account (`GET /user`).
    pub user: String,
    /// The upstream's `clone_url`.
    pub upstream_clone_url: String,
    /// The fork's `clone_url`.
    pub fork_clone_url: String,
    /// The upstream's default branch.
    pub default_branch: String,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON ({e}): {}",
                self.method, self.path, self.body
            )
        })
    }
}

/// A release in the fake forge: (id, tag, assets as (id, name, bytes)).
type FakeRelease = (u64, String, Vec<(u64, String, Vec<u8>)>);

struct State {
    config: ForgeConfig,
    forked: bool,
    requests: Vec<Recorded>,
    failures: HashMap<(String, String), u16>,
    pulls: Vec<(u64, String)>,
    releases: Vec<FakeRelease>,
    next_id: u64,
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// Serve the bare repositories under this folder at `/git/` (smart HTTP through
    /// `git http-backend`), for `Authorization: Basic` = this (already encoded) value only.
    git: Option<(PathBuf, String)>,
}

/// A running fake forge API.
pub struct FakeForge {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeForge {
    /// Starts the server.
    pub fn start(config: ForgeConfig) -> FakeForge {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            config,
            forked: false,
            requests: Vec::new(),
            failures: HashMap::new(),
            pulls: Vec::new(),
            releases: Vec::new(),
            next_id: 100,
            base: url.clone(),
            git: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let _ = serve(conn, &s);
                }
            }
        });
        FakeForge {
            url,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests with this method and path (query ignored).
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.split('?').next() == Some(path))
            .collect()
    }

    /// Makes `METHOD PATH` (query ignored) answer `status` with a JSON error.
    pub fn fail(&self, method: &str, path: &str, status: u16) {
        self.state
            .lock()
            .unwrap()
            .failures
            .insert((method.to_string(), path.to_string()), status);
    }

    /// The release assets of `tag`: (name, bytes).
    pub fn assets(&self, tag: &str) -> Vec<(String, Vec<u8>)> {
        self.state
            .lock()
            .unwrap()
            .releases
            .iter()
            .filter(|(_, t, _)| t == tag)
            .flat_map(|(_, _, assets)| assets.iter().map(|(_, n, b)| (n.clone(), b.clone())))
            .collect()
    }

    /// Whether the user's fork exists.
    pub fn set_forked(&self, forked: bool) {
        self.state.lock().unwrap().forked = forked;
    }

    /// Serves the bare repositories under `root` over smart HTTP at `URL/git/NAME.git`, through
    /// `git http-backend` (pushes enabled), to requests whose `Authorization` is
    /// `Basic base64(x-access-token:TOKEN)`; others get `401` with `WWW-Authenticate`.
    pub fn serve_git(&self, root: &Path, token: &str) {
        let basic = format!(
            "Basic {}",
            base64(format!("x-access-token:{token}").as_bytes())
        );
        self.state.lock().unwrap().git = Some((root.to_path_buf(), basic));
    }

    /// Changes the upstream's `clone_url`.
    pub fn set_upstream_clone_url(&self, url: &str) {
        self.state.lock().unwrap().config.upstream_clone_url = url.to_string();
    }

    /// Changes the fork's `clone_url`.
    pub fn set_fork_clone_url(&self, url: &str) {
        self.state.lock().unwrap().config.fork_clone_url = url.to_string();
    }
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn repo_json(
    owner: &str,
    name: &str,
    clone_url: &str,
    branch: &str,
    parent: Option<Value>,
) -> Value {
    let mut v = json!({
        "id": 1,
        "full_name": format!("{owner}/{name}"),
        "name": name,
        "owner": {"login": owner, "type": "User"},
        "default_branch": branch,
        "clone_url": clone_url,
        "ssh_url": clone_url,
        "html_url": format!("{WEB}/{owner}/{name}"),
        "fork": parent.is_some(),
    });
    if let Some(p) = parent {
        v["parent"] = p;
    }
    v
}

fn serve(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    if request_is_git(&line, state) {
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let git = state.lock().unwrap().git.clone().unwrap();
        let request = Recorded {
            method,
            path,
            headers,
            body: String::new(),
        };
        state.lock().unwrap().requests.push(request.clone());
        let (head, payload) = http_backend(&request, &body, &git.0, &git.1);
        let mut conn = conn;
        conn.write_all(head.as_bytes())?;
        conn.write_all(&payload)?;
        conn.flush()?;
        let _ = conn.shutdown(Shutdown::Both);
        return Ok(());
    }
    if let Some((status, content_type, payload)) =
        release_files(&method, &path, &headers, &body, &mut state.lock().unwrap())
    {
        let mut conn = conn;
        write!(
            conn,
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )?;
        conn.write_all(&payload)?;
        conn.flush()?;
        let _ = conn.shutdown(Shutdown::Both);
        return Ok(());
    }
    let request = Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, answer) = route(&request, &mut state.lock().unwrap());
    if status == 204 {
        let mut conn = conn;
        write!(conn, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")?;
        conn.flush()?;
        let _ = conn.shutdown(Shutdown::Both);
        return Ok(());
    }
    let text = answer.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        _ => "Error",
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    conn.flush()?;
    let _ = conn.shutdown(Shutdown::Both);
    Ok(())
}

/// A release's JSON as the API gives it.
fn release_json(state: &State, owner: &str, repo: &str, index: usize) -> Value {
    let (id, tag, assets) = &state.releases[index];
    json!({
        "id": id,
        "tag_name": tag,
        "html_url": format!("{WEB}/{owner}/{repo}/releases/tag/{tag}"),
        "upload_url": format!("{}/uploads/repos/{owner}/{repo}/releases/{id}/assets{{?name,label}}", state.base),
        "assets": assets.iter().map(|(aid, name, bytes)| asset_json(state, owner, repo, tag, *aid, name, bytes.len())).collect::<Vec<_>>(),
    })
}

fn asset_json(
    state: &State,
    owner: &str,
    repo: &str,
    tag: &str,
    id: u64,
    name: &str,
    size: usize,
) -> Value {
    json!({
        "id": id,
        "name": name,
        "size": size,
        "browser_download_url": format!("{}/download/{owner}/{repo}/{tag}/{name}", state.base),
    })
}

/// Asset uploads (binary bodies, kept as bytes) and downloads; `None` for anything else.
fn release_files(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    state: &mut State,
) -> Option<(u16, &'static str, Vec<u8>)> {
    let (route_path, query) = path.split_once('?').unwrap_or((path, ""));
    let parts: Vec<&str> = route_path.trim_start_matches('/').split('/').collect();
    let record = |state: &mut State, note: String| {
        state.requests.push(Recorded {
            method: method.to_string(),
            path: path.to_string(),
            headers: headers.to_vec(),
            body: note,
        });
    };
    match parts.as_slice() {
        ["uploads", "repos", owner, repo, "releases", id, "assets"] if method == "POST" => {
            record(state, format!("<{} bytes>", body.len()));
            let authorized = headers
                .iter()
                .any(|(n, v)| n == "authorization" && v.starts_with("Bearer "));
            if !authorized {
                return Some((
                    401,
                    "application/json",
                    br#"{"message":"Requires authentication"}"#.to_vec(),
                ));
            }
            let name: String = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let id: u64 = id.parse().ok()?;
            let index = state.releases.iter().position(|(rid, _, _)| *rid == id)?;
            if state.releases[index].2.iter().any(|(_, n, _)| *n == name) {
                return Some((422, "application/json", br#"{"message":"Validation Failed","errors":[{"resource":"ReleaseAsset","code":"already_exists","field":"name"}]}"#.to_vec()));
            }
            state.next_id += 1;
            let asset_id = state.next_id;
            state.releases[index]
                .2
                .push((asset_id, name.clone(), body.to_vec()));
            let tag = state.releases[index].1.clone();
            let answer = asset_json(state, owner, repo, &tag, asset_id, &name, body.len());
            Some((201, "application/json", answer.to_string().into_bytes()))
        }
        ["download", _owner, _repo, tag, name] if method == "GET" => {
            record(state, String::new());
            let found = state
                .releases
                .iter()
                .filter(|(_, t, _)| t == tag)
                .flat_map(|(_, _, a)| a.iter())
                .find(|(_, n, _)| n == name)
                .map(|(_, _, b)| b.clone());
            Some(match found {
                Some(bytes) => (200, "application/octet-stream", bytes),
                None => (404, "text/plain", b"Not Found".to_vec()),
            })
        }
        _ => None,
    }
}

fn route(request: &Recorded, state: &mut State) -> (u16, Value) {
    state.requests.push(request.clone());
    let path = request.path.split('?').next().unwrap_or("").to_string();
    let query = request.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    if let Some(status) = state.failures.get(&(request.method.clone(), path.clone())) {
        return (
            *status,
            json!({"message": format!("injected failure {status}")}),
        );
    }
    let c = state.config.clone();
    let authorized = request
        .header("authorization")
        .is_some_and(|v| v.starts_with("Bearer "));
    let upstream = format!("/repos/{}/{}", c.owner, c.repo);
    let fork = format!("/repos/{}/{}", c.user, c.repo);
    let not_found = (404, json!({"message": "Not Found"}));
    let fork_json = || {
        repo_json(
            &c.user,
            &c.repo,
            &c.fork_clone_url,
            &c.default_branch,
            Some(repo_json(
                &c.owner,
                &c.repo,
                &c.upstream_clone_url,
                &c.default_branch,
                None,
            )),
        )
    };
    match (request.method.as_str(), path.as_str()) {
        ("GET", "/user") if authorized => (200, json!({"login": c.user, "id": 7})),
        ("GET", "/user") => (401, json!({"message": "Requires authentication"})),
        ("GET", p) if p == upstream => (
            200,
            repo_json(
                &c.owner,
                &c.repo,
                &c.upstream_clone_url,
                &c.default_branch,
                None,
            ),
        ),
        ("GET", p) if p == fork => {
            if state.forked {
                (200, fork_json())
            } else {
                not_found
            }
        }
        ("POST", p) if p == format!("{upstream}/forks") && authorized => {
            state.forked = true;
            (202, fork_json())
        }
        ("POST", p) if p == format!("{upstream}/pulls") && authorized => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let head = body["head"].as_str().unwrap_or("").to_string();
            if state.pulls.iter().any(|(_, h)| *h == head) {
                return (
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {head}.")}]}),
                );
            }
            let number = state.pulls.len() as u64 + 1;
            state.pulls.push((number, head.clone()));
            (
                201,
                json!({"number": number, "html_url": format!("{WEB}/{}/{}/pull/{number}", c.owner, c.repo), "state": "open", "head": {"label": head}}),
            )
        }
        ("GET", p) if p == format!("{upstream}/pulls") => {
            let wanted: Option<String> = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "head")
                .map(|(_, v)| v.into_owned());
            let list: Vec<Value> = state
                .pulls
                .iter()
                .filter(|(_, h)| wanted.as_deref().is_none_or(|w| w == h))
                .map(|(n, h)| json!({"number": n, "html_url": format!("{WEB}/{}/{}/pull/{n}", c.owner, c.repo), "head": {"label": h}}))
                .collect();
            (200, Value::Array(list))
        }
        ("GET", p) if p.starts_with(&format!("{upstream}/releases/tags/")) => {
            let tag = p.rsplit('/').next().unwrap_or("");
            match state.releases.iter().position(|(_, t, _)| t == tag) {
                Some(i) => (200, release_json(state, &c.owner, &c.repo, i)),
                None => not_found,
            }
        }
        ("POST", p) if p == format!("{upstream}/releases") && authorized => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let tag = body["tag_name"].as_str().unwrap_or("").to_string();
            if tag.is_empty() || state.releases.iter().any(|(_, t, _)| *t == tag) {
                return (422, json!({"message": "Validation Failed"}));
            }
            state.next_id += 1;
            let id = state.next_id;
            state.releases.push((id, tag, Vec::new()));
            let i = state.releases.len() - 1;
            (201, release_json(state, &c.owner, &c.repo, i))
        }
        ("DELETE", p) if p.starts_with(&format!("{upstream}/releases/assets/")) && authorized => {
            let id: u64 = p
                .rsplit('/')
                .next()
                .and_then(|i| i.parse().ok())
                .unwrap_or(0);
            let mut found = false;
            for (_, _, assets) in &mut state.releases {
                let before = assets.len();
                assets.retain(|(aid, _, _)| *aid != id);
                found |= assets.len() != before;
            }
            if found {
                (204, Value::Null)
            } else {
                not_found
            }
        }
        (_, _) if !authorized && request.method == "POST" => {
            (401, json!({"message": "Requires authentication"}))
        }
        _ => not_found,
    }
}

/// Runs `git ARGS` in `dir` with a fixed identity; panics on failure; returns stdout trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `git ARGS` in `dir` and returns its output, whatever the exit status.
pub fn git_output(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.org")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.org")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run git")
}

/// `git daemon` serving the bare repositories under `base`, pushes enabled, on 127.0.0.1.
pub struct GitDaemon {
    child: Child,
    /// `git://127.0.0.1:PORT`.
    pub url: String,
}

impl GitDaemon {
    /// Starts the daemon and waits until it accepts connections.
    pub fn start(base: &Path) -> GitDaemon {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git daemon");
        let daemon = GitDaemon {
            child,
            url: format!("git://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "git daemon did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare repository `dir/NAME.git` whose branch `main` holds `files` (one commit).
pub fn bare_repo_with(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let src = dir.join(format!("{name}-src"));
    std::fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q", "-b", "main"]);
    for (path, bytes) in files {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "initial registry"]);
    let bare = dir.join(format!("{name}.git"));
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    std::fs::remove_dir_all(&src).unwrap();
    bare
}

fn request_is_git(line: &str, state: &Mutex<State>) -> bool {
    let path = line.split_whitespace().nth(1).unwrap_or("");
    path.starts_with("/git/") && state.lock().unwrap().git.is_some()
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            let mut end = String::new();
            reader.read_line(&mut end)?;
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Runs `git http-backend` as a CGI script; returns the response head and body.
fn http_backend(request: &Recorded, body: &[u8], root: &Path, basic: &str) -> (String, Vec<u8>) {
    if request.header("authorization") != Some(basic) {
        let text = "authentication required";
        return (
            format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                text.len()
            ),
            text.as_bytes().to_vec(),
        );
    }
    let (path, query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    let mut child = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PATH_INFO", path.trim_start_matches("/git"))
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &request.method)
        .env("CONTENT_TYPE", request.header("content-type").unwrap_or(""))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env(
            "HTTP_GIT_PROTOCOL",
            request.header("git-protocol").unwrap_or(""),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run git http-backend");
    let mut stdin = child.stdin.take().unwrap();
    let input = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        });
    let (cgi_head, payload) = match split {
        Some((i, n)) => (
            String::from_utf8_lossy(&out.stdout[..i]).into_owned(),
            out.stdout[i + n..].to_vec(),
        ),
        None => (String::new(), out.stdout.clone()),
    };
    let mut status = "200 OK".to_string();
    let mut head = String::new();
    for line in cgi_head.lines() {
        match line.split_once(':') {
            Some((n, v)) if n.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => head.push_str(&format!("{}\r\n", line.trim_end())),
            None => {}
        }
    }
    (
        format!(
            "HTTP/1.1 {status}\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        ),
        payload,
    )
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
