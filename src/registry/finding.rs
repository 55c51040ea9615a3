//! A problem found in a registry: what the reader ([`super::legacy`]) reports while it reads
//! and what the checker ([`super::check`]) adds. Its own module so that both use it without
//! depending on each other.

use serde::Serialize;
use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The registry is wrong: `trove registry check` exits 1.
    Error,
    /// Suspicious or incomplete, but usable.
    Warning,
}

/// One problem in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// The entry ID it is about (`None` for the document, collections and pinning services).
    pub entry: Option<String>,
    /// The field, relative to the entry when there is one (`files["trace.json.gz"].cid`,
    /// `versions[1].cid`, `collections.basic.traces[2]`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl Finding {
    /// The finding without its severity: ``entry `id`, field `cid`: problem``.
    pub fn describe(&self) -> String {
        match &self.entry {
            Some(id) => format!("entry `{id}`, field `{}`: {}", self.field, self.problem),
            None => format!("field `{}`: {}", self.field, self.problem),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.describe())
    }
}
