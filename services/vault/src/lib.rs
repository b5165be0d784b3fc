//! The vault service: the encrypted digital safe ("coffre-fort numérique") where people keep
//! their papers — identity card, carte Vitale, tax notice, CV — never lost, readable by the
//! agents they mandate, shared for a while with whoever needs them.
//!
//! # Layout
//! - [`domain`]: document types, dates, accepted content;
//! - [`config`]: its command-line options and how they become its configuration;
//! - [`crypto`]: per-document keys, chunked authenticated encryption, key wrapping;
//! - [`blobs`]: sealed parts in object storage (local disk or S3);
//! - [`procedures`]: which documents a procedure needs (data, not code);
//! - [`service`]: uploads, downloads, sharing, expiry, erasure, clean-up, with their rules;
//! - [`grpc`]: the `passerelle.vault.v1.Vault` adapter;
//! - [`start`] / [`serve`]: wiring, event consumers and schedules.
#![forbid(unsafe_code)]

pub mod blobs;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod procedures;
pub mod service;

mod run;

pub use run::{Running, VaultConfig, serve, start};
