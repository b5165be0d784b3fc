//! The master key: the one secret from which stored secrets (signing keys, vault keys) are
//! sealed. It never enters the store; it comes from a file (a Kubernetes Secret mounted as a
//! file in the cluster) or is generated on first start of the embedded platform.

use std::path::Path;

use crate::error::ServiceError;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// `N` random bytes from the system's generator, or an error: keys, nonces and codes are
/// never made from whatever a failed fill left behind.
pub fn random<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| ServiceError::Internal("no randomness available".into()))?;
    Ok(bytes)
}

/// A 256-bit key sealing secrets with AES-256-GCM, a fresh random nonce per seal.
pub struct MasterKey {
    key: LessSafeKey,
    bytes: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self::from_bytes(self.bytes).unwrap_or_else(|_| unreachable!("a 32-byte key is valid"))
    }
}

/// Why a sealed secret could not be opened: wrong key, or altered bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sealed secret does not open: it was altered or sealed with another master key")]
pub struct Unseal;

/// Why the master key cannot be had. Each message names the file and what is expected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error("the master key is not a valid AES-256 key")]
    Invalid,
    #[error("no randomness available to make a master key")]
    NoRandomness,
    #[error("master key file {path} is not base64: expected 32 bytes in base64")]
    NotBase64 { path: String },
    #[error("master key file {path} holds {len} bytes: expected 32 bytes in base64")]
    WrongLength { path: String, len: usize },
    #[error(
        "cannot read the master key file {path}: {reason}; expected 32 bytes in base64 (PASSERELLE_MASTER_KEY_FILE)"
    )]
    Unreadable { path: String, reason: String },
    #[error("cannot {what} the master key file {path}: {reason}")]
    Unwritable {
        what: &'static str,
        path: String,
        reason: String,
    },
}

impl From<KeyError> for ServiceError {
    fn from(e: KeyError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyError::Invalid)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            bytes,
        })
    }

    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::NoRandomness)?;
        Self::from_bytes(bytes)
    }

    /// Reads the key from `path` (32 bytes, base64), creating it with owner-only permissions
    /// when `create` is set and the file does not exist.
    pub fn load_or_create(path: &Path, create: bool) -> Result<Self, KeyError> {
        let shown = || path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let raw = STANDARD
                    .decode(text.trim())
                    .map_err(|_| KeyError::NotBase64 { path: shown() })?;
                let bytes: [u8; 32] =
                    raw.try_into()
                        .map_err(|raw: Vec<u8>| KeyError::WrongLength {
                            path: shown(),
                            len: raw.len(),
                        })?;
                Self::from_bytes(bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = Self::generate()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| KeyError::Unwritable {
                        what: "create the directory of",
                        path: shown(),
                        reason: e.to_string(),
                    })?;
                }
                match write_private(path, &STANDARD.encode(key.bytes)) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "generated a new master key");
                        Ok(key)
                    }
                    // Another starter made it first: theirs is the key.
                    Err(WriteError::Exists) => Self::load_or_create(path, false),
                    Err(WriteError::Other(e)) => Err(e),
                }
            }
            Err(e) => Err(KeyError::Unreadable {
                path: shown(),
                reason: e.to_string(),
            }),
        }
    }

    /// Seals `plaintext`, bound to `context` (the same context is needed to open it).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let nonce = random::<NONCE_LEN>()?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| ServiceError::Internal("sealing a secret failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, Unseal> {
        if sealed.len() < NONCE_LEN {
            return Err(Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unseal)?;
        let mut buffer = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| Unseal)?;
        Ok(plain.to_vec())
    }
}

enum WriteError {
    Exists,
    Other(KeyError),
}

/// Writes a new owner-only file, atomically: written aside, then linked into place, so nobody
/// ever reads a half-written key.
fn write_private(path: &Path, contents: &str) -> Result<(), WriteError> {
    use std::io::Write as _;
    let other = |what: &'static str, e: std::io::Error| {
        WriteError::Other(KeyError::Unwritable {
            what,
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    };
    let aside = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&aside).map_err(|e| other("create", e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| other("write", e))?;
    file.sync_all().map_err(|e| other("write", e))?;
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(WriteError::Exists),
        Err(e) => Err(other("create", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_key_and_context() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.seal("issuer-key:k1", b"private key bytes").unwrap();
        assert_eq!(
            key.open("issuer-key:k1", &sealed).unwrap(),
            b"private key bytes"
        );
        assert_eq!(key.open("issuer-key:k2", &sealed), Err(Unseal));
        let other = MasterKey::generate().unwrap();
        assert_eq!(other.open("issuer-key:k1", &sealed), Err(Unseal));
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(key.open("issuer-key:k1", &altered), Err(Unseal));
        assert_ne!(
            key.seal("c", b"x").unwrap(),
            key.seal("c", b"x").unwrap(),
            "fresh nonce each time"
        );
    }

    #[test]
    fn the_key_file_is_created_once_then_read() {
        let dir = std::env::temp_dir().join(format!("passerelle-mk-{}", std::process::id()));
        let path = dir.join("master.key");
        let _ = std::fs::remove_file(&path);
        let created = MasterKey::load_or_create(&path, true).unwrap();
        let read = MasterKey::load_or_create(&path, false).unwrap();
        assert_eq!(created.bytes, read.bytes);
        std::fs::write(&path, "c2hvcnQ=").unwrap();
        let err = MasterKey::load_or_create(&path, false).unwrap_err();
        assert!(
            err.to_string().contains("holds 5 bytes: expected 32 bytes"),
            "{err}"
        );
        // Starters racing to make the key all end up with the same one.
        let _ = std::fs::remove_file(&path);
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| MasterKey::load_or_create(&path, true).unwrap().bytes))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "racing starters got different keys"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
