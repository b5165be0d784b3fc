//! The core every Passerelle crate shares, free of the gRPC stack: libraries that decide who may
//! do what ([`principal`]), keep secrets or count attempts build on it without pulling tonic,
//! axum, reqwest or the OpenTelemetry exporter.
//!
//! # Layout
//! - [`error`]: [`ServiceError`], the kinds of failure every service answers with (mapped to
//!   gRPC codes with the `grpc` feature);
//! - [`principal`]: who is calling ([`principal::Principal`], [`principal::Role`]);
//! - [`clock`]: system time, or a hand-moved clock in tests;
//! - [`shutdown`]: the process-wide cancellation token and periodic tasks;
//! - [`health`]: whether background work keeps up;
//! - [`secrets`]: randomness and the master key that seals stored secrets;
//! - `trace` (feature `trace`): W3C trace context in and out of headers;
//! - `testing` (feature `testsuite`): settings the tests of every crate share.
#![forbid(unsafe_code)]

pub mod clock;
pub mod error;
pub mod health;
pub mod principal;
pub mod secrets;
pub mod shutdown;
#[cfg(feature = "testsuite")]
pub mod testing;
#[cfg(feature = "trace")]
pub mod trace;

pub use error::ServiceError;
pub use tokio_util::sync::CancellationToken;
