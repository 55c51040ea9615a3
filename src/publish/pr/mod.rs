//! `trove publish --pr` and `trove registry pr`: propose a registry change as a pull request.
//!
//! 1. Work out where the registry lives: `owner/repo` (a forge repository, found through the
//!    API), an `https://` or ssh URL on the forge's host, another git URL (`git://`, a different
//!    host), or a local path / `file://` URL.
//! 2. Clone or update a bare work clone under `work_dir` and read the registry file at the base
//!    branch ([`read_registry`]).
//! 3. Apply the caller's deterministic edit, commit only that file on `trove/publish/<id>` with
//!    the user's git identity, push it to the user's fork (forked through the API when missing) or,
//!    for repositories without a forge, to the repository itself, and open the pull request
//!    ([`open_pull_request`]).
//!
//! Without a token nothing is pushed: the commit stays in the work clone and
//! [`PrOutcome::ManualSteps`] says how to finish. An existing remote branch is refused unless
//! `force`. When anything fails after the local branch was made, the local branch is removed and
//! the error says how to finish by hand. The token never appears in an error, an outcome or
//! `Debug` output: it is sent only as the API's `Authorization` header and as the password of
//! `https://` git requests.

mod error;
mod repository;

use crate::http::is_local_host;
pub use error::PrError;
use repository::{check_git_url, compare_url, is_scp_like, parse_repository, web_base, Target};

use super::forge::{Forge, NewPull, RepoInfo};
use super::git::{self, GitIdentity};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The prefix of every branch trove pushes.
pub const BRANCH_PREFIX: &str = "trove/publish/";

/// The default forge API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Placeholder for the user's forge account in manual steps (the account is unknown without a
/// token).
pub const YOUR_USER: &str = "YOUR-USER";

/// How long a new fork may take to accept git connections.
const FORK_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The caller's deterministic registry edit: old bytes in, new bytes out; an `Err` aborts
/// before anything is committed or pushed.
pub type RegistryEdit = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync;

/// Where and how to propose the change.
#[derive(Clone, Default)]
pub struct PrOptions {
    /// `owner/repo` (GitHub), an https URL, an ssh URL (`git@host:owner/repo.git`), or a local
    /// path / `file://` URL.
    pub repository: String,
    /// The registry file inside the repository, e.g. `registry.json`.
    pub registry_path: String,
    /// The base branch; default: the repository's default branch (API, else the remote `HEAD`).
    pub base: Option<String>,
    /// The forge API, e.g. `https://api.github.com` (`https://HOST/api/v3` for GitHub
    /// Enterprise).
    pub api_url: String,
    /// The forge's web site, for compare links; default: derived from the API URL
    /// (`https://api.github.com` → `https://github.com`).
    pub web_url: Option<String>,
    /// The forge token: never printed, never in errors; sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// Replace an existing `trove/publish/<id>` branch.
    pub force: bool,
    /// Where work clones live (the CLI passes `<cache>/publish-v1`).
    pub work_dir: PathBuf,
    /// Allow plain `http://` (and `git://`) to public hosts.
    pub allow_insecure: bool,
    /// The commit author; default: `user.name`/`user.email` from the git configuration.
    pub identity: Option<GitIdentity>,
}

impl std::fmt::Debug for PrOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrOptions")
            .field("repository", &git::redact_url(&self.repository))
            .field("registry_path", &self.registry_path)
            .field("base", &self.base)
            .field("api_url", &self.api_url)
            .field("web_url", &self.web_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("force", &self.force)
            .field("work_dir", &self.work_dir)
            .field("allow_insecure", &self.allow_insecure)
            .field("identity", &self.identity)
            .finish()
    }
}

/// The change to propose.
#[derive(Debug, Clone)]
pub struct PrChange {
    /// The entry ID (names the branch `trove/publish/<id>`).
    pub id: String,
    /// The pull request's title.
    pub title: String,
    /// The pull request's description (Markdown).
    pub body: String,
    /// The commit message.
    pub commit_message: String,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrOutcome {
    /// The branch was pushed to the fork and the pull request opened (or, with `force`, an open
    /// one from the same branch was found and updated).
    Opened {
        /// The pull request's web page.
        url: String,
        /// Its number.
        number: u64,
        /// The branch.
        branch: String,
        /// The repository the branch was pushed to (`user/repo`).
        fork: String,
    },
    /// A repository without a forge API: the branch was pushed to it, no pull request.
    Pushed {
        /// The branch.
        branch: String,
        /// Where it was pushed.
        remote: String,
    },
    /// No token: nothing was pushed; the commit is on `branch` in the work clone.
    ManualSteps {
        /// The branch in the work clone.
        branch: String,
        /// What to do, one step a line.
        steps: String,
        /// Where to open the pull request (with [`YOUR_USER`] to replace by the account name).
        compare_url: Option<String>,
    },
}

/// The bare work clone used for `options.repository`: `<work_dir>/<name>-<hash>.git`.
pub fn work_clone_dir(options: &PrOptions) -> PathBuf {
    let key = options.repository.trim();
    let hash = Sha256::digest(key.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let slug: String = git::redact_url(key)
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let slug = if slug.is_empty() {
        "registry".into()
    } else {
        slug
    };
    options.work_dir.join(format!("{slug}-{hex}.git"))
}

/// The branch for entry `id`.
pub fn branch_name(id: &str) -> String {
    format!("{BRANCH_PREFIX}{id}")
}

/// Clones or updates the repository and returns the registry file's bytes at the base branch.
pub async fn read_registry(options: &PrOptions) -> Result<Vec<u8>, PrError> {
    let token = token(options);
    async {
        let plan = Plan::new(options).await?;
        Ok(plan.prepare(options).await?.old)
    }
    .await
    .map_err(|e: PrError| e.redact(token))
}

/// Branches `trove/publish/<id>` from the base, replaces the registry file with `edit(old)`,
/// commits with the user's git identity, pushes to the fork (created when missing) or, for
/// repositories without a forge, to the repository itself, and opens the pull request. See the
/// module docs for the failure rules.
pub async fn open_pull_request(
    options: &PrOptions,
    change: &PrChange,
    edit: &RegistryEdit,
) -> Result<PrOutcome, PrError> {
    let token = token(options);
    run(options, change, edit)
        .await
        .map_err(|e| e.redact(token))
}

fn token(options: &PrOptions) -> Option<&str> {
    options.token.as_deref().filter(|t| !t.is_empty())
}

async fn run(
    options: &PrOptions,
    change: &PrChange,
    edit: &RegistryEdit,
) -> Result<PrOutcome, PrError> {
    check_id(&change.id)?;
    let branch = branch_name(&change.id);
    let plan = Plan::new(options).await?;
    let prepared = plan.prepare(options).await?;
    let new = edit(&prepared.old).map_err(|detail| PrError::Edit {
        id: change.id.clone(),
        detail,
    })?;
    if new == prepared.old {
        return Err(PrError::Unchanged {
            id: change.id.clone(),
            path: options.registry_path.clone(),
        });
    }
    let base = prepared.base.clone();
    let commit = |dir: PathBuf| {
        let base = base.clone();
        let path = options.registry_path.clone();
        let branch = branch.clone();
        let identity = options.identity.clone();
        let message = change.commit_message.clone();
        let new = new.clone();
        blocking(move || {
            let repo = git::open_or_init(&dir)?;
            let base_commit =
                git::base_commit(&repo, &base)?.ok_or_else(|| PrError::BaseNotFound {
                    repository: dir.display().to_string(),
                    branch: base.clone(),
                })?;
            let author = git::signature(&repo, identity.as_ref())?;
            git::commit_file(&repo, &base_commit, &path, &new, &branch, &author, &message)
        })
    };
    let dir = plan.clone_dir.clone();
    let forge = match &plan.forge {
        None => {
            // No forge: push to the repository itself.
            let url = plan.clone_url.clone();
            check_remote_branch(&url, &branch, options.force, plan.token.clone()).await?;
            commit(dir.clone()).await?;
            push(&dir, &url, &branch, options.force, plan.token.clone())
                .await
                .map_err(|e| {
                    e.unfinished(format!(
                        "nothing was pushed and the local branch `{branch}` was removed; fix the problem above and run the command again, or commit the change to `{}` yourself",
                        options.registry_path
                    ))
                })?;
            return Ok(PrOutcome::Pushed {
                branch,
                remote: git::redact_url(&url),
            });
        }
        Some(forge) => forge,
    };
    let upstream = format!("{}/{}", forge.owner, forge.name);
    let Some(api) = forge.api.as_ref().filter(|a| a.has_token()) else {
        // No token: commit locally, push nothing.
        commit(dir.clone()).await?;
        let compare = compare_url(&forge.html_url, &prepared.base, YOUR_USER, &branch);
        let fork_url = format!("{}/{}/{}.git", plan.web, YOUR_USER, forge.name);
        let steps = format!(
            "No token was given, so nothing was pushed: the commit is on branch `{branch}` of the work clone `{dir}`.\n\
             Set TROVE_GITHUB_TOKEN to a token that may fork and open pull requests and run the command again, or finish by hand:\n  \
             1. fork {html} (once), at {html}/fork\n  \
             2. git -C '{dir}' push {fork_url} {branch}   ({YOUR_USER} = your account)\n  \
             3. open {compare} and create the pull request titled \"{title}\"",
            dir = dir.display(),
            html = forge.html_url,
            title = change.title,
        );
        return Ok(PrOutcome::ManualSteps {
            branch,
            steps,
            compare_url: Some(compare),
        });
    };
    let user = api.user().await?.login;
    // The repository to push to: the upstream itself when the user owns it, else the fork.
    let (fork_name, push_url, created) = if user.eq_ignore_ascii_case(&forge.owner) {
        (upstream.clone(), plan.clone_url.clone(), false)
    } else {
        let (info, created) = match api.repository(&user, &forge.name).await? {
            Some(info) => {
                let parent_ok = info
                    .parent
                    .as_ref()
                    .is_none_or(|p| p.full_name.eq_ignore_ascii_case(&upstream));
                if !info.fork || !parent_ok {
                    return Err(PrError::NotAFork {
                        repository: info.full_name,
                        upstream,
                    });
                }
                (info, false)
            }
            None => (api.create_fork(&forge.owner, &forge.name).await?, true),
        };
        let url = fork_push_url(&plan, &info, options)?;
        (info.full_name.clone(), url, created)
    };
    let head_owner = fork_name.split('/').next().unwrap_or(&user).to_string();
    let head = format!("{head_owner}:{branch}");
    let compare = compare_url(&forge.html_url, &prepared.base, &head_owner, &branch);
    let checked = if created {
        wait_for_fork(&push_url, &branch, options.force, plan.token.clone()).await
    } else {
        check_remote_branch(&push_url, &branch, options.force, plan.token.clone()).await
    };
    checked.map_err(|e| match e {
        PrError::Git { .. } => e.unfinished(format!(
            "nothing was pushed; fix the problem above and run the command again, or push the change to a branch of `{fork_name}` yourself and open the pull request by hand at {compare}"
        )),
        other => other,
    })?;
    commit(dir.clone()).await?;
    push(&dir, &push_url, &branch, options.force, plan.token.clone())
        .await
        .map_err(|e| {
            e.unfinished(format!(
                "nothing was pushed and the local branch `{branch}` was removed; fix the problem above and run the command again, or push the change to a branch of `{fork_name}` yourself and open the pull request by hand at {compare}"
            ))
        })?;
    let pull = NewPull {
        title: &change.title,
        body: &change.body,
        head: &head,
        base: &prepared.base,
    };
    let opened = match api.create_pull(&forge.owner, &forge.name, &pull).await {
        Ok(p) => Ok(p),
        Err(e) if e.status() == Some(422) && options.force => {
            match api.find_pull(&forge.owner, &forge.name, &head).await {
                Ok(Some(p)) => Ok(p),
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    match opened {
        Ok(p) => Ok(PrOutcome::Opened {
            url: p.html_url,
            number: p.number,
            branch,
            fork: fork_name,
        }),
        Err(e) => {
            delete_local_branch(&dir, &branch).await;
            Err(PrError::from(e).unfinished(format!(
                "the branch `{branch}` was pushed to `{fork_name}`: open the pull request by hand at {compare} (base `{}`, title \"{}\")",
                prepared.base, change.title
            )))
        }
    }
}

/// A forge repository.
struct ForgeRepo {
    owner: String,
    name: String,
    /// The upstream's web page.
    html_url: String,
    /// The API client (with or without a token); `None` when the API could not be reached
    /// without a token.
    api: Option<Forge>,
}

/// Where everything is, worked out from the options (and the API).
struct Plan {
    clone_url: String,
    clone_dir: PathBuf,
    /// The default branch the API named, if any.
    api_default_branch: Option<String>,
    forge: Option<ForgeRepo>,
    /// The forge's web site (`https://github.com`).
    web: String,
    token: Option<Arc<str>>,
    /// Whether URLs the API hands out may be local (`file://`): only for a loopback API (tests).
    api_is_local: bool,
}

/// What [`Plan::prepare`] found.
struct Prepared {
    base: String,
    old: Vec<u8>,
}

impl Plan {
    async fn new(options: &PrOptions) -> Result<Plan, PrError> {
        git::path_parts(&options.registry_path)?;
        let token: Option<Arc<str>> = token(options).map(Arc::from);
        let api_url = if options.api_url.trim().is_empty() {
            DEFAULT_API_URL
        } else {
            options.api_url.trim()
        };
        let web = web_base(api_url, options.web_url.as_deref());
        let forge_host = Url::parse(&web)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        let api_is_local = Url::parse(api_url)
            .ok()
            .and_then(|u| u.host().map(|h| is_local_host(&h)))
            .unwrap_or(false);
        let target = parse_repository(options, forge_host.as_deref())?;
        let clone_dir = work_clone_dir(options);
        let mut plan = Plan {
            clone_url: String::new(),
            clone_dir,
            api_default_branch: None,
            forge: None,
            web: web.clone(),
            token,
            api_is_local,
        };
        match target {
            Target::Plain(url) => plan.clone_url = url,
            Target::Forge { owner, name, url } => {
                let api = Forge::new(api_url, plan.token.as_deref(), options.allow_insecure)?;
                let info = match api.repository(&owner, &name).await {
                    Ok(Some(info)) => Some(info),
                    Ok(None) if api.has_token() => {
                        return Err(PrError::Api {
                            message: format!(
                                "the repository `{owner}/{name}` was not found at `{}`",
                                api.api_url()
                            ),
                            hint: Some(
                                "check the repository name and that the token can see it".into(),
                            ),
                        })
                    }
                    Err(e) if api.has_token() => return Err(e.into()),
                    // Without a token the API is only a convenience.
                    _ => None,
                };
                plan.clone_url = match (url, info.as_ref().and_then(|i| i.clone_url.clone())) {
                    (Some(url), _) => url,
                    (None, Some(api_url)) => plan.checked_api_url(&api_url, options)?,
                    (None, None) => format!("{web}/{owner}/{name}.git"),
                };
                plan.api_default_branch = info.as_ref().and_then(|i| i.default_branch.clone());
                let html_url = info
                    .as_ref()
                    .and_then(|i| i.html_url.clone())
                    .unwrap_or_else(|| format!("{web}/{owner}/{name}"));
                plan.forge = Some(ForgeRepo {
                    owner,
                    name,
                    html_url: html_url.trim_end_matches('/').to_string(),
                    api: (api.has_token() || info.is_some()).then_some(api),
                });
            }
        }
        Ok(plan)
    }

    /// A git URL the API handed out, under the URL policy (`file://` only from a loopback API).
    fn checked_api_url(&self, url: &str, options: &PrOptions) -> Result<String, PrError> {
        check_git_url(url, options.allow_insecure, self.api_is_local)
            .map(|_| url.to_string())
            .map_err(|reason| PrError::InvalidRepository {
                repository: git::redact_url(url),
                reason: format!("the forge API named this git URL: {reason}"),
            })
    }

    /// Clones or fetches, picks the base branch, reads the registry file.
    async fn prepare(&self, options: &PrOptions) -> Result<Prepared, PrError> {
        let dir = self.clone_dir.clone();
        let url = self.clone_url.clone();
        let token = self.token.clone();
        let wanted = options.base.clone().or(self.api_default_branch.clone());
        let path = options.registry_path.clone();
        let label = git::redact_url(&options.repository);
        blocking(move || {
            let repo = git::open_or_init(&dir)?;
            let announced = git::fetch_origin(&repo, &url, token.as_deref())?;
            let base = wanted
                .or(announced)
                .or_else(|| {
                    ["main", "master"]
                        .into_iter()
                        .find(|b| git::base_commit(&repo, b).ok().flatten().is_some())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "main".into());
            let commit = git::base_commit(&repo, &base)?.ok_or_else(|| PrError::BaseNotFound {
                repository: label.clone(),
                branch: base.clone(),
            })?;
            let old =
                git::read_file(&repo, &commit, &path)?.ok_or_else(|| PrError::RegistryMissing {
                    repository: label.clone(),
                    branch: base.clone(),
                    path: path.clone(),
                })?;
            Ok(Prepared { base, old })
        })
        .await
    }
}

/// The fork's URL to push to: ssh when the upstream was given as ssh, else the https one.
fn fork_push_url(plan: &Plan, fork: &RepoInfo, options: &PrOptions) -> Result<String, PrError> {
    let ssh = is_scp_like(&plan.clone_url) || plan.clone_url.starts_with("ssh://");
    let url = if ssh {
        fork.ssh_url.clone().or(fork.clone_url.clone())
    } else {
        fork.clone_url.clone()
    };
    let url = url.ok_or_else(|| PrError::Api {
        message: format!(
            "the forge did not name a clone URL for `{}`",
            fork.full_name
        ),
        hint: None,
    })?;
    plan.checked_api_url(&url, options)
}

/// Refuses an existing remote branch unless `force`.
async fn check_remote_branch(
    url: &str,
    branch: &str,
    force: bool,
    token: Option<Arc<str>>,
) -> Result<(), PrError> {
    let (u, b) = (url.to_string(), branch.to_string());
    let state = blocking(move || git::remote_state(&u, &b, token.as_deref())).await?;
    if state.has_branch && !force {
        return Err(PrError::BranchExists {
            branch: branch.to_string(),
            remote: git::redact_url(url),
        });
    }
    Ok(())
}

/// Waits until a fork the API just created accepts git connections, then checks the branch.
async fn wait_for_fork(
    url: &str,
    branch: &str,
    force: bool,
    token: Option<Arc<str>>,
) -> Result<(), PrError> {
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        match check_remote_branch(url, branch, force, token.clone()).await {
            Err(PrError::Git { .. }) if start.elapsed() < FORK_READY_TIMEOUT => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            other => return other,
        }
    }
}

/// Pushes; on failure removes the local branch.
async fn push(
    dir: &Path,
    url: &str,
    branch: &str,
    force: bool,
    token: Option<Arc<str>>,
) -> Result<(), PrError> {
    let (d, u, b) = (dir.to_path_buf(), url.to_string(), branch.to_string());
    blocking(move || {
        let repo = git::open_or_init(&d)?;
        let result = git::push_branch(&repo, &u, &b, force, token.as_deref());
        if result.is_err() {
            git::delete_local_branch(&repo, &b);
        }
        result
    })
    .await
}

async fn delete_local_branch(dir: &Path, branch: &str) {
    let (d, b) = (dir.to_path_buf(), branch.to_string());
    let _ = blocking(move || {
        let repo = git::open_or_init(&d)?;
        git::delete_local_branch(&repo, &b);
        Ok(())
    })
    .await;
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PrError> + Send + 'static,
) -> Result<T, PrError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PrError::Task(e.to_string()))?
}

/// IDs become branch names: the registry's ID rules (ASCII letters, digits, `._+-`).
fn check_id(id: &str) -> Result<(), PrError> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && !id.ends_with(".lock")
        && !id.contains("..");
    if ok {
        Ok(())
    } else {
        Err(PrError::Edit {
            id: id.to_string(),
            detail: "the ID cannot name a git branch (use ASCII letters, digits and `._+-`, starting with a letter or digit)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hint as _;

    fn options(repository: &str) -> PrOptions {
        PrOptions {
            repository: repository.into(),
            registry_path: "registry.json".into(),
            api_url: DEFAULT_API_URL.into(),
            work_dir: PathBuf::from("/tmp/w"),
            ..PrOptions::default()
        }
    }

    #[test]
    fn repository_forms_are_recognised() {
        let host = Some("github.com");
        let forge = |r: &str| match parse_repository(&options(r), host).unwrap() {
            Target::Forge { owner, name, .. } => Some(format!("{owner}/{name}")),
            Target::Plain(_) => None,
        };
        assert_eq!(forge("owner/repo").as_deref(), Some("owner/repo"));
        assert_eq!(forge("https://github.com/o/r.git").as_deref(), Some("o/r"));
        assert_eq!(forge("git@github.com:o/r.git").as_deref(), Some("o/r"));
        assert_eq!(forge("git@example.org:o/r.git"), None);
        assert_eq!(forge("https://example.org/o/r.git"), None);
        assert_eq!(forge("git://127.0.0.1:9418/r.git"), None);
        assert_eq!(forge("file:///srv/r.git"), None);
        assert!(parse_repository(&options("git://example.org/r.git"), host).is_err());
        assert!(parse_repository(&options("http://example.org/o/r"), host).is_err());
        assert!(parse_repository(&options("not a repo/x/y"), host).is_err());
        assert!(parse_repository(&options(""), host).is_err());
    }

    #[test]
    fn web_base_is_derived_from_the_api() {
        assert_eq!(
            web_base("https://api.github.com", None),
            "https://github.com"
        );
        assert_eq!(
            web_base("https://ghe.example.org/api/v3", None),
            "https://ghe.example.org"
        );
        assert_eq!(
            web_base("http://127.0.0.1:8080", Some("http://w/")),
            "http://w"
        );
    }

    #[test]
    fn debug_and_errors_hide_the_token() {
        let mut o = options("o/r");
        o.token = Some("ghp_topsecret".into());
        assert!(!format!("{o:?}").contains("ghp_topsecret"));
        let e = PrError::Git {
            action: "push".into(),
            detail: "echo ghp_topsecret".into(),
        }
        .unfinished("steps ghp_topsecret".into())
        .redact(Some("ghp_topsecret"));
        assert!(!format!("{e} {:?} {:?}", e.hint(), e).contains("ghp_topsecret"));
    }

    #[test]
    fn ids_must_make_branch_names() {
        assert!(check_id("coalescent_n5_theta1").is_ok());
        assert!(check_id("a.b+c-d").is_ok());
        for bad in ["", "-x", "a/b", "a..b", "a.lock", "a b", "a~1"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn work_clones_are_named_after_the_repository() {
        let dir = work_clone_dir(&options("owner/repo"));
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("repo-") && name.ends_with(".git"),
            "{name}"
        );
        assert_ne!(dir, work_clone_dir(&options("other/repo")));
    }
}
