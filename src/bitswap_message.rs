//! The bitswap wire message (`/ipfs/bitswap/1.2.0` and `1.1.0`; `1.0.0` blocks are read too),
//! encoded and decoded without IO, and its length-prefixed framing.
//!
//! ```text
//! Message { wantlist: Wantlist = 1; blocks: repeated bytes = 2 (1.0.0);
//!           payload: repeated Block = 3; blockPresences: repeated BlockPresence = 4;
//!           pendingBytes: int32 = 5 }
//! Wantlist { entries: repeated Entry = 1; full: bool = 2 }
//! Entry { block: bytes (CID) = 1; priority: int32 = 2; cancel: bool = 3;
//!         wantType: Block=0|Have=1 = 4; sendDontHave: bool = 5 }
//! Block { prefix: bytes (CID version, codec, hash code, digest length) = 1; data: bytes = 2 }
//! BlockPresence { cid: bytes = 1; type: Have=0|DontHave=1 = 2 }
//! ```
//!
//! A received block carries only a CID *prefix*: its CID is known only after hashing the data
//! ([`Payload::cid`]), so a block that hashes to nothing we asked for is simply not wanted.

use crate::content::{cid_from_bytes, cid_of, Cid, HashCode};
use crate::protobuf::{put_bytes, put_varint, Fields, Value, WireError};
use crate::varint;

/// The largest message accepted or sent (go-bitswap's limit).
pub const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// What a wantlist entry asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WantType {
    /// Send the block.
    Block,
    /// Say whether you have the block (`HAVE`), or send it if it is tiny.
    Have,
}

/// One wantlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantEntry {
    /// The wanted block.
    pub cid: Cid,
    /// Higher first.
    pub priority: i32,
    /// Withdraws an earlier want for `cid`.
    pub cancel: bool,
    /// Block or presence.
    pub want_type: WantType,
    /// Ask the peer to answer `DONT_HAVE` when it lacks the block.
    pub send_dont_have: bool,
}

/// A block as sent on the wire: its CID prefix and bytes (not verified: see [`Payload::cid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// CID version, codec, multihash code and digest length, as varints.
    pub prefix: Vec<u8>,
    /// The block's bytes.
    pub data: Vec<u8>,
}

/// A peer's answer to a want-have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The peer has the block.
    Have,
    /// The peer does not have the block.
    DontHave,
}

/// A bitswap message: any mix of wants, blocks and presences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Wantlist entries.
    pub wants: Vec<WantEntry>,
    /// Whether the wantlist replaces the previous one.
    pub full: bool,
    /// Blocks.
    pub payload: Vec<Payload>,
    /// Presences.
    pub presences: Vec<(Cid, Presence)>,
}

/// A message that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bitswap message: {0}")]
pub struct MessageError(pub String);

impl From<WireError> for MessageError {
    fn from(e: WireError) -> Self {
        MessageError(e.to_string())
    }
}

impl Payload {
    /// The prefix describing `cid`.
    pub fn prefix_of(cid: &Cid) -> Vec<u8> {
        let mut prefix = Vec::with_capacity(8);
        varint::encode(cid.version() as u64, &mut prefix);
        varint::encode(cid.codec(), &mut prefix);
        varint::encode(cid.hash().code(), &mut prefix);
        varint::encode(u64::from(cid.hash().size()), &mut prefix);
        prefix
    }

    /// The CID of this block: the prefix's version, codec and hash function over the data
    /// (this hashes the data). Errors on prefixes trove cannot hash.
    pub fn cid(&self) -> Result<Cid, MessageError> {
        let mut pos = 0;
        let mut next = |what: &str| -> Result<u64, MessageError> {
            let (v, n) = varint::decode(&self.prefix[pos..])
                .map_err(|e| MessageError(format!("block prefix {what}: {e}")))?;
            pos += n;
            Ok(v)
        };
        let version = next("version")?;
        let codec = next("codec")?;
        let code = next("hash code")?;
        let length = next("digest length")?;
        let hash = HashCode::from_code(code)
            .ok_or_else(|| MessageError(format!("unsupported hash function 0x{code:x}")))?;
        let version = match version {
            0 => cid::Version::V0,
            1 => cid::Version::V1,
            v => return Err(MessageError(format!("unknown CID version {v}"))),
        };
        let cid = cid_of(version, codec, hash, &self.data);
        if u64::from(cid.hash().size()) != length {
            return Err(MessageError(format!(
                "block prefix asks for a {length}-byte digest, which trove does not compute"
            )));
        }
        Ok(cid)
    }
}

impl Message {
    /// True when the message carries nothing.
    pub fn is_empty(&self) -> bool {
        self.wants.is_empty() && self.payload.is_empty() && self.presences.is_empty()
    }

    /// The encoded message (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.wants.is_empty() || self.full {
            let mut list = Vec::new();
            for want in &self.wants {
                let mut entry = Vec::with_capacity(48);
                put_bytes(&mut entry, 1, &want.cid.to_bytes());
                put_varint(&mut entry, 2, want.priority as u32 as u64);
                if want.cancel {
                    put_varint(&mut entry, 3, 1);
                }
                if want.want_type == WantType::Have {
                    put_varint(&mut entry, 4, 1);
                }
                if want.send_dont_have {
                    put_varint(&mut entry, 5, 1);
                }
                put_bytes(&mut list, 1, &entry);
            }
            if self.full {
                put_varint(&mut list, 2, 1);
            }
            put_bytes(&mut out, 1, &list);
        }
        for block in &self.payload {
            let mut body = Vec::with_capacity(block.data.len() + 16);
            put_bytes(&mut body, 1, &block.prefix);
            put_bytes(&mut body, 2, &block.data);
            put_bytes(&mut out, 3, &body);
        }
        for (cid, presence) in &self.presences {
            let mut body = Vec::with_capacity(48);
            put_bytes(&mut body, 1, &cid.to_bytes());
            if *presence == Presence::DontHave {
                put_varint(&mut body, 2, 1);
            }
            put_bytes(&mut out, 4, &body);
        }
        out
    }

    /// The message framed for the wire: varint length, then the message.
    pub fn encode_framed(&self) -> Vec<u8> {
        let body = self.encode();
        let mut out = Vec::with_capacity(body.len() + 5);
        varint::encode(body.len() as u64, &mut out);
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a message (any field order, unknown fields skipped). Wantlist entries and
    /// presences with unreadable CIDs are errors.
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        let mut msg = Message::default();
        for field in Fields::new(bytes) {
            match field? {
                (1, Value::Bytes(list)) => {
                    for field in Fields::new(list) {
                        match field? {
                            (1, Value::Bytes(entry)) => msg.wants.push(decode_entry(entry)?),
                            (2, Value::Varint(v)) => msg.full = v != 0,
                            _ => {}
                        }
                    }
                }
                (2, Value::Bytes(data)) => {
                    // bitswap 1.0.0: a CIDv0 dag-pb block.
                    msg.payload.push(Payload {
                        prefix: vec![0, 0x70, 0x12, 32],
                        data: data.to_vec(),
                    });
                }
                (3, Value::Bytes(body)) => {
                    let mut block = Payload {
                        prefix: Vec::new(),
                        data: Vec::new(),
                    };
                    for field in Fields::new(body) {
                        match field? {
                            (1, Value::Bytes(p)) => block.prefix = p.to_vec(),
                            (2, Value::Bytes(d)) => block.data = d.to_vec(),
                            _ => {}
                        }
                    }
                    msg.payload.push(block);
                }
                (4, Value::Bytes(body)) => {
                    let mut cid = None;
                    let mut presence = Presence::Have;
                    for field in Fields::new(body) {
                        match field? {
                            (1, Value::Bytes(c)) => cid = Some(read_cid(c)?),
                            (2, Value::Varint(1)) => presence = Presence::DontHave,
                            _ => {}
                        }
                    }
                    let cid = cid.ok_or_else(|| MessageError("presence without a CID".into()))?;
                    msg.presences.push((cid, presence));
                }
                _ => {}
            }
        }
        Ok(msg)
    }
}

fn decode_entry(bytes: &[u8]) -> Result<WantEntry, MessageError> {
    let mut cid = None;
    let mut entry = WantEntry {
        cid: Cid::default(),
        priority: 1,
        cancel: false,
        want_type: WantType::Block,
        send_dont_have: false,
    };
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Bytes(c)) => cid = Some(read_cid(c)?),
            (2, Value::Varint(v)) => entry.priority = v as i32,
            (3, Value::Varint(v)) => entry.cancel = v != 0,
            (4, Value::Varint(v)) => {
                entry.want_type = if v == 1 {
                    WantType::Have
                } else {
                    WantType::Block
                }
            }
            (5, Value::Varint(v)) => entry.send_dont_have = v != 0,
            _ => {}
        }
    }
    entry.cid = cid.ok_or_else(|| MessageError("wantlist entry without a CID".into()))?;
    Ok(entry)
}

fn read_cid(bytes: &[u8]) -> Result<Cid, MessageError> {
    cid_from_bytes(bytes).map_err(|e| MessageError(format!("bad CID: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{cid_of, parse_cid, DAG_PB, RAW};

    #[test]
    fn a_message_round_trips() {
        let leaf = cid_of(cid::Version::V1, RAW, HashCode::Sha2_256, b"leaf");
        let node = cid_of(cid::Version::V0, DAG_PB, HashCode::Sha2_256, b"\x0a\x00");
        let msg = Message {
            wants: vec![
                WantEntry {
                    cid: leaf,
                    priority: 7,
                    cancel: false,
                    want_type: WantType::Have,
                    send_dont_have: true,
                },
                WantEntry {
                    cid: node,
                    priority: -1,
                    cancel: true,
                    want_type: WantType::Block,
                    send_dont_have: false,
                },
            ],
            full: true,
            payload: vec![Payload {
                prefix: Payload::prefix_of(&leaf),
                data: b"leaf".to_vec(),
            }],
            presences: vec![(node, Presence::DontHave), (leaf, Presence::Have)],
        };
        let decoded = Message::decode(&msg.encode()).unwrap();
        assert_eq!(decoded, msg);
        assert_eq!(decoded.payload[0].cid().unwrap(), leaf);
    }

    #[test]
    fn a_v0_prefix_gives_a_v0_cid_and_a_lying_block_a_different_cid() {
        let cid = parse_cid("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        let block = Payload {
            prefix: Payload::prefix_of(&cid),
            data: b"not that block".to_vec(),
        };
        let got = block.cid().unwrap();
        assert_eq!(got.version(), cid::Version::V0);
        assert_ne!(got, cid);
    }

    #[test]
    fn bitswap_1_0_blocks_are_read_as_cidv0_dag_pb() {
        let mut bytes = Vec::new();
        put_bytes(&mut bytes, 2, b"\x0a\x00");
        let msg = Message::decode(&bytes).unwrap();
        assert_eq!(msg.payload[0].cid().unwrap().version(), cid::Version::V0);
    }

    #[test]
    fn truncated_and_garbage_messages_are_errors_not_panics() {
        let leaf = cid_of(cid::Version::V1, RAW, HashCode::Sha2_256, b"leaf");
        let msg = Message {
            payload: vec![Payload {
                prefix: Payload::prefix_of(&leaf),
                data: vec![7; 100],
            }],
            presences: vec![(leaf, Presence::Have)],
            ..Message::default()
        };
        let bytes = msg.encode();
        for cut in 1..bytes.len() {
            let _ = Message::decode(&bytes[..cut]);
        }
        assert!(Message::decode(&[0x0a, 0x05, 0x01]).is_err());
        assert!(Message::decode(&[0x0b]).is_err());
        let bad_prefix = Payload {
            prefix: vec![1, 0x55, 0x99, 32],
            data: vec![],
        };
        assert!(bad_prefix.cid().is_err());
    }
}
