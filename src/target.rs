//! Parsing what the user asks for: `CID`, `CID/path`, `/ipfs/CID/path` or `ipfs://CID/path`.

use crate::content::{parse_cid, Cid, CidError};

/// A CID and a path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The root CID.
    pub cid: Cid,
    /// The path below it, without leading or trailing slashes (empty for the root itself).
    pub path: String,
}

impl Target {
    /// The last path component, or the CID when there is no path: a sensible output name.
    pub fn default_name(&self) -> String {
        self.path
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| self.cid.to_string())
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.cid)
        } else {
            write!(f, "{}/{}", self.cid, self.path)
        }
    }
}

/// Parses a target. Whitespace before it is ignored, and after a lone CID (a pasted line);
/// a path is taken exactly as given, but for empty components (`a//b/` is `a/b`): a UnixFS
/// name may end in a space, and the same text must always name the same file.
pub fn parse_target(text: &str) -> Result<Target, CidError> {
    let trimmed = text.trim_start();
    let rest = trimmed
        .strip_prefix("ipfs://")
        .or_else(|| trimmed.strip_prefix("/ipfs/"))
        .unwrap_or(trimmed);
    let (cid_text, path) = rest.split_once('/').unwrap_or((rest.trim_end(), ""));
    let cid = parse_cid(cid_text)?;
    let path = path
        .split('/')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    Ok(Target { cid, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_all_spellings() {
        let cid = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
        for text in [
            format!("{cid}/a/b"),
            format!("ipfs://{cid}/a/b/"),
            format!("/ipfs/{cid}//a/b"),
        ] {
            let t = parse_target(&text).unwrap();
            assert_eq!(t.cid.to_string(), cid);
            assert_eq!(t.path, "a/b");
            assert_eq!(t.default_name(), "b");
        }
        assert_eq!(parse_target(cid).unwrap().default_name(), cid);
        assert_eq!(parse_target(&format!(" {cid}\n")).unwrap().path, "");
        assert!(parse_target("not-a-cid/x").is_err());
    }

    /// Found by `scripts/fuzz target`: whitespace at the end of a path was trimmed, so the
    /// name `x ` could not be asked for, and printing a target and parsing it again named
    /// another file.
    #[test]
    fn a_path_is_taken_exactly_and_a_target_reparses_to_itself() {
        let cid = "bafkqaaa";
        let t = parse_target(&format!("ipfs://{cid}/a\u{b}/x \u{b}")).unwrap();
        assert_eq!(t.path, "a\u{b}/x \u{b}");
        assert_eq!(parse_target(&t.to_string()).unwrap(), t);
        assert_eq!(parse_target(&format!("{cid}/x ")).unwrap().path, "x ");
    }
}
