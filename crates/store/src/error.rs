/// What a store operation can fail with. Messages say what was wrong and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid store URL `{url}`: {reason}; expected sqlite://PATH or scylla://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE"
    )]
    InvalidUrl { url: String, reason: String },

    #[error("cannot reach the {engine} store at {target}: {reason}")]
    Unreachable {
        engine: &'static str,
        target: String,
        reason: String,
    },

    #[error("{0}")]
    InvalidArgument(String),

    /// A stored value does not decode as its table's type: damage, or a bug.
    #[error("row {key} of table {table} is damaged: {reason}")]
    Corrupt {
        table: &'static str,
        key: String,
        reason: String,
    },

    /// The engine failed; the message comes from the engine.
    #[error("{engine} store error: {message}")]
    Backend {
        engine: &'static str,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Self::Backend {
            engine: "sqlite",
            message: err.to_string(),
        }
    }
}

/// What a service answers when its store fails: the store is out (UNAVAILABLE: retrying later
/// may work), except for a request the service itself built wrong (a bug: INTERNAL).
impl From<Error> for passerelle_core::ServiceError {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(_) | Error::Corrupt { .. } => Self::Internal(err.to_string()),
            other => Self::Unavailable(format!("the store did not answer: {other}")),
        }
    }
}
