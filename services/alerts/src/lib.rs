//! The alerts service: the register of vulnerable people living at home that a CCAS keeps for
//! the heatwave plan (art. L121-6-1 CASF, décret 2004-926), by sector.
//!
//! # Layout
//! - [`domain`]: who may be registered, what is kept, how each value is checked, the prefect's
//!   CSV;
//! - [`sectors`]: the city's sectors, from a file;
//! - [`service`]: registering, reading, correcting, leaving, listing and exporting, with who
//!   may do each and the audit trail;
//! - [`grpc`]: the `passerelle.alerts.v1.Alerts` adapter;
//! - [`config`]: the service's options; [`start`](run::start): wiring.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod grpc;
pub mod sectors;
pub mod service;

mod run;

pub use run::{AlertsConfig, Running, serve, start};
