//! Exit codes: what a script or a supervisor branches on without parsing messages. They come
//! from the library's [`ErrorKind`], so `trove` and the Python package make the same
//! distinctions. Documented in the README ("Exit codes") and tested in `tests/it/cli.rs`.

use crate::ErrorKind;

/// Success.
pub const OK: i32 = 0;
/// Any other failure: a network or disk error, a registry that cannot be read, a failed
/// publish.
pub const FAILURE: i32 = 1;
/// Bad usage: an unknown flag, a malformed CID or target, an output already there.
pub const USAGE: i32 = 2;
/// Not found: an unknown ID, version, alias or path, or content that no source holds.
pub const NOT_FOUND: i32 = 3;
/// Integrity: bytes that do not match what names them and could not be recovered (a block
/// against its CID, a tampered output, a corrupt cache entry, a recorded sha256).
pub const INTEGRITY: i32 = 4;
/// Offline (`--offline`, `TROVE_OFFLINE`) and not in the cache.
pub const OFFLINE: i32 = 5;

/// The exit code for an error of `kind`.
pub fn of_kind(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::Integrity => INTEGRITY,
        ErrorKind::Offline => OFFLINE,
        ErrorKind::Usage => USAGE,
        ErrorKind::Registry | ErrorKind::Network | ErrorKind::Other => FAILURE,
    }
}

/// The kind of `err`: that of the outermost cause that is one of trove's errors, else other.
pub(crate) fn kind_of_error(err: &anyhow::Error) -> ErrorKind {
    err.chain()
        .find_map(crate::error::kind_of)
        .unwrap_or(ErrorKind::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_code_where_the_readme_says() {
        assert_eq!(of_kind(ErrorKind::NotFound), 3);
        assert_eq!(of_kind(ErrorKind::Integrity), 4);
        assert_eq!(of_kind(ErrorKind::Offline), 5);
        assert_eq!(of_kind(ErrorKind::Usage), 2);
        assert_eq!(of_kind(ErrorKind::Network), 1);
        let wrapped = anyhow::Error::from(crate::Error::msg(ErrorKind::NotFound, "no entry `x`"))
            .context("cannot get `x`");
        assert_eq!(of_kind(kind_of_error(&wrapped)), NOT_FOUND);
        assert_eq!(
            of_kind(kind_of_error(&anyhow::anyhow!("something else"))),
            FAILURE
        );
    }
}
