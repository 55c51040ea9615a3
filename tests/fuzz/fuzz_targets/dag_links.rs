//! The links of a block under every codec trove walks (dag-pb, dag-cbor, dag-json, raw), and
//! the CAR header decoder (DAG-CBOR).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove::content::{cid_of, HashCode, DAG_CBOR, DAG_JSON, DAG_PB, RAW};

fuzz_target!(|data: &[u8]| {
    for codec in [DAG_PB, DAG_CBOR, DAG_JSON, RAW] {
        let cid = cid_of(cid::Version::V1, codec, HashCode::Sha2_256, data);
        if let Ok(links) = trove::dag::links(&cid, data) {
            assert!(codec != RAW || links.is_empty());
        }
    }
    let _ = trove::cbor::decode_car_header(data);
});
