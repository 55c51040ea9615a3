//! Publishing content: `trove publish`, `trove registry add` and `trove registry pr`.
//!
//! The CLI imports the file or folder into the store ([`crate::import`]) and then, in an order
//! that leaves nothing half-done (every check before the first side effect):
//!
//! - [`entry`]: builds the registry entry (metadata, CID, profile, sizes, per-file sha256) in the
//!   registry's own format;
//! - [`edit`]: merges it into a registry document deterministically (new ID, or a new version of
//!   an existing one with aliases moved), keeping the file's formatting, and shows the diff;
//! - [`pin`]: makes the content available: `dag/import` into a local Kubo-compatible daemon,
//!   and remote pinning services (IPFS Pinning Service API);
//! - [`pr`], [`git`], [`forge`]: proposes the registry change as a pull request (a branch
//!   committed with libgit2, the PR opened through the forge's REST API);
//! - [`mirror`]: `trove mirror`, every entry of the registries onto a daemon, a pinning
//!   service or an IPFS Cluster ([`cluster`]);
//! - [`release`]: attaches the CAR (and a published archive) to a GitHub release, and
//!   `--upload` writes the CAR to object storage ([`crate::objects`]); both become mirrors.
//!
//! Tokens (pinning services, the forge) are sent in headers or credential callbacks only and
//! never appear in messages.

pub mod cluster;
pub mod edit;
pub mod entry;
pub mod flow;
pub mod forge;
pub mod git;
pub mod mirror;
pub mod pin;
pub mod pr;
pub mod release;

use crate::error::ErrorKind;

/// Why publishing failed, as one type for [`crate::Error`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Building the entry.
    #[error(transparent)]
    Entry(#[from] entry::EntryError),
    /// Merging it into the registry document.
    #[error(transparent)]
    Edit(#[from] edit::EditError),
    /// Adding to the daemon or pinning remotely.
    #[error(transparent)]
    Pin(#[from] pin::PinError),
    /// The pull request (git and the forge).
    #[error(transparent)]
    Pr(#[from] pr::PrError),
    /// The forge's API.
    #[error(transparent)]
    Forge(#[from] forge::ForgeError),
    /// Attaching release assets.
    #[error(transparent)]
    Release(#[from] release::ReleaseError),
}

impl PublishError {
    /// What kind of failure attaching release assets is.
    pub fn kind_of_release(e: &release::ReleaseError) -> ErrorKind {
        match e {
            release::ReleaseError::AssetExists { .. } => ErrorKind::Usage,
            release::ReleaseError::Forge(_) => ErrorKind::Network,
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PublishError::Entry(_) | PublishError::Edit(_) => ErrorKind::Usage,
            PublishError::Release(e) => Self::kind_of_release(e),
            PublishError::Pin(_) | PublishError::Pr(_) | PublishError::Forge(_) => {
                ErrorKind::Network
            }
        }
    }
}

impl crate::Hint for PublishError {
    fn hint(&self) -> Option<String> {
        match self {
            PublishError::Pin(e) => e.hint(),
            PublishError::Pr(e) => e.hint(),
            PublishError::Forge(e) => e.hint(),
            PublishError::Entry(e) => e.hint(),
            PublishError::Edit(e) => e.hint(),
            PublishError::Release(e) => e.hint(),
        }
    }
}
