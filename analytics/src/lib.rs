//! Analytics: digital-literacy surveys processed with Polars into scores, autonomy levels,
//! personalised pathways and the managers' dashboards.
//!
//! # Layout
//! - [`config`]: its command-line options and how they become its configuration;
//! - [`survey`]: the survey format, read from CSV or Parquet and checked row by row;
//! - [`synthetic`]: reproducible surveys shaped like the CCAS one, for demos, tests, benches;
//! - [`domain`]: what the service takes and gives (assessments, pathways, progress,
//!   dashboards), free of protobuf;
//! - [`rules`]: the versioned rules file (areas, levels, modules);
//! - [`pipeline`]: scores, levels, pathways and dashboard tables as Polars lazy queries;
//! - [`answers`]: checked answers as Rust values, to and from frames and the store;
//! - [`places`]: the nearest fitting places, from the directory service;
//! - [`service`]: imports, assessments, pathways, progress, dashboards;
//! - [`grpc`]: the `passerelle.analytics.v1.Analytics` adapter;
//! - [`start`] / [`serve`]: wiring, the erasure consumer and the server.
#![forbid(unsafe_code)]

pub mod answers;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod pipeline;
pub mod places;
pub mod rules;
pub mod service;
pub mod survey;
pub mod synthetic;

mod run;

pub use run::{AnalyticsConfig, Running, serve, start};
