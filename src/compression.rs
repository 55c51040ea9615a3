//! The stream compressions trove reads around data files and archives — gzip and zstd — told
//! by name or by their first bytes, and the decoding reader for each (the `flate2` and `zstd`
//! crates; gzip members are read one after another, as `gzip -d` does).

use std::io::{BufReader, Read};
use std::path::Path;

/// A compression around a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// None.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// zstd (`.zst`).
    Zstd,
}

impl Compression {
    /// By a file's first bytes (four are enough).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// By the first bytes of the file at `path`.
    pub fn sniff_file(path: &Path) -> std::io::Result<Compression> {
        let mut head = [0u8; 4];
        let n = std::fs::File::open(path)?.read(&mut head)?;
        Ok(Compression::sniff(&head[..n]))
    }

    /// The decoded bytes of `input`.
    pub fn reader<R: Read + Send + 'static>(
        self,
        input: R,
    ) -> std::io::Result<Box<dyn Read + Send>> {
        let buffered = BufReader::with_capacity(1 << 20, input);
        Ok(match self {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressions_are_told_by_their_first_bytes() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"gene"), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
    }
}
