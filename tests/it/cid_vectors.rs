//! Every entry of `fixtures/cid-vectors/cid_vectors.json` (see `fixtures/INDEX.md`, "Multihash /
//! multibase / CID vectors"): CID strings and binary CIDs, valid and invalid, checked field by
//! field against trove's `parse_cid` / `cid_from_bytes` / `format_cid` / `format_cid_in`.

use crate::support::{assert_no_failures, hex, unhex, vectors_dir};
use multibase::Base;
use serde::Deserialize;
use trove::content::{cid_from_bytes, format_cid, format_cid_in, parse_cid, verify, Cid};

#[derive(Debug, Deserialize)]
struct Vectors {
    strings: Vec<StringVector>,
    bytes: Vec<BytesVector>,
}

/// One CID string; the decoded fields are present for `expect == "valid"` only.
#[derive(Debug, Deserialize)]
struct StringVector {
    input: String,
    source: String,
    expect: String,
    note: Option<String>,
    version: Option<u64>,
    codec: Option<u64>,
    multihash_code: Option<u64>,
    digest_len: Option<usize>,
    digest_hex: Option<String>,
    cid_bytes_hex: Option<String>,
    canonical: Option<String>,
    v1_base32: Option<String>,
    v0: Option<String>,
}

/// One binary CID.
#[derive(Debug, Deserialize)]
struct BytesVector {
    hex: String,
    source: String,
    expect: String,
    note: Option<String>,
    /// What js-multiformats said: `decoded: <cid>` or `error: <message>`.
    js_multiformats: String,
}

fn load() -> Vectors {
    let path = vectors_dir().join("fixtures/cid-vectors/cid_vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn eq(errs: &mut Vec<String>, what: &str, got: String, want: String) {
    if got != want {
        errs.push(format!("{what}: got {got:?}, want {want:?}"));
    }
}

fn version_number(cid: &Cid) -> u64 {
    match cid.version() {
        cid::Version::V0 => 0,
        cid::Version::V1 => 1,
    }
}

/// The canonical text of a CIDv1 is lower-case base32. js-multiformats echoes back the string it
/// parsed as `toString()`, so for the mixed-case vector (`bafyBEI…`) the JSON's `canonical` and
/// `v1_base32` keep the input's case; the vector's own note says canonical output is lower case.
fn canonical_form(expected: &str) -> String {
    if expected.starts_with('b') {
        expected.to_ascii_lowercase()
    } else {
        expected.to_string()
    }
}

/// Checks one valid string vector; returns the mismatches found.
fn check_valid_string(v: &StringVector) -> Vec<String> {
    let mut errs = Vec::new();
    let cid = match parse_cid(&v.input) {
        Ok(cid) => cid,
        Err(e) => return vec![format!("parse_cid rejected it: {e}")],
    };
    let field = |name: &str, value: Option<&String>| -> String {
        value
            .unwrap_or_else(|| panic!("{}: valid vector without `{name}`", v.input))
            .clone()
    };

    eq(
        &mut errs,
        "version",
        version_number(&cid).to_string(),
        v.version.expect("version").to_string(),
    );
    eq(
        &mut errs,
        "codec",
        cid.codec().to_string(),
        v.codec.expect("codec").to_string(),
    );
    eq(
        &mut errs,
        "multihash code",
        cid.hash().code().to_string(),
        v.multihash_code.expect("multihash_code").to_string(),
    );
    eq(
        &mut errs,
        "digest length",
        cid.hash().size().to_string(),
        v.digest_len.expect("digest_len").to_string(),
    );
    eq(
        &mut errs,
        "digest",
        hex(cid.hash().digest()),
        field("digest_hex", v.digest_hex.as_ref()),
    );
    let bytes_hex = field("cid_bytes_hex", v.cid_bytes_hex.as_ref());
    eq(
        &mut errs,
        "binary CID",
        hex(&cid.to_bytes()),
        bytes_hex.clone(),
    );

    // The binary form decodes to the same CID.
    match cid_from_bytes(&unhex(&bytes_hex)) {
        Ok(from_bytes) => eq(
            &mut errs,
            "cid_from_bytes(binary)",
            from_bytes.to_string(),
            cid.to_string(),
        ),
        Err(e) => errs.push(format!("cid_from_bytes rejected the binary form: {e}")),
    }

    // Canonical text (Kubo's: base58btc for v0, base32 lower for v1), and it parses back.
    let canonical = canonical_form(&field("canonical", v.canonical.as_ref()));
    eq(&mut errs, "format_cid", format_cid(&cid), canonical.clone());
    match parse_cid(&canonical) {
        Ok(again) => eq(
            &mut errs,
            "parse_cid(canonical)",
            format_cid(&again),
            canonical.clone(),
        ),
        Err(e) => errs.push(format!("canonical form {canonical:?} does not parse: {e}")),
    }

    // The CIDv1 form, through format_cid_in (which converts v0 to v1 for non-base58 bases).
    let v1 = canonical_form(&field("v1_base32", v.v1_base32.as_ref()));
    eq(
        &mut errs,
        "format_cid_in(base32)",
        format_cid_in(&cid, Base::Base32Lower),
        v1.clone(),
    );
    eq(
        &mut errs,
        "CIDv1 of the same codec and multihash",
        format_cid(&Cid::new_v1(cid.codec(), *cid.hash())),
        v1,
    );

    // The CIDv0 form, where one exists (dag-pb + 32-byte sha2-256 only).
    let v0 = Cid::new_v0(*cid.hash())
        .ok()
        .filter(|_| cid.codec() == trove::content::DAG_PB);
    match (&v.v0, v0) {
        (Some(want), Some(v0)) => {
            eq(&mut errs, "CIDv0 form", format_cid(&v0), want.clone());
            eq(
                &mut errs,
                "format_cid_in(v0, base58btc)",
                format_cid_in(&v0, Base::Base58Btc),
                want.clone(),
            );
        }
        (Some(want), None) => errs.push(format!(
            "vector has CIDv0 form {want}, trove can't build one"
        )),
        (None, Some(v0)) => errs.push(format!("vector has no CIDv0 form, trove built {v0}")),
        (None, None) => {}
    }

    // Printing in the input's own base gives the input back (case-folded for the mixed-case one).
    let is_v0_text = v.input.len() == 46 && v.input.starts_with("Qm");
    if is_v0_text {
        eq(
            &mut errs,
            "format_cid_in(base58btc)",
            format_cid_in(&cid, Base::Base58Btc),
            v.input.clone(),
        );
    } else {
        let code = v.input.chars().next().expect("non-empty input");
        match Base::from_code(code) {
            Ok(base) => {
                let printed = format_cid_in(&cid, base);
                if !printed.eq_ignore_ascii_case(&v.input) {
                    errs.push(format!(
                        "format_cid_in({base:?}): got {printed:?}, want {:?}",
                        v.input
                    ));
                }
            }
            Err(e) => errs.push(format!("unknown multibase prefix {code:?}: {e}")),
        }
    }

    // Identity CIDs carry their block: it verifies against itself.
    if cid.hash().code() == 0x00 {
        if let Err(e) = verify(&cid, cid.hash().digest()) {
            errs.push(format!("identity CID does not verify its own digest: {e}"));
        }
    }
    errs
}

#[test]
fn every_cid_string_vector_gets_its_verdict() {
    let vectors = load();
    assert_eq!(
        vectors.strings.len(),
        34,
        "INDEX.md announces 34 CID strings"
    );
    let mut failures = Vec::new();
    for (i, v) in vectors.strings.iter().enumerate() {
        let errs = match v.expect.as_str() {
            "valid" => check_valid_string(v),
            "invalid" => match parse_cid(&v.input) {
                Ok(cid) => vec![format!("accepted as {cid} ({:?})", cid)],
                Err(_) => vec![],
            },
            other => vec![format!("unknown expect {other:?}")],
        };
        for e in errs {
            failures.push(format!(
                "strings[{i}] {:?} ({}; {}; expect {}): {e}",
                v.input,
                v.note.as_deref().unwrap_or("-"),
                v.source,
                v.expect
            ));
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn every_binary_cid_vector_gets_its_verdict() {
    let vectors = load();
    assert_eq!(vectors.bytes.len(), 13, "INDEX.md announces 13 binary CIDs");
    let mut failures = Vec::new();
    for (i, v) in vectors.bytes.iter().enumerate() {
        let bytes = unhex(&v.hex);
        let result = cid_from_bytes(&bytes);
        let err = match (v.expect.as_str(), result) {
            ("valid", Ok(cid)) => {
                let want = v
                    .js_multiformats
                    .strip_prefix("decoded: ")
                    .unwrap_or_else(|| panic!("bytes[{i}]: valid without `decoded: <cid>`"));
                let mut e = None;
                if format_cid(&cid) != want {
                    e = Some(format!("decoded to {}, want {want}", format_cid(&cid)));
                } else if cid.to_bytes() != bytes {
                    e = Some("re-encodes to different bytes".to_string());
                }
                e
            }
            ("valid", Err(e)) => Some(format!("rejected: {e}")),
            ("invalid", Ok(cid)) => Some(format!("accepted as {cid} ({cid:?})")),
            ("invalid", Err(_)) => None,
            (other, _) => Some(format!("unknown expect {other:?}")),
        };
        if let Some(e) = err {
            failures.push(format!(
                "bytes[{i}] {} ({}; {}; expect {}, js: {}): {e}",
                v.hex,
                v.note.as_deref().unwrap_or("-"),
                v.source,
                v.expect,
                v.js_multiformats
            ));
        }
    }
    assert_no_failures(&failures);
}

/// The rules behind the invalid string vectors, applied to every valid vector: a CIDv0 string
/// must not carry a multibase prefix, and a string CID must not have trailing bytes after it.
#[test]
fn cid_strings_derived_from_valid_vectors_are_rejected() {
    let vectors = load();
    let mut failures = Vec::new();
    for v in vectors.strings.iter().filter(|v| v.expect == "valid") {
        let cid = parse_cid(&v.input).ok();
        let Some(cid) = cid else { continue }; // reported by the test above
        let mut bad = Vec::new();
        if cid.version() == cid::Version::V0 {
            // `z` + base58btc of the bare multihash: multibase-prefixed CIDv0.
            bad.push(multibase::encode(Base::Base58Btc, cid.to_bytes()));
            bad.push(multibase::encode(Base::Base32Lower, cid.to_bytes()));
        }
        let mut trailing = cid.to_bytes();
        trailing.push(0);
        bad.push(multibase::encode(Base::Base32Lower, &trailing));
        let mut short = cid.to_bytes();
        short.pop();
        bad.push(multibase::encode(Base::Base32Lower, &short));
        // A path is not a CID.
        bad.push(format!("/ipfs/{}", v.input));
        for text in bad {
            if let Ok(got) = parse_cid(&text) {
                failures.push(format!("{:?} (from {}): accepted as {got}", text, v.input));
            }
        }
    }
    assert_no_failures(&failures);
}
