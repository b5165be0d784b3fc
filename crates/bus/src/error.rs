/// What a bus operation can fail with. Messages say what was wrong and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid bus URL `{url}`: {reason}; expected sqlite://PATH or kafka://HOST:PORT[,HOST:PORT...]"
    )]
    InvalidUrl { url: String, reason: String },

    #[error("cannot reach the {engine} bus at {target}: {reason}")]
    Unreachable {
        engine: &'static str,
        target: String,
        reason: String,
    },

    #[error("{0}")]
    InvalidArgument(String),

    /// Stored bytes that do not decode: never silently skipped.
    #[error("corrupt event data: {0}")]
    Corrupt(String),

    #[error("{engine} bus error: {message}")]
    Backend {
        engine: &'static str,
        message: String,
    },

    #[error(transparent)]
    Store(#[from] passerelle_store::Error),
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

impl From<rdkafka::error::KafkaError> for Error {
    fn from(err: rdkafka::error::KafkaError) -> Self {
        Self::Backend {
            engine: "kafka",
            message: err.to_string(),
        }
    }
}
