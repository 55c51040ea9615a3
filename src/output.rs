//! Putting a finished file or folder at an output path, atomically: staged under a hidden
//! temporary name in the output's own folder, renamed into place once complete (an existing
//! output is replaced in one rename, or left alone), so a reader sees the old output or the new
//! one, never a half-written one. Also: copying a verified tree out of the cache's snapshots
//! the fastest safe way the filesystem offers (a reflink where it can, `copy_file_range`
//! otherwise, through the `reflink-copy` crate), and marking a tree read-only.

use std::path::{Path, PathBuf};

/// Why an output could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output exists and may not be replaced.
    #[error("`{}` already exists", path.display())]
    Exists {
        /// The output path.
        path: PathBuf,
    },
    /// The folder the output would go into does not exist.
    #[error("the folder `{}` does not exist", path.display())]
    NoFolder {
        /// The missing folder.
        path: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("failed to {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl OutputError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        OutputError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl crate::Hint for OutputError {
    fn hint(&self) -> Option<String> {
        match self {
            OutputError::Exists { .. } => {
                Some("pass --force to replace it (force=True in Python), or choose another path with -o PATH".into())
            }
            OutputError::NoFolder { path } => Some(format!(
                "create it first (`mkdir -p {}`), or write somewhere else",
                path.display()
            )),
            OutputError::Io { .. } => None,
        }
    }
}

/// Refuses, before anything is fetched, an output that would be refused whatever the content
/// turns out to be: a folder already at `out` when `replace` is not set, or an `out` whose
/// folder does not exist.
pub fn check_output(out: &Path, replace: bool) -> Result<(), OutputError> {
    if !replace && out.is_dir() {
        return Err(OutputError::Exists {
            path: out.to_path_buf(),
        });
    }
    check_folder(out)
}

/// Refuses an output path whose folder does not exist (before anything is fetched or written).
pub fn check_folder(out: &Path) -> Result<(), OutputError> {
    let folder = folder_of(out);
    if folder.is_dir() {
        return Ok(());
    }
    Err(OutputError::NoFolder {
        path: folder.to_path_buf(),
    })
}

/// The folder `out` goes into: its parent, or `.` for a bare name (where temporary files for
/// an atomic write are made).
pub fn folder_of(out: &Path) -> &Path {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A hidden temporary file in `dir`, to be renamed over the real output once complete. It gets
/// the permissions a newly created file would get (0666 less the umask), not 0600.
pub fn staging_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".trove-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// A hidden temporary folder in `dir` (0777 less the umask), renamed into place once complete.
pub fn staging_dir(dir: &Path) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".trove-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    builder.tempdir_in(dir)
}

/// Moves the finished `staged` (a file or folder in `out`'s folder) to `out`. Where something
/// is already at `out`: a file is replaced by a file in one rename; otherwise it is an error
/// unless `replace`, and then [`swap_in`] replaces it. `staged` is removed on failure.
pub fn place(staged: &Path, out: &Path, replace: bool) -> Result<(), OutputError> {
    let existing = out.symlink_metadata().ok();
    let staged_is_file = staged.symlink_metadata().is_ok_and(|m| !m.is_dir());
    match existing {
        None => {}
        Some(m) if m.is_file() && staged_is_file => {}
        Some(_) if replace => return swap_in(staged, out, folder_of(out)),
        Some(_) => {
            let _ = remove_path(staged);
            return Err(OutputError::Exists {
                path: out.to_path_buf(),
            });
        }
    }
    std::fs::rename(staged, out).map_err(|e| {
        let _ = remove_path(staged);
        OutputError::io("move the finished output to", out, e)
    })
}

/// Puts the finished output `staged` where `existing` is: moves `existing` aside (a hidden name
/// in `parent`), renames `staged` into place, then deletes the old one. If the second rename
/// fails, the old output is put back and `staged` removed: either the old or the new output is
/// at `existing`, never neither.
pub fn swap_in(staged: &Path, existing: &Path, parent: &Path) -> Result<(), OutputError> {
    let pid = std::process::id();
    let mut aside = parent.join(format!(".trove-replaced-{pid}"));
    let mut n = 0u32;
    while aside.symlink_metadata().is_ok() {
        n += 1;
        aside = parent.join(format!(".trove-replaced-{pid}-{n}"));
    }
    if let Err(e) = std::fs::rename(existing, &aside) {
        let _ = remove_path(staged);
        return Err(OutputError::io("move aside the existing", existing, e));
    }
    if let Err(e) = std::fs::rename(staged, existing) {
        let _ = std::fs::rename(&aside, existing);
        let _ = remove_path(staged);
        return Err(OutputError::io("move the finished output to", existing, e));
    }
    let _ = remove_path(&aside);
    Ok(())
}

/// Writes `bytes` to the file `out`, atomically: written and synced beside it under a
/// temporary name, then renamed into place (a file already there is replaced whole or not at
/// all).
pub fn write_file(out: &Path, bytes: &[u8]) -> Result<(), crate::Error> {
    use std::io::Write;
    let parent = folder_of(out);
    let mut tmp = staging_file(parent)
        .map_err(|e| crate::Error::io("create a temporary file in", parent, e))?;
    tmp.as_file_mut()
        .write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| crate::Error::io("write", out, e))?;
    tmp.persist(out)
        .map_err(|e| crate::Error::io("move the finished file into", out, e.error))?;
    Ok(())
}

/// Writes the DAG under `cid` as a CARv1 file at `out`, atomically: written and synced beside
/// it under a temporary name, then renamed into place.
pub fn write_car_file<G: crate::store::BlockGetter + ?Sized>(
    store: &G,
    cid: &crate::content::Cid,
    out: &Path,
) -> Result<crate::car::ExportSummary, crate::Error> {
    use std::io::Write;
    let parent = folder_of(out);
    let mut tmp = staging_file(parent)
        .map_err(|e| crate::Error::io("create a temporary file in", parent, e))?;
    let summary = crate::car::export_dag(store, cid, tmp.as_file_mut())?;
    tmp.as_file_mut()
        .flush()
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| crate::Error::io("write", out, e))?;
    tmp.persist(out)
        .map_err(|e| crate::Error::io("move the CAR into", out, e.error))?;
    Ok(summary)
}

/// What a copy wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopySummary {
    /// Files copied.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
}

/// Copies the file or folder `from` (a snapshot: trusted, read-only) to `out`, atomically, with
/// the rules of [`place`]. Files are cloned where the filesystem can (btrfs, XFS, APFS) and
/// copied in the kernel otherwise; the copies are writable by their owner (snapshots are
/// read-only); symlinks are recreated as they are (a snapshot's symlinks stay inside it).
pub fn copy_out(from: &Path, out: &Path, replace: bool) -> Result<CopySummary, OutputError> {
    check_output(out, replace)?;
    let parent = folder_of(out);
    let staging = staging_dir(parent)
        .map_err(|e| OutputError::io("create a temporary folder in", parent, e))?;
    let staged = staging.path().join("content");
    let mut summary = CopySummary::default();
    copy_tree(from, &staged, &mut summary)?;
    place(&staged, out, replace)?;
    Ok(summary)
}

fn copy_tree(from: &Path, to: &Path, summary: &mut CopySummary) -> Result<(), OutputError> {
    let meta = from
        .symlink_metadata()
        .map_err(|e| OutputError::io("read", from, e))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(|e| OutputError::io("read", from, e))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, to)
            .map_err(|e| OutputError::io("create symlink", to, e))?;
        #[cfg(not(unix))]
        return Err(OutputError::io(
            "create symlink",
            to,
            std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "symlinks need a Unix system",
            ),
        ));
    } else if meta.is_dir() {
        std::fs::create_dir(to).map_err(|e| OutputError::io("create", to, e))?;
        let mut names: Vec<_> = std::fs::read_dir(from)
            .map_err(|e| OutputError::io("list", from, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| OutputError::io("list", from, e))?;
        names.sort();
        for name in names {
            copy_tree(&from.join(&name), &to.join(&name), summary)?;
        }
    } else {
        let bytes = match reflink_copy::reflink_or_copy(from, to) {
            Ok(None) => meta.len(),
            Ok(Some(n)) => n,
            Err(e) => return Err(OutputError::io("copy to", to, e)),
        };
        writable(to, &meta)?;
        let file = std::fs::File::open(to).map_err(|e| OutputError::io("open", to, e))?;
        file.sync_all()
            .map_err(|e| OutputError::io("flush", to, e))?;
        summary.files += 1;
        summary.bytes += bytes;
    }
    Ok(())
}

/// Gives a copied file the permissions of a new file (0666 less the umask would need the
/// umask; the snapshot's bits plus owner-write is the same for what trove writes).
fn writable(path: &Path, from: &std::fs::Metadata) -> Result<(), OutputError> {
    let mut perms = from.permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        perms.set_mode(from.permissions().mode() | 0o200);
    }
    #[cfg(not(unix))]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms)
        .map_err(|e| OutputError::io("set permissions of", path, e))
}

/// Marks `path` (a file, or a folder and everything in it) read-only: files 0444, folders 0555
/// (symlinks are left alone).
pub fn make_read_only(path: &Path) -> Result<(), OutputError> {
    let meta = path
        .symlink_metadata()
        .map_err(|e| OutputError::io("read", path, e))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| OutputError::io("list", path, e))? {
            let entry = entry.map_err(|e| OutputError::io("list", path, e))?;
            make_read_only(&entry.path())?;
        }
    }
    let mut perms = meta.permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        perms.set_mode(if meta.is_dir() { 0o555 } else { 0o444 });
    }
    #[cfg(not(unix))]
    perms.set_readonly(true);
    std::fs::set_permissions(path, perms)
        .map_err(|e| OutputError::io("set permissions of", path, e))
}

/// Creates a symlink at `path` pointing at `target` (Unix; elsewhere an `Unsupported` error).
pub fn make_symlink(target: &str, path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, path)
    }
    #[cfg(not(unix))]
    {
        let _ = (target, path);
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "symlinks need a Unix system",
        ))
    }
}

/// Removes a file, symlink or folder (with everything in it); a read-only folder (a snapshot)
/// is made writable first.
pub fn remove_path(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let remove = || {
        if meta.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        }
    };
    match remove() {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && meta.is_dir() => {
            make_writable(path)?;
            remove()
        }
        other => other,
    }
}

/// Makes `path` and everything under it writable by its owner again, so it can be removed.
pub fn make_writable(path: &Path) -> std::io::Result<()> {
    let meta = path.symlink_metadata()?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mut perms = meta.permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        perms.set_mode(perms.mode() | 0o700);
    }
    #[cfg(not(unix))]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            make_writable(&entry?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_appears_whole_and_writable_and_an_existing_folder_is_kept_without_replace() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a.txt"), b"alpha").unwrap();
        std::fs::write(src.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
        make_read_only(&src).unwrap();
        let out = dir.path().join("out");
        let summary = copy_out(&src, &out, false).unwrap();
        assert_eq!(
            summary,
            CopySummary {
                files: 2,
                bytes: 100_005
            }
        );
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"alpha");
        assert!(!std::fs::metadata(out.join("a.txt"))
            .unwrap()
            .permissions()
            .readonly());
        // Without replace the folder stays as it is; with it, the new copy takes its place.
        std::fs::write(out.join("mine.txt"), b"keep").unwrap();
        assert!(matches!(
            copy_out(&src, &out, false),
            Err(OutputError::Exists { .. })
        ));
        assert!(out.join("mine.txt").exists());
        copy_out(&src, &out, true).unwrap();
        assert!(!out.join("mine.txt").exists());
        // Nothing is left behind in the folder but the output.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        make_writable(&src).unwrap();
    }
}
