//! The plumbing every Passerelle service shares, so that each service's code is only its domain.
//!
//! # Layout
//! - [`base`]: the service base: what every service starts with, its outbox, consumers,
//!   schedules and server;
//! - [`config`]: clap option groups with `PASSERELLE_*` variables and laptop-ready defaults;
//! - [`grpc`]: the adapters' helpers (caller and message, required fields, times, replies);
//! - [`telemetry`]: tracing, OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C
//!   trace context in gRPC metadata and event headers;
//! - [`server`]: the gRPC server (health, reflection, tower layers, graceful drain);
//! - [`health`]: whether background work keeps up (a stuck consumer turns health NOT_SERVING);
//! - [`net`]: the client's address, behind trusted proxies too;
//! - [`auth`]: RS256 JWT verification against a JWKS, giving a [`auth::Principal`];
//! - [`error`]: [`ServiceError`], the one error type mapped to gRPC status codes;
//! - [`shutdown`]: the process-wide cancellation token;
//! - [`clock`]: system time, or a hand-moved clock in tests;
//! - [`secrets`]: the master key that seals stored secrets;
//! - [`testing`]: a throwaway token issuer for services' tests.
#![forbid(unsafe_code)]

pub mod auth;
pub mod base;
pub mod config;
pub mod grpc;
pub mod net;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testsuite")]
pub mod testing;

pub use passerelle_core::{CancellationToken, ServiceError};
pub use passerelle_core::{clock, error, health, secrets, shutdown};
