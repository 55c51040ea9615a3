//! Availability monitoring (`trove registry check --reachable`): which sources can give each
//! registry entry's root, right now.
//!
//! Every source the settings configure is asked for every root ([`Source::probe`]): the local
//! daemon (`block/get`), the p2p tier (a want to connected peers, then the providers the DHT
//! and the delegated routers find), each trustless gateway (`format=raw`, the root block
//! checked against its CID), and each of the entry's mirrors (`HEAD`, or the object's
//! metadata: a file that is there, not read). Each probe has its own time-out; probes run in
//! parallel. An entry is reachable when at least one source verified its root or holds a
//! mirror file of it. This cache is not a source: a root only this machine holds is
//! unreachable for everyone else.

use super::sources;
use super::Client;
use crate::content::Cid;
use crate::error::Error;
use crate::fetch::{HttpClient, HttpOptions, MirrorSource, Probe, Source, SourceError, SourceKind};
use futures_util::StreamExt;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How `check_reachable` asks.
#[derive(Debug, Clone)]
pub struct ReachOptions {
    /// Only each entry's latest version (else every version).
    pub latest_only: bool,
    /// How long one source may take to answer for one root.
    pub timeout: Duration,
    /// Probes in flight at once.
    pub parallel: usize,
}

impl Default for ReachOptions {
    fn default() -> Self {
        ReachOptions {
            latest_only: false,
            timeout: Duration::from_secs(15),
            parallel: 16,
        }
    }
}

/// What one source said about one root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It sent the root block, and the block matches the CID.
    Verified,
    /// It holds a file for it (a mirror), not downloaded.
    Present,
    /// It said it does not have it.
    NotFound,
    /// It did not answer within the time-out.
    TimedOut,
    /// It failed (unreachable, an error, wrong bytes).
    Failed,
}

impl Outcome {
    /// Whether the source can give the content.
    pub fn has(self) -> bool {
        matches!(self, Outcome::Verified | Outcome::Present)
    }
}

/// One source's answer for one root.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReach {
    /// The source (`gateway http://…`, `mirror https://…`, `p2p`, `kubo …`).
    pub source: String,
    /// Its tier: `kubo`, `p2p`, `gateway`, `mirror`.
    pub tier: &'static str,
    pub outcome: Outcome,
    /// What went wrong, or the mirror file's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the answer took.
    pub millis: u64,
}

/// One version's root and what every source said about it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryReach {
    pub registry: String,
    pub id: String,
    pub version: String,
    pub cid: String,
    /// Whether any source has it.
    pub reachable: bool,
    pub sources: Vec<SourceReach>,
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct ReachReport {
    /// The sources asked for every root (the entries' own mirrors come on top).
    pub sources: Vec<String>,
    pub entries: Vec<EntryReach>,
}

impl ReachReport {
    /// The entries no source has.
    pub fn unreachable(&self) -> impl Iterator<Item = &EntryReach> {
        self.entries.iter().filter(|e| !e.reachable)
    }
}

/// One root to ask about, with the sources only it has (its mirrors).
struct Item {
    registry: String,
    id: String,
    version: String,
    cid: Cid,
    mirrors: Vec<Arc<dyn Source>>,
    local_files: Vec<std::path::PathBuf>,
}

impl Client {
    /// Asks every configured source (and each entry's mirrors) for every entry's root; see the
    /// module docs. Fails only when the registries cannot be read or no source is configured.
    pub fn check_reachable(&self, options: &ReachOptions) -> Result<ReachReport, Error> {
        let set = self.registries()?;
        let fetch = &self.settings.fetch;
        let http = HttpClient::new(&HttpOptions {
            allow_insecure: fetch.allow_insecure,
            ..HttpOptions::default()
        })?;
        let downloads = self.store.root().join("downloads-v1");
        let mut items = Vec::new();
        for (registry, entry, resolved) in set.roots(options.latest_only) {
            let Some(cid) = resolved.cid else { continue };
            let params = resolved.profile.map(|p| p.params());
            let mut mirrors: Vec<Arc<dyn Source>> = Vec::new();
            let mut local_files = Vec::new();
            for url in &resolved.mirrors {
                if url.scheme() == "file" {
                    if let Ok(path) = url.to_file_path() {
                        local_files.push(path);
                    }
                    continue;
                }
                match MirrorSource::new(
                    url.as_str(),
                    &http,
                    &fetch.objects,
                    params,
                    downloads.clone(),
                ) {
                    Ok(m) => mirrors.push(Arc::new(m)),
                    Err(e) => {
                        tracing::warn!("mirror `{url}` of `{}` cannot be asked: {e}", entry.id)
                    }
                }
            }
            items.push(Item {
                registry: registry.name.clone(),
                id: entry.id.clone(),
                version: resolved.version.clone(),
                cid,
                mirrors,
                local_files,
            });
        }
        self.block_on(async {
            let built = if fetch.offline {
                sources::Built {
                    sources: Vec::new(),
                    daemon: None,
                }
            } else {
                sources::build(fetch, &self.settings.env, &self.store, &[], &*self.reporter).await?
            };
            // Configured mirrors hold one artifact each: they are not asked for every root.
            let shared: Vec<Arc<dyn Source>> = built
                .sources
                .iter()
                .filter(|s| s.kind() != SourceKind::Mirror)
                .cloned()
                .collect();
            for source in &shared {
                source.prepare();
            }
            let names = shared.iter().map(|s| s.describe()).collect();
            let mut probes = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let sources = if fetch.offline {
                    &[][..]
                } else {
                    &item.mirrors[..]
                };
                for source in shared.iter().chain(sources) {
                    probes.push((index, source.clone(), item.cid));
                }
            }
            let timeout = options.timeout;
            let answers: Vec<(usize, SourceReach)> =
                futures_util::stream::iter(probes)
                    .map(|(index, source, cid)| async move {
                        (index, probe(&*source, &cid, timeout).await)
                    })
                    .buffer_unordered(options.parallel.max(1))
                    .collect()
                    .await;
            let mut entries: Vec<EntryReach> = items
                .iter()
                .map(|item| EntryReach {
                    registry: item.registry.clone(),
                    id: item.id.clone(),
                    version: item.version.clone(),
                    cid: item.cid.to_string(),
                    reachable: false,
                    sources: item
                        .local_files
                        .iter()
                        .map(|path| local_file(path))
                        .collect(),
                })
                .collect();
            for (index, answer) in answers {
                entries[index].sources.push(answer);
            }
            for entry in &mut entries {
                entry
                    .sources
                    .sort_by(|a, b| (a.tier, &a.source).cmp(&(b.tier, &b.source)));
                entry.reachable = entry.sources.iter().any(|s| s.outcome.has());
            }
            drop(built);
            Ok(ReachReport {
                sources: names,
                entries,
            })
        })
    }
}

async fn probe(source: &dyn Source, cid: &Cid, timeout: Duration) -> SourceReach {
    let started = Instant::now();
    let (outcome, detail) = match tokio::time::timeout(timeout, source.probe(cid)).await {
        Ok(Ok(Probe::Verified)) => (Outcome::Verified, None),
        Ok(Ok(Probe::Present { size })) => (Outcome::Present, size.map(|s| format!("{s} bytes"))),
        Ok(Err(SourceError::NotFound)) => (Outcome::NotFound, None),
        Ok(Err(SourceError::TimedOut(why))) => (Outcome::TimedOut, Some(why)),
        Ok(Err(e)) => (Outcome::Failed, Some(e.to_string())),
        Err(_) => (
            Outcome::TimedOut,
            Some(format!("no answer within {}", humantime(timeout))),
        ),
    };
    SourceReach {
        source: source.describe(),
        tier: source.kind().name(),
        outcome,
        detail,
        millis: started.elapsed().as_millis() as u64,
    }
}

/// A mirror file beside a local registry: there or not.
fn local_file(path: &std::path::Path) -> SourceReach {
    let (outcome, detail) = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => (Outcome::Present, Some(format!("{} bytes", meta.len()))),
        Ok(_) => (Outcome::Failed, Some("not a file".to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Outcome::NotFound, None),
        Err(e) => (Outcome::Failed, Some(e.to_string())),
    };
    SourceReach {
        source: format!("mirror {}", path.display()),
        tier: "mirror",
        outcome,
        detail,
        millis: 0,
    }
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
