//! Writing UnixFS content out of the store to disk: files appear atomically (temp file in the
//! target folder, fsync, rename), directories are built in a hidden temp folder and renamed into
//! place, and untrusted names and symlinks can never place anything outside the output.

use crate::content::Cid;
use crate::store::BlockGetter;
use crate::unixfs::{check_entry_name, NodeKind, ReadError, Reader};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Errors while writing content to disk.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Reading the DAG failed (missing block, invalid node, …).
    #[error(transparent)]
    Read(#[from] ReadError),
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
    /// A directory entry name that could escape the output folder.
    #[error("refusing directory entry `{name}` in `{dir}`: {reason}")]
    UnsafeName {
        /// The name, escaped.
        name: String,
        /// The directory node holding it.
        dir: Cid,
        /// Why.
        reason: String,
    },
    /// A symlink whose target leaves the output folder.
    #[error("refusing symlink `{}` -> `{target}`: it points outside the output folder", path.display())]
    UnsafeSymlink {
        /// Where it would have been created.
        path: PathBuf,
        /// Its target.
        target: String,
    },
    /// The output exists and is a directory (or the content is a directory and the output exists).
    #[error("`{}` already exists", path.display())]
    Exists {
        /// The output path.
        path: PathBuf,
    },
    /// Not UnixFS content.
    #[error("`{cid}` is a {kind}; only UnixFS files, directories and symlinks can be written out")]
    NotUnixfs {
        /// The node.
        cid: Cid,
        /// What it is.
        kind: String,
    },
}

impl ExtractError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        ExtractError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Files written.
    pub files: u64,
    /// Directories created (the top one included).
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Content bytes written.
    pub bytes: u64,
}

/// Writes the content at `cid` to `out`: a file becomes a file (replacing an existing file
/// atomically), a directory a new directory (which must not exist yet).
pub fn extract<G: BlockGetter>(
    reader: &Reader<G>,
    cid: &Cid,
    out: &Path,
) -> Result<ExtractSummary, ExtractError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut summary = ExtractSummary::default();
    match reader.kind(cid)? {
        NodeKind::File { .. } => {
            if out.is_dir() {
                return Err(ExtractError::Exists {
                    path: out.to_path_buf(),
                });
            }
            let mut tmp = staging_file(&parent)
                .map_err(|e| ExtractError::io("create a temporary file in", &parent, e))?;
            let tmp_path = tmp.path().to_path_buf();
            write_file(reader, cid, tmp.as_file_mut(), &tmp_path, &mut summary)?;
            tmp.persist(out)
                .map_err(|e| ExtractError::io("move the finished file to", out, e.error))?;
        }
        NodeKind::Directory | NodeKind::ShardedDirectory => {
            if out.symlink_metadata().is_ok() {
                return Err(ExtractError::Exists {
                    path: out.to_path_buf(),
                });
            }
            let tmp = staging_dir(&parent)
                .map_err(|e| ExtractError::io("create a temporary folder in", &parent, e))?;
            write_dir(reader, cid, tmp.path(), tmp.path(), 0, &mut summary)?;
            let staged = tmp.keep();
            if let Err(e) = std::fs::rename(&staged, out) {
                let _ = std::fs::remove_dir_all(&staged);
                return Err(ExtractError::io("move the finished folder to", out, e));
            }
        }
        NodeKind::Symlink { target } => {
            return Err(ExtractError::NotUnixfs {
                cid: *cid,
                kind: format!("symlink (to `{target}`) at the top level"),
            })
        }
        NodeKind::Other { codec } => {
            return Err(ExtractError::NotUnixfs {
                cid: *cid,
                kind: format!("{codec} node"),
            })
        }
    }
    Ok(summary)
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

fn write_file<G: BlockGetter>(
    reader: &Reader<G>,
    cid: &Cid,
    file: &mut std::fs::File,
    path: &Path,
    summary: &mut ExtractSummary,
) -> Result<(), ExtractError> {
    let mut buffered = std::io::BufWriter::with_capacity(1 << 20, &mut *file);
    let n = reader.read_file(cid, 0, None, &mut buffered)?;
    buffered
        .flush()
        .map_err(|e| ExtractError::io("write", path, e))?;
    drop(buffered);
    file.sync_all()
        .map_err(|e| ExtractError::io("flush", path, e))?;
    summary.files += 1;
    summary.bytes += n;
    Ok(())
}

fn write_dir<G: BlockGetter>(
    reader: &Reader<G>,
    cid: &Cid,
    dir: &Path,
    root: &Path,
    depth: usize,
    summary: &mut ExtractSummary,
) -> Result<(), ExtractError> {
    if depth > crate::unixfs::reader::MAX_DEPTH {
        return Err(ReadError::Invalid {
            cid: *cid,
            detail: "directories nested too deeply".into(),
        }
        .into());
    }
    summary.dirs += 1;
    for entry in reader.list(cid)? {
        check_entry_name(&entry.name).map_err(|e| ExtractError::UnsafeName {
            name: entry.name.escape_debug().to_string(),
            dir: *cid,
            reason: e.to_string(),
        })?;
        let path = dir.join(&entry.name);
        match reader.kind(&entry.cid)? {
            NodeKind::File { .. } => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| ExtractError::io("create", &path, e))?;
                write_file(reader, &entry.cid, &mut file, &path, summary)?;
            }
            NodeKind::Directory | NodeKind::ShardedDirectory => {
                std::fs::create_dir(&path).map_err(|e| ExtractError::io("create", &path, e))?;
                write_dir(reader, &entry.cid, &path, root, depth + 1, summary)?;
            }
            NodeKind::Symlink { target } => {
                if !symlink_stays_inside(root, dir, &target) {
                    return Err(ExtractError::UnsafeSymlink { path, target });
                }
                make_symlink(&target, &path)?;
                summary.symlinks += 1;
            }
            NodeKind::Other { codec } => {
                return Err(ExtractError::NotUnixfs {
                    cid: entry.cid,
                    kind: format!("{codec} node (entry `{}`)", entry.name),
                })
            }
        }
    }
    Ok(())
}

/// Whether a relative symlink target, resolved lexically from `dir`, stays under `root`.
fn symlink_stays_inside(root: &Path, dir: &Path, target: &str) -> bool {
    if target.is_empty() || target.contains('\0') {
        return false;
    }
    let Ok(rel) = dir.strip_prefix(root) else {
        return false;
    };
    let mut depth = rel.components().count() as isize;
    for component in Path::new(target).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(unix)]
fn make_symlink(target: &str, path: &Path) -> Result<(), ExtractError> {
    std::os::unix::fs::symlink(target, path)
        .map_err(|e| ExtractError::io("create symlink", path, e))
}

#[cfg(not(unix))]
fn make_symlink(_target: &str, path: &Path) -> Result<(), ExtractError> {
    Err(ExtractError::io(
        "create symlink",
        path,
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "symlinks need a Unix system",
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_must_stay_inside() {
        let root = Path::new("/out");
        assert!(symlink_stays_inside(root, Path::new("/out"), "a"));
        assert!(symlink_stays_inside(root, Path::new("/out/sub"), "../a"));
        assert!(!symlink_stays_inside(root, Path::new("/out"), "../a"));
        assert!(!symlink_stays_inside(
            root,
            Path::new("/out/sub"),
            "../../etc"
        ));
        assert!(!symlink_stays_inside(
            root,
            Path::new("/out"),
            "/etc/passwd"
        ));
        assert!(!symlink_stays_inside(root, Path::new("/out"), ""));
    }
}
