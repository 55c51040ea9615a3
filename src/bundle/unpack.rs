//! Unpacking an archive into an empty folder, as a sandbox. Every entry is judged before
//! anything of it is written (the archive crates' own `unpack` is never used):
//! - its name must be a relative path of UTF-8 components: no `/` at the start, no drive
//!   letter, no `..`, no NUL (`.` and empty components are dropped);
//! - a file is written only where no component of its path is a symlink (so a link inside the
//!   tree cannot carry a later entry out of it), replacing an earlier file of the same name as
//!   `tar` does, never a folder;
//! - a symlink's target must be relative and, resolved from the link's folder, stay inside the
//!   tree; a hard link must name a file unpacked before it (it is copied);
//! - devices, FIFOs, sparse files and anything else are refused;
//! - the entries and the bytes are counted against [`Limits`] as they come (a declared size over
//!   the budget is refused before its bytes are read), so a bomb stops early.
//!
//! The caller unpacks into a fresh folder and deletes it on any error: a refused archive leaves
//! nothing behind.

use super::{BundleError, Format, Limits};
use crate::compression::Compression;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// What an archive unpacked to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Entries written (files, folders, links).
    pub entries: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Unpacks `archive` (of `format`) into `dest`, an empty folder; see the module docs.
pub fn unpack(
    archive: &Path,
    format: Format,
    dest: &Path,
    limits: Limits,
) -> Result<Unpacked, BundleError> {
    let file = std::fs::File::open(archive).map_err(|e| BundleError::io("open", archive, e))?;
    let mut sandbox = Sandbox {
        dest,
        limits,
        done: Unpacked::default(),
    };
    let corrupt = |format: &'static str, e: &dyn std::fmt::Display| BundleError::Corrupt {
        path: archive.to_path_buf(),
        format,
        detail: e.to_string(),
    };
    match format {
        Format::Tar => sandbox.tar(BufReader::with_capacity(1 << 20, file), "tar", &corrupt)?,
        Format::TarGz | Format::TarZst => {
            let (compression, what) = if format == Format::TarGz {
                (Compression::Gzip, "gzip-compressed tar")
            } else {
                (Compression::Zstd, "zstd-compressed tar")
            };
            let decoder = compression.reader(file).map_err(|e| corrupt(what, &e))?;
            sandbox.tar(decoder, what, &corrupt)?
        }
        Format::Zip => sandbox.zip(BufReader::with_capacity(1 << 20, file), &corrupt)?,
    }
    Ok(sandbox.done)
}

/// Bytes a tar may hold after its end-of-archive blocks (record padding: `tar` pads to 10 KiB
/// records; more is not a tar written by a tool).
const MAX_TRAILER: u64 = 1024 * 1024;

type Corrupt<'a> = &'a dyn Fn(&'static str, &dyn std::fmt::Display) -> BundleError;

struct Sandbox<'a> {
    dest: &'a Path,
    limits: Limits,
    done: Unpacked,
}

impl Sandbox<'_> {
    fn tar(
        &mut self,
        input: impl Read,
        format: &'static str,
        corrupt: Corrupt,
    ) -> Result<(), BundleError> {
        use tar::EntryType;
        let mut archive = tar::Archive::new(input);
        let entries = archive.entries().map_err(|e| corrupt(format, &e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(format, &e))?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8(raw).map_err(|e| BundleError::UnsafeEntry {
                entry: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                reason: "the name is not UTF-8".into(),
            })?;
            let kind = entry.header().entry_type();
            if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
                continue; // metadata for the entries, which the reader has applied
            }
            let Some(rel) = relative(&name, false)? else {
                continue; // the archive's own root folder (`./`)
            };
            self.count_entry()?;
            match kind {
                EntryType::Regular | EntryType::Continuous => {
                    let mode = entry.header().mode().unwrap_or(0o644);
                    let declared = entry.header().size().unwrap_or(0);
                    self.file(&name, &rel, declared, mode, &mut entry)?;
                }
                EntryType::Directory => self.dir(&name, &rel)?,
                EntryType::Symlink => {
                    let target = link_target(&name, entry.link_name_bytes().as_deref())?;
                    self.symlink(&name, &rel, &target)?;
                }
                EntryType::Link => {
                    let target = link_target(&name, entry.link_name_bytes().as_deref())?;
                    self.hard_link(&name, &rel, &target)?;
                }
                EntryType::Char | EntryType::Block => {
                    return Err(unsafe_entry(&name, "a device file"));
                }
                EntryType::Fifo => return Err(unsafe_entry(&name, "a FIFO")),
                EntryType::GNUSparse => return Err(unsafe_entry(&name, "a sparse file")),
                other => {
                    return Err(unsafe_entry(
                        &name,
                        &format!("an entry of type {:?}", other.as_byte() as char),
                    ))
                }
            }
        }
        // Read to the end, so that the compression's own check (gzip's CRC-32 and length,
        // zstd's checksum) is verified: the tar reader stops at the end-of-archive blocks.
        let mut rest = archive.into_inner().take(MAX_TRAILER + 1);
        let trailer =
            std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| corrupt(format, &e))?;
        if trailer > MAX_TRAILER {
            return Err(corrupt(
                format,
                &format!("more than {MAX_TRAILER} bytes follow the end of the archive"),
            ));
        }
        Ok(())
    }

    fn zip<R: Read + std::io::Seek>(
        &mut self,
        input: R,
        corrupt: Corrupt,
    ) -> Result<(), BundleError> {
        let mut archive = zip::ZipArchive::new(input).map_err(|e| corrupt("zip", &e))?;
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).map_err(|e| corrupt("zip", &e))?;
            let name = file.name().to_string();
            let Some(rel) = relative(&name, true)? else {
                continue;
            };
            self.count_entry()?;
            let mode = file.unix_mode().unwrap_or(0o644);
            if file.is_dir() {
                self.dir(&name, &rel)?;
            } else if mode & 0o170000 == 0o120000 {
                let mut target = Vec::new();
                (&mut file)
                    .take(4096)
                    .read_to_end(&mut target)
                    .map_err(|e| corrupt("zip", &e))?;
                let target = link_target(&name, Some(&target))?;
                self.symlink(&name, &rel, &target)?;
            } else if matches!(mode & 0o170000, 0 | 0o100000) {
                let declared = file.size();
                self.file(&name, &rel, declared, mode, &mut file)?;
            } else {
                return Err(unsafe_entry(
                    &name,
                    "a special file (device, FIFO or socket)",
                ));
            }
        }
        Ok(())
    }

    fn count_entry(&mut self) -> Result<(), BundleError> {
        self.done.entries += 1;
        if self.done.entries > self.limits.max_entries {
            return Err(BundleError::TooLarge {
                what: "entries",
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// `dest/rel`, after checking that no folder on the way is a symlink (creating the missing
    /// ones).
    fn place(&self, name: &str, rel: &[String]) -> Result<PathBuf, BundleError> {
        let mut path = self.dest.to_path_buf();
        for component in &rel[..rel.len() - 1] {
            path.push(component);
            match path.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_entry(name, "it would be written through a symlink"))
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(unsafe_entry(
                        name,
                        &format!("`{component}` is a file, not a folder"),
                    ))
                }
                Err(_) => std::fs::create_dir(&path)
                    .map_err(|e| BundleError::io("create the folder", &path, e))?,
            }
        }
        path.push(&rel[rel.len() - 1]);
        Ok(path)
    }

    /// `dest/rel` for an entry unpacked before, with no symlink on the way.
    fn existing(&self, name: &str, rel: &[String]) -> Result<PathBuf, BundleError> {
        let mut path = self.dest.to_path_buf();
        for component in &rel[..rel.len() - 1] {
            path.push(component);
            if path
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(unsafe_entry(name, "a hard link through a symlink"));
            }
        }
        path.push(&rel[rel.len() - 1]);
        Ok(path)
    }

    /// Makes room at `path` for a new file or link: an earlier file or link of the same name
    /// is replaced (as `tar` does); a folder is not.
    fn clear(&self, name: &str, path: &Path) -> Result<(), BundleError> {
        match path.symlink_metadata() {
            Ok(m) if m.is_dir() => {
                Err(unsafe_entry(name, "a folder of that name is there already"))
            }
            Ok(_) => std::fs::remove_file(path).map_err(|e| BundleError::io("replace", path, e)),
            Err(_) => Ok(()),
        }
    }

    fn file(
        &mut self,
        name: &str,
        rel: &[String],
        declared: u64,
        mode: u32,
        content: &mut impl Read,
    ) -> Result<(), BundleError> {
        let budget = self.limits.max_bytes.saturating_sub(self.done.bytes);
        let too_large = || BundleError::TooLarge {
            what: "bytes",
            limit: self.limits.max_bytes,
        };
        if declared > budget {
            return Err(too_large());
        }
        let path = self.place(name, rel)?;
        self.clear(name, &path)?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| BundleError::io("create", &path, e))?;
        let written = std::io::copy(&mut content.take(budget + 1), &mut out)
            .map_err(|e| BundleError::io("unpack", &path, e))?;
        if written > budget {
            return Err(too_large());
        }
        out.flush()
            .map_err(|e| BundleError::io("write", &path, e))?;
        set_mode(&path, if mode & 0o111 != 0 { 0o755 } else { 0o644 })?;
        self.done.bytes += written;
        Ok(())
    }

    fn dir(&mut self, name: &str, rel: &[String]) -> Result<(), BundleError> {
        let path = self.place(name, rel)?;
        match path.symlink_metadata() {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(unsafe_entry(
                name,
                "a file or link of that name is there already",
            )),
            Err(_) => std::fs::create_dir(&path)
                .map_err(|e| BundleError::io("create the folder", &path, e)),
        }
    }

    fn symlink(&mut self, name: &str, rel: &[String], target: &str) -> Result<(), BundleError> {
        if target.starts_with('/') {
            return Err(unsafe_entry(
                name,
                &format!("it links to the absolute path `{target}`"),
            ));
        }
        // Resolved lexically from the link's folder, the target must never climb above the
        // tree's root.
        let mut depth = rel.len() as i64 - 1;
        for component in target.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(unsafe_entry(
                            name,
                            &format!("it links to `{target}`, outside the archive"),
                        ));
                    }
                }
                _ => depth += 1,
            }
        }
        let path = self.place(name, rel)?;
        self.clear(name, &path)?;
        crate::output::make_symlink(target, &path)
            .map_err(|e| BundleError::io("create the link", &path, e))
    }

    fn hard_link(&mut self, name: &str, rel: &[String], target: &str) -> Result<(), BundleError> {
        let Some(source_rel) = relative(target, false)? else {
            return Err(unsafe_entry(name, "a hard link to the archive's root"));
        };
        let source = self.existing(name, &source_rel)?;
        match source.symlink_metadata() {
            Ok(m) if m.is_file() => {}
            _ => {
                return Err(unsafe_entry(
                    name,
                    &format!("a hard link to `{target}`, which is not a file unpacked before it"),
                ))
            }
        }
        let mut content =
            std::fs::File::open(&source).map_err(|e| BundleError::io("read", &source, e))?;
        let size = content.metadata().map(|m| m.len()).unwrap_or(0);
        let mode = source_mode(&source);
        self.file(name, rel, size, mode, &mut content)
    }
}

/// The components of an entry name, or `None` for the archive's root itself.
fn relative(name: &str, zip: bool) -> Result<Option<Vec<String>>, BundleError> {
    let text = if zip {
        name.replace('\\', "/")
    } else {
        name.to_string()
    };
    if text.contains('\0') {
        return Err(unsafe_entry(name, "the name holds a NUL byte"));
    }
    if text.starts_with('/') {
        return Err(unsafe_entry(name, "an absolute path"));
    }
    let bytes = text.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err(unsafe_entry(name, "a path with a drive letter"));
    }
    let mut out = Vec::new();
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(unsafe_entry(name, "a path that climbs out with `..`")),
            c => out.push(c.to_string()),
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn link_target(name: &str, target: Option<&[u8]>) -> Result<String, BundleError> {
    let target = target.ok_or_else(|| unsafe_entry(name, "a link without a target"))?;
    let target = std::str::from_utf8(target)
        .map_err(|_| unsafe_entry(name, "the link target is not UTF-8"))?;
    if target.is_empty() || target.contains('\0') {
        return Err(unsafe_entry(name, "an empty or NUL-holding link target"));
    }
    Ok(target.to_string())
}

fn unsafe_entry(name: &str, reason: &str) -> BundleError {
    BundleError::UnsafeEntry {
        entry: name.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), BundleError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| BundleError::io("set permissions of", path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), BundleError> {
    Ok(())
}

#[cfg(unix)]
fn source_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.permissions().mode())
        .unwrap_or(0o644)
}

#[cfg(not(unix))]
fn source_mode(_path: &Path) -> u32 {
    0o644
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_must_stay_inside() {
        assert_eq!(
            relative("./a//b/./c", false).unwrap(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(relative("./", false).unwrap(), None);
        assert_eq!(
            relative("a\\b", true).unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
        for bad in ["/etc/passwd", "a/../../x", "..", "C:/x", "a\0b"] {
            assert!(relative(bad, false).is_err(), "{bad}");
        }
    }
}
