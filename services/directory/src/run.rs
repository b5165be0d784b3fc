//! Wiring: the index loaded from the store, the outbox relay, the event consumer that keeps
//! the index of every replica current, and the server.

use passerelle_bus::DynBus;
use passerelle_bus::consume;
use passerelle_bus::outbox::OutboxRelay;
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::JwtVerifier;
use passerelle_kit::clock::DynClock;
use passerelle_kit::config::ServerArgs;
use passerelle_kit::server::GrpcServer;
use passerelle_store::DynStore;
use tokio::net::TcpListener;

use crate::grpc::DirectoryGrpc;
use crate::service::{Directory, PRODUCER};

#[derive(Clone)]
pub struct DirectoryConfig {
    pub store: DynStore,
    pub bus: DynBus,
    pub server: ServerArgs,
    pub verifier: Option<JwtVerifier>,
    pub clock: DynClock,
    /// A name for this replica's consumer group, unique per replica (every replica applies
    /// every change to its own index).
    pub replica: String,
}

impl std::fmt::Debug for DirectoryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryConfig").finish_non_exhaustive()
    }
}

pub struct Running {
    pub service: Directory,
    server: GrpcServer,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

pub async fn start(
    config: DirectoryConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let relay = OutboxRelay::new(config.store.clone(), config.bus.clone(), PRODUCER);
    let service = Directory::load(config.store.clone(), relay.clone()).await?;
    let mut tasks = vec![tokio::spawn(relay.run(shutdown.clone()))];
    let health = passerelle_kit::health::Health::default();
    {
        let (service, bus, store, shutdown, health) = (
            service.clone(),
            config.bus.clone(),
            config.store.clone(),
            shutdown.clone(),
            health.clone(),
        );
        let group = format!("directory-index-{}", config.replica);
        tasks.push(tokio::spawn(async move {
            let handler = move |envelope: passerelle_proto::events::v1::Envelope, _| {
                let service = service.clone();
                async move { service.apply(&envelope).await }
            };
            consume::run(
                bus,
                store,
                &group,
                &["passerelle.directory"],
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
        .add_service(
            DirectoryGrpc::new(
                service.clone(),
                config.clock.clone(),
                config.server.stream_idle_timeout,
            )
            .into_server(),
        )
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
