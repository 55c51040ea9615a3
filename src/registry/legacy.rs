//! Reading every registry format into the one [`Registry`] model: 1.0 (`traces`, `collections`,
//! `pinning_services`), trove's additive extensions of 1.0 (`versions`, `aliases`, `mirrors`,
//! `profile`, `sha256`, `size`), and 2.0 (`computes` whose artifacts are repository paths).
//!
//! The reader walks the [`Json`] tree field by field and reports every problem as a
//! [`Finding`] naming the entry and field. Problems that make the document unusable (wrong
//! types, oversized values, unsafe names, duplicated keys) are errors and make loading fail;
//! informational fields of the wrong type are dropped with a warning. Whether CIDs are valid is
//! not decided here (old registries with broken CIDs must still load): see [`super::check`].

use super::finding::{Finding, Severity};
use super::model::*;
use std::collections::BTreeMap;
use url::Url;

/// Reads a parsed document into a [`Registry`], with every structural problem found.
pub fn normalize(doc: &Json, name: &str, base: Option<Url>) -> (Registry, Vec<Finding>) {
    let mut w = Walker::default();
    let mut reg = Registry {
        name: name.to_string(),
        base,
        version: None,
        format: None,
        updated: None,
        entries: BTreeMap::new(),
        collections: BTreeMap::new(),
        pinning_services: BTreeMap::new(),
    };
    let Some(fields) = w.object(doc, None, "(document)") else {
        return (reg, w.findings);
    };
    let mut seen_family = false;
    for (key, value) in fields {
        match key.as_str() {
            "version" => reg.version = w.scalar_text(value, None, "version"),
            "format" => reg.format = w.string(value, None, "format"),
            "updated" => reg.updated = w.string(value, None, "updated"),
            "traces" | "computes" => {
                seen_family = true;
                let compute = key == "computes";
                for (id, v) in w.object(value, None, key).unwrap_or(&[]) {
                    if !w.id(id, key) {
                        continue;
                    }
                    let entry = if compute {
                        compute_entry(&mut w, id, v)
                    } else {
                        trace_entry(&mut w, id, v)
                    };
                    if let Some(entry) = entry {
                        if reg.entries.contains_key(id) {
                            w.err(Some(id), "", format!("the ID is listed twice (in `{key}`)"));
                        }
                        reg.entries.insert(id.clone(), entry);
                    }
                }
            }
            "collections" => {
                for (cname, v) in w.object(value, None, key).unwrap_or(&[]) {
                    let field = format!("collections.{cname}");
                    if w.id(cname, "collections") {
                        if let Some(c) = collection(&mut w, cname, v, &field) {
                            reg.collections.insert(cname.clone(), c);
                        }
                    }
                }
            }
            "pinning_services" => {
                for (sname, v) in w.object(value, None, key).unwrap_or(&[]) {
                    let field = format!("pinning_services.{sname}");
                    let mut s = PinningService::default();
                    for (k, v) in w.object(v, None, &field).unwrap_or(&[]) {
                        let f = format!("{field}.{k}");
                        match k.as_str() {
                            "api_url" => s.api_url = w.string(v, None, &f),
                            "gateway" => s.gateway = w.string(v, None, &f),
                            _ => {}
                        }
                    }
                    reg.pinning_services.insert(sname.clone(), s);
                }
            }
            _ => {} // `$schema` and anything newer: tolerated
        }
    }
    if !seen_family {
        w.err(
            None,
            "(document)",
            "neither `traces` nor `computes`: this is not a registry",
        );
    }
    (reg, w.findings)
}

/// A 1.0 `traces` entry, with trove's extensions.
fn trace_entry(w: &mut Walker, id: &str, value: &Json) -> Option<Entry> {
    let e = Some(id);
    let fields = w.object(value, e, "")?;
    let mut entry = empty_entry(id, EntryKind::Trace);
    let mut top = Version::implicit();
    let mut versions: Option<Vec<Version>> = None;
    let mut description = None;
    for (key, v) in fields {
        let k = key.as_str();
        match k {
            "cid" => entry.cid = w.string(v, e, k),
            "description" => description = w.string(v, e, k),
            "metadata" => entry.metadata = metadata(w, id, v),
            "files" => top.files = files(w, id, v, k),
            "checksum" => entry.checksum = w.string(v, e, k),
            "license" => entry.license = w.string(v, e, k),
            "graph_hash" => entry.graph_hash = w.string(v, e, k),
            "note" => entry.note = w.string(v, e, k),
            "retracted" => entry.retracted = w.boolean(v, e, k).unwrap_or(false),
            "profile" => top.profile = w.string(v, e, k),
            "size" => top.size = w.number(v, e, k),
            "sha256" => top.sha256 = w.string(v, e, k),
            "published" => top.published = w.string(v, e, k),
            "mirrors" => top.mirrors = w.strings(v, e, k),
            "versions" => versions = Some(version_list(w, id, v)),
            "aliases" => {
                for (alias, target) in w.object(v, e, k).unwrap_or(&[]) {
                    let f = format!("aliases.{alias}");
                    if !is_valid_name(alias) {
                        w.err(e, &f, "an alias uses ASCII letters, digits and `._+-` only");
                    } else if let Some(t) = w.scalar_text(target, e, &f) {
                        entry.aliases.insert(alias.clone(), t);
                    }
                }
            }
            _ => {
                entry.extra.insert(key.clone(), v.to_value());
            }
        }
    }
    metadata_fallbacks(&mut entry, description);
    // 1.0 (the Python tool): `checksum` is the sha256 of `trace.json.gz`.
    let legacy_sha = entry
        .checksum
        .as_deref()
        .and_then(|c| c.strip_prefix("sha256:"))
        .filter(|h| is_sha256_hex(h))
        .map(str::to_ascii_lowercase);
    if let (Some(sha), Some(f)) = (legacy_sha, top.files.get_mut("trace.json.gz")) {
        f.sha256.get_or_insert(sha);
    }
    top.cid = entry.cid.clone();
    entry.versions = match versions {
        Some(mut list) if !list.is_empty() => {
            // Entry-level fields describe the entry-level `cid`, i.e. the latest version.
            for v in &mut list {
                v.profile = v.profile.take().or_else(|| top.profile.clone());
                if v.cid.is_some() && v.cid == top.cid {
                    merge_top(v, &top);
                }
            }
            list
        }
        _ => vec![top],
    };
    if !entry.aliases.contains_key("latest") {
        if let Some(last) = entry.versions.last() {
            entry.aliases.insert("latest".into(), last.version.clone());
        }
    }
    Some(entry)
}

/// The entry's `description` (else the metadata's), and its `license` if it has none (else the
/// metadata's).
fn metadata_fallbacks(entry: &mut Entry, description: Option<String>) {
    entry.description = description
        .or_else(|| text_extra(&entry.metadata, "description"))
        .unwrap_or_default();
    entry.license = entry
        .license
        .take()
        .or_else(|| entry.metadata.license.clone());
}

fn merge_top(v: &mut Version, top: &Version) {
    if v.files.is_empty() {
        v.files = top.files.clone();
    }
    if v.mirrors.is_empty() {
        v.mirrors = top.mirrors.clone();
    }
    v.sha256 = v.sha256.take().or_else(|| top.sha256.clone());
    v.size = v.size.or(top.size);
    v.published = v.published.take().or_else(|| top.published.clone());
}

fn version_list(w: &mut Walker, id: &str, value: &Json) -> Vec<Version> {
    let e = Some(id);
    let mut out = Vec::new();
    for (i, item) in w
        .array(value, e, "versions")
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let field = format!("versions[{i}]");
        let Some(fields) = w.object(item, e, &field) else {
            continue;
        };
        let mut v = Version::implicit();
        v.field = field.clone();
        let mut name = None;
        for (key, value) in fields {
            let f = format!("{field}.{key}");
            match key.as_str() {
                "version" => name = w.scalar_text(value, e, &f),
                "cid" => v.cid = w.string(value, e, &f),
                "profile" => v.profile = w.string(value, e, &f),
                "size" => v.size = w.number(value, e, &f),
                "sha256" => v.sha256 = w.string(value, e, &f),
                "published" => v.published = w.string(value, e, &f),
                "mirrors" => v.mirrors = w.strings(value, e, &f),
                "files" => v.files = files(w, id, value, &f),
                _ => {}
            }
        }
        match name {
            Some(n) if is_valid_name(&n) => {
                v.version = n;
                out.push(v);
            }
            Some(_) => w.err(
                e,
                &format!("{field}.version"),
                "a version name uses ASCII letters, digits and `._+-` only",
            ),
            None => w.err(e, &format!("{field}.version"), "missing"),
        }
    }
    out
}

/// A 2.0 `computes` entry.
fn compute_entry(w: &mut Walker, id: &str, value: &Json) -> Option<Entry> {
    let e = Some(id);
    let fields = w.object(value, e, "")?;
    let mut entry = empty_entry(id, EntryKind::Compute);
    let mut version = Version::implicit();
    let mut description = None;
    for (key, v) in fields {
        let k = key.as_str();
        match k {
            "graph_hash" => entry.graph_hash = w.string(v, e, k),
            "description" => description = w.string(v, e, k),
            "metadata" => entry.metadata = metadata(w, id, v),
            "retracted" => entry.retracted = w.boolean(v, e, k).unwrap_or(false),
            "license" => entry.license = w.string(v, e, k),
            "artifacts" => version.artifacts = artifacts(w, id, v),
            _ => {
                entry.extra.insert(key.clone(), v.to_value());
            }
        }
    }
    metadata_fallbacks(&mut entry, description);
    let sizes: Option<Vec<u64>> = version.artifacts.iter().map(|a| a.size).collect();
    version.size = sizes.map(|s| s.iter().sum());
    entry.versions = vec![version];
    entry.aliases.insert("latest".into(), "1".into());
    Some(entry)
}

fn artifacts(w: &mut Walker, id: &str, value: &Json) -> Vec<RepoArtifact> {
    let e = Some(id);
    let mut out: Vec<RepoArtifact> = Vec::new();
    for (role, v) in w.object(value, e, "artifacts").unwrap_or(&[]) {
        let field = format!("artifacts.{role}");
        let items: Vec<(String, &Json)> = match v {
            Json::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{field}[{i}]"), item))
                .collect(),
            other => vec![(field.clone(), other)],
        };
        for (f, item) in items {
            let Some(fields) = w.object(item, e, &f) else {
                continue;
            };
            let mut path = None;
            let mut sha256 = None;
            let mut size = None;
            for (k, v) in fields {
                let kf = format!("{f}.{k}");
                match k.as_str() {
                    "cid_or_path" => path = w.string(v, e, &kf),
                    "sha256" => sha256 = w.string(v, e, &kf),
                    "size_bytes" => size = w.number(v, e, &kf),
                    _ => {}
                }
            }
            let Some(path) = path else {
                w.err(e, &format!("{f}.cid_or_path"), "missing");
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or("").to_string();
            if let Some(why) = unsafe_file_name(&name) {
                w.err(e, &format!("{f}.cid_or_path"), format!("`{path}`: {why}"));
                continue;
            }
            if out.iter().any(|a| a.name == name) {
                w.err(
                    e,
                    &format!("{f}.cid_or_path"),
                    format!("`{name}` is listed twice"),
                );
                continue;
            }
            out.push(RepoArtifact {
                name,
                role: role.clone(),
                field: f,
                path,
                sha256,
                size,
            });
        }
    }
    out
}

fn files(w: &mut Walker, id: &str, value: &Json, field: &str) -> BTreeMap<String, FileInfo> {
    let e = Some(id);
    let mut out = BTreeMap::new();
    for (name, v) in w.object(value, e, field).unwrap_or(&[]) {
        let f = format!("{field}[{}]", shown(name));
        if let Some(why) = unsafe_file_name(name) {
            w.err(e, &f, why);
            continue;
        }
        let mut info = FileInfo::default();
        for (k, v) in w.object(v, e, &f).unwrap_or(&[]) {
            let kf = format!("{f}.{k}");
            match k.as_str() {
                "cid" => info.cid = w.string(v, e, &kf),
                "size_bytes" | "size" => info.size = w.number(v, e, &kf),
                "sha256" => info.sha256 = w.string(v, e, &kf),
                _ => {}
            }
        }
        out.insert(name.clone(), info);
    }
    out
}

fn collection(w: &mut Walker, name: &str, value: &Json, field: &str) -> Option<Collection> {
    let mut c = Collection {
        name: name.to_string(),
        description: String::new(),
        members: Vec::new(),
        cid: None,
    };
    for (k, v) in w.object(value, None, field)? {
        let f = format!("{field}.{k}");
        match k.as_str() {
            "description" => c.description = w.string(v, None, &f).unwrap_or_default(),
            "traces" | "members" => c.members = w.strings(v, None, &f),
            "cid" => c.cid = w.string(v, None, &f),
            _ => {}
        }
    }
    Some(c)
}

fn metadata(w: &mut Walker, id: &str, value: &Json) -> Metadata {
    let e = Some(id);
    let mut m = Metadata::default();
    for (key, v) in w.object(value, e, "metadata").unwrap_or(&[]) {
        let f = format!("metadata.{key}");
        match key.as_str() {
            // Used for filtering and display: the type must be right.
            "model_type" => m.model_type = w.string(v, e, &f),
            "domain" => m.domain = w.string(v, e, &f),
            "tags" => m.tags = w.strings(v, e, &f),
            "author" => m.author = w.string(v, e, &f),
            "license" => m.license = w.string(v, e, &f),
            "citation" => m.citation = citation(w, id, v),
            // Informational: a wrong type is dropped with a warning.
            "variant" => m.variant = w.soft_string(v, e, &f),
            "created" => m.created = w.soft_string(v, e, &f),
            "param_length" => m.param_length = w.soft_number(v, e, &f),
            "vertices" => m.vertices = w.soft_number(v, e, &f),
            _ => {
                w.check_strings(v, e, &f);
                m.extra.insert(key.clone(), v.to_value());
            }
        }
    }
    m
}

fn citation(w: &mut Walker, id: &str, value: &Json) -> Option<Citation> {
    let e = Some(id);
    match value {
        Json::String(_) => Some(Citation {
            text: w.string(value, e, "metadata.citation"),
            ..Citation::default()
        }),
        _ => {
            let mut c = Citation::default();
            for (k, v) in w.object(value, e, "metadata.citation")? {
                let f = format!("metadata.citation.{k}");
                match k.as_str() {
                    "text" => c.text = w.string(v, e, &f),
                    "doi" => c.doi = w.string(v, e, &f),
                    "url" => c.url = w.string(v, e, &f),
                    _ => {}
                }
            }
            Some(c)
        }
    }
}

fn empty_entry(id: &str, kind: EntryKind) -> Entry {
    Entry {
        id: id.to_string(),
        kind,
        description: String::new(),
        metadata: Metadata::default(),
        license: None,
        cid: None,
        versions: Vec::new(),
        aliases: BTreeMap::new(),
        graph_hash: None,
        checksum: None,
        note: None,
        retracted: false,
        extra: BTreeMap::new(),
    }
}

fn text_extra(m: &Metadata, key: &str) -> Option<String> {
    m.extra
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

impl Version {
    /// The one version of an entry that lists no `versions`.
    fn implicit() -> Self {
        Version {
            version: "1".into(),
            field: String::new(),
            cid: None,
            profile: None,
            size: None,
            sha256: None,
            published: None,
            mirrors: Vec::new(),
            files: BTreeMap::new(),
            artifacts: Vec::new(),
        }
    }
}

/// A name from the document as it is shown in messages: quoted, escaped, cut at 80 characters.
pub(crate) fn shown(name: &str) -> String {
    let cut: String = name.chars().take(80).collect();
    let more = if cut.len() < name.len() { "…" } else { "" };
    format!("\"{}{more}\"", cut.escape_debug())
}

/// Reads values with their types checked, collecting findings.
#[derive(Default)]
struct Walker {
    findings: Vec<Finding>,
}

impl Walker {
    fn push(&mut self, severity: Severity, entry: Option<&str>, field: &str, problem: String) {
        self.findings.push(Finding {
            severity,
            entry: entry.map(str::to_string),
            field: if field.is_empty() {
                "(entry)".into()
            } else {
                field.to_string()
            },
            problem,
        });
    }

    fn err(&mut self, entry: Option<&str>, field: &str, problem: impl Into<String>) {
        self.push(Severity::Error, entry, field, problem.into());
    }

    fn wrong(&mut self, v: &Json, entry: Option<&str>, field: &str, expected: &str) {
        self.err(
            entry,
            field,
            format!("expected {expected}, found {}", v.kind()),
        );
    }

    /// A value that is not of the type read: `null` stands for an absent value, anything else is
    /// an error (not `expected`).
    fn null_or_wrong<T>(
        &mut self,
        v: &Json,
        entry: Option<&str>,
        field: &str,
        expected: &str,
    ) -> Option<T> {
        if !matches!(v, Json::Null) {
            self.wrong(v, entry, field, expected);
        }
        None
    }

    /// An object's fields; duplicated keys are errors (which one would count?).
    fn object<'j>(
        &mut self,
        v: &'j Json,
        entry: Option<&str>,
        field: &str,
    ) -> Option<&'j [(String, Json)]> {
        let Json::Object(fields) = v else {
            self.wrong(v, entry, field, "an object");
            return None;
        };
        let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        for pair in keys.windows(2).filter(|p| p[0] == p[1]) {
            let what = if field.is_empty() { "(entry)" } else { field };
            self.err(
                entry,
                field,
                format!("key `{}` appears twice in {what}", pair[0]),
            );
        }
        for (k, _) in fields.iter().filter(|(k, _)| k.len() > MAX_STRING_BYTES) {
            self.err(
                entry,
                field,
                format!("a key of {} bytes is too long", k.len()),
            );
        }
        Some(fields)
    }

    fn array<'j>(&mut self, v: &'j Json, entry: Option<&str>, field: &str) -> Option<&'j [Json]> {
        match v {
            Json::Array(items) => Some(items),
            other => {
                self.wrong(other, entry, field, "an array");
                None
            }
        }
    }

    fn string(&mut self, v: &Json, entry: Option<&str>, field: &str) -> Option<String> {
        match v {
            Json::String(s) if s.len() > MAX_STRING_BYTES => {
                self.err(
                    entry,
                    field,
                    format!(
                        "a string of {} bytes is longer than the limit of {MAX_STRING_BYTES}",
                        s.len()
                    ),
                );
                None
            }
            Json::String(s) => Some(s.clone()),
            other => self.null_or_wrong(other, entry, field, "a string"),
        }
    }

    /// A string, or a number written where a string is meant (`"version": 1`).
    fn scalar_text(&mut self, v: &Json, entry: Option<&str>, field: &str) -> Option<String> {
        match v {
            Json::Number(n) => Some(n.to_string()),
            other => self.string(other, entry, field),
        }
    }

    fn number(&mut self, v: &Json, entry: Option<&str>, field: &str) -> Option<u64> {
        match v {
            Json::Number(n) => match n.as_u64() {
                Some(n) => Some(n),
                None => {
                    self.err(
                        entry,
                        field,
                        format!("expected a whole number of bytes ≥ 0, found {n}"),
                    );
                    None
                }
            },
            other => self.null_or_wrong(other, entry, field, "a number"),
        }
    }

    fn boolean(&mut self, v: &Json, entry: Option<&str>, field: &str) -> Option<bool> {
        match v {
            Json::Bool(b) => Some(*b),
            other => self.null_or_wrong(other, entry, field, "true or false"),
        }
    }

    fn strings(&mut self, v: &Json, entry: Option<&str>, field: &str) -> Vec<String> {
        let items = self.array(v, entry, field).unwrap_or(&[]);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string(item, entry, &format!("{field}[{i}]")) {
                out.push(s);
            }
        }
        out
    }

    /// An informational string: a wrong type is dropped with a warning.
    fn soft_string(&mut self, v: &Json, entry: Option<&str>, field: &str) -> Option<String> {
        match v {
            Json::String(_) | Json::Null => self.string(v, entry, field),
            other => {
                self.warn_ignored(other, entry, field, "a string");
                None
            }
        }
    }

    /// An informational count: a wrong type or a negative number is dropped with a warning.
    fn soft_number(&mut self, v: &Json, entry: Option<&str>, field: &str) -> Option<u64> {
        match v {
            Json::Number(n) if n.is_u64() => n.as_u64(),
            Json::Null => None,
            other => {
                self.warn_ignored(other, entry, field, "a whole number ≥ 0");
                None
            }
        }
    }

    fn warn_ignored(&mut self, v: &Json, entry: Option<&str>, field: &str, expected: &str) {
        let problem = format!("expected {expected}, found {} (ignored)", v.kind());
        self.push(Severity::Warning, entry, field, problem);
    }

    /// Free-form values are kept as written, but their strings are bounded too.
    fn check_strings(&mut self, v: &Json, entry: Option<&str>, field: &str) {
        match v {
            Json::String(_) => {
                self.string(v, entry, field);
            }
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_strings(item, entry, &format!("{field}[{i}]"));
                }
            }
            Json::Object(fields) => {
                for (k, item) in fields {
                    self.check_strings(item, entry, &format!("{field}.{k}"));
                }
            }
            _ => {}
        }
    }

    /// Checks an ID or collection name; reports and returns false when it is unusable.
    fn id(&mut self, id: &str, field: &str) -> bool {
        if is_valid_name(id) {
            return true;
        }
        self.err(
            None,
            field,
            format!(
                "{} is not a valid name: use ASCII letters, digits and `._+-`, starting with a letter or digit (at most {MAX_NAME_BYTES} bytes)",
                shown(id)
            ),
        );
        false
    }
}
