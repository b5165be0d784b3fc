//! Wiring: the identity-event consumer (erasure) and the server.

use std::sync::Arc;

use passerelle_bus::event;
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::base::{Launch, ServeError, ServiceBase};
use passerelle_proto::events::v1 as events;
use tokio::net::TcpListener;

use crate::grpc::AlertsGrpc;
use crate::sectors::Sectors;
use crate::service::Alerts;

/// Everything the alerts service is started with.
#[derive(Clone, Debug)]
pub struct AlertsConfig {
    pub base: ServiceBase,
    pub sectors: Arc<Sectors>,
}

/// A started alerts service.
pub type Running = passerelle_kit::base::Running<Alerts>;

/// Builds the service and starts its consumer; the server is ready to serve.
pub fn start(config: AlertsConfig, shutdown: CancellationToken) -> Result<Running, ServiceError> {
    let mut launch = Launch::new(&config.base, &shutdown);
    let service = Alerts::new(
        config.base.store.clone(),
        config.base.clock.clone(),
        config.sectors.clone(),
    );
    // An erased account takes its registration with it.
    {
        let service = service.clone();
        launch.consume("alerts", &["passerelle.identity"], move |envelope, _| {
            let service = service.clone();
            async move {
                if let Some(erased) = event::payload::<events::AccountErased>(&envelope)? {
                    service.erase_account(&erased.account_id).await?;
                }
                Ok(())
            }
        });
    }
    let grpc = AlertsGrpc::new(service.clone());
    Ok(launch.running(service, |server| server.add_service(grpc.into_server())))
}

/// `start` then serve on `listener` until `shutdown`.
pub async fn serve(
    config: AlertsConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let started = start(config, shutdown.clone());
    passerelle_kit::base::serve(std::future::ready(started), listener, shutdown).await
}
