//! Wiring: the index loaded from the store, the outbox, the event consumer that keeps the
//! index of every replica current, and the server.

use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::base::{Launch, ServeError, ServiceBase};
use tokio::net::TcpListener;

use crate::grpc::DirectoryGrpc;
use crate::service::{Directory, PRODUCER};

/// Everything the directory service is started with.
#[derive(Clone, Debug)]
pub struct DirectoryConfig {
    pub base: ServiceBase,
    /// A name for this replica's consumer group, unique per replica (every replica applies
    /// every change to its own index).
    pub replica: String,
}

/// A started directory service.
pub type Running = passerelle_kit::base::Running<Directory>;

/// Loads the index, starts the relay and the index consumer; the server is ready to serve.
pub async fn start(
    config: DirectoryConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let mut launch = Launch::new(&config.base, &shutdown);
    let outbox = launch.outbox(PRODUCER);
    let service = Directory::load(config.base.store.clone(), outbox).await?;
    {
        let service = service.clone();
        launch.consume(
            format!("directory-index-{}", config.replica),
            &["passerelle.directory"],
            move |envelope, _| {
                let service = service.clone();
                async move { service.apply(&envelope).await }
            },
        );
    }
    let grpc = DirectoryGrpc::new(
        service.clone(),
        config.base.clock.clone(),
        config.base.server.stream_idle_timeout,
    );
    Ok(launch.running(service, |server| server.add_service(grpc.into_server())))
}

/// `start` then serve on `listener` until `shutdown`.
pub async fn serve(
    config: DirectoryConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    passerelle_kit::base::serve(start(config, shutdown.clone()), listener, shutdown).await
}
