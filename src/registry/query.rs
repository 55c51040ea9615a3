//! `trove list` filters and `trove search` over ID, description and tags.

use super::model::{Entry, Registry};

/// What `trove list` keeps. Empty fields match everything; comparisons ignore ASCII case.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `--domain D`: `metadata.domain` equals D.
    pub domain: Option<String>,
    /// `--model-type M`: `metadata.model_type` equals M.
    pub model_type: Option<String>,
    /// `--tag T` (repeatable): the entry has every one of these tags.
    pub tags: Vec<String>,
    /// Also list retracted entries (hidden by default, as the Python tool does).
    pub include_retracted: bool,
}

impl Filter {
    /// Whether an entry passes the filter.
    pub fn matches(&self, e: &Entry) -> bool {
        let same = |want: &Option<String>, have: &Option<String>| match want {
            None => true,
            Some(w) => have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(w)),
        };
        (self.include_retracted || !e.retracted)
            && same(&self.domain, &e.metadata.domain)
            && same(&self.model_type, &e.metadata.model_type)
            && self
                .tags
                .iter()
                .all(|t| e.metadata.tags.iter().any(|h| h.eq_ignore_ascii_case(t)))
    }
}

/// The entries of one registry that pass the filter, by ID.
pub fn list<'r>(reg: &'r Registry, filter: &Filter) -> Vec<&'r Entry> {
    reg.entries.values().filter(|e| filter.matches(e)).collect()
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit<'r> {
    /// The entry.
    pub entry: &'r Entry,
    /// Higher is better: 100 for the exact ID, then ID, tag and description matches.
    pub score: u32,
}

/// Entries matching every word of `text` (case-insensitive) in their ID, description or tags,
/// best first (an exact ID, then words in the ID, in tags, in the description), then by ID.
/// Retracted entries are left out. An empty query matches nothing.
pub fn search<'r>(reg: &'r Registry, text: &str) -> Vec<Hit<'r>> {
    let query = text.trim().to_lowercase();
    let words: Vec<&str> = query.split_whitespace().collect();
    if words.is_empty() {
        return Vec::new();
    }
    let mut hits: Vec<Hit<'r>> = reg
        .entries
        .values()
        .filter(|e| !e.retracted)
        .filter_map(|e| score(e, &query, &words).map(|score| Hit { entry: e, score }))
        .collect();
    hits.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.entry.id.cmp(&b.entry.id))
    });
    hits
}

fn score(e: &Entry, query: &str, words: &[&str]) -> Option<u32> {
    let id = e.id.to_lowercase();
    if id == query {
        return Some(100);
    }
    let description = e.description.to_lowercase();
    let tags: Vec<String> = e.metadata.tags.iter().map(|t| t.to_lowercase()).collect();
    let mut total = 0;
    for w in words {
        total += if id.contains(w) {
            3
        } else if tags.iter().any(|t| t == w) {
            2
        } else if tags.iter().any(|t| t.contains(w)) || description.contains(w) {
            1
        } else {
            return None;
        };
    }
    Some(total)
}
