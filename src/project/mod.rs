//! Projects: a manifest (`trove.toml`) says which artifacts go where, a lockfile
//! (`trove.lock`) records exactly what they resolved to, and `sync` makes every output match
//! the lock — on any machine, reproducibly.
//!
//! - [`manifest`]: reading and editing `trove.toml`;
//! - [`lock`]: the lockfile format;
//! - this module: `lock`, `sync`, `status` and `verify` as [`Client`] methods;
//! - [`watch`]: `sync --watch`, the long-running service (poll, stage, swap, notify, wait, trim).
//!
//! An output is replaced only whole (staged beside it, renamed into place) and only when it is
//! trove's: one trove wrote and nobody changed since (see [`crate::client::outputs`]), or one
//! that already holds the locked content (adopted). Anything else is left alone unless the
//! caller forces it. Outputs that leave the manifest are left where they are and reported.

pub mod lock;
pub mod manifest;
pub mod watch;

use crate::client::outputs::{fingerprint, now_secs, OutputRecord};
use crate::client::session::{Destination, Extra, Session};
use crate::client::sources::MirrorSpec;
use crate::client::{Client, Resolution};
use crate::content::Cid;
use crate::error::{Error, ErrorKind, ResultExt};
use crate::target::{parse_target, Target};
pub use lock::{Locked, LockedRegistry, Lockfile};
pub use manifest::{Manifest, LOCKFILE, MANIFEST, STATE_DIR};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A project: its manifest, and where its lockfile is.
#[derive(Debug, Clone)]
pub struct Project {
    /// The manifest.
    pub manifest: Manifest,
    /// `trove.lock` beside it.
    pub lock_path: PathBuf,
}

impl Project {
    /// The project whose manifest is `start` or the first `trove.toml` in `start` or above.
    pub fn open(start: &Path) -> Result<Project, Error> {
        let path = Manifest::find(start)?;
        let manifest = Manifest::load(&path)?;
        let lock_path = manifest.dir().join(LOCKFILE);
        Ok(Project {
            manifest,
            lock_path,
        })
    }

    /// The absolute path of output `rel`.
    pub fn output(&self, rel: &str) -> PathBuf {
        std::path::absolute(self.manifest.output(rel)).unwrap_or_else(|_| self.manifest.output(rel))
    }
}

/// How `sync` treats the lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Resolve the manifest afresh and update the lock when the answer changed.
    #[default]
    Update,
    /// Resolve afresh, and fail when the lock is out of date (CI).
    Locked,
    /// Use the lock as it is, without reading any registry; fail when it does not cover the
    /// manifest.
    Frozen,
}

/// What `sync` did to one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// It already matched the lock.
    Unchanged,
    /// It already held the locked content though trove had not written it: now recorded.
    Adopted,
    /// Written (it was missing, or held an older version).
    Written,
}

/// One output after `sync`.
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    /// The output path, relative to the manifest.
    pub path: String,
    /// What it holds.
    pub cid: String,
    /// What was done.
    pub action: Action,
}

/// What `sync` did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// Whether the lockfile was written.
    pub lock_changed: bool,
    /// Every output of the lock.
    pub outputs: Vec<Synced>,
    /// Outputs trove wrote for this project earlier that the manifest no longer lists (left
    /// where they are).
    pub left_alone: Vec<String>,
}

/// One output's state, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct OutputStatus {
    /// The output path, relative to the manifest (or absolute for a lone folder).
    pub path: String,
    /// The target.
    pub target: String,
    /// The registry ID, version and alias the lock names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The CID the output should hold (`None`: not locked yet).
    pub cid: Option<String>,
    /// `missing`, `intact`, `changed`, `not-locked` or `unknown` (cannot be checked offline).
    pub state: String,
    /// A newer answer of the registry (`version (CID)`), when asked and there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newer: Option<String>,
}

/// What `verify` found for one output.
#[derive(Debug, Clone, Serialize)]
pub struct OutputCheck {
    /// The output path.
    pub path: String,
    /// The CID it should hold.
    pub cid: String,
    /// Every difference (empty: intact), one line each, naming the file.
    pub problems: Vec<String>,
}

impl Client {
    /// Loads the manifest's registries (the client's configured ones when it lists none),
    /// with the copy of each that was read, named as the manifest names them.
    fn project_registries(
        &self,
        project: &Project,
    ) -> Result<(crate::registry::RegistrySet, Vec<LockedRegistry>), Error> {
        let (written, resolved) = match project.manifest.registry_sources() {
            list if list.is_empty() => {
                let configured = self.settings().registries.clone();
                (configured.clone(), configured)
            }
            list => (project.manifest.registries.clone(), list),
        };
        let (mut set, mut read) = self.load_registries(&resolved)?;
        // The lock names registries as the manifest does (relative paths stay relative).
        for (text, registry) in written.iter().zip(&resolved) {
            for r in read.iter_mut().filter(|r| &r.source == registry) {
                r.source = text.clone();
            }
            for r in set.registries.iter_mut().filter(|r| &r.name == registry) {
                r.name = text.clone();
            }
        }
        Ok((set, read))
    }

    /// Resolves every artifact of the manifest into a fresh lockfile (fetching only the
    /// directories on the way to a path, when the cache lacks them).
    pub fn resolve_lock(&self, project: &Project) -> Result<Lockfile, Error> {
        let needs_registry = project.manifest.artifacts.iter().any(|(path, t)| {
            !project.manifest.upstream.contains_key(path) && parse_target(t).is_err()
        });
        let (set, registries) = if needs_registry {
            self.project_registries(project)?
        } else {
            Default::default()
        };
        let session = self.session();
        let mut lock = Lockfile::new();
        lock.registries = registries;
        for (path, target_text) in &project.manifest.artifacts {
            let locked = match project.manifest.upstream.get(path) {
                Some(spec) => self.lock_upstream(path, spec),
                None => self.lock_one(&session, &set, project.manifest.dir(), path, target_text),
            }
            .context(|| format!("cannot lock `{path}` (`{target_text}`)"))?;
            lock.artifacts.push(locked);
        }
        Ok(lock)
    }

    fn lock_one(
        &self,
        session: &Session<'_>,
        set: &crate::registry::RegistrySet,
        project_dir: &Path,
        path: &str,
        text: &str,
    ) -> Result<Locked, Error> {
        let (target, resolved) = match parse_target(text) {
            Ok(target) => (target, None),
            Err(_) => {
                let resolved = set.resolve(text)?;
                let target = resolved.target().ok_or_else(|| {
                    Error::msg(
                        ErrorKind::Usage,
                        format!("`{text}` is a registry 2.0 entry (repository files): it has no CID to lock"),
                    )
                })?;
                (target, Some(resolved))
            }
        };
        let extra = resolved
            .as_ref()
            .map(Extra::from_resolved)
            .unwrap_or_default();
        let cid = if target.path.is_empty() {
            target.cid
        } else {
            session
                .complete_with(&target, &extra, |_| Ok(Destination::Skip))?
                .cid
        };
        let r = resolved.as_ref();
        Ok(Locked {
            path: path.to_string(),
            target: text.to_string(),
            id: r.map(|r| r.id.clone()),
            version: r.map(|r| r.version.clone()),
            alias: r.and_then(|r| r.alias.clone()),
            registry: r.map(|r| r.registry.clone()),
            root: target.cid.to_string(),
            subpath: target.path.clone(),
            cid: cid.to_string(),
            profile: r.and_then(|r| r.profile).map(|p| p.name().to_string()),
            size: r.and_then(|r| r.size),
            sha256: r.and_then(|r| r.sha256.clone()),
            mirrors: r
                .map(|r| {
                    r.mirrors
                        .iter()
                        .map(|u| self.portable(project_dir, u))
                        .collect()
                })
                .unwrap_or_default(),
            etag: None,
        })
    }

    /// Locks an upstream file: fetched (no request within its TTL), recorded by CID and ETag.
    fn lock_upstream(&self, path: &str, spec: &manifest::UpstreamSpec) -> Result<Locked, Error> {
        let fetched = self.fetch_url(&spec.url, &spec.fetch_options()?)?;
        let cid = fetched.cid.to_string();
        Ok(Locked {
            path: path.to_string(),
            target: spec.url.clone(),
            id: None,
            version: None,
            alias: None,
            registry: None,
            root: cid.clone(),
            subpath: String::new(),
            cid,
            profile: Some(fetched.record.profile.clone()),
            size: None,
            sha256: (!fetched.record.decompressed).then(|| fetched.record.sha256.clone()),
            mirrors: Vec::new(),
            etag: fetched.record.etag.clone(),
        })
    }

    /// A mirror as the lock records it: a file in the project as a path relative to the
    /// manifest (the lock works in any checkout), anything else as its URL.
    fn portable(&self, project_dir: &Path, url: &url::Url) -> String {
        let dir = std::path::absolute(project_dir).unwrap_or_else(|_| project_dir.to_path_buf());
        url.to_file_path()
            .ok()
            .and_then(|p| p.strip_prefix(&dir).ok().map(Path::to_path_buf))
            .and_then(|rel| rel.to_str().map(|r| r.replace('\\', "/")))
            .unwrap_or_else(|| url.to_string())
    }

    /// `trove lock`: resolves the manifest and writes `trove.lock` when the answer changed;
    /// returns the lock and whether it was written.
    pub fn lock(&self, project: &Project) -> Result<(Lockfile, bool), Error> {
        let fresh = self.resolve_lock(project)?;
        let old = Lockfile::read(&project.lock_path)?;
        let changed = old.as_ref() != Some(&fresh);
        if changed {
            fresh.write(&project.lock_path)?;
        }
        Ok((fresh, changed))
    }

    /// The lock a sync works from, by `mode`.
    fn lock_for_sync(&self, project: &Project, mode: LockMode) -> Result<(Lockfile, bool), Error> {
        let name = project.lock_path.display().to_string();
        match mode {
            LockMode::Update => self.lock(project),
            LockMode::Frozen => {
                let lock = Lockfile::read(&project.lock_path)?.ok_or_else(|| {
                    Error::with_hint(
                        ErrorKind::Usage,
                        format!("there is no `{name}` to sync from (--frozen reads no registry)"),
                        "run `trove lock` first, and commit trove.lock with trove.toml",
                    )
                })?;
                let covered = |(path, target): (&String, &String)| {
                    lock.get(path).is_some_and(|l| &l.target == target)
                };
                let missing: Vec<&String> = project
                    .manifest
                    .artifacts
                    .iter()
                    .filter(|a| !covered(*a))
                    .map(|(p, _)| p)
                    .collect();
                if !missing.is_empty() || lock.artifacts.len() != project.manifest.artifacts.len() {
                    return Err(out_of_date(&name, &missing));
                }
                Ok((lock, false))
            }
            LockMode::Locked => {
                let fresh = self.resolve_lock(project)?;
                let old = Lockfile::read(&project.lock_path)?;
                match old {
                    Some(old) if old.artifacts == fresh.artifacts => Ok((old, false)),
                    Some(old) => {
                        let differs: Vec<&String> = fresh
                            .artifacts
                            .iter()
                            .filter(|a| old.get(&a.path) != Some(*a))
                            .map(|a| &a.path)
                            .chain(
                                old.artifacts
                                    .iter()
                                    .filter(|a| fresh.get(&a.path).is_none())
                                    .map(|a| &a.path),
                            )
                            .collect();
                        Err(out_of_date(&name, &differs))
                    }
                    None => Err(out_of_date(&name, &[])),
                }
            }
        }
    }

    /// `trove sync`: makes every output match the lock (see the module docs); `force` replaces
    /// outputs someone changed or that trove did not write.
    pub fn sync(
        &self,
        project: &Project,
        mode: LockMode,
        force: bool,
    ) -> Result<SyncReport, Error> {
        let (lock, lock_changed) = self.lock_for_sync(project, mode)?;
        let mut outputs = Vec::new();
        for locked in &lock.artifacts {
            let out = project.output(&locked.path);
            let action = self
                .sync_output(locked, project.manifest.dir(), &out, force)
                .context(|| format!("cannot sync `{}`", locked.path))?;
            outputs.push(Synced {
                path: locked.path.clone(),
                cid: locked.cid.clone(),
                action,
            });
        }
        let dir = project.output("");
        let dir = dir.as_path();
        let left_alone = self
            .outputs()
            .under(dir)
            .into_iter()
            .filter(|r| r.path.symlink_metadata().is_ok())
            .filter_map(|r| {
                let rel = r.path.strip_prefix(dir).ok()?;
                let rel = rel.to_string_lossy().replace('\\', "/");
                let ours = rel.starts_with(&format!("{STATE_DIR}/"))
                    || lock.artifacts.iter().any(|a| a.path == rel);
                (!ours).then_some(rel)
            })
            .collect();
        Ok(SyncReport {
            lock_changed,
            outputs,
            left_alone,
        })
    }

    /// Makes the output at `out` hold `locked`.
    pub(crate) fn sync_output(
        &self,
        locked: &Locked,
        project_dir: &Path,
        out: &Path,
        force: bool,
    ) -> Result<Action, Error> {
        let outputs = self.outputs();
        let record = outputs.get(out);
        let now = fingerprint(out);
        match (&record, &now) {
            (Some(r), Some(f)) if r.cid == locked.cid && &r.fingerprint == f => {
                return Ok(Action::Unchanged)
            }
            (Some(r), Some(f)) if &r.fingerprint != f && !force => {
                return Err(Error::with_hint(
                    ErrorKind::Usage,
                    format!("`{}` was changed since trove wrote it", out.display()),
                    "`trove verify` lists the changes; pass --force to replace it with the locked content",
                ));
            }
            (None, Some(_)) if !force => {
                // Not trove's: adopted when it already holds the locked content.
                if self.holds(out, locked)? {
                    self.record_output(out, locked)?;
                    return Ok(Action::Adopted);
                }
                return Err(Error::with_hint(
                    ErrorKind::Usage,
                    format!(
                        "`{}` exists, was not written by trove and is not the locked content",
                        out.display()
                    ),
                    "move it away, or pass --force to replace it",
                ));
            }
            _ => {}
        }
        let resolution = resolution_of_locked(locked, project_dir)?;
        let got = self.materialize(&resolution)?;
        let parent = crate::output::folder_of(out);
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        crate::output::copy_out(&got.path, out, true)?;
        self.record_output(out, locked)?;
        Ok(Action::Written)
    }

    /// Records that `out` holds `locked` as it is now.
    fn record_output(&self, out: &Path, locked: &Locked) -> Result<(), Error> {
        self.outputs().put(&OutputRecord {
            path: out.to_path_buf(),
            cid: locked.cid.clone(),
            target: locked.target.clone(),
            id: locked.id.clone(),
            version: locked.version.clone(),
            profile: locked.profile.clone(),
            fingerprint: fingerprint(out).unwrap_or_default(),
            written_at: now_secs(),
        })
    }

    /// Whether the tree at `out` is the locked content: re-imported with the locked profile
    /// (when known) and compared by CID; otherwise compared with the content's blocks.
    fn holds(&self, out: &Path, locked: &Locked) -> Result<bool, Error> {
        Ok(self
            .check_tree(out, &locked.cid, locked.profile.as_deref(), false)?
            .is_empty())
    }

    /// How the tree at `out` differs from the content `cid`: compared file by file with the
    /// verified blocks when the cache has them (or, with `fetch`, after fetching them), else
    /// re-imported with `profile` and compared by root CID (one line for the whole tree).
    pub fn check_tree(
        &self,
        out: &Path,
        cid: &str,
        profile: Option<&str>,
        fetch: bool,
    ) -> Result<Vec<String>, Error> {
        let cid: Cid = crate::content::parse_cid(cid)?;
        if out.symlink_metadata().is_err() {
            return Ok(vec![format!("`{}` is missing", out.display())]);
        }
        let store = self.store();
        let complete = crate::car::check_dag(&**store, &cid)
            .map(|s| s.is_complete())
            .unwrap_or(false);
        let complete = complete
            || (fetch
                && self
                    .session()
                    .complete(
                        &Target {
                            cid,
                            path: String::new(),
                        },
                        &Extra::default(),
                    )
                    .is_ok());
        if complete {
            let reader = crate::unixfs::Reader::new(&**store);
            let mismatches = crate::client::snapshot::compare(&reader, &cid, out)?;
            return Ok(mismatches.iter().map(ToString::to_string).collect());
        }
        let Some(profile) = profile.and_then(|p| p.parse::<crate::unixfs::Profile>().ok()) else {
            return Err(Error::with_hint(
                ErrorKind::Offline,
                format!(
                    "cannot check `{}`: the content `{cid}` is not in the cache and its profile is unknown",
                    out.display()
                ),
                "run it without offline mode, so the content can be fetched to compare with",
            ));
        };
        let root = crate::import::import_path(
            out,
            &profile.params(),
            &crate::import::Discard,
            &crate::progress::Silent,
        )?;
        Ok(if root.cid == cid {
            Vec::new()
        } else {
            vec![format!(
                "`{}` holds `{}`, not `{cid}` (the content is not in the cache to name the files that differ)",
                out.display(),
                root.cid
            )]
        })
    }

    /// `trove status`: each output of the manifest with what the lock says and whether it is
    /// intact; with `updates`, whether the registry now answers something else.
    pub fn status(&self, project: &Project, updates: bool) -> Result<Vec<OutputStatus>, Error> {
        let lock = Lockfile::read(&project.lock_path)?.unwrap_or_default();
        let fresh = if updates {
            Some(self.resolve_lock(project)?)
        } else {
            None
        };
        let mut out = Vec::new();
        for (path, target) in &project.manifest.artifacts {
            let locked = lock.get(path).filter(|l| &l.target == target);
            let output = project.output(path);
            let state = match locked {
                None => "not-locked".to_string(),
                Some(l) => self.output_state(&output, &l.cid, l.profile.as_deref()),
            };
            let newer = match (locked, fresh.as_ref().and_then(|f| f.get(path))) {
                (Some(l), Some(f)) if f.cid != l.cid => Some(format!(
                    "{} ({})",
                    f.version.as_deref().unwrap_or("?"),
                    f.cid
                )),
                _ => None,
            };
            out.push(OutputStatus {
                path: path.clone(),
                target: target.clone(),
                id: locked.and_then(|l| l.id.clone()),
                version: locked.and_then(|l| l.version.clone()),
                alias: locked.and_then(|l| l.alias.clone()),
                cid: locked.map(|l| l.cid.clone()),
                state,
                newer,
            });
        }
        Ok(out)
    }

    /// `missing`, `intact`, `changed` or `unknown` for the tree at `out` against `cid`.
    fn output_state(&self, out: &Path, cid: &str, profile: Option<&str>) -> String {
        if out.symlink_metadata().is_err() {
            return "missing".into();
        }
        match self.check_tree(out, cid, profile, false) {
            Ok(problems) if problems.is_empty() => "intact".into(),
            Ok(_) => "changed".into(),
            Err(_) => "unknown".into(),
        }
    }

    /// `trove verify`: every output of the lock compared with its content, file by file
    /// (fetching the content to compare with when the cache lacks it and the client may).
    pub fn verify_project(&self, project: &Project) -> Result<Vec<OutputCheck>, Error> {
        let lock = Lockfile::read(&project.lock_path)?.ok_or_else(|| {
            Error::with_hint(
                ErrorKind::Usage,
                format!(
                    "there is no `{}` to verify against",
                    project.lock_path.display()
                ),
                "run `trove lock` (or `trove sync`) first",
            )
        })?;
        let mut checks = Vec::new();
        for locked in &lock.artifacts {
            let out = project.output(&locked.path);
            let problems = self.check_tree(&out, &locked.cid, locked.profile.as_deref(), true)?;
            checks.push(OutputCheck {
                path: locked.path.clone(),
                cid: locked.cid.clone(),
                problems,
            });
        }
        Ok(checks)
    }

    /// `status`/`verify` of a folder trove wrote outside a project (by `get -o`): what its
    /// record in the cache says, and how the tree differs from it.
    pub fn check_output(&self, out: &Path) -> Result<(OutputRecord, Vec<String>), Error> {
        let abs = std::path::absolute(out).map_err(|e| Error::io("resolve", out, e))?;
        let record = self.outputs().get(&abs).ok_or_else(|| {
            Error::with_hint(
                ErrorKind::NotFound,
                format!("trove has no record of writing `{}`", abs.display()),
                "status and verify know the outputs of `trove get` and `trove sync` made with this cache; in a project, run them in its folder",
            )
        })?;
        let problems = self.check_tree(&abs, &record.cid, record.profile.as_deref(), true)?;
        Ok((record, problems))
    }
}

/// The error for a lockfile that does not match the manifest.
fn out_of_date(name: &str, paths: &[&String]) -> Error {
    let which = if paths.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            paths
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Error::with_hint(
        ErrorKind::Usage,
        format!("`{name}` is out of date with trove.toml{which}"),
        "run `trove lock` (or `trove sync` without --locked/--frozen) and commit the new trove.lock",
    )
}

/// What to fetch for a locked output: its root and path, the mirrors and profile the lock
/// recorded (so a frozen sync needs no registry; a mirror recorded as a relative path is a
/// CAR in the project), named after the output.
pub fn resolution_of_locked(locked: &Locked, project_dir: &Path) -> Result<Resolution, Error> {
    let root: Cid = crate::content::parse_cid(&locked.root)?;
    let target = Target {
        cid: root,
        path: locked.subpath.clone(),
    };
    let name = locked
        .path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(&locked.path)
        .to_string();
    let profile: Option<crate::unixfs::Profile> =
        locked.profile.as_deref().and_then(|p| p.parse().ok());
    let params = profile.map(|p| p.params());
    let mut extra = Extra::default();
    for mirror in &locked.mirrors {
        match url::Url::parse(mirror) {
            Ok(url) if url.scheme() == "file" => {
                if let Ok(path) = url.to_file_path() {
                    extra.local_cars.push(path);
                }
            }
            Ok(_) => extra.mirrors.push(MirrorSpec {
                url: mirror.clone(),
                params,
            }),
            Err(_) => extra.local_cars.push(project_dir.join(mirror)),
        }
    }
    Ok(Resolution {
        target: Some(target),
        entry: None,
        name,
        extra,
        expected_sha256: locked.sha256.clone(),
    })
}
