//! The dag-pb codec (the node format under UnixFS), strict as the IPLD spec asks:
//! links come before data, each field once and in order, no unknown fields, every link has a
//! valid CID. No IO.

use crate::content::{cid_from_bytes, Cid};
use crate::protobuf::{put_bytes, put_varint, Fields, Value};

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

impl PbNode {
    /// Decodes a node strictly.
    pub fn decode(bytes: &[u8]) -> Result<PbNode, DagPbError> {
        let mut node = PbNode::default();
        for field in Fields::new(bytes) {
            let (number, value) = field.map_err(|e| malformed(e.to_string()))?;
            match number {
                1 => {
                    if node.data.is_some() {
                        return Err(malformed("duplicate Data section"));
                    }
                    node.data = Some(bytes_of("Data", value)?.to_vec());
                }
                2 => {
                    if node.data.is_some() {
                        return Err(malformed(
                            "Links section after Data (duplicate Links section)",
                        ));
                    }
                    let index = node.links.len();
                    node.links
                        .push(decode_link(bytes_of("Links", value)?, index)?);
                }
                other => {
                    return Err(malformed(format!(
                        "unexpected field {other} (wire type {}) in PBNode",
                        value.wire_type()
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
            put_bytes(&mut link_buf, 1, &link.hash.to_bytes());
            if let Some(name) = &link.name {
                put_bytes(&mut link_buf, 2, name.as_bytes());
            }
            if let Some(tsize) = link.tsize {
                put_varint(&mut link_buf, 3, tsize);
            }
            put_bytes(&mut out, 2, &link_buf);
        }
        if let Some(data) = &self.data {
            put_bytes(&mut out, 1, data);
        }
        out
    }

    fn encoded_len_hint(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len() + 11) + self.links.len() * 60
    }
}

/// The bytes of a length-delimited field `what`; any other wire type is an error.
fn bytes_of<'a>(what: &str, value: Value<'a>) -> Result<&'a [u8], DagPbError> {
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        other => Err(malformed(format!(
            "{what} has wire type {}, expected 2",
            other.wire_type()
        ))),
    }
}

fn decode_link(bytes: &[u8], index: usize) -> Result<PbLink, DagPbError> {
    let mut hash = None;
    let mut name = None;
    let mut tsize = None;
    let mut last_field = 0;
    for field in Fields::new(bytes) {
        let (number, value) = field.map_err(|e| malformed(format!("link {index}: {e}")))?;
        if number <= last_field {
            return Err(malformed(format!(
                "link {index}: field {number} out of order or repeated"
            )));
        }
        last_field = number;
        match (number, value) {
            (1, Value::Bytes(raw)) => {
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
            (2, Value::Bytes(raw)) => {
                if hash.is_none() {
                    break;
                }
                name =
                    Some(String::from_utf8(raw.to_vec()).map_err(|_| {
                        malformed(format!("link {index}: Name is not valid UTF-8"))
                    })?);
            }
            (3, Value::Varint(v)) => {
                if hash.is_none() {
                    break;
                }
                tsize = Some(v);
            }
            (f, v) => {
                return Err(malformed(format!(
                    "link {index}: unexpected field {f} with wire type {}",
                    v.wire_type()
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
