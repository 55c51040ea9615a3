//! Unsigned LEB128 varints as used by protobuf, multiformats and CAR framing: the one place
//! trove decodes them. Hand-written rather than the `unsigned-varint` crate because trove needs
//! both rules below, an incremental decoder for byte-at-a-time streams, and its own errors:
//! - [`decode`] (protobuf fields): at most ten bytes, the value within 64 bits; a non-minimal
//!   encoding is accepted, as protobuf decoders do.
//! - [`Decoder`] with `minimal` (length prefixes of CAR sections and bitswap messages): the
//!   same, and a trailing zero byte (a padded, non-minimal encoding) is an error.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended in the middle of the varint.
    #[error("varint cut short")]
    Truncated,
    /// More than ten bytes, or a value above `u64::MAX`.
    #[error("varint longer than 64 bits")]
    Overflow,
    /// Padded with a trailing zero byte where the minimal encoding is required.
    #[error("varint is not minimally encoded")]
    NotMinimal,
}

/// Decodes a varint fed one byte at a time (for readers that must not read past it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoder {
    value: u64,
    len: u8,
    minimal: bool,
}

impl Decoder {
    /// A decoder that accepts only minimal encodings.
    pub fn minimal() -> Self {
        Decoder {
            minimal: true,
            ..Decoder::default()
        }
    }

    /// Whether no byte has been fed yet (an end of input here is a clean end).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feeds the next byte: `Ok(Some(value))` when it was the last one.
    pub fn push(&mut self, byte: u8) -> Result<Option<u64>, VarintError> {
        let i = self.len;
        if i == 9 && byte > 1 {
            return Err(VarintError::Overflow);
        }
        self.value |= u64::from(byte & 0x7f) << (7 * u32::from(i));
        self.len += 1;
        if byte & 0x80 == 0 {
            if self.minimal && i > 0 && byte == 0 {
                return Err(VarintError::NotMinimal);
            }
            return Ok(Some(self.value));
        }
        if self.len == 10 {
            return Err(VarintError::Overflow);
        }
        Ok(None)
    }
}

/// Reads a varint from the front of `buf`; returns the value and how many bytes it took.
pub fn decode(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut decoder = Decoder::default();
    for (i, &byte) in buf.iter().enumerate() {
        if let Some(value) = decoder.push(byte)? {
            return Ok((value, i + 1));
        }
    }
    Err(VarintError::Truncated)
}

/// Appends `value` as a varint.
pub fn encode(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// How many bytes `value` takes as a varint.
pub fn encoded_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(out.len(), encoded_len(v));
            assert_eq!(decode(&out), Ok((v, out.len())));
        }
    }

    #[test]
    fn the_incremental_decoder_agrees_with_decode_and_can_demand_minimal_encodings() {
        for v in [0u64, 1, 127, 128, 300, 16384, u64::MAX] {
            let mut out = Vec::new();
            encode(v, &mut out);
            let mut d = Decoder::minimal();
            let mut got = None;
            for &b in &out {
                assert!(got.is_none());
                got = d.push(b).unwrap();
            }
            assert_eq!(got, Some(v));
        }
        // 1 padded to two bytes: fine for protobuf, not for a length prefix.
        assert_eq!(decode(&[0x81, 0x00]), Ok((1, 2)));
        let mut d = Decoder::minimal();
        assert_eq!(d.push(0x81), Ok(None));
        assert_eq!(d.push(0x00), Err(VarintError::NotMinimal));
        let mut d = Decoder::minimal();
        for _ in 0..9 {
            assert_eq!(d.push(0xff), Ok(None));
        }
        assert_eq!(d.push(0x02), Err(VarintError::Overflow));
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        assert_eq!(decode(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xff; 11]), Err(VarintError::Overflow));
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(VarintError::Overflow)
        );
    }
}
