//! The normalized registry model (what every format is read into) and the raw JSON tree it is
//! read from.
//!
//! Registry files are untrusted input. They are parsed by serde_json into [`Json`], a tree that
//! keeps object keys in order *and duplicates* (so that a duplicated ID is reported instead of
//! silently shadowed), and then read field by field by [`super::legacy`], which names the entry
//! and field of every problem. Unknown fields are tolerated (kept in `extra` maps). The model
//! types derive `Serialize` so that the CLI can print them with `--json`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use url::Url;

/// The largest registry document trove reads (16 MiB), from disk or from the network.
pub const MAX_REGISTRY_BYTES: u64 = 16 * 1024 * 1024;
/// The longest string value trove accepts anywhere in a registry (64 KiB).
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// The most items trove accepts in one object or list (entries, files, tags, …).
pub const MAX_ITEMS: usize = 100_000;
/// The longest ID, collection, version, alias or file name.
pub const MAX_NAME_BYTES: usize = 255;

/// A parsed registry, whatever format it was written in (1.0 `traces`, trove's extensions of
/// 1.0, or 2.0 `computes`).
#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    /// How the registry is named in messages: the path, URL or `owner/repo[@ref]` it came from.
    pub name: String,
    /// Where the registry file lives (a `file://` or `http(s)://` URL); relative mirror and
    /// artifact paths are resolved against it. `None` for a document read from bytes alone.
    #[serde(serialize_with = "ser::opt_display")]
    pub base: Option<Url>,
    /// The declared `version` (`1.0.0`, `1.1.0`, `2.0`, …).
    pub version: Option<String>,
    /// The declared `format` (2.0 registries say `ptd_pcg`).
    pub format: Option<String>,
    /// The declared `updated` time stamp.
    pub updated: Option<String>,
    /// Entries by ID (`traces` and `computes` together).
    pub entries: BTreeMap<String, Entry>,
    /// Named sets of entries (`trove install COLLECTION`).
    pub collections: BTreeMap<String, Collection>,
    /// Pinning services the registry recommends (informational).
    pub pinning_services: BTreeMap<String, PinningService>,
}

/// Which part of a registry an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A 1.0 `traces` entry (with or without trove's extensions): content named by a CID.
    Trace,
    /// A 2.0 `computes` entry: repository files checked by sha256 (read-only support).
    Compute,
}

/// One artifact: an ID with its metadata and versions.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The ID (`coalescent_n5_theta1`).
    pub id: String,
    /// Where it came from.
    pub kind: EntryKind,
    /// One-line description (`description`, else `metadata.description`).
    pub description: String,
    /// Descriptive metadata.
    pub metadata: Metadata,
    /// The licence of the content (`license`, else `metadata.license`).
    pub license: Option<String>,
    /// The entry-level `cid` as written: what 1.0 readers fetch, meant to be the latest version.
    pub cid: Option<String>,
    /// Versions, oldest first. An entry without `versions` has one version, `1`.
    pub versions: Vec<Version>,
    /// Alias → version name. `latest` is always present when there is a version (the last one
    /// listed, unless the registry says otherwise).
    pub aliases: BTreeMap<String, String>,
    /// 1.0 `graph_hash` / 2.0 `graph_hash`: the hash of the model graph (informational).
    pub graph_hash: Option<String>,
    /// 1.0 `checksum` as written (`sha256:…` of `trace.json.gz` in the Python tool).
    pub checksum: Option<String>,
    /// A free-text `note` (the Python tool marked mock entries with one).
    pub note: Option<String>,
    /// 2.0 `retracted`: hidden from lists, still resolvable.
    pub retracted: bool,
    /// Fields trove does not know, kept as written.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Entry {
    /// The version an alias or version name stands for.
    pub fn version(&self, name: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == name)
    }

    /// The version `latest` points at.
    pub fn latest(&self) -> Option<&Version> {
        self.aliases
            .get("latest")
            .and_then(|v| self.version(v))
            .or_else(|| self.versions.last())
    }
}

/// One version of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// The version name (`1`, `2025-11`, …).
    pub version: String,
    /// Where it is in the document (`versions[0]`, or empty for an entry's implicit version):
    /// the prefix of the field paths in messages.
    pub field: String,
    /// The root CID as written (checked by [`super::check`], parsed by [`super::resolve()`]).
    pub cid: Option<String>,
    /// The UnixFS profile the CID was made with, as written (`unixfs-v1-2025`).
    pub profile: Option<String>,
    /// Total bytes of the content (the sum of its files' sizes).
    pub size: Option<u64>,
    /// The sha256 (hex) of the content when it is a single file.
    pub sha256: Option<String>,
    /// When it was published.
    pub published: Option<String>,
    /// URLs or registry-relative paths of CARs or raw copies of this version's root.
    pub mirrors: Vec<String>,
    /// Files inside the content by name (1.0 `files`).
    pub files: BTreeMap<String, FileInfo>,
    /// 2.0: repository files that make up this version, checked by sha256.
    pub artifacts: Vec<RepoArtifact>,
}

/// What the registry says about one file inside an entry's content.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileInfo {
    /// The file's own CID (or `CID/path`) as written.
    pub cid: Option<String>,
    /// Its size in bytes (`size_bytes`).
    pub size: Option<u64>,
    /// Its sha256 (hex). For 1.0 entries, `checksum` is the sha256 of `trace.json.gz`.
    pub sha256: Option<String>,
}

/// A 2.0 artifact: a file in the registry's own repository, checked by sha256.
#[derive(Debug, Clone, Serialize)]
pub struct RepoArtifact {
    /// The file name (last component of `path`), which `ID/NAME` selects.
    pub name: String,
    /// The key it was listed under (`parent`, `scc`).
    pub role: String,
    /// Where it is in the document (`artifacts.scc[3]`).
    pub field: String,
    /// `cid_or_path` as written: a path relative to the registry file.
    pub path: String,
    /// Its sha256 (hex).
    pub sha256: Option<String>,
    /// Its size (`size_bytes`).
    pub size: Option<u64>,
}

/// Descriptive metadata (1.0 `metadata`). Unknown keys are kept in `extra`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metadata {
    /// `model_type` (`coalescent`).
    pub model_type: Option<String>,
    /// `domain` (`population-genetics`).
    pub domain: Option<String>,
    /// `variant` (`kingman`).
    pub variant: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `author`.
    pub author: Option<String>,
    /// `created` (a date).
    pub created: Option<String>,
    /// `license`.
    pub license: Option<String>,
    /// `citation` (an object with text/doi/url, or a plain string).
    pub citation: Option<Citation>,
    /// `param_length`: number of model parameters.
    pub param_length: Option<u64>,
    /// `vertices`: number of graph vertices.
    pub vertices: Option<u64>,
    /// Every other key, as written (`parameters`, `description`, …).
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// How to cite an artifact.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Citation {
    /// The reference as text.
    pub text: Option<String>,
    /// Its DOI.
    pub doi: Option<String>,
    /// A URL.
    pub url: Option<String>,
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            self.text.clone(),
            self.doi.as_ref().map(|d| format!("doi:{d}")),
            self.url.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A named set of entries.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// Member IDs (`traces`), in order.
    pub members: Vec<String>,
    /// A CID for the whole collection, as written (1.0 had placeholders here).
    pub cid: Option<String>,
}

/// A pinning service the registry names (informational; trove does not pin).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PinningService {
    /// Its API.
    pub api_url: Option<String>,
    /// Its public gateway.
    pub gateway: Option<String>,
}

/// serde helpers for types that print themselves (URLs, CIDs, profiles) as strings.
pub(crate) mod ser {
    use serde::Serializer;
    use std::fmt::Display;

    /// An optional value, as its `Display` string.
    pub fn opt_display<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// A value, as its `Display` string.
    pub fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// A list, as `Display` strings.
    pub fn display_list<T: Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| x.to_string()))
    }
}

/// A JSON value that keeps object keys in document order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in order, duplicates kept.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses a document (serde_json's recursion limit bounds the nesting depth).
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// What kind of value this is, for messages ("a string", "an object", …).
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Converts to a `serde_json::Value` (for a duplicated key, the last one wins).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            if items.len() == MAX_ITEMS {
                return Err(serde::de::Error::custom(format!(
                    "an array with more than {MAX_ITEMS} items"
                )));
            }
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            if fields.len() == MAX_ITEMS {
                return Err(serde::de::Error::custom(format!(
                    "an object with more than {MAX_ITEMS} keys"
                )));
            }
            fields.push((k, v));
        }
        Ok(Json::Object(fields))
    }
}

/// Whether `name` is a valid ID, collection, version or alias name: ASCII letters, digits and
/// `._+-`, starting with a letter or digit, at most 255 bytes. Such a name is also a safe file
/// name, and cannot be confused with the `@` and `/` of `ID@version/file`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= MAX_NAME_BYTES
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
}

/// Why `name` is not a safe single file name (no `/`, `\`, NUL or control characters, not
/// empty, `.` or `..`, at most 255 bytes), or `None` when it is.
pub fn unsafe_file_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a file name must not be empty")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not file names")
    } else if name.contains('/') || name.contains('\\') {
        Some("a file name must not contain `/` or `\\`")
    } else if name.chars().any(char::is_control) {
        Some("a file name must not contain NUL or control characters")
    } else if name.len() > MAX_NAME_BYTES {
        Some("a file name must be at most 255 bytes")
    } else {
        None
    }
}

/// Whether `text` is 64 hex digits (a sha256).
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_duplicate_keys_in_order() {
        let j = Json::parse(br#"{"b": 1, "a": [true, null], "b": "x"}"#).unwrap();
        let Json::Object(fields) = &j else { panic!() };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(j.to_value()["b"], "x");
    }

    #[test]
    fn names() {
        for ok in ["coalescent_n5_theta1", "a", "v1.2.3", "x+y-z"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "..", ".hidden", "a/b", "a@b", "a b", "_x", "ü"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert!(unsafe_file_name("trace.json.gz").is_none());
        assert!(unsafe_file_name(".hidden").is_none());
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", "../x"] {
            assert!(unsafe_file_name(bad).is_some(), "{bad:?}");
        }
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex("sha256:00"));
    }
}
