//! `ID[@version|@alias][/file]` → what to fetch: the root CID, the path inside the DAG, the
//! profile, absolute mirror URLs and the checks the registry records (sha256, sizes).

use super::model::{is_valid_name, ser, Entry, EntryKind, Registry, Version};
use super::RegistryError;
use crate::content::{parse_cid, Cid};
use crate::target::Target;
use crate::unixfs::Profile;
use serde::Serialize;
use url::Url;

/// What the user asked for, parsed: `ID[@version|@alias][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The entry ID.
    pub id: String,
    /// The version or alias after `@`, if any.
    pub version: Option<String>,
    /// The path inside the content, without leading or trailing slashes (empty for the root).
    pub path: String,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        if !self.path.is_empty() {
            write!(f, "/{}", self.path)?;
        }
        Ok(())
    }
}

/// Parses `ID[@version|@alias][/path]`. The path may not contain `.` or `..` components.
pub fn parse_selector(text: &str) -> Result<Selector, RegistryError> {
    let text = text.trim();
    let bad = |reason: &str| RegistryError::BadSelector {
        text: text.chars().take(200).collect(),
        reason: reason.to_string(),
    };
    let (head, path) = text.split_once('/').unwrap_or((text, ""));
    let (id, version) = match head.split_once('@') {
        Some((id, v)) => (id, Some(v)),
        None => (head, None),
    };
    if !is_valid_name(id) {
        return Err(bad(
            "an ID uses ASCII letters, digits and `._+-`, starting with a letter or digit",
        ));
    }
    if let Some(v) = version {
        if !is_valid_name(v) {
            return Err(bad(
                "a version or alias after `@` uses ASCII letters, digits and `._+-`",
            ));
        }
    }
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." || part.chars().any(char::is_control) {
            return Err(bad(
                "the path inside an artifact must not contain `.`, `..` or control characters",
            ));
        }
        parts.push(part);
    }
    Ok(Selector {
        id: id.to_string(),
        version: version.map(str::to_string),
        path: parts.join("/"),
    })
}

/// Everything needed to fetch and verify one selection.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// The registry that answered (its name).
    pub registry: String,
    /// The entry ID.
    pub id: String,
    /// The version chosen.
    pub version: String,
    /// The alias that chose it (`latest` when none was given), if an alias did.
    pub alias: Option<String>,
    /// The version's root CID; `None` for 2.0 entries, which are repository files.
    #[serde(serialize_with = "ser::opt_display")]
    pub cid: Option<Cid>,
    /// The path inside the DAG (empty for the root).
    pub path: String,
    /// The UnixFS profile the CID was made with (needed to verify a raw-file mirror).
    #[serde(serialize_with = "ser::opt_display")]
    pub profile: Option<Profile>,
    /// Absolute URLs of CARs or raw copies of the version's root CID (`file://` for mirrors of a
    /// local registry).
    #[serde(serialize_with = "ser::display_list")]
    pub mirrors: Vec<Url>,
    /// The sha256 (hex, lower case) the selected file must have, when the registry records it.
    pub sha256: Option<String>,
    /// The size of the selection in bytes (the file's, or the whole version's).
    pub size: Option<u64>,
    /// The size of the whole version in bytes.
    pub total_size: Option<u64>,
    /// The files the registry lists for this version.
    pub files: Vec<ResolvedFile>,
    /// 2.0 entries: the repository files to download, each checked by sha256.
    pub repo_files: Vec<RepoFile>,
}

impl Resolved {
    /// The CID and path to fetch, for entries named by a CID.
    pub fn target(&self) -> Option<Target> {
        self.cid.map(|cid| Target {
            cid,
            path: self.path.clone(),
        })
    }
}

/// A file the registry lists inside a version.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedFile {
    /// Its name inside the content.
    pub name: String,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its sha256 (hex).
    pub sha256: Option<String>,
}

/// A 2.0 artifact: a file in the registry's repository, verified by sha256.
#[derive(Debug, Clone, Serialize)]
pub struct RepoFile {
    /// Its file name (the output name).
    pub name: String,
    /// The key it was listed under (`parent`, `scc`).
    pub role: String,
    /// Where to download it (`file://` for a local registry).
    #[serde(serialize_with = "ser::display")]
    pub url: Url,
    /// The sha256 (hex, lower case) it must have.
    pub sha256: String,
    /// Its size in bytes, when recorded.
    pub size: Option<u64>,
}

/// Resolves a selector in one registry.
pub fn resolve(reg: &Registry, sel: &Selector) -> Result<Resolved, RegistryError> {
    let entry = reg
        .entries
        .get(&sel.id)
        .ok_or_else(|| RegistryError::UnknownId {
            id: sel.id.clone(),
            registries: vec![reg.name.clone()],
            suggestions: suggestions(reg.entries.keys().map(String::as_str), &sel.id),
        })?;
    let (version, alias) = pick_version(reg, entry, sel.version.as_deref())?;
    let bad = |field: &str, reason: String| RegistryError::BadEntry {
        registry: reg.name.clone(),
        id: entry.id.clone(),
        field: prefixed(&version.field, field),
        reason,
    };
    let cid = match &version.cid {
        Some(text) => Some(parse_cid(text).map_err(|e| bad("cid", e.to_string()))?),
        None => None,
    };
    let profile = match &version.profile {
        Some(p) => Some(p.parse::<Profile>().map_err(|e| bad("profile", e))?),
        None => None,
    };
    let mut mirrors = Vec::new();
    for (i, m) in version.mirrors.iter().enumerate() {
        mirrors
            .push(join_mirror(reg.base.as_ref(), m).map_err(|e| bad(&format!("mirrors[{i}]"), e))?);
    }
    let mut repo_files = Vec::new();
    for a in &version.artifacts {
        if !sel.path.is_empty() && sel.path != a.name && sel.path != a.path {
            continue;
        }
        let field = |name: &str| format!("{}.{name}", a.field);
        let sha256 = a
            .sha256
            .as_deref()
            .filter(|s| super::model::is_sha256_hex(s))
            .ok_or_else(|| bad(&field("sha256"), "missing or not 64 hex digits".into()))?;
        if a.path.contains("://") {
            return Err(bad(
                &field("cid_or_path"),
                "must be a repository path".into(),
            ));
        }
        let url =
            join_link(reg.base.as_ref(), &a.path).map_err(|e| bad(&field("cid_or_path"), e))?;
        repo_files.push(RepoFile {
            name: a.name.clone(),
            role: a.role.clone(),
            url,
            sha256: sha256.to_ascii_lowercase(),
            size: a.size,
        });
    }
    if cid.is_none() && repo_files.is_empty() {
        return Err(
            if entry.kind == EntryKind::Compute && !sel.path.is_empty() {
                RegistryError::UnknownFile {
                    registry: reg.name.clone(),
                    id: entry.id.clone(),
                    path: sel.path.clone(),
                    available: version.artifacts.iter().map(|a| a.name.clone()).collect(),
                }
            } else {
                bad("cid", "missing: the entry names no content".into())
            },
        );
    }
    let file = version.files.get(&sel.path);
    let (sha256, size) = if sel.path.is_empty() {
        (version.sha256.clone(), version.size)
    } else if let [one] = repo_files.as_slice() {
        (Some(one.sha256.clone()), one.size)
    } else {
        (
            file.and_then(|f| f.sha256.clone()),
            file.and_then(|f| f.size),
        )
    };
    Ok(Resolved {
        registry: reg.name.clone(),
        id: entry.id.clone(),
        version: version.version.clone(),
        alias,
        cid,
        path: sel.path.clone(),
        profile,
        mirrors,
        sha256: sha256.map(|s| s.to_ascii_lowercase()),
        size,
        total_size: version.size,
        files: version
            .files
            .iter()
            .map(|(name, f)| ResolvedFile {
                name: name.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
            })
            .collect(),
        repo_files,
    })
}

/// The version a selector names: a version name first, then an alias; `latest` when none.
fn pick_version<'e>(
    reg: &Registry,
    entry: &'e Entry,
    selector: Option<&str>,
) -> Result<(&'e Version, Option<String>), RegistryError> {
    let wanted = selector.unwrap_or("latest");
    if selector.is_some() {
        if let Some(v) = entry.version(wanted) {
            return Ok((v, None));
        }
    }
    let target = entry.aliases.get(wanted);
    match target.and_then(|t| entry.version(t)) {
        Some(v) => Ok((v, Some(wanted.to_string()))),
        None => Err(RegistryError::UnknownVersion {
            registry: reg.name.clone(),
            id: entry.id.clone(),
            selector: wanted.to_string(),
            versions: entry.versions.iter().map(|v| v.version.clone()).collect(),
            aliases: entry.aliases.keys().cloned().collect(),
        }),
    }
}

fn prefixed(prefix: &str, field: &str) -> String {
    if prefix.is_empty() || field.starts_with(prefix) {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Up to three known names close to `wanted` (shared prefix, substring or small edit distance).
pub fn suggestions<'a>(names: impl Iterator<Item = &'a str>, wanted: &str) -> Vec<String> {
    let w = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let l = n.to_ascii_lowercase();
            let d = edit_distance(&l, &w);
            let close = l.contains(&w) || w.contains(&l) || d <= 2.max(w.len() / 4);
            close.then_some((d, n))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A mirror or artifact reference as written in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// An absolute `http(s)://` URL.
    Absolute(Url),
    /// A path relative to the registry file (`cars/x.car`).
    Relative(String),
}

/// Classifies a mirror or artifact reference. Only `http(s)` URLs and plain relative paths that
/// stay below the registry file's folder are allowed: a registry must not make trove read local
/// files (`file://`, `/etc/…`) or leave its own folder (`..`, `%2e%2e`, `//host`).
pub fn parse_link(text: &str) -> Result<Link, String> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(Link::Absolute(url))
        }
        Ok(url) => Err(format!(
            "`{}:` links are not allowed; use an http(s) URL or a path relative to the registry",
            url.scheme()
        )),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let lower = text.to_ascii_lowercase();
            let unsafe_part = text.starts_with('/')
                || text.contains('\\')
                || text.contains('?')
                || text.contains('#')
                || lower.contains("%2e")
                || lower.contains("%2f")
                || lower.contains("%5c")
                || text.chars().any(char::is_control)
                || text
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..");
            if unsafe_part {
                Err(format!(
                    "`{}` must be a plain relative path below the registry's folder (no leading `/`, `.`, `..`, `\\`, `?`, `#` or empty parts)",
                    text.chars().take(200).collect::<String>()
                ))
            } else {
                Ok(Link::Relative(text.to_string()))
            }
        }
        Err(e) => Err(format!("not a URL or relative path: {e}")),
    }
}

/// Turns a mirror or artifact reference into an absolute URL, relative ones against the
/// registry file's location.
/// A mirror reference: what [`join_link`] accepts, and object-storage URLs (`s3://bucket/key`,
/// `gs://…`, `az://…`; see [`crate::objects`]).
pub fn join_mirror(base: Option<&Url>, text: &str) -> Result<Url, String> {
    if crate::objects::is_object_url(text) {
        let url = Url::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{text}` names no bucket"));
        }
        return Ok(url);
    }
    join_link(base, text)
}

pub fn join_link(base: Option<&Url>, text: &str) -> Result<Url, String> {
    match parse_link(text)? {
        Link::Absolute(url) => Ok(url),
        Link::Relative(path) => {
            let base = base.ok_or_else(|| {
                format!("`{path}` is relative, but the registry's location is unknown")
            })?;
            let url = base.join(&path).map_err(|e| format!("`{path}`: {e}"))?;
            let dir = base.join(".").map_err(|e| e.to_string())?;
            // Defence in depth: the joined URL must stay on the same origin and below the folder.
            let same_origin = (url.scheme(), url.host_str(), url.port_or_known_default())
                == (dir.scheme(), dir.host_str(), dir.port_or_known_default());
            if !same_origin || !url.path().starts_with(dir.path()) {
                return Err(format!("`{path}` leaves the registry's folder"));
            }
            Ok(url)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let s = parse_selector("abc@latest/dir//f.csv/").unwrap();
        assert_eq!(
            (s.id.as_str(), s.version.as_deref(), s.path.as_str()),
            ("abc", Some("latest"), "dir/f.csv")
        );
        assert_eq!(s.to_string(), "abc@latest/dir/f.csv");
        assert_eq!(parse_selector("abc").unwrap().version, None);
        for bad in ["", "@1", "a@", "a/../b", "a/./b", "../a", "a@x/y/..", "a b"] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links() {
        let base = Url::parse("https://raw.example/o/r/HEAD/registry.json").unwrap();
        assert_eq!(
            join_link(Some(&base), "cars/x.car").unwrap().as_str(),
            "https://raw.example/o/r/HEAD/cars/x.car"
        );
        assert_eq!(
            join_link(None, "https://m.example/x.car").unwrap().as_str(),
            "https://m.example/x.car"
        );
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "file:///etc/passwd",
            "//evil/x",
            "a/%2e%2e/x",
            "C:\\x",
            "a//b",
            "ftp://x/y",
        ] {
            assert!(join_link(Some(&base), bad).is_err(), "{bad}");
        }
        let local = Url::from_file_path(std::env::temp_dir().join("reg/registry.json")).unwrap();
        assert!(join_link(Some(&local), "cars/x.car")
            .unwrap()
            .as_str()
            .ends_with("/reg/cars/x.car"));
    }

    #[test]
    fn suggestions_are_close_names() {
        let names = ["coalescent_n5_theta1", "coalescent_n10_theta1", "other"];
        let s = suggestions(names.into_iter(), "coalescent_n5_theta");
        assert_eq!(s[0], "coalescent_n5_theta1");
        assert!(suggestions(names.into_iter(), "zzz").is_empty());
    }
}
