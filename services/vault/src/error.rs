//! Why the vault cannot be set up as configured; once running, its operations answer with
//! [`passerelle_kit::ServiceError`].

/// A setting of the vault that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error(
        "invalid blob storage URL `{url}`: {reason}; expected file://DIR or s3://BUCKET[/PREFIX][?endpoint=URL&region=R&allow_http=true]"
    )]
    BlobsUrl { url: String, reason: String },
    #[error("cannot {what} {path}: {reason}")]
    Directory {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "the procedures file does not parse: {0}; expected {{\"version\": 1, \"procedures\": [{{\"id\", \"title\", \"requirements\": [{{\"id\", \"label\", \"accepted_types\": [identity_card, …], \"max_age_days\"}}]}}]}}"
    )]
    ProceduresSyntax(String),
    #[error("procedures file version {0} is not supported: expected 1")]
    ProceduresVersion(u32),
    #[error("procedure `{0}` has a requirement that accepts no document type")]
    ProcedureAcceptsNothing(String),
}

impl From<SetupError> for passerelle_kit::ServiceError {
    fn from(e: SetupError) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}
