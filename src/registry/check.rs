//! The registry checker behind `trove registry check`: structure (what [`super::legacy`] reports
//! while reading), then CID syntax and codec sanity, profiles, duplicate IDs and CIDs, dangling
//! collection members and aliases, unsafe names and links, and size mismatches. Every finding
//! names the entry and field it is about; any finding of severity [`Severity::Error`] means the
//! registry is wrong (exit 1).

pub use super::finding::{Finding, Severity};
use super::model::{is_sha256_hex, Entry, EntryKind, Json, Registry, Version, MAX_REGISTRY_BYTES};
use super::resolve::parse_link;
use crate::content::{codec_name, parse_cid, Cid, HashCode, DAG_CBOR, DAG_JSON, DAG_PB, RAW};
use crate::unixfs::Profile;
use serde::Serialize;
use std::collections::BTreeMap;
use url::Url;

/// Everything the checker found in one registry.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The registry's name (path or URL).
    pub registry: String,
    /// How many entries were read.
    pub entries: usize,
    /// The findings, errors first.
    pub findings: Vec<Finding>,
    /// Every mirror the entries list, and what kind it is.
    pub mirrors: Vec<MirrorInfo>,
}

/// A mirror a registry lists, classified by its URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorInfo {
    /// The entry.
    pub entry: String,
    /// The field (`mirrors[0]`, `versions[1].mirrors[0]`).
    pub field: String,
    /// The URL as the registry writes it.
    pub url: String,
    /// Where it is: `http` (an HTTP(S) URL or a path beside the registry) or the
    /// object-storage scheme (`s3`, `gs`, `az`, …).
    pub storage: String,
    /// What it holds, by its name: `car`, `archive` (unpacked and re-imported, accepted only
    /// when the content's CID matches) or `file` (a CAR or the raw file, told apart when
    /// downloaded).
    pub kind: &'static str,
    /// The archive format (`tar.gz`, `zip`, …) of an `archive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
}

impl MirrorInfo {
    fn classify(entry: &str, field: String, url: &str) -> MirrorInfo {
        let storage = if crate::objects::is_object_url(url) {
            url.split_once("://")
                .map(|(s, _)| s.to_ascii_lowercase())
                .unwrap_or_default()
        } else {
            "http".into()
        };
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let name = path.rsplit('/').next().unwrap_or(path);
        let format = crate::bundle::Format::from_path(std::path::Path::new(name));
        let kind = if format.is_some() {
            "archive"
        } else if name.to_ascii_lowercase().ends_with(".car") {
            "car"
        } else {
            "file"
        };
        MirrorInfo {
            entry: entry.to_string(),
            field,
            url: url.to_string(),
            storage,
            kind,
            format: format.map(|f| f.extension().trim_start_matches('.')),
        }
    }
}

impl Report {
    /// No finding of severity error.
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The findings of severity error.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The IDs of the entries with at least one error, sorted, once each.
    pub fn entries_with_errors(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.errors().filter_map(|f| f.entry.as_deref()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Checks a registry document as it is stored: its size, its JSON, its structure, then its
/// content. Never fails: every problem is a finding.
pub fn check_document(bytes: &[u8], name: &str, base: Option<Url>) -> Report {
    let mut report = Report {
        registry: name.to_string(),
        entries: 0,
        findings: Vec::new(),
        mirrors: Vec::new(),
    };
    let fatal = |problem: String| Finding {
        severity: Severity::Error,
        entry: None,
        field: "(document)".into(),
        problem,
    };
    if bytes.len() as u64 > MAX_REGISTRY_BYTES {
        report.findings.push(fatal(format!(
            "{} bytes is more than the limit of {MAX_REGISTRY_BYTES} bytes",
            bytes.len()
        )));
        return report;
    }
    let doc = match Json::parse(bytes) {
        Ok(doc) => doc,
        Err(e) => {
            report.findings.push(fatal(format!("not valid JSON: {e}")));
            return report;
        }
    };
    let (registry, mut findings) = super::legacy::normalize(&doc, name, base);
    findings.extend(check_registry(&registry));
    findings.sort_by_key(|f| f.severity);
    report.entries = registry.entries.len();
    report.findings = findings;
    report.mirrors = mirrors_of(&registry);
    report
}

/// Every mirror of every entry (all versions), classified.
pub fn mirrors_of(reg: &Registry) -> Vec<MirrorInfo> {
    let mut out = Vec::new();
    for entry in reg.entries.values() {
        for v in &entry.versions {
            for (i, m) in v.mirrors.iter().enumerate() {
                out.push(MirrorInfo::classify(
                    &entry.id,
                    format!("{}[{i}]", join(&v.field, "mirrors")),
                    m,
                ));
            }
        }
    }
    out
}

/// The content checks on a registry that was read without structural errors.
pub fn check_registry(reg: &Registry) -> Vec<Finding> {
    let mut c = Checker::default();
    if let Some(v) = &reg.version {
        if !(v.starts_with("1.") || v.starts_with("2.") || v == "1" || v == "2") {
            c.warn(
                None,
                "version",
                format!("unknown format version `{v}`; fields trove does not know are ignored"),
            );
        }
    }
    let mut roots: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    let mut lower: BTreeMap<String, &str> = BTreeMap::new();
    for entry in reg.entries.values() {
        c.entry(entry, &mut roots);
        if let Some(other) = lower.insert(entry.id.to_ascii_lowercase(), &entry.id) {
            c.warn(Some(&entry.id), "(entry)", format!("differs from `{other}` only by case; IDs become folder names on case-insensitive file systems"));
        }
    }
    for col in reg.collections.values() {
        let field = |rest: &str| format!("collections.{}.{rest}", col.name);
        if col.members.is_empty() {
            c.warn(None, &field("traces"), "the collection is empty".into());
        }
        for (i, m) in col.members.iter().enumerate() {
            let f = field(&format!("traces[{i}]"));
            if !reg.entries.contains_key(m) {
                c.err(None, &f, format!("dangling: there is no entry `{m}`"));
            } else if col.members[..i].contains(m) {
                c.warn(None, &f, format!("`{m}` is listed twice"));
            }
        }
        if let Some(text) = &col.cid {
            c.cid(None, &field("cid"), text, false);
        }
    }
    for (name, s) in &reg.pinning_services {
        for (key, url) in [("api_url", &s.api_url), ("gateway", &s.gateway)] {
            let ok = url
                .as_deref()
                .map(|u| Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")));
            if ok == Some(false) {
                c.warn(
                    None,
                    &format!("pinning_services.{name}.{key}"),
                    "not an http(s) URL".into(),
                );
            }
        }
    }
    c.findings
}

#[derive(Default)]
struct Checker {
    findings: Vec<Finding>,
}

impl Checker {
    fn push(&mut self, severity: Severity, entry: Option<&str>, field: &str, problem: String) {
        self.findings.push(Finding {
            severity,
            entry: entry.map(str::to_string),
            field: field.to_string(),
            problem,
        });
    }
    fn err(&mut self, entry: Option<&str>, field: &str, problem: String) {
        self.push(Severity::Error, entry, field, problem);
    }
    fn warn(&mut self, entry: Option<&str>, field: &str, problem: String) {
        self.push(Severity::Warning, entry, field, problem);
    }

    fn entry(&mut self, e: &Entry, roots: &mut BTreeMap<Vec<u8>, String>) {
        let id = Some(e.id.as_str());
        if e.description.trim().is_empty() {
            self.warn(
                id,
                "description",
                "missing: `trove search` matches descriptions".into(),
            );
        }
        if e.license.is_none() {
            self.warn(
                id,
                "license",
                "missing: users cannot tell whether they may reuse the content".into(),
            );
        }
        if let Some(note) = &e.note {
            if note.to_ascii_lowercase().contains("mock") {
                self.warn(id, "note", format!("the entry says it is a mock: {note:?}"));
            }
        }
        if let Some(h) = &e.graph_hash {
            if !is_sha256_hex(h) {
                self.warn(id, "graph_hash", "not 64 hex digits".into());
            }
        }
        if let Some(sum) = &e.checksum {
            match sum.split_once(':') {
                Some(("sha256", hex)) if is_sha256_hex(hex) => {}
                Some(("sha256", _)) => self.err(
                    id,
                    "checksum",
                    "`sha256:` must be followed by 64 hex digits".into(),
                ),
                _ => self.warn(
                    id,
                    "checksum",
                    format!("`{sum}` is not `sha256:<hex>`; trove ignores it"),
                ),
            }
        }
        if e.versions.is_empty() {
            self.err(id, "versions", "the entry has no version".into());
        }
        let mut own_roots: BTreeMap<Vec<u8>, String> = BTreeMap::new();
        for (i, v) in e.versions.iter().enumerate() {
            if e.versions[..i].iter().any(|o| o.version == v.version) {
                self.err(
                    id,
                    &join(&v.field, "version"),
                    format!("version `{}` is listed twice", v.version),
                );
            }
            let root = self.version(e, v);
            if let Some(root) = root {
                let key = root.hash().to_bytes();
                if let Some(other) = own_roots.insert(key.clone(), v.version.clone()) {
                    self.warn(
                        id,
                        &join(&v.field, "cid"),
                        format!("same content as version `{other}`"),
                    );
                } else if let Some(other) = roots.get(&key).filter(|o| **o != e.id) {
                    self.err(
                        id,
                        &join(&v.field, "cid"),
                        format!("duplicate CID: entry `{other}` names the same content"),
                    );
                } else {
                    roots.insert(key, e.id.clone());
                }
            }
        }
        for (alias, target) in &e.aliases {
            let f = format!("aliases.{alias}");
            if e.version(target).is_none() {
                self.err(id, &f, format!("dangling: there is no version `{target}`"));
            } else if alias != target && e.version(alias).is_some() {
                self.warn(
                    id,
                    &f,
                    format!("`{alias}` is also a version name; `ID@{alias}` means the version"),
                );
            }
        }
        let explicit = e.versions.iter().any(|v| !v.field.is_empty());
        if explicit && e.kind == EntryKind::Trace {
            match (&e.cid, e.latest().and_then(|v| v.cid.as_ref())) {
                (None, _) => self.warn(id, "cid", "missing: 1.0 readers need the latest version's CID here".into()),
                (Some(top), Some(latest)) if top != latest => self.err(
                    id,
                    "cid",
                    format!("`{top}` is not the latest version's CID `{latest}`: 1.0 readers would get another version"),
                ),
                _ => {}
            }
        }
    }

    /// Checks one version; returns its root CID when it is valid.
    fn version(&mut self, e: &Entry, v: &Version) -> Option<Cid> {
        let id = Some(e.id.as_str());
        let f = |name: &str| join(&v.field, name);
        let root = match (&v.cid, e.kind) {
            (Some(text), _) => self.cid(id, &f("cid"), text, true),
            (None, EntryKind::Trace) => {
                self.err(id, &f("cid"), "missing: the entry names no content".into());
                None
            }
            (None, EntryKind::Compute) => None,
        };
        if let Some(p) = &v.profile {
            match p.parse::<Profile>() {
                Err(why) => self.err(id, &f("profile"), why),
                Ok(profile) => {
                    if let Some(root) = &root {
                        let v0 = root.version() == cid::Version::V0;
                        if v0 != (profile == Profile::UnixfsV0_2015) {
                            self.err(
                                id,
                                &f("cid"),
                                format!(
                                    "a CIDv{} cannot have been made with profile `{profile}`",
                                    if v0 { 0 } else { 1 }
                                ),
                            );
                        }
                    }
                }
            }
        }
        if let Some(sha) = &v.sha256 {
            if !is_sha256_hex(sha) {
                self.err(id, &f("sha256"), "not 64 hex digits".into());
            }
        }
        let mut listed = Some(0u64);
        for (name, file) in &v.files {
            let ff = format!("{}[{}]", f("files"), super::legacy::shown(name));
            if let Some(text) = &file.cid {
                let cid_part = text.split_once('/').map_or(text.as_str(), |(c, _)| c);
                let cid_part = cid_part.strip_prefix("/ipfs/").unwrap_or(cid_part);
                self.cid(id, &format!("{ff}.cid"), cid_part, true);
            }
            if let Some(sha) = &file.sha256 {
                if !is_sha256_hex(sha) {
                    self.err(id, &format!("{ff}.sha256"), "not 64 hex digits".into());
                }
            }
            listed = listed.zip(file.size).map(|(a, b)| a.saturating_add(b));
        }
        if let (Some(listed), Some(size)) = (listed, v.size) {
            if listed > size && !v.files.is_empty() {
                self.err(id, &f("size"), format!("the files add up to {listed} bytes, more than the version's size of {size} bytes"));
            }
        }
        if let (Some(root), Some(size)) = (&root, v.size) {
            let single_block = root.codec() == RAW;
            if single_block && size > 2 * 1024 * 1024 {
                self.err(
                    id,
                    &f("size"),
                    format!("{size} bytes cannot be one raw block (at most 2 MiB)"),
                );
            }
        }
        for (i, m) in v.mirrors.iter().enumerate() {
            let field = format!("{}[{i}]", f("mirrors"));
            if crate::objects::is_object_url(m) {
                if let Err(why) = super::resolve::join_mirror(None, m) {
                    self.err(id, &field, why);
                }
            } else if let Err(why) = parse_link(m) {
                self.err(id, &field, why);
            }
            let is_archive = MirrorInfo::classify("", String::new(), m).kind == "archive";
            if is_archive && v.profile.is_none() {
                self.warn(
                    id,
                    &field,
                    "an archive mirror is verified by re-importing its content, which needs the version's `profile`: without one only a trove export (whose manifest names it) can be used".into(),
                );
            }
        }
        for a in &v.artifacts {
            let af = |name: &str| format!("{}.{name}", a.field);
            if parse_cid(&a.path).is_ok() {
                self.warn(
                    id,
                    &af("cid_or_path"),
                    "a CID here is not supported: trove reads 2.0 artifacts from repository paths"
                        .into(),
                );
            } else if let Err(why) = parse_link(&a.path) {
                self.err(id, &af("cid_or_path"), why);
            } else if a.path.contains("://") {
                self.err(
                    id,
                    &af("cid_or_path"),
                    "must be a path inside the registry's repository, not a URL".into(),
                );
            }
            match &a.sha256 {
                None => self.err(
                    id,
                    &af("sha256"),
                    "missing: the file cannot be verified without it".into(),
                ),
                Some(s) if !is_sha256_hex(s) => {
                    self.err(id, &af("sha256"), "not 64 hex digits".into())
                }
                _ => {}
            }
            if a.size.is_none() {
                self.warn(id, &af("size_bytes"), "missing".into());
            }
        }
        root
    }

    /// Checks a CID's syntax, codec and hash; returns it when it can be fetched and verified.
    fn cid(&mut self, entry: Option<&str>, field: &str, text: &str, content: bool) -> Option<Cid> {
        let cid = match parse_cid(text) {
            Ok(cid) => cid,
            Err(e) => {
                let mut problem = e.to_string();
                let body = text.trim().strip_prefix('b').unwrap_or("");
                if text.trim().starts_with("bafy")
                    && !body.bytes().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7'))
                {
                    problem.push_str(" (a `bafy…` CID is base32: a–z and 2–7 only; this looks like a placeholder)");
                }
                self.err(entry, field, problem);
                return None;
            }
        };
        let hash = cid.hash();
        match HashCode::from_code(hash.code()) {
            None => {
                self.err(entry, field, format!("multihash 0x{:x} is not one trove can verify (sha2-256, sha2-512, blake2b-256)", hash.code()));
                return None;
            }
            Some(HashCode::Identity) => self.warn(
                entry,
                field,
                "an identity CID holds its content inline; nothing is verified".into(),
            ),
            Some(code) => {
                let want = if code == HashCode::Sha2_512 { 64 } else { 32 };
                if usize::from(hash.size()) != want {
                    self.err(
                        entry,
                        field,
                        format!(
                            "a {} digest of {} bytes (expected {want})",
                            code.name(),
                            hash.size()
                        ),
                    );
                    return None;
                }
            }
        }
        match cid.codec() {
            DAG_PB | RAW => Some(cid),
            DAG_CBOR | DAG_JSON if content => {
                self.warn(
                    entry,
                    field,
                    format!(
                        "a {} CID is not UnixFS: `trove get` can fetch it but not unpack it",
                        codec_name(cid.codec())
                    ),
                );
                Some(cid)
            }
            DAG_CBOR | DAG_JSON => Some(cid),
            other => {
                self.err(
                    entry,
                    field,
                    format!(
                        "{} is not content trove can fetch (expected dag-pb or raw)",
                        codec_name(other)
                    ),
                );
                None
            }
        }
    }
}

/// `prefix.name`, or `name` when there is no prefix.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
