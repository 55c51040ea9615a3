//! Every UnixFS fixture in `fixtures/inspect.json` read back with trove's reader: each entry's
//! path, CID, kind, size and sha256 as the independent JS stack reports them; roots re-imported
//! with the parameters listed under `reproduced_by` give the same CID; partial DAGs fail naming
//! the missing block.

use crate::golden::{import, Input};
use crate::support::{read_tree, vectors_dir};
use serde_json::Value;
use sha2::Digest;
use std::collections::BTreeMap;
use trove::content::{parse_cid, Cid};
use trove::store::MemoryStore;
use trove::unixfs::{ImportParams, NodeKind, ReadError, Reader};

fn load(rel: &str) -> (MemoryStore, Vec<Cid>) {
    let store = MemoryStore::new();
    let path = vectors_dir().join("fixtures").join(rel);
    let file = std::fs::File::open(&path).unwrap();
    let summary = trove::car::import_car(std::io::BufReader::new(file), &store)
        .unwrap_or_else(|e| panic!("{rel}: import failed: {e}"));
    (store, summary.roots.iter().map(|r| r.root).collect())
}

fn inspect() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(vectors_dir().join("fixtures/inspect.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cars"].as_object().unwrap().clone()
}

/// `v1-raw-256-174` → parameters.
fn params(spec: &str) -> Option<ImportParams> {
    let parts: Vec<&str> = spec.split('-').collect();
    if parts.len() != 4 {
        return None;
    }
    Some(ImportParams {
        cid_version: if parts[0] == "v0" {
            cid::Version::V0
        } else {
            cid::Version::V1
        },
        raw_leaves: parts[1] == "raw",
        chunker: trove::unixfs::Chunker::Size(parts[2].parse().ok()?),
        max_links: parts[3].parse().ok()?,
        ..ImportParams::default()
    })
}

/// The `reproduced_by` specs of a fixture entry that [`params`] understands, with their
/// parameters.
fn reproduced_by(info: &Value) -> impl Iterator<Item = (&Value, ImportParams)> {
    info.get("reproduced_by")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|spec| params(spec.as_str().unwrap()).map(|p| (spec, p)))
}

/// Every path under `cid` (plain and HAMT directories listed recursively) → (CID, kind).
fn walk<G: trove::store::BlockGetter>(
    reader: &Reader<G>,
    cid: &Cid,
    prefix: &str,
    out: &mut BTreeMap<String, (Cid, Result<NodeKind, String>)>,
) {
    let Ok(entries) = reader.list(cid) else {
        return;
    };
    for entry in entries {
        let path = if prefix.is_empty() {
            entry.name.clone()
        } else {
            format!("{prefix}/{}", entry.name)
        };
        let kind = reader.kind(&entry.cid).map_err(|e| e.to_string());
        out.insert(path.clone(), (entry.cid, kind.clone()));
        if matches!(kind, Ok(NodeKind::Directory | NodeKind::ShardedDirectory)) {
            walk(reader, &entry.cid, &path, out);
        }
    }
}

fn sha256_of<G: trove::store::BlockGetter>(reader: &Reader<G>, cid: &Cid) -> (u64, String) {
    let mut bytes = Vec::new();
    reader.read_file(cid, 0, None, &mut bytes).unwrap();
    let digest = sha2::Sha256::digest(&bytes);
    (
        bytes.len() as u64,
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    )
}

fn kind_matches(expected: &str, actual: &Result<NodeKind, String>) -> bool {
    match (expected, actual) {
        ("raw" | "file", Ok(NodeKind::File { .. })) => true,
        ("directory", Ok(NodeKind::Directory)) => true,
        ("hamt-sharded-directory", Ok(NodeKind::ShardedDirectory)) => true,
        ("symlink", Ok(NodeKind::Symlink { .. })) => true,
        ("object", Ok(NodeKind::Other { .. })) => true,
        (e, Err(msg)) if e.starts_with("unreadable: missing block ") => {
            msg.contains(e.trim_start_matches("unreadable: missing block "))
        }
        _ => false,
    }
}

#[test]
fn unixfs_fixtures_read_back_as_the_reference_reports() {
    let mut checked_entries = 0;
    let mut reimports = 0;
    for (rel, info) in inspect() {
        let Some(unixfs) = info.get("unixfs").and_then(Value::as_array) else {
            continue;
        };
        let complete = info["dag_complete"].as_bool() == Some(true);
        if info
            .get("hash_mismatches")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            > 0
        {
            continue; // covered by the CAR tests: the import itself must fail
        }
        if info.get("section_error").is_some() {
            continue; // covered by the CAR tests
        }
        let (store, _) = load(&rel);
        let reader = Reader::new(&store);
        for root_info in unixfs {
            let root = parse_cid(root_info["root"].as_str().unwrap()).unwrap();
            let ty = root_info["type"].as_str().unwrap();
            match ty {
                "directory" | "hamt-sharded-directory"
                    if complete || rel.contains("simple-unixfs-missing") =>
                {
                    let mut found = BTreeMap::new();
                    walk(&reader, &root, "", &mut found);
                    let entries = root_info["entries"].as_array().unwrap();
                    if complete {
                        assert_eq!(
                            found.len() as u64,
                            root_info["entries_total"].as_u64().unwrap(),
                            "{rel}: entry count"
                        );
                    }
                    for e in entries {
                        let path = e["path"].as_str().unwrap();
                        let (cid, kind) = found
                            .get(path)
                            .unwrap_or_else(|| panic!("{rel}: entry `{path}` not found"));
                        assert_eq!(cid.to_string(), e["cid"].as_str().unwrap(), "{rel}: {path}");
                        let expected_kind = e["kind"].as_str().unwrap();
                        assert!(
                            kind_matches(expected_kind, kind),
                            "{rel}: {path}: {kind:?} vs {expected_kind}"
                        );
                        if let Some(sha) = e.get("sha256").and_then(Value::as_str) {
                            if matches!(kind, Ok(NodeKind::File { .. })) {
                                let (size, digest) = sha256_of(&reader, cid);
                                assert_eq!(digest, sha, "{rel}: {path} content");
                                assert_eq!(size, e["size"].as_u64().unwrap(), "{rel}: {path} size");
                            }
                        }
                        // Every entry with safe names also resolves by path (HAMTs by hash).
                        if path
                            .split('/')
                            .all(|c| !c.is_empty() && c != "." && c != "..")
                        {
                            assert_eq!(
                                reader.resolve(&root, path).unwrap(),
                                *cid,
                                "{rel}: resolve {path}"
                            );
                        }
                        for (spec, p) in reproduced_by(e) {
                            let mut bytes = Vec::new();
                            reader.read_file(cid, 0, None, &mut bytes).unwrap();
                            assert_eq!(
                                import(&p, &Input::File(bytes)).cid,
                                *cid,
                                "{rel}: {path} {spec}"
                            );
                            reimports += 1;
                        }
                        checked_entries += 1;
                    }
                }
                "file" | "raw" if complete => {
                    let (size, digest) = sha256_of(&reader, &root);
                    assert_eq!(digest, root_info["sha256"].as_str().unwrap(), "{rel}");
                    assert_eq!(size, root_info["size"].as_u64().unwrap(), "{rel}");
                    checked_entries += 1;
                }
                _ => {}
            }
            for (spec, p) in reproduced_by(root_info) {
                let tree = read_tree(&reader, &root);
                assert_eq!(import(&p, &tree).cid, root, "{rel}: re-import with {spec}");
                reimports += 1;
            }
        }
    }
    assert!(
        checked_entries >= 200,
        "only {checked_entries} entries checked"
    );
    eprintln!("{checked_entries} entries, {reimports} re-imports");
    assert!(reimports >= 282, "only {reimports} re-imports checked");
}

#[test]
fn missing_middle_leaf_fails_and_names_the_block() {
    let (store, roots) = load(
        "gateway-conformance/fixtures/trustless_gateway_car/file-3k-and-3-blocks-missing-block.car",
    );
    let reader = Reader::new(&store);
    let mut out = Vec::new();
    let err = reader.read_file(&roots[0], 0, None, &mut out).unwrap_err();
    match err {
        ReadError::MissingBlock(cid) => {
            assert_eq!(
                cid.to_string(),
                "QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W"
            )
        }
        other => panic!("unexpected {other}"),
    }
    assert!(out.len() < 3072, "must never produce the full length");
    // The bytes before the hole are still readable as a range.
    let mut first = Vec::new();
    reader
        .read_file(&roots[0], 0, Some(1024), &mut first)
        .unwrap();
    assert_eq!(first.len(), 1024);
}

#[test]
fn partial_hamt_resolves_a_path_but_cannot_be_listed() {
    let (store, roots) =
        load("go-car/cmd/car/testdata/inputs/wikipedia-cryptographic-hash-function.car");
    let reader = Reader::new(&store);
    let cid = reader
        .resolve(&roots[0], "wiki/Cryptographic_hash_function")
        .expect("the path's shards are all in the CAR");
    let mut page = Vec::new();
    reader.read_file(&cid, 0, None, &mut page).unwrap();
    assert!(String::from_utf8_lossy(&page).contains("Cryptographic hash function"));
    let wiki = reader.resolve(&roots[0], "wiki").unwrap();
    assert!(matches!(
        reader.list(&wiki),
        Err(ReadError::MissingBlock(_))
    ));
    assert!(matches!(
        reader.resolve(&roots[0], "wiki/No_such_page_here"),
        Err(ReadError::MissingBlock(_) | ReadError::NotFound { .. })
    ));
}

#[test]
fn dag_cbor_entry_is_reported_not_a_file() {
    let (store, roots) =
        load("gateway-conformance/fixtures/trustless_gateway_car/dir-with-dag-cbor-with-links.car");
    let reader = Reader::new(&store);
    let doc = reader.resolve(&roots[0], "document").unwrap();
    assert!(matches!(reader.kind(&doc).unwrap(), NodeKind::Other { .. }));
    let err = reader
        .read_file(&doc, 0, None, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, ReadError::NotAFile { .. }), "{err}");
}

#[test]
fn byte_ranges_match_slices_of_the_whole_file() {
    let (store, roots) = load("go-car/v2/testdata/sample-v1-with-zero-len-section2.car");
    let reader = Reader::new(&store);
    let mut whole = Vec::new();
    reader.read_file(&roots[0], 0, None, &mut whole).unwrap();
    assert_eq!(whole.len(), 19000);
    for (start, len) in [
        (0, 1),
        (999, 2),
        (1000, 1000),
        (18_999, 5),
        (5, 0),
        (20_000, 3),
        (123, 9000),
    ] {
        let mut part = Vec::new();
        reader
            .read_file(&roots[0], start, Some(len), &mut part)
            .unwrap();
        let s = (start as usize).min(whole.len());
        let e = (s + len as usize).min(whole.len());
        assert_eq!(part, whole[s..e], "range {start}+{len}");
    }
}
