//! dag-pb nodes from untrusted bytes: what decodes re-encodes to a node that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove::dagpb::PbNode;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = PbNode::decode(data) {
        let again = PbNode::decode(&node.encode()).expect("an encoded node decodes");
        assert_eq!(node, again);
    }
});
