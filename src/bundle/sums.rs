//! Published sha256 sums: `sha256sum` output files (`checksums.sha256`, `SHA256SUMS`, …) and
//! the `checksums` map of a `manifest.json`. Parsed strictly: a line that is not a sum is an
//! error naming its line, not something to skip, since a skipped line is an unchecked file.

use super::BundleError;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The names a sums file goes by, in the order they are looked for.
pub const SUMS_FILES: &[&str] = &[
    "checksums.sha256",
    "SHA256SUMS",
    "sha256sums.txt",
    "SHA256SUMS.txt",
];

/// Sums by file name (relative, `/`-separated), lower-case hex.
pub type Sums = BTreeMap<String, String>;

/// Parses `sha256sum` output: `<64 hex>  <name>` or `<64 hex> *<name>` per line; blank lines
/// and `#` comments are allowed. `source` names the file in errors.
pub fn parse_sums(text: &str, source: &str) -> Result<Sums, BundleError> {
    let bad = |line: usize, detail: &str| BundleError::BadSums {
        source_of_sum: source.to_string(),
        detail: format!("line {line}: {detail}"),
    };
    let mut sums = Sums::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (hex, rest) = line
            .split_once(' ')
            .ok_or_else(|| bad(i + 1, "expected `<sha256>  <name>`"))?;
        if !is_sha256_hex(hex) {
            return Err(bad(i + 1, "the sum is not 64 hexadecimal digits"));
        }
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(|| bad(i + 1, "expected two spaces (or ` *`) between sum and name"))?;
        let name = name.strip_prefix("./").unwrap_or(name);
        if name.is_empty() {
            return Err(bad(i + 1, "no file name"));
        }
        if let Some(earlier) = sums.insert(name.to_string(), hex.to_ascii_lowercase()) {
            if earlier != hex.to_ascii_lowercase() {
                return Err(bad(
                    i + 1,
                    &format!("`{name}` is listed twice with different sums"),
                ));
            }
        }
    }
    Ok(sums)
}

/// The `checksums` map of a `manifest.json` (`{"name": "hex"}` or `"sha256:hex"`), if it has
/// one.
pub fn manifest_sums(manifest: &serde_json::Value, source: &str) -> Result<Sums, BundleError> {
    let Some(map) = manifest.get("checksums") else {
        return Ok(Sums::new());
    };
    let map = map.as_object().ok_or_else(|| BundleError::BadSums {
        source_of_sum: source.to_string(),
        detail: "`checksums` is not an object of file name → sha256".into(),
    })?;
    let mut sums = Sums::new();
    for (name, value) in map {
        let hex = value
            .as_str()
            .map(|v| v.strip_prefix("sha256:").unwrap_or(v))
            .filter(|v| is_sha256_hex(v))
            .ok_or_else(|| BundleError::BadSums {
                source_of_sum: source.to_string(),
                detail: format!("`checksums.{name}` is not a sha256 (64 hexadecimal digits)"),
            })?;
        sums.insert(
            name.strip_prefix("./").unwrap_or(name).to_string(),
            hex.to_ascii_lowercase(),
        );
    }
    Ok(sums)
}

/// Whether `text` is 64 hexadecimal digits.
/// Checks a sha256 given on the command line (`--sha256`): a usage error naming it otherwise.
pub fn check_sha256_arg(hex: &str) -> Result<(), crate::Error> {
    if is_sha256_hex(hex) {
        Ok(())
    } else {
        Err(crate::Error::with_hint(
            crate::ErrorKind::Usage,
            format!("--sha256 `{hex}` is not a sha256"),
            "give the 64 hexadecimal digits `sha256sum` prints",
        ))
    }
}

/// Whether `text` is 64 hexadecimal digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha256 of the file at `path`, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, BundleError> {
    let mut file = std::fs::File::open(path).map_err(|e| BundleError::io("read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| BundleError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks every file `sums` lists against the files under `dir` (names relative to it).
/// Returns how many were checked.
pub fn check_tree(dir: &Path, sums: &Sums, source: &str) -> Result<usize, BundleError> {
    for (name, expected) in sums {
        let path = dir.join(name);
        let inside = name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
        if !inside
            || path
                .symlink_metadata()
                .map(|m| !m.is_file())
                .unwrap_or(true)
        {
            return Err(BundleError::SumMissing {
                name: name.clone(),
                source_of_sum: source.to_string(),
            });
        }
        let actual = sha256_file(&path)?;
        if &actual != expected {
            return Err(BundleError::SumMismatch {
                name: name.clone(),
                source_of_sum: source.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(sums.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

    #[test]
    fn sha256sum_output_parses_and_malformed_lines_are_errors() {
        let text = format!(
            "# made by sha256sum\n{A}  data/a.csv\n{} *b.bin\r\n\n",
            A.to_uppercase()
        );
        let sums = parse_sums(&text, "SHA256SUMS").unwrap();
        assert_eq!(sums.get("data/a.csv").map(String::as_str), Some(A));
        assert_eq!(sums.get("b.bin").map(String::as_str), Some(A));
        for bad in [
            "nothing".to_string(),
            format!("{}  x", &A[1..]),
            format!("{A} x"),
            format!("{A}  "),
            format!("{A}  x\n{}  x", "b".repeat(64)),
        ] {
            let err = parse_sums(&bad, "SHA256SUMS").unwrap_err().to_string();
            assert!(
                err.contains("SHA256SUMS") && err.contains("line"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn manifest_checksums_accept_a_prefix_and_refuse_non_sums() {
        let m = serde_json::json!({"checksums": {"x.tsv": format!("sha256:{A}")}});
        assert_eq!(manifest_sums(&m, "manifest.json").unwrap()["x.tsv"], A);
        let m = serde_json::json!({"checksums": {"x.tsv": "md5:abc"}});
        assert!(manifest_sums(&m, "manifest.json").is_err());
        assert!(manifest_sums(&serde_json::json!({}), "m")
            .unwrap()
            .is_empty());
    }
}
