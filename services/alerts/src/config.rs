//! The alerts service's options (`passerelle serve alerts`, `passerelle up`), and how they
//! become its [`AlertsConfig`].

use std::sync::Arc;

use clap::Args;
use passerelle_kit::ServiceError;
use passerelle_kit::base::ServiceBase;

use crate::run::AlertsConfig;
use crate::sectors::Sectors;

/// The alerts service's options.
#[derive(Args, Clone, Debug, Default)]
pub struct AlertsArgs {
    /// The city's sector file (see deploy/sectors.example.toml); without one, the example
    /// city's sectors.
    #[arg(long, env = "PASSERELLE_SECTORS")]
    pub sectors: Option<std::path::PathBuf>,
}

impl AlertsArgs {
    pub fn sectors(&self) -> Result<Sectors, ServiceError> {
        let Some(path) = &self.sectors else {
            return Ok(Sectors::example());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ServiceError::invalid(format!(
                "cannot read the sector file {}: {e}",
                path.display()
            ))
        })?;
        Sectors::parse(&text).map_err(|e| ServiceError::invalid(format!("{}: {e}", path.display())))
    }

    /// The service's configuration on `base`.
    pub fn config(&self, base: ServiceBase) -> Result<AlertsConfig, ServiceError> {
        Ok(AlertsConfig {
            base,
            sectors: Arc::new(self.sectors()?),
        })
    }
}
