//! The UnixFS `Data` message carried in a dag-pb node's data section. No IO.

use crate::protobuf::{put_bytes, put_fixed32, put_varint, Fields, Value};
use crate::varint;

/// The UnixFS node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Old-style raw leaf (type 0).
    Raw,
    /// A plain directory (type 1).
    Directory,
    /// A file or a file chunk (type 2).
    File,
    /// Metadata (type 3, unused).
    Metadata,
    /// A symbolic link; the data is the target (type 4).
    Symlink,
    /// A HAMT-sharded directory (type 5).
    HamtShard,
}

impl DataType {
    fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => DataType::Raw,
            1 => DataType::Directory,
            2 => DataType::File,
            3 => DataType::Metadata,
            4 => DataType::Symlink,
            5 => DataType::HamtShard,
            _ => return None,
        })
    }

    fn code(self) -> u64 {
        match self {
            DataType::Raw => 0,
            DataType::Directory => 1,
            DataType::File => 2,
            DataType::Metadata => 3,
            DataType::Symlink => 4,
            DataType::HamtShard => 5,
        }
    }
}

/// A decoded UnixFS `Data` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixfsData {
    /// Node type.
    pub kind: DataType,
    /// Inline bytes (file content, symlink target, HAMT bitfield).
    pub data: Option<Vec<u8>>,
    /// Total file size.
    pub filesize: Option<u64>,
    /// Content bytes under each child link (files).
    pub blocksizes: Vec<u64>,
    /// Hash function of a HAMT (murmur3-x64-64 = 0x22).
    pub hash_type: Option<u64>,
    /// HAMT fanout.
    pub fanout: Option<u64>,
    /// UnixFS 1.5 mode bits.
    pub mode: Option<u32>,
    /// UnixFS 1.5 modification time (seconds, nanoseconds).
    pub mtime: Option<(i64, Option<u32>)>,
}

impl UnixfsData {
    /// A message of the given type with no other field set.
    pub fn new(kind: DataType) -> Self {
        UnixfsData {
            kind,
            data: None,
            filesize: None,
            blocksizes: Vec::new(),
            hash_type: None,
            fanout: None,
            mode: None,
            mtime: None,
        }
    }

    /// Encodes with fields in number order, as go-unixfs (Kubo) does.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.data.as_ref().map_or(0, Vec::len));
        put_varint(&mut out, 1, self.kind.code());
        if let Some(data) = &self.data {
            put_bytes(&mut out, 2, data);
        }
        if let Some(size) = self.filesize {
            put_varint(&mut out, 3, size);
        }
        for size in &self.blocksizes {
            put_varint(&mut out, 4, *size);
        }
        if let Some(h) = self.hash_type {
            put_varint(&mut out, 5, h);
        }
        if let Some(f) = self.fanout {
            put_varint(&mut out, 6, f);
        }
        if let Some(mode) = self.mode {
            put_varint(&mut out, 7, u64::from(mode));
        }
        if let Some((secs, nanos)) = self.mtime {
            let mut inner = Vec::with_capacity(16);
            put_varint(&mut inner, 1, secs as u64);
            if let Some(n) = nanos {
                put_fixed32(&mut inner, 2, n);
            }
            put_bytes(&mut out, 8, &inner);
        }
        out
    }

    /// Decodes a UnixFS `Data` message (standard protobuf rules: any field order, packed or
    /// unpacked `blocksizes`, unknown fields skipped).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut kind = None;
        let mut msg = UnixfsData::new(DataType::Raw);
        for field in Fields::new(bytes) {
            match field.map_err(|e| e.to_string())? {
                (1, Value::Varint(v)) => {
                    kind = Some(
                        DataType::from_code(v).ok_or_else(|| format!("unknown UnixFS type {v}"))?,
                    )
                }
                (2, Value::Bytes(body)) => msg.data = Some(body.to_vec()),
                (3, Value::Varint(v)) => msg.filesize = Some(v),
                (4, Value::Varint(v)) => msg.blocksizes.push(v),
                (4, Value::Bytes(packed)) => {
                    let mut p = 0;
                    while p < packed.len() {
                        let (v, n) =
                            varint::decode(&packed[p..]).map_err(|e| format!("blocksizes: {e}"))?;
                        msg.blocksizes.push(v);
                        p += n;
                    }
                }
                (5, Value::Varint(v)) => msg.hash_type = Some(v),
                (6, Value::Varint(v)) => msg.fanout = Some(v),
                (7, Value::Varint(v)) => msg.mode = Some(v as u32),
                (8, Value::Bytes(body)) => msg.mtime = Some(decode_mtime(body)?),
                _ => {}
            }
        }
        msg.kind = kind.ok_or("the Type field is missing")?;
        Ok(msg)
    }
}

/// The `UnixTime` message: seconds (field 1) and optional nanoseconds (fixed32 field 2).
fn decode_mtime(body: &[u8]) -> Result<(i64, Option<u32>), String> {
    let mut secs = 0i64;
    let mut nanos = None;
    for field in Fields::new(body) {
        match field.map_err(|e| format!("mtime: {e}"))? {
            (1, Value::Varint(v)) => secs = v as i64,
            (2, Value::Fixed32(n)) => nanos = Some(n),
            (f, v) => {
                return Err(format!(
                    "mtime has unexpected field {f} (wire type {})",
                    v.wire_type()
                ))
            }
        }
    }
    Ok((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_unixfsnode_fixtures_decode() {
        let dir = UnixfsData::decode(&[0x08, 0x01]).unwrap();
        assert_eq!(dir.kind, DataType::Directory);
        let file = UnixfsData::decode(b"\x08\x02\x12\x0dHello UnixFS\n\x18\x0d").unwrap();
        assert_eq!(file.kind, DataType::File);
        assert_eq!(file.data.as_deref(), Some(&b"Hello UnixFS\n"[..]));
        assert_eq!(file.filesize, Some(13));
        assert_eq!(file.encode(), b"\x08\x02\x12\x0dHello UnixFS\n\x18\x0d");
        let link = UnixfsData::decode(b"\x08\x04\x12\x08file.txt").unwrap();
        assert_eq!(link.kind, DataType::Symlink);
        assert_eq!(link.data.as_deref(), Some(&b"file.txt"[..]));
    }

    #[test]
    fn missing_type_is_an_error() {
        assert!(UnixfsData::decode(&[0x18, 0x01]).is_err());
    }
}
