//! Registries: JSON files in git repositories that map human IDs to CIDs and metadata.
//!
//! - [`model`]: the normalized [`Registry`] every format is read into, and the limits.
//! - [`legacy`]: reading 1.0 (`traces`), trove's additive extensions of it, and 2.0
//!   (`computes`), naming the entry and field of every problem.
//! - [`check`]: `trove registry check` — a list of [`Finding`]s.
//! - [`resolve`](mod@resolve): `ID[@version|@alias][/file]` → [`Resolved`] (CID, path, profile, mirrors).
//! - [`query`]: `trove list` filters and `trove search`.
//! - [`client`]: loading from a path, a URL or `owner/repo[@ref]`, with an ETag/TTL cache of the
//!   last good copy under `<cache>/registry-v1/` and a strict offline mode.
//!
//! The registry is trusted for `ID → CID` only; everything fetched afterwards is verified
//! against the CID (or, for 2.0 repository files, against the recorded sha256).

pub mod check;
pub mod client;
pub mod finding;
pub mod legacy;
pub mod model;
pub mod query;
pub mod resolve;

pub use check::{check_document, check_registry, Finding, Report, Severity};
pub use client::{
    Client, ClientOptions, Document, Loaded, Origin, RegistrySource, Revision, Warning,
};
pub use model::{Collection, Entry, EntryKind, Registry, Version, MAX_REGISTRY_BYTES};
pub use query::{list, search, Filter, Hit};
pub use resolve::{parse_selector, resolve, RepoFile, Resolved, Selector};

use std::path::PathBuf;
use url::Url;

/// Reads a registry document. Fails on invalid JSON, on a document over
/// [`MAX_REGISTRY_BYTES`], and on any structural error (wrong types, oversized values, unsafe
/// names, duplicated IDs), naming the entry and field; invalid CIDs do not stop loading (they
/// are reported by [`check_document`] and refused when the entry is resolved).
pub fn parse_registry(
    bytes: &[u8],
    name: &str,
    base: Option<Url>,
) -> Result<Registry, RegistryError> {
    if bytes.len() as u64 > MAX_REGISTRY_BYTES {
        return Err(RegistryError::TooLarge {
            registry: name.to_string(),
            limit: MAX_REGISTRY_BYTES,
        });
    }
    let doc = model::Json::parse(bytes).map_err(|e| RegistryError::Json {
        registry: name.to_string(),
        detail: e.to_string(),
    })?;
    let (registry, findings) = legacy::normalize(&doc, name, base);
    let problems: Vec<Finding> = findings
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if problems.is_empty() {
        Ok(registry)
    } else {
        Err(RegistryError::Invalid {
            registry: name.to_string(),
            problems,
        })
    }
}

/// Several registries, searched in order: for an ID in more than one, the first one wins.
#[derive(Debug, Clone, Default)]
pub struct RegistrySet {
    /// The registries, in search order.
    pub registries: Vec<Registry>,
}

impl RegistrySet {
    /// A set of registries in search order.
    pub fn new(registries: Vec<Registry>) -> Self {
        RegistrySet { registries }
    }

    /// The first registry that has the ID, with its entry.
    pub fn find(&self, id: &str) -> Option<(&Registry, &Entry)> {
        self.registries
            .iter()
            .find_map(|r| r.entries.get(id).map(|e| (r, e)))
    }

    /// Resolves `ID[@version|@alias][/file]` in the first registry that has the ID.
    pub fn resolve(&self, text: &str) -> Result<Resolved, RegistryError> {
        let sel = parse_selector(text)?;
        match self.find(&sel.id) {
            Some((reg, _)) => resolve(reg, &sel),
            None => Err(RegistryError::UnknownId {
                id: sel.id.clone(),
                registries: self.registries.iter().map(|r| r.name.clone()).collect(),
                suggestions: resolve::suggestions(
                    self.registries
                        .iter()
                        .flat_map(|r| r.entries.keys().map(String::as_str)),
                    &sel.id,
                ),
            }),
        }
    }

    /// Entries passing the filter; an ID shadowed by an earlier registry is left out.
    pub fn list(&self, filter: &Filter) -> Vec<(&Registry, &Entry)> {
        let mut out: Vec<(&Registry, &Entry)> = Vec::new();
        for reg in &self.registries {
            for e in query::list(reg, filter) {
                if self
                    .find(&e.id)
                    .is_some_and(|(first, _)| std::ptr::eq(first, reg))
                {
                    out.push((reg, e));
                }
            }
        }
        out
    }

    /// Every version with a root CID of every entry (retracted ones included; with
    /// `latest_only`, each entry's latest version alone), resolved as `ID@version` (mirrors
    /// made absolute, the profile parsed): what `mirror` and `check --reachable` go through.
    pub fn roots(&self, latest_only: bool) -> Vec<(&Registry, &Entry, Resolved)> {
        let filter = Filter {
            include_retracted: true,
            ..Filter::default()
        };
        let mut out = Vec::new();
        for (registry, entry) in self.list(&filter) {
            let versions: Vec<_> = if latest_only {
                entry.latest().into_iter().collect()
            } else {
                entry.versions.iter().collect()
            };
            for version in versions {
                let Ok(resolved) = self.resolve(&format!("{}@{}", entry.id, version.version))
                else {
                    continue;
                };
                if resolved.cid.is_some() {
                    out.push((registry, entry, resolved));
                }
            }
        }
        out
    }

    /// Search results of every registry, best first; shadowed IDs are left out.
    pub fn search(&self, text: &str) -> Vec<(&Registry, Hit<'_>)> {
        let mut out = Vec::new();
        for reg in &self.registries {
            for hit in query::search(reg, text) {
                if self
                    .find(&hit.entry.id)
                    .is_some_and(|(first, _)| std::ptr::eq(first, reg))
                {
                    out.push((reg, hit));
                }
            }
        }
        out.sort_by(|a, b| {
            b.1.score
                .cmp(&a.1.score)
                .then_with(|| a.1.entry.id.cmp(&b.1.entry.id))
        });
        out
    }

    /// The first registry's collection of that name.
    pub fn collection(&self, name: &str) -> Result<(&Registry, &Collection), RegistryError> {
        self.registries
            .iter()
            .find_map(|r| r.collections.get(name).map(|c| (r, c)))
            .ok_or_else(|| RegistryError::UnknownCollection {
                name: name.to_string(),
                registries: self.registries.iter().map(|r| r.name.clone()).collect(),
                available: self
                    .registries
                    .iter()
                    .flat_map(|r| r.collections.keys().cloned())
                    .collect(),
            })
    }
}

/// Errors from reading, fetching and resolving registries. Messages name the registry, the
/// entry and the field; its [`crate::Hint`] gives the advice line.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `--registry` / `TROVE_REGISTRY` names nothing trove can read.
    #[error("invalid registry `{text}`: {reason}")]
    BadSource {
        /// What was given.
        text: String,
        /// Why it is not usable.
        reason: String,
    },
    /// A local registry file cannot be read.
    #[error("cannot read registry `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The document is over the size limit.
    #[error("registry `{registry}` is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The registry.
        registry: String,
        /// The limit.
        limit: u64,
    },
    /// The document is not JSON.
    #[error("registry `{registry}` is not valid JSON: {detail}")]
    Json {
        /// The registry.
        registry: String,
        /// What the parser said.
        detail: String,
    },
    /// The document has structural errors.
    #[error("registry `{registry}` is invalid: {}{}", problems.first().map(Finding::describe).unwrap_or_default(), more(problems.len()))]
    Invalid {
        /// The registry.
        registry: String,
        /// Every structural error (at least one).
        problems: Vec<Finding>,
    },
    /// The registry could not be downloaded and there is no good copy in the cache.
    #[error("cannot fetch registry `{registry}` from `{url}`: {detail}")]
    Http {
        /// The registry.
        registry: String,
        /// The URL asked.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A plain-`http://` registry on a public host.
    #[error("refusing to read registry `{url}` over plain http: anyone on the network path could change which CID an ID names")]
    Insecure {
        /// The URL.
        url: String,
    },
    /// Offline, and the registry was never downloaded.
    #[error("registry `{registry}` is not in the cache, and trove is offline")]
    NotCached {
        /// The registry.
        registry: String,
    },
    /// Offline, and a download was needed.
    #[error("cannot download `{url}`: trove is offline")]
    Offline {
        /// The URL.
        url: String,
    },
    /// The registry cache cannot be written or read.
    #[error("registry cache: cannot {action} `{}`: {source}", path.display())]
    Cache {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No registry has this ID.
    #[error("no entry `{id}` in {}", names(registries))]
    UnknownId {
        /// The ID asked for.
        id: String,
        /// The registries searched.
        registries: Vec<String>,
        /// Close IDs.
        suggestions: Vec<String>,
    },
    /// The entry has no such version or alias.
    #[error("entry `{id}` in registry `{registry}` has no version or alias `{selector}` (versions: {}; aliases: {})", versions.join(", "), aliases.join(", "))]
    UnknownVersion {
        /// The registry.
        registry: String,
        /// The entry.
        id: String,
        /// What was asked for after `@`.
        selector: String,
        /// The versions it has.
        versions: Vec<String>,
        /// The aliases it has.
        aliases: Vec<String>,
    },
    /// A 2.0 entry has no artifact of that name.
    #[error("entry `{id}` in registry `{registry}` has no file `{path}` (files: {})", available.join(", "))]
    UnknownFile {
        /// The registry.
        registry: String,
        /// The entry.
        id: String,
        /// The path asked for.
        path: String,
        /// The files it has.
        available: Vec<String>,
    },
    /// No registry has this collection.
    #[error("no collection `{name}` in {} (collections: {})", names(registries), available.join(", "))]
    UnknownCollection {
        /// The collection asked for.
        name: String,
        /// The registries searched.
        registries: Vec<String>,
        /// The collections they have.
        available: Vec<String>,
    },
    /// `ID[@version][/file]` is malformed.
    #[error("invalid artifact name `{text}`: {reason}")]
    BadSelector {
        /// What was given.
        text: String,
        /// Why.
        reason: String,
    },
    /// The entry exists but cannot be used (invalid CID, unknown profile, unsafe mirror, …).
    #[error("entry `{id}` in registry `{registry}` cannot be used: field `{field}`: {reason}")]
    BadEntry {
        /// The registry.
        registry: String,
        /// The entry.
        id: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A repository file (2.0 artifact) does not match what the registry records.
    #[error("`{url}` does not match the registry: {detail}")]
    Artifact {
        /// Where it came from.
        url: String,
        /// What did not match.
        detail: String,
    },
}

fn more(n: usize) -> String {
    match n {
        1 => String::new(),
        2 => " (and 1 more problem)".into(),
        n => format!(" (and {} more problems)", n - 1),
    }
}

fn names(registries: &[String]) -> String {
    match registries {
        [] => "any registry (none is configured)".into(),
        [one] => format!("registry `{one}`"),
        many => format!(
            "registries {}",
            many.iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl RegistryError {
    fn registry_name(&self) -> Option<&str> {
        match self {
            RegistryError::TooLarge { registry, .. }
            | RegistryError::Json { registry, .. }
            | RegistryError::Invalid { registry, .. } => Some(registry),
            _ => None,
        }
    }
}

impl crate::Hint for RegistryError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::BadSource { .. } => {
                "a registry is a path to a registry.json, an http(s) URL, or `owner/repo[@ref]` on GitHub".into()
            }
            RegistryError::TooLarge { .. } | RegistryError::Json { .. } | RegistryError::Invalid { .. } => {
                format!("run `trove registry check {}` to list every problem", self.registry_name()?)
            }
            RegistryError::Http { .. } => {
                "check the URL and the network; once a registry has been fetched, its last good copy is used when the server fails".into()
            }
            RegistryError::Insecure { .. } => {
                "use an https:// URL (or `owner/repo` for GitHub); on a network you trust, allow plain http explicitly".into()
            }
            RegistryError::NotCached { .. } | RegistryError::Offline { .. } => {
                "run once without --offline (and without TROVE_OFFLINE=1) to download it".into()
            }
            RegistryError::UnknownId { suggestions, .. } if !suggestions.is_empty() => format!(
                "did you mean {}? `trove search WORD` finds IDs",
                suggestions.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ")
            ),
            RegistryError::UnknownId { .. } => {
                "`trove list` shows every ID and `trove search WORD` finds them; add a registry with --registry".into()
            }
            RegistryError::UnknownVersion { id, .. } | RegistryError::UnknownFile { id, .. } => {
                format!("`trove info {id}` shows its versions, aliases and files")
            }
            RegistryError::UnknownCollection { .. } => "`trove install --all` installs every entry".into(),
            RegistryError::BadSelector { .. } => {
                "name an artifact as ID, ID@VERSION, ID@ALIAS or ID[@VERSION]/FILE".into()
            }
            RegistryError::BadEntry { registry, .. } => format!(
                "the registry entry is broken; report it to the registry's maintainers (`trove registry check {registry}` lists every problem)"
            ),
            RegistryError::Artifact { .. } => {
                "the file differs from what the registry records; report it to the registry's maintainers".into()
            }
            RegistryError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "check the path (given on the command line, with --registry, in TROVE_REGISTRY or in the config file's `registries`)".into()
            }
            RegistryError::Read { .. } | RegistryError::Cache { .. } => return None,
        })
    }
}
