//! The `passerelle` command: one binary, one container image; the role is chosen by argument.
//!
//! - `passerelle up` runs every service in one process on the embedded engines (SQLite store
//!   and event log under `./passerelle-data`), one port per service from `--listen` on;
//! - `passerelle serve <service>` runs one service, as each Kubernetes pod does, on the engines
//!   its `--store` and `--bus` URLs name, with that service's own options only;
//! - `passerelle bus …`, `vault …`, `directory …`, `survey …`, `backup` and `restore` are
//!   operator tools.
//!
//! The binary sits above every service crate: each service owns its options and turns them
//! into its configuration; this crate only parses the command line, opens the engines, and
//! starts what was asked.
//!
//! # Layout
//! - [`cli`]: the command line and its dispatch;
//! - [`process`]: what the services of one process share (engines, server settings, whom
//!   tokens come from), and how each service is started on a listener;
//! - [`serve`]: `passerelle serve <service>`;
//! - [`up`]: `passerelle up`;
//! - [`platform`]: the `Platform/Info` RPC every process serves;
//! - [`tools`]: the operator tools.
#![forbid(unsafe_code)]

pub mod cli;
pub mod platform;
pub mod process;
pub mod serve;
pub mod tools;
pub mod up;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, runs the command, and turns any error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
