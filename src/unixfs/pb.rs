//! The UnixFS `Data` message carried in a dag-pb node's data section. No IO.

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
        out.push(0x08);
        varint::encode(self.kind.code(), &mut out);
        if let Some(data) = &self.data {
            out.push(0x12);
            varint::encode(data.len() as u64, &mut out);
            out.extend_from_slice(data);
        }
        if let Some(size) = self.filesize {
            out.push(0x18);
            varint::encode(size, &mut out);
        }
        for size in &self.blocksizes {
            out.push(0x20);
            varint::encode(*size, &mut out);
        }
        if let Some(h) = self.hash_type {
            out.push(0x28);
            varint::encode(h, &mut out);
        }
        if let Some(f) = self.fanout {
            out.push(0x30);
            varint::encode(f, &mut out);
        }
        if let Some(mode) = self.mode {
            out.push(0x38);
            varint::encode(u64::from(mode), &mut out);
        }
        if let Some((secs, nanos)) = self.mtime {
            let mut inner = vec![0x08];
            varint::encode(secs as u64, &mut inner);
            if let Some(n) = nanos {
                inner.push(0x15);
                inner.extend_from_slice(&n.to_le_bytes());
            }
            out.push(0x42);
            varint::encode(inner.len() as u64, &mut out);
            out.extend_from_slice(&inner);
        }
        out
    }

    /// Decodes a UnixFS `Data` message (standard protobuf rules: any field order, packed or
    /// unpacked `blocksizes`, unknown fields skipped).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut pos = 0;
        let mut kind = None;
        let mut msg = UnixfsData::new(DataType::Raw);
        while pos < bytes.len() {
            let (tag, n) = varint::decode(&bytes[pos..]).map_err(|e| format!("field tag: {e}"))?;
            pos += n;
            let (field, wire) = (tag >> 3, tag & 7);
            match (field, wire) {
                (_, 0) => {
                    let (v, n) =
                        varint::decode(&bytes[pos..]).map_err(|e| format!("field {field}: {e}"))?;
                    pos += n;
                    match field {
                        1 => {
                            kind = Some(
                                DataType::from_code(v)
                                    .ok_or_else(|| format!("unknown UnixFS type {v}"))?,
                            )
                        }
                        3 => msg.filesize = Some(v),
                        4 => msg.blocksizes.push(v),
                        5 => msg.hash_type = Some(v),
                        6 => msg.fanout = Some(v),
                        7 => msg.mode = Some(v as u32),
                        _ => {}
                    }
                }
                (_, 2) => {
                    let (len, n) =
                        varint::decode(&bytes[pos..]).map_err(|e| format!("field {field}: {e}"))?;
                    pos += n;
                    if len > (bytes.len() - pos) as u64 {
                        return Err(format!("field {field} runs past the end of the message"));
                    }
                    let body = &bytes[pos..pos + len as usize];
                    pos += len as usize;
                    match field {
                        2 => msg.data = Some(body.to_vec()),
                        4 => {
                            let mut p = 0;
                            while p < body.len() {
                                let (v, n) = varint::decode(&body[p..])
                                    .map_err(|e| format!("blocksizes: {e}"))?;
                                msg.blocksizes.push(v);
                                p += n;
                            }
                        }
                        8 => msg.mtime = Some(decode_mtime(body)?),
                        _ => {}
                    }
                }
                (_, 5) => {
                    if bytes.len() - pos < 4 {
                        return Err(format!("field {field} cut short"));
                    }
                    pos += 4;
                }
                (_, 1) => {
                    if bytes.len() - pos < 8 {
                        return Err(format!("field {field} cut short"));
                    }
                    pos += 8;
                }
                _ => return Err(format!("field {field} has unsupported wire type {wire}")),
            }
        }
        msg.kind = kind.ok_or("the Type field is missing")?;
        Ok(msg)
    }
}

fn decode_mtime(body: &[u8]) -> Result<(i64, Option<u32>), String> {
    let mut pos = 0;
    let mut secs = 0i64;
    let mut nanos = None;
    while pos < body.len() {
        let (tag, n) = varint::decode(&body[pos..]).map_err(|e| format!("mtime: {e}"))?;
        pos += n;
        match tag {
            0x08 => {
                let (v, n) = varint::decode(&body[pos..]).map_err(|e| format!("mtime: {e}"))?;
                secs = v as i64;
                pos += n;
            }
            0x15 => {
                let raw: [u8; 4] = body
                    .get(pos..pos + 4)
                    .ok_or("mtime nanoseconds cut short")?
                    .try_into()
                    .expect("4 bytes");
                nanos = Some(u32::from_le_bytes(raw));
                pos += 4;
            }
            _ => return Err(format!("mtime has unexpected tag {tag}")),
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
