//! The protobuf wire format, as far as dag-pb, UnixFS and bitswap need it: a reader that walks
//! a message's fields and writers for the field kinds they use. Message-level rules (which
//! fields, which order, strictness) stay with each format. No IO.

use crate::varint::{self, VarintError};

/// One field's value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2 (bytes, strings, embedded messages, packed repeated fields).
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl Value<'_> {
    /// The wire type number.
    pub fn wire_type(&self) -> u64 {
        match self {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32(_) => 5,
        }
    }
}

/// Why a message's fields cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A field tag is not a valid varint.
    #[error("field tag: {0}")]
    Tag(VarintError),
    /// A varint value (or a length) is not a valid varint.
    #[error("field {field}: {error}")]
    Varint {
        /// The field number.
        field: u64,
        /// What is wrong with the varint.
        error: VarintError,
    },
    /// A value is longer than what is left of the message.
    #[error("field {field} claims {len} bytes but only {remaining} remain")]
    PastEnd {
        /// The field number.
        field: u64,
        /// The length the field claims.
        len: u64,
        /// Bytes left in the message.
        remaining: usize,
    },
    /// Wire types 3, 4 (groups), 6 and 7 are not supported.
    #[error("field {field} has unsupported wire type {wire}")]
    WireType {
        /// The field number.
        field: u64,
        /// The wire type.
        wire: u64,
    },
}

/// The fields of a message, in the order they are stored: `(field number, value)`. After an
/// error the iterator ends.
pub struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// Walks the fields of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Fields { bytes, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, VarintError> {
        let (v, n) = varint::decode(&self.bytes[self.pos..])?;
        self.pos += n;
        Ok(v)
    }

    fn take(&mut self, field: u64, len: u64) -> Result<&'a [u8], WireError> {
        let remaining = self.bytes.len() - self.pos;
        if len > remaining as u64 {
            return Err(WireError::PastEnd {
                field,
                len,
                remaining,
            });
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), WireError> {
        let tag = self.varint().map_err(WireError::Tag)?;
        let field = tag >> 3;
        let in_field = |error| WireError::Varint { field, error };
        let value = match tag & 7 {
            0 => Value::Varint(self.varint().map_err(in_field)?),
            1 => {
                let raw = self.take(field, 8)?;
                Value::Fixed64(u64::from_le_bytes(raw.try_into().expect("8 bytes")))
            }
            2 => {
                let len = self.varint().map_err(in_field)?;
                Value::Bytes(self.take(field, len)?)
            }
            5 => {
                let raw = self.take(field, 4)?;
                Value::Fixed32(u32::from_le_bytes(raw.try_into().expect("4 bytes")))
            }
            wire => return Err(WireError::WireType { field, wire }),
        };
        Ok((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            self.pos = self.bytes.len();
        }
        Some(item)
    }
}

/// Appends a varint field.
pub fn put_varint(out: &mut Vec<u8>, field: u64, value: u64) {
    varint::encode(field << 3, out);
    varint::encode(value, out);
}

/// Appends a length-delimited field.
pub fn put_bytes(out: &mut Vec<u8>, field: u64, value: &[u8]) {
    varint::encode((field << 3) | 2, out);
    varint::encode(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// Appends a fixed32 field.
pub fn put_fixed32(out: &mut Vec<u8>, field: u64, value: u32) {
    varint::encode((field << 3) | 5, out);
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_wire_type_round_trips() {
        let mut out = Vec::new();
        put_varint(&mut out, 1, 300);
        put_bytes(&mut out, 2, b"abc");
        put_fixed32(&mut out, 3, 0xdead_beef);
        out.push((4 << 3) | 1);
        out.extend_from_slice(&7u64.to_le_bytes());
        put_varint(&mut out, 1000, 0);
        let fields: Vec<_> = Fields::new(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            fields,
            vec![
                (1, Value::Varint(300)),
                (2, Value::Bytes(b"abc")),
                (3, Value::Fixed32(0xdead_beef)),
                (4, Value::Fixed64(7)),
                (1000, Value::Varint(0)),
            ]
        );
        assert_eq!(fields[2].1.wire_type(), 5);
    }

    #[test]
    fn broken_fields_are_errors_and_end_the_walk() {
        // Bytes field claiming 5 bytes with 2 left.
        let mut fields = Fields::new(&[0x12, 5, b'a', b'b']);
        assert_eq!(
            fields.next(),
            Some(Err(WireError::PastEnd {
                field: 2,
                len: 5,
                remaining: 2
            }))
        );
        assert_eq!(fields.next(), None);
        // A group (wire type 3), a truncated fixed32, a truncated varint.
        assert!(matches!(
            Fields::new(&[0x0b]).next(),
            Some(Err(WireError::WireType { field: 1, wire: 3 }))
        ));
        assert!(matches!(
            Fields::new(&[0x0d, 1, 2]).next(),
            Some(Err(WireError::PastEnd { field: 1, .. }))
        ));
        assert!(matches!(
            Fields::new(&[0x08, 0x80]).next(),
            Some(Err(WireError::Varint { field: 1, .. }))
        ));
        assert!(matches!(
            Fields::new(&[0x80]).next(),
            Some(Err(WireError::Tag(_)))
        ));
    }
}
