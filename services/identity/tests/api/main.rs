//! The identity service over gRPC, as clients use it: one test binary, servers on port 0,
//! an isolated store and bus per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod brute_force;
mod desk;
mod issuer;
mod keycloak;
mod mandates;
mod matrix;
mod recovery;
mod scenario;
mod structures;
