//! What analytics' own parts fail with, before it becomes a [`passerelle_kit::ServiceError`].

/// An analytics failure other than a store or access one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the rules file is not valid: {0}")]
    RulesSyntax(String),
    /// A rule that cannot hold; the message says which and what is accepted.
    #[error("{0}")]
    Rules(String),
    #[error("period `{0}` is not known: expected month, quarter or year")]
    Period(String),
    #[error("directory url: {0}")]
    DirectoryUrl(#[from] passerelle_kit::config::ConfigError),
    #[error("the directory did not answer: {0}")]
    Directory(String),
    #[error("a stored answer is unreadable: {0}")]
    StoredAnswer(String),
    #[error("cannot {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
}

impl From<Error> for passerelle_kit::ServiceError {
    fn from(e: Error) -> Self {
        match e {
            Error::StoredAnswer(_) | Error::File { .. } => Self::Internal(e.to_string()),
            Error::Directory(_) => Self::Unavailable(e.to_string()),
            other => Self::InvalidArgument(other.to_string()),
        }
    }
}
