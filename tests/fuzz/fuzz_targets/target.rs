//! What a user (or a lockfile, or a registry link) names: `CID[/path]`, `/ipfs/…`, `ipfs://…`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(target) = trove::target::parse_target(text) {
            // What parses prints as something that parses to the same target.
            let again = trove::target::parse_target(&target.to_string()).expect("reparses");
            assert_eq!(target.to_string(), again.to_string());
        }
    }
});
