//! Wiring: the outbox relay, the identity-event consumer (erasure) and the server.

use passerelle_bus::DynBus;
use passerelle_bus::consume;
use passerelle_bus::outbox::OutboxRelay;
use passerelle_kit::CancellationToken;
use passerelle_kit::auth::JwtVerifier;
use passerelle_kit::clock::DynClock;
use passerelle_kit::config::ServerArgs;
use passerelle_kit::server::GrpcServer;
use passerelle_proto::events::v1 as events;
use passerelle_store::DynStore;
use prost::Message as _;
use tokio::net::TcpListener;

use crate::grpc::AnalyticsGrpc;
use crate::places::Places;
use crate::rules::Rules;
use crate::service::{Analytics, PRODUCER};

#[derive(Clone)]
pub struct AnalyticsConfig {
    pub store: DynStore,
    pub bus: DynBus,
    pub server: ServerArgs,
    pub verifier: Option<JwtVerifier>,
    pub clock: DynClock,
    pub rules: Rules,
    /// The directory service, for the places of each pathway step.
    pub directory_url: Option<String>,
}

impl std::fmt::Debug for AnalyticsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsConfig").finish_non_exhaustive()
    }
}

pub struct Running {
    pub service: Analytics,
    server: GrpcServer,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

pub fn start(config: AnalyticsConfig, shutdown: CancellationToken) -> Result<Running, String> {
    let places = config
        .directory_url
        .as_deref()
        .map(|url| Places::connect_lazy(url, config.server.tls_ca.as_deref()))
        .transpose()?;
    let relay = OutboxRelay::new(config.store.clone(), config.bus.clone(), PRODUCER);
    let service = Analytics::new(
        config.store.clone(),
        relay.clone(),
        config.clock.clone(),
        config.rules.clone(),
        places,
    );
    let health = passerelle_kit::health::Health::default();
    let mut tasks = vec![tokio::spawn(relay.run(shutdown.clone()))];
    // An erased account takes its surveys and pathways with it.
    {
        let (service, bus, store, health) = (
            service.clone(),
            config.bus.clone(),
            config.store.clone(),
            health.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let handler = move |envelope: events::Envelope, _| {
                let service = service.clone();
                async move {
                    if envelope.event_type == "passerelle.events.v1.AccountErased" {
                        let erased = events::AccountErased::decode(envelope.payload.as_slice())?;
                        service.erase_person(&erased.account_id).await?;
                    }
                    Ok::<(), consume::Failure>(())
                }
            };
            consume::run(
                bus,
                store,
                "analytics",
                &["passerelle.identity"],
                handler,
                health,
                shutdown,
            )
            .await;
        }));
    }
    let server = GrpcServer::new(config.server.clone())
        .with_health(health)
        .with_auth(config.verifier.clone())
        .add_service(AnalyticsGrpc::new(service.clone()).into_server())
        .with_tasks(tasks);
    Ok(Running { service, server })
}

impl Running {
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), tonic::transport::Error> {
        self.server.serve(listener, shutdown).await
    }
}
