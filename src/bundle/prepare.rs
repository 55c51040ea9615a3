//! A bundle made ready to import: its published sums checked and, for an archive, unpacked into
//! a sandbox folder, with the content picked out (an archive's one top entry, a trove export's
//! content beside its metadata, or the whole tree). Nothing is stored; the caller imports
//! [`Prepared::content`] with the profile it trusts. Shared by `trove import`, `trove publish
//! ARCHIVE` and archive mirrors (which check the result against the CID they were asked for).

use super::pack::GENERATOR;
use super::sums::{check_tree, manifest_sums, parse_sums, sha256_file, SUMS_FILES};
use super::unpack::{unpack, Unpacked};
use super::{BundleError, Format, Limits};
use crate::content::{parse_cid, Cid};
use crate::unixfs::Profile;
use std::path::{Path, PathBuf};

/// How to prepare a bundle.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrepareOptions<'a> {
    /// The archive format; default: from the file name (a folder needs none).
    pub format: Option<Format>,
    /// The archive's own sha256 as published (64 hex digits), checked before it is opened.
    pub sha256: Option<&'a str>,
    /// Whether sums files beside the archive (`checksums.sha256`, `SHA256SUMS` in its folder)
    /// that list it are checked too: yes for a file the user names, no for a download.
    pub sums_beside: bool,
    /// How much an archive may unpack to.
    pub limits: Limits,
}

/// The CID and profile a trove export's manifest records.
pub type Recorded = Option<(Cid, Option<Profile>)>;

/// A bundle whose published sums were checked and which, for an archive, is unpacked in its
/// sandbox (removed when this is dropped).
#[derive(Debug)]
pub struct Prepared {
    /// The sandbox an archive was unpacked into (`None` for a folder).
    _staging: Option<tempfile::TempDir>,
    /// The content: the archive's one top entry, a trove export's content, or the whole tree.
    pub content: PathBuf,
    /// The whole tree: the sandbox an archive was unpacked into, or the folder.
    pub tree: PathBuf,
    /// The archive format (`None`: a folder).
    pub format: Option<Format>,
    /// What the archive unpacked to.
    pub unpacked: Unpacked,
    /// The published sums that were checked, e.g. `--sha256`, `SHA256SUMS (beside it)`,
    /// `checksums.sha256 (12 files)`.
    pub checked: Vec<String>,
    /// The CID and profile a trove export's manifest records.
    pub recorded: Recorded,
    /// The bundle's `manifest.json` at its top, when it has one.
    pub manifest: Option<serde_json::Value>,
}

impl Prepared {
    /// What of the bundle may be the content a CID names, most likely first: the content as
    /// the rules above find it, then the whole tree (an archive of a folder's children, `tar
    /// -C dir .`, has no top folder to tell). Archive mirrors, local and remote, try each.
    pub fn candidates(&self) -> Vec<&Path> {
        let mut out = vec![self.content.as_path()];
        if self.tree != self.content {
            out.push(self.tree.as_path());
        }
        out
    }
}

/// Checks `path`'s published sums and, for an archive, unpacks it into a fresh folder under
/// `scratch` (created if needed); see the module docs.
pub fn prepare(
    path: &Path,
    options: &PrepareOptions,
    scratch: &Path,
) -> Result<Prepared, BundleError> {
    let meta = path
        .metadata()
        .map_err(|e| BundleError::io("read", path, e))?;
    let mut checked = Vec::new();
    let mut staging = None;
    let (tree, format, unpacked) = if meta.is_dir() {
        (path.to_path_buf(), None, Unpacked::default())
    } else {
        let format = options
            .format
            .or_else(|| Format::from_path(path))
            .ok_or_else(|| BundleError::UnknownFormat {
                path: path.to_path_buf(),
            })?;
        check_archive_sums(path, options, &mut checked)?;
        std::fs::create_dir_all(scratch).map_err(|e| BundleError::io("create", scratch, e))?;
        let dir = tempfile::Builder::new()
            .prefix(".bundle-")
            .tempdir_in(scratch)
            .map_err(|e| BundleError::io("create a folder in", scratch, e))?;
        let unpacked = unpack(path, format, dir.path(), options.limits)?;
        let tree = dir.path().to_path_buf();
        staging = Some(dir);
        (tree, Some(format), unpacked)
    };
    // The sums inside the bundle (at its top, and in its one folder), and whether trove wrote
    // it.
    let (recorded, manifest) = check_inside(&tree, &mut checked)?;
    // The content: a trove export's one entry beside its metadata; an archive's one entry at
    // the top; otherwise the whole tree.
    let metadata: &[&str] = if recorded.is_some() {
        &["manifest.json", "checksums.sha256"]
    } else {
        &[]
    };
    let content = if recorded.is_some() || format.is_some() {
        single_entry(&tree, metadata)?.unwrap_or_else(|| tree.clone())
    } else {
        tree.clone()
    };
    let mut manifest = manifest;
    if content != tree && content.is_dir() {
        // Sums only: a manifest in there is part of the content, whoever wrote it.
        let (_, inner) = check_inside(&content, &mut checked)?;
        manifest = manifest.or(inner);
    }
    Ok(Prepared {
        _staging: staging,
        content,
        tree,
        format,
        unpacked,
        checked,
        recorded,
        manifest,
    })
}

/// Recognises an archive by its first bytes (for downloads whose name says nothing): gzip and
/// zstd are taken as compressed tars, `PK\x03\x04` as zip, `ustar` at offset 257 as tar.
pub fn sniff(head: &[u8]) -> Option<Format> {
    use crate::compression::Compression;
    match Compression::sniff(head) {
        Compression::Gzip => return Some(Format::TarGz),
        Compression::Zstd => return Some(Format::TarZst),
        Compression::None => {}
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Format::Zip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Format::Tar)
    } else {
        None
    }
}

/// The archive's own sums: `--sha256`, and any sums file beside it that lists it.
fn check_archive_sums(
    path: &Path,
    options: &PrepareOptions,
    checked: &mut Vec<String>,
) -> Result<(), BundleError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut published: Vec<(String, String)> = Vec::new();
    if let Some(hex) = options.sha256 {
        published.push(("--sha256".into(), hex.to_ascii_lowercase()));
    }
    if options.sums_beside {
        let folder = crate::output::folder_of(path);
        for sums_name in SUMS_FILES {
            let sums_path = folder.join(sums_name);
            if !sums_path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&sums_path)
                .map_err(|e| BundleError::io("read", &sums_path, e))?;
            let sums = parse_sums(&text, sums_name)?;
            if let Some(hex) = sums.get(&name) {
                published.push((format!("{sums_name} (beside it)"), hex.clone()));
            }
        }
    }
    if published.is_empty() {
        return Ok(());
    }
    let actual = sha256_file(path)?;
    for (source, expected) in published {
        if expected != actual {
            return Err(BundleError::SumMismatch {
                name,
                source_of_sum: source,
                expected,
                actual,
            });
        }
        checked.push(source);
    }
    Ok(())
}

/// Checks the sums published in the folder `dir` (a `manifest.json` `checksums` map, sums
/// files); returns the CID and profile its manifest records when trove wrote it, and the
/// manifest.
fn check_inside(
    dir: &Path,
    checked: &mut Vec<String>,
) -> Result<(Recorded, Option<serde_json::Value>), BundleError> {
    let mut recorded = None;
    let mut found = None;
    let manifest_path = dir.join("manifest.json");
    if manifest_path.is_file() {
        let bytes = std::fs::read(&manifest_path)
            .map_err(|e| BundleError::io("read", &manifest_path, e))?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| BundleError::BadSums {
                source_of_sum: "manifest.json".into(),
                detail: e.to_string(),
            })?;
        let sums = manifest_sums(&manifest, "manifest.json")?;
        if !sums.is_empty() {
            check_tree(dir, &sums, "manifest.json")?;
            checked.push(format!("manifest.json ({} files)", sums.len()));
        }
        let ours = manifest["generator"]
            .as_str()
            .is_some_and(|g| g.split(' ').next() == Some(GENERATOR));
        if ours {
            let cid = manifest["cid"]
                .as_str()
                .and_then(|c| parse_cid(c).ok())
                .ok_or_else(|| BundleError::BadSums {
                    source_of_sum: "manifest.json".into(),
                    detail: "`cid` is missing or not a CID".into(),
                })?;
            let profile = manifest["profile"].as_str().and_then(|p| p.parse().ok());
            recorded = Some((cid, profile));
        }
        found = Some(manifest);
    }
    for name in SUMS_FILES {
        let sums_path = dir.join(name);
        if sums_path.is_file() {
            let text = std::fs::read_to_string(&sums_path)
                .map_err(|e| BundleError::io("read", &sums_path, e))?;
            let sums = parse_sums(&text, name)?;
            check_tree(dir, &sums, name)?;
            checked.push(format!("{name} ({} files)", sums.len()));
        }
    }
    Ok((recorded, found))
}

/// The one entry of `tree` besides `ignored` names, if there is exactly one.
fn single_entry(tree: &Path, ignored: &[&str]) -> Result<Option<PathBuf>, BundleError> {
    let entries = std::fs::read_dir(tree).map_err(|e| BundleError::io("list", tree, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BundleError::io("list", tree, e))?;
        if !ignored.iter().any(|i| entry.file_name() == *i) {
            found.push(entry.path());
        }
    }
    Ok((found.len() == 1).then(|| found.remove(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_recognised_by_their_first_bytes() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Some(Format::TarGz));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Format::TarZst));
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Format::Zip));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Some(Format::Tar));
        assert_eq!(sniff(b"plain text"), None);
        assert_eq!(sniff(&[]), None);
    }
}
