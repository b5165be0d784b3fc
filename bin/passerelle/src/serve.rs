//! `passerelle serve <service>`: one service, as a Kubernetes pod runs it. Each service takes
//! the options every service has and its own, and no other: `passerelle serve directory
//! --argon2-passes 9` is refused.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use passerelle_alerts::config::AlertsArgs;
use passerelle_analytics::config::AnalyticsArgs;
use passerelle_gateway::config::GatewayArgs;
use passerelle_identity::config::IdentityArgs;
use passerelle_kit::config::{AuthArgs, EngineArgs, MasterKeyArgs, ServerArgs, TelemetryArgs};
use passerelle_vault::config::VaultArgs;
use tokio::net::TcpListener;

use crate::process::{Process, ServiceName, trusted_issuer};

/// What every service takes.
#[derive(Args, Debug)]
pub struct CommonArgs {
    #[arg(long, env = "PASSERELLE_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum ServeCommand {
    /// Platform information (version, engines, services).
    Platform(CommonArgs),
    /// Accounts, sign-in, recovery, mandates; the built-in token issuer.
    Identity {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        identity: IdentityArgs,
        #[command(flatten)]
        master_key: MasterKeyArgs,
    },
    /// The encrypted digital safe.
    Vault {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        master_key: MasterKeyArgs,
    },
    /// Digital access points (national schema), searchable.
    Directory(CommonArgs),
    /// Digital-literacy surveys, autonomy pathways, dashboards.
    Analytics {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        analytics: AnalyticsArgs,
    },
    /// The heatwave register, by sector.
    Alerts {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        alerts: AlertsArgs,
    },
    /// The web front (HTTP): pages for agents and beneficiaries over the services.
    Gateway {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        master_key: MasterKeyArgs,
    },
}

impl ServeCommand {
    fn common(&self) -> &CommonArgs {
        match self {
            Self::Platform(common) | Self::Directory(common) => common,
            Self::Identity { common, .. }
            | Self::Vault { common, .. }
            | Self::Analytics { common, .. }
            | Self::Alerts { common, .. }
            | Self::Gateway { common, .. } => common,
        }
    }

    fn name(&self) -> ServiceName {
        match self {
            Self::Platform(_) => ServiceName::Platform,
            Self::Identity { .. } => ServiceName::Identity,
            Self::Vault { .. } => ServiceName::Vault,
            Self::Directory(_) => ServiceName::Directory,
            Self::Analytics { .. } => ServiceName::Analytics,
            Self::Gateway { .. } => ServiceName::Gateway,
            Self::Alerts { .. } => ServiceName::Alerts,
        }
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let name = self.name();
        let common = self.common();
        passerelle_kit::server::check_tls(&common.server).map_err(anyhow::Error::msg)?;
        let _telemetry = passerelle_kit::telemetry::init(name.as_str(), &common.telemetry)
            .map_err(anyhow::Error::msg)?;
        let engines = common.engines.open().await.map_err(anyhow::Error::msg)?;
        let shutdown = passerelle_kit::shutdown::on_signal();
        engines.keep_retention(common.engines.bus_retention, shutdown.clone());
        let listener = TcpListener::bind(common.listen)
            .await
            .with_context(|| format!("cannot listen on {}", common.listen))?;
        let addr = listener.local_addr()?.to_string();
        tracing::info!(service = name.as_str(), %addr, store = engines.store.engine(), bus = engines.bus.engine(), "serving");
        let process = |auth: AuthArgs| Process {
            engines: engines.clone(),
            server: common.server.clone(),
            auth,
            endpoints: vec![(name.as_str().to_owned(), addr.clone())],
        };
        match &self {
            Self::Platform(common) => {
                process(common.auth.clone())
                    .platform(listener, shutdown)
                    .await
            }
            Self::Directory(common) => {
                process(common.auth.clone())
                    .directory(listener, shutdown)
                    .await
            }
            Self::Identity {
                common,
                identity,
                master_key,
            } => {
                let mut identity = identity.clone();
                identity
                    .public_url
                    .get_or_insert_with(|| format!("http://{addr}"));
                let auth = trusted_issuer(&common.auth, Some(&identity))?;
                let key = master_key.load(false).map_err(anyhow::Error::msg)?;
                process(auth)
                    .identity(&identity, key, false, listener, shutdown)
                    .await
            }
            Self::Vault {
                common,
                vault,
                master_key,
            } => {
                let key = master_key.load(false).map_err(anyhow::Error::msg)?;
                process(common.auth.clone())
                    .vault(vault, key, listener, shutdown)
                    .await
            }
            Self::Analytics { common, analytics } => {
                process(common.auth.clone())
                    .analytics(analytics, listener, shutdown)
                    .await
            }
            Self::Alerts { common, alerts } => {
                process(common.auth.clone())
                    .alerts(alerts, listener, shutdown)
                    .await
            }
            Self::Gateway {
                common,
                gateway,
                master_key,
            } => {
                let key = master_key.load(false).map_err(anyhow::Error::msg)?;
                process(common.auth.clone())
                    .gateway(gateway, key, listener, shutdown)
                    .await
            }
        }
    }
}
