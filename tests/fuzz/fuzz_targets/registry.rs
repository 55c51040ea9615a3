//! Registry documents from untrusted servers: the checker (size, JSON, the 1.0/2.0/ours
//! structure, every field) never panics, and what it accepts resolves.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = trove::registry::check::check_document(data, "fuzz.json", None);
    let _ = report.is_ok();
});
