//! Wiring: the outbox, the identity-event consumer (erasure) and the server.

use passerelle_bus::event;
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::base::{Launch, ServeError, ServiceBase};
use passerelle_proto::events::v1 as events;
use tokio::net::TcpListener;

use crate::grpc::AnalyticsGrpc;
use crate::places::Places;
use crate::rules::Rules;
use crate::service::{Analytics, PRODUCER};

/// Everything the analytics service is started with.
#[derive(Clone, Debug)]
pub struct AnalyticsConfig {
    pub base: ServiceBase,
    pub rules: Rules,
    /// The directory service, for the places of each pathway step.
    pub directory_url: Option<String>,
}

/// A started analytics service.
pub type Running = passerelle_kit::base::Running<Analytics>;

/// Builds the service and starts its relay and consumer; the server is ready to serve.
pub fn start(
    config: AnalyticsConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let places = config
        .directory_url
        .as_deref()
        .map(|url| Places::connect_lazy(url, config.base.server.tls_ca.as_deref()))
        .transpose()?;
    let mut launch = Launch::new(&config.base, &shutdown);
    let service = Analytics::new(
        config.base.store.clone(),
        launch.outbox(PRODUCER),
        config.base.clock.clone(),
        config.rules.clone(),
        places,
    );
    // An erased account takes its surveys and pathways with it.
    {
        let service = service.clone();
        launch.consume("analytics", &["passerelle.identity"], move |envelope, _| {
            let service = service.clone();
            async move {
                if let Some(erased) = event::payload::<events::AccountErased>(&envelope)? {
                    service.erase_person(&erased.account_id).await?;
                }
                Ok(())
            }
        });
    }
    let grpc = AnalyticsGrpc::new(service.clone());
    Ok(launch.running(service, |server| server.add_service(grpc.into_server())))
}

/// `start` then serve on `listener` until `shutdown`.
pub async fn serve(
    config: AnalyticsConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let started = start(config, shutdown.clone());
    passerelle_kit::base::serve(std::future::ready(started), listener, shutdown).await
}
