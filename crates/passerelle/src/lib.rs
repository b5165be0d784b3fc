//! The `passerelle` command: one binary, one container image; the role is chosen by argument.
//!
//! - `passerelle up` runs every service in one process on the embedded engines (SQLite store
//!   and event log under `./passerelle-data`), one port per service from `--listen` on;
//! - `passerelle serve <service>` runs one service, as each Kubernetes pod does, on the engines
//!   its `--store` and `--bus` URLs name;
//! - `passerelle bus …`, `vault …`, `directory …`, `survey …`, `backup` and `restore` are
//!   operator tools.
//!
//! # Layout
//! - [`cli`]: the command line;
//! - [`services`]: which services exist and how each is started;
//! - [`platform`]: the `Platform/Info` RPC every process serves;
//! - [`bus_tools`]: `passerelle bus append` and `passerelle bus tail`;
//! - [`vault_tools`]: `passerelle vault cleanup`;
//! - [`directory_tools`]: `passerelle directory import` and `export`;
//! - [`survey_tools`]: `passerelle survey import` and `report`;
//! - [`backup_tools`]: `passerelle backup` and `restore`.
#![forbid(unsafe_code)]

pub mod backup_tools;
pub mod bus_tools;
pub mod cli;
pub mod directory_tools;
pub mod platform;
pub mod services;
pub mod survey_tools;
pub mod vault_tools;

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
