//! The dag-pb codec (the node format under UnixFS), strict as the IPLD spec asks:
//! links come before data, each field once and in order, no unknown fields, every link has a
//! valid CID. No IO.

use crate::content::{cid_from_bytes, Cid};
use crate::varint;

/// One link of a dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    /// The child's CID.
    pub hash: Cid,
    /// The link name (a UnixFS directory entry name, or empty for file chunks).
    pub name: Option<String>,
    /// The cumulative size of the child DAG, as recorded by the writer (not trusted).
    pub tsize: Option<u64>,
}

/// A dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PbNode {
    /// Links, in the order they are stored.
    pub links: Vec<PbLink>,
    /// The opaque data section (for UnixFS: a UnixFS `Data` message).
    pub data: Option<Vec<u8>>,
}

/// Why bytes are not a valid dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagPbError {
    /// The protobuf framing is broken.
    #[error("invalid dag-pb: {0}")]
    Malformed(String),
    /// A link has no (or an invalid) `Hash`.
    #[error("invalid dag-pb: link {index} has no valid Hash ({detail})")]
    BadLinkHash {
        /// Position of the link.
        index: usize,
        /// What is wrong.
        detail: String,
    },
}

fn malformed(msg: impl Into<String>) -> DagPbError {
    DagPbError::Malformed(msg.into())
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self, what: &str) -> Result<u64, DagPbError> {
        let (v, n) =
            varint::decode(&self.buf[self.pos..]).map_err(|e| malformed(format!("{what}: {e}")))?;
        self.pos += n;
        Ok(v)
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], DagPbError> {
        let len = self.varint(what)?;
        let remaining = (self.buf.len() - self.pos) as u64;
        if len > remaining {
            return Err(malformed(format!(
                "{what} claims {len} bytes but only {remaining} remain"
            )));
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }
}

impl PbNode {
    /// Decodes a node strictly.
    pub fn decode(bytes: &[u8]) -> Result<PbNode, DagPbError> {
        let mut cur = Cursor { buf: bytes, pos: 0 };
        let mut node = PbNode::default();
        while !cur.done() {
            let tag = cur.varint("field tag")?;
            let (field, wire) = (tag >> 3, tag & 7);
            match field {
                1 => {
                    if node.data.is_some() {
                        return Err(malformed("duplicate Data section"));
                    }
                    if wire != 2 {
                        return Err(malformed(format!("Data has wire type {wire}, expected 2")));
                    }
                    node.data = Some(cur.bytes("Data")?.to_vec());
                }
                2 => {
                    if node.data.is_some() {
                        return Err(malformed(
                            "Links section after Data (duplicate Links section)",
                        ));
                    }
                    if wire != 2 {
                        return Err(malformed(format!("Links has wire type {wire}, expected 2")));
                    }
                    let index = node.links.len();
                    let link_bytes = cur.bytes("Link")?;
                    node.links.push(decode_link(link_bytes, index)?);
                }
                other => {
                    return Err(malformed(format!(
                        "unexpected field {other} (wire type {wire}) in PBNode"
                    )))
                }
            }
        }
        Ok(node)
    }

    /// Encodes the node canonically (links first, then data), as Kubo and every dag-pb writer do.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        let mut link_buf = Vec::new();
        for link in &self.links {
            link_buf.clear();
            let hash = link.hash.to_bytes();
            link_buf.push(0x0a);
            varint::encode(hash.len() as u64, &mut link_buf);
            link_buf.extend_from_slice(&hash);
            if let Some(name) = &link.name {
                link_buf.push(0x12);
                varint::encode(name.len() as u64, &mut link_buf);
                link_buf.extend_from_slice(name.as_bytes());
            }
            if let Some(tsize) = link.tsize {
                link_buf.push(0x18);
                varint::encode(tsize, &mut link_buf);
            }
            out.push(0x12);
            varint::encode(link_buf.len() as u64, &mut out);
            out.extend_from_slice(&link_buf);
        }
        if let Some(data) = &self.data {
            out.push(0x0a);
            varint::encode(data.len() as u64, &mut out);
            out.extend_from_slice(data);
        }
        out
    }

    fn encoded_len_hint(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len() + 11) + self.links.len() * 60
    }
}

fn decode_link(bytes: &[u8], index: usize) -> Result<PbLink, DagPbError> {
    let mut cur = Cursor { buf: bytes, pos: 0 };
    let mut hash = None;
    let mut name = None;
    let mut tsize = None;
    let mut last_field = 0;
    while !cur.done() {
        let tag = cur.varint("link field tag")?;
        let (field, wire) = (tag >> 3, tag & 7);
        if field <= last_field {
            return Err(malformed(format!(
                "link {index}: field {field} out of order or repeated"
            )));
        }
        last_field = field;
        match (field, wire) {
            (1, 2) => {
                let raw = cur.bytes("link Hash")?;
                if raw.is_empty() {
                    return Err(DagPbError::BadLinkHash {
                        index,
                        detail: "the Hash is empty".into(),
                    });
                }
                hash = Some(cid_from_bytes(raw).map_err(|e| DagPbError::BadLinkHash {
                    index,
                    detail: e.to_string(),
                })?);
            }
            (2, 2) => {
                if hash.is_none() {
                    break;
                }
                let raw = cur.bytes("link Name")?;
                name =
                    Some(String::from_utf8(raw.to_vec()).map_err(|_| {
                        malformed(format!("link {index}: Name is not valid UTF-8"))
                    })?);
            }
            (3, 0) => {
                if hash.is_none() {
                    break;
                }
                tsize = Some(cur.varint("link Tsize")?);
            }
            (f, w) => {
                return Err(malformed(format!(
                    "link {index}: unexpected field {f} with wire type {w}"
                )))
            }
        }
    }
    let hash = hash.ok_or_else(|| DagPbError::BadLinkHash {
        index,
        detail: "Invalid Hash field found in link, expected CID".into(),
    })?;
    Ok(PbLink { hash, name, tsize })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_block_is_an_empty_node() {
        assert_eq!(PbNode::decode(&[]).unwrap(), PbNode::default());
        assert!(PbNode::default().encode().is_empty());
    }

    #[test]
    fn data_round_trips() {
        let node = PbNode {
            links: vec![],
            data: Some(vec![8, 1]),
        };
        assert_eq!(node.encode(), vec![0x0a, 2, 8, 1]);
        assert_eq!(PbNode::decode(&node.encode()).unwrap(), node);
    }

    #[test]
    fn rejects_unknown_fields_and_bad_wire_types() {
        assert!(PbNode::decode(&[0x18, 0x01]).is_err());
        assert!(PbNode::decode(&[0x08, 0x01]).is_err());
        assert!(PbNode::decode(&[0x0a, 0x05, 0x00]).is_err());
    }
}
