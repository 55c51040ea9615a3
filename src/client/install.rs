//! Installing many artifacts into one folder (`trove install COLLECTION|--all`): several at a
//! time, each into `<dir>/<ID>`; one already there is verified instead of fetched again.

use super::{resolution_of, Client};
use crate::error::{Error, ErrorKind, ResultExt};
use crate::import::{import_path, Discard};
use crate::progress::Silent;
use crate::registry::{Filter, RegistrySet};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What happened to one artifact.
#[derive(Debug, Clone)]
pub enum Installed {
    /// Fetched (when needed) and written.
    Written {
        /// Where.
        path: PathBuf,
        /// Its CID (`None`: a registry 2.0 entry's repository files).
        cid: Option<crate::content::Cid>,
        /// Its size, when the registry records it.
        size: Option<u64>,
        /// Files written.
        files: u64,
    },
    /// Already there, and it is this version (re-imported and compared with the CID).
    Present {
        /// Where.
        path: PathBuf,
        /// Its CID.
        cid: crate::content::Cid,
        /// Its size, when the registry records it.
        size: Option<u64>,
    },
}

impl Client {
    /// The IDs of a collection, or of every entry (`None`).
    pub fn collection_ids(
        &self,
        set: &RegistrySet,
        name: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        Ok(match name {
            None => set
                .list(&Filter::default())
                .into_iter()
                .map(|(_, e)| e.id.clone())
                .collect(),
            Some(name) => set.collection(name)?.1.members.clone(),
        })
    }

    /// Installs each of `ids` into `dir/<ID>`, `jobs` at a time, telling `done` about each as it
    /// finishes (from the worker threads). Returns how many failed.
    pub fn install(
        &self,
        set: &RegistrySet,
        ids: &[String],
        dir: &Path,
        jobs: usize,
        done: &(dyn Fn(&str, Result<Installed, Error>) + Sync),
    ) -> Result<usize, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let queue = Mutex::new(ids.iter().cloned().collect::<VecDeque<_>>());
        let failed = Mutex::new(0usize);
        let workers = jobs.clamp(1, 16).min(ids.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let Some(id) = queue.lock().expect("lock").pop_front() else {
                        break;
                    };
                    let result = self.install_one(set, &id, dir);
                    if result.is_err() {
                        *failed.lock().expect("lock") += 1;
                    }
                    done(&id, result);
                });
            }
        });
        Ok(failed.into_inner().expect("lock"))
    }

    /// Installs `id` into `dir/<ID>`.
    pub fn install_one(&self, set: &RegistrySet, id: &str, dir: &Path) -> Result<Installed, Error> {
        let resolved = set.resolve(id)?;
        let out = dir.join(&resolved.id);
        let size = resolved.size;
        let resolution = resolution_of(resolved.clone());
        if let Some(target) = &resolution.target {
            if out.symlink_metadata().is_ok() {
                let params = resolved.profile.map(|p| p.params()).unwrap_or_default();
                let present = import_path(&out, &params, &Discard, &Silent)?;
                if present.cid == target.cid && target.path.is_empty() {
                    return Ok(Installed::Present {
                        path: out,
                        cid: target.cid,
                        size,
                    });
                }
                return Err(Error::with_hint(
                    ErrorKind::Usage,
                    format!(
                        "`{}` exists and is not version {} ({})",
                        out.display(),
                        resolved.version,
                        target.cid
                    ),
                    "remove it to reinstall",
                ));
            }
        }
        let got = self
            .materialize(&resolution)
            .context(|| format!("cannot get `{id}`"))?;
        let copied = crate::output::copy_out(&got.path, &out, false)
            .context(|| format!("cannot write `{id}` to `{}`", out.display()))?;
        Ok(Installed::Written {
            path: out,
            cid: got.cid,
            size,
            files: copied.files,
        })
    }
}
