//! Wiring: the provider, the verifier, the outbox relay, the schedules and the server.

use std::sync::Arc;
use std::time::Duration;

use passerelle_bus::{consume, event};
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{JwtVerifier, KeySource, Principal, Role};
use passerelle_kit::base::{Launch, ServeError, ServiceBase};
use passerelle_kit::secrets::MasterKey;
use passerelle_proto::events::v1 as events;
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
    /// Its verifier is not used: the identity service trusts its own provider's tokens.
    pub base: ServiceBase,
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
    /// An admin account made at start when its username is free.
    pub bootstrap_admin: Option<(String, String)>,
    /// Where erasures are journalled apart from the store, and re-applied at start.
    pub erasure_journal: Option<std::path::PathBuf>,
    /// Structures registered at start when missing (besides the platform's own).
    pub structures: Vec<crate::domain::Structure>,
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
            IdpChoice::BuiltIn => crate::config::builtin_issuer_url(&self.public_url),
            IdpChoice::Keycloak(kc) => kc.issuer(),
        }
    }
}

/// What a start of the identity service gives besides its server.
#[derive(Clone)]
pub struct Started {
    pub identity: Identity,
    /// The verifier every service must use for this identity's tokens.
    pub verifier: JwtVerifier,
    /// Whether this start made the bootstrap admin (a first start).
    pub bootstrap_admin_created: bool,
    /// The built-in issuer, when it is the provider.
    pub issuer: Option<Issuer>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("bootstrap_admin_created", &self.bootstrap_admin_created)
            .finish_non_exhaustive()
    }
}

/// A started identity service.
pub type Running = passerelle_kit::base::Running<Started>;

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
    )?;
    let base = &config.base;
    let mut launch = Launch::new(base, &shutdown);
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
                    base.store.clone(),
                    config.master_key.clone(),
                    base.clock.clone(),
                )
                .await?;
                let router = issuer.router();
                builtin_issuer = Some(issuer.clone());
                let rotating = issuer.clone();
                launch.every(Duration::from_secs(60), "signing key rotation", move || {
                    let issuer = rotating.clone();
                    async move {
                        // Both tried each time: keys made by another replica load anyway.
                        let rotated = issuer.rotate_if_due().await;
                        let reloaded = issuer.reload().await;
                        rotated.and(reloaded)
                    }
                });
                let verifier = JwtVerifier::new(
                    issuer_url.clone(),
                    Some(passerelle_kit::auth::AUDIENCE.into()),
                    KeySource::Remote(format!("{issuer_url}/protocol/openid-connect/certs")),
                )
                .trusting(base.server.tls_ca.as_deref())?;
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
    // The identity service trusts its own provider's tokens, whatever the base said.
    launch.trust(verifier.clone());
    let service = Identity::new(
        base.store.clone(),
        provider,
        base.clock.clone(),
        launch.outbox(PRODUCER),
        config.sms.clone(),
    )
    .with_erasure_journal(config.erasure_journal.clone());
    service.replay_erasures().await?;
    {
        let service = service.clone();
        launch.every(
            Duration::from_secs(60),
            "announcing expired mandates",
            move || {
                let service = service.clone();
                async move {
                    let n = service.announce_expired_mandates().await?;
                    if n > 0 {
                        tracing::info!(mandates = n, "announced expired mandates");
                    }
                    Ok::<_, ServiceError>(())
                }
            },
        );
    }
    // A secret set anew without the old one is told to the person on their own channel, from
    // the event (so a crash between the change and the message loses nothing).
    {
        let service = service.clone();
        launch.consume(
            "identity-notices",
            &["passerelle.identity"],
            move |envelope, _| {
                let service = service.clone();
                async move {
                    if let Some(recovered) = event::payload::<events::AccountRecovered>(&envelope)?
                    {
                        // An SMS gateway that fails is an outage: the notice waits for it.
                        service
                            .notify_recovery(&recovered)
                            .await
                            .map_err(|e| consume::Failure::Retry(e.to_string()))?;
                    }
                    Ok(())
                }
            },
        );
    }
    let seeds: Vec<_> = std::iter::once(crate::service::platform_structure())
        .chain(config.structures.iter().cloned())
        .collect();
    let added = service.seed_structures(&seeds).await?;
    if added > 0 {
        tracing::info!(added, "structures registered");
    }
    let bootstrap_admin_created = match &config.bootstrap_admin {
        Some((username, password)) => bootstrap_admin(&service, username, password).await?,
        None => false,
    };
    let grpc = IdentityGrpc::new(service.clone());
    let started = Started {
        identity: service,
        verifier,
        bootstrap_admin_created,
        issuer: builtin_issuer,
    };
    Ok(launch.running(started, |server| {
        let server = server.add_service(grpc.into_server());
        match http {
            Some(router) => server.with_http(router),
            None => server,
        }
    }))
}

/// `start` then serve on `listener` until `shutdown`.
pub async fn serve(
    config: IdentityConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    passerelle_kit::base::serve(start(config, shutdown.clone()), listener, shutdown).await
}

/// Makes the first admin when the name is free (a later start changes nothing).
async fn bootstrap_admin(
    service: &Identity,
    username: &str,
    password: &str,
) -> Result<bool, ServiceError> {
    let system = Principal::system();
    let new = NewAccount {
        role: Role::Admin,
        username: Some(Username::parse(username)?),
        given_name: PersonName::parse("given name", "Admin")?,
        family_name: PersonName::parse("family name", "Passerelle")?,
        phone: None,
        language: Language::parse("fr")?,
        secret: Secret::parse(password)?,
        structure: Some("passerelle".into()),
        birth_date: None,
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
