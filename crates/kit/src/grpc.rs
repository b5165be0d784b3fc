//! What every gRPC adapter needs to turn requests into domain calls and back: the caller and
//! the message in one step, required fields, times, and the reply type.

use passerelle_core::ServiceError;
use passerelle_core::principal::Principal;
use passerelle_proto::prost_types::Timestamp;
use tonic::{Request, Response, Status};

/// What an RPC answers.
pub type Reply<T> = Result<Response<T>, Status>;

/// `Ok(Response::new(value))`.
pub fn ok<T>(value: T) -> Reply<T> {
    Ok(Response::new(value))
}

/// The verified caller (see [`crate::server::principal`]) and the request's message.
pub fn caller<T>(request: Request<T>) -> Result<(Principal, T), Status> {
    let principal = crate::server::principal(&request)?.clone();
    Ok((principal, request.into_inner()))
}

/// `value` without surrounding spaces, or the caller's own id when it is empty: a person acting
/// on their own account or vault need not know their id (it is in their token).
pub fn or_caller<'a>(value: &'a str, caller: &'a Principal) -> &'a str {
    match value.trim() {
        "" => &caller.subject,
        value => value,
    }
}

/// INVALID_ARGUMENT with `message` (what was wrong, what is accepted).
pub fn invalid(message: impl Into<String>) -> Status {
    ServiceError::InvalidArgument(message.into()).into()
}

/// `value` without surrounding spaces, or INVALID_ARGUMENT naming `field` when it is empty.
pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    Ok(value)
}

/// A Unix time (seconds) as a protobuf timestamp.
pub fn timestamp(unix: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: unix,
        nanos: 0,
    })
}

/// A protobuf timestamp as Unix seconds (0 when absent).
pub fn unix(timestamp: Option<&Timestamp>) -> i64 {
    timestamp.map_or(0, |t| t.seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_are_trimmed_and_named_when_missing() {
        assert_eq!(required("title", "  Carte  ").unwrap(), "Carte");
        let status = required("title", "   ").unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "title is required");
    }

    #[test]
    fn a_request_without_a_verified_caller_is_unauthenticated() {
        let status = caller(Request::new(())).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(unix(timestamp(42).as_ref()), 42);
    }
}
