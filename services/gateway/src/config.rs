//! The web front's options (`passerelle serve gateway`, `passerelle up`), and how they become
//! its [`GatewayConfig`].

use std::time::Duration;

use clap::Args;
use passerelle_kit::ServiceError;
use passerelle_kit::base::ServiceBase;
use passerelle_kit::config::{Hidden, parse_duration};
use passerelle_kit::secrets::MasterKey;

use crate::run::{GatewayConfig, Oidc};

/// The web front's options.
#[derive(Args, Clone, Debug)]
pub struct GatewayArgs {
    /// The identity service (http://HOST:PORT). `up` uses its own.
    #[arg(long, env = "PASSERELLE_IDENTITY_URL")]
    pub identity_url: Option<String>,

    /// The vault service (http://HOST:PORT). `up` uses its own.
    #[arg(long, env = "PASSERELLE_VAULT_URL")]
    pub vault_url: Option<String>,

    /// The web front's address as browsers reach it, e.g. https://passerelle.example.fr:
    /// session cookies are `Secure` over https, and Keycloak sends people back to it.
    #[arg(long, env = "PASSERELLE_WEB_URL")]
    pub web_url: Option<String>,

    /// A session ends after this long without a click (shared computers: a few minutes).
    #[arg(long, env = "PASSERELLE_SESSION_IDLE", default_value = "10m", value_parser = parse_duration)]
    pub session_idle: Duration,

    /// A session ends this long after signing in, active or not.
    #[arg(long, env = "PASSERELLE_SESSION_MAX", default_value = "10h", value_parser = parse_duration)]
    pub session_max: Duration,

    /// Sign-in through this OpenID Connect issuer (Keycloak's realm URL) instead of the
    /// identity service's form. `up --idp keycloak://…` sets it.
    #[arg(long, env = "PASSERELLE_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The web front's OpenID Connect client at that issuer.
    #[arg(
        long,
        env = "PASSERELLE_OIDC_CLIENT_ID",
        default_value = "passerelle-gateway"
    )]
    pub oidc_client_id: String,

    /// The secret of that client.
    #[arg(long, env = "PASSERELLE_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<Hidden>,
}

impl GatewayArgs {
    /// The web front's configuration on `base`, with the master key that seals sessions.
    pub fn config(
        &self,
        base: ServiceBase,
        master_key: MasterKey,
    ) -> Result<GatewayConfig, ServiceError> {
        let required = |value: &Option<String>, variable: &str, what: &str| {
            value.clone().ok_or_else(|| {
                ServiceError::invalid(format!("set {variable}: the {what} service's address"))
            })
        };
        if self.session_idle.is_zero() || self.session_idle > self.session_max {
            return Err(ServiceError::invalid(format!(
                "session idle time of {} s is not accepted: expected more than 0 and at most the session's longest life ({} s)",
                self.session_idle.as_secs(),
                self.session_max.as_secs()
            )));
        }
        let web_url = match &self.web_url {
            Some(url) => Some(url::Url::parse(url).map_err(|e| {
                ServiceError::invalid(format!("web url `{url}` is not an address: {e}"))
            })?),
            None => None,
        };
        let oidc = match &self.oidc_issuer {
            None => None,
            Some(issuer) => Some(Oidc {
                issuer: issuer.trim_end_matches('/').to_owned(),
                client_id: self.oidc_client_id.clone(),
                client_secret: self
                    .oidc_client_secret
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .ok_or_else(|| {
                        ServiceError::invalid(
                            "set PASSERELLE_OIDC_CLIENT_SECRET: the secret of the web front's client at the issuer",
                        )
                    })?,
            }),
        };
        Ok(GatewayConfig {
            base,
            master_key,
            identity_url: required(&self.identity_url, "PASSERELLE_IDENTITY_URL", "identity")?,
            vault_url: required(&self.vault_url, "PASSERELLE_VAULT_URL", "vault")?,
            web_url,
            session_idle: self.session_idle,
            session_max: self.session_max,
            oidc,
        })
    }
}
