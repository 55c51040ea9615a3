//! Shared test helpers: paths to the shared vectors, the vectors' PRNG, and running the binary.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/vectors` next to the crate.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors")
}

/// `../shared` next to the crate.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The vectors README's SplitMix64 generator: little-endian u64 words, cut to `n` bytes.
pub fn splitmix64_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// The content of a non-generated golden input (`text-small`, `hello-world`, `kubo-sharness-*`),
/// read back out of its reference CAR (`car/<name>.v1-raw-256k-174.car`) with trove's own CAR
/// and UnixFS readers.
pub fn content_from_reference_car(name: &str) -> crate::golden::Input {
    let path = vectors_dir().join(format!("car/{name}.v1-raw-256k-174.car"));
    let store = trove::store::MemoryStore::new();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let summary = trove::car::import_car(file, &store).unwrap();
    read_tree(&trove::unixfs::Reader::new(&store), &summary.roots[0].root)
}

/// Reads a whole UnixFS tree into memory.
pub fn read_tree<G: trove::store::BlockGetter>(
    reader: &trove::unixfs::Reader<G>,
    cid: &cid::Cid,
) -> crate::golden::Input {
    use trove::unixfs::NodeKind;
    match reader.kind(cid).unwrap() {
        NodeKind::File { .. } => {
            let mut out = Vec::new();
            reader.read_file(cid, 0, None, &mut out).unwrap();
            crate::golden::Input::File(out)
        }
        NodeKind::Directory | NodeKind::ShardedDirectory => crate::golden::Input::Dir(
            reader
                .list(cid)
                .unwrap()
                .into_iter()
                .map(|e| (e.name, read_tree(reader, &e.cid)))
                .collect(),
        ),
        other => panic!("{cid}: unexpected {other:?}"),
    }
}
