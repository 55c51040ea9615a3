//! Table-level comparison of two versions of a data file — TSV, CSV, JSON lines or a JSON array
//! of objects, plain or gzip/zstd-compressed — keyed by one or more columns: per key, whether
//! the core values match (floats within a tolerance), differ (with both values), are missing in
//! B or new in B. This is the "golden file" check a migration or an upstream refresh is gated
//! on.
//!
//! It streams. Both files are read row by row in step; rows whose keys line up (two versions of
//! the same export usually keep their order) are compared at once and dropped. Rows that do not
//! line up wait in a table until their partner comes; when that table outgrows a memory budget
//! ([`TableOptions::memory_budget`]), the waiting rows and the rest of both files are spilled
//! into hash partitions on disk and each pair of partitions is compared on its own, so a file
//! larger than memory compares in bounded memory whatever its order. (A JSON array is parsed
//! whole: use JSON lines for files larger than memory.)
//!
//! Reading CSV (quoting) is the `csv` crate's. TSV — no quoting, so a line is split at its tabs —
//! is split by hand, because it is the format bulk files come in and the split is most of the
//! time a comparison takes; the lock-step join and the spill are hand-written because no crate
//! does a bounded-memory keyed diff. Each file is read on a thread of its own.

pub use crate::compression::Compression;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// How values are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Two numbers match when they differ by at most this much…
    pub absolute: f64,
    /// …or by at most this fraction of the larger magnitude.
    pub relative: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            absolute: 0.0,
            relative: 0.0,
        }
    }
}

impl Tolerance {
    /// Parses `1e-6` (absolute), `abs=1e-6`, `rel=1e-9`, or both comma-separated.
    pub fn parse(text: &str) -> Result<Tolerance, String> {
        let mut tolerance = Tolerance::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (which, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => ("abs", part),
            };
            let value: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("`{value}` is not a non-negative number"))?;
            match which {
                "abs" => tolerance.absolute = value,
                "rel" => tolerance.relative = value,
                other => {
                    return Err(format!(
                        "`{other}` is neither `abs` nor `rel` (write e.g. abs=1e-9,rel=1e-6)"
                    ))
                }
            }
        }
        Ok(tolerance)
    }

    /// [`Tolerance::compare`] on raw cells (read without UTF-8 checks: equal bytes are equal).
    fn compare_bytes(&self, a: &[u8], b: &[u8]) -> Verdict {
        if a == b {
            return Verdict::Equal;
        }
        match (std::str::from_utf8(a), std::str::from_utf8(b)) {
            (Ok(a), Ok(b)) => self.compare(a, b),
            _ => Verdict::Different,
        }
    }

    /// Whether two cell values match: the same text, or numbers within the tolerance.
    fn compare(&self, a: &str, b: &str) -> Verdict {
        if a == b {
            return Verdict::Equal;
        }
        match (parse_number(a), parse_number(b)) {
            (Some(x), Some(y)) => {
                if x == y {
                    return Verdict::Equal;
                }
                let diff = (x - y).abs();
                let scale = x.abs().max(y.abs());
                if diff <= self.absolute || diff <= self.relative * scale {
                    Verdict::WithinTolerance
                } else {
                    Verdict::Different
                }
            }
            _ => Verdict::Different,
        }
    }
}

fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| !v.is_nan())
}

enum Verdict {
    Equal,
    WithinTolerance,
    Different,
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// The key columns (names).
    pub key: Vec<String>,
    /// The core columns; empty: every non-key column both files have.
    pub columns: Vec<String>,
    /// How numbers are compared.
    pub tolerance: Tolerance,
    /// How many bytes of unmatched rows may wait in memory before spilling to disk.
    pub memory_budget: usize,
    /// Where spill partitions go.
    pub scratch: PathBuf,
    /// The format of both files, when their names do not say it (compression is then told by
    /// the first bytes).
    pub format: Option<TableFormat>,
}

/// A table file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Tab-separated, a header line, no quoting.
    Tsv,
    /// Comma-separated (RFC 4180 quoting), a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// A JSON array of objects.
    Json,
}

impl TableFormat {
    /// The format and compression a file name says (`x.tsv.gz` → TSV, gzip), or `None` when it
    /// names no table format.
    pub fn from_name(name: &str) -> Option<(TableFormat, Compression)> {
        let lower = name.to_ascii_lowercase();
        let (stem, compression) = if let Some(s) = lower.strip_suffix(".gz") {
            (s.to_string(), Compression::Gzip)
        } else if let Some(s) = lower.strip_suffix(".zst") {
            (s.to_string(), Compression::Zstd)
        } else {
            (lower, Compression::None)
        };
        let format = match stem.rsplit('.').next()? {
            "tsv" | "tab" => TableFormat::Tsv,
            "csv" => TableFormat::Csv,
            "jsonl" | "ndjson" => TableFormat::Jsonl,
            "json" => TableFormat::Json,
            "gct" | "txt" => TableFormat::Tsv,
            _ => return None,
        };
        Some((format, compression))
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Difference {
    /// The key is in both, and core values differ.
    Mismatch {
        /// The key's values.
        key: Vec<String>,
        /// Each differing column: name, A's value, B's value.
        values: Vec<ValueDiff>,
    },
    /// The key is in A only.
    MissingInB {
        /// The key's values.
        key: Vec<String>,
    },
    /// The key is in B only.
    NewInB {
        /// The key's values.
        key: Vec<String>,
    },
    /// The key appears more than once in one file.
    DuplicateKey {
        /// The key's values.
        key: Vec<String>,
        /// `a` or `b`.
        in_file: &'static str,
    },
}

/// One differing value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueDiff {
    /// The column.
    pub column: String,
    /// A's value.
    pub a: String,
    /// B's value.
    pub b: String,
}

/// The counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableSummary {
    /// A's format.
    pub format_a: Option<TableFormat>,
    /// B's format.
    pub format_b: Option<TableFormat>,
    /// The key columns.
    pub key: Vec<String>,
    /// The core columns compared.
    pub columns: Vec<String>,
    /// Columns only A has (not compared).
    pub columns_only_in_a: Vec<String>,
    /// Columns only B has (not compared).
    pub columns_only_in_b: Vec<String>,
    /// Rows read from A.
    pub rows_a: u64,
    /// Rows read from B.
    pub rows_b: u64,
    /// Keys whose core values are all equal.
    pub matched: u64,
    /// Keys that match only thanks to the tolerance (counted in `matched` too).
    pub within_tolerance: u64,
    /// Keys with at least one differing core value.
    pub mismatched: u64,
    /// Core values that differ, over all keys.
    pub mismatched_values: u64,
    /// Keys in A only.
    pub missing_in_b: u64,
    /// Keys in B only.
    pub new_in_b: u64,
    /// Keys seen twice in one file (the later row is ignored).
    pub duplicate_keys: u64,
    /// Whether unmatched rows were spilled to disk.
    pub spilled: bool,
}

impl TableSummary {
    /// Whether the two tables hold the same keys with the same core values.
    pub fn is_same(&self) -> bool {
        self.mismatched == 0 && self.missing_in_b == 0 && self.new_in_b == 0
    }
}

/// Why a table comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A file cannot be read as its format.
    #[error("cannot read `{}` as {format}: {detail}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The format.
        format: &'static str,
        /// What went wrong (with the line where known).
        detail: String,
    },
    /// A key or core column is not in a file.
    #[error("`{}` has no column `{column}` (its columns: {available})", path.display())]
    NoColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// What it has.
        available: String,
    },
    /// The file name says no table format.
    #[error("`{}` is not a table trove compares (.tsv, .csv, .jsonl, .json, optionally .gz/.zst)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// No key was given.
    #[error("a table comparison needs --key COLUMN[,COLUMN…]")]
    NoKey,
    /// The spill files could not be written.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl crate::Hint for TableError {
    fn hint(&self) -> Option<String> {
        match self {
            TableError::NoColumn { .. } => {
                Some("name columns as the header line writes them (case matters)".into())
            }
            TableError::NoKey => Some(
                "name the column(s) that identify a row, e.g. --key gene or --key gene,source"
                    .into(),
            ),
            TableError::UnknownFormat { .. } => Some(
                "say the format with --format tsv|csv|jsonl|json (the targets' names do not)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A row: its key and its core values, in the order of the core columns.
type Row = (Vec<String>, Vec<String>);

/// Reads rows of one file: the header, then rows projected onto the key and core columns.
struct Rows {
    path: PathBuf,
    format: TableFormat,
    inner: RowSource,
    header: Vec<String>,
    key_at: Vec<usize>,
    core_at: Vec<usize>,
    line: u64,
    /// The current row: a CSV/TSV record (read without copying), or a projected JSON row.
    record: csv::ByteRecord,
    owned: Row,
    is_record: bool,
    /// The current TSV line and where its fields start (one past the last: the end + 1).
    tsv: Option<(Vec<u8>, Vec<u32>)>,
    tsv_capacity: usize,
}

/// A line without its `\n` or `\r\n`.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

enum RowSource {
    /// TSV, split by hand (see the module docs).
    Tsv(BufReader<Box<dyn Read + Send>>),
    Delimited(csv::Reader<Box<dyn Read + Send>>),
    Lines(BufReader<Box<dyn Read + Send>>, String),
    Objects(std::vec::IntoIter<serde_json::Map<String, serde_json::Value>>),
}

fn open(path: &Path, compression: Compression) -> Result<Box<dyn Read + Send>, TableError> {
    let io = |source| TableError::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    };
    compression
        .reader(std::fs::File::open(path).map_err(io)?)
        .map_err(io)
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Rows {
    fn open(path: &Path, name: &str, given: Option<TableFormat>) -> Result<Rows, TableError> {
        let (format, compression) = match (TableFormat::from_name(name), given) {
            (_, Some(format)) => (
                format,
                Compression::sniff_file(path).unwrap_or(Compression::None),
            ),
            (Some(named), None) => named,
            (None, None) => {
                return Err(TableError::UnknownFormat {
                    path: path.to_path_buf(),
                })
            }
        };
        let input = open(path, compression)?;
        let bad = |detail: String| TableError::Read {
            path: path.to_path_buf(),
            format: format_name(format),
            detail,
        };
        let (inner, header) = match format {
            TableFormat::Tsv => {
                let mut reader = BufReader::with_capacity(1 << 20, input);
                let mut first = Vec::new();
                reader
                    .read_until(b'\n', &mut first)
                    .map_err(|e| bad(e.to_string()))?;
                let text = String::from_utf8(trim_eol(&first).to_vec())
                    .map_err(|_| bad("the header line is not UTF-8".into()))?;
                let header = if text.is_empty() {
                    Vec::new()
                } else {
                    text.split('\t').map(str::to_string).collect()
                };
                (RowSource::Tsv(reader), header)
            }
            TableFormat::Csv => {
                let mut builder = csv::ReaderBuilder::new();
                builder.has_headers(true).flexible(false);
                if format == TableFormat::Tsv {
                    builder.delimiter(b'\t').quoting(false);
                }
                let mut reader = builder.from_reader(input);
                let header: Vec<String> = reader
                    .headers()
                    .map_err(|e| bad(e.to_string()))?
                    .iter()
                    .map(str::to_string)
                    .collect();
                (RowSource::Delimited(reader), header)
            }
            TableFormat::Jsonl => {
                // The columns are the first object's keys (later objects may add none).
                let mut reader = BufReader::with_capacity(1 << 20, input);
                let mut first = String::new();
                loop {
                    first.clear();
                    let n = reader
                        .read_line(&mut first)
                        .map_err(|e| bad(e.to_string()))?;
                    if n == 0 || !first.trim().is_empty() {
                        break;
                    }
                }
                let header = if first.trim().is_empty() {
                    Vec::new()
                } else {
                    let object: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(&first).map_err(|e| bad(format!("line 1: {e}")))?;
                    object.keys().cloned().collect()
                };
                (RowSource::Lines(reader, first), header)
            }
            TableFormat::Json => {
                let objects: Vec<serde_json::Map<String, serde_json::Value>> =
                    serde_json::from_reader(input).map_err(|e| bad(e.to_string()))?;
                let header = objects
                    .first()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                (RowSource::Objects(objects.into_iter()), header)
            }
        };
        Ok(Rows {
            path: path.to_path_buf(),
            format,
            inner,
            header,
            key_at: Vec::new(),
            core_at: Vec::new(),
            line: 1,
            record: csv::ByteRecord::new(),
            owned: (Vec::new(), Vec::new()),
            is_record: false,
            tsv: None,
            tsv_capacity: 64,
        })
    }

    fn column(&self, name: &str) -> Result<usize, TableError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TableError::NoColumn {
                path: self.path.clone(),
                column: name.to_string(),
                available: self.header.join(", "),
            })
    }

    fn project(&mut self, key: &[String], core: &[String]) -> Result<(), TableError> {
        self.key_at = key
            .iter()
            .map(|k| self.column(k))
            .collect::<Result<_, _>>()?;
        self.core_at = core
            .iter()
            .map(|c| self.column(c))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Reads the next row into the current one; `false` at the end.
    fn advance(&mut self) -> Result<bool, TableError> {
        self.line += 1;
        if let RowSource::Tsv(reader) = &mut self.inner {
            loop {
                let mut line = Vec::with_capacity(self.tsv_capacity);
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| TableError::Read {
                        path: self.path.clone(),
                        format: "TSV",
                        detail: format!("line {}: {e}", self.line),
                    })?;
                if n == 0 {
                    return Ok(false);
                }
                let len = trim_eol(&line).len();
                line.truncate(len);
                if line.is_empty() {
                    self.line += 1;
                    continue;
                }
                self.tsv_capacity = self.tsv_capacity.max(len + 2);
                let mut bounds = Vec::with_capacity(self.header.len() + 1);
                bounds.push(0u32);
                for (i, b) in line.iter().enumerate() {
                    if *b == b'\t' {
                        bounds.push(i as u32 + 1);
                    }
                }
                if bounds.len() != self.header.len() {
                    return Err(TableError::Read {
                        path: self.path.clone(),
                        format: "TSV",
                        detail: format!(
                            "line {}: {} fields, but the header has {}",
                            self.line,
                            bounds.len(),
                            self.header.len()
                        ),
                    });
                }
                bounds.push(line.len() as u32 + 1);
                self.tsv = Some((line, bounds));
                return Ok(true);
            }
        }
        let bad = |path: &Path, format, line: u64, detail: String| TableError::Read {
            path: path.to_path_buf(),
            format: format_name(format),
            detail: format!("line {line}: {detail}"),
        };
        match &mut self.inner {
            RowSource::Tsv(_) => unreachable!("read above"),
            RowSource::Delimited(reader) => match reader.read_byte_record(&mut self.record) {
                Ok(more) => {
                    self.is_record = true;
                    Ok(more)
                }
                Err(e) => Err(bad(&self.path, self.format, self.line, e.to_string())),
            },
            RowSource::Lines(reader, pending) => loop {
                let text = if pending.is_empty() {
                    let mut line = String::new();
                    let n = reader
                        .read_line(&mut line)
                        .map_err(|e| bad(&self.path, self.format, self.line, e.to_string()))?;
                    if n == 0 {
                        return Ok(false);
                    }
                    line
                } else {
                    std::mem::take(pending)
                };
                if text.trim().is_empty() {
                    continue;
                }
                let object: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&text)
                        .map_err(|e| bad(&self.path, self.format, self.line, e.to_string()))?;
                self.owned = self.project_object(&object);
                self.is_record = false;
                return Ok(true);
            },
            RowSource::Objects(objects) => match objects.next() {
                Some(object) => {
                    self.owned = self.project_object(&object);
                    self.is_record = false;
                    Ok(true)
                }
                None => Ok(false),
            },
        }
    }

    fn project_object(&self, object: &serde_json::Map<String, serde_json::Value>) -> Row {
        let get = |i: &usize| {
            object
                .get(&self.header[*i])
                .map(json_text)
                .unwrap_or_default()
        };
        (
            self.key_at.iter().map(get).collect(),
            self.core_at.iter().map(get).collect(),
        )
    }
}

/// Rows read ahead on a thread of their own, in batches, so the two files are parsed in
/// parallel while the join runs.
struct Cursor {
    rx: std::sync::mpsc::Receiver<Result<Vec<Item>, TableError>>,
    batch: std::vec::IntoIter<Item>,
    current: Item,
    keys: usize,
    values: usize,
    key_at: Vec<usize>,
    core_at: Vec<usize>,
    _reader: std::thread::JoinHandle<()>,
}

/// One row as read: a CSV/TSV record, or a projected JSON row.
enum Item {
    Tsv(Vec<u8>, Vec<u32>),
    Record(csv::ByteRecord),
    Row(Row),
}

/// Field `i` of a TSV line split at `bounds`.
fn field<'a>(line: &'a [u8], bounds: &[u32], i: usize) -> &'a [u8] {
    &line[bounds[i] as usize..bounds[i + 1] as usize - 1]
}

/// Rows per batch handed from a reading thread to the join.
const BATCH_ROWS: usize = 4096;

impl Rows {
    fn spawn(mut self) -> Cursor {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let (keys, values) = (self.key_at.len(), self.core_at.len());
        let (key_at, core_at) = (self.key_at.clone(), self.core_at.clone());
        let reader = std::thread::spawn(move || loop {
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            let result = loop {
                match self.advance() {
                    Ok(true) => {
                        batch.push(if let Some((line, bounds)) = self.tsv.take() {
                            Item::Tsv(line, bounds)
                        } else if self.is_record {
                            Item::Record(self.record.clone())
                        } else {
                            Item::Row(std::mem::take(&mut self.owned))
                        });
                        if batch.len() == BATCH_ROWS {
                            break Ok(true);
                        }
                    }
                    Ok(false) => break Ok(false),
                    Err(e) => break Err(e),
                }
            };
            match result {
                Ok(more) => {
                    let last = !more;
                    if (!batch.is_empty() && tx.send(Ok(batch)).is_err()) || last {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        Cursor {
            rx,
            batch: Vec::new().into_iter(),
            current: Item::Row((Vec::new(), Vec::new())),
            keys,
            values,
            key_at,
            core_at,
            _reader: reader,
        }
    }
}

impl Cursor {
    fn advance(&mut self) -> Result<bool, TableError> {
        loop {
            if let Some(item) = self.batch.next() {
                self.current = item;
                return Ok(true);
            }
            match self.rx.recv() {
                Ok(Ok(batch)) => self.batch = batch.into_iter(),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(false),
            }
        }
    }

    fn key(&self, i: usize) -> &[u8] {
        match &self.current {
            Item::Tsv(line, bounds) => field(line, bounds, self.key_at[i]),
            Item::Record(r) => r.get(self.key_at[i]).unwrap_or(b""),
            Item::Row(row) => row.0[i].as_bytes(),
        }
    }

    fn value(&self, i: usize) -> &[u8] {
        match &self.current {
            Item::Tsv(line, bounds) => field(line, bounds, self.core_at[i]),
            Item::Record(r) => r.get(self.core_at[i]).unwrap_or(b""),
            Item::Row(row) => row.1[i].as_bytes(),
        }
    }

    fn row(&self) -> Row {
        let text = |b: &[u8]| match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        };
        (
            (0..self.keys).map(|i| text(self.key(i))).collect(),
            (0..self.values).map(|i| text(self.value(i))).collect(),
        )
    }

    /// The current key's fields joined by U+001F into `out`.
    fn joined_key(&self, out: &mut String) {
        out.clear();
        for i in 0..self.keys {
            if i > 0 {
                out.push('\u{1f}');
            }
            out.push_str(&String::from_utf8_lossy(self.key(i)));
        }
    }

    fn same_key(&self, other: &Cursor) -> bool {
        (0..self.keys).all(|i| self.key(i) == other.key(i))
    }

    fn next_row(&mut self) -> Result<Option<Row>, TableError> {
        Ok(if self.advance()? {
            Some(self.row())
        } else {
            None
        })
    }
}

fn format_name(format: TableFormat) -> &'static str {
    match format {
        TableFormat::Tsv => "TSV",
        TableFormat::Csv => "CSV",
        TableFormat::Jsonl => "JSON lines",
        TableFormat::Json => "a JSON array of objects",
    }
}

/// Compares table `a` with table `b` (`name_a`/`name_b` give the formats: the files may be
/// snapshots without extensions); every difference goes to `found` as it is found.
pub fn diff_tables(
    a: &Path,
    name_a: &str,
    b: &Path,
    name_b: &str,
    options: &TableOptions,
    found: &mut dyn FnMut(Difference),
) -> Result<TableSummary, TableError> {
    if options.key.is_empty() {
        return Err(TableError::NoKey);
    }
    let mut ra = Rows::open(a, name_a, options.format)?;
    let mut rb = Rows::open(b, name_b, options.format)?;
    let mut summary = TableSummary {
        format_a: Some(ra.format),
        format_b: Some(rb.format),
        key: options.key.clone(),
        ..TableSummary::default()
    };
    let core: Vec<String> = if options.columns.is_empty() {
        ra.header
            .iter()
            .filter(|c| !options.key.contains(c) && rb.header.contains(c))
            .cloned()
            .collect()
    } else {
        options.columns.clone()
    };
    summary.columns_only_in_a = ra
        .header
        .iter()
        .filter(|c| !rb.header.contains(c))
        .cloned()
        .collect();
    summary.columns_only_in_b = rb
        .header
        .iter()
        .filter(|c| !ra.header.contains(c))
        .cloned()
        .collect();
    ra.project(&options.key, &core)?;
    rb.project(&options.key, &core)?;
    let mut ra = ra.spawn();
    let mut rb = rb.spawn();
    summary.columns = core.clone();
    let mut join = Join {
        core: &core,
        tolerance: options.tolerance,
        summary,
        found,
    };
    // Rows waiting for their partner, by their key's fields joined (looked up without copying
    // the current row).
    let mut waiting_a: HashMap<String, Row> = HashMap::new();
    let mut waiting_b: HashMap<String, Row> = HashMap::new();
    let mut waiting_bytes = 0usize;
    let mut joined = String::new();
    let (mut done_a, mut done_b) = (false, false);
    let (mut has_a, mut has_b) = (false, false);
    let (mut need_a, mut need_b) = (true, true);
    loop {
        if need_a {
            has_a = !done_a && ra.advance()?;
            done_a |= !has_a;
            join.summary.rows_a += u64::from(has_a);
            need_a = false;
        }
        if need_b {
            has_b = !done_b && rb.advance()?;
            done_b |= !has_b;
            join.summary.rows_b += u64::from(has_b);
            need_b = false;
        }
        if !has_a && !has_b {
            break;
        }
        if has_a && has_b && ra.same_key(&rb) {
            // In step: compared in place, nothing copied unless a value differs.
            join.compare_in_place(&ra, &rb);
            (need_a, need_b) = (true, true);
        } else {
            // Out of step: a row whose partner already waits is compared and only its side
            // moves on, which brings the two back in step after a row missing on one side.
            if has_a {
                ra.joined_key(&mut joined);
                if let Some(other) = waiting_b.remove(joined.as_str()) {
                    waiting_bytes = waiting_bytes.saturating_sub(row_bytes(&other.0, &other.1));
                    join.compare_with_waiting(&ra, &other, true);
                    need_a = true;
                    continue;
                }
            }
            if has_b {
                rb.joined_key(&mut joined);
                if let Some(other) = waiting_a.remove(joined.as_str()) {
                    waiting_bytes = waiting_bytes.saturating_sub(row_bytes(&other.0, &other.1));
                    join.compare_with_waiting(&rb, &other, false);
                    need_b = true;
                    continue;
                }
            }
            // Neither partner is here yet: both rows wait.
            if has_a {
                ra.joined_key(&mut joined);
                let row = ra.row();
                waiting_bytes += row_bytes(&row.0, &row.1);
                if let Some(old) = waiting_a.insert(joined.clone(), row) {
                    join.duplicate(old.0, "a");
                }
                need_a = true;
            }
            if has_b {
                rb.joined_key(&mut joined);
                let row = rb.row();
                waiting_bytes += row_bytes(&row.0, &row.1);
                if let Some(old) = waiting_b.insert(joined.clone(), row) {
                    join.duplicate(old.0, "b");
                }
                need_b = true;
            }
        }
        if waiting_bytes > options.memory_budget {
            join.summary.spilled = true;
            // A current row not dealt with yet goes to disk with the ones waiting.
            if has_a && !need_a {
                ra.joined_key(&mut joined);
                waiting_a.insert(joined.clone(), ra.row());
            }
            if has_b && !need_b {
                rb.joined_key(&mut joined);
                waiting_b.insert(joined.clone(), rb.row());
            }
            spill_and_finish(
                &mut ra,
                &mut rb,
                (done_a, done_b),
                by_key(waiting_a),
                by_key(waiting_b),
                options,
                &mut join,
            )?;
            return Ok(join.summary);
        }
    }
    join.leftovers(by_key(waiting_a), by_key(waiting_b));
    Ok(join.summary)
}

/// The waiting rows by their key.
fn by_key(waiting: HashMap<String, Row>) -> HashMap<Vec<String>, Vec<String>> {
    waiting.into_values().collect()
}

fn row_bytes(key: &[String], values: &[String]) -> usize {
    // Strings, their headers, and the table entry.
    key.iter()
        .chain(values)
        .map(|s| s.len() + 24)
        .sum::<usize>()
        + 64
}

struct Join<'a> {
    core: &'a [String],
    tolerance: Tolerance,
    summary: TableSummary,
    found: &'a mut dyn FnMut(Difference),
}

impl Join<'_> {
    /// Compares the current rows of two readers whose keys are equal.
    fn compare_in_place(&mut self, ra: &Cursor, rb: &Cursor) {
        let mut noisy = false;
        let mut differs = false;
        for i in 0..self.core.len() {
            match self.tolerance.compare_bytes(ra.value(i), rb.value(i)) {
                Verdict::Equal => {}
                Verdict::WithinTolerance => noisy = true,
                Verdict::Different => {
                    differs = true;
                    break;
                }
            }
        }
        if differs {
            let (key, a) = ra.row();
            let (_, b) = rb.row();
            self.compare(&key, &a, &b);
        } else {
            self.summary.matched += 1;
            if noisy {
                self.summary.within_tolerance += 1;
            }
        }
    }

    /// Compares the cursor's current row with a row that waited for it (`cursor_is_a`: which
    /// side the cursor reads).
    fn compare_with_waiting(&mut self, cursor: &Cursor, waiting: &Row, cursor_is_a: bool) {
        let mut noisy = false;
        for i in 0..self.core.len() {
            let (x, y) = if cursor_is_a {
                (cursor.value(i), waiting.1[i].as_bytes())
            } else {
                (waiting.1[i].as_bytes(), cursor.value(i))
            };
            match self.tolerance.compare_bytes(x, y) {
                Verdict::Equal => {}
                Verdict::WithinTolerance => noisy = true,
                Verdict::Different => {
                    let (_, mine) = cursor.row();
                    let (a, b) = if cursor_is_a {
                        (&mine, &waiting.1)
                    } else {
                        (&waiting.1, &mine)
                    };
                    self.compare(&waiting.0, a, b);
                    return;
                }
            }
        }
        self.summary.matched += 1;
        if noisy {
            self.summary.within_tolerance += 1;
        }
    }

    fn compare(&mut self, key: &[String], a: &[String], b: &[String]) {
        let mut differing = Vec::new();
        let mut noisy = false;
        for (i, column) in self.core.iter().enumerate() {
            match self.tolerance.compare(&a[i], &b[i]) {
                Verdict::Equal => {}
                Verdict::WithinTolerance => noisy = true,
                Verdict::Different => differing.push(ValueDiff {
                    column: column.clone(),
                    a: a[i].clone(),
                    b: b[i].clone(),
                }),
            }
        }
        if differing.is_empty() {
            self.summary.matched += 1;
            if noisy {
                self.summary.within_tolerance += 1;
            }
        } else {
            self.summary.mismatched += 1;
            self.summary.mismatched_values += differing.len() as u64;
            (self.found)(Difference::Mismatch {
                key: key.to_vec(),
                values: differing,
            });
        }
    }

    fn duplicate(&mut self, key: Vec<String>, file: &'static str) {
        self.summary.duplicate_keys += 1;
        (self.found)(Difference::DuplicateKey { key, in_file: file });
    }

    fn leftovers(
        &mut self,
        waiting_a: HashMap<Vec<String>, Vec<String>>,
        waiting_b: HashMap<Vec<String>, Vec<String>>,
    ) {
        let mut missing: Vec<Vec<String>> = waiting_a.into_keys().collect();
        missing.sort_unstable();
        for key in missing {
            self.summary.missing_in_b += 1;
            (self.found)(Difference::MissingInB { key });
        }
        let mut new: Vec<Vec<String>> = waiting_b.into_keys().collect();
        new.sort_unstable();
        for key in new {
            self.summary.new_in_b += 1;
            (self.found)(Difference::NewInB { key });
        }
    }
}

/// Writes what waits and the rest of both files into hash partitions on disk, then joins each
/// pair of partitions in memory.
fn spill_and_finish(
    ra: &mut Cursor,
    rb: &mut Cursor,
    (done_a, done_b): (bool, bool),
    waiting_a: HashMap<Vec<String>, Vec<String>>,
    waiting_b: HashMap<Vec<String>, Vec<String>>,
    options: &TableOptions,
    join: &mut Join<'_>,
) -> Result<(), TableError> {
    const PARTITIONS: usize = 64;
    std::fs::create_dir_all(&options.scratch).map_err(|source| TableError::Io {
        action: "create",
        path: options.scratch.clone(),
        source,
    })?;
    let dir = tempfile::Builder::new()
        .prefix(".diff-")
        .tempdir_in(&options.scratch)
        .map_err(|source| TableError::Io {
            action: "create a folder in",
            path: options.scratch.clone(),
            source,
        })?;
    let spill = |side: &str,
                 waiting: HashMap<Vec<String>, Vec<String>>,
                 rows: &mut Cursor,
                 done: bool,
                 count: &mut u64|
     -> Result<Vec<PathBuf>, TableError> {
        let paths: Vec<PathBuf> = (0..PARTITIONS)
            .map(|i| dir.path().join(format!("{side}-{i}")))
            .collect();
        let mut writers = paths
            .iter()
            .map(|p| {
                std::fs::File::create(p)
                    .map(|f| BufWriter::with_capacity(64 * 1024, f))
                    .map_err(|source| TableError::Io {
                        action: "create",
                        path: p.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut put = |key: &[String], values: &[String]| -> Result<(), TableError> {
            let i = partition(key, PARTITIONS);
            write_row(&mut writers[i], key, values).map_err(|source| TableError::Io {
                action: "write",
                path: paths[i].clone(),
                source,
            })
        };
        for (key, values) in waiting {
            put(&key, &values)?;
        }
        if !done {
            while let Some((key, values)) = rows.next_row()? {
                *count += 1;
                put(&key, &values)?;
            }
        }
        for (w, p) in writers.iter_mut().zip(&paths) {
            w.flush().map_err(|source| TableError::Io {
                action: "write",
                path: p.clone(),
                source,
            })?;
        }
        Ok(paths)
    };
    let mut rows_a = 0;
    let mut rows_b = 0;
    let parts_a = spill("a", waiting_a, ra, done_a, &mut rows_a)?;
    let parts_b = spill("b", waiting_b, rb, done_b, &mut rows_b)?;
    join.summary.rows_a += rows_a;
    join.summary.rows_b += rows_b;
    for (pa, pb) in parts_a.iter().zip(&parts_b) {
        let mut waiting_a: HashMap<Vec<String>, Vec<String>> = HashMap::new();
        for_each_row(pa, |key, values| match waiting_a.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => join.duplicate(e.key().clone(), "a"),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(values);
            }
        })?;
        let mut waiting_b: HashMap<Vec<String>, Vec<String>> = HashMap::new();
        for_each_row(pb, |key, values| match waiting_a.remove(&key) {
            Some(other) => join.compare(&key, &other, &values),
            None => {
                if waiting_b.insert(key.clone(), values).is_some() {
                    join.duplicate(key, "b");
                }
            }
        })?;
        join.leftovers(waiting_a, waiting_b);
    }
    Ok(())
}

fn partition(key: &[String], n: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % n as u64) as usize
}

/// A row on disk: field count, then each field as a length and its bytes.
fn write_row(out: &mut impl Write, key: &[String], values: &[String]) -> std::io::Result<()> {
    out.write_all(&(key.len() as u32).to_le_bytes())?;
    out.write_all(&(values.len() as u32).to_le_bytes())?;
    for field in key.iter().chain(values) {
        out.write_all(&(field.len() as u32).to_le_bytes())?;
        out.write_all(field.as_bytes())?;
    }
    Ok(())
}

fn for_each_row(
    path: &Path,
    mut each: impl FnMut(Vec<String>, Vec<String>),
) -> Result<(), TableError> {
    let io = |source| TableError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let mut input = BufReader::with_capacity(256 * 1024, std::fs::File::open(path).map_err(io)?);
    let mut word = [0u8; 4];
    loop {
        match input.read_exact(&mut word) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(io(e)),
        }
        let keys = u32::from_le_bytes(word) as usize;
        input.read_exact(&mut word).map_err(io)?;
        let values = u32::from_le_bytes(word) as usize;
        let mut fields = Vec::with_capacity(keys + values);
        for _ in 0..keys + values {
            input.read_exact(&mut word).map_err(io)?;
            let mut bytes = vec![0u8; u32::from_le_bytes(word) as usize];
            input.read_exact(&mut bytes).map_err(io)?;
            fields.push(String::from_utf8(bytes).map_err(|e| io(std::io::Error::other(e)))?);
        }
        let values = fields.split_off(keys);
        each(fields, values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(
        a: &Path,
        b: &Path,
        key: &[&str],
        tol: &str,
        budget: usize,
    ) -> (TableSummary, Vec<Difference>) {
        let options = TableOptions {
            key: key.iter().map(|s| s.to_string()).collect(),
            columns: Vec::new(),
            tolerance: Tolerance::parse(tol).unwrap(),
            memory_budget: budget,
            scratch: a.parent().unwrap().join("scratch"),
            format: None,
        };
        let mut found = Vec::new();
        let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
        let summary =
            diff_tables(a, &name(a), b, &name(b), &options, &mut |d| found.push(d)).unwrap();
        (summary, found)
    }

    #[test]
    fn tolerances_parse() {
        assert_eq!(Tolerance::parse("1e-6").unwrap().absolute, 1e-6);
        let t = Tolerance::parse("abs=0.5, rel=1e-3").unwrap();
        assert_eq!((t.absolute, t.relative), (0.5, 1e-3));
        assert!(Tolerance::parse("x=1").is_err());
        assert!(Tolerance::parse("-1").is_err());
    }

    #[test]
    fn keyed_rows_are_matched_in_any_order_with_noise_under_the_tolerance() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.tsv",
            "gene\tsource\tscore\tnote\nA\tx\t1.0\tn\nB\tx\t2.0\tn\nC\tx\t3.0\tn\nD\tx\t4\tn\n",
        );
        let b = write(dir.path(), "b.tsv", "gene\tsource\tscore\tnote\nC\tx\t3.0000001\tn\nA\tx\t1.0\tn\nB\tx\t2.5\tn\nE\tx\t5\tn\n");
        for budget in [1 << 20, 0] {
            let (s, found) = run(&a, &b, &["gene", "source"], "abs=1e-6", budget);
            assert_eq!(s.spilled, budget == 0);
            assert_eq!((s.rows_a, s.rows_b), (4, 4));
            assert_eq!(s.matched, 1 + 1, "A, and C within the tolerance; {found:?}");
            assert_eq!(s.within_tolerance, 1);
            assert_eq!(s.mismatched, 1, "B's score: {found:?}");
            assert_eq!((s.missing_in_b, s.new_in_b), (1, 1));
            assert!(found.contains(&Difference::MissingInB {
                key: vec!["D".into(), "x".into()]
            }));
            assert!(found.contains(&Difference::NewInB {
                key: vec!["E".into(), "x".into()]
            }));
            assert!(found.contains(&Difference::Mismatch {
                key: vec!["B".into(), "x".into()],
                values: vec![ValueDiff {
                    column: "score".into(),
                    a: "2.0".into(),
                    b: "2.5".into()
                }],
            }));
        }
    }

    #[test]
    fn a_row_missing_on_one_side_does_not_throw_the_rest_out_of_step() {
        let dir = tempfile::tempdir().unwrap();
        let rows = |skip: usize, extra: bool| {
            let mut t = String::from("id\tv\n");
            for i in 0..1000 {
                if i != skip {
                    t.push_str(&format!("k{i}\t{i}\n"));
                }
            }
            if extra {
                t.push_str("new\t1\n");
            }
            t
        };
        let a = write(dir.path(), "a.tsv", &rows(usize::MAX, false));
        let b = write(dir.path(), "b.tsv", &rows(10, true));
        // A budget of a few rows: only a resynchronising join stays under it.
        let (s, found) = run(&a, &b, &["id"], "0", 2_000);
        assert!(!s.spilled, "{s:?}");
        assert_eq!(
            (s.matched, s.missing_in_b, s.new_in_b),
            (999, 1, 1),
            "{found:?}"
        );
        let (s, _) = run(&b, &a, &["id"], "0", 2_000);
        assert!(!s.spilled, "{s:?}");
        assert_eq!((s.matched, s.missing_in_b, s.new_in_b), (999, 1, 1));
    }

    #[test]
    fn only_the_core_columns_count_and_formats_mix() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.csv", "id,value,meta\n1,\"1,5\",x\n2,3,y\n");
        let b = write(dir.path(), "b.jsonl", "{\"id\": 1, \"value\": \"1,5\", \"meta\": \"changed\"}\n\n{\"id\": 2, \"value\": 3.0, \"meta\": \"y\"}\n");
        let options = TableOptions {
            key: vec!["id".into()],
            columns: vec!["value".into()],
            tolerance: Tolerance::default(),
            memory_budget: 1 << 20,
            scratch: dir.path().join("s"),
            format: None,
        };
        let mut found = Vec::new();
        let s = diff_tables(&a, "a.csv", &b, "b.jsonl", &options, &mut |d| found.push(d)).unwrap();
        assert!(s.is_same(), "{s:?} {found:?}");
        assert_eq!(s.matched, 2);
        let missing = TableOptions {
            columns: vec!["nope".into()],
            ..options
        };
        assert!(matches!(
            diff_tables(&a, "a.csv", &b, "b.jsonl", &missing, &mut |_| {}),
            Err(TableError::NoColumn { .. })
        ));
    }
}
