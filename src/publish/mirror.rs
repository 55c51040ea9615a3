//! `trove mirror`: makes an institution's IPFS infrastructure hold every entry (every version,
//! or the latest) of the registries.
//!
//! Targets:
//! - `kubo[=API]`: a Kubo-compatible daemon (Kubo, js-ipfs). Whether it already pins the root
//!   is asked first (`pin/ls`); if not, the content is made complete in trove's cache through
//!   the usual tiers (cache, the entry's CARs, daemon, p2p, gateways, mirrors), exported as a
//!   CAR and imported with its root pinned (`dag/import?pin-roots=true`).
//! - `psa=NAME|URL`: a service speaking the IPFS Pinning Service API (a `[pinning.NAME]`
//!   section of the config file, or an endpoint with `TROVE_PIN_TOKEN`). An existing request
//!   for the CID (queued, pinning or pinned) is followed instead of making another.
//! - `cluster=URL`: an IPFS Cluster's REST API (`/allocations`, `/pins`).
//!
//! Pinning services and clusters fetch the content themselves, from the IPFS network, by CID.
//! Each (root, target) pair is independent: they run `jobs` at a time, a failure is reported
//! and the others go on, and a run after an interrupted one redoes only what is not done
//! (asking first makes every step idempotent).

use super::cluster::Cluster;
use super::pin::{daemon_pins, dag_import, PinOutcome, PinService, PinWait};
use crate::client::Client;
use crate::content::Cid;
use crate::error::{Error, ErrorKind, ResultExt};
use crate::fetch::{discover_api_candidates, KuboRpcSource};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use url::Url;

/// Where `trove mirror` puts content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorTarget {
    /// A Kubo-compatible daemon (its API, else the usual discovery).
    Kubo(Option<String>),
    /// A Pinning Service API service, by config name or endpoint.
    Psa(String),
    /// An IPFS Cluster REST API.
    Cluster(String),
}

impl std::str::FromStr for MirrorTarget {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let (kind, value) = match text.split_once('=') {
            Some((k, v)) => (k, Some(v.trim())),
            None => (text, None),
        };
        let value = value.filter(|v| !v.is_empty()).map(str::to_string);
        match (kind.trim(), value) {
            ("kubo", api) => Ok(MirrorTarget::Kubo(api)),
            ("psa", Some(service)) => Ok(MirrorTarget::Psa(service)),
            ("cluster", Some(url)) => Ok(MirrorTarget::Cluster(url)),
            ("psa" | "cluster", None) => Err(target_usage(format!("`--to {text}` needs a value"))),
            _ => Err(target_usage(format!(
                "`--to {text}` is not a mirror target"
            ))),
        }
    }
}

fn target_usage(message: String) -> Error {
    Error::with_hint(
        ErrorKind::Usage,
        message,
        "use --to kubo[=API], --to psa=NAME|URL or --to cluster=URL",
    )
}

/// What `trove mirror` does.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    pub targets: Vec<MirrorTarget>,
    /// Only each entry's latest version.
    pub latest_only: bool,
    /// (root, target) pairs worked on at once.
    pub jobs: usize,
    /// How long to follow a remote pin.
    pub wait: PinWait,
}

/// How one root fared on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MirrorOutcome {
    /// The target had it already: nothing was done.
    Already,
    /// Pinned by this run.
    Pinned,
    /// Asked for; the target was still working on it when we stopped waiting.
    Queued,
    /// Failed (see the detail).
    Failed,
}

/// One root on one target.
#[derive(Debug, Clone, Serialize)]
pub struct Mirrored {
    pub id: String,
    pub version: String,
    pub cid: String,
    /// The target, as in messages (`kubo http://127.0.0.1:5001`, `psa NAME`, `cluster URL`).
    pub target: String,
    pub outcome: MirrorOutcome,
    /// Bytes sent to the target (a daemon's CAR).
    pub bytes: u64,
    /// Why it failed, or the status a queued pin had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorReport {
    pub items: Vec<Mirrored>,
}

impl MirrorReport {
    pub fn count(&self, outcome: MirrorOutcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }
}

/// A target, connected.
enum Connected {
    Kubo { api: Url, label: String },
    Psa(PinService),
    Cluster(Cluster),
}

impl Connected {
    fn label(&self) -> String {
        match self {
            Connected::Kubo { label, .. } => label.clone(),
            Connected::Psa(s) => format!("psa {}", s.name),
            Connected::Cluster(c) => format!("cluster {}", c.url.as_str().trim_end_matches('/')),
        }
    }
}

/// One root to mirror.
struct Item {
    id: String,
    version: String,
    cid: Cid,
    /// `ID@version`, what trove resolves to fetch it.
    selector: String,
    /// What fetching it needs (target, the entry's mirrors), resolved once.
    resolution: crate::client::Resolution,
}

impl Client {
    /// Makes every target hold every entry's root (see the module docs); `done` is told about
    /// each (root, target) pair as it finishes. Fails before doing anything when a target
    /// cannot be reached or named; failures of single roots are in the report.
    pub fn mirror(
        &self,
        options: &MirrorOptions,
        done: &(dyn Fn(&Mirrored) + Sync),
    ) -> Result<MirrorReport, Error> {
        if options.targets.is_empty() {
            return Err(target_usage("name at least one target".into()));
        }
        let http = super::pin::service_client(false)?;
        let direct = super::pin::service_client(true)?;
        let targets = options
            .targets
            .iter()
            .map(|t| self.connect_target(t, &direct))
            .collect::<Result<Vec<_>, _>>()?;
        let set = self.registries()?;
        let items: Vec<Item> = set
            .roots(options.latest_only)
            .into_iter()
            .filter_map(|(_, entry, resolved)| {
                Some(Item {
                    id: entry.id.clone(),
                    selector: format!("{}@{}", entry.id, resolved.version),
                    version: resolved.version.clone(),
                    cid: resolved.cid?,
                    resolution: crate::client::resolution_of(resolved),
                })
            })
            .collect();
        let queue: Mutex<VecDeque<(usize, usize)>> = Mutex::new(
            (0..items.len())
                .flat_map(|i| (0..targets.len()).map(move |t| (i, t)))
                .collect(),
        );
        let results: Mutex<Vec<(usize, usize, Mirrored)>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..options.jobs.clamp(1, 64) {
                scope.spawn(|| loop {
                    let Some((i, t)) = queue.lock().expect("not poisoned").pop_front() else {
                        return;
                    };
                    let item = &items[i];
                    let target = &targets[t];
                    // A daemon is reached directly and may take long over a large CAR.
                    let client = if matches!(target, Connected::Kubo { .. }) {
                        &direct
                    } else {
                        &http
                    };
                    let (outcome, bytes, detail) =
                        match self.mirror_one(item, target, client, options.wait) {
                            Ok((outcome, bytes, detail)) => (outcome, bytes, detail),
                            Err(e) => (MirrorOutcome::Failed, 0, Some(e.to_string())),
                        };
                    let mirrored = Mirrored {
                        id: item.id.clone(),
                        version: item.version.clone(),
                        cid: item.cid.to_string(),
                        target: target.label(),
                        outcome,
                        bytes,
                        detail,
                    };
                    done(&mirrored);
                    results.lock().expect("not poisoned").push((i, t, mirrored));
                });
            }
        });
        let mut results = results.into_inner().expect("not poisoned");
        results.sort_by_key(|(i, t, _)| (*i, *t));
        Ok(MirrorReport {
            items: results.into_iter().map(|(_, _, m)| m).collect(),
        })
    }

    fn connect_target(
        &self,
        target: &MirrorTarget,
        http: &reqwest::Client,
    ) -> Result<Connected, Error> {
        match target {
            MirrorTarget::Kubo(api) => {
                let env = &self.settings().env;
                let flag = api
                    .clone()
                    .or_else(|| self.settings().config.kubo.api.clone());
                let candidates = discover_api_candidates(
                    flag.as_deref(),
                    env.ipfs_api.as_deref(),
                    env.ipfs_path.as_deref(),
                    env.home.as_deref(),
                )?;
                let source = self.block_on(KuboRpcSource::connect(&candidates, http.clone()))?;
                let Some(source) = source else {
                    return Err(Error::with_hint(
                        ErrorKind::Network,
                        format!(
                            "no IPFS daemon answered (tried {})",
                            candidates
                                .iter()
                                .map(|c| format!("`{}`", c.display_url()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "start the daemon, or name its API with --to kubo=http://HOST:5001",
                    ));
                };
                Ok(Connected::Kubo {
                    api: source.api().url.clone(),
                    label: format!("kubo {}", source.api().display_url()),
                })
            }
            MirrorTarget::Psa(name) => {
                let mut services = self.pin_services(std::slice::from_ref(name))?;
                Ok(Connected::Psa(services.remove(0)))
            }
            MirrorTarget::Cluster(url) => {
                // The URL keeps its user information: Cluster::new takes the credentials out.
                let parsed = crate::http::check_url(url, false)
                    .context(|| format!("`--to cluster={url}` is not a usable URL"))?;
                Ok(Connected::Cluster(Cluster::new(parsed)))
            }
        }
    }

    /// Makes `target` hold `item`: (outcome, bytes sent, detail).
    fn mirror_one(
        &self,
        item: &Item,
        target: &Connected,
        http: &reqwest::Client,
        wait: PinWait,
    ) -> Result<(MirrorOutcome, u64, Option<String>), Error> {
        let service_error = |e: super::pin::PinError| Error::from(super::PublishError::from(e));
        let outcome = |o: PinOutcome| match o {
            PinOutcome::Pinned { .. } => (MirrorOutcome::Pinned, 0, None),
            PinOutcome::Queued { status, .. } => (MirrorOutcome::Queued, 0, Some(status)),
        };
        match target {
            Connected::Kubo { api, .. } => {
                if self
                    .block_on(daemon_pins(http, api, &item.cid))
                    .map_err(service_error)?
                {
                    return Ok((MirrorOutcome::Already, 0, None));
                }
                let cid = self.pin_resolution(&item.resolution, &item.selector)?;
                let dir = self.settings().cache_dir.join("mirror-v1").join("tmp");
                std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
                let mut car = tempfile::NamedTempFile::new_in(&dir)
                    .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
                crate::car::export_dag(&**self.store(), &cid, car.as_file_mut())
                    .context(|| format!("cannot export `{}` for the daemon", item.selector))?;
                let imported = self
                    .block_on(dag_import(http, api, car.path(), &cid))
                    .map_err(service_error)?;
                Ok((MirrorOutcome::Pinned, imported.bytes, None))
            }
            Connected::Psa(service) => {
                match self
                    .block_on(service.existing(http, &item.cid))
                    .map_err(service_error)?
                {
                    Some((_, status)) if status == "pinned" => {
                        Ok((MirrorOutcome::Already, 0, None))
                    }
                    Some((request_id, _)) => Ok(outcome(
                        self.block_on(service.wait(http, &item.cid, &request_id, wait))
                            .map_err(service_error)?,
                    )),
                    None => Ok(outcome(
                        self.block_on(service.pin(http, &item.cid, &item.selector, wait))
                            .map_err(service_error)?,
                    )),
                }
            }
            Connected::Cluster(cluster) => {
                if self
                    .block_on(cluster.tracks(http, &item.cid))
                    .map_err(service_error)?
                {
                    let now = PinWait {
                        give_up_after: std::time::Duration::ZERO,
                        ..wait
                    };
                    return match self
                        .block_on(cluster.wait(http, &item.cid, now))
                        .map_err(service_error)?
                    {
                        PinOutcome::Pinned { .. } => Ok((MirrorOutcome::Already, 0, None)),
                        PinOutcome::Queued { .. } => Ok(outcome(
                            self.block_on(cluster.wait(http, &item.cid, wait))
                                .map_err(service_error)?,
                        )),
                    };
                }
                Ok(outcome(
                    self.block_on(cluster.pin(http, &item.cid, &item.selector, wait))
                        .map_err(service_error)?,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            "kubo".parse::<MirrorTarget>().unwrap(),
            MirrorTarget::Kubo(None)
        );
        assert_eq!(
            "kubo=http://127.0.0.1:5001"
                .parse::<MirrorTarget>()
                .unwrap(),
            MirrorTarget::Kubo(Some("http://127.0.0.1:5001".into()))
        );
        assert_eq!(
            "psa=lab".parse::<MirrorTarget>().unwrap(),
            MirrorTarget::Psa("lab".into())
        );
        assert!("psa".parse::<MirrorTarget>().is_err());
        assert!("s3=x".parse::<MirrorTarget>().is_err());
    }
}
