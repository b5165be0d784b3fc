//! The command line.

use clap::{Parser, Subcommand};

use crate::tools;

#[derive(Parser, Debug)]
#[command(
    name = "passerelle",
    version,
    about = "Passerelle, the digital-inclusion platform of a social-action centre",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole platform in one process on the embedded engines (data under --data-dir).
    Up(crate::up::UpArgs),
    /// Run one service, as a Kubernetes pod does.
    #[command(subcommand)]
    Serve(crate::serve::ServeCommand),
    /// Operator tools for the event bus.
    #[command(subcommand)]
    Bus(tools::bus::BusCommand),
    /// Operator tools for the vault.
    #[command(subcommand)]
    Vault(tools::vault::VaultCommand),
    /// Operator tools for the directory of digital access points.
    #[command(subcommand)]
    Directory(tools::directory::DirectoryCommand),
    /// Digital-literacy surveys: import answers, write the dashboard tables.
    #[command(subcommand)]
    Survey(tools::survey::SurveyCommand),
    /// Copy the embedded platform's store, event log and documents, while it runs, into a new
    /// directory (with a manifest of hashes; the master key is never in it).
    Backup(tools::backup::BackupArgs),
    /// Put a backup back into a new data directory, re-applying the erasures made since.
    Restore(tools::backup::RestoreArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => crate::up::up(args).await,
        Command::Serve(command) => command.run().await,
        Command::Bus(command) => command.run().await,
        Command::Vault(command) => command.run().await,
        Command::Directory(command) => command.run().await,
        Command::Survey(command) => command.run().await,
        Command::Backup(args) => tools::backup::backup(args).await,
        Command::Restore(args) => tools::backup::restore(args).await,
    }
}
