//! The vault over gRPC, as clients use it: servers on port 0, an isolated store, bus and blob
//! directory per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod agents;
mod framing;
mod hardening;
mod integrity;
mod lifecycle;
mod matrix;
mod s3;
mod sharing;
mod upload;
