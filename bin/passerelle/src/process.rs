//! What the services of one process share, and how each is started on a listener: `up` starts
//! them all, `serve` one.

use std::sync::Arc;

use anyhow::Context as _;
use passerelle_identity::config::IdentityArgs;
use passerelle_kit::CancellationToken;
use passerelle_kit::auth::JwtVerifier;
use passerelle_kit::base::{ServeError, ServiceBase};
use passerelle_kit::clock::SystemClock;
use passerelle_kit::config::{AuthArgs, Engines, ServerArgs};
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::server::GrpcServer;
use tokio::net::TcpListener;

use crate::platform::PlatformService;

/// A service `passerelle serve` can run; `passerelle up` runs them all, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceName {
    Platform,
    Identity,
    Vault,
    Directory,
    Analytics,
    Gateway,
    Alerts,
}

impl ServiceName {
    pub const ALL: &'static [ServiceName] = &[
        ServiceName::Platform,
        ServiceName::Identity,
        ServiceName::Vault,
        ServiceName::Directory,
        ServiceName::Analytics,
        ServiceName::Gateway,
        ServiceName::Alerts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Platform => "platform",
            ServiceName::Identity => "identity",
            ServiceName::Vault => "vault",
            ServiceName::Directory => "directory",
            ServiceName::Analytics => "analytics",
            ServiceName::Gateway => "gateway",
            ServiceName::Alerts => "alerts",
        }
    }
}

/// What every service of this process shares.
#[derive(Clone, Debug)]
pub struct Process {
    pub engines: Engines,
    pub server: ServerArgs,
    /// Whom tokens come from (see [`trusted_issuer`]).
    pub auth: AuthArgs,
    /// `(service, address)` of every service of this process.
    pub endpoints: Vec<(String, String)>,
}

/// The token issuer every service trusts: the one given, else the one the identity options
/// name (Keycloak's realm, or the built-in issuer at the identity service's public URL).
pub fn trusted_issuer(
    auth: &AuthArgs,
    identity: Option<&IdentityArgs>,
) -> anyhow::Result<AuthArgs> {
    let mut auth = auth.clone();
    if auth.issuer.is_none()
        && let Some(identity) = identity
    {
        auth.issuer = identity.issuer_url()?;
    }
    Ok(auth)
}

impl Process {
    fn verifier(&self) -> Option<JwtVerifier> {
        self.auth.issuer.as_deref().map(|issuer| {
            let verifier = JwtVerifier::for_issuer(
                issuer,
                self.auth.jwks_url.as_deref(),
                Some(self.auth.audience.clone()),
            );
            match verifier.clone().trusting(self.server.tls_ca.as_deref()) {
                Ok(trusting) => trusting,
                Err(e) => {
                    // Keys then cannot be fetched over TLS: every call says so, and this why.
                    tracing::error!(error = %e, "the TLS authority cannot be used");
                    verifier
                }
            }
        })
    }

    /// The base every service of this process starts from.
    pub fn base(&self) -> ServiceBase {
        ServiceBase {
            store: self.engines.store.clone(),
            bus: self.engines.bus.clone(),
            server: self.server.clone(),
            verifier: self.verifier(),
            clock: Arc::new(SystemClock),
        }
    }

    pub async fn platform(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        GrpcServer::new(self.server.clone())
            .with_auth(self.verifier())
            .add_service(
                PlatformService::new(
                    self.engines.store.engine(),
                    self.engines.bus.engine(),
                    &self.endpoints,
                )
                .into_server(),
            )
            .serve(listener, shutdown)
            .await
            .context("the platform service stopped with an error")
    }

    /// The identity service; `announce_admin`: print the bootstrap admin's password when this
    /// start made the account (the embedded platform's first start).
    pub async fn identity(
        &self,
        args: &IdentityArgs,
        master_key: MasterKey,
        announce_admin: bool,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let config = args.config(self.base(), master_key)?;
        let running = passerelle_identity::start(config, shutdown.clone())
            .await
            .context("the identity service cannot start")?;
        if running.service.bootstrap_admin_created && announce_admin {
            println!(
                "First start: admin account `{}` created with password {} (shown once; change it after signing in).",
                args.bootstrap_admin,
                args.bootstrap_admin_password
                    .as_ref()
                    .map_or("", |p| p.expose())
            );
        }
        stopped(
            "identity",
            running
                .serve(listener, shutdown)
                .await
                .map_err(ServeError::from),
        )
    }

    pub async fn vault(
        &self,
        args: &passerelle_vault::config::VaultArgs,
        master_key: MasterKey,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let config = args.config(self.base(), master_key)?;
        stopped(
            "vault",
            passerelle_vault::serve(config, listener, shutdown).await,
        )
    }

    pub async fn directory(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let config = passerelle_directory::DirectoryConfig {
            base: self.base(),
            // Each replica keeps its own index current from the events.
            replica: std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into()),
        };
        stopped(
            "directory",
            passerelle_directory::serve(config, listener, shutdown).await,
        )
    }

    pub async fn analytics(
        &self,
        args: &passerelle_analytics::config::AnalyticsArgs,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let config = args.config(self.base())?;
        stopped(
            "analytics",
            passerelle_analytics::serve(config, listener, shutdown).await,
        )
    }
}

impl Process {
    /// The heatwave register.
    pub async fn alerts(
        &self,
        args: &passerelle_alerts::config::AlertsArgs,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let config = args.config(self.base())?;
        stopped(
            "alerts",
            passerelle_alerts::serve(config, listener, shutdown).await,
        )
    }

    /// The web front: pages over the services' gRPC APIs.
    pub async fn gateway(
        &self,
        args: &passerelle_gateway::config::GatewayArgs,
        master_key: MasterKey,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let config = args.config(self.base(), master_key)?;
        stopped(
            "gateway",
            passerelle_gateway::serve(config, listener, shutdown).await,
        )
    }
}

/// A service's end: an error says which service and why.
fn stopped(name: &str, result: Result<(), ServeError>) -> anyhow::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(ServeError::Start(why)) => {
            Err(anyhow::anyhow!(why)).with_context(|| format!("the {name} service cannot start"))
        }
        Err(e) => Err(e).with_context(|| format!("the {name} service stopped with an error")),
    }
}

/// A password for the first admin: 20 characters from an unambiguous alphabet.
pub fn random_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 20] = passerelle_kit::secrets::random()
        .map_err(|_| anyhow::anyhow!("no randomness available to make the admin's password"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}
