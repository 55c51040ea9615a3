//! Deterministic archives of a file or folder (a verified snapshot, in practice): the same
//! content always gives the same bytes. Entries are sorted by name; times are the epoch (zip:
//! 1980-01-01, its earliest), owners empty, modes 0644/0755 (0755 for files that are
//! executable), compression levels fixed. The archive holds `manifest.json` and
//! `checksums.sha256` at the top and the content under `NAME/` (or as the file `NAME`), so
//! `tar xf X && sha256sum -c checksums.sha256` checks it without trove, and
//! [`crate::Client::import_bundle`] gives back the same CID.

use super::{BundleError, Format};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The manifest's `generator` starts with this: how an import knows trove wrote the archive
/// (and that `manifest.json` and `checksums.sha256` are not part of the content).
pub const GENERATOR: &str = "trove";

/// One entry of the content, by its name in the archive.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    path: PathBuf,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    File { size: u64, executable: bool },
    Dir,
    Symlink(String),
}

/// What an archive holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    /// Files.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
}

/// Writes `src` (a file or folder) as an archive of `format` to `out`, under the name `name`,
/// with `manifest` (an object; `files` and `checksums` are added) and `checksums.sha256`.
pub fn pack<W: Write + Seek>(
    src: &Path,
    name: &str,
    format: Format,
    mut manifest: serde_json::Value,
    out: W,
) -> Result<Packed, BundleError> {
    let mut entries = Vec::new();
    walk(src, name, &mut entries)?;
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    // The sums first (one read of every file), then the archive (a second read).
    let mut sums = String::new();
    let mut files = Vec::new();
    let mut checksums = serde_json::Map::new();
    let mut packed = Packed::default();
    for entry in &entries {
        if let Kind::File { size, .. } = entry.kind {
            let sum = super::sums::sha256_file(&entry.path)?;
            sums.push_str(&format!("{sum}  {}\n", entry.name));
            files.push(serde_json::json!({"path": entry.name, "size": size, "sha256": sum}));
            checksums.insert(entry.name.clone(), sum.into());
            packed.files += 1;
            packed.bytes += size;
        }
    }
    manifest["files"] = files.into();
    manifest["checksums"] = checksums.into();
    let manifest = serde_json::to_vec_pretty(&manifest).expect("a JSON value serializes");
    let meta: [(&str, &[u8]); 2] = [
        ("manifest.json", &manifest),
        ("checksums.sha256", sums.as_bytes()),
    ];
    let io = |e: std::io::Error| BundleError::io("write the archive", Path::new(name), e);
    match format {
        Format::Tar => {
            tar_into(out, &meta, &entries).map_err(io)?;
        }
        Format::TarGz => {
            let gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(out, flate2::Compression::default());
            tar_into(gz, &meta, &entries)
                .and_then(|gz| gz.finish())
                .map_err(io)?;
        }
        Format::TarZst => {
            let zst = zstd::stream::write::Encoder::new(out, 3).map_err(io)?;
            tar_into(zst, &meta, &entries)
                .and_then(|zst| zst.finish())
                .map_err(io)?;
        }
        Format::Zip => zip_into(out, &meta, &entries).map_err(io)?,
    }
    Ok(packed)
}

/// Every file, folder and link under `path`, named `name` and below.
fn walk(path: &Path, name: &str, out: &mut Vec<Entry>) -> Result<(), BundleError> {
    let meta = path
        .symlink_metadata()
        .map_err(|e| BundleError::io("read", path, e))?;
    let kind = if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| BundleError::io("read", path, e))?;
        Kind::Symlink(target.to_string_lossy().into_owned())
    } else if meta.is_dir() {
        Kind::Dir
    } else {
        Kind::File {
            size: meta.len(),
            executable: is_executable(&meta),
        }
    };
    let is_dir = matches!(kind, Kind::Dir);
    out.push(Entry {
        name: name.to_string(),
        path: path.to_path_buf(),
        kind,
    });
    if is_dir {
        let children = std::fs::read_dir(path).map_err(|e| BundleError::io("list", path, e))?;
        for child in children {
            let child = child.map_err(|e| BundleError::io("list", path, e))?;
            let child_name = child.file_name();
            let child_name = child_name
                .to_str()
                .ok_or_else(|| BundleError::UnsafeEntry {
                    entry: child.path().display().to_string(),
                    reason: "the name is not UTF-8".into(),
                })?;
            walk(&child.path(), &format!("{name}/{child_name}"), out)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn tar_into<W: Write>(out: W, meta: &[(&str, &[u8])], entries: &[Entry]) -> std::io::Result<W> {
    let mut builder = tar::Builder::new(out);
    let header = |kind: tar::EntryType, size: u64, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for (name, bytes) in meta {
        let mut h = header(tar::EntryType::Regular, bytes.len() as u64, 0o644);
        builder.append_data(&mut h, name, *bytes)?;
    }
    for entry in entries {
        match &entry.kind {
            Kind::Dir => {
                let mut h = header(tar::EntryType::Directory, 0, 0o755);
                builder.append_data(&mut h, format!("{}/", entry.name), std::io::empty())?;
            }
            Kind::Symlink(target) => {
                let mut h = header(tar::EntryType::Symlink, 0, 0o777);
                builder.append_link(&mut h, &entry.name, target)?;
            }
            Kind::File { size, executable } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                let mut h = header(tar::EntryType::Regular, *size, mode);
                let file = std::fs::File::open(&entry.path)?;
                builder.append_data(&mut h, &entry.name, checked(file, *size))?;
            }
        }
    }
    builder.into_inner()
}

fn zip_into<W: Write + Seek>(
    out: W,
    meta: &[(&str, &[u8])],
    entries: &[Entry],
) -> std::io::Result<()> {
    use zip::write::SimpleFileOptions;
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut zip = zip::ZipWriter::new(out);
    let zerr = |e: zip::result::ZipError| std::io::Error::other(e.to_string());
    for (name, bytes) in meta {
        zip.start_file(*name, options.unix_permissions(0o644))
            .map_err(zerr)?;
        zip.write_all(bytes)?;
    }
    for entry in entries {
        match &entry.kind {
            Kind::Dir => zip
                .add_directory(entry.name.as_str(), options.unix_permissions(0o755))
                .map_err(zerr)?,
            Kind::Symlink(target) => zip
                .add_symlink(entry.name.as_str(), target.as_str(), options)
                .map_err(zerr)?,
            Kind::File { size, executable } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                zip.start_file(entry.name.as_str(), options.unix_permissions(mode))
                    .map_err(zerr)?;
                let mut file = checked(std::fs::File::open(&entry.path)?, *size);
                std::io::copy(&mut file, &mut zip)?;
            }
        }
    }
    zip.finish().map_err(zerr)?;
    Ok(())
}

/// A reader that fails unless it yields exactly `size` bytes (a file that changed between
/// the walk and the copy would otherwise make a corrupt tar).
fn checked(file: std::fs::File, size: u64) -> impl Read {
    struct Exact {
        inner: std::io::Take<std::fs::File>,
        left: u64,
    }
    impl Read for Exact {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            if n == 0 && self.left > 0 && !buf.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was being archived",
                ));
            }
            self.left -= n as u64;
            Ok(n)
        }
    }
    Exact {
        inner: file.take(size),
        left: size,
    }
}
