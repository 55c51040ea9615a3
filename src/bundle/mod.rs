//! Bundles: research data as it is published today — a `.tar`, `.tar.gz`, `.tar.zst` or `.zip`
//! (or a folder) with a `checksums.sha256`/`SHA256SUMS` or a `manifest.json` beside or inside
//! it — brought into the cache under a CID, and content handed out the same way to people
//! without trove.
//!
//! - [`sums`]: the published sums (`sha256sum` files, `manifest.json` `checksums` maps), parsed
//!   strictly and checked before anything is stored.
//! - [`unpack`]: an archive unpacked into an empty folder as a sandbox: no `..`, no absolute
//!   paths, no links leaving the tree, no writing through a link, no device files or FIFOs,
//!   and limits on entries and bytes against archive bombs.
//! - [`prepare`]: sums checked, an archive unpacked, the content picked out — what importing,
//!   publishing an archive and archive mirrors start from.
//! - [`pack`]: a deterministic archive of a folder (sorted entries, fixed times and modes, no
//!   owners) with `manifest.json` and `checksums.sha256`, so `sha256sum -c` works without trove
//!   and importing the archive gives back the same CID.
//!
//! The formats are read and written with the `tar`, `flate2`, `zstd` and `zip` crates; what is
//! hand-written is the policy (what an entry may be, where it may go, what is counted).
//! [`crate::Client::import_bundle`] and [`crate::Client::export`] put it together.

pub mod pack;
pub mod prepare;
pub mod sums;
pub mod unpack;

use std::path::{Path, PathBuf};

/// An archive format, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.tar`.
    Tar,
    /// `.tar.gz` / `.tgz`.
    TarGz,
    /// `.tar.zst` / `.tzst`.
    TarZst,
    /// `.zip`.
    Zip,
}

impl Format {
    /// The format a file name says, or `None` when it names no archive trove reads.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(Format::TarGz)
        } else if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            Some(Format::TarZst)
        } else if name.ends_with(".tar") {
            Some(Format::Tar)
        } else if name.ends_with(".zip") {
            Some(Format::Zip)
        } else {
            None
        }
    }

    /// Its usual file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Tar => ".tar",
            Format::TarGz => ".tar.gz",
            Format::TarZst => ".tar.zst",
            Format::Zip => ".zip",
        }
    }
}

/// How much an archive may unpack to: past either limit it is refused as a bomb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of file content in all.
    pub max_bytes: u64,
    /// Entries (files, folders, links) in all.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 * 1024 * 1024 * 1024,
            max_entries: 10_000_000,
        }
    }
}

/// Why a bundle was refused. Nothing is stored when any of these happens.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file name says no archive format trove reads.
    #[error("`{}` is not an archive trove reads (.tar, .tar.gz, .tgz, .tar.zst, .zip) nor a folder", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A published sum does not match.
    #[error("`{name}` does not match its published sha256 (from {source_of_sum}): expected {expected}, got {actual}")]
    SumMismatch {
        /// The file (the archive, or a path inside it).
        name: String,
        /// Where the sum came from (`checksums.sha256`, `--sha256`, …).
        source_of_sum: String,
        /// The published sum.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A sums file lists a file the bundle does not hold.
    #[error("`{name}` is listed in {source_of_sum} but is not in the bundle")]
    SumMissing {
        /// The listed file.
        name: String,
        /// The sums file.
        source_of_sum: String,
    },
    /// A sums file or manifest is malformed.
    #[error("{source_of_sum} is not valid: {detail}")]
    BadSums {
        /// The file.
        source_of_sum: String,
        /// What is wrong (with the line number where there is one).
        detail: String,
    },
    /// An entry that may not be unpacked.
    #[error("archive entry `{entry}` is refused: {reason}")]
    UnsafeEntry {
        /// The entry's name as the archive gives it.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Past a limit: an archive bomb, or a bigger bundle than allowed.
    #[error("the archive unpacks to more than {limit} {what}")]
    TooLarge {
        /// `bytes` or `entries`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The archive is not readable as its format.
    #[error("cannot read `{}` as {format}: {detail}", path.display())]
    Corrupt {
        /// The archive.
        path: PathBuf,
        /// The format it was read as.
        format: &'static str,
        /// What the reader said.
        detail: String,
    },
    /// A trove export whose content does not give back the CID its manifest records.
    #[error("the bundle's manifest.json says its content is `{expected}`, but it imports as `{actual}` (profile {profile})")]
    CidMismatch {
        /// What the manifest records.
        expected: String,
        /// What the content imports as.
        actual: String,
        /// The profile used.
        profile: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        BundleError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// What kind of failure this is: wrong bytes are integrity, the rest bad input.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            BundleError::SumMismatch { .. }
            | BundleError::SumMissing { .. }
            | BundleError::CidMismatch { .. }
            | BundleError::Corrupt { .. } => ErrorKind::Integrity,
            BundleError::UnsafeEntry { .. } => ErrorKind::Integrity,
            BundleError::UnknownFormat { .. }
            | BundleError::BadSums { .. }
            | BundleError::TooLarge { .. } => ErrorKind::Usage,
            BundleError::Io { .. } => ErrorKind::Other,
        }
    }
}

impl crate::Hint for BundleError {
    fn hint(&self) -> Option<String> {
        match self {
            BundleError::UnknownFormat { .. } => Some(
                "give an archive whose name ends in .tar, .tar.gz, .tgz, .tar.zst or .zip, or a folder"
                    .into(),
            ),
            BundleError::SumMismatch { .. } | BundleError::SumMissing { .. } => Some(
                "the bundle is damaged or is not the one the sums were published for: download it again, or ask its publisher; nothing was stored"
                    .into(),
            ),
            BundleError::BadSums { .. } => Some(
                "sums files have one `<64 hex digits>  <name>` per line (as `sha256sum` writes them)"
                    .into(),
            ),
            BundleError::UnsafeEntry { .. } => Some(
                "the archive tries to write outside its folder or holds special files: nothing was stored; do not unpack it with other tools either".into(),
            ),
            BundleError::TooLarge { what, .. } => Some(format!(
                "if the bundle really is that large, raise the limit (--max-{what})"
            )),
            BundleError::Corrupt { .. } => {
                Some("the download may be incomplete: fetch the archive again".into())
            }
            BundleError::CidMismatch { .. } => Some(
                "the content was changed after trove exported it; nothing was kept".into(),
            ),
            BundleError::Io { .. } => None,
        }
    }
}
