//! The analytics service's options (`passerelle serve analytics`, `passerelle up`, `passerelle
//! survey`), and how they become its [`AnalyticsConfig`].

use clap::Args;
use passerelle_kit::ServiceError;
use passerelle_kit::base::ServiceBase;

use crate::rules::Rules;
use crate::run::AnalyticsConfig;

/// The analytics service's options.
#[derive(Args, Clone, Debug, Default)]
pub struct AnalyticsArgs {
    /// A rules file (areas, levels, modules; see analytics/rules/pathways.toml) replacing the
    /// built-in one.
    #[arg(long, env = "PASSERELLE_ANALYTICS_RULES")]
    pub rules_file: Option<std::path::PathBuf>,

    /// The directory service (http://HOST:PORT), for the places of each pathway step. `up`
    /// uses its own directory.
    #[arg(long, env = "PASSERELLE_DIRECTORY_URL")]
    pub directory_url: Option<String>,
}

impl AnalyticsArgs {
    /// The rules: the file given, else the built-in ones.
    pub fn rules(&self) -> Result<Rules, ServiceError> {
        match &self.rules_file {
            None => Ok(Rules::default_rules()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ServiceError::invalid(format!(
                        "cannot read the rules file {}: {e}",
                        path.display()
                    ))
                })?;
                Rules::parse(&text)
                    .map_err(|e| ServiceError::invalid(format!("{}: {e}", path.display())))
            }
        }
    }

    /// The service's configuration on `base`.
    pub fn config(&self, base: ServiceBase) -> Result<AnalyticsConfig, ServiceError> {
        Ok(AnalyticsConfig {
            base,
            rules: self.rules()?,
            directory_url: self.directory_url.clone(),
        })
    }
}
