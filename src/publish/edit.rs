//! Deterministic edits of a registry document: add an entry at the end of `traces`, or add a
//! version to an existing entry and move aliases to it, then write the document back with the
//! file's own indentation (two or four spaces, or tabs) and final newline, so that a diff shows
//! only the new lines. `serde_json` keeps the key order (`preserve_order`).
//!
//! Refused, each with what to do instead: an ID that exists (unless a version is being added,
//! or `force`), a version that exists (unless `force`), a CID that is registered under another
//! ID.

use crate::registry::model::is_valid_name;
use serde::Serialize;
use serde_json::{Map, Value};

/// A registry file trove creates when there is none yet.
const NEW_REGISTRY: &str = "{\n  \"version\": \"1.1.0\",\n  \"traces\": {}\n}\n";

/// Why an edit is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The document is not a JSON object.
    #[error("the registry is not valid: {0}")]
    BadDocument(String),
    /// A 2.0 (`computes`) registry.
    #[error("the registry is a 2.0 (`computes`) registry: trove publishes into 1.x `traces` registries only")]
    Computes,
    /// The entry to add is malformed.
    #[error("the entry to add is not usable: {0}")]
    BadEntry(String),
    /// The ID exists already.
    #[error("entry `{id}` exists already")]
    IdExists {
        /// The ID.
        id: String,
    },
    /// The version exists already.
    #[error("version `{version}` of `{id}` exists already")]
    VersionExists {
        /// The ID.
        id: String,
        /// The version.
        version: String,
    },
    /// The CID is registered elsewhere.
    #[error("CID `{cid}` is already registered as `{other}` (version `{version}`)")]
    CidElsewhere {
        /// The CID.
        cid: String,
        /// The ID it is registered under.
        other: String,
        /// Which version of it.
        version: String,
    },
    /// The CID is already a version of this entry.
    #[error("CID `{cid}` is already version `{version}` of `{id}`")]
    CidInEntry {
        /// The CID.
        cid: String,
        /// The ID.
        id: String,
        /// The version that has it.
        version: String,
    },
}

impl crate::Hint for EditError {
    fn hint(&self) -> Option<String> {
        match self {
            EditError::IdExists { .. } => Some(
                "publish a new version of it with `--version N` (and `--alias latest`), choose another `--id`, or replace the entry with `--force`".into(),
            ),
            EditError::VersionExists { .. } => {
                Some("choose another `--version`, or replace it with `--force`".into())
            }
            EditError::CidElsewhere { other, .. } => Some(format!(
                "use that entry (`--id {other} --version N` for a new version) instead of registering the same content twice"
            )),
            EditError::CidInEntry { .. } => Some(
                "point an alias at it (edit `aliases`) instead, or add it again with `--force`"
                    .into(),
            ),
            EditError::Computes => Some(
                "publish into a 1.x registry (one with `traces`), or edit the 2.0 registry by hand"
                    .into(),
            ),
            EditError::BadDocument(_) | EditError::BadEntry(_) => None,
        }
    }
}

/// What to add.
#[derive(Debug, Clone, PartialEq)]
pub struct Addition {
    /// The entry ID.
    pub id: String,
    /// The complete entry (as [`super::entry::build_entry`] makes it): its last `versions`
    /// item is the new version.
    pub entry: Value,
    /// Add the entry's version to an existing entry of that ID (a new entry when there is none).
    pub add_version: bool,
    /// Aliases to point at the new version.
    pub aliases: Vec<String>,
    /// Replace an existing entry (or, with `add_version`, an existing version).
    pub force: bool,
}

impl Addition {
    /// The new version's name.
    pub fn version(&self) -> Option<&str> {
        self.entry
            .get("versions")?
            .as_array()?
            .last()?
            .get("version")?
            .as_str()
    }

    /// The new content's CID.
    pub fn cid(&self) -> Option<&str> {
        self.entry.get("cid")?.as_str()
    }
}

/// The document of a registry file that does not exist yet.
pub fn new_document() -> &'static [u8] {
    NEW_REGISTRY.as_bytes()
}

/// Applies `add` to the registry document `doc`; returns the new document, formatted like the
/// old one.
pub fn apply(doc: &[u8], add: &Addition) -> Result<Vec<u8>, EditError> {
    let text = std::str::from_utf8(doc).map_err(|e| EditError::BadDocument(e.to_string()))?;
    let mut root: Value =
        serde_json::from_str(text).map_err(|e| EditError::BadDocument(e.to_string()))?;
    let Value::Object(object) = &mut root else {
        return Err(EditError::BadDocument("not a JSON object".into()));
    };
    if object.contains_key("computes") && !object.contains_key("traces") {
        return Err(EditError::Computes);
    }
    if !is_valid_name(&add.id) {
        return Err(EditError::BadEntry(format!(
            "`{}` is not a valid ID: use ASCII letters, digits and `._+-`, starting with a letter or digit",
            add.id
        )));
    }
    for alias in &add.aliases {
        if !is_valid_name(alias) {
            return Err(EditError::BadEntry(format!(
                "`{alias}` is not a valid alias name"
            )));
        }
    }
    let (Some(cid), Some(version)) = (add.cid(), add.version()) else {
        return Err(EditError::BadEntry(
            "it needs a `cid` and a `versions` list whose last item has a `version`".into(),
        ));
    };
    let (cid, version) = (cid.to_string(), version.to_string());
    let traces = object
        .entry("traces")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(traces) = traces else {
        return Err(EditError::BadDocument("`traces` is not an object".into()));
    };
    for (other, entry) in traces.iter() {
        if *other == add.id {
            continue;
        }
        if let Some(v) = version_with_cid(entry, &cid) {
            return Err(EditError::CidElsewhere {
                cid,
                other: other.clone(),
                version: v,
            });
        }
    }
    match traces.get_mut(&add.id) {
        None => {
            traces.insert(add.id.clone(), new_entry(add));
        }
        Some(existing) if !add.add_version => {
            if !add.force {
                return Err(EditError::IdExists { id: add.id.clone() });
            }
            *existing = new_entry(add);
        }
        Some(existing) => {
            let Value::Object(existing) = existing else {
                return Err(EditError::BadDocument(format!(
                    "entry `{}` is not an object",
                    add.id
                )));
            };
            add_version(existing, add, &cid, &version)?;
        }
    }
    Ok(serialize(&root, &detect_indent(text), text.ends_with('\n')))
}

/// The entry for a new ID, with the extra aliases.
fn new_entry(add: &Addition) -> Value {
    let mut entry = add.entry.clone();
    if let (Some(version), Some(Value::Object(aliases))) =
        (add.version().map(str::to_string), entry.get_mut("aliases"))
    {
        for alias in &add.aliases {
            aliases.insert(alias.clone(), Value::String(version.clone()));
        }
    }
    entry
}

/// The version name under which `entry` holds `cid`, if it does.
fn version_with_cid(entry: &Value, cid: &str) -> Option<String> {
    if let Some(versions) = entry.get("versions").and_then(Value::as_array) {
        for v in versions {
            if v.get("cid").and_then(Value::as_str) == Some(cid) {
                return Some(
                    v.get("version")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                );
            }
        }
    }
    (entry.get("cid").and_then(Value::as_str) == Some(cid)).then(|| "1".to_string())
}

/// Fields that describe the latest version at the entry level.
const VERSION_FIELDS: [&str; 5] = ["files", "sha256", "profile", "size", "mirrors"];

fn add_version(
    existing: &mut Map<String, Value>,
    add: &Addition,
    cid: &str,
    version: &str,
) -> Result<(), EditError> {
    let new = add
        .entry
        .as_object()
        .ok_or_else(|| EditError::BadEntry("not a JSON object".into()))?;
    let new_version = new["versions"]
        .as_array()
        .and_then(|v| v.last())
        .cloned()
        .unwrap_or_default();
    let old_cid = existing
        .get("cid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !existing.contains_key("versions") {
        // An entry without `versions` has one version, named `1`.
        let mut first = Map::new();
        first.insert("version".into(), "1".into());
        first.insert("cid".into(), old_cid.clone().into());
        for key in ["profile", "size", "sha256", "mirrors"] {
            if let Some(v) = existing.get(key) {
                first.insert(key.into(), v.clone());
            }
        }
        existing.insert("versions".into(), Value::Array(vec![Value::Object(first)]));
    }
    let Some(Value::Array(versions)) = existing.get_mut("versions") else {
        return Err(EditError::BadDocument(format!(
            "`versions` of `{}` is not a list",
            add.id
        )));
    };
    let name_of = |v: &Value| v.get("version").and_then(Value::as_str).map(str::to_string);
    if !add.force {
        if versions
            .iter()
            .any(|v| name_of(v).as_deref() == Some(version))
        {
            return Err(EditError::VersionExists {
                id: add.id.clone(),
                version: version.to_string(),
            });
        }
        if let Some(v) = versions
            .iter()
            .find(|v| v.get("cid").and_then(Value::as_str) == Some(cid))
        {
            return Err(EditError::CidInEntry {
                cid: cid.to_string(),
                id: add.id.clone(),
                version: name_of(v).unwrap_or_default(),
            });
        }
    }
    match versions
        .iter_mut()
        .find(|v| name_of(v).as_deref() == Some(version))
    {
        Some(slot) => *slot = new_version.clone(),
        None => versions.push(new_version.clone()),
    }
    let last = versions.last().and_then(name_of);
    let aliases = existing
        .entry("aliases")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(aliases) = aliases else {
        return Err(EditError::BadDocument(format!(
            "`aliases` of `{}` is not an object",
            add.id
        )));
    };
    for alias in &add.aliases {
        aliases.insert(alias.clone(), Value::String(version.to_string()));
    }
    let latest = aliases
        .get("latest")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(last);
    if latest.as_deref() == Some(version) {
        // The new version becomes the entry-level one: the old one keeps its files and sha256
        // in its own `versions` item.
        let moved: Vec<(String, Value)> = ["files", "sha256"]
            .iter()
            .filter_map(|k| existing.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        if let Some(Value::Array(versions)) = existing.get_mut("versions") {
            if let Some(Value::Object(old)) = versions.iter_mut().find(|v| {
                v.get("cid").and_then(Value::as_str) == Some(old_cid.as_str())
                    && name_of(v).as_deref() != Some(version)
            }) {
                for (k, v) in moved {
                    old.entry(k).or_insert(v);
                }
            }
        }
        existing.insert("cid".into(), Value::String(cid.to_string()));
        for key in VERSION_FIELDS {
            match new.get(key) {
                Some(v) => {
                    existing.insert(key.into(), v.clone());
                }
                None => {
                    existing.shift_remove(key);
                }
            }
        }
    } else if let (Some(files), Some(Value::Array(versions))) =
        (new.get("files"), existing.get_mut("versions"))
    {
        if let Some(Value::Object(v)) = versions
            .iter_mut()
            .find(|v| name_of(v).as_deref() == Some(version))
        {
            v.insert("files".into(), files.clone());
        }
    }
    for key in ["description", "license"] {
        if let Some(v) = new.get(key) {
            existing.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Object(meta)) = new.get("metadata") {
        match existing.get_mut("metadata") {
            Some(Value::Object(old)) => {
                for (k, v) in meta {
                    old.insert(k.clone(), v.clone());
                }
            }
            _ => {
                existing.insert("metadata".into(), Value::Object(meta.clone()));
            }
        }
    }
    Ok(())
}

/// The indentation unit of a pretty-printed JSON text: the leading whitespace of its first
/// indented line (tabs, or two/four spaces); two spaces when there is none.
pub fn detect_indent(text: &str) -> Vec<u8> {
    for line in text.lines().skip(1) {
        let ws: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if ws.starts_with('\t') {
            return b"\t".to_vec();
        }
        if !ws.is_empty() {
            return ws.into_bytes();
        }
    }
    b"  ".to_vec()
}

/// Pretty-prints `value` with `indent`, with a final newline when asked.
pub fn serialize(value: &Value, indent: &[u8], final_newline: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).expect("a JSON value serializes");
    if final_newline {
        out.push(b'\n');
    }
    out
}

/// A unified diff (three lines of context) from `old` to `new`; empty when they are equal.
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = diff_lines(&a, &b);
    if ops.iter().all(|op| matches!(op, Op::Same(..))) {
        return String::new();
    }
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = (0..ops.len())
        .filter(|&i| !matches!(ops[i], Op::Same(..)))
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CONTEXT);
        let mut end = changed[i];
        while i < changed.len() && changed[i] <= end + 2 * CONTEXT + 1 {
            end = changed[i];
            i += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let (mut a_start, mut b_start) = (None, None);
        let (mut a_len, mut b_len) = (0, 0);
        let mut body = String::new();
        for op in &ops[start..end] {
            match *op {
                Op::Same(x, y) => {
                    a_start.get_or_insert(x);
                    b_start.get_or_insert(y);
                    a_len += 1;
                    b_len += 1;
                    body.push_str(&format!(" {}\n", a[x]));
                }
                Op::Del(x, y) => {
                    a_start.get_or_insert(x);
                    b_start.get_or_insert(y);
                    a_len += 1;
                    body.push_str(&format!("-{}\n", a[x]));
                }
                Op::Add(x, y) => {
                    a_start.get_or_insert(x);
                    b_start.get_or_insert(y);
                    b_len += 1;
                    body.push_str(&format!("+{}\n", b[y]));
                }
            }
        }
        let pos = |s: Option<usize>, len: usize| {
            let s = s.unwrap_or(0);
            if len == 0 {
                s
            } else {
                s + 1
            }
        };
        out.push_str(&format!(
            "@@ -{},{a_len} +{},{b_len} @@\n",
            pos(a_start, a_len),
            pos(b_start, b_len)
        ));
        out.push_str(&body);
    }
    out
}

/// One line of a diff: (index in old, index in new) at that point.
#[derive(Debug, Clone, Copy)]
enum Op {
    Same(usize, usize),
    Del(usize, usize),
    Add(usize, usize),
}

/// A line diff: common prefix and suffix, and a longest common subsequence in between (the
/// middle is small for registry edits; past a size limit it is shown as replaced).
fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Op> = (0..prefix).map(|i| Op::Same(i, i)).collect();
    if am.len().saturating_mul(bm.len()) <= 4_000_000 {
        // lcs[i][j]: LCS length of am[i..] and bm[j..].
        let (n, m) = (am.len(), bm.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push(Op::Same(prefix + i, prefix + j));
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[i * (m + 1) + j + 1] >= lcs[(i + 1) * (m + 1) + j]) {
                ops.push(Op::Add(prefix + i, prefix + j));
                j += 1;
            } else {
                ops.push(Op::Del(prefix + i, prefix + j));
                i += 1;
            }
        }
    } else {
        ops.extend((0..am.len()).map(|i| Op::Del(prefix + i, prefix)));
        ops.extend((0..bm.len()).map(|j| Op::Add(prefix + am.len(), prefix + j)));
    }
    let (a0, b0) = (a.len() - suffix, b.len() - suffix);
    ops.extend((0..suffix).map(|k| Op::Same(a0 + k, b0 + k)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(cid: &str, version: &str) -> Value {
        json!({"cid": cid, "description": "d", "profile": "unixfs-v1-2025", "size": 3,
               "versions": [{"version": version, "cid": cid, "size": 3}],
               "aliases": {"latest": version}})
    }

    fn addition(id: &str, cid: &str, version: &str, add_version: bool) -> Addition {
        Addition {
            id: id.into(),
            entry: entry(cid, version),
            add_version,
            aliases: vec![],
            force: false,
        }
    }

    const DOC: &str = "{\n    \"version\": \"1.1.0\",\n    \"traces\": {\n        \"a\": {\n            \"cid\": \"X\",\n            \"files\": {},\n            \"versions\": [\n                {\n                    \"version\": \"1\",\n                    \"cid\": \"X\"\n                }\n            ],\n            \"aliases\": {\n                \"latest\": \"1\"\n            }\n        }\n    }\n}\n";

    #[test]
    fn round_trip_keeps_format_and_appends() {
        let out = apply(DOC.as_bytes(), &addition("b", "Y", "1", false)).unwrap();
        let out = String::from_utf8(out).unwrap();
        let mut new_lines = out.lines();
        assert!(DOC.lines().all(|l| new_lines.any(|n| n == l)), "{out}");
        assert!(out.contains("\n        \"b\": {\n            \"cid\": \"Y\""));
        assert!(out.ends_with("}\n"));
        let diff = unified_diff(DOC, &out, "a", "b");
        assert!(diff
            .lines()
            .all(|l| !l.starts_with('-') || l.starts_with("---")));
    }

    #[test]
    fn refusals_and_versions() {
        let d = DOC.as_bytes();
        assert!(matches!(
            apply(d, &addition("a", "Y", "1", false)),
            Err(EditError::IdExists { .. })
        ));
        assert!(matches!(
            apply(d, &addition("b", "X", "1", false)),
            Err(EditError::CidElsewhere { .. })
        ));
        assert!(matches!(
            apply(d, &addition("a", "Y", "1", true)),
            Err(EditError::VersionExists { .. })
        ));
        let mut add = addition("a", "Y", "2", true);
        add.aliases = vec!["latest".into()];
        let out: Value = serde_json::from_slice(&apply(d, &add).unwrap()).unwrap();
        let a = &out["traces"]["a"];
        assert_eq!(a["cid"], "Y");
        assert_eq!(a["aliases"]["latest"], "2");
        assert_eq!(a["versions"][0]["files"], json!({}));
        assert_eq!(a["versions"].as_array().unwrap().len(), 2);
        assert_eq!(detect_indent(DOC), b"    ");
    }
}
