//! Varints: the slice decoder and the incremental one agree, and what decodes round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove::varint::{decode, encode, encoded_len, Decoder};

fuzz_target!(|data: &[u8]| {
    let whole = decode(data);
    let mut decoder = Decoder::default();
    let mut incremental = None;
    for (i, &byte) in data.iter().enumerate() {
        match decoder.push(byte) {
            Ok(Some(value)) => {
                incremental = Some(Ok((value, i + 1)));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                incremental = Some(Err(e));
                break;
            }
        }
    }
    match (whole, incremental) {
        (Ok(a), Some(Ok(b))) => {
            assert_eq!(a, b);
            let mut out = Vec::new();
            encode(a.0, &mut out);
            assert_eq!(out.len(), encoded_len(a.0));
            assert_eq!(decode(&out), Ok((a.0, out.len())));
        }
        (Err(a), Some(Err(b))) => assert_eq!(a, b),
        (Err(_), None) => {} // cut short
        (a, b) => panic!("the decoders disagree: {a:?} vs {b:?}"),
    }
});
