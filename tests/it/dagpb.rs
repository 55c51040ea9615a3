//! The dag-pb and UnixFS `Data` fixtures of `fixtures/INDEX.md` ("dag-pb block fixtures",
//! "Negative decode cases", "UnixFS `Data` protobufs"), against trove's `PbNode` and
//! `UnixfsData` codecs.

use crate::support::{assert_no_failures, fixtures_dir, unhex};
use multibase::Base;
use serde_json::Value;
use std::path::{Path, PathBuf};
use trove::content::{cid_of, format_cid, parse_cid, verify, HashCode, DAG_JSON, DAG_PB};
use trove::dagpb::{DagPbError, PbLink, PbNode};
use trove::unixfs::pb::{DataType, UnixfsData};

fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// codec-fixtures/fixtures/dagpb_*
// ---------------------------------------------------------------------------------------------

/// Every `dagpb_*` fixture directory, with the link count and data length INDEX.md lists.
const DAGPB_FIXTURES: &[(&str, usize, Option<usize>)] = &[
    ("dagpb_11unnamedlinks+data", 11, Some(9)),
    ("dagpb_1link", 1, None),
    ("dagpb_2link+data", 2, Some(9)),
    ("dagpb_4namedlinks+data", 4, Some(2)),
    ("dagpb_7unnamedlinks+data", 7, Some(43)),
    ("dagpb_Data_some", 0, Some(5)),
    ("dagpb_Data_zero", 0, Some(0)),
    ("dagpb_Links_Hash_some", 1, None),
    ("dagpb_Links_Hash_some_Name_some", 1, None),
    ("dagpb_Links_Hash_some_Name_zero", 1, None),
    ("dagpb_Links_Hash_some_Tsize_some", 1, None),
    ("dagpb_Links_Hash_some_Tsize_zero", 1, None),
    ("dagpb_empty", 0, None),
    ("dagpb_simple_forms_1", 0, Some(3)),
    ("dagpb_simple_forms_2", 3, None),
    ("dagpb_simple_forms_3", 3, None),
    ("dagpb_simple_forms_4", 2, None),
];

/// The one file with extension `ext` in `dir`, and its name without the extension.
fn only_file(dir: &Path, ext: &str) -> (PathBuf, String) {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    assert_eq!(found.len(), 1, "{}: one .{ext} file", dir.display());
    let path = found.pop().unwrap();
    let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
    (path, stem)
}

/// A DAG-JSON dag-pb node (`{"Data": {"/": {"bytes": …}}, "Links": [{"Hash": {"/": cid},
/// "Name": …, "Tsize": …}]}`) as a `PbNode`, accepting only that exact form.
fn node_from_dag_json(value: &Value) -> Result<PbNode, String> {
    let map = value.as_object().ok_or("not a map")?;
    if let Some(k) = map.keys().find(|k| *k != "Data" && *k != "Links") {
        return Err(format!("extraneous field {k}"));
    }
    let data = match map.get("Data") {
        None => None,
        Some(v) => Some(dag_json_bytes(v).ok_or("Data must be bytes")?),
    };
    let links = map
        .get("Links")
        .and_then(Value::as_array)
        .ok_or("Links must be a list")?
        .iter()
        .map(|l| {
            let l = l.as_object().ok_or("bad link")?;
            if let Some(k) = l
                .keys()
                .find(|k| !["Hash", "Name", "Tsize"].contains(&k.as_str()))
            {
                return Err(format!("extraneous link field {k}"));
            }
            let cid_text = l
                .get("Hash")
                .and_then(|h| h.as_object())
                .filter(|h| h.len() == 1)
                .and_then(|h| h.get("/"))
                .and_then(Value::as_str)
                .ok_or("link Hash must be a CID")?;
            let hash = parse_cid(cid_text).map_err(|e| e.to_string())?;
            let name = match l.get("Name") {
                None => None,
                Some(n) => Some(n.as_str().ok_or("Name must be a string")?.to_string()),
            };
            let tsize = match l.get("Tsize") {
                None => None,
                Some(t) => Some(t.as_u64().ok_or("Tsize must be an unsigned integer")?),
            };
            Ok(PbLink { hash, name, tsize })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(PbNode { links, data })
}

/// DAG-JSON bytes: `{"/": {"bytes": "<base64, no padding>"}}`.
fn dag_json_bytes(value: &Value) -> Option<Vec<u8>> {
    let outer = value.as_object().filter(|m| m.len() == 1)?;
    let inner = outer.get("/")?.as_object().filter(|m| m.len() == 1)?;
    Base::Base64.decode(inner.get("bytes")?.as_str()?).ok()
}

/// Every `dagpb_*` fixture: the `.dag-pb` block decodes strictly, re-encodes byte-identically,
/// its CIDv1 (sha2-256, dag-pb) is the file name (and `verify` agrees), it has INDEX.md's link
/// count and data length, and it equals the node described by the `.dag-json` beside it (whose
/// own CID, dag-json + sha2-256, is its file name); encoding that node gives the block back.
/// Cutting the block's last byte breaks its framing and must be rejected.
#[test]
fn dagpb_codec_fixtures_dir() {
    let root = fixtures_dir().join("codec-fixtures/fixtures");
    let mut on_disk: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dagpb_"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = DAGPB_FIXTURES.iter().map(|f| f.0.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every dagpb_* directory is in the table");

    let mut failures = Vec::new();
    for &(name, want_links, want_data) in DAGPB_FIXTURES {
        let dir = root.join(name);
        let (pb_path, pb_stem) = only_file(&dir, "dag-pb");
        let (json_path, json_stem) = only_file(&dir, "dag-json");
        let bytes = read_bytes(&pb_path);
        let json_bytes = read_bytes(&json_path);
        let mut fail = |msg: String| failures.push(format!("{name}: {msg}"));

        let cid = cid_of(cid::Version::V1, DAG_PB, HashCode::Sha2_256, &bytes);
        if format_cid(&cid) != pb_stem {
            fail(format!("block hashes to {cid}, file is named {pb_stem}"));
        }
        match parse_cid(&pb_stem) {
            Ok(named) => {
                if let Err(e) = verify(&named, &bytes) {
                    fail(format!("verify against the file name: {e}"));
                }
            }
            Err(e) => fail(format!("file name is not a CID: {e}")),
        }
        let json_cid = cid_of(cid::Version::V1, DAG_JSON, HashCode::Sha2_256, &json_bytes);
        if format_cid(&json_cid) != json_stem {
            fail(format!(
                "dag-json hashes to {json_cid}, file is named {json_stem}"
            ));
        }

        let node = match PbNode::decode(&bytes) {
            Ok(node) => node,
            Err(e) => {
                fail(format!("strict decode failed: {e}"));
                continue;
            }
        };
        if node.encode() != bytes {
            fail("re-encoding is not byte-identical".to_string());
        }
        if node.links.len() != want_links || node.data.as_ref().map(Vec::len) != want_data {
            fail(format!(
                "{} links and data {:?}, INDEX.md says {want_links} and {want_data:?}",
                node.links.len(),
                node.data.as_ref().map(Vec::len)
            ));
        }

        let json: Value = match serde_json::from_slice(&json_bytes) {
            Ok(v) => v,
            Err(e) => {
                fail(format!("dag-json does not parse: {e}"));
                continue;
            }
        };
        match node_from_dag_json(&json) {
            Ok(expected) => {
                if node != expected {
                    fail(format!(
                        "decoded node differs from the dag-json:\n  got  {node:?}\n  want {expected:?}"
                    ));
                }
                if expected.encode() != bytes {
                    fail("encoding the dag-json's node does not give the block".to_string());
                }
            }
            Err(e) => fail(format!("dag-json is not a dag-pb form: {e}")),
        }

        if !bytes.is_empty() && PbNode::decode(&bytes[..bytes.len() - 1]).is_ok() {
            fail("the block minus its last byte still decodes".to_string());
        }
    }
    assert_no_failures(&failures);
}

// ---------------------------------------------------------------------------------------------
// codec-fixtures/negative-fixtures/dag-pb/decode/edges.json
// ---------------------------------------------------------------------------------------------

/// Every hex in `edges.json` is rejected by `PbNode::decode`, with the kind of error upstream
/// names: a link without a valid Hash is `BadLinkHash`, a second Links section after Data is a
/// framing error.
#[test]
fn dagpb_negative_decode_edges() {
    let path = fixtures_dir().join("codec-fixtures/negative-fixtures/dag-pb/decode/edges.json");
    let cases: Value = serde_json::from_slice(&read_bytes(&path)).unwrap();
    let cases = cases.as_array().expect("a list");
    assert_eq!(cases.len(), 9, "edges.json has 9 cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let hex = case["hex"].as_str().unwrap();
        let upstream = case["error"].as_str().unwrap();
        let label = format!("edges.json {name:?} ({hex}, upstream: {upstream})");
        match PbNode::decode(&unhex(hex)) {
            Ok(node) => failures.push(format!("{label}: accepted as {node:?}")),
            Err(e) => {
                let kind_ok = match e {
                    DagPbError::BadLinkHash { .. } => upstream.contains("Invalid Hash field"),
                    DagPbError::Malformed(_) => upstream.contains("duplicate Links section"),
                };
                if !kind_ok {
                    failures.push(format!("{label}: rejected, but as {e:?}"));
                }
            }
        }
    }
    assert_no_failures(&failures);
}

// ---------------------------------------------------------------------------------------------
// go-unixfsnode/data/fixtures/*.unixfs
// ---------------------------------------------------------------------------------------------

const HELLO: &[u8] = b"Hello UnixFS\n";

/// Every `.unixfs` file of go-unixfsnode's data fixtures decodes to the type and fields INDEX.md
/// states, and re-encodes to the same bytes. The plain files next to them are the content the
/// File message carries.
#[test]
fn unixfs_data_fixtures_dir() {
    let dir = fixtures_dir().join("go-unixfsnode/data/fixtures");
    let file = |kind, data: Option<&[u8]>, filesize| UnixfsData {
        data: data.map(<[u8]>::to_vec),
        filesize,
        ..UnixfsData::new(kind)
    };
    let cases: Vec<(&str, UnixfsData)> = vec![
        ("directory.unixfs", UnixfsData::new(DataType::Directory)),
        (
            "file.txt.unixfs",
            file(DataType::File, Some(HELLO), Some(13)),
        ),
        // Byte-identical to file.txt.unixfs despite its name: Type=File.
        ("raw.unixfs", file(DataType::File, Some(HELLO), Some(13))),
        (
            "symlink.txt.unixfs",
            file(DataType::Symlink, Some(b"file.txt"), None),
        ),
    ];

    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".unixfs"))
        .collect();
    on_disk.sort();
    let listed: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    assert_eq!(on_disk, listed, "every .unixfs fixture is in the table");

    let mut failures = Vec::new();
    for (name, want) in &cases {
        let bytes = read_bytes(&dir.join(name));
        match UnixfsData::decode(&bytes) {
            Ok(got) => {
                if got != *want {
                    failures.push(format!("{name}: decoded {got:?}, want {want:?}"));
                }
                if got.encode() != bytes {
                    failures.push(format!("{name}: re-encoding differs"));
                }
            }
            Err(e) => failures.push(format!("{name}: does not decode: {e}")),
        }
    }
    for plain in ["file.txt", "directory/file.txt", "symlink.txt"] {
        if read_bytes(&dir.join(plain)) != HELLO {
            failures.push(format!("{plain}: not 'Hello UnixFS\\n'"));
        }
    }
    assert_no_failures(&failures);
}
