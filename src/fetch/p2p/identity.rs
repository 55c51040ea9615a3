//! The node's persistent identity: an Ed25519 key kept in the user config dir, so the peer ID
//! stays the same across runs (a lab can give its `trove serve` address to others).

use super::P2pError;
use libp2p::identity::Keypair;
use std::io::Write;
use std::path::Path;

/// Reads the key at `path`, or creates one there (owner-only permissions, written atomically)
/// when the file does not exist yet.
pub fn load_or_create(path: &Path) -> Result<Keypair, P2pError> {
    match fs_err::read(path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| P2pError::Identity {
            path: path.to_path_buf(),
            detail: format!(
                "{e}; move the file away to make a new identity (the peer ID will change)"
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            save(path, &key)?;
            Ok(key)
        }
        Err(e) => Err(P2pError::Identity {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

fn save(path: &Path, key: &Keypair) -> Result<(), P2pError> {
    let fail = |detail: String| P2pError::Identity {
        path: path.to_path_buf(),
        detail,
    };
    let bytes = key
        .to_protobuf_encoding()
        .map_err(|e| fail(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(e.to_string()))?;
    }
    tmp.write_all(&bytes).map_err(|e| fail(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| fail(e.to_string()))?;
    // Two processes creating the key at once: the first one wins, the other reads it.
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(fail(e.error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/p2p-identity.key");
        let a = load_or_create(&path).unwrap();
        let b = load_or_create(&path).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_identity_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p-identity.key");
        std::fs::write(&path, b"garbage").unwrap();
        let e = load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("p2p-identity.key"), "{e}");
    }
}
