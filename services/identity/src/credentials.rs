//! Secrets at rest: Argon2id (by default the OWASP minimum: 19 MiB, 2 passes, 1 lane), off
//! the async runtime. A sign-in for a name that has no account still verifies a hash, so the
//! answer takes as long as for a real account. Brute-force protection is
//! [`passerelle_access::throttle`].

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use passerelle_kit::ServiceError;

/// Hashes and checks secrets with Argon2id.
#[derive(Clone)]
pub struct Hasher {
    argon: Argon2<'static>,
    /// A hash of a random secret with the same parameters, checked when there is no account.
    dummy: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// Argon2id with `memory_kib` KiB and `passes` passes, one lane. The defaults of the
    /// service are the OWASP minimum (19 MiB, 2 passes).
    pub fn new(memory_kib: u32, passes: u32) -> Result<Self, String> {
        let params = Params::new(memory_kib, passes, 1, None).map_err(|e| {
            format!("invalid Argon2 parameters ({memory_kib} KiB, {passes} passes): {e}; expected at least 8 KiB and 1 pass")
        })?;
        Ok(Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            dummy: Arc::new(OnceLock::new()),
        })
    }

    /// Hashes a secret (random salt), off the async runtime.
    pub async fn hash(&self, secret: &str) -> Result<String, ServiceError> {
        let (argon, secret) = (self.argon.clone(), secret.to_owned());
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(secret.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| ServiceError::Internal(format!("hashing failed: {e}")))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("hashing task failed: {e}")))?
    }

    /// Checks a secret against a PHC hash. An empty hash stands for "no account": a hash is
    /// still checked, so the answer takes as long, and it is always a no.
    pub async fn verify(&self, secret: &str, phc: &str) -> bool {
        let (argon, secret, phc) = (self.argon.clone(), secret.to_owned(), phc.to_owned());
        let dummy = Arc::clone(&self.dummy);
        tokio::task::spawn_blocking(move || {
            let target = if phc.is_empty() {
                dummy
                    .get_or_init(|| {
                        argon
                            .hash_password(uuid::Uuid::new_v4().to_string().as_bytes())
                            .map(|h| h.to_string())
                            .unwrap_or_default()
                    })
                    .clone()
            } else {
                phc.clone()
            };
            match PasswordHash::new(&target) {
                Ok(parsed) => {
                    argon.verify_password(secret.as_bytes(), &parsed).is_ok() && !phc.is_empty()
                }
                Err(_) => false,
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// SHA-256 in hex, for high-entropy one-time codes (a slow hash adds nothing there).
pub fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_secret() {
        let hasher = Hasher::new(19 * 1024, 2).unwrap();
        let phc = hasher.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse", &phc).await);
        assert!(!hasher.verify("wrong horse", &phc).await);
        assert!(
            !hasher.verify("correct horse", "").await,
            "no account never verifies"
        );
        assert!(!hasher.verify("x", "not a hash").await);
        assert!(
            Hasher::new(1, 1)
                .unwrap_err()
                .contains("expected at least 8 KiB")
        );
    }
}
