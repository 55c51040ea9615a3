//! `trove.toml`: a project's manifest. Its `[artifacts]` table maps output paths (relative to
//! the manifest) to targets; `registries` lists where IDs are resolved.
//!
//! ```toml
//! registries = ["registry/registry.json", "munch-group/phasic-traces"]
//!
//! [artifacts]
//! "data/n5" = "coalescent_n5_theta1@latest"
//! "data/sfs.csv" = "coalescent_n10_theta1@1/sfs.csv"
//! "data/raw" = "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m"
//! "data/constraint.tsv.gz" = { url = "https://example.org/constraint.tsv.gz", ttl = "7d" }
//! ```
//!
//! An output given as `{ url = …, ttl = …, sha256 = …, decompress = … }` is an upstream file
//! ([`crate::Client::fetch_url`]): `lock` fetches it (within its TTL, from the cache) and
//! records its CID and ETag, so `sync --frozen` reproduces that exact version later from the
//! cache or any trove source, even if the URL has changed underneath.
//!
//! Reading is strict (unknown keys, unsafe or overlapping output paths are errors naming the
//! key); editing (`add-artifact`, `remove-artifact`) goes through `toml_edit` so the user's
//! comments and formatting stay as they were.

use crate::error::{Error, ErrorKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The manifest's file name.
pub const MANIFEST: &str = "trove.toml";
/// The lockfile's file name (beside the manifest).
pub const LOCKFILE: &str = "trove.lock";
/// The folder beside the manifest where trove keeps a project's state and service runs.
pub const STATE_DIR: &str = ".trove";

/// A project's manifest, as read.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The `trove.toml` file.
    pub path: PathBuf,
    /// Registries, as written (paths relative to the manifest's folder).
    pub registries: Vec<String>,
    /// Output path (relative, `/`-separated) → target (the URL, for an upstream file).
    pub artifacts: BTreeMap<String, String>,
    /// Output path → how to fetch it, for the outputs that are upstream files.
    pub upstream: BTreeMap<String, UpstreamSpec>,
}

/// An output that is an upstream file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// The https:// URL.
    pub url: String,
    /// How long a fetched copy is used without asking (e.g. `7d`).
    #[serde(default)]
    pub ttl: Option<String>,
    /// The published sha256.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Store the decoded bytes of a `.gz`/`.zst` file.
    #[serde(default)]
    pub decompress: bool,
}

impl UpstreamSpec {
    /// The options [`crate::Client::fetch_url`] takes.
    pub fn fetch_options(&self) -> Result<crate::client::upstream::FetchUrlOptions, Error> {
        let ttl = match &self.ttl {
            Some(text) => Some(
                crate::config::parse_duration("ttl", text)
                    .map_err(|e| Error::msg(ErrorKind::Usage, e.to_string()))?,
            ),
            None => None,
        };
        Ok(crate::client::upstream::FetchUrlOptions {
            ttl,
            sha256: self.sha256.clone(),
            decompress: self.decompress,
            ..Default::default()
        })
    }
}

/// A target as written: text, or an upstream file.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTarget {
    Text(String),
    Upstream(UpstreamSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    registries: Vec<String>,
    #[serde(default)]
    artifacts: BTreeMap<String, RawTarget>,
}

fn invalid(path: &Path, detail: impl std::fmt::Display) -> Error {
    Error::with_hint(
        ErrorKind::Usage,
        format!("invalid manifest `{}`: {detail}", path.display()),
        "see the README's “Projects” section for the format of trove.toml",
    )
}

impl Manifest {
    /// The manifest `start` names, or the first `trove.toml` in `start` or a folder above it.
    pub fn find(start: &Path) -> Result<PathBuf, Error> {
        if start.is_file() {
            return Ok(start.to_path_buf());
        }
        let absolute = std::path::absolute(start).map_err(|e| Error::io("resolve", start, e))?;
        let mut dir = Some(absolute.as_path());
        while let Some(d) = dir {
            let candidate = d.join(MANIFEST);
            if candidate.is_file() {
                return Ok(candidate);
            }
            dir = d.parent();
        }
        Err(Error::with_hint(
            ErrorKind::Usage,
            format!(
                "no {MANIFEST} in `{}` or a folder above it",
                absolute.display()
            ),
            "create one with `trove add-artifact OUTPUT TARGET --registry SOURCE`, or name it with --manifest FILE",
        ))
    }

    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Manifest::parse(path, &text)
    }

    /// Parses and checks a manifest's text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, Error> {
        let raw: Raw = toml::from_str(text).map_err(|e| invalid(path, e.message()))?;
        let mut artifacts = BTreeMap::new();
        let mut upstream = BTreeMap::new();
        for (output, target) in raw.artifacts {
            let normal = check_output_path(&output)
                .map_err(|why| invalid(path, format!("artifact `{output}`: {why}")))?;
            let target = match target {
                RawTarget::Text(text) => text,
                RawTarget::Upstream(spec) => {
                    if !(spec.url.starts_with("https://") || spec.url.starts_with("http://")) {
                        return Err(invalid(
                            path,
                            format!("artifact `{output}`: `url` must be an http(s) URL"),
                        ));
                    }
                    spec.fetch_options()
                        .map_err(|e| invalid(path, format!("artifact `{output}`: {e}")))?;
                    let url = spec.url.clone();
                    upstream.insert(normal.clone(), spec);
                    url
                }
            };
            if target.trim().is_empty() {
                return Err(invalid(
                    path,
                    format!("artifact `{output}` has an empty target"),
                ));
            }
            if artifacts
                .insert(normal.clone(), target.trim().to_string())
                .is_some()
            {
                return Err(invalid(
                    path,
                    format!("artifact `{normal}` is listed twice"),
                ));
            }
        }
        let outputs: Vec<&String> = artifacts.keys().collect();
        for pair in outputs.windows(2) {
            if pair[1].starts_with(&format!("{}/", pair[0])) {
                return Err(invalid(
                    path,
                    format!("artifact `{}` is inside artifact `{}`", pair[1], pair[0]),
                ));
            }
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            registries: raw.registries,
            artifacts,
            upstream,
        })
    }

    /// The folder the manifest is in: outputs are relative to it.
    pub fn dir(&self) -> &Path {
        crate::output::folder_of(&self.path)
    }

    /// Where output `rel` is.
    pub fn output(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// The registries to read: a path relative to the manifest's folder that exists there is
    /// made absolute; URLs and `owner/repo` stay as they are.
    pub fn registry_sources(&self) -> Vec<String> {
        self.registries
            .iter()
            .map(|r| {
                let local = self.dir().join(r);
                if !r.contains("://") && local.exists() {
                    local.display().to_string()
                } else {
                    r.clone()
                }
            })
            .collect()
    }
}

/// Checks an output path: relative, inside the project, not trove's own files; returns it
/// normalized (`/`-separated, no `.` parts, no trailing slash).
pub fn check_output_path(text: &str) -> Result<String, String> {
    let path = Path::new(text);
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => {
                let p = p
                    .to_str()
                    .ok_or_else(|| "the path is not valid UTF-8".to_string())?;
                parts.push(p.to_string());
            }
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` would leave the project".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("the path must be relative to the manifest's folder".into())
            }
        }
    }
    if parts.is_empty() {
        return Err("the path is empty".into());
    }
    if [MANIFEST, LOCKFILE, STATE_DIR].contains(&parts[0].as_str()) {
        return Err(format!("`{}` is trove's own file", parts[0]));
    }
    Ok(parts.join("/"))
}

/// Adds (or, when it is there, changes) artifact `output` → `target` in the manifest at
/// `path`, creating the manifest (with `registries`) when there is none. Formatting and
/// comments are kept; the file is replaced atomically.
pub fn add_artifact(
    path: &Path,
    output: &str,
    target: &str,
    registries: &[String],
) -> Result<(), Error> {
    let output = check_output_path(output).map_err(|why| {
        Error::msg(
            ErrorKind::Usage,
            format!("cannot add artifact `{output}`: {why}"),
        )
    })?;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| invalid(path, e))?;
    if !registries.is_empty() {
        let list = doc
            .entry("registries")
            .or_insert(toml_edit::value(toml_edit::Array::new()));
        let array = list
            .as_array_mut()
            .ok_or_else(|| invalid(path, "`registries` is not a list"))?;
        for r in registries {
            if !array.iter().any(|v| v.as_str() == Some(r)) {
                array.push(r.as_str());
            }
        }
    }
    let table = doc
        .entry("artifacts")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .ok_or_else(|| invalid(path, "`artifacts` is not a table"))?;
    table.insert(&output, toml_edit::value(target));
    let new = doc.to_string();
    // The edited manifest must still read (no overlap with another output, say).
    Manifest::parse(path, &new)?;
    write_atomic(path, new.as_bytes())
}

/// Removes artifact `output` from the manifest at `path`; whether it was there.
pub fn remove_artifact(path: &Path, output: &str) -> Result<bool, Error> {
    let output = check_output_path(output).map_err(|why| {
        Error::msg(
            ErrorKind::Usage,
            format!("cannot remove artifact `{output}`: {why}"),
        )
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| invalid(path, e))?;
    let removed = doc
        .get_mut("artifacts")
        .and_then(|a| a.as_table_like_mut())
        .and_then(|t| t.remove(&output))
        .is_some();
    if removed {
        write_atomic(path, doc.to_string().as_bytes())?;
    }
    Ok(removed)
}

/// Writes `bytes` to `path` atomically (a synced temporary file beside it, renamed).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let dir = crate::output::folder_of(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("write", path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_inside_the_project() {
        assert_eq!(check_output_path("./data//n5/").unwrap(), "data/n5");
        assert!(check_output_path("../x").is_err());
        assert!(check_output_path("/etc/x").is_err());
        assert!(check_output_path("").is_err());
        assert!(check_output_path("trove.lock").is_err());
        assert!(check_output_path(".trove/runs").is_err());
    }

    #[test]
    fn manifests_are_checked_and_edited_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST);
        add_artifact(
            &path,
            "data/n5",
            "coalescent_n5_theta1",
            &["reg.json".into()],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("# my project\n{text}")).unwrap();
        add_artifact(
            &path,
            "data/sfs.csv",
            "coalescent_n10_theta1@1/sfs.csv",
            &[],
        )
        .unwrap();
        let m = Manifest::load(&path).unwrap();
        assert_eq!(m.registries, ["reg.json"]);
        assert_eq!(m.artifacts.len(), 2);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("# my project\n"));
        // An output inside another is refused, and the file is left as it was.
        let before = std::fs::read_to_string(&path).unwrap();
        assert!(add_artifact(&path, "data/n5/x", "y", &[]).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert!(remove_artifact(&path, "data/n5").unwrap());
        assert!(!remove_artifact(&path, "data/n5").unwrap());
        assert_eq!(Manifest::load(&path).unwrap().artifacts.len(), 1);
        // Unknown keys are errors naming the file.
        std::fs::write(&path, "registry = []\n").unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("trove.toml") && err.contains("registry"),
            "{err}"
        );
    }
}
