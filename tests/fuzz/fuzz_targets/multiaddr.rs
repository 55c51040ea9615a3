//! Daemon API addresses from flags, `IPFS_API` and the `api` file: URLs and multiaddrs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove::fetch::kubo::{multiaddr_to_url, parse_api_address};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_api_address(text);
        let _ = multiaddr_to_url(text);
    }
});
