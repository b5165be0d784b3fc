//! Wiring: storage, the outbox relay, the identity-event consumer, the schedules, the server.

use std::time::Duration;

use passerelle_bus::DynBus;
use passerelle_bus::consume;
use passerelle_bus::outbox::OutboxRelay;
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::JwtVerifier;
use passerelle_kit::clock::DynClock;
use passerelle_kit::config::ServerArgs;
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::server::GrpcServer;
use passerelle_kit::shutdown::every;
use passerelle_proto::events::v1 as events;
use passerelle_store::DynStore;
use prost::Message;
use tokio::net::TcpListener;

use crate::blobs::Blobs;
use crate::grpc::VaultGrpc;
use crate::procedures;
use crate::service::{Limits, PRODUCER, Vault};

/// Everything the vault service is started with.
#[derive(Clone)]
pub struct VaultConfig {
    pub store: DynStore,
    pub bus: DynBus,
    pub server: ServerArgs,
    pub verifier: Option<JwtVerifier>,
    pub master_key: MasterKey,
    /// `file://DIR` or `s3://BUCKET[/PREFIX]…`
    pub blobs_url: String,
    pub limits: Limits,
    /// A procedures catalogue replacing the built-in one.
    pub procedures_json: Option<String>,
    pub clock: DynClock,
    /// Uploads untouched for this long are abandoned and their bytes removed.
    pub abandon_uploads_after: Duration,
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("blobs_url", &self.blobs_url)
            .finish_non_exhaustive()
    }
}

pub struct Running {
    pub service: Vault,
    server: GrpcServer,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

pub async fn start(
    config: VaultConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let blobs = Blobs::open(&config.blobs_url).map_err(ServiceError::InvalidArgument)?;
    let catalogue = config
        .procedures_json
        .as_deref()
        .unwrap_or(procedures::DEFAULT);
    let procedures = procedures::load(catalogue).map_err(ServiceError::InvalidArgument)?;
    let relay = OutboxRelay::new(config.store.clone(), config.bus.clone(), PRODUCER);
    let service = Vault::new(
        config.store.clone(),
        blobs,
        config.master_key.clone(),
        config.clock.clone(),
        relay.clone(),
        config.limits,
        procedures,
    );
    let mut tasks = vec![tokio::spawn(relay.run(shutdown.clone()))];
    let health = passerelle_kit::health::Health::default();

    // Accounts come and go in the identity service: a new beneficiary gets a vault, an erased
    // account loses it (its key destroyed); a mandate that ends takes its agents' shares along.
    {
        let (service, bus, store, shutdown, health) = (
            service.clone(),
            config.bus.clone(),
            config.store.clone(),
            shutdown.clone(),
            health.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let handler = move |envelope: events::Envelope, _| {
                let service = service.clone();
                async move {
                    match envelope.event_type.as_str() {
                        "passerelle.events.v1.AccountCreated" => {
                            let created =
                                events::AccountCreated::decode(envelope.payload.as_slice())?;
                            if created.role == "beneficiary" {
                                service.provision(&created.account_id).await?;
                            }
                        }
                        "passerelle.events.v1.AccountErased" => {
                            let erased = events::AccountErased::decode(envelope.payload.as_slice())
                                .map_err(|e| e.to_string())?;
                            service.erase_vault(&erased.account_id).await?;
                        }
                        // A share an agent made ends with the mandate that allowed it. (Opening a
                        // share checks the mandate too: this only tidies the list at once.)
                        "passerelle.events.v1.MandateRevoked" => {
                            let revoked =
                                events::MandateRevoked::decode(envelope.payload.as_slice())
                                    .map_err(|e| e.to_string())?;
                            if revoked.whole || revoked.scopes.iter().any(|s| s == "documents") {
                                service
                                    .end_shares_of_mandate(
                                        &revoked.beneficiary_id,
                                        &revoked.mandate_id,
                                    )
                                    .await?;
                            }
                        }
                        "passerelle.events.v1.MandateExpired" => {
                            let expired =
                                events::MandateExpired::decode(envelope.payload.as_slice())
                                    .map_err(|e| e.to_string())?;
                            service
                                .end_shares_of_mandate(&expired.beneficiary_id, &expired.mandate_id)
                                .await?;
                        }
                        _ => {}
                    }
                    Ok::<(), consume::Failure>(())
                }
            };
            consume::run(
                bus,
                store,
                "vault",
                &["passerelle.identity"],
                handler,
                health,
                shutdown,
            )
            .await;
        }));
    }
    {
        let service = service.clone();
        tasks.push(every(
            Duration::from_secs(3600),
            shutdown.clone(),
            move || {
                let service = service.clone();
                async move {
                    match service.announce_expiring().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(documents = n, "expiry reminders sent"),
                        Err(e) => tracing::warn!(error = %e, "expiry reminders failed"),
                    }
                }
            },
        ));
    }
    {
        let (service, after) = (service.clone(), config.abandon_uploads_after);
        tasks.push(every(
            Duration::from_secs(3600),
            shutdown.clone(),
            move || {
                let service = service.clone();
                async move {
                    if let Err(e) = service.cleanup(after).await {
                        tracing::warn!(error = %e, "vault clean-up failed");
                    }
                }
            },
        ));
    }
    let server = GrpcServer::new(config.server.clone())
        .with_health(health)
        .with_auth(config.verifier.clone())
        .add_service(VaultGrpc::new(service.clone()).into_server());
    Ok(Running {
        service,
        server: server.with_tasks(tasks),
    })
}

impl Running {
    /// Serves until `shutdown`, then waits for the background work to stop.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), tonic::transport::Error> {
        self.server.serve(listener, shutdown).await
    }
}

pub async fn serve(
    config: VaultConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let running = start(config, shutdown.clone()).await?;
    running.serve(listener, shutdown).await?;
    Ok(())
}
