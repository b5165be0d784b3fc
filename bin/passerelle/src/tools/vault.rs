//! `passerelle vault`: operator tools for the vault.

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use passerelle_kit::clock::SystemClock;
use passerelle_kit::config::{EngineArgs, parse_duration};
use passerelle_kit::secrets::MasterKey;

#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Remove abandoned uploads and any stored bytes that belong to no document (the service
    /// also does this every hour).
    Cleanup(CleanupArgs),
}

#[derive(Args, Debug)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub engines: EngineArgs,
    /// Where document bytes are kept; default <data-dir>/documents.
    #[arg(long, env = "PASSERELLE_BLOBS")]
    pub blobs: Option<String>,
    /// Uploads untouched for this long are abandoned.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub older_than: std::time::Duration,
    /// The master key file; default <data-dir>/master.key.
    #[arg(long, env = "PASSERELLE_MASTER_KEY_FILE")]
    pub master_key_file: Option<std::path::PathBuf>,
}

impl VaultCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            VaultCommand::Cleanup(args) => cleanup(args).await,
        }
    }
}

async fn cleanup(args: CleanupArgs) -> anyhow::Result<()> {
    let engines = args.engines.open().await.map_err(anyhow::Error::msg)?;
    let blobs_url = args.blobs.unwrap_or_else(|| {
        format!(
            "file://{}",
            args.engines.data_dir.join("documents").display()
        )
    });
    let blobs = passerelle_vault::blobs::Blobs::open(&blobs_url).map_err(anyhow::Error::msg)?;
    let key_file = args
        .master_key_file
        .unwrap_or_else(|| args.engines.data_dir.join("master.key"));
    let master = MasterKey::load_or_create(&key_file, false).map_err(anyhow::Error::msg)?;
    let relay = passerelle_bus::outbox::OutboxRelay::new(
        engines.store.clone(),
        engines.bus.clone(),
        "vault",
    );
    let outbox = passerelle_bus::outbox::Outbox::new(engines.store.clone(), relay);
    let vault = passerelle_vault::service::Vault::new(
        engines.store,
        blobs,
        master,
        Arc::new(SystemClock),
        outbox,
        passerelle_vault::service::Limits {
            max_document_bytes: 0,
            quota_bytes: 0,
            ..passerelle_vault::service::Limits::default()
        },
        Vec::new(),
    );
    let report = vault
        .cleanup(args.older_than)
        .await
        .context("the clean-up failed")?;
    println!(
        "removed {} abandoned uploads and {} orphan documents' bytes",
        report.abandoned_uploads, report.orphan_documents
    );
    Ok(())
}
