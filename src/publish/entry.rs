//! Building a registry entry (the registry's own 1.1 format, see `registry/README.md`) from the
//! metadata the publisher gives and the facts of the imported content: root CID, profile, total
//! size, and the size, CID and sha256 of each top-level file (or the sha256 of a single file).

use crate::content::Cid;
use crate::registry::model::unsafe_file_name;
use crate::store::BlockGetter;
use crate::unixfs::{NodeKind, Profile, ReadError, Reader};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::io::Write;

/// Entry fields that live at the top level of an entry; everything else in a metadata file goes
/// into `metadata`.
const TOP_LEVEL: [&str; 3] = ["description", "license", "metadata"];

/// Errors while building an entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The metadata file is not a JSON object.
    #[error("the metadata file `{name}` is not usable: {detail}")]
    BadMeta {
        /// The file.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// Reading the imported content back failed.
    #[error("cannot read the imported content `{cid}`: {source}")]
    Read {
        /// The node being read.
        cid: Cid,
        /// Why.
        #[source]
        source: ReadError,
    },
}

impl crate::Hint for EntryError {
    fn hint(&self) -> Option<String> {
        match self {
            EntryError::BadMeta { .. } => Some(
                "give --meta a JSON object such as {\"description\": \"…\", \"license\": \"CC-BY-4.0\", \"domain\": \"…\"}".into(),
            ),
            EntryError::Read { source, .. } => source.hint(),
        }
    }
}

/// What the publisher says about the content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryMeta {
    /// One-line description.
    pub description: Option<String>,
    /// SPDX licence.
    pub license: Option<String>,
    /// The `metadata` object (`domain`, `model_type`, `tags`, `author`, anything else).
    pub metadata: Map<String, Value>,
}

impl EntryMeta {
    /// Reads a metadata file: `{description, license, metadata: {…}}`, where any other key
    /// (`domain`, `tags`, …) is taken as a `metadata` key.
    pub fn from_json(bytes: &[u8], name: &str) -> Result<EntryMeta, EntryError> {
        let bad = |detail: String| EntryError::BadMeta {
            name: name.to_string(),
            detail,
        };
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(bad("expected a JSON object".into()));
        };
        let mut meta = EntryMeta::default();
        for (key, value) in object {
            match key.as_str() {
                "description" | "license" => {
                    let Value::String(text) = value else {
                        return Err(bad(format!("`{key}` must be a string")));
                    };
                    if key == "description" {
                        meta.description = Some(text);
                    } else {
                        meta.license = Some(text);
                    }
                }
                "metadata" => {
                    let Value::Object(inner) = value else {
                        return Err(bad("`metadata` must be an object".into()));
                    };
                    meta.metadata.extend(inner);
                }
                _ => {
                    debug_assert!(!TOP_LEVEL.contains(&key.as_str()));
                    meta.metadata.insert(key, value);
                }
            }
        }
        Ok(meta)
    }

    /// Applies the command-line values on top (flags win over the file).
    #[allow(clippy::too_many_arguments)]
    pub fn with_flags(
        mut self,
        description: Option<&str>,
        domain: Option<&str>,
        model_type: Option<&str>,
        tags: &[String],
        license: Option<&str>,
        author: Option<&str>,
    ) -> EntryMeta {
        if let Some(d) = description {
            self.description = Some(d.to_string());
        }
        if let Some(l) = license {
            self.license = Some(l.to_string());
        }
        for (key, value) in [
            ("model_type", model_type),
            ("domain", domain),
            ("author", author),
        ] {
            if let Some(v) = value {
                self.metadata
                    .insert(key.into(), Value::String(v.to_string()));
            }
        }
        if !tags.is_empty() {
            self.metadata.insert("tags".into(), json!(tags));
        }
        self
    }

    /// Whether nothing at all was given.
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.license.is_none() && self.metadata.is_empty()
    }
}

/// One top-level file of a published folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFact {
    /// Its name in the folder.
    pub name: String,
    /// Its CID.
    pub cid: Cid,
    /// Its size in bytes.
    pub size: u64,
    /// The sha256 of its bytes (hex).
    pub sha256: String,
}

/// The facts of the imported content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFacts {
    /// The root CID.
    pub cid: Cid,
    /// The profile it was imported with.
    pub profile: Profile,
    /// Total bytes of file content.
    pub size: u64,
    /// Top-level files of a folder (empty for a single file).
    pub files: Vec<FileFact>,
    /// The sha256 of a single file (`None` for a folder).
    pub sha256: Option<String>,
    /// Top-level names left out of `files` (sub-folders, symlinks, unsafe names).
    pub skipped: Vec<String>,
}

impl ContentFacts {
    /// Reads the facts of `root` back from the store it was imported into (the bytes hashed are
    /// the verified blocks, so the sha256 values match the CID).
    pub fn read<G: BlockGetter + Sync>(
        getter: G,
        root: &Cid,
        profile: Profile,
        size: u64,
    ) -> Result<ContentFacts, EntryError> {
        let reader = Reader::new(getter);
        let read_err = |cid: &Cid| {
            let cid = *cid;
            move |source| EntryError::Read { cid, source }
        };
        let mut facts = ContentFacts {
            cid: *root,
            profile,
            size,
            files: Vec::new(),
            sha256: None,
            skipped: Vec::new(),
        };
        match reader.kind(root).map_err(read_err(root))? {
            NodeKind::File { .. } => {
                facts.sha256 = Some(sha256_of(&reader, root).map_err(read_err(root))?.1);
            }
            NodeKind::Directory | NodeKind::ShardedDirectory => {
                for entry in reader.list(root).map_err(read_err(root))? {
                    let kind = reader.kind(&entry.cid).map_err(read_err(&entry.cid))?;
                    if !matches!(kind, NodeKind::File { .. })
                        || unsafe_file_name(&entry.name).is_some()
                    {
                        facts.skipped.push(entry.name);
                        continue;
                    }
                    let (size, sha256) =
                        sha256_of(&reader, &entry.cid).map_err(read_err(&entry.cid))?;
                    facts.files.push(FileFact {
                        name: entry.name,
                        cid: entry.cid,
                        size,
                        sha256,
                    });
                }
                facts.files.sort_by(|a, b| a.name.cmp(&b.name));
            }
            _ => {}
        }
        Ok(facts)
    }

    /// The `files` object of an entry (`None` for a single file).
    pub fn files_json(&self) -> Option<Value> {
        if self.sha256.is_some() {
            return None;
        }
        let mut files = Map::new();
        for f in &self.files {
            files.insert(
                f.name.clone(),
                json!({"cid": f.cid.to_string(), "size_bytes": f.size, "sha256": f.sha256}),
            );
        }
        Some(Value::Object(files))
    }
}

/// A writer that only hashes.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sha256_of<G: BlockGetter + Sync>(
    reader: &Reader<G>,
    cid: &Cid,
) -> Result<(u64, String), ReadError> {
    let mut hasher = HashWriter(Sha256::new());
    let size = reader.read_file(cid, 0, None, &mut hasher)?;
    Ok((size, hex(&hasher.0.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the new content is named in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version name (`1` for a new entry unless told otherwise).
    pub version: String,
    /// Aliases to point at it (`latest`, `recommended`, …).
    pub aliases: Vec<String>,
    /// The publication date, `YYYY-MM-DD`.
    pub published: String,
    /// Mirror URLs or registry-relative paths.
    pub mirrors: Vec<String>,
}

/// The complete entry for new content, in the registry's field order: `cid`, `description`,
/// `metadata`, `files`, `sha256`, `license`, `profile`, `size`, `mirrors`, `versions`, `aliases`.
/// A new entry's aliases always include `latest` (pointing at its only version).
pub fn build_entry(meta: &EntryMeta, facts: &ContentFacts, info: &VersionInfo) -> Value {
    let mut entry = Map::new();
    let cid = facts.cid.to_string();
    entry.insert("cid".into(), json!(cid));
    if let Some(d) = &meta.description {
        entry.insert("description".into(), json!(d));
    }
    if !meta.metadata.is_empty() {
        entry.insert("metadata".into(), Value::Object(meta.metadata.clone()));
    }
    if let Some(files) = facts.files_json() {
        entry.insert("files".into(), files);
    }
    if let Some(sha) = &facts.sha256 {
        entry.insert("sha256".into(), json!(sha));
    }
    if let Some(l) = &meta.license {
        entry.insert("license".into(), json!(l));
    }
    entry.insert("profile".into(), json!(facts.profile.name()));
    entry.insert("size".into(), json!(facts.size));
    if !info.mirrors.is_empty() {
        entry.insert("mirrors".into(), json!(info.mirrors));
    }
    entry.insert("versions".into(), json!([version_object(facts, info)]));
    let mut aliases = Map::new();
    aliases.insert("latest".into(), json!(info.version));
    for alias in &info.aliases {
        aliases.insert(alias.clone(), json!(info.version));
    }
    entry.insert("aliases".into(), Value::Object(aliases));
    Value::Object(entry)
}

/// The `versions[]` object for the new content: `{version, cid, profile, size, sha256,
/// published, mirrors}` (its `files` stay at the entry level while it is the latest version).
pub fn version_object(facts: &ContentFacts, info: &VersionInfo) -> Value {
    let mut v = Map::new();
    v.insert("version".into(), json!(info.version));
    v.insert("cid".into(), json!(facts.cid.to_string()));
    v.insert("profile".into(), json!(facts.profile.name()));
    v.insert("size".into(), json!(facts.size));
    if let Some(sha) = &facts.sha256 {
        v.insert("sha256".into(), json!(sha));
    }
    v.insert("published".into(), json!(info.published));
    if !info.mirrors.is_empty() {
        v.insert("mirrors".into(), json!(info.mirrors));
    }
    Value::Object(v)
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    date_from_unix_days((secs / 86_400) as i64)
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn date_from_unix_days(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_from_unix_days(0), "1970-01-01");
        assert_eq!(date_from_unix_days(20_415), "2025-11-23");
        assert_eq!(date_from_unix_days(11_016), "2000-02-29");
    }

    #[test]
    fn meta_file_and_flags() {
        let meta = EntryMeta::from_json(
            br#"{"description":"d","domain":"x","metadata":{"variant":"v"},"license":"MIT"}"#,
            "m.json",
        )
        .unwrap()
        .with_flags(None, Some("y"), None, &["t".into()], None, Some("me"));
        assert_eq!(meta.description.as_deref(), Some("d"));
        assert_eq!(meta.license.as_deref(), Some("MIT"));
        assert_eq!(meta.metadata["domain"], "y");
        assert_eq!(meta.metadata["variant"], "v");
        assert_eq!(meta.metadata["tags"], json!(["t"]));
        assert!(EntryMeta::from_json(b"[]", "m.json").is_err());
    }
}
