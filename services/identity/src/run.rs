//! Wiring: the provider, the verifier, the outbox relay, the schedules and the server.

use std::sync::Arc;
use std::time::Duration;

use passerelle_bus::DynBus;
use passerelle_bus::consume;
use passerelle_bus::outbox::OutboxRelay;
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{JwtVerifier, KeySource, Principal, Role};
use passerelle_kit::clock::DynClock;
use passerelle_kit::config::ServerArgs;
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::server::GrpcServer;
use passerelle_kit::shutdown::every;
use passerelle_proto::events::v1 as events;
use passerelle_store::DynStore;
use prost::Message as _;
use tokio::net::TcpListener;

use crate::credentials::Hasher;
use crate::domain::{Language, PersonName, Secret, Username};
use crate::grpc::IdentityGrpc;
use crate::issuer::{Issuer, IssuerSettings};
use crate::keycloak::{KeycloakProvider, KeycloakSettings};
use crate::provider::{BuiltIn, Provider};
use crate::service::{Identity, NewAccount, PRODUCER};
use crate::sms::SmsSender;

/// Which identity provider holds sign-ins.
#[derive(Clone, Debug)]
pub enum IdpChoice {
    BuiltIn,
    Keycloak(KeycloakSettings),
}

/// Everything the identity service is started with.
#[derive(Clone)]
pub struct IdentityConfig {
    pub store: DynStore,
    pub bus: DynBus,
    pub server: ServerArgs,
    pub idp: IdpChoice,
    pub master_key: MasterKey,
    /// This service's URL as clients reach it, e.g. `http://127.0.0.1:50052`; the built-in
    /// issuer's URL is `<public_url>/realms/passerelle`.
    pub public_url: String,
    pub token_ttl: Duration,
    pub key_rotation: Duration,
    pub argon2_memory_kib: u32,
    pub argon2_passes: u32,
    /// Memory all Argon2 hashes may hold at once, in MiB: it bounds how many run together.
    pub argon2_budget_mib: u32,
    pub sms: Option<Arc<dyn SmsSender>>,
    pub clock: DynClock,
    /// An admin account made at start when its username is free.
    pub bootstrap_admin: Option<(String, String)>,
    /// Where erasures are journalled apart from the store, and re-applied at start.
    pub erasure_journal: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for IdentityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityConfig")
            .field("idp", &self.idp)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl IdentityConfig {
    /// The `iss` of the tokens services must accept.
    pub fn issuer_url(&self) -> String {
        match &self.idp {
            IdpChoice::BuiltIn => format!(
                "{}/realms/passerelle",
                self.public_url.trim_end_matches('/')
            ),
            IdpChoice::Keycloak(kc) => kc.issuer(),
        }
    }
}

/// A started identity service: its parts, for `serve` and for tests.
pub struct Running {
    pub service: Identity,
    pub verifier: JwtVerifier,
    /// Whether this start made the bootstrap admin (a first start).
    pub bootstrap_admin_created: bool,
    /// The built-in issuer, when it is the provider.
    pub issuer: Option<Issuer>,
    server: GrpcServer,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

/// Builds the service and starts its background work (relay, schedules).
pub async fn start(
    config: IdentityConfig,
    shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let issuer_url = config.issuer_url();
    if !(Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&config.token_ttl) {
        return Err(ServiceError::InvalidArgument(format!(
            "token lifetime of {} s is not accepted: expected 1 minute to 1 day",
            config.token_ttl.as_secs()
        )));
    }
    if !(Duration::from_secs(3600)..=Duration::from_secs(366 * 86_400))
        .contains(&config.key_rotation)
    {
        return Err(ServiceError::InvalidArgument(format!(
            "key rotation every {} s is not accepted: expected 1 hour to 1 year",
            config.key_rotation.as_secs()
        )));
    }
    let hasher = Hasher::new(
        config.argon2_memory_kib,
        config.argon2_passes,
        config.argon2_budget_mib,
    )
    .map_err(ServiceError::InvalidArgument)?;
    let mut tasks = Vec::new();
    let health = passerelle_kit::health::Health::default();
    let mut builtin_issuer = None;
    let (provider, http, verifier): (Arc<dyn Provider>, Option<axum::Router>, JwtVerifier) =
        match &config.idp {
            IdpChoice::BuiltIn => {
                let issuer = Issuer::open(
                    IssuerSettings {
                        issuer: issuer_url.clone(),
                        token_ttl: i64::try_from(config.token_ttl.as_secs()).unwrap_or(900),
                        rotation: i64::try_from(config.key_rotation.as_secs())
                            .unwrap_or(30 * 86_400),
                    },
                    config.store.clone(),
                    config.master_key.clone(),
                    config.clock.clone(),
                )
                .await?;
                let router = issuer.router();
                builtin_issuer = Some(issuer.clone());
                {
                    let issuer = issuer.clone();
                    tasks.push(every(
                        Duration::from_secs(60),
                        shutdown.clone(),
                        move || {
                            let issuer = issuer.clone();
                            async move {
                                if let Err(e) = issuer.rotate_if_due().await {
                                    tracing::warn!(error = %e, "key rotation check failed");
                                }
                                if let Err(e) = issuer.reload().await {
                                    tracing::warn!(error = %e, "reloading signing keys failed");
                                }
                            }
                        },
                    ));
                }
                let verifier = JwtVerifier::new(
                    issuer_url.clone(),
                    Some(passerelle_kit::auth::AUDIENCE.into()),
                    KeySource::Remote(format!("{issuer_url}/protocol/openid-connect/certs")),
                )
                .trusting(config.server.tls_ca.as_deref())
                .map_err(ServiceError::InvalidArgument)?;
                (Arc::new(BuiltIn { issuer, hasher }), Some(router), verifier)
            }
            IdpChoice::Keycloak(settings) => {
                let provider = KeycloakProvider::connect(settings.clone()).await?;
                let verifier = JwtVerifier::for_issuer(
                    &settings.issuer(),
                    None,
                    Some(passerelle_kit::auth::AUDIENCE.into()),
                );
                (Arc::new(provider), None, verifier)
            }
        };
    let relay = OutboxRelay::new(config.store.clone(), config.bus.clone(), PRODUCER);
    tasks.push(tokio::spawn(relay.clone().run(shutdown.clone())));
    let service = Identity::new(
        config.store.clone(),
        provider,
        config.clock.clone(),
        relay,
        config.sms.clone(),
    )
    .with_erasure_journal(config.erasure_journal.clone());
    service.replay_erasures().await?;
    {
        let service = service.clone();
        tasks.push(every(
            Duration::from_secs(60),
            shutdown.clone(),
            move || {
                let service = service.clone();
                async move {
                    match service.announce_expired_mandates().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(mandates = n, "announced expired mandates"),
                        Err(e) => tracing::warn!(error = %e, "announcing expired mandates failed"),
                    }
                }
            },
        ));
    }
    // A secret set anew without the old one is told to the person on their own channel, from
    // the event (so a crash between the change and the message loses nothing).
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
                    if envelope.event_type == "passerelle.events.v1.AccountRecovered" {
                        let recovered =
                            events::AccountRecovered::decode(envelope.payload.as_slice())?;
                        // An SMS gateway that fails is an outage: the notice waits for it.
                        service
                            .notify_recovery(&recovered)
                            .await
                            .map_err(|e| consume::Failure::Retry(e.to_string()))?;
                    }
                    Ok::<(), consume::Failure>(())
                }
            };
            consume::run(
                bus,
                store,
                "identity-notices",
                &["passerelle.identity"],
                handler,
                health,
                shutdown,
            )
            .await;
        }));
    }
    let bootstrap_admin_created = match &config.bootstrap_admin {
        Some((username, password)) => bootstrap_admin(&service, username, password).await?,
        None => false,
    };
    let mut server = GrpcServer::new(config.server.clone())
        .with_health(health)
        .with_auth(Some(verifier.clone()))
        .add_service(IdentityGrpc::new(service.clone()).into_server());
    if let Some(router) = http {
        server = server.with_http(router);
    }
    Ok(Running {
        service,
        verifier,
        bootstrap_admin_created,
        issuer: builtin_issuer,
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

/// `start` then `serve`: the identity service until `shutdown`.
pub async fn serve(
    config: IdentityConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let running = start(config, shutdown.clone()).await?;
    running.serve(listener, shutdown).await?;
    Ok(())
}

/// Makes the first admin when the name is free (a later start changes nothing).
async fn bootstrap_admin(
    service: &Identity,
    username: &str,
    password: &str,
) -> Result<bool, ServiceError> {
    let system = Principal {
        subject: "system".into(),
        roles: vec![Role::Admin],
        structure: Some("passerelle".into()),
        actor: None,
        client: None,
        token_id: None,
        scopes: Vec::new(),
    };
    let new = NewAccount {
        role: Role::Admin,
        username: Some(Username::parse(username)?),
        given_name: PersonName::parse("given name", "Admin")?,
        family_name: PersonName::parse("family name", "Passerelle")?,
        phone: None,
        language: Language::parse("fr")?,
        secret: Secret::parse(password)?,
        structure: Some("passerelle".into()),
    };
    match service.create_account(&system, new).await {
        Ok((account, _)) => {
            tracing::info!(account_id = %account.id, "bootstrap admin created");
            Ok(true)
        }
        Err(ServiceError::AlreadyExists(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
