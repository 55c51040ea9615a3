//! [`Client::import_bundle`] (an archive or folder into the cache, its published sums checked
//! first) and [`Client::export`] (content out as a deterministic archive anyone can check with
//! `sha256sum -c`). The formats and the sandbox are in [`crate::bundle`].

use super::Client;
use crate::bundle::pack::{pack, GENERATOR};
use crate::bundle::prepare::{prepare, PrepareOptions};
use crate::bundle::unpack::Unpacked;
use crate::bundle::{BundleError, Format, Limits};
use crate::content::Cid;
use crate::error::ResultExt as _;
use crate::import::{import_path, Discard};
use crate::progress::Silent;
use crate::unixfs::{ImportParams, Profile};
use crate::Error;
use std::path::{Path, PathBuf};

/// How to import a bundle.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The archive's own sha256 as published (hex), checked before it is opened.
    pub sha256: Option<String>,
    /// The import parameters; default: the bundle's `manifest.json` profile (a trove export),
    /// else `unixfs-v1-2025`.
    pub params: Option<ImportParams>,
    /// How much an archive may unpack to.
    pub limits: Limits,
}

/// What [`Client::import_bundle`] did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The content's CID (kept in the cache through gc).
    pub cid: Cid,
    /// The archive format (`None`: a folder).
    pub format: Option<Format>,
    /// What the archive unpacked to (zero for a folder).
    pub unpacked: Unpacked,
    /// The published sums that were checked, e.g. `--sha256`, `SHA256SUMS (beside)`,
    /// `checksums.sha256 (12 files)`; empty when the bundle published none.
    pub checked: Vec<String>,
    /// The profile name, when the parameters are one.
    pub profile: Option<&'static str>,
    /// Whether the bundle was a trove export whose recorded CID was reproduced.
    pub cid_verified: bool,
}

/// A bundle whose sums were checked and which is unpacked in its sandbox: see
/// [`crate::bundle::prepare`].
pub type PreparedBundle = crate::bundle::prepare::Prepared;

/// What [`Client::export`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The content's CID.
    pub cid: Cid,
    /// The archive.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Files in it and their bytes.
    pub files: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// The profile that reproduces the CID (recorded in the manifest), when one does.
    pub profile: Option<Profile>,
}

impl Client {
    /// Imports an archive (`.tar`, `.tar.gz`, `.tar.zst`, `.zip`) or a folder into the cache and
    /// keeps it; returns its CID. Published sums are checked before anything is stored: the
    /// archive's own (`--sha256`, or a sums file beside it listing it), then the files' (a sums
    /// file or a `manifest.json` `checksums` map at the top of the bundle). An archive is
    /// unpacked into a sandbox first (see [`crate::bundle::unpack`]); when it holds one folder
    /// (or file) at the top, that is the content. A bundle trove exported must import to the
    /// CID its manifest records.
    pub fn import_bundle(&self, path: &Path, options: &ImportOptions) -> Result<Imported, Error> {
        self.import_bundle_inner(path, options)
            .context(|| format!("cannot import `{}`", path.display()))
    }

    fn import_bundle_inner(&self, path: &Path, options: &ImportOptions) -> Result<Imported, Error> {
        // Holds the sandbox the content is in until the import is done.
        let prepared = self.prepare_bundle(path, options)?;
        let content = &prepared.content;
        let (params, profile) = match (&options.params, prepared.recorded.and_then(|r| r.1)) {
            (Some(params), _) => (*params, profile_of(params)),
            (None, Some(profile)) => (profile.params(), Some(profile.name())),
            (None, None) => (
                Profile::UnixfsV1_2025.params(),
                Some(Profile::UnixfsV1_2025.name()),
            ),
        };
        let mut cid_verified = false;
        if let Some((expected, _)) = &prepared.recorded {
            // Hashed without storing first: a changed export stores nothing.
            let root = import_path(content, &params, &Discard, &Silent)?;
            if root.cid != *expected {
                return Err(BundleError::CidMismatch {
                    expected: expected.to_string(),
                    actual: root.cid.to_string(),
                    profile: profile.unwrap_or("(custom)").to_string(),
                }
                .into());
            }
            cid_verified = true;
        }
        let root = import_path(content, &params, &**self.store(), &**self.reporter())?;
        let label = format!(
            "import {}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        self.store().keep_root(&root.cid, &label)?;
        Ok(Imported {
            cid: root.cid,
            format: prepared.format,
            unpacked: prepared.unpacked,
            checked: prepared.checked,
            profile,
            cid_verified,
        })
    }

    /// Checks a bundle's published sums and, for an archive, unpacks it into a sandbox in the
    /// cache; nothing is stored. See [`Client::import_bundle`].
    pub fn prepare_bundle(
        &self,
        path: &Path,
        options: &ImportOptions,
    ) -> Result<PreparedBundle, Error> {
        if let Some(hex) = &options.sha256 {
            crate::bundle::sums::check_sha256_arg(hex)?;
        }
        let how = PrepareOptions {
            format: None,
            sha256: options.sha256.as_deref(),
            sums_beside: true,
            limits: options.limits,
        };
        Ok(prepare(path, &how, &self.settings().cache_dir.join("tmp"))?)
    }

    /// Writes the content `text` names (an ID with version or alias, a CID, a path) as a
    /// deterministic archive at `out` (format from `format`, else from the file name), fetching
    /// what the cache lacks. The archive is written beside `out` and renamed into place; a
    /// folder at `out` is refused unless `force`.
    pub fn export(
        &self,
        text: &str,
        out: &Path,
        format: Option<Format>,
        force: bool,
    ) -> Result<Exported, Error> {
        let format = format.or_else(|| Format::from_path(out)).ok_or_else(|| {
            BundleError::UnknownFormat {
                path: out.to_path_buf(),
            }
        })?;
        crate::output::check_output(out, force)?;
        let resolution = self.resolve(text)?;
        let (got, cid) = self.materialize_cid(text, &resolution, "export")?;
        let profile = match resolution.entry.as_ref().and_then(|e| e.profile) {
            Some(p) => Some(p),
            None => [Profile::UnixfsV1_2025, Profile::UnixfsV0_2015]
                .into_iter()
                .find(|p| {
                    import_path(&got.path, &p.params(), &Discard, &Silent)
                        .is_ok_and(|root| root.cid == cid)
                }),
        };
        let mut manifest = serde_json::json!({
            "generator": format!("{GENERATOR} {}", env!("CARGO_PKG_VERSION")),
            "name": resolution.name,
            "cid": cid.to_string(),
            "profile": profile.map(Profile::name),
        });
        if let Some(entry) = &resolution.entry {
            manifest["id"] = entry.id.clone().into();
            manifest["version"] = entry.version.clone().into();
        }
        let folder = crate::output::folder_of(out);
        let mut staged = crate::output::staging_file(folder)
            .map_err(|e| Error::io("create a temporary file in", folder, e))?;
        let packed = pack(
            &got.path,
            &resolution.name,
            format,
            manifest,
            staged.as_file_mut(),
        )?;
        staged
            .as_file()
            .sync_all()
            .map_err(|e| Error::io("write", out, e))?;
        crate::output::place(staged.path(), out, force)?;
        // `place` renamed the file: the temporary file must not remove it on drop.
        let _ = staged.into_temp_path().keep();
        Ok(Exported {
            cid,
            path: out.to_path_buf(),
            format,
            files: packed.files,
            bytes: packed.bytes,
            profile,
        })
    }
}

/// The profile whose parameters `params` are, if any.
fn profile_of(params: &ImportParams) -> Option<&'static str> {
    [Profile::UnixfsV1_2025, Profile::UnixfsV0_2015]
        .into_iter()
        .find(|p| p.params() == *params)
        .map(Profile::name)
}
