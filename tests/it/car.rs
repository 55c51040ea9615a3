//! CAR reading, writing, export and import against the shared fixtures (`fixtures/INDEX.md`) and
//! the generated vectors (`car/INDEX.tsv`).

use crate::support::vectors::car_rows;
use crate::support::vectors::CarRow;
use crate::support::{vector_car, vectors_dir};
use std::path::PathBuf;
use trove::car::{
    check_dag, export_dag, import_car, CarError, CarReader, ImportSummary, CARV2_PRAGMA,
};
use trove::content::{parse_cid, Cid};
use trove::store::MemoryStore;
use trove::Hint as _;

/// The verdict `fixtures/INDEX.md` gives a fixture, in the form these tests check it.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// Imports; every block verifies; every root's DAG is complete.
    Accept {
        version: u64,
        roots: &'static [&'static str],
        sections: u64,
    },
    /// Imports; every block verifies; the walk finds `missing[i]` blocks missing under root i.
    Partial {
        roots: &'static [&'static str],
        sections: u64,
        missing: &'static [u64],
    },
    /// Fails to parse (header or a section); `sections_ok` sections read fine before the error,
    /// where INDEX.md says how many.
    Reject { sections_ok: Option<u64> },
    /// Parses (unverified), but one block fails verification: import is an error naming it.
    BadHash { cid: &'static str },
    /// A fuzz-corpus entry: error, no panic.
    Fuzz,
}

use Verdict::*;

const SAMPLE_ROOT: &str = "bafy2bzaced4ueelaegfs5fqu4tzsh6ywbbpfk3cxppupmxfdhbpbhzawfw5oy";
const GENESIS_ROOT: &str = "bafy2bzaceaxm23epjsmh75yvzcecsrbavlmkcxnva66bkdebdcnyw3bjrc74u";
const DOG: &str = "bafyreiavd7u6opdcm6tqmddpnrgmvfb4enxuwglhenejmchnwqvixd5ibm";

const fn accept(version: u64, root: &'static [&'static str], sections: u64) -> Verdict {
    Accept {
        version,
        roots: root,
        sections,
    }
}

/// Every CAR and CAR-like file in `fixtures/INDEX.md`, with its verdict.
const FIXTURES: &[(&str, Verdict)] = &[
    ("boxo/examples/car-file-fetcher/hello.car", accept(1, &["bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"], 1)),
    ("boxo/gateway/testdata/dir-special-chars.car", accept(1, &["bafybeiebgctytpwjp7suihumuyckgbx2wuofmjjncavkamhjen3jpd7vda"], 6)),
    ("boxo/gateway/testdata/directory-with-multilayer-hamt-and-multiblock-files.car", accept(1, &["bafybeid3fd2xxdcd3dbj7trb433h2aqssn6xovjbwnkargjv7fuog4xjdi"], 18)),
    ("boxo/gateway/testdata/fixtures.car", accept(1, &["bafybeif5nf57opy6zwpmf33vsdvicpladdwhptpbdaribk3fvbtxq57nfq"], 7)),
    ("boxo/gateway/testdata/headers-test.car", accept(1, &["bafybeidbcy4u6y55gsemlubd64zk53xoxs73ifd6rieejxcr7xy46mjvky"], 249)),
    ("boxo/gateway/testdata/ipns-hostname-redirects.car", accept(1, &["bafybeidnfzfojuxqvqttbwzb2g3wthsysyhmfuzhcwbu77kv5c3n6b4ugy"], 3)),
    ("boxo/gateway/testdata/path_gateway_dag/dag-cbor-traversal.car", accept(1, &["bafyreibs4utpgbn7uqegmd2goqz4bkyflre2ek2iwv743fhvylwi4zeeim"], 3)),
    ("boxo/gateway/testdata/redirects-query-params.car", accept(1, &["bafybeiee3ltldvmfgsxiqazbatrkbvkl34eanbourajwnavhupb64nnbxa"], 3)),
    ("boxo/gateway/testdata/redirects-spa.car", accept(1, &["bafybeib5lboymwd6p2eo4qb2lkueaine577flvsjjeuevmp2nlio72xv5q"], 3)),
    ("boxo/gateway/testdata/unixfs-dir-with-mode-mtime.car", accept(1, &["bafybeifup24mfbx6iv4xo7k664gzlezzurdnyb36pogxulrb7ed23cxtym"], 10)),
    ("gateway-conformance/fixtures/dir_listing/fixtures.car", accept(1, &["bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i"], 10)),
    ("gateway-conformance/fixtures/gateway-raw-block.car", accept(1, &["bafybeie72edlprgtlwwctzljf6gkn2wnlrddqjbkxo3jomh4n7omwblxly"], 3)),
    ("gateway-conformance/fixtures/path_gateway_dag/dag-pb.car", accept(1, &["bafybeiegxwlgmoh2cny7qlolykdf7aq7g6dlommarldrbm7c4hbckhfcke"], 4)),
    ("gateway-conformance/fixtures/path_gateway_tar/fixtures.car", accept(1, &["bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i"], 10)),
    ("gateway-conformance/fixtures/path_gateway_tar/inside-root.car", accept(1, &["bafybeibfevfxlvxp5vxobr5oapczpf7resxnleb7tkqmdorc4gl5cdva3y"], 4)),
    ("gateway-conformance/fixtures/path_gateway_tar/outside-root.car", accept(1, &["bafybeicaj7kvxpcv4neaqzwhrqqmdstu4dhrwfpknrgebq6nzcecfucvyu"], 2)),
    ("gateway-conformance/fixtures/path_gateway_unixfs/dir-with-files.car", accept(1, &["bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"], 9)),
    ("gateway-conformance/fixtures/path_gateway_unixfs/dir-with-percent-encoded-filename.car", accept(1, &["bafybeig675grnxcmshiuzdaz2xalm6ef4thxxds6o6ypakpghm5kghpc34"], 2)),
    ("gateway-conformance/fixtures/path_gateway_unixfs/symlink.car", accept(1, &["QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt"], 3)),
    ("gateway-conformance/fixtures/trustless_gateway_car/dir-with-dag-cbor-with-links.car", accept(1, &["bafybeia264q44a3kmfc2otctzu4egp2k235o3t7mslz2yjraymp4nv6asi"], 9)),
    ("gateway-conformance/fixtures/trustless_gateway_car/dir-with-duplicate-files.car", accept(1, &["bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"], 9)),
    ("gateway-conformance/fixtures/trustless_gateway_car/file-3k-and-3-blocks-missing-block.car", Partial { roots: &["QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk"], sections: 3, missing: &[1] }),
    ("gateway-conformance/fixtures/trustless_gateway_car/single-layer-hamt-with-multi-block-files.car", accept(1, &["bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i"], 243)),
    ("gateway-conformance/fixtures/trustless_gateway_car/subdir-with-mixed-block-files.car", accept(1, &["bafybeidh6k2vzukelqtrjsmd4p52cpmltd2ufqrdtdg6yigi73in672fwu"], 10)),
    ("gateway-conformance/fixtures/trustless_gateway_car/subdir-with-two-single-block-files.car", accept(1, &["bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu"], 4)),
    ("go-car/cmd/car/testdata/inputs/badheaderlength.car", Reject { sections_ok: None }),
    ("go-car/cmd/car/testdata/inputs/badsectionlength.car", Reject { sections_ok: Some(0) }),
    ("go-car/cmd/car/testdata/inputs/sample-v1.car", accept(1, &[SAMPLE_ROOT], 1049)),
    ("go-car/cmd/car/testdata/inputs/sample-wrapped-v2.car", accept(2, &[SAMPLE_ROOT], 1049)),
    ("go-car/cmd/car/testdata/inputs/simple-unixfs-missing-blocks.car", Partial { roots: &["QmPLPpnptHc1DMhJAWNYMTqBTqqRQNy5WsY7F9pZgsBfMT"], sections: 17, missing: &[3] }),
    ("go-car/cmd/car/testdata/inputs/simple-unixfs.car", accept(1, &["QmPLPpnptHc1DMhJAWNYMTqBTqqRQNy5WsY7F9pZgsBfMT"], 22)),
    ("go-car/cmd/car/testdata/inputs/wikipedia-cryptographic-hash-function.car", Partial { roots: &["bafybeiaysi4s6lnjev27ln5icwm6tueaw2vdykrtjkwiphwekaywqhcjze"], sections: 5, missing: &[680] }),
    ("go-car/v2/testdata/sample-corrupt-pragma.car", Reject { sections_ok: None }),
    ("go-car/v2/testdata/sample-rootless-v42.car", Reject { sections_ok: None }),
    ("go-car/v2/testdata/sample-rw-bs-v2.car", accept(2, &["bafkreifuosuzujyf4i6psbneqtwg2fhplc2wxptc5euspa2gn3bwhnihfu", "bafkreifc4hca3inognou377hfhvu2xfchn2ltzi7yu27jkaeujqqqdbjju", "bafkreig5lvr4l6b4fr3un4xvzeyt3scevgsqjgrhlnwxw2unwbn5ro276u"], 3)),
    ("go-car/v2/testdata/sample-unixfs-v2.car", accept(2, &["bafybeiakgrehdxxgy5kca72znt6jllrj2sqkehtqeojfuxlbeuqg3vfkwq"], 3)),
    ("go-car/v2/testdata/sample-v1-tailing-corrupt-section.car", Reject { sections_ok: Some(1048) }),
    // Policy: a zero-length section ends the data (Lotus padding), so these are accepted.
    ("go-car/v2/testdata/sample-v1-with-zero-len-section.car", accept(1, &[SAMPLE_ROOT], 1049)),
    ("go-car/v2/testdata/sample-v1-with-zero-len-section2.car", accept(1, &["bafykbzaceapvx4wxbe3bfc5neit43wl22pruy2ysk7wv763iuyyxcffj3te56"], 20)),
    ("go-car/v2/testdata/sample-v2-corrupt-data-and-index.car", Reject { sections_ok: None }),
    ("go-car/v2/testdata/sample-v2-indexless.car", accept(2, &[SAMPLE_ROOT], 1049)),
    ("go-unixfsnode/file/fixtures/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o.car", accept(1, &["QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"], 1)),
    ("go-unixfsnode/file/fixtures/QmT8EC9sJq63SkDZ1mWLbWWyVV66PuqyHWpKkH4pcVyY4H.car", accept(1, &["QmT8EC9sJq63SkDZ1mWLbWWyVV66PuqyHWpKkH4pcVyY4H"], 2)),
    ("kubo/test/cli/fixtures/TestDagStat.car", accept(1, &["bafyreifrm6uf5o4dsaacuszf35zhibyojlqclabzrms7iak67pf62jygaq"], 4)),
    ("kubo/test/cli/fixtures/TestDagStatCARv2.car", accept(2, &["bafyreifrm6uf5o4dsaacuszf35zhibyojlqclabzrms7iak67pf62jygaq"], 4)),
    ("kubo/test/sharness/t0054-dag-car-import-export-data/partial-dag-scope-entity.car", Partial { roots: &["QmPDC11yLAbVw3dX5jMeEuSdk4BiVjSd9X87zaYRdVjzW3"], sections: 1, missing: &[29] }),
    ("kubo/test/sharness/t0054-dag-car-import-export-data/test_dataset_car/combined_naked_roots_genesis_and_128.car", Partial { roots: &[GENESIS_ROOT, SAMPLE_ROOT], sections: 0, missing: &[1, 1] }),
    ("kubo/test/sharness/t0054-dag-car-import-export-data/test_dataset_car/lotus_devnet_genesis.car", accept(1, &[GENESIS_ROOT], 149)),
    // Policy: `roots: []` is accepted (nothing to walk).
    ("kubo/test/sharness/t0054-dag-car-import-export-data/test_dataset_car/lotus_devnet_genesis_shuffled_noroots.car", accept(1, &[], 149)),
    ("kubo/test/sharness/t0054-dag-car-import-export-data/test_dataset_car/lotus_devnet_genesis_shuffled_nulroot.car", accept(1, &["bafkqaaa"], 149)),
    ("kubo/test/sharness/t0054-dag-car-import-export-data/test_dataset_car/lotus_devnet_genesis_v2.car", accept(2, &[GENESIS_ROOT], 149)),
    ("kubo/test/sharness/t0400-api-no-gateway/fixtures.car", accept(1, &["QmNYERzV2LfD2kkfahtfv44ocHzEFK1sLBaE7zdcYT2GAZ"], 1)),
    // Derived from go-car test sources.
    ("go-car/derived/clean-single-block.car", accept(1, &[DOG], 1)),
    ("go-car/derived/trailing-bad-varint.car", Reject { sections_ok: Some(1) }),
    ("go-car/derived/truncated-block.car", Reject { sections_ok: Some(1) }),
    // Policy: a header without a `roots` key is rejected (the schema requires it).
    ("go-car/derived/header-version-1-empty-roots.car", Reject { sections_ok: None }),
    ("go-car/derived/header-version-2-in-v1-header.car", Reject { sections_ok: None }),
    ("go-car/derived/header-missing-version.car", Reject { sections_ok: None }),
    ("go-car/derived/header-version-string.car", Reject { sections_ok: None }),
    ("go-car/derived/header-roots-is-map.car", Reject { sections_ok: None }),
    ("go-car/derived/header-extra-key.car", Reject { sections_ok: None }),
    ("go-car/derived/header-is-array.car", Reject { sections_ok: None }),
    ("go-car/derived/header-is-null.car", Reject { sections_ok: None }),
    ("go-car/derived/header-sanity-ok.car", accept(1, &["baeaaaa3bmjrq"], 0)),
    ("go-car/derived/v2-inspect-bad-cidv0.car", Reject { sections_ok: None }),
    ("go-car/derived/v2-bad-header-length.car", Reject { sections_ok: None }),
    ("go-car/derived/v2-bad-section-length.car", Reject { sections_ok: Some(0) }),
    ("go-car/derived/v2-section-shorter-than-cid.car", Reject { sections_ok: None }),
    ("go-car/derived/v2-roots-null-then-eof.car", Reject { sections_ok: None }),
    ("go-car/derived/v2-bad-block-hash.car", BadHash { cid: "bafkreiab2rek7wjiazkfrt3hbnqpljmu24226alszdlh6ivic2abgjubzi" }),
    ("go-car/derived/v2-identity-cid-root.car", BadHash { cid: "baguqeaaupmrgszdfnz2gs5dzei5ceytmn5rwwit5" }),
    ("go-car/derived/fuzz/FuzzBlockReader-c3c7eedeb4968a5b.bin", Fuzz),
    ("go-car/derived/fuzz/FuzzCarReader-21a90a70853c333c.bin", Fuzz),
    ("go-car/derived/fuzz/FuzzCarReader-5857e57e4072c6b0.bin", Fuzz),
    ("go-car/derived/fuzz/FuzzReader-c640dd07c02728da.bin", Fuzz),
    ("go-car/derived/fuzz/FuzzReader-e1d7f87ee37f4838.bin", Fuzz),
    ("go-car/derived/fuzz/FuzzReader-fe93cec1356ad2fe.bin", Fuzz),
];

fn fixture_path(rel: &str) -> PathBuf {
    vectors_dir().join("fixtures").join(rel)
}

fn read(path: &PathBuf) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn cids(list: &[&str]) -> Vec<Cid> {
    list.iter().map(|s| parse_cid(s).unwrap()).collect()
}

/// Reads every section without verifying; returns how many were read and the final result.
fn read_unverified(bytes: &[u8]) -> (u64, Result<(), CarError>) {
    let mut reader = match CarReader::new(bytes) {
        Ok(r) => r,
        Err(e) => return (0, Err(e)),
    };
    let mut n = 0;
    loop {
        match reader.next_section() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return (n, Ok(())),
            Err(e) => return (n, Err(e)),
        }
    }
}

fn import(bytes: &[u8]) -> (MemoryStore, Result<ImportSummary, CarError>) {
    let store = MemoryStore::new();
    let result = import_car(bytes, &store);
    (store, result)
}

/// Checks one fixture against its verdict; `Err` describes the disagreement.
fn check_fixture(rel: &str, verdict: Verdict) -> Result<(), String> {
    let bytes = read(&fixture_path(rel));
    let (_store, result) = import(&bytes);
    match verdict {
        Accept {
            version,
            roots,
            sections,
        } => {
            let s = result.map_err(|e| format!("import failed: {e}"))?;
            let got_roots: Vec<Cid> = s.roots.iter().map(|r| r.root).collect();
            if s.version != version || got_roots != cids(roots) || s.sections != sections {
                return Err(format!(
                    "expected v{version}, roots {roots:?}, {sections} sections; got {s:?}"
                ));
            }
            if !s.is_complete() {
                return Err(format!("expected a complete DAG, got {:?}", s.roots));
            }
        }
        Partial {
            roots,
            sections,
            missing,
        } => {
            let s = result.map_err(|e| format!("import failed: {e}"))?;
            let got_roots: Vec<Cid> = s.roots.iter().map(|r| r.root).collect();
            let got_missing: Vec<u64> = s.roots.iter().map(|r| r.missing).collect();
            if got_roots != cids(roots) || s.sections != sections || got_missing != missing {
                return Err(format!(
                    "expected roots {roots:?}, {sections} sections, missing {missing:?}; got {s:?}"
                ));
            }
            if s.is_complete() {
                return Err("a partial DAG was reported complete".into());
            }
        }
        Reject { sections_ok } => {
            let err = match result {
                Ok(s) => return Err(format!("expected an error, import gave {s:?}")),
                Err(e) => e,
            };
            if matches!(err, CarError::BadBlock { .. }) {
                return Err(format!(
                    "expected a parse error, got a verification error: {err}"
                ));
            }
            let (n, unverified) = read_unverified(&bytes);
            if unverified.is_ok() {
                return Err("the unverified reader accepted it".into());
            }
            if let Some(expected) = sections_ok {
                if n != expected {
                    return Err(format!(
                        "{n} sections read before the error, expected {expected}"
                    ));
                }
            }
        }
        BadHash { cid } => {
            let (n, unverified) = read_unverified(&bytes);
            unverified.map_err(|e| format!("expected it to parse, got {e} after {n} sections"))?;
            match result {
                Err(err @ CarError::BadBlock { .. }) if err.to_string().contains(cid) => {}
                other => {
                    return Err(format!(
                        "expected a verification error naming `{cid}`, got {other:?}"
                    ))
                }
            }
        }
        Fuzz => {
            if let Ok(s) = result {
                return Err(format!("expected an error, import gave {s:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn car_fixtures_get_their_index_verdicts() {
    let failures: Vec<String> = FIXTURES
        .iter()
        .filter_map(|(rel, verdict)| {
            check_fixture(rel, *verdict)
                .err()
                .map(|e| format!("{rel} ({verdict:?}): {e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} fixture(s) disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn car_fixture_table_lists_every_car_in_the_fixtures_folder() {
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("car" | "bin")
            ) {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let base = vectors_dir().join("fixtures");
    let mut found = Vec::new();
    walk(&base, &base, &mut found);
    let listed: Vec<&str> = FIXTURES.iter().map(|(rel, _)| *rel).collect();
    let unlisted: Vec<&String> = found
        .iter()
        .filter(|f| !listed.contains(&f.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "fixtures without a verdict: {unlisted:?}"
    );
}

#[test]
fn car_rootless_v42_names_the_version() {
    let bytes = read(&fixture_path("go-car/v2/testdata/sample-rootless-v42.car"));
    let err = CarReader::new(&bytes[..]).unwrap_err();
    assert_eq!(err.to_string(), "invalid car version: 42");
    assert!(err.hint().is_some());
}

#[test]
fn car_partial_fixtures_name_their_first_missing_blocks() {
    let bytes = read(&fixture_path(
        "gateway-conformance/fixtures/trustless_gateway_car/file-3k-and-3-blocks-missing-block.car",
    ));
    let (_, result) = import(&bytes);
    let s = result.unwrap();
    assert_eq!(
        s.roots[0].first_missing,
        cids(&["QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W"])
    );

    let bytes = read(&fixture_path(
        "kubo/test/sharness/t0054-dag-car-import-export-data/partial-dag-scope-entity.car",
    ));
    let (store, result) = import(&bytes);
    let s = result.unwrap();
    assert_eq!(s.roots[0].first_missing.len(), trove::car::MISSING_LISTED);
    assert_eq!(s.missing(), 29);
    // Exporting an incomplete DAG names the first missing block.
    let err = export_dag(&store, &s.roots[0].root, Vec::new()).unwrap_err();
    let first = s.roots[0].first_missing[0].to_string();
    assert!(err.to_string().contains(&first), "{err}");
}

#[test]
fn car_zero_length_section_fixtures_end_at_the_padding() {
    for rel in [
        "go-car/v2/testdata/sample-v1-with-zero-len-section.car",
        "go-car/v2/testdata/sample-v1-with-zero-len-section2.car",
    ] {
        let bytes = read(&fixture_path(rel));
        let mut reader = CarReader::new(&bytes[..]).unwrap();
        let mut n = 0;
        while reader.next_block().unwrap().is_some() {
            n += 1;
        }
        assert!(n > 0, "{rel}");
        assert_eq!(
            reader.offset(),
            bytes.len() as u64,
            "{rel}: padding is read to the end"
        );
        // Non-zero data after the padding is refused.
        let mut tampered = bytes.clone();
        *tampered.last_mut().unwrap() = 1;
        let err = import_car(&tampered[..], &MemoryStore::new()).unwrap_err();
        assert!(
            matches!(err, CarError::DataAfterPadding { .. }),
            "{rel}: {err}"
        );
    }
}

#[test]
fn car_v2_header_fields_are_read() {
    let bytes = read(&fixture_path(
        "go-car/cmd/car/testdata/inputs/sample-wrapped-v2.car",
    ));
    assert_eq!(bytes[..11], CARV2_PRAGMA);
    let reader = CarReader::new(&bytes[..]).unwrap();
    let v2 = reader.header().v2.expect("CARv2 header");
    assert_eq!((v2.data_offset, v2.data_size), (51, 479907));
    // The payload is limited to data size: the index after it is never parsed as sections.
    let blocks: Vec<_> = reader.blocks().collect::<Result<_, _>>().unwrap();
    let n = blocks.len();
    assert_eq!(n, 1049);
}

#[test]
fn car_truncated_fixture_prefixes_never_succeed_silently() {
    let bytes = read(&fixture_path(
        "go-car/cmd/car/testdata/inputs/simple-unixfs.car",
    ));
    let full = read_unverified(&bytes).0;
    let mut valid_cuts = 0;
    for cut in 0..bytes.len() {
        let (n, result) = read_unverified(&bytes[..cut]);
        if result.is_ok() {
            assert!(n < full, "cut at {cut}");
            valid_cuts += 1;
        }
    }
    // Only a cut exactly after the header or between sections is a valid (shorter) CAR.
    assert_eq!(valid_cuts, full);
}

fn vector_cars() -> Vec<CarRow> {
    car_rows()
}

#[test]
fn car_vectors_import_complete_with_index_root_and_block_count() {
    let cars = vector_cars();
    assert!(cars.len() >= 50, "car/INDEX.tsv has {} rows", cars.len());
    let mut failures = Vec::new();
    for car in &cars {
        let bytes = read(&vector_car(&car.file));
        let (store, result) = import(&bytes);
        let s = match result {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: import failed: {e}", car.file));
                continue;
            }
        };
        let roots: Vec<String> = s.roots.iter().map(|r| r.root.to_string()).collect();
        if roots != [car.root.clone()] || s.sections != car.blocks || !s.is_complete() {
            failures.push(format!(
                "{}: expected root {} and {} blocks, complete; got {s:?}",
                car.file, car.root, car.blocks
            ));
        }
        if store.len() as u64 != s.stored || s.stored + s.already_present + s.inline != s.sections {
            failures.push(format!("{}: inconsistent counts {s:?}", car.file));
        }
        // The walk reaches every stored block (nothing stray in these CARs).
        if s.roots.first().map(|r| r.blocks) != Some(store.len() as u64) {
            failures.push(format!(
                "{}: walk reached {:?} of {} blocks",
                car.file,
                s.roots,
                store.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn car_export_reproduces_dag_export_vectors_byte_for_byte() {
    let cars: Vec<CarRow> = vector_cars()
        .into_iter()
        .filter(|c| c.file.contains(".v0-") || c.file.contains(".v1-"))
        .collect();
    assert!(cars.len() >= 45, "only {} dag-export vectors", cars.len());
    let mut failures = Vec::new();
    for car in &cars {
        let bytes = read(&vector_car(&car.file));
        let store = MemoryStore::new();
        import_car(&bytes[..], &store).unwrap_or_else(|e| panic!("{}: {e}", car.file));
        let root = parse_cid(&car.root).unwrap();
        let mut out = Vec::new();
        match export_dag(&store, &root, &mut out) {
            Ok(summary) if out == bytes => {
                assert_eq!(summary.blocks, car.blocks, "{}", car.file);
                assert_eq!(summary.bytes, bytes.len() as u64, "{}", car.file);
            }
            Ok(_) => failures.push(format!(
                "{}: exported {} bytes differ from the {} in the vector",
                car.file,
                out.len(),
                bytes.len()
            )),
            Err(e) => failures.push(format!("{}: export failed: {e}", car.file)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn car_ipfs_car_vectors_reexport_in_dag_export_order() {
    // ipfs-car writes the root last with repeats; exporting the same DAG gives each block once,
    // root first, and that re-imports complete.
    for car in vector_cars()
        .iter()
        .filter(|c| c.file.ends_with(".ipfs-car.car"))
    {
        let bytes = read(&vector_car(&car.file));
        let store = MemoryStore::new();
        let s = import_car(&bytes[..], &store).unwrap();
        let root = parse_cid(&car.root).unwrap();
        let mut out = Vec::new();
        let e = export_dag(&store, &root, &mut out).unwrap();
        assert_eq!(e.blocks, store.len() as u64, "{}", car.file);
        let first = CarReader::new(&out[..])
            .unwrap()
            .next_block()
            .unwrap()
            .unwrap();
        assert_eq!(first.cid(), &root, "{}", car.file);
        let again = import_car(&out[..], &MemoryStore::new()).unwrap();
        assert!(again.is_complete(), "{}", car.file);
        assert_eq!(
            check_dag(&store, &root).unwrap(),
            s.roots[0],
            "{}",
            car.file
        );
    }
}

#[test]
fn cbor_json_links_match_codec_fixture_dagpb_links() {
    // codec-fixtures has no dag-cbor fixtures in this copy; its dag-pb fixtures come with the
    // same node in DAG-JSON, whose `{"/": …}` links must be the dag-pb links, in order.
    let dir = vectors_dir().join("fixtures/codec-fixtures/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let mut pb = None;
        let mut json = None;
        for file in std::fs::read_dir(&case).unwrap() {
            let file = file.unwrap().path();
            match file.extension().and_then(|e| e.to_str()) {
                Some("dag-pb") => pb = Some(std::fs::read(&file).unwrap()),
                Some("dag-json") => json = Some(std::fs::read(&file).unwrap()),
                _ => {}
            }
        }
        let (Some(pb), Some(json)) = (pb, json) else {
            continue;
        };
        let expected: Vec<Cid> = trove::dagpb::PbNode::decode(&pb)
            .unwrap()
            .links
            .into_iter()
            .map(|l| l.hash)
            .collect();
        let found =
            trove::cbor::json_links(&json).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        assert_eq!(found, expected, "{}", case.display());
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} codec fixtures checked");
}

#[test]
fn cbor_links_of_every_dag_cbor_block_in_the_fixtures_are_read() {
    // sample-v1.car holds 1043 Filecoin dag-cbor blocks (blake2b-256): every one must decode,
    // and re-encoding the CAR header must give the file's own header bytes.
    let bytes = read(&fixture_path(
        "go-car/cmd/car/testdata/inputs/sample-v1.car",
    ));
    let reader = CarReader::new(&bytes[..]).unwrap();
    let header = trove::cbor::encode_car_header(reader.roots());
    assert_eq!(&bytes[1..1 + header.len()], &header[..]);
    let mut cbor_blocks = 0;
    let mut links = 0;
    for block in reader.blocks() {
        let block = block.unwrap();
        if block.cid().codec() == trove::content::DAG_CBOR {
            links += trove::cbor::links(block.data())
                .unwrap_or_else(|e| panic!("{}: {e}", block.cid()))
                .len();
            cbor_blocks += 1;
        }
    }
    assert_eq!(cbor_blocks, 1043);
    assert!(links > 1000, "{links} links");
}
