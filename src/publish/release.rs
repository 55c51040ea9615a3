//! `trove publish --release OWNER/REPO@TAG`: the content's CAR (and, when an archive was
//! published, the archive itself) uploaded as assets of a GitHub release through the REST API
//! ([`super::forge`]), the release made when the tag has none, and the assets' download
//! addresses recorded as the entry's mirrors. The token is the one `--pr` uses
//! (`TROVE_GITHUB_TOKEN`, `GITHUB_TOKEN`, or the config file's `[publish] token`).
//!
//! Re-running is safe: the CAR's asset is named by its CID (`<cid>.car`), so an asset of that
//! name and size already holds these bytes and is reused; any other asset that exists is
//! replaced only with `--force`.

use super::forge::{Forge, ForgeError};
use crate::error::{Error, ErrorKind};
use std::path::PathBuf;

/// `OWNER/REPO@TAG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseTarget {
    /// The repository's owner.
    pub owner: String,
    /// The repository.
    pub repo: String,
    /// The release's tag.
    pub tag: String,
}

impl ReleaseTarget {
    /// Parses `OWNER/REPO@TAG`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::with_hint(
                ErrorKind::Usage,
                format!("`{text}` does not name a release"),
                "write --release OWNER/REPO@TAG, e.g. --release lab/traces@v1.2",
            )
        };
        let (repo, tag) = text.split_once('@').ok_or_else(bad)?;
        let (owner, repo) = repo.split_once('/').ok_or_else(bad)?;
        let fine = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let tag_fine = !tag.is_empty()
            && !tag.contains("..")
            && tag.chars().all(|c| {
                c.is_ascii_graphic() && !matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
            });
        if !fine(owner) || !fine(repo) || !tag_fine {
            return Err(bad());
        }
        Ok(ReleaseTarget {
            owner: owner.into(),
            repo: repo.into(),
            tag: tag.into(),
        })
    }
}

impl std::fmt::Display for ReleaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.owner, self.repo, self.tag)
    }
}

/// One file to attach.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The asset's name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Whether its name is content-addressed (an asset of that name and size holds the same
    /// bytes).
    pub content_addressed: bool,
}

/// What happened to one asset.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Uploaded {
    /// The asset's name.
    pub name: String,
    /// Where anyone downloads it.
    pub url: String,
    /// `uploaded`, `kept` (already there) or `replaced`.
    pub action: &'static str,
}

/// Why an asset could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The API failed.
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// An asset of that name exists and `--force` was not given.
    #[error("the release {target} already has an asset `{name}` ({size} bytes)")]
    AssetExists {
        /// The release.
        target: String,
        /// The asset.
        name: String,
        /// Its size.
        size: u64,
    },
}

impl crate::Hint for ReleaseError {
    fn hint(&self) -> Option<String> {
        match self {
            ReleaseError::Forge(e) => e.hint(),
            ReleaseError::AssetExists { .. } => {
                Some("give --force to replace it, or publish under another tag".into())
            }
        }
    }
}

/// What [`attach`] did.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Whether the release was made (the tag had none).
    pub created: bool,
    /// Each asset, in the order given.
    pub assets: Vec<Uploaded>,
}

/// Attaches `assets` to the release `target` (made when missing); returns each asset's
/// download address.
pub async fn attach(
    forge: &Forge,
    target: &ReleaseTarget,
    assets: &[Asset],
    force: bool,
) -> Result<Attached, ReleaseError> {
    let (owner, repo, tag) = (&target.owner, &target.repo, &target.tag);
    let (release, created) = match forge.release_by_tag(owner, repo, tag).await? {
        Some(release) => (release, false),
        None => (
            forge
                .create_release(owner, repo, tag, "Published with trove.")
                .await?,
            true,
        ),
    };
    let mut done = Vec::new();
    for asset in assets {
        let size = std::fs::metadata(&asset.path).map(|m| m.len()).ok();
        let mut action = "uploaded";
        if let Some(existing) = release.assets.iter().find(|a| a.name == asset.name) {
            if asset.content_addressed && Some(existing.size) == size {
                done.push(Uploaded {
                    name: asset.name.clone(),
                    url: existing.browser_download_url.clone(),
                    action: "kept",
                });
                continue;
            }
            if !force {
                return Err(ReleaseError::AssetExists {
                    target: target.to_string(),
                    name: asset.name.clone(),
                    size: existing.size,
                });
            }
            forge.delete_asset(owner, repo, existing.id).await?;
            action = "replaced";
        }
        let uploaded = forge
            .upload_asset(&release.upload_url, &asset.name, &asset.path)
            .await?;
        done.push(Uploaded {
            name: asset.name.clone(),
            url: uploaded.browser_download_url,
            action,
        });
    }
    Ok(Attached {
        created,
        assets: done,
    })
}

/// The address GitHub gives an asset, for checking an entry before anything is uploaded (the
/// address the API returns is the one recorded).
pub fn predicted_url(target: &ReleaseTarget, name: &str) -> String {
    format!(
        "https://github.com/{}/{}/releases/download/{}/{}",
        target.owner, target.repo, target.tag, name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_targets_are_parsed_strictly() {
        let t = ReleaseTarget::parse("lab/traces@v1.2").unwrap();
        assert_eq!(
            (t.owner.as_str(), t.repo.as_str(), t.tag.as_str()),
            ("lab", "traces", "v1.2")
        );
        assert_eq!(t.to_string(), "lab/traces@v1.2");
        for bad in [
            "lab/traces",
            "traces@v1",
            "/traces@v1",
            "lab/@v1",
            "lab/traces@",
            "lab/tr aces@v1",
            "lab/traces@v..1",
            "a/b/c@v1",
        ] {
            assert!(ReleaseTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
