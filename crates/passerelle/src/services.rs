//! Which services exist, and how each is started on a listener.

use anyhow::Context as _;
use clap::ValueEnum;
use passerelle_bus::DynBus;
use passerelle_kit::CancellationToken;
use passerelle_kit::auth::JwtVerifier;
use passerelle_kit::config::{AuthArgs, EngineArgs, ServerArgs};
use passerelle_kit::server::GrpcServer;
use passerelle_store::DynStore;
use tokio::net::TcpListener;

use crate::platform::PlatformService;

/// A service `passerelle serve` can run; `passerelle up` runs them all, in this order.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceName {
    /// Platform information (version, engines, services).
    Platform,
}

impl ServiceName {
    pub const ALL: &'static [ServiceName] = &[ServiceName::Platform];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Platform => "platform",
        }
    }
}

/// The opened store and bus, shared by every service of the process.
#[derive(Clone)]
pub struct Engines {
    pub store: DynStore,
    pub bus: DynBus,
}

impl Engines {
    pub async fn open(args: &EngineArgs) -> anyhow::Result<Self> {
        let store = passerelle_store::open(&args.store_url())
            .await
            .context("cannot open the store")?;
        let bus = passerelle_bus::open(&args.bus_url())
            .await
            .context("cannot open the event bus")?;
        Ok(Self { store, bus })
    }
}

/// What a service needs to start.
pub struct Context {
    pub engines: Engines,
    pub server: ServerArgs,
    pub auth: AuthArgs,
    /// `(service, address)` of every service of this process.
    pub endpoints: Vec<(String, String)>,
}

impl Context {
    fn verifier(&self) -> Option<JwtVerifier> {
        self.auth.issuer.as_deref().map(|issuer| {
            JwtVerifier::for_issuer(
                issuer,
                self.auth.jwks_url.as_deref(),
                self.auth.audience.clone(),
            )
        })
    }
}

/// Runs `name` on `listener` until `shutdown`.
pub async fn serve(
    name: ServiceName,
    ctx: Context,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let server = GrpcServer::new(ctx.server.clone()).with_auth(ctx.verifier());
    let server = match name {
        ServiceName::Platform => server.add_service(
            PlatformService::new(
                ctx.engines.store.engine(),
                ctx.engines.bus.engine(),
                &ctx.endpoints,
            )
            .into_server(),
        ),
    };
    server
        .serve(listener, shutdown)
        .await
        .with_context(|| format!("the {} service stopped with an error", name.as_str()))
}
