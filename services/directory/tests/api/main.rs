//! The directory over gRPC, as clients use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod files;
mod keepers;
mod matrix;
mod national;
mod search;
