//! Cutting a file into chunks: fixed size (`size-N`) or Kubo's content-defined buzhash
//! (`buzhash`).
//!
//! Buzhash cuts where a rolling hash of the last 32 bytes has its low 17 bits zero, never before
//! 128 KiB nor after 512 KiB, so a boundary depends only on the bytes just before it and an
//! insertion moves the boundaries of the chunks around it alone (the next boundaries fall
//! where they fell before). The rule is Kubo's (boxo's `chunker.Buzhash`) to the byte, quirks
//! included, so the CIDs are the ones `ipfs add --chunker=buzhash` gives:
//! - the hash of the window ending at byte `i` is checked before the window moves, so the first
//!   possible cut is at 128 KiB exactly;
//! - when the bytes left (at most 512 KiB) hold no boundary, they all become one chunk; at the
//!   end of the input a remainder under 128 KiB is the last chunk, and if nothing at all is
//!   left after a chunk that took every byte, Kubo still hands out one empty chunk (an empty
//!   leaf in the DAG), as this does.
//!
//! The byte table comes from Go's `math/rand` (`table.rs`, made by
//! `scripts/gen/buzhash-table.go`). Hand-written rather than a crate: the boundaries must be
//! Kubo's exactly, and the loop is a few lines.

mod table;

use super::params::{Chunker, ImportParams};
use std::io::{self, Read};
use table::BYTE_HASH;

/// The smallest buzhash chunk (but the last).
pub const BUZHASH_MIN: usize = 128 << 10;
/// The largest buzhash chunk.
pub const BUZHASH_MAX: usize = 512 << 10;
/// A boundary is where the hash has these bits zero (an average of 128 KiB past the minimum).
const BUZHASH_MASK: u32 = (1 << 17) - 1;
/// The rolling window.
const WINDOW: usize = 32;

/// Where the next buzhash chunk of `buf` ends. `buf` starts at a chunk's start and holds
/// [`BUZHASH_MAX`] bytes, or fewer (at least [`BUZHASH_MIN`]) at the end of the input.
pub fn buzhash_cut(buf: &[u8]) -> usize {
    debug_assert!(buf.len() >= BUZHASH_MIN && buf.len() <= BUZHASH_MAX);
    let mut state: u32 = 0;
    for &byte in &buf[BUZHASH_MIN - WINDOW..BUZHASH_MIN] {
        state = state.rotate_left(1) ^ BYTE_HASH[byte as usize];
    }
    let mut start = BUZHASH_MIN - WINDOW;
    let last = buf.len() - WINDOW - 1;
    while start <= last && state & BUZHASH_MASK != 0 {
        state = state.rotate_left(1)
            ^ BYTE_HASH[buf[start] as usize]
            ^ BYTE_HASH[buf[start + WINDOW] as usize];
        start += 1;
    }
    start + WINDOW
}

/// The chunks of a reader, as the parameters' chunker cuts them.
pub struct Splitter<R> {
    input: R,
    chunker: Chunker,
    /// Buzhash: the bytes read and not yet handed out, at the front of a [`BUZHASH_MAX`] buffer.
    buf: Vec<u8>,
    held: usize,
    finished: bool,
}

impl<R: Read> Splitter<R> {
    pub fn new(input: R, params: &ImportParams) -> Self {
        Splitter {
            input,
            chunker: params.chunker,
            buf: Vec::new(),
            held: 0,
            finished: false,
        }
    }

    /// The next chunk, `None` after the last. Fixed size: `N` bytes each, the last one shorter,
    /// none at all for empty input. Buzhash: see the module docs.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.finished {
            return Ok(None);
        }
        match self.chunker {
            Chunker::Size(size) => {
                let mut chunk = Vec::with_capacity(size);
                (&mut self.input)
                    .take(size as u64)
                    .read_to_end(&mut chunk)?;
                if chunk.len() < size {
                    self.finished = true;
                }
                Ok((!chunk.is_empty()).then_some(chunk))
            }
            Chunker::Buzhash => {
                if self.buf.is_empty() {
                    self.buf = vec![0; BUZHASH_MAX];
                }
                let available = self.held + read_full(&mut self.input, &mut self.buf[self.held..])?;
                if available < BUZHASH_MIN {
                    // Only at the end of the input (a full buffer is BUZHASH_MAX).
                    self.finished = true;
                    return Ok(Some(self.buf[..available].to_vec()));
                }
                let cut = buzhash_cut(&self.buf[..available]);
                let chunk = self.buf[..cut].to_vec();
                self.buf.copy_within(cut..available, 0);
                self.held = available - cut;
                Ok(Some(chunk))
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The chunks of `content` (all of it in memory).
pub fn split_bytes(content: &[u8], params: &ImportParams) -> Vec<Vec<u8>> {
    let mut splitter = Splitter::new(content, params);
    let mut out = Vec::new();
    while let Some(chunk) = splitter.next_chunk().expect("reading a slice cannot fail") {
        out.push(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buzhash() -> ImportParams {
        ImportParams {
            chunker: Chunker::Buzhash,
            ..ImportParams::default()
        }
    }

    #[test]
    fn the_table_is_kubos() {
        // Every bit set in exactly half of the entries (Kubo tests the same), and the ends of
        // the table as boxo lists it.
        for bit in 0..32 {
            let ones = BYTE_HASH.iter().filter(|v| *v >> bit & 1 == 1).count();
            assert_eq!(ones, 128, "bit {bit}");
        }
        assert_eq!(BYTE_HASH[0], 0x6236e7d5);
        assert_eq!(BYTE_HASH[255], 0x5c41857d);
    }

    #[test]
    fn chunks_rejoin_and_respect_the_bounds() {
        let data = crate::test_blocks::pseudo_random(5, 5 * 1024 * 1024 + 12345);
        let chunks = split_bytes(&data, &buzhash());
        assert_eq!(chunks.concat(), data);
        for chunk in &chunks[..chunks.len() - 1] {
            assert!(
                (BUZHASH_MIN..=BUZHASH_MAX).contains(&chunk.len()),
                "{}",
                chunk.len()
            );
        }
        let average = data.len() / chunks.len();
        assert!((150_000..400_000).contains(&average), "average {average}");
    }

    #[test]
    fn an_insertion_moves_only_the_chunks_around_it() {
        let data = crate::test_blocks::pseudo_random(6, 8 * 1024 * 1024);
        let mut edited = data.clone();
        let insert = crate::test_blocks::pseudo_random(7, 80_000);
        edited.splice(4_000_000..4_000_000, insert);
        let a = split_bytes(&data, &buzhash());
        let b = split_bytes(&edited, &buzhash());
        let shared = b
            .iter()
            .filter(|c| a.contains(c))
            .map(|c| c.len())
            .sum::<usize>();
        // Everything but the chunks around the insertion is shared.
        assert!(shared as f64 > 0.85 * data.len() as f64, "shared {shared}");
        let fixed = ImportParams::default();
        let fa = split_bytes(&data, &fixed);
        let fb = split_bytes(&edited, &fixed);
        let fixed_shared = fb
            .iter()
            .filter(|c| fa.contains(c))
            .map(|c| c.len())
            .sum::<usize>();
        assert!(
            fixed_shared < data.len() / 2 + 300_000,
            "fixed shared {fixed_shared}"
        );
    }

    #[test]
    fn kubos_edge_cases() {
        let p = buzhash();
        // Empty input: one empty chunk (Kubo's splitter hands one out; the DAG is the empty
        // file's either way).
        assert_eq!(split_bytes(&[], &p), vec![Vec::<u8>::new()]);
        // Under the minimum: one chunk.
        let small = vec![7u8; 1000];
        assert_eq!(split_bytes(&small, &p), vec![small.clone()]);
        // A window of one repeated byte hashes to the XOR of all 32 rotations of its table
        // entry: 0 when the entry has an even number of ones (a boundary at every minimum),
        // all ones otherwise (never a boundary: chunks of the maximum, then the rest taken
        // whole, then Kubo's empty chunk).
        let len = BUZHASH_MAX + BUZHASH_MIN + 10;
        let even = (0..=255u8)
            .find(|b| BYTE_HASH[*b as usize].count_ones().is_multiple_of(2))
            .unwrap();
        let odd = (0..=255u8)
            .find(|b| BYTE_HASH[*b as usize].count_ones() % 2 == 1)
            .unwrap();
        let sizes = |byte: u8| -> Vec<usize> {
            split_bytes(&vec![byte; len], &p)
                .iter()
                .map(Vec::len)
                .collect()
        };
        assert_eq!(
            sizes(even),
            vec![
                BUZHASH_MIN,
                BUZHASH_MIN,
                BUZHASH_MIN,
                BUZHASH_MIN,
                BUZHASH_MIN,
                10
            ]
        );
        assert_eq!(sizes(odd), vec![BUZHASH_MAX, BUZHASH_MIN + 10, 0]);
        let fixed = ImportParams::default();
        assert!(split_bytes(&[], &fixed).is_empty());
    }
}

#[cfg(test)]
mod dag_tests {
    use super::*;
    use crate::store::{BlockGetter, BlockPutter, MemoryStore};
    use crate::unixfs::{import_bytes, Profile, Reader};

    #[test]
    fn an_empty_file_has_the_same_cid_whatever_the_chunker() {
        for (fixed, cdc) in [
            (Profile::UnixfsV0_2015, Profile::UnixfsV0_2015Buzhash),
            (Profile::UnixfsV1_2025, Profile::UnixfsV1_2025Buzhash),
        ] {
            assert_eq!(
                import_bytes(&fixed.params(), &[]).0,
                import_bytes(&cdc.params(), &[]).0
            );
        }
    }

    #[test]
    fn a_trailing_empty_chunk_becomes_an_empty_leaf_that_reads_back() {
        let odd = (0..=255u8)
            .find(|b| BYTE_HASH[*b as usize].count_ones() % 2 == 1)
            .unwrap();
        let content = vec![odd; BUZHASH_MAX + BUZHASH_MIN + 10];
        for profile in [Profile::UnixfsV0_2015Buzhash, Profile::UnixfsV1_2025Buzhash] {
            let (root, blocks) = import_bytes(&profile.params(), &content);
            let store = MemoryStore::new();
            for b in &blocks {
                store.put_block(b).unwrap();
            }
            let node =
                crate::dagpb::PbNode::decode(store.get_block(&root.cid).unwrap().unwrap().data())
                    .unwrap();
            assert_eq!(node.links.len(), 3, "{profile}: the empty leaf is linked");
            let mut out = Vec::new();
            Reader::new(&store)
                .read_file(&root.cid, 0, None, &mut out)
                .unwrap();
            assert_eq!(out, content);
        }
    }
}
