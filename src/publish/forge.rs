//! A small client for the forge's REST API (GitHub and GitHub Enterprise): who the token belongs
//! to, a repository's metadata, forks and pull requests. Only the documented endpoints trove
//! needs:
//!
//! | call | endpoint |
//! |---|---|
//! | [`Forge::user`] | `GET /user` |
//! | [`Forge::repository`] | `GET /repos/{owner}/{repo}` |
//! | [`Forge::create_fork`] | `POST /repos/{owner}/{repo}/forks` |
//! | [`Forge::create_pull`] | `POST /repos/{owner}/{repo}/pulls` |
//! | [`Forge::find_pull`] | `GET /repos/{owner}/{repo}/pulls?head=USER:BRANCH&state=open` |
//! | [`Forge::release_by_tag`] | `GET /repos/{owner}/{repo}/releases/tags/{tag}` |
//! | [`Forge::create_release`] | `POST /repos/{owner}/{repo}/releases` |
//! | [`Forge::delete_asset`] | `DELETE /repos/{owner}/{repo}/releases/assets/{id}` |
//! | [`Forge::upload_asset`] | `POST {upload_url}?name=NAME` (the release's upload address) |
//!
//! The token is sent as `Authorization: Bearer …` and appears nowhere else: not in URLs, errors
//! or `Debug` output.

use crate::http::{check_url, HttpClient, HttpError, HttpOptions};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The GitHub REST API version trove speaks.
pub const API_VERSION: &str = "2022-11-28";

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an error body is quoted.
const QUOTED: usize = 300;

/// An error from the forge API. Never contains the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ForgeError {
    /// The API URL is refused by the URL policy.
    #[error("the forge API URL is refused: {0}")]
    Url(#[from] HttpError),
    /// The request could not be sent or answered (connection refused, time-out, …).
    #[error("`{method} {url}` failed: {detail}")]
    Request {
        /// The method.
        method: String,
        /// The URL (no credentials).
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("`{method} {url}` answered HTTP {status}: {message}")]
    Status {
        /// The method.
        method: String,
        /// The URL (no credentials).
        url: String,
        /// The status code.
        status: u16,
        /// The API's `message` (and `errors[].message`), or the start of the body.
        message: String,
    },
    /// The answer is not the JSON expected.
    #[error("`{method} {url}` sent an unexpected answer: {detail}")]
    Decode {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
}

impl ForgeError {
    /// The HTTP status, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ForgeError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl crate::Hint for ForgeError {
    fn hint(&self) -> Option<String> {
        match self {
            ForgeError::Url(e) => e.hint(),
            ForgeError::Status { status: 401, .. } => Some(
                "the token was refused: check TROVE_GITHUB_TOKEN (or GITHUB_TOKEN) and that it has not expired"
                    .into(),
            ),
            ForgeError::Status { status: 403, .. } => Some(
                "the token lacks a permission (it needs `repo` or `public_repo`, or contents and pull-requests write access), or the API rate limit was hit"
                    .into(),
            ),
            ForgeError::Status { status: 404, .. } => Some(
                "check the repository name and that the token can see it".into(),
            ),
            _ => None,
        }
    }
}

/// A repository as the API describes it (the fields trove uses).
#[derive(Debug, Clone, Deserialize)]
pub struct RepoInfo {
    /// `owner/name`.
    pub full_name: String,
    /// The repository name.
    pub name: String,
    /// Its owner.
    pub owner: Account,
    /// The default branch.
    #[serde(default)]
    pub default_branch: Option<String>,
    /// The HTTPS clone URL.
    #[serde(default)]
    pub clone_url: Option<String>,
    /// The SSH clone URL.
    #[serde(default)]
    pub ssh_url: Option<String>,
    /// The web page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Whether it is a fork.
    #[serde(default)]
    pub fork: bool,
    /// What it is a fork of (single-repository answers only).
    #[serde(default)]
    pub parent: Option<Box<RepoInfo>>,
}

/// A user or organisation.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// The login name.
    pub login: String,
}

/// A pull request (the fields trove uses).
#[derive(Debug, Clone, Deserialize)]
pub struct PullInfo {
    /// Its number.
    pub number: u64,
    /// Its web page.
    pub html_url: String,
}

/// A release (the fields trove uses).
#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseInfo {
    /// Its ID.
    pub id: u64,
    /// Its tag.
    pub tag_name: String,
    /// Its web page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Where assets are uploaded: a URI template such as
    /// `https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}`.
    pub upload_url: String,
    /// Its assets.
    #[serde(default)]
    pub assets: Vec<AssetInfo>,
}

/// A release asset (the fields trove uses).
#[derive(Debug, Clone, Deserialize)]
pub struct AssetInfo {
    /// Its ID.
    pub id: u64,
    /// Its file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Where anyone downloads it.
    pub browser_download_url: String,
}

/// What a new pull request says.
#[derive(Debug, Clone)]
pub struct NewPull<'a> {
    /// The title.
    pub title: &'a str,
    /// The description (Markdown).
    pub body: &'a str,
    /// `USER:BRANCH`, or `BRANCH` for a branch of the repository itself.
    pub head: &'a str,
    /// The branch to merge into.
    pub base: &'a str,
}

/// A forge API client. Cheap to clone.
#[derive(Clone)]
pub struct Forge {
    http: HttpClient,
    api: String,
    token: Option<String>,
}

impl std::fmt::Debug for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forge")
            .field("api", &self.api)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Forge {
    /// A client for the API at `api_url` (e.g. `https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise). Plain `http://` is accepted for loopback and
    /// private hosts, and elsewhere only with `allow_insecure`.
    pub fn new(
        api_url: &str,
        token: Option<&str>,
        allow_insecure: bool,
    ) -> Result<Self, ForgeError> {
        let url = check_url(api_url, allow_insecure)?;
        let http = HttpClient::new(&HttpOptions {
            allow_insecure,
            ..HttpOptions::default()
        })?;
        Ok(Forge {
            http,
            api: url.as_str().trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
        })
    }

    /// The API base URL, without a trailing slash.
    pub fn api_url(&self) -> &str {
        &self.api
    }

    /// Whether requests carry a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `GET /user`: the account the token belongs to.
    pub async fn user(&self) -> Result<Account, ForgeError> {
        self.json(Method::GET, "/user", None).await
    }

    /// `GET /repos/{owner}/{repo}`; `Ok(None)` when it does not exist (404).
    pub async fn repository(
        &self,
        owner: &str,
        repo: &str,
    ) -> Result<Option<RepoInfo>, ForgeError> {
        let path = format!("/repos/{}/{}", seg(owner), seg(repo));
        match self.json(Method::GET, &path, None).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /repos/{owner}/{repo}/forks`: forks into the token's account. GitHub creates forks
    /// asynchronously; the answer describes the fork (or the existing one).
    pub async fn create_fork(&self, owner: &str, repo: &str) -> Result<RepoInfo, ForgeError> {
        let path = format!("/repos/{}/{}/forks", seg(owner), seg(repo));
        self.json(Method::POST, &path, Some(serde_json::json!({})))
            .await
    }

    /// `POST /repos/{owner}/{repo}/pulls`.
    pub async fn create_pull(
        &self,
        owner: &str,
        repo: &str,
        pull: &NewPull<'_>,
    ) -> Result<PullInfo, ForgeError> {
        let path = format!("/repos/{}/{}/pulls", seg(owner), seg(repo));
        let body = serde_json::json!({
            "title": pull.title,
            "body": pull.body,
            "head": pull.head,
            "base": pull.base,
            "maintainer_can_modify": true,
        });
        self.json(Method::POST, &path, Some(body)).await
    }

    /// `GET /repos/{owner}/{repo}/pulls?head=USER:BRANCH&state=open`: the open pull request from
    /// that head, if any.
    pub async fn find_pull(
        &self,
        owner: &str,
        repo: &str,
        head: &str,
    ) -> Result<Option<PullInfo>, ForgeError> {
        let path = format!(
            "/repos/{}/{}/pulls?state=open&head={}",
            seg(owner),
            seg(repo),
            url::form_urlencoded::byte_serialize(head.as_bytes()).collect::<String>()
        );
        let list: Vec<PullInfo> = self.json(Method::GET, &path, None).await?;
        Ok(list.into_iter().next())
    }

    /// `GET /repos/{owner}/{repo}/releases/tags/{tag}`; `Ok(None)` when there is none (404).
    pub async fn release_by_tag(
        &self,
        owner: &str,
        repo: &str,
        tag: &str,
    ) -> Result<Option<ReleaseInfo>, ForgeError> {
        let path = format!(
            "/repos/{}/{}/releases/tags/{}",
            seg(owner),
            seg(repo),
            seg(tag)
        );
        match self.json(Method::GET, &path, None).await {
            Ok(release) => Ok(Some(release)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /repos/{owner}/{repo}/releases`: a published release of `tag` (the tag is made
    /// from the default branch when it does not exist).
    pub async fn create_release(
        &self,
        owner: &str,
        repo: &str,
        tag: &str,
        body: &str,
    ) -> Result<ReleaseInfo, ForgeError> {
        let path = format!("/repos/{}/{}/releases", seg(owner), seg(repo));
        let body = serde_json::json!({"tag_name": tag, "name": tag, "body": body});
        self.json(Method::POST, &path, Some(body)).await
    }

    /// `DELETE /repos/{owner}/{repo}/releases/assets/{id}`.
    pub async fn delete_asset(&self, owner: &str, repo: &str, id: u64) -> Result<(), ForgeError> {
        let url = format!(
            "{}/repos/{}/{}/releases/assets/{id}",
            self.api,
            seg(owner),
            seg(repo)
        );
        let (_, _) = self.send(Method::DELETE, &url, Body::None).await?;
        Ok(())
    }

    /// Uploads the file at `file` as the asset `name` of the release whose upload address is
    /// `upload_url` (its URI template is cut at `{`).
    pub async fn upload_asset(
        &self,
        upload_url: &str,
        name: &str,
        file: &std::path::Path,
    ) -> Result<AssetInfo, ForgeError> {
        let base = upload_url.split('{').next().unwrap_or(upload_url);
        let url = format!("{base}?name={}", seg(name));
        let checked = self.http.check_url(&url)?;
        let (url, bytes) = self
            .send(Method::POST, checked.as_str(), Body::File(file))
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| ForgeError::Decode {
            method: "POST".into(),
            url,
            detail: e.to_string(),
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ForgeError> {
        let url = format!("{}{}", self.api, path);
        let body = match body {
            Some(body) => Body::Json(body),
            None => Body::None,
        };
        let (url, bytes) = self.send(method.clone(), &url, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ForgeError::Decode {
            method: method.to_string(),
            url,
            detail: e.to_string(),
        })
    }
}

/// What a request carries.
enum Body<'a> {
    None,
    Json(Value),
    /// A file, streamed as `application/octet-stream`.
    File(&'a std::path::Path),
}

impl Forge {
    /// Sends one request; the URL and the body of a successful answer.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Body<'_>,
    ) -> Result<(String, bytes::Bytes), ForgeError> {
        let failed = |detail: String| ForgeError::Request {
            method: method.to_string(),
            url: url.to_string(),
            detail,
        };
        let mut request = self
            .http
            .reqwest()
            .request(method.clone(), url)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request.timeout(REQUEST_TIMEOUT),
            Body::Json(body) => request
                .timeout(REQUEST_TIMEOUT)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
            Body::File(path) => {
                // No overall time-out: a large asset takes as long as it takes.
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| failed(format!("cannot open `{}`: {e}", path.display())))?;
                let size = file
                    .metadata()
                    .await
                    .map_err(|e| failed(format!("cannot read `{}`: {e}", path.display())))?
                    .len();
                let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
                request
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, size)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| failed(crate::error::chain(&e.without_url())))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| failed(crate::error::chain(&e.without_url())))?;
        if !status.is_success() {
            return Err(ForgeError::Status {
                method: method.to_string(),
                url: url.to_string(),
                status: status.as_u16(),
                message: api_message(status, &bytes),
            });
        }
        Ok((url.to_string(), bytes))
    }
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The API's error message: `message` plus each `errors[].message`, or the start of the body.
fn api_message(status: StatusCode, body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let mut parts: Vec<String> = Vec::new();
            if let Some(m) = v.get("message").and_then(Value::as_str) {
                parts.push(m.to_string());
            }
            if let Some(errors) = v.get("errors").and_then(Value::as_array) {
                for e in errors {
                    if let Some(m) = e.get("message").and_then(Value::as_str) {
                        parts.push(m.to_string());
                    } else if let Some(code) = e.get("code").and_then(Value::as_str) {
                        parts.push(code.to_string());
                    }
                }
            }
            parts.join(": ")
        }
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(QUOTED)])
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
    };
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(QUOTED)
        .collect();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_messages_are_extracted() {
        let body = br#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for u:b."}]}"#;
        assert_eq!(
            api_message(StatusCode::UNPROCESSABLE_ENTITY, body),
            "Validation Failed: A pull request already exists for u:b."
        );
        assert_eq!(api_message(StatusCode::NOT_FOUND, b""), "Not Found");
        assert_eq!(api_message(StatusCode::BAD_GATEWAY, b"oops\nmore"), "oops");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let forge = Forge::new("https://api.github.com", Some("ghp_secret123"), false).unwrap();
        assert!(!format!("{forge:?}").contains("ghp_secret123"));
        assert!(Forge::new("http://api.example.org", None, false).is_err());
    }
}
