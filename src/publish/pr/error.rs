//! What can go wrong proposing a registry change, with the redaction that keeps the token out
//! of every message, and the hints (the steps to finish by hand among them).

use crate::publish::forge::ForgeError;
use crate::Hint as _;
use std::path::PathBuf;

/// Errors proposing a change. No message contains the token; [`PrError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PrError {
    /// The repository is not a form trove understands, or its URL is refused.
    #[error("invalid registry repository `{repository}`: {reason}")]
    InvalidRepository {
        /// As given (credentials removed).
        repository: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry path is not a plain relative path.
    #[error("invalid registry path `{path}`: not a plain relative path")]
    InvalidRegistryPath {
        /// As given.
        path: String,
    },
    /// A git operation failed.
    #[error("cannot {action}: {detail}")]
    Git {
        /// What was being done, naming the remote or branch.
        action: String,
        /// libgit2's explanation.
        detail: String,
    },
    /// A forge API call failed.
    #[error("{message}")]
    Api {
        /// The error, naming the method and endpoint.
        message: String,
        /// Advice, if any.
        hint: Option<String>,
    },
    /// The base branch does not exist.
    #[error("the base branch `{branch}` does not exist in `{repository}`")]
    BaseNotFound {
        /// The repository.
        repository: String,
        /// The branch.
        branch: String,
    },
    /// The registry file is not on the base branch.
    #[error("`{path}` does not exist on branch `{branch}` of `{repository}`")]
    RegistryMissing {
        /// The repository.
        repository: String,
        /// The base branch.
        branch: String,
        /// The registry path.
        path: String,
    },
    /// `user.name` or `user.email` is not configured.
    #[error("no git identity to commit with: {detail}")]
    NoIdentity {
        /// libgit2's explanation.
        detail: String,
    },
    /// The caller's edit refused the registry.
    #[error("cannot add `{id}` to the registry: {detail}")]
    Edit {
        /// The entry ID.
        id: String,
        /// The edit's explanation.
        detail: String,
    },
    /// The edit changes nothing.
    #[error("adding `{id}` changes nothing in `{path}`")]
    Unchanged {
        /// The entry ID.
        id: String,
        /// The registry path.
        path: String,
    },
    /// The branch already exists on the remote.
    #[error("the branch `{branch}` already exists in `{remote}`")]
    BranchExists {
        /// The branch.
        branch: String,
        /// The remote (URL or path, credentials removed).
        remote: String,
    },
    /// The user has a repository of the upstream's name that is not its fork.
    #[error("`{repository}` exists but is not a fork of `{upstream}`")]
    NotAFork {
        /// `user/repo`.
        repository: String,
        /// `owner/repo`.
        upstream: String,
    },
    /// A local file operation failed.
    #[error("cannot use `{}`: {detail}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS's explanation.
        detail: String,
    },
    /// A failure part-way through; `steps` say how to finish by hand.
    #[error("{error}")]
    Unfinished {
        /// What failed.
        error: Box<PrError>,
        /// How to finish by hand.
        steps: String,
    },
    /// A background task failed.
    #[error("internal error: {0}")]
    Task(String),
}

impl PrError {
    /// This error with every occurrence of `secret` replaced by `***` (a safety net: trove never
    /// puts the token in a message, but a server might echo it).
    pub(super) fn redact(self, secret: Option<&str>) -> Self {
        let Some(secret) = secret.filter(|s| !s.is_empty()) else {
            return self;
        };
        let r = |s: String| s.replace(secret, "***");
        match self {
            PrError::InvalidRepository { repository, reason } => PrError::InvalidRepository {
                repository: r(repository),
                reason: r(reason),
            },
            PrError::InvalidRegistryPath { path } => PrError::InvalidRegistryPath { path: r(path) },
            PrError::Git { action, detail } => PrError::Git {
                action: r(action),
                detail: r(detail),
            },
            PrError::Api { message, hint } => PrError::Api {
                message: r(message),
                hint: hint.map(r),
            },
            PrError::BaseNotFound { repository, branch } => PrError::BaseNotFound {
                repository: r(repository),
                branch: r(branch),
            },
            PrError::RegistryMissing {
                repository,
                branch,
                path,
            } => PrError::RegistryMissing {
                repository: r(repository),
                branch: r(branch),
                path: r(path),
            },
            PrError::NoIdentity { detail } => PrError::NoIdentity { detail: r(detail) },
            PrError::Edit { id, detail } => PrError::Edit {
                id: r(id),
                detail: r(detail),
            },
            PrError::Unchanged { id, path } => PrError::Unchanged {
                id: r(id),
                path: r(path),
            },
            PrError::BranchExists { branch, remote } => PrError::BranchExists {
                branch: r(branch),
                remote: r(remote),
            },
            PrError::NotAFork {
                repository,
                upstream,
            } => PrError::NotAFork {
                repository: r(repository),
                upstream: r(upstream),
            },
            PrError::Io { path, detail } => PrError::Io {
                path,
                detail: r(detail),
            },
            PrError::Unfinished { error, steps } => PrError::Unfinished {
                error: Box::new(error.redact(Some(secret))),
                steps: r(steps),
            },
            PrError::Task(t) => PrError::Task(r(t)),
        }
    }

    pub(super) fn unfinished(self, steps: String) -> Self {
        PrError::Unfinished {
            error: Box::new(self),
            steps,
        }
    }
}

impl crate::Hint for PrError {
    fn hint(&self) -> Option<String> {
        match self {
            PrError::InvalidRepository { .. } => Some(
                "give `owner/repo`, an https:// or ssh git URL (`git@host:owner/repo.git`), or a local path".into(),
            ),
            PrError::InvalidRegistryPath { .. } => {
                Some("use a relative path such as `registry.json`".into())
            }
            PrError::Git { .. } => None,
            PrError::Api { hint, .. } => hint.clone(),
            PrError::BaseNotFound { .. } => {
                Some("name an existing branch with --base".into())
            }
            PrError::RegistryMissing { .. } => Some(
                "check the registry path (`registry_path` in the `[publish]` section of the config file) and the base branch".into(),
            ),
            PrError::NoIdentity { .. } => Some(
                "tell git who you are: git config --global user.name \"Your Name\" && git config --global user.email you@example.org".into(),
            ),
            PrError::Edit { .. } => None,
            PrError::Unchanged { .. } => {
                Some("the registry already holds this entry: there is nothing to propose".into())
            }
            PrError::BranchExists { branch, remote } => Some(format!(
                "an earlier publish of this ID is still there: pass --force to replace it, delete it with `git push {remote} --delete {branch}`, or publish under another ID"
            )),
            PrError::NotAFork { upstream, .. } => Some(format!(
                "rename or delete that repository so trove can fork `{upstream}`, or publish from a local clone of your fork (give its path as the repository)"
            )),
            PrError::Io { .. } => None,
            PrError::Unfinished { error, steps } => Some(match error.hint() {
                Some(h) => format!("{h}\n{steps}"),
                None => steps.clone(),
            }),
            PrError::Task(_) => None,
        }
    }
}

impl From<ForgeError> for PrError {
    fn from(e: ForgeError) -> Self {
        PrError::Api {
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}
