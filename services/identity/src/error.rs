//! Why the identity service cannot be set up as configured; once running, its operations
//! answer with [`passerelle_kit::ServiceError`].

/// A setting of the identity service that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error(
        "invalid identity provider `{url}`: {reason}; expected builtin or keycloak://HOST:PORT/realms/REALM"
    )]
    ProviderUrl { url: String, reason: &'static str },
    #[error(
        "the Keycloak client secret is missing: set PASSERELLE_KEYCLOAK_CLIENT_SECRET to the secret of the passerelle-identity client"
    )]
    NoClientSecret,
    #[error(
        "invalid Argon2 parameters ({memory_kib} KiB, {passes} passes): {reason}; expected at least 8 KiB and 1 pass"
    )]
    Argon2 {
        memory_kib: u32,
        passes: u32,
        reason: String,
    },
    #[error("cannot start a hashing thread: {0}")]
    HashingThread(String),
}

impl From<SetupError> for passerelle_kit::ServiceError {
    fn from(e: SetupError) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}
