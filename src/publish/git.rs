//! The git side of `trove publish --pr`, with libgit2 (`git2`): a bare work clone of the registry
//! repository, fetched on every use; the registry file read at the base branch; a commit that
//! replaces only that file, on branch `trove/publish/<id>`; remote branch checks and pushes.
//!
//! Everything here blocks: call it from `tokio::task::spawn_blocking`.
//!
//! Credentials: `https://` remotes get the token (user `x-access-token`) when there is one; ssh
//! remotes use the SSH agent; local paths, `file://` and `git://` need none. The token is handed to
//! libgit2 through the credential callback only, never put in a URL.

use super::pr::PrError;
use git2::{
    AutotagOption, Cred, CredentialType, Direction, FetchOptions, FetchPrune, ObjectType, Oid,
    PushOptions, Remote, RemoteCallbacks, Repository, Signature,
};
use std::cell::{Cell, RefCell};
use std::path::Path;

/// The name of the upstream remote in the work clone.
pub const ORIGIN: &str = "origin";

/// How often the credential callback may be asked before giving up (libgit2 asks again after
/// every refused credential).
const MAX_CREDENTIAL_ATTEMPTS: u32 = 3;

/// The commit author and committer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitIdentity {
    /// `user.name`.
    pub name: String,
    /// `user.email`.
    pub email: String,
}

/// What a remote holds, from one connection.
#[derive(Debug, Clone, Default)]
pub struct RemoteState {
    /// The branch the remote's `HEAD` points at, if it says.
    pub default_branch: Option<String>,
    /// Whether the branch asked about exists.
    pub has_branch: bool,
}

/// Opens the bare work clone at `dir`, creating it when missing.
pub fn open_or_init(dir: &Path) -> Result<Repository, PrError> {
    if dir.join("HEAD").exists() {
        return Repository::open_bare(dir)
            .map_err(|e| git_error("open the work clone", dir.display(), e));
    }
    std::fs::create_dir_all(dir).map_err(|e| PrError::Io {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    })?;
    Repository::init_bare(dir).map_err(|e| git_error("create the work clone", dir.display(), e))
}

/// Points `origin` at `url` and fetches all its branches (pruning deleted ones). Returns the
/// remote's default branch when it announces one.
pub fn fetch_origin(
    repo: &Repository,
    url: &str,
    token: Option<&str>,
) -> Result<Option<String>, PrError> {
    let mut remote = match repo.find_remote(ORIGIN) {
        Ok(r) if r.url() == Some(url) => r,
        Ok(_) => {
            repo.remote_set_url(ORIGIN, url)
                .map_err(|e| git_error("set the remote URL", url, e))?;
            repo.find_remote(ORIGIN)
                .map_err(|e| git_error("set the remote URL", url, e))?
        }
        Err(_) => repo
            .remote(ORIGIN, url)
            .map_err(|e| git_error("add the remote", url, e))?,
    };
    let attempts = Cell::new(0);
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(token, &attempts))
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None);
    remote
        .fetch(
            &["+refs/heads/*:refs/remotes/origin/*"],
            Some(&mut options),
            Some("trove: fetch"),
        )
        .map_err(|e| git_error("fetch", url, e))?;
    Ok(remote
        .default_branch()
        .ok()
        .and_then(|b| b.as_str().map(str::to_string))
        .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_string)))
}

/// The remote-tracking commit of `branch` (after [`fetch_origin`]).
pub fn base_commit<'r>(
    repo: &'r Repository,
    branch: &str,
) -> Result<Option<git2::Commit<'r>>, PrError> {
    let name = format!("refs/remotes/{ORIGIN}/{branch}");
    match repo.find_reference(&name) {
        Ok(r) => r
            .peel_to_commit()
            .map(Some)
            .map_err(|e| git_error("read the base branch", branch, e)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git_error("read the base branch", branch, e)),
    }
}

/// The bytes of the file at `path` in `commit`, or `None` when there is no such file.
pub fn read_file(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    path: &str,
) -> Result<Option<Vec<u8>>, PrError> {
    let tree = commit
        .tree()
        .map_err(|e| git_error("read the tree", path, e))?;
    let entry = match tree.get_path(Path::new(path)) {
        Ok(entry) => entry,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git_error("read", path, e)),
    };
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    let blob = repo
        .find_blob(entry.id())
        .map_err(|e| git_error("read", path, e))?;
    Ok(Some(blob.content().to_vec()))
}

/// The user's git identity: `identity` when given, else `user.name`/`user.email` from the git
/// configuration the work clone sees (its own, the global and the system files).
pub fn signature(
    repo: &Repository,
    identity: Option<&GitIdentity>,
) -> Result<Signature<'static>, PrError> {
    let result = match identity {
        Some(id) => Signature::now(&id.name, &id.email),
        None => repo.signature(),
    };
    result.map_err(|e| PrError::NoIdentity {
        detail: e.message().to_string(),
    })
}

/// Commits `bytes` as the file at `path` on top of `base` (every other file unchanged) and points
/// the local branch `branch` at the commit (replacing an older one). Returns the commit.
pub fn commit_file(
    repo: &Repository,
    base: &git2::Commit<'_>,
    path: &str,
    bytes: &[u8],
    branch: &str,
    author: &Signature<'_>,
    message: &str,
) -> Result<Oid, PrError> {
    let parts = path_parts(path)?;
    let blob = repo
        .blob(bytes)
        .map_err(|e| git_error("store the new file", path, e))?;
    let base_tree = base
        .tree()
        .map_err(|e| git_error("read the base tree", path, e))?;
    let tree_id = replace_in_tree(repo, Some(&base_tree), &parts, blob)
        .map_err(|e| git_error("build the new tree", path, e))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| git_error("build the new tree", path, e))?;
    let commit = repo
        .commit(None, author, author, message, &tree, &[base])
        .map_err(|e| git_error("commit", branch, e))?;
    repo.reference(
        &format!("refs/heads/{branch}"),
        commit,
        true,
        "trove: publish",
    )
    .map_err(|e| git_error("create the branch", branch, e))?;
    Ok(commit)
}

/// Deletes the local branch `branch` if it exists (best effort: used while cleaning up).
pub fn delete_local_branch(repo: &Repository, branch: &str) {
    if let Ok(mut r) = repo.find_reference(&format!("refs/heads/{branch}")) {
        let _ = r.delete();
    }
}

/// Whether the local branch `branch` exists.
pub fn has_local_branch(repo: &Repository, branch: &str) -> bool {
    repo.find_reference(&format!("refs/heads/{branch}")).is_ok()
}

/// Connects to `url` (like `git ls-remote`): its default branch and whether `branch` exists.
pub fn remote_state(url: &str, branch: &str, token: Option<&str>) -> Result<RemoteState, PrError> {
    let mut remote = Remote::create_detached(url).map_err(|e| git_error("connect to", url, e))?;
    let attempts = Cell::new(0);
    let connection = remote
        .connect_auth(Direction::Push, Some(callbacks(token, &attempts)), None)
        .map_err(|e| git_error("connect to", url, e))?;
    let wanted = format!("refs/heads/{branch}");
    let has_branch = connection
        .list()
        .map_err(|e| git_error("list the branches of", url, e))?
        .iter()
        .any(|head| head.name() == wanted);
    let default_branch = connection
        .default_branch()
        .ok()
        .and_then(|b| b.as_str().map(str::to_string))
        .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_string));
    Ok(RemoteState {
        default_branch,
        has_branch,
    })
}

/// Pushes the local branch `branch` to the branch of the same name at `url`; `force` replaces
/// what is there. A ref the remote refuses is an error naming the remote's reason.
pub fn push_branch(
    repo: &Repository,
    url: &str,
    branch: &str,
    force: bool,
    token: Option<&str>,
) -> Result<(), PrError> {
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| git_error("push to", url, e))?;
    let attempts = Cell::new(0);
    let refused: RefCell<Option<String>> = RefCell::new(None);
    let mut cbs = callbacks(token, &attempts);
    cbs.push_update_reference(|name, status| {
        if let Some(status) = status {
            *refused.borrow_mut() = Some(format!("the remote refused `{name}`: {status}"));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(cbs);
    let spec = format!(
        "{}refs/heads/{branch}:refs/heads/{branch}",
        if force { "+" } else { "" }
    );
    remote
        .push(&[spec.as_str()], Some(&mut options))
        .map_err(|e| git_error("push to", url, e))?;
    drop(options);
    if let Some(reason) = refused.into_inner() {
        return Err(PrError::Git {
            action: format!("push `{branch}` to `{}`", redact_url(url)),
            detail: reason,
        });
    }
    Ok(())
}

/// The credential callback: token for https, SSH agent for ssh, nothing otherwise.
fn callbacks<'a>(token: Option<&'a str>, attempts: &'a Cell<u32>) -> RemoteCallbacks<'a> {
    let mut cbs = RemoteCallbacks::new();
    cbs.credentials(move |url, username, allowed| {
        attempts.set(attempts.get() + 1);
        if attempts.get() > MAX_CREDENTIAL_ATTEMPTS {
            return Err(git2::Error::from_str(
                "the credentials were refused (for https: check the token; for ssh: check that the SSH agent holds a key the forge knows)",
            ));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            return Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return match token {
                Some(token) if url.starts_with("https://") || url.starts_with("http://") => {
                    Cred::userpass_plaintext("x-access-token", token)
                }
                _ => Err(git2::Error::from_str(
                    "the server asks for credentials and no token was given (set TROVE_GITHUB_TOKEN)",
                )),
            };
        }
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username.unwrap_or("git"));
        }
        Cred::default()
    });
    cbs
}

/// Splits a repository-relative path into safe components.
pub fn path_parts(path: &str) -> Result<Vec<&str>, PrError> {
    let parts: Vec<&str> = path.split('/').collect();
    let bad = parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\') || p.contains('\0'));
    if bad || parts.first() == Some(&".git") {
        return Err(PrError::InvalidRegistryPath {
            path: path.to_string(),
        });
    }
    Ok(parts)
}

/// The tree `tree` with the file at `parts` replaced by (or set to) `blob`.
fn replace_in_tree(
    repo: &Repository,
    tree: Option<&git2::Tree<'_>>,
    parts: &[&str],
    blob: Oid,
) -> Result<Oid, git2::Error> {
    let mut builder = repo.treebuilder(tree)?;
    let existing = tree.and_then(|t| t.get_name(parts[0]));
    if parts.len() == 1 {
        let mode = existing
            .map(|e| e.filemode())
            .filter(|m| *m == 0o100755)
            .unwrap_or(0o100644);
        builder.insert(parts[0], blob, mode)?;
    } else {
        let sub = match existing {
            Some(e) if e.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(e.id())?),
            _ => None,
        };
        let id = replace_in_tree(repo, sub.as_ref(), &parts[1..], blob)?;
        builder.insert(parts[0], id, 0o040000)?;
    }
    builder.write()
}

/// A [`PrError::Git`] for `action` on `what` (a URL with any user info removed, or a path).
pub fn git_error(action: &str, what: impl std::fmt::Display, e: git2::Error) -> PrError {
    PrError::Git {
        action: format!("{action} `{}`", redact_url(&what.to_string())),
        detail: e.message().to_string(),
    }
}

/// `url` with any `user:password@` removed.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_paths_must_be_plain() {
        assert_eq!(path_parts("registry.json").unwrap(), vec!["registry.json"]);
        assert_eq!(path_parts("a/b.json").unwrap(), vec!["a", "b.json"]);
        for bad in ["", "/a", "a/", "../a", "a/./b", ".git/config", "a\\b"] {
            assert!(path_parts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://x-access-token:ghp_abc@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(redact_url("/some/path"), "/some/path");
    }

    #[test]
    fn nested_files_are_replaced_alone() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let sig = Signature::now("T", "t@example.org").unwrap();
        let a = repo.blob(b"a").unwrap();
        let inner = replace_in_tree(&repo, None, &["d", "x.json"], a).unwrap();
        let inner = repo.find_tree(inner).unwrap();
        let tree = replace_in_tree(&repo, Some(&inner), &["top"], a).unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let base = repo.commit(None, &sig, &sig, "base", &tree, &[]).unwrap();
        let base = repo.find_commit(base).unwrap();
        let id = commit_file(&repo, &base, "d/x.json", b"new", "b", &sig, "m").unwrap();
        let commit = repo.find_commit(id).unwrap();
        assert_eq!(
            read_file(&repo, &commit, "d/x.json").unwrap().unwrap(),
            b"new"
        );
        assert_eq!(read_file(&repo, &commit, "top").unwrap().unwrap(), b"a");
        assert!(read_file(&repo, &commit, "none").unwrap().is_none());
        let diff = repo
            .diff_tree_to_tree(
                Some(&base.tree().unwrap()),
                Some(&commit.tree().unwrap()),
                None,
            )
            .unwrap();
        assert_eq!(diff.deltas().count(), 1);
        assert!(has_local_branch(&repo, "b"));
        delete_local_branch(&repo, "b");
        assert!(!has_local_branch(&repo, "b"));
    }
}
