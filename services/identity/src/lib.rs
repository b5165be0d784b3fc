//! The identity service: accounts for people who often have no e-mail, no phone and cannot
//! read, sign-in with a password or a 6-digit PIN, recovery without e-mail, and the mandates
//! that let a structure's agents act on someone's behalf.
//!
//! # Layout
//! - [`domain`]: parsed values (usernames, secrets, phones…) and the account record;
//! - [`config`]: its command-line options and how they become its configuration;
//! - [`credentials`]: Argon2id hashing and brute-force protection;
//! - [`recovery`]: one-time codes, the printable recovery sheet (PDF, QR code);
//! - [`issuer`]: the built-in RS256 token issuer (keys, rotation, JWKS, discovery);
//! - [`provider`]: where sign-ins live: built-in or Keycloak ([`keycloak`]);
//! - [`service`]: the operations and their authorization rules;
//! - [`grpc`]: the `passerelle.identity.v1.Identity` adapter;
//! - [`error`]: why the service cannot be set up as configured;
//! - [`start`] / [`serve`]: wiring, background tasks and the server.
#![forbid(unsafe_code)]

pub mod config;
pub mod credentials;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod issuer;
pub mod keycloak;
pub mod provider;
pub mod recovery;
pub mod service;
pub mod sms;

mod run;

pub use run::{IdentityConfig, IdpChoice, Running, Started, serve, start};
