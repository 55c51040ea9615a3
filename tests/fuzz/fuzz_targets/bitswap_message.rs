//! Bitswap messages from untrusted peers: what decodes re-encodes to a message that decodes
//! the same, and every payload's CID can be asked for without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove::bitswap_message::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        for payload in &message.payload {
            let _ = payload.cid();
        }
        let again = Message::decode(&message.encode()).expect("an encoded message decodes");
        assert_eq!(message, again);
    }
});
