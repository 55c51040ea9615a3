//! The reference CARs of `tests/fixtures/vectors/car/INDEX.tsv`, by file name.
//!
//! The repository keeps the test data small: a CAR whose input the vectors' PRNG generates
//! (`rand-N`, `zeros-N`) in `ipfs dag export` order is not committed, only its row in
//! `INDEX.tsv` (size, sha256, root, block count, the parameters it was made with). [`vector_car`]
//! rebuilds such a CAR from the generated input with trove's importer and CAR writer, and accepts
//! it only if its sha256 equals the reference's: the file a test then reads is byte for byte the
//! CAR the reference implementation wrote, or the test fails here, naming the row. A committed
//! `NAME.gz` (a CAR that compresses well but cannot be rebuilt, such as ipfs-car's order) is
//! unpacked and checked the same way. Rebuilt files go to `CARGO_TARGET_TMPDIR/vector-cars/`,
//! written under a temporary name and renamed, so parallel tests can share them.

use super::{splitmix64_bytes, vectors_dir};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use trove::store::MemoryStore;
use trove::unixfs::ImportParams;

/// One row of `car/INDEX.tsv`.
#[derive(Clone, Debug)]
pub struct CarRow {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub input: String,
    pub root: String,
    pub blocks: u64,
    pub produced_for: String,
}

/// Every row of `car/INDEX.tsv`, in order.
pub fn car_rows() -> Vec<CarRow> {
    let path = vectors_dir().join("car/INDEX.tsv");
    let index =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = index.lines();
    let header: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("INDEX.tsv has no column {name}"))
    };
    let (file, bytes, sha, input, root, blocks, made) = (
        col("car_file"),
        col("bytes"),
        col("sha256"),
        col("input_name"),
        col("root_cid"),
        col("blocks"),
        col("produced_for(impl|params)"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            CarRow {
                file: f[file].to_string(),
                bytes: f[bytes].parse().unwrap(),
                sha256: f[sha].to_string(),
                input: f[input].to_string(),
                root: f[root].to_string(),
                blocks: f[blocks].parse().unwrap(),
                produced_for: f[made].to_string(),
            }
        })
        .collect()
}

/// The path of the reference CAR `file` (a name in `car/INDEX.tsv`): the committed file, or
/// one rebuilt and checked against its recorded sha256 (see the module docs).
pub fn vector_car(file: &str) -> PathBuf {
    let committed = vectors_dir().join("car").join(file);
    if committed.is_file() {
        return committed;
    }
    let row = car_rows()
        .into_iter()
        .find(|r| r.file == file)
        .unwrap_or_else(|| panic!("{file} is not a row of tests/fixtures/vectors/car/INDEX.tsv"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vector-cars");
    let path = dir.join(file);
    if let Ok(bytes) = std::fs::read(&path) {
        if sha256_hex(&bytes) == row.sha256 {
            return path;
        }
    }
    let bytes = rebuild(&row);
    assert_eq!(
        bytes.len() as u64,
        row.bytes,
        "{file}: rebuilt CAR has {} bytes, the reference {}",
        bytes.len(),
        row.bytes
    );
    assert_eq!(
        sha256_hex(&bytes),
        row.sha256,
        "{file}: the rebuilt CAR differs from the reference"
    );
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = tempfile::NamedTempFile::new_in(&dir).unwrap();
    std::fs::write(tmp.path(), &bytes).unwrap();
    tmp.persist(&path).unwrap();
    path
}

/// The reference CAR's bytes, rebuilt from a `.gz` beside the index or from the generated input.
fn rebuild(row: &CarRow) -> Vec<u8> {
    let gz = vectors_dir().join("car").join(format!("{}.gz", row.file));
    if gz.is_file() {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", gz.display()));
        return out;
    }
    let content = generated_input(&row.input).unwrap_or_else(|| {
        panic!(
            "{}: not committed, and its input `{}` is not generated (commit the CAR)",
            row.file, row.input
        )
    });
    assert!(
        row.produced_for.contains("dfs-preorder") || row.file.contains(".v"),
        "{}: only `ipfs dag export` order can be rebuilt",
        row.file
    );
    let params = params_of(&row.produced_for)
        .unwrap_or_else(|| panic!("{}: cannot read its parameters", row.file));
    let (root, blocks) = trove::unixfs::import_bytes(&params, &content);
    assert_eq!(root.cid.to_string(), row.root, "{}: root", row.file);
    let store = MemoryStore::new();
    for block in blocks {
        trove::store::BlockPutter::put_block(&store, &block).unwrap();
    }
    let mut out = Vec::new();
    let summary = trove::car::export_dag(&store, &root.cid, &mut out).unwrap();
    assert_eq!(summary.blocks, row.blocks, "{}: blocks", row.file);
    out
}

/// The bytes of a generated input (`rand-N`: the README's SplitMix64 with seed N; `zeros-N`),
/// or `None` for a literal one.
pub fn generated_input(name: &str) -> Option<Vec<u8>> {
    if let Some(n) = name.strip_prefix("rand-") {
        let n: usize = n.parse().ok()?;
        return Some(splitmix64_bytes(n as u64, n));
    }
    let n: usize = name.strip_prefix("zeros-")?.parse().ok()?;
    Some(vec![0; n])
}

/// The import parameters of an `impl|k=v;k=v…` cell of `INDEX.tsv`.
fn params_of(produced_for: &str) -> Option<ImportParams> {
    let (_, spec) = produced_for.split_once('|')?;
    let kv: HashMap<&str, &str> = spec
        .split([';', ' '])
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let params = ImportParams {
        cid_version: match *kv.get("cid_version")? {
            "0" => cid::Version::V0,
            _ => cid::Version::V1,
        },
        raw_leaves: *kv.get("raw_leaves")? == "true",
        chunker: kv.get("chunker")?.parse().ok()?,
        max_links: kv.get("max_links")?.parse().ok()?,
        ..ImportParams::default()
    };
    (kv.get("hash").copied() == Some("sha2-256")).then_some(params)
}

/// Lowercase hex of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    super::hex(&Sha256::digest(bytes))
}
