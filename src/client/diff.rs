//! [`Client::diff`]: two targets — registry IDs with versions or aliases, CIDs (with paths),
//! local files or folders, or URLs fetched before with `trove fetch` — compared at the tree
//! level and, with a key, at the table level. See [`crate::diff`].

use super::Client;
use crate::content::Cid;
use crate::diff::table::{
    diff_tables, Difference, TableFormat, TableOptions, TableSummary, Tolerance,
};
use crate::diff::{diff_trees, Status, TreeDiff};
use crate::error::{Error, ErrorKind, ResultExt};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to compare beyond the trees.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Key columns: compare changed table files row by row.
    pub key: Vec<String>,
    /// Core columns (default: every non-key column both have).
    pub columns: Vec<String>,
    /// Float tolerance.
    pub tolerance: Tolerance,
    /// Memory for rows that wait for their partner (default 64 MiB), beyond which they spill.
    pub memory_budget: Option<usize>,
    /// The tables' format when their names do not say it (two CIDs, say).
    pub format: Option<TableFormat>,
}

/// One side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DiffSide {
    /// The target as given.
    pub target: String,
    /// Its CID.
    #[serde(serialize_with = "crate::registry::model::ser::display")]
    pub cid: Cid,
    /// What to call it (a file name gives the table format).
    pub name: String,
}

/// One table compared.
#[derive(Debug, Clone, Serialize)]
pub struct TableResult {
    /// The file's path in the trees (empty: the targets are the files).
    pub path: String,
    /// The counts.
    pub summary: TableSummary,
}

/// What [`Client::diff`] found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// A.
    pub a: DiffSide,
    /// B.
    pub b: DiffSide,
    /// The trees.
    pub tree: TreeDiff,
    /// The tables compared (with a key).
    pub tables: Vec<TableResult>,
}

impl DiffReport {
    /// Whether A and B hold the same content (and, for the tables compared, the same core
    /// values within the tolerance, even where the bytes differ).
    pub fn is_same(&self) -> bool {
        if self.tables.is_empty() {
            return self.tree.is_same();
        }
        let tables_ok = self.tables.iter().all(|t| t.summary.is_same());
        let compared: Vec<&str> = self.tables.iter().map(|t| t.path.as_str()).collect();
        let others_ok = self.tree.files.iter().all(|f| {
            f.status == Status::Unchanged
                || (f.status == Status::Changed && compared.contains(&f.path.as_str()))
        });
        tables_ok && others_ok
    }
}

impl Client {
    /// Compares `a` with `b`; each table difference goes to `found` with the file's path as it
    /// is found.
    pub fn diff(
        &self,
        a: &str,
        b: &str,
        options: &DiffOptions,
        found: &mut dyn FnMut(&str, Difference),
    ) -> Result<DiffReport, Error> {
        // Content-addressed sides first: a local folder is hashed with the profile that makes
        // the other side's CIDs (the registry entry's, else v0 CIDs → the Kubo-default profile).
        let is_local = |t: &str| !t.contains("://") && Path::new(t).exists();
        let (side_a, path_a, side_b, path_b) = if is_local(a) && !is_local(b) {
            let (sb, pb, profile) = self
                .diff_side(b, None)
                .context(|| format!("cannot read `{b}`"))?;
            let (sa, pa, _) = self
                .diff_side(a, Some((sb.cid, profile)))
                .context(|| format!("cannot read `{a}`"))?;
            (sa, pa, sb, pb)
        } else {
            let (sa, pa, profile) = self
                .diff_side(a, None)
                .context(|| format!("cannot read `{a}`"))?;
            let (sb, pb, _) = self
                .diff_side(b, Some((sa.cid, profile)))
                .context(|| format!("cannot read `{b}`"))?;
            (sa, pa, sb, pb)
        };
        let table_options = TableOptions {
            key: options.key.clone(),
            columns: options.columns.clone(),
            tolerance: options.tolerance,
            memory_budget: options.memory_budget.unwrap_or(64 << 20),
            scratch: self.settings().cache_dir.join("tmp"),
            format: options.format,
        };
        let mut tables = Vec::new();
        let store = &**self.store();
        if !options.key.is_empty() && path_a.is_file() && path_b.is_file() {
            // Two files: the tables are compared while the trees are, on another thread.
            let (tree, table) = std::thread::scope(|scope| {
                let tree = scope.spawn(|| diff_trees(store, &side_a.cid, &side_b.cid));
                let table = diff_tables(
                    &path_a,
                    &side_a.name,
                    &path_b,
                    &side_b.name,
                    &table_options,
                    &mut |d| found("", d),
                );
                (tree.join().expect("the tree comparison panicked"), table)
            });
            tables.push(TableResult {
                path: String::new(),
                summary: table?,
            });
            return Ok(DiffReport {
                a: side_a,
                b: side_b,
                tree: tree?,
                tables,
            });
        }
        let tree = diff_trees(store, &side_a.cid, &side_b.cid)?;
        if !options.key.is_empty() {
            for file in tree.files.iter().filter(|f| f.status == Status::Changed) {
                let name = file.path.rsplit('/').next().unwrap_or(&file.path);
                if TableFormat::from_name(name).is_none() {
                    continue;
                }
                let summary = diff_tables(
                    &path_a.join(&file.path),
                    name,
                    &path_b.join(&file.path),
                    name,
                    &table_options,
                    &mut |d| found(&file.path, d),
                )
                .context(|| format!("cannot compare `{}`", file.path))?;
                tables.push(TableResult {
                    path: file.path.clone(),
                    summary,
                });
            }
        }
        Ok(DiffReport {
            a: side_a,
            b: side_b,
            tree,
            tables,
        })
    }

    /// A target's CID (complete in the store), a path holding its content, and the profile
    /// its registry entry records. A local path is hashed with `other`'s profile.
    fn diff_side(
        &self,
        text: &str,
        other: Option<(Cid, Option<crate::unixfs::Profile>)>,
    ) -> Result<(DiffSide, PathBuf, Option<crate::unixfs::Profile>), Error> {
        let local = Path::new(text);
        if text.starts_with("http://") || text.starts_with("https://") {
            let record = [false, true]
                .into_iter()
                .filter_map(|decompress| {
                    self.upstream_record(
                        text,
                        &super::upstream::FetchUrlOptions {
                            decompress,
                            ..Default::default()
                        },
                    )
                })
                .max_by_key(|r| r.fetched_at)
                .ok_or_else(|| {
                    Error::with_hint(
                        ErrorKind::NotFound,
                        format!("`{text}` has not been fetched into this cache"),
                        format!("fetch it first: trove fetch {text}"),
                    )
                })?;
            let cid = record.cid()?;
            let name = text
                .split(['?', '#'])
                .next()
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or("download")
                .to_string();
            let name = if record.decompressed {
                name.trim_end_matches(".gz")
                    .trim_end_matches(".zst")
                    .to_string()
            } else {
                name
            };
            let got = self.materialize(&self.resolve(&cid.to_string())?)?;
            return Ok((
                DiffSide {
                    target: text.to_string(),
                    cid,
                    name,
                },
                got.path,
                None,
            ));
        }
        if local.exists() {
            // A local file or folder: hashed into the store (not kept) so both sides are DAGs.
            let profile = match other {
                Some((_, Some(profile))) => profile,
                Some((cid, None)) if cid.version() == cid::Version::V0 => {
                    crate::unixfs::Profile::UnixfsV0_2015
                }
                _ => crate::unixfs::Profile::UnixfsV1_2025,
            };
            let params = profile.params();
            let root = crate::import::import_path(
                local,
                &params,
                &**self.store(),
                &crate::progress::Silent,
            )
            .context(|| format!("cannot import `{text}`"))?;
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| text.to_string());
            return Ok((
                DiffSide {
                    target: text.to_string(),
                    cid: root.cid,
                    name,
                },
                local.to_path_buf(),
                Some(profile),
            ));
        }
        let resolution = self.resolve(text)?;
        let profile = resolution.entry.as_ref().and_then(|e| e.profile);
        let (got, cid) = self.materialize_cid(text, &resolution, "compare")?;
        Ok((
            DiffSide {
                target: text.to_string(),
                cid,
                name: resolution.name,
            },
            got.path,
            profile,
        ))
    }
}
