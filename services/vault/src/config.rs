//! The vault service's options (`passerelle serve vault`, `passerelle up`), and how they become
//! its [`VaultConfig`].

use clap::Args;
use passerelle_kit::ServiceError;
use passerelle_kit::base::ServiceBase;
use passerelle_kit::config::parse_duration;
use passerelle_kit::secrets::MasterKey;

use crate::run::VaultConfig;
use crate::service::Limits;

/// The vault service's options.
#[derive(Args, Clone, Debug)]
pub struct VaultArgs {
    /// Where document bytes are kept (sealed): file://DIR, or s3://BUCKET[/PREFIX][?endpoint=URL&region=R]
    /// with credentials in the standard AWS_* variables. `up` uses <data-dir>/documents.
    #[arg(long, env = "PASSERELLE_BLOBS")]
    pub blobs: Option<String>,

    /// Largest document, in bytes.
    #[arg(
        long,
        env = "PASSERELLE_MAX_DOCUMENT_BYTES",
        default_value_t = 50_000_000
    )]
    pub max_document_bytes: u64,

    /// Room per vault, in bytes.
    #[arg(
        long,
        env = "PASSERELLE_VAULT_QUOTA_BYTES",
        default_value_t = 500_000_000
    )]
    pub vault_quota_bytes: u64,

    /// Days ahead of a document's expiry when the reminder event goes out.
    #[arg(long, env = "PASSERELLE_EXPIRY_NOTICE_DAYS", default_value_t = 30)]
    pub expiry_notice_days: i64,

    /// A procedures catalogue (JSON) replacing the built-in one.
    #[arg(long, env = "PASSERELLE_PROCEDURES_FILE")]
    pub procedures_file: Option<std::path::PathBuf>,

    /// Uploads untouched for this long are abandoned and their bytes removed.
    #[arg(long, env = "PASSERELLE_ABANDON_UPLOADS_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub abandon_uploads_after: std::time::Duration,

    /// Uploads and downloads under way at once, in all: each holds up to about 12 MiB of
    /// memory, so this bounds the vault's memory under a burst; more are refused with
    /// UNAVAILABLE.
    #[arg(long, env = "PASSERELLE_MAX_TRANSFERS", default_value_t = 32)]
    pub max_transfers: usize,

    /// Uploads and downloads under way at once for one person (or one address, for shares).
    #[arg(long, env = "PASSERELLE_MAX_TRANSFERS_PER_CALLER", default_value_t = 4)]
    pub max_transfers_per_caller: usize,
}

impl VaultArgs {
    /// The service's configuration on `base`, with the master key.
    pub fn config(
        &self,
        base: ServiceBase,
        master_key: MasterKey,
    ) -> Result<VaultConfig, ServiceError> {
        let procedures_json = match &self.procedures_file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                ServiceError::invalid(format!(
                    "cannot read the procedures file {}: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let blobs_url = self.blobs.clone().ok_or_else(|| {
            ServiceError::invalid(
                "set PASSERELLE_BLOBS: where the vault keeps document bytes (file://DIR or s3://BUCKET)",
            )
        })?;
        let limits = Limits {
            max_document_bytes: self.max_document_bytes,
            quota_bytes: self.vault_quota_bytes,
            expiry_notice_days: self.expiry_notice_days,
            max_transfers: self.max_transfers,
            max_transfers_per_caller: self.max_transfers_per_caller,
            stream_idle: base.server.stream_idle_timeout,
        };
        Ok(VaultConfig {
            base,
            master_key,
            blobs_url,
            limits,
            procedures_json,
            abandon_uploads_after: self.abandon_uploads_after,
        })
    }
}
