//! The alerts service over gRPC, on the embedded engines.
#![allow(clippy::unwrap_used)]

mod helpers;
mod matrix;
mod register;
