//! The analytics service end to end, over gRPC, with a real directory service for places.
#![allow(clippy::unwrap_used)]

mod helpers;
mod matrix;
mod pathways;
mod privacy;
mod surveys;
