//! The directory service: every place to get online, get wifi or get trained, in the national
//! schema of digital mediation places, searchable by distance, services, publics, support, fees
//! and opening hours.
//!
//! # Layout
//! - [`schema`]: the national schema's fields and vocabularies, messy rows to clean places;
//! - [`files`]: CSV, JSON and GeoJSON in and out;
//! - [`inclusion`]: the data·inclusion export (structures and services);
//! - [`geo`]: points on the sphere, distances, France's bounds;
//! - [`hours`]: OpenStreetMap opening hours in local time with French public holidays;
//! - [`index`]: the R*-tree search index;
//! - [`service`]: search, edits, imports with de-duplication, exports;
//! - [`grpc`]: the `passerelle.directory.v1.Directory` adapter;
//! - [`start`](run::start): wiring.
#![forbid(unsafe_code)]

pub mod error;
pub mod files;
pub mod geo;
pub mod grpc;
pub mod hours;
pub mod inclusion;
pub mod index;
pub mod schema;
pub mod service;

mod run;

pub use run::{DirectoryConfig, Running, serve, start};
