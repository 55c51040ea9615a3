//! Every row of `golden_cids.tsv` reproduced by trove's importer. Random and zero inputs are
//! regenerated with the README's PRNG; the small text inputs and directories are read back out
//! of the reference CARs beside the table.

use crate::support::{splitmix64_bytes, vectors_dir};
use std::collections::BTreeMap;
use trove::content::HashCode;
use trove::unixfs::{import_bytes, DagRoot, DirBuilder, ImportOverrides, ImportParams, Profile};

/// A test input: one file's bytes, or a directory of named files.
pub enum Input {
    File(Vec<u8>),
    Dir(BTreeMap<String, Input>),
}

fn params_from(spec: &str) -> ImportParams {
    if let Some(cmd) = spec.strip_prefix("cmd=ipfs add") {
        let cmd = cmd.split(';').next().unwrap();
        let mut o = ImportOverrides::default();
        for arg in cmd.split_whitespace() {
            match arg {
                "--raw-leaves" => o.raw_leaves = Some(true),
                "--raw-leaves=false" => o.raw_leaves = Some(false),
                "--cid-version=1" => o.cid_version = Some(cid::Version::V1),
                "--hash=blake2b-256" => o.hash = Some(HashCode::Blake2b256),
                "(defaults)" => {}
                other => panic!("unknown ipfs add argument {other}"),
            }
        }
        return Profile::UnixfsV0_2015.params().with_overrides(o).unwrap();
    }
    if spec.starts_with("cmd=ipfs-car") {
        return Profile::UnixfsV1_2025.params();
    }
    let mut p = ImportParams::default();
    for kv in spec.split(';') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        match k {
            "cid_version" => {
                p.cid_version = if v == "0" {
                    cid::Version::V0
                } else {
                    cid::Version::V1
                }
            }
            "raw_leaves" => p.raw_leaves = v == "true",
            "chunker" => p.chunker = v.parse().unwrap(),
            "max_links" => p.max_links = v.parse().unwrap(),
            "hash" => assert_eq!(v, "sha2-256"),
            "layout" => assert_eq!(v, "balanced"),
            _ => {}
        }
    }
    p
}

fn input(name: &str, size: usize) -> Input {
    if let Some(seed) = name.strip_prefix("rand-") {
        return Input::File(splitmix64_bytes(seed.parse().unwrap(), size));
    }
    if name.starts_with("zeros-") {
        return Input::File(vec![0; size]);
    }
    crate::support::content_from_reference_car(name)
}

pub fn import(p: &ImportParams, input: &Input) -> DagRoot {
    match input {
        Input::File(bytes) => import_bytes(p, bytes).0,
        Input::Dir(files) => {
            let mut dir = DirBuilder::new(*p);
            for (name, child) in files {
                dir.add(name, import(p, child)).unwrap();
            }
            dir.finish(&mut |_| {})
        }
    }
}

fn wrap(p: &ImportParams, name: &str, root: DagRoot) -> DagRoot {
    let mut dir = DirBuilder::new(*p);
    dir.add(name, root).unwrap();
    dir.finish(&mut |_| {})
}

#[test]
fn golden_cids_are_reproduced() {
    let tsv = std::fs::read_to_string(vectors_dir().join("golden_cids.tsv")).unwrap();
    let mut checked = 0;
    let mut inputs: BTreeMap<String, Input> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, size, params, expected) = (cols[0], cols[2], cols[4], cols[5]);
        let params = params.trim_matches('"');
        let input = inputs
            .entry(name.to_string())
            .or_insert_with(|| input(name, size.parse().unwrap()));
        let p = params_from(params);
        let mut root = import(&p, input);
        let wrapped = params.contains("wrap=true") || params.contains("(default --wrap");
        if wrapped {
            root = wrap(&p, name, root);
        }
        // Kubo's sharness prints this one with `--cid-base=base32`, which shows a CIDv0 as the
        // equivalent CIDv1 in base32.
        let shown = if name == "kubo-sharness-base32" && params.contains("#L293") {
            trove::content::format_cid_in(&root.cid, multibase::Base::Base32Lower)
        } else {
            root.cid.to_string()
        };
        assert_eq!(shown, expected, "{name} with {params}");
        checked += 1;
    }
    assert_eq!(checked, 400);
}
