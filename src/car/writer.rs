//! CARv1 writer.

use super::{CarError, MAX_BLOCK_SIZE};
use crate::cbor;
use crate::content::{Block, Cid};
use crate::varint;
use std::io::Write;

/// Writes a CARv1: the header on creation, then one section per block.
///
/// Writes go straight to the given writer, two `write_all` calls per section: wrap a file or
/// socket in a [`std::io::BufWriter`]. Call [`CarWriter::finish`] to flush.
#[derive(Debug)]
pub struct CarWriter<W: Write> {
    out: W,
    bytes: u64,
    blocks: u64,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header `{roots, version: 1}` (canonical DAG-CBOR, as Kubo writes it).
    pub fn new(mut out: W, roots: &[Cid]) -> Result<Self, CarError> {
        let buf = header_bytes(roots);
        out.write_all(&buf).map_err(CarError::Write)?;
        Ok(CarWriter {
            out,
            bytes: buf.len() as u64,
            blocks: 0,
        })
    }

    /// Writes a verified block as one section.
    pub fn write_block(&mut self, block: &Block) -> Result<(), CarError> {
        self.write_section(block.cid(), block.data())
    }

    /// Writes one section. The caller vouches that `data` matches `cid` (readers verify it).
    /// Blocks over [`MAX_BLOCK_SIZE`] are refused, since no reader would accept them.
    pub fn write_section(&mut self, cid: &Cid, data: &[u8]) -> Result<(), CarError> {
        if data.len() > MAX_BLOCK_SIZE {
            return Err(CarError::BlockTooLarge {
                cid: cid.to_string(),
                len: data.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let prefix = section_prefix(cid, data.len());
        self.out.write_all(&prefix).map_err(CarError::Write)?;
        self.out.write_all(data).map_err(CarError::Write)?;
        self.bytes += (prefix.len() + data.len()) as u64;
        self.blocks += 1;
        Ok(())
    }

    /// Bytes written so far (header included).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Sections written so far.
    pub fn blocks_written(&self) -> u64 {
        self.blocks
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W, CarError> {
        self.out.flush().map_err(CarError::Write)?;
        Ok(self.out)
    }
}

/// A CARv1 header `{roots, version: 1}` with its length prefix: the first bytes of a CAR.
pub fn header_bytes(roots: &[Cid]) -> Vec<u8> {
    let header = cbor::encode_car_header(roots);
    let mut buf = Vec::with_capacity(header.len() + 10);
    varint::encode(header.len() as u64, &mut buf);
    buf.extend_from_slice(&header);
    buf
}

/// What goes before a block's `len` bytes of data in a section: the section's length and the
/// CID (for writers that send the data from where it already is).
pub fn section_prefix(cid: &Cid, len: usize) -> Vec<u8> {
    let cid_bytes = cid.to_bytes();
    let mut prefix = Vec::with_capacity(cid_bytes.len() + 10);
    varint::encode((cid_bytes.len() + len) as u64, &mut prefix);
    prefix.extend_from_slice(&cid_bytes);
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::car::{CarReader, MAX_HEADER_SIZE};
    use crate::content::{cid_of, HashCode, DAG_CBOR, RAW};
    use proptest::prelude::*;

    fn raw_block(data: Vec<u8>) -> Block {
        Block::encode(
            cid_of(cid::Version::V1, RAW, HashCode::Sha2_256, &data),
            data,
        )
    }

    fn roundtrip(roots: &[Cid], blocks: &[Block]) -> Vec<u8> {
        let mut w = CarWriter::new(Vec::new(), roots).unwrap();
        for b in blocks {
            w.write_block(b).unwrap();
        }
        let written = w.bytes_written();
        let bytes = w.finish().unwrap();
        assert_eq!(written, bytes.len() as u64);
        bytes
    }

    fn arb_block() -> impl Strategy<Value = Block> {
        (
            proptest::collection::vec(any::<u8>(), 0..2048),
            prop_oneof![
                Just(HashCode::Sha2_256),
                Just(HashCode::Sha2_512),
                Just(HashCode::Blake2b256)
            ],
            prop_oneof![Just(RAW), Just(DAG_CBOR), Just(0x70u64)],
            any::<bool>(),
        )
            .prop_map(|(data, code, codec, v0)| {
                let version = if v0 {
                    cid::Version::V0
                } else {
                    cid::Version::V1
                };
                Block::encode(cid_of(version, codec, code, &data), data)
            })
    }

    proptest! {
        #[test]
        fn car_write_read_roundtrip(
            blocks in proptest::collection::vec(arb_block(), 0..20),
            nroots in 0usize..4,
        ) {
            let roots: Vec<Cid> = blocks.iter().take(nroots).map(|b| *b.cid()).collect();
            let bytes = roundtrip(&roots, &blocks);
            let mut reader = CarReader::new(&bytes[..]).unwrap();
            prop_assert_eq!(reader.version(), 1);
            prop_assert_eq!(reader.roots(), &roots[..]);
            let mut read = Vec::new();
            while let Some(b) = reader.next_block().unwrap() {
                read.push(b);
            }
            prop_assert_eq!(read, blocks);
            prop_assert_eq!(reader.offset(), bytes.len() as u64);
        }

        #[test]
        fn car_reader_never_panics_on_mutations(
            blocks in proptest::collection::vec(arb_block(), 1..5),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let roots = vec![*blocks[0].cid()];
            let mut bytes = roundtrip(&roots, &blocks);
            for (i, v) in flips {
                let i = i.index(bytes.len());
                bytes[i] = v;
            }
            let cut = cut.index(bytes.len() + 1);
            bytes.truncate(cut);
            if let Ok(mut reader) = CarReader::new(&bytes[..]) {
                for _ in 0..100 {
                    match reader.next_block() {
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }

        #[test]
        fn car_truncation_is_always_an_error(
            blocks in proptest::collection::vec(arb_block(), 1..5),
            cut in any::<prop::sample::Index>(),
        ) {
            let roots = vec![*blocks[0].cid()];
            let bytes = roundtrip(&roots, &blocks);
            let cut = cut.index(bytes.len());
            let short = &bytes[..cut];
            let result = CarReader::new(short).and_then(|r| r.blocks().collect::<Result<Vec<_>, _>>());
            // Cutting exactly between sections is a valid, shorter CAR; anywhere else must fail.
            if let Ok(read) = result {
                let expected = roundtrip(&roots, &blocks[..read.len()]);
                prop_assert_eq!(&expected[..], short);
            }
        }
    }

    #[test]
    fn car_writer_refuses_oversized_blocks_and_reader_refuses_oversized_sections() {
        let big = raw_block(vec![7; MAX_BLOCK_SIZE + 1]);
        let mut w = CarWriter::new(Vec::new(), &[]).unwrap();
        assert!(matches!(
            w.write_block(&big),
            Err(CarError::BlockTooLarge { .. })
        ));
        let ok = raw_block(vec![7; MAX_BLOCK_SIZE]);
        w.write_block(&ok).unwrap();
        let bytes = w.finish().unwrap();
        let mut r = CarReader::new(&bytes[..]).unwrap();
        assert_eq!(r.next_block().unwrap().unwrap(), ok);

        // Hand-made section one byte over the limit.
        let mut bytes = CarWriter::new(Vec::new(), &[]).unwrap().finish().unwrap();
        let cid = big.cid().to_bytes();
        varint::encode((cid.len() + big.data().len()) as u64, &mut bytes);
        bytes.extend_from_slice(&cid);
        bytes.extend_from_slice(big.data());
        let err = CarReader::new(&bytes[..])
            .unwrap()
            .next_section()
            .unwrap_err();
        assert!(
            matches!(err, CarError::SectionTooLarge { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn car_reader_rejects_absurd_lengths_without_allocating() {
        let mut bytes = Vec::new();
        varint::encode(u64::MAX, &mut bytes);
        let err = CarReader::new(&bytes[..]).unwrap_err();
        assert!(matches!(err, CarError::HeaderTooLarge { .. }), "{err}");

        let mut bytes = Vec::new();
        varint::encode(MAX_HEADER_SIZE as u64, &mut bytes);
        bytes.push(0xa2);
        let err = CarReader::new(&bytes[..]).unwrap_err();
        assert!(matches!(err, CarError::Truncated { .. }), "{err}");

        let mut bytes = CarWriter::new(Vec::new(), &[]).unwrap().finish().unwrap();
        varint::encode(1 << 40, &mut bytes);
        let err = CarReader::new(&bytes[..])
            .unwrap()
            .next_section()
            .unwrap_err();
        assert!(matches!(err, CarError::SectionTooLarge { .. }), "{err}");
        assert!(crate::Hint::hint(&err).is_some());
    }

    #[test]
    fn car_zero_length_section_ends_data_only_if_followed_by_zeros() {
        let block = raw_block(b"hello".to_vec());
        let mut bytes = roundtrip(&[*block.cid()], std::slice::from_ref(&block));
        bytes.extend_from_slice(&[0; 100]);
        let read: Vec<Block> = CarReader::new(&bytes[..])
            .unwrap()
            .blocks()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read, vec![block.clone()]);

        bytes.push(1);
        let err = CarReader::new(&bytes[..])
            .unwrap()
            .blocks()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(matches!(err, CarError::DataAfterPadding { .. }), "{err}");
    }

    #[test]
    fn car_bad_block_is_named() {
        let block = raw_block(b"hello".to_vec());
        let mut bytes = roundtrip(&[], std::slice::from_ref(&block));
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let mut r = CarReader::new(&bytes[..]).unwrap();
        let err = r.next_block().unwrap_err();
        assert!(err.to_string().contains(&block.cid().to_string()), "{err}");
        assert!(
            r.next_block().unwrap().is_none(),
            "reader stops after an error"
        );
        // The unverified view still yields it.
        let (cid, _) = CarReader::new(&bytes[..])
            .unwrap()
            .next_section()
            .unwrap()
            .unwrap();
        assert_eq!(&cid, block.cid());
    }
}
