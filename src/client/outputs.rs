//! The outputs trove wrote, recorded in the cache (`<cache>/outputs-v1/<key>.json`, one small
//! JSON file per output path, written atomically): what each holds (its CID and how it was
//! named) and a fingerprint of the files as written (names, sizes, modification times). So
//! `trove status PATH` and `trove verify PATH` work for any folder trove wrote, and `trove sync`
//! leaves an output alone when its fingerprint has not changed, without re-reading its bytes.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The folder of the records under a cache directory.
const DIR: &str = "outputs-v1";

/// What trove wrote at one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// The output's absolute path.
    pub path: PathBuf,
    /// The CID of what was written.
    pub cid: String,
    /// The target it was asked for by (an ID with version, a CID, …).
    pub target: String,
    /// The registry ID, when there was one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// The version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// The UnixFS profile the CID was made with, when known (to re-hash without the blocks).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile: Option<String>,
    /// The fingerprint of the files as written ([`fingerprint`]).
    pub fingerprint: String,
    /// When (seconds since the epoch).
    pub written_at: u64,
}

/// The records of one cache.
#[derive(Debug, Clone)]
pub struct Outputs {
    dir: PathBuf,
}

impl Outputs {
    /// The records under `cache_dir`.
    pub fn new(cache_dir: &Path) -> Self {
        Outputs {
            dir: cache_dir.join(DIR),
        }
    }

    fn record_path(&self, output: &Path) -> PathBuf {
        let key = Sha256::digest(output.as_os_str().as_encoded_bytes());
        let name: String = key[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }

    /// The record of `output` (an absolute path), if trove wrote it.
    pub fn get(&self, output: &Path) -> Option<OutputRecord> {
        let bytes = std::fs::read(self.record_path(output)).ok()?;
        let record: OutputRecord = serde_json::from_slice(&bytes).ok()?;
        (record.path == output).then_some(record)
    }

    /// The records of outputs inside `dir` (each read; unreadable records are skipped).
    pub fn under(&self, dir: &Path) -> Vec<OutputRecord> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<OutputRecord> = entries
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice::<OutputRecord>(&bytes).ok())
            .filter(|r| r.path.starts_with(dir))
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        found
    }

    /// Records what was just written at `record.path`.
    pub fn put(&self, record: &OutputRecord) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("create", &self.dir, e))?;
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::msg(crate::ErrorKind::Other, e.to_string()))?;
        crate::project::manifest::write_atomic(&self.record_path(&record.path), &bytes)
    }
}

/// A fingerprint of the tree at `path` as it is now: a hash over every name, kind, size and
/// modification time (not the bytes: a change of content that keeps size and mtime is caught
/// by `verify`, not here). `None` when nothing is there.
pub fn fingerprint(path: &Path) -> Option<String> {
    let mut hasher = Sha256::new();
    let meta = path.symlink_metadata().ok()?;
    walk(path, Path::new(""), &meta, &mut hasher);
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

fn walk(path: &Path, rel: &Path, meta: &std::fs::Metadata, hasher: &mut Sha256) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let kind = if meta.file_type().is_symlink() {
        'l'
    } else if meta.is_dir() {
        'd'
    } else {
        'f'
    };
    hasher.update(format!(
        "{kind}\0{}\0{}\0{mtime}\n",
        rel.display(),
        meta.len()
    ));
    if kind == 'd' {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if let Ok(m) = entry.path().symlink_metadata() {
                walk(&entry.path(), &rel.join(entry.file_name()), &m, hasher);
            }
        }
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_found_by_its_path_and_a_fingerprint_sees_changes() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = Outputs::new(&dir.path().join("cache"));
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("a"), b"alpha").unwrap();
        let before = fingerprint(&out).unwrap();
        let record = OutputRecord {
            path: out.clone(),
            cid: "bafy".into(),
            target: "x".into(),
            id: None,
            version: None,
            profile: None,
            fingerprint: before.clone(),
            written_at: now_secs(),
        };
        outputs.put(&record).unwrap();
        assert_eq!(outputs.get(&out), Some(record));
        assert_eq!(outputs.get(&dir.path().join("other")), None);
        std::fs::write(out.join("b"), b"beta").unwrap();
        assert_ne!(fingerprint(&out).unwrap(), before);
        assert_eq!(fingerprint(&dir.path().join("none")), None);
    }
}
