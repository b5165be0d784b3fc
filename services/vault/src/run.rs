//! Wiring: storage, the outbox, the identity-event consumer, the schedules, the server.

use std::time::Duration;

use passerelle_bus::event;
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::base::{Launch, ServeError, ServiceBase};
use passerelle_kit::secrets::MasterKey;
use passerelle_proto::events::v1 as events;
use tokio::net::TcpListener;

use crate::blobs::Blobs;
use crate::grpc::VaultGrpc;
use crate::procedures;
use crate::service::{Limits, PRODUCER, Vault};

/// Everything the vault service is started with.
#[derive(Clone)]
pub struct VaultConfig {
    pub base: ServiceBase,
    pub master_key: MasterKey,
    /// `file://DIR` or `s3://BUCKET[/PREFIX]…`
    pub blobs_url: String,
    pub limits: Limits,
    /// A procedures catalogue replacing the built-in one.
    pub procedures_json: Option<String>,
    /// Uploads untouched for this long are abandoned and their bytes removed.
    pub abandon_uploads_after: Duration,
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("base", &self.base)
            .field("blobs_url", &self.blobs_url)
            .finish_non_exhaustive()
    }
}

/// A started vault service.
pub type Running = passerelle_kit::base::Running<Vault>;

/// Builds the service and starts its relay, consumer and schedules; the server is ready.
pub async fn start(
    config: VaultConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let blobs = Blobs::open(&config.blobs_url)?;
    let catalogue = config
        .procedures_json
        .as_deref()
        .unwrap_or(procedures::DEFAULT);
    let procedures = procedures::load(catalogue)?;
    let mut launch = Launch::new(&config.base, &shutdown);
    let service = Vault::new(
        config.base.store.clone(),
        blobs,
        config.master_key.clone(),
        config.base.clock.clone(),
        launch.outbox(PRODUCER),
        config.limits,
        procedures,
    );

    // Accounts come and go in the identity service: a new beneficiary gets a vault, an erased
    // account loses it (its key destroyed); a mandate that ends takes its agents' shares along.
    {
        let service = service.clone();
        launch.consume("vault", &["passerelle.identity"], move |envelope, _| {
            let service = service.clone();
            async move {
                if let Some(created) = event::payload::<events::AccountCreated>(&envelope)? {
                    if created.role == "beneficiary" {
                        service.provision(&created.account_id).await?;
                    }
                } else if let Some(erased) = event::payload::<events::AccountErased>(&envelope)? {
                    service.erase_vault(&erased.account_id).await?;
                } else if let Some(revoked) = event::payload::<events::MandateRevoked>(&envelope)? {
                    // A share an agent made ends with the mandate that allowed it. (Opening a
                    // share checks the mandate too: this only tidies the list at once.)
                    if revoked.whole || revoked.scopes.iter().any(|s| s == "documents") {
                        service
                            .end_shares_of_mandate(&revoked.beneficiary_id, &revoked.mandate_id)
                            .await?;
                    }
                } else if let Some(expired) = event::payload::<events::MandateExpired>(&envelope)? {
                    service
                        .end_shares_of_mandate(&expired.beneficiary_id, &expired.mandate_id)
                        .await?;
                }
                Ok(())
            }
        });
    }
    {
        let service = service.clone();
        launch.every(Duration::from_secs(3600), "expiry reminders", move || {
            let service = service.clone();
            async move {
                let n = service.announce_expiring().await?;
                if n > 0 {
                    tracing::info!(documents = n, "expiry reminders sent");
                }
                Ok::<_, ServiceError>(())
            }
        });
    }
    {
        let (service, after) = (service.clone(), config.abandon_uploads_after);
        launch.every(Duration::from_secs(3600), "vault clean-up", move || {
            let service = service.clone();
            async move { service.cleanup(after).await }
        });
    }
    let grpc = VaultGrpc::new(service.clone());
    Ok(launch.running(service, |server| server.add_service(grpc.into_server())))
}

/// `start` then serve on `listener` until `shutdown`.
pub async fn serve(
    config: VaultConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    passerelle_kit::base::serve(start(config, shutdown.clone()), listener, shutdown).await
}
