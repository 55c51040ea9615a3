//! `trove.lock`: what a project's manifest resolved to, exactly — per output the target, the
//! registry's answer (ID, version, alias), the root CID and path, the CID of what the output
//! holds, the profile, size, sha256 and mirrors; and which copy of each registry was read
//! (its ETag and the sha256 of the document). `trove sync --frozen` needs nothing else.

use crate::error::{Error, ErrorKind};
use crate::registry::Revision;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The lockfile format's version.
pub const LOCK_VERSION: u32 = 1;

/// A whole lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// The format's version ([`LOCK_VERSION`]).
    pub version: u32,
    /// The registries read, in search order.
    #[serde(default, rename = "registry", skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<LockedRegistry>,
    /// One per output, sorted by path.
    #[serde(default, rename = "artifact")]
    pub artifacts: Vec<Locked>,
}

/// A registry as it was read for the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedRegistry {
    /// The source as the manifest gives it.
    pub source: String,
    /// Which copy: ETag and sha256.
    #[serde(flatten)]
    pub revision: Revision,
}

/// One output, locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    /// The output path, relative to the manifest.
    pub path: String,
    /// The target as the manifest gives it.
    pub target: String,
    /// The registry ID, when the target is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// The version chosen.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// The alias that chose it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alias: Option<String>,
    /// The registry that answered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registry: Option<String>,
    /// The version's root CID.
    pub root: String,
    /// The path inside the root (empty: the root itself).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub subpath: String,
    /// The CID of what the output holds (the root, or what the path leads to).
    pub cid: String,
    /// The UnixFS profile the CID was made with, when the registry says.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile: Option<String>,
    /// The size in bytes, when the registry says.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size: Option<u64>,
    /// The sha256 the registry records for the file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// Where else the content is (the registry entry's mirrors).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mirrors: Vec<String>,
    /// For an upstream file (the target is its URL): the server's ETag when it was locked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub etag: Option<String>,
}

impl Lockfile {
    /// An empty lockfile.
    pub fn new() -> Self {
        Lockfile {
            version: LOCK_VERSION,
            registries: Vec::new(),
            artifacts: Vec::new(),
        }
    }

    /// Reads the lockfile at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Lockfile>, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let lock: Lockfile = toml::from_str(&text).map_err(|e| {
            Error::with_hint(
                ErrorKind::Usage,
                format!("invalid lockfile `{}`: {}", path.display(), e.message()),
                "it is written by `trove lock`: run it again (it is not meant to be edited by hand)",
            )
        })?;
        if lock.version != LOCK_VERSION {
            return Err(Error::with_hint(
                ErrorKind::Usage,
                format!(
                    "`{}` is a version {} lockfile; this trove reads version {LOCK_VERSION}",
                    path.display(),
                    lock.version
                ),
                "run `trove lock` to write it again",
            ));
        }
        Ok(Some(lock))
    }

    /// Writes the lockfile to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let body = toml::to_string_pretty(self)
            .map_err(|e| Error::msg(ErrorKind::Other, format!("cannot write the lockfile: {e}")))?;
        let text = format!(
            "# Written by `trove lock`: what each output of trove.toml resolved to. Do not edit.\n{body}"
        );
        super::manifest::write_atomic(path, text.as_bytes())
    }

    /// The locked output `path`.
    pub fn get(&self, path: &str) -> Option<&Locked> {
        self.artifacts.iter().find(|a| a.path == path)
    }
}

impl Default for Lockfile {
    fn default() -> Self {
        Lockfile::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockfile_round_trips_and_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trove.lock");
        assert_eq!(Lockfile::read(&path).unwrap(), None);
        let lock = Lockfile {
            version: LOCK_VERSION,
            registries: vec![LockedRegistry {
                source: "registry.json".into(),
                revision: Revision {
                    etag: Some("\"abc\"".into()),
                    sha256: "00".repeat(32),
                },
            }],
            artifacts: vec![Locked {
                etag: None,
                path: "data/n5".into(),
                target: "coalescent_n5_theta1@latest".into(),
                id: Some("coalescent_n5_theta1".into()),
                version: Some("1".into()),
                alias: Some("latest".into()),
                registry: Some("registry.json".into()),
                root: "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m".into(),
                subpath: String::new(),
                cid: "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m".into(),
                profile: Some("unixfs-v1-2025".into()),
                size: Some(602),
                sha256: None,
                mirrors: vec!["file:///x/cars/n5.car".into()],
            }],
        };
        lock.write(&path).unwrap();
        assert_eq!(Lockfile::read(&path).unwrap(), Some(lock));
        std::fs::write(&path, "version = 2\n").unwrap();
        let err = Lockfile::read(&path).unwrap_err();
        assert!(crate::Hint::hint(&err).unwrap().contains("trove lock"));
    }
}
