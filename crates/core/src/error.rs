//! One error type for every service, mapped once to gRPC status codes.
//!
//! Services define their own `thiserror` enums for their domain and convert them into
//! [`ServiceError`]; only this file knows which gRPC code each kind becomes (with the `grpc`
//! feature, so crates that serve nothing do not pull tonic). Messages are lowercase, say what
//! was wrong and what is accepted, and carry no personal data.

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// The request is malformed: a field fails validation.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials, but not allowed to do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The system is not in the state the request needs (e.g. an expired share code).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A quota or size limit is reached.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A concurrent change won: read again and retry.
    #[error("{0}")]
    Aborted(String),
    /// Stored data is damaged (it fails authentication or its hash): never returned as is.
    #[error("{0}")]
    DataLoss(String),
    /// A dependency (store, bus, identity provider) is down; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected state: the detail is logged, the caller gets an id to report.
    #[error("{0}")]
    Internal(String),
}

#[cfg(feature = "grpc")]
use tonic::{Code, Status};

impl ServiceError {
    /// The request is malformed: `message` says what was wrong and what is accepted.
    pub fn invalid(message: impl std::fmt::Display) -> Self {
        Self::InvalidArgument(message.to_string())
    }

    /// Allowed to sign in, not to do this: `reason` says who may.
    pub fn denied(reason: impl Into<String>) -> Self {
        Self::PermissionDenied(reason.into())
    }

    /// A bug or an unexpected state; the detail stays in the logs.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }
}

/// An error that says which kind it is: each service's own error enum implements it, so one
/// conversion turns any of them into a gRPC status.
pub trait ErrorKind: std::fmt::Display {
    fn kind(&self) -> ServiceError;
}

impl ErrorKind for ServiceError {
    fn kind(&self) -> ServiceError {
        self.clone()
    }
}

#[cfg(feature = "grpc")]
impl ServiceError {
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::ResourceExhausted(_) => Code::ResourceExhausted,
            Self::Aborted(_) => Code::Aborted,
            Self::DataLoss(_) => Code::DataLoss,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }
}

#[cfg(feature = "grpc")]
impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Internal(detail) => {
                // The detail may name internals; the caller gets an id that finds it in the logs.
                let id = uuid::Uuid::new_v4();
                tracing::error!(error_id = %id, detail = %detail, "internal error");
                Status::internal(format!("internal error {id}: please report this id"))
            }
            other => Status::new(other.code(), other.to_string()),
        }
    }
}

#[cfg(all(test, feature = "grpc"))]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_its_code() {
        let status: Status = ServiceError::NotFound("no document `d1`".into()).into();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "no document `d1`");
    }

    #[test]
    fn internal_details_stay_in_the_logs() {
        let status: Status = ServiceError::Internal("sqlite: disk I/O error at /srv".into()).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("/srv"));
        assert!(status.message().starts_with("internal error "));
    }
}
