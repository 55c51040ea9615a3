//! Streaming CARv1 / CARv2 reader.

use super::{
    CarError, CarHeader, CarV2Header, CARV2_HEADER_SIZE, CARV2_PRAGMA, MAX_CID_SIZE,
    MAX_HEADER_SIZE, MAX_SECTION_SIZE,
};
use crate::cbor;
use crate::content::{is_inline, Block, Cid, VerifyError};
use std::io::{BufReader, ErrorKind, Read, Take};

/// Reads a CAR one section at a time.
///
/// [`CarReader::new`] reads the header (and, for a CARv2, the pragma, the 40-byte header and the
/// padding up to the data); each [`CarReader::next_section`] then reads one section. Memory use
/// is bounded by one section. After an error or the end, further calls return `Ok(None)`.
///
/// ```
/// # fn main() -> Result<(), trove::car::CarError> {
/// let car: &[u8] = &[]; // bytes of a CAR, or any `std::io::Read`
/// # let car = trove::car::CarWriter::new(Vec::new(), &[])?.finish()?;
/// let mut reader = trove::car::CarReader::new(&car[..])?;
/// while let Some(block) = reader.next_block()? {
///     println!("{}", block.cid());
/// }
/// # Ok(()) }
/// ```
pub struct CarReader<R: Read> {
    input: Take<BufReader<R>>,
    header: CarHeader,
    /// Position in the whole stream of the next byte to read.
    offset: u64,
    /// Index of the next section.
    index: u64,
    done: bool,
}

impl<R: Read> std::fmt::Debug for CarReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarReader")
            .field("header", &self.header)
            .field("offset", &self.offset)
            .field("index", &self.index)
            .field("done", &self.done)
            .finish()
    }
}

impl<R: Read> CarReader<R> {
    /// Reads the header of a CARv1 or CARv2. The input is buffered internally.
    pub fn new(input: R) -> Result<Self, CarError> {
        let mut reader = CarReader {
            input: BufReader::with_capacity(64 * 1024, input).take(u64::MAX),
            header: CarHeader {
                version: 1,
                roots: Vec::new(),
                v2: None,
            },
            offset: 0,
            index: 0,
            done: false,
        };
        let (fields, raw, body_offset) = match reader.read_v1_header(true)? {
            Some(parsed) => parsed,
            None => return Err(CarError::Empty),
        };
        match fields.version {
            1 => {
                reader.header.roots = require_roots(fields.roots, body_offset)?;
            }
            2 => {
                // The pragma is exactly `{version: 2}`; anything else with version 2 is not a
                // CARv2 (e.g. `{version: 2, roots: […]}`).
                if raw != CARV2_PRAGMA[1..] {
                    return Err(CarError::InvalidHeader {
                        offset: body_offset,
                        detail: "version 2 header is not the CARv2 pragma `{version: 2}`".into(),
                    });
                }
                let v2 = reader.read_v2_header()?;
                let (fields, _, body_offset) = match reader.read_v1_header(false)? {
                    Some(parsed) => parsed,
                    None => {
                        return Err(CarError::Truncated {
                            offset: reader.offset,
                            what: "the CARv2 data payload (no inner CARv1 header)".into(),
                        })
                    }
                };
                if fields.version != 1 {
                    return Err(CarError::InvalidHeader {
                        offset: body_offset,
                        detail: format!(
                            "the CARv2 payload must be a CARv1, its header says version {}",
                            fields.version
                        ),
                    });
                }
                reader.header.version = 2;
                reader.header.roots = require_roots(fields.roots, body_offset)?;
                reader.header.v2 = Some(v2);
            }
            other => return Err(CarError::UnsupportedVersion(other)),
        }
        Ok(reader)
    }

    /// The header.
    pub fn header(&self) -> &CarHeader {
        &self.header
    }

    /// The roots the header names (not trusted).
    pub fn roots(&self) -> &[Cid] {
        &self.header.roots
    }

    /// The container version, 1 or 2.
    pub fn version(&self) -> u64 {
        self.header.version
    }

    /// How many bytes of the stream have been read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next section: its CID and its bytes, **not verified**. `Ok(None)` at the end of
    /// the data (the end of the stream, of a CARv2's payload, or a zero-length section).
    pub fn next_section(&mut self) -> Result<Option<(Cid, Vec<u8>)>, CarError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_section();
        match &result {
            Ok(Some(_)) => self.index += 1,
            Ok(None) | Err(_) => self.done = true,
        }
        result
    }

    /// Reads the next section and verifies it: a block whose bytes do not hash to its CID is an
    /// error naming the CID.
    pub fn next_block(&mut self) -> Result<Option<Block>, CarError> {
        let offset = self.offset;
        let index = self.index;
        match self.next_section()? {
            None => Ok(None),
            Some((cid, data)) => {
                let len = data.len();
                match Block::verified(cid, data) {
                    Ok(block) => Ok(Some(block)),
                    Err(e) => {
                        self.done = true;
                        Err(verify_error(e, &cid, len, index, offset))
                    }
                }
            }
        }
    }

    /// The remaining sections, unverified, as an iterator.
    pub fn sections(self) -> Sections<R> {
        Sections(self)
    }

    /// The remaining sections, verified, as an iterator of [`Block`]s.
    pub fn blocks(self) -> Blocks<R> {
        Blocks(self)
    }

    /// Reads a varint-prefixed CARv1 header: the decoded fields, the raw bytes and where they
    /// start. `Ok(None)` if the input is empty right away.
    fn read_v1_header(
        &mut self,
        outer: bool,
    ) -> Result<Option<(cbor::CarHeaderFields, Vec<u8>, u64)>, CarError> {
        let start = self.offset;
        let what = if outer {
            "the header length"
        } else {
            "the inner CARv1 header length"
        };
        let Some(len) = self.read_varint(what, |detail| CarError::InvalidHeader {
            offset: start,
            detail,
        })?
        else {
            return Ok(None);
        };
        if len > MAX_HEADER_SIZE as u64 {
            return Err(CarError::HeaderTooLarge {
                offset: start,
                len,
                max: MAX_HEADER_SIZE,
            });
        }
        if len == 0 {
            return Err(CarError::InvalidHeader {
                offset: start,
                detail: "the header length is zero".into(),
            });
        }
        let body_start = self.offset;
        let raw = self.read_vec(len as usize, "the header")?;
        let fields = cbor::decode_car_header(&raw).map_err(|detail| CarError::InvalidHeader {
            offset: body_start,
            detail,
        })?;
        Ok(Some((fields, raw, body_start)))
    }

    /// After the pragma: the 40-byte header, then padding up to the data, then limits the input
    /// to the data payload.
    fn read_v2_header(&mut self) -> Result<CarV2Header, CarError> {
        let raw = self.read_vec(CARV2_HEADER_SIZE, "the CARv2 header")?;
        let u64_at = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
        let header = CarV2Header {
            characteristics: u128::from_le_bytes(raw[0..16].try_into().expect("16 bytes")),
            data_offset: u64_at(16),
            data_size: u64_at(24),
            index_offset: u64_at(32),
        };
        let fixed_end = (CARV2_PRAGMA.len() + CARV2_HEADER_SIZE) as u64;
        if header.data_offset < fixed_end {
            return Err(CarError::InvalidV2Header {
                detail: format!(
                    "data offset {} is inside the {fixed_end}-byte pragma and header",
                    header.data_offset
                ),
            });
        }
        let Some(data_end) = header.data_offset.checked_add(header.data_size) else {
            return Err(CarError::InvalidV2Header {
                detail: format!(
                    "data offset {} + data size {} overflows",
                    header.data_offset, header.data_size
                ),
            });
        };
        if header.index_offset != 0 && header.index_offset < data_end {
            return Err(CarError::InvalidV2Header {
                detail: format!(
                    "index offset {} is inside the data payload ({}..{data_end})",
                    header.index_offset, header.data_offset
                ),
            });
        }
        // Skip the padding by reading it: the input may not be seekable.
        let padding = header.data_offset - self.offset;
        let skipped = std::io::copy(&mut (&mut self.input).take(padding), &mut std::io::sink())
            .map_err(|source| CarError::Read {
                offset: self.offset,
                source,
            })?;
        self.offset += skipped;
        if skipped < padding {
            return Err(CarError::Truncated {
                offset: self.offset,
                what: format!(
                    "the padding before the CARv2 data payload at byte {}",
                    header.data_offset
                ),
            });
        }
        self.input.set_limit(header.data_size);
        Ok(header)
    }

    fn read_section(&mut self) -> Result<Option<(Cid, Vec<u8>)>, CarError> {
        let index = self.index;
        let start = self.offset;
        let Some(len) = self.read_varint(&format!("the length of section {index}"), |detail| {
            CarError::InvalidSection {
                index,
                offset: start,
                detail: format!("section length: {detail}"),
            }
        })?
        else {
            return Ok(None);
        };
        if len == 0 {
            self.drain_padding(start)?;
            return Ok(None);
        }
        if len > MAX_SECTION_SIZE as u64 {
            return Err(CarError::SectionTooLarge {
                index,
                offset: start,
                len,
                max: MAX_SECTION_SIZE,
            });
        }
        let mut data = self.read_vec(len as usize, &format!("section {index}"))?;
        let mut rest: &[u8] = &data;
        let cid = Cid::read_bytes(&mut rest).map_err(|e| CarError::InvalidSection {
            index,
            offset: start,
            detail: format!("invalid CID: {e}"),
        })?;
        let cid_len = data.len() - rest.len();
        if cid_len > MAX_CID_SIZE {
            return Err(CarError::InvalidSection {
                index,
                offset: start,
                detail: format!(
                    "the CID takes {cid_len} bytes, beyond the maximum of {MAX_CID_SIZE}"
                ),
            });
        }
        if data.len() - cid_len > super::MAX_BLOCK_SIZE {
            return Err(CarError::SectionTooLarge {
                index,
                offset: start,
                len,
                max: MAX_SECTION_SIZE,
            });
        }
        data.drain(..cid_len);
        Ok(Some((cid, data)))
    }

    /// After a zero-length section: the rest must be zero bytes.
    fn drain_padding(&mut self, padding_offset: u64) -> Result<(), CarError> {
        let mut buf = [0u8; 8192];
        loop {
            let n = match self.input.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CarError::Read {
                        offset: self.offset,
                        source,
                    })
                }
            };
            if let Some(pos) = buf[..n].iter().position(|&b| b != 0) {
                return Err(CarError::DataAfterPadding {
                    padding_offset,
                    offset: self.offset + pos as u64,
                });
            }
            self.offset += n as u64;
        }
    }

    /// Reads a varint byte by byte (the input is buffered). `Ok(None)` on a clean end before its
    /// first byte; an end in the middle is [`CarError::Truncated`].
    fn read_varint(
        &mut self,
        what: &str,
        invalid: impl FnOnce(String) -> CarError,
    ) -> Result<Option<u64>, CarError> {
        let mut decoder = crate::varint::Decoder::minimal();
        loop {
            let mut byte = [0u8; 1];
            match self.input.read(&mut byte) {
                Ok(0) if decoder.is_empty() => return Ok(None),
                Ok(0) => {
                    return Err(CarError::Truncated {
                        offset: self.offset,
                        what: what.to_string(),
                    })
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CarError::Read {
                        offset: self.offset,
                        source,
                    })
                }
            }
            self.offset += 1;
            match decoder.push(byte[0]) {
                Ok(Some(value)) => return Ok(Some(value)),
                Ok(None) => {}
                Err(e) => return Err(invalid(e.to_string())),
            }
        }
    }

    /// Reads exactly `len` bytes. The buffer grows as data arrives, so a lying length prefix on a
    /// short input does not allocate `len` bytes up front.
    fn read_vec(&mut self, len: usize, what: &str) -> Result<Vec<u8>, CarError> {
        let mut out = Vec::with_capacity(len.min(64 * 1024));
        let got = (&mut self.input)
            .take(len as u64)
            .read_to_end(&mut out)
            .map_err(|source| CarError::Read {
                offset: self.offset,
                source,
            })?;
        self.offset += got as u64;
        if got < len {
            return Err(CarError::Truncated {
                offset: self.offset,
                what: format!("{what} ({got} of {len} bytes)"),
            });
        }
        Ok(out)
    }
}

fn require_roots(roots: Option<Vec<Cid>>, offset: u64) -> Result<Vec<Cid>, CarError> {
    roots.ok_or_else(|| CarError::InvalidHeader {
        offset,
        detail: "missing `roots` (an empty list is allowed, no list is not)".into(),
    })
}

fn verify_error(e: VerifyError, cid: &Cid, len: usize, index: u64, offset: u64) -> CarError {
    let detail = match e {
        VerifyError::UnsupportedHash { code, .. } => {
            return CarError::UnverifiableBlock {
                cid: cid.to_string(),
                index,
                offset,
                code,
            }
        }
        VerifyError::Mismatch { .. } if is_inline(cid) => format!(
            "its {len} byte(s) differ from the {} byte(s) inlined in the identity CID",
            cid.hash().digest().len()
        ),
        VerifyError::Mismatch { actual, .. } => format!("its bytes hash to `{actual}`"),
    };
    CarError::BadBlock {
        cid: cid.to_string(),
        index,
        offset,
        detail,
    }
}

/// Iterator over unverified sections; see [`CarReader::sections`].
#[derive(Debug)]
pub struct Sections<R: Read>(CarReader<R>);

impl<R: Read> Sections<R> {
    /// The reader, e.g. for its header or offset.
    pub fn reader(&self) -> &CarReader<R> {
        &self.0
    }
}

impl<R: Read> Iterator for Sections<R> {
    type Item = Result<(Cid, Vec<u8>), CarError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_section().transpose()
    }
}

/// Iterator over verified blocks; see [`CarReader::blocks`].
#[derive(Debug)]
pub struct Blocks<R: Read>(CarReader<R>);

impl<R: Read> Blocks<R> {
    /// The reader, e.g. for its header or offset.
    pub fn reader(&self) -> &CarReader<R> {
        &self.0
    }
}

impl<R: Read> Iterator for Blocks<R> {
    type Item = Result<Block, CarError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_block().transpose()
    }
}
