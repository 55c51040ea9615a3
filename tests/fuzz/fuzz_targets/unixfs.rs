//! UnixFS `Data` messages from untrusted bytes: what decodes re-encodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove::unixfs::pb::UnixfsData;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = UnixfsData::decode(data) {
        let again = UnixfsData::decode(&message.encode()).expect("an encoded message decodes");
        assert_eq!(message, again);
    }
});
