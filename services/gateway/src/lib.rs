//! The web front of Passerelle: server-rendered pages for the agents at a CCAS counter and for
//! the people they help, on a library computer or a cheap phone.
//!
//! Every page works without JavaScript; a little script only improves some (upload progress,
//! the PIN pad, the idle countdown). The gateway keeps no business data: it calls the services
//! over gRPC with the signed-in person's token, so every rule stays in the services. What it
//! keeps is the sessions, in the store, sealed with the master key.
//!
//! # Layout
//! - [`config`]: its options and configuration;
//! - [`session`]: server-side sessions (cookie, idle and absolute timeouts, CSRF tokens);
//! - [`i18n`]: French first, English on request (Fluent files under `locales/`);
//! - [`backend`]: the services' gRPC clients, with the person's token and address;
//! - [`page`]: what every page shares (layout data, errors as sentences, redirects);
//! - [`pages`]: the pages, by journey;
//! - [`assets`]: the style sheet, script and pictograms, bundled in the binary;
//! - [`security`]: headers every response carries (a strict Content-Security-Policy first);
//! - [`start`] / [`serve`]: the HTTP server.
#![forbid(unsafe_code)]

pub mod assets;
pub mod backend;
pub mod config;
pub mod i18n;
pub mod page;
pub mod pages;
pub mod security;
pub mod session;

mod run;

pub use run::{GatewayConfig, Running, serve, start};
