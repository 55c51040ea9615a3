//! Import parameters: the IPIP-0499 profiles and Kubo's knobs on top of them.

use crate::content::HashCode;
use cid::Version;
use std::fmt;
use std::str::FromStr;

/// The largest chunk Kubo accepts (`2 MiB - 256`), so that every block stays under the 2 MiB
/// block limit that peers enforce.
pub const MAX_CHUNK_SIZE: usize = 2 * 1024 * 1024 - 256;

/// A named set of import parameters (IPIP-0499, and the same with Kubo's buzhash chunker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Kubo's historical `ipfs add` defaults: CIDv0, dag-pb leaves, 256 KiB chunks, 174 links.
    UnixfsV0_2015,
    /// The modern profile: CIDv1, raw leaves, 1 MiB chunks, 1024 links.
    UnixfsV1_2025,
    /// `unixfs-v0-2015` cut by buzhash (`ipfs add --chunker=buzhash`): content-defined chunks,
    /// so a new version with bytes inserted shares the blocks around the insertion.
    UnixfsV0_2015Buzhash,
    /// `unixfs-v1-2025` cut by buzhash (`ipfs add --cid-version 1 --chunker=buzhash
    /// --max-links 1024`).
    UnixfsV1_2025Buzhash,
}

/// Every profile, for messages.
pub const PROFILE_NAMES: &str =
    "`unixfs-v0-2015`, `unixfs-v1-2025`, `unixfs-v0-2015-buzhash` or `unixfs-v1-2025-buzhash`";

impl Profile {
    /// The profile's name as written on the command line and in registries.
    pub fn name(self) -> &'static str {
        match self {
            Profile::UnixfsV0_2015 => "unixfs-v0-2015",
            Profile::UnixfsV1_2025 => "unixfs-v1-2025",
            Profile::UnixfsV0_2015Buzhash => "unixfs-v0-2015-buzhash",
            Profile::UnixfsV1_2025Buzhash => "unixfs-v1-2025-buzhash",
        }
    }

    /// The parameters this profile stands for.
    pub fn params(self) -> ImportParams {
        match self {
            Profile::UnixfsV0_2015 => ImportParams {
                cid_version: Version::V0,
                raw_leaves: false,
                chunker: Chunker::Size(256 * 1024),
                max_links: 174,
                hash: HashCode::Sha2_256,
            },
            Profile::UnixfsV1_2025 => ImportParams {
                cid_version: Version::V1,
                raw_leaves: true,
                chunker: Chunker::Size(1024 * 1024),
                max_links: 1024,
                hash: HashCode::Sha2_256,
            },
            Profile::UnixfsV0_2015Buzhash => ImportParams {
                chunker: Chunker::Buzhash,
                ..Profile::UnixfsV0_2015.params()
            },
            Profile::UnixfsV1_2025Buzhash => ImportParams {
                chunker: Chunker::Buzhash,
                ..Profile::UnixfsV1_2025.params()
            },
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "unixfs-v0-2015" => Ok(Profile::UnixfsV0_2015),
            "unixfs-v1-2025" => Ok(Profile::UnixfsV1_2025),
            "unixfs-v0-2015-buzhash" => Ok(Profile::UnixfsV0_2015Buzhash),
            "unixfs-v1-2025-buzhash" => Ok(Profile::UnixfsV1_2025Buzhash),
            other => Err(format!(
                "unknown profile `{other}`; expected {PROFILE_NAMES}"
            )),
        }
    }
}

/// How content is cut into blocks and named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportParams {
    /// CID version of dag-pb nodes (raw leaves are always CIDv1).
    pub cid_version: Version,
    /// Whether file chunks are raw blocks instead of UnixFS File nodes.
    pub raw_leaves: bool,
    /// How files are cut into chunks.
    pub chunker: Chunker,
    /// Maximum links per file node (balanced layout).
    pub max_links: usize,
    /// Hash function for every block.
    pub hash: HashCode,
}

impl Default for ImportParams {
    fn default() -> Self {
        Profile::UnixfsV0_2015.params()
    }
}

/// Kubo's `ipfs add` knobs applied on top of a profile; `None` keeps the profile's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOverrides {
    /// `--cid-version 0|1`.
    pub cid_version: Option<Version>,
    /// `--raw-leaves[=true|false]`.
    pub raw_leaves: Option<bool>,
    /// `--chunker size-N|buzhash`.
    pub chunker: Option<Chunker>,
    /// `--max-links N`.
    pub max_links: Option<usize>,
    /// `--hash NAME`.
    pub hash: Option<HashCode>,
}

impl ImportParams {
    /// Applies Kubo's rules: an explicit `--raw-leaves` wins; otherwise `--cid-version 1` turns
    /// raw leaves on (and `--cid-version 0` off), as `ipfs add` does.
    pub fn with_overrides(self, o: ImportOverrides) -> Result<Self, String> {
        let mut p = self;
        if let Some(hash) = o.hash {
            p.hash = hash;
            // Kubo: a hash other than sha2-256 cannot be CIDv0, so it implies CIDv1 (and so
            // raw leaves, unless --raw-leaves says otherwise).
            if hash != HashCode::Sha2_256 && o.cid_version != Some(Version::V0) {
                p.cid_version = Version::V1;
                p.raw_leaves = true;
            }
        }
        if let Some(v) = o.cid_version {
            p.cid_version = v;
            p.raw_leaves = v == Version::V1;
        }
        if let Some(raw) = o.raw_leaves {
            p.raw_leaves = raw;
        }
        if let Some(chunker) = o.chunker {
            p.chunker = chunker;
        }
        if let Some(links) = o.max_links {
            p.max_links = links;
        }
        p.validate()?;
        Ok(p)
    }

    /// Checks the bounds Kubo enforces.
    pub fn validate(&self) -> Result<(), String> {
        if let Chunker::Size(size) = self.chunker {
            if size == 0 || size > MAX_CHUNK_SIZE {
                return Err(format!(
                    "chunk size {size} is out of range; use 1..={MAX_CHUNK_SIZE} bytes (e.g. --chunker size-262144)"
                ));
            }
        }
        if self.max_links < 2 {
            return Err(format!(
                "--max-links {} is too small; a node needs at least 2 links",
                self.max_links
            ));
        }
        Ok(())
    }
}

/// How files are cut into chunks (Kubo's `--chunker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chunker {
    /// `size-N`: chunks of N bytes.
    Size(usize),
    /// `buzhash`: content-defined chunks of 128 to 512 KiB (see [`super::chunker`]).
    Buzhash,
}

impl Chunker {
    /// The largest chunk it makes.
    pub fn max_chunk(self) -> usize {
        match self {
            Chunker::Size(size) => size,
            Chunker::Buzhash => super::chunker::BUZHASH_MAX,
        }
    }
}

impl fmt::Display for Chunker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chunker::Size(size) => write!(f, "size-{size}"),
            Chunker::Buzhash => f.write_str("buzhash"),
        }
    }
}

impl FromStr for Chunker {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_chunker(text)
    }
}

/// Parses Kubo's `--chunker` value: `size-N` or `buzhash`. (Rabin is not supported: Kubo's
/// rabin chunker cannot be checked against a reference here.)
pub fn parse_chunker(text: &str) -> Result<Chunker, String> {
    if text == "buzhash" {
        return Ok(Chunker::Buzhash);
    }
    let Some(n) = text.strip_prefix("size-") else {
        return Err(format!(
            "unsupported chunker `{text}`; use `size-N` (fixed chunks of N bytes, e.g. size-262144) or `buzhash` (content-defined)"
        ));
    };
    let size: usize = n
        .parse()
        .map_err(|_| format!("chunker `{text}`: `{n}` is not a byte count"))?;
    if size == 0 || size > MAX_CHUNK_SIZE {
        return Err(format!(
            "chunker `{text}`: size must be between 1 and {MAX_CHUNK_SIZE} bytes"
        ));
    }
    Ok(Chunker::Size(size))
}
