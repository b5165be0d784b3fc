//! Which services exist, and how each is started on a listener.

use std::sync::Arc;

use anyhow::Context as _;
use clap::ValueEnum;
use passerelle_bus::DynBus;
use passerelle_identity::keycloak::KeycloakSettings;
use passerelle_identity::{IdentityConfig, IdpChoice};
use passerelle_kit::CancellationToken;
use passerelle_kit::auth::JwtVerifier;
use passerelle_kit::clock::SystemClock;
use passerelle_kit::config::{AuthArgs, EngineArgs, ServerArgs};
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::server::GrpcServer;
use passerelle_sms::{SmppSender, SmppUrl, SmsSender};
use passerelle_store::DynStore;
use tokio::net::TcpListener;

use crate::cli::{AnalyticsArgs, IdentityArgs, VaultArgs};
use crate::platform::PlatformService;

/// A service `passerelle serve` can run; `passerelle up` runs them all, in this order.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceName {
    /// Platform information (version, engines, services).
    Platform,
    /// Accounts, sign-in, recovery, mandates; the built-in token issuer.
    Identity,
    /// The encrypted digital safe.
    Vault,
    /// Digital access points (national schema), searchable.
    Directory,
    /// Digital-literacy surveys, autonomy pathways, dashboards.
    Analytics,
}

impl ServiceName {
    pub const ALL: &'static [ServiceName] = &[
        ServiceName::Platform,
        ServiceName::Identity,
        ServiceName::Vault,
        ServiceName::Directory,
        ServiceName::Analytics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Platform => "platform",
            ServiceName::Identity => "identity",
            ServiceName::Vault => "vault",
            ServiceName::Directory => "directory",
            ServiceName::Analytics => "analytics",
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

    /// Prunes the event log past its retention, now and every hour (the embedded log; Kafka
    /// keeps its own).
    pub fn keep_retention(&self, retention: std::time::Duration, shutdown: CancellationToken) {
        let bus = self.bus.clone();
        drop(passerelle_kit::shutdown::every(
            std::time::Duration::from_secs(3600),
            shutdown,
            move || {
                let bus = bus.clone();
                async move {
                    if let Err(e) = bus.prune(retention).await {
                        tracing::warn!(error = %e, "pruning the event log failed");
                    }
                }
            },
        ));
    }
}

/// What a service needs to start.
pub struct Context {
    pub engines: Engines,
    pub server: ServerArgs,
    /// Which tokens are accepted (see [`auth_for`]).
    pub auth: AuthArgs,
    pub identity: IdentityArgs,
    pub vault: VaultArgs,
    pub analytics: AnalyticsArgs,
    /// Whether a missing master key file may be created (the embedded platform).
    pub create_master_key: bool,
    /// Whether to print the bootstrap admin's password, made up for this first start.
    pub announce_generated_admin: bool,
    /// `(service, address)` of every service of this process.
    pub endpoints: Vec<(String, String)>,
}

/// The token issuer every service trusts: the one given, else Keycloak's realm, else the
/// built-in issuer at the identity service's public URL.
pub fn auth_for(auth: &AuthArgs, identity: &IdentityArgs) -> anyhow::Result<AuthArgs> {
    let mut auth = auth.clone();
    if auth.issuer.is_none() {
        auth.issuer = match identity.idp.as_str() {
            "builtin" => identity
                .public_url
                .as_ref()
                .map(|url| format!("{}/realms/passerelle", url.trim_end_matches('/'))),
            url => Some(keycloak_settings(identity, url)?.issuer()),
        };
    }
    Ok(auth)
}

fn keycloak_settings(identity: &IdentityArgs, url: &str) -> anyhow::Result<KeycloakSettings> {
    KeycloakSettings::parse(
        url,
        identity
            .keycloak_client_secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default(),
    )
    .map_err(anyhow::Error::msg)
}

/// A password for the first admin: 20 characters from an unambiguous alphabet.
pub fn random_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness available to make the admin's password"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

impl Context {
    fn verifier(&self) -> Option<JwtVerifier> {
        self.auth.issuer.as_deref().map(|issuer| {
            let verifier = JwtVerifier::for_issuer(
                issuer,
                self.auth.jwks_url.as_deref(),
                Some(self.auth.audience.clone()),
            );
            match verifier.clone().trusting(self.server.tls_ca.as_deref()) {
                Ok(trusting) => trusting,
                Err(e) => {
                    // Keys then cannot be fetched over TLS: every call says so, and this why.
                    tracing::error!(error = %e, "the TLS authority cannot be used");
                    verifier
                }
            }
        })
    }

    fn master_key(&self) -> anyhow::Result<MasterKey> {
        let key_file = self.identity.master_key_file.clone().context(
            "this service needs the master key: set PASSERELLE_MASTER_KEY_FILE (32 bytes, base64)",
        )?;
        MasterKey::load_or_create(&key_file, self.create_master_key).map_err(anyhow::Error::msg)
    }

    fn vault_config(&self) -> anyhow::Result<passerelle_vault::VaultConfig> {
        let args = &self.vault;
        let procedures_json =
            match &args.procedures_file {
                Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the procedures file {}", path.display())
                })?),
                None => None,
            };
        Ok(passerelle_vault::VaultConfig {
            store: self.engines.store.clone(),
            bus: self.engines.bus.clone(),
            server: self.server.clone(),
            verifier: self.verifier(),
            master_key: self.master_key()?,
            blobs_url: args
                .blobs
                .clone()
                .context("set PASSERELLE_BLOBS: where the vault keeps document bytes (file://DIR or s3://BUCKET)")?,
            limits: passerelle_vault::service::Limits {
                max_document_bytes: args.max_document_bytes,
                quota_bytes: args.vault_quota_bytes,
                expiry_notice_days: args.expiry_notice_days,
                max_transfers: args.max_transfers,
                max_transfers_per_caller: args.max_transfers_per_caller,
                stream_idle: self.server.stream_idle_timeout,
            },
            procedures_json,
            clock: Arc::new(SystemClock),
            abandon_uploads_after: args.abandon_uploads_after,
        })
    }

    fn identity_config(&self) -> anyhow::Result<IdentityConfig> {
        let args = &self.identity;
        let idp = match args.idp.as_str() {
            "builtin" => IdpChoice::BuiltIn,
            url => IdpChoice::Keycloak(keycloak_settings(args, url)?),
        };
        let key_file = args.master_key_file.clone().context(
            "the identity service needs a master key: set PASSERELLE_MASTER_KEY_FILE (32 bytes, base64)",
        )?;
        let master_key = MasterKey::load_or_create(&key_file, self.create_master_key)
            .map_err(anyhow::Error::msg)?;
        let public_url = args
            .public_url
            .clone()
            .context("set PASSERELLE_PUBLIC_URL: the identity service's URL as clients reach it")?;
        let sms = match &args.sms_url {
            Some(url) => {
                let url = SmppUrl::parse(url.expose()).map_err(anyhow::Error::msg)?;
                Some(Arc::new(SmppSender::new(url)) as Arc<dyn SmsSender>)
            }
            None => None,
        };
        Ok(IdentityConfig {
            store: self.engines.store.clone(),
            bus: self.engines.bus.clone(),
            server: self.server.clone(),
            idp,
            master_key,
            public_url,
            token_ttl: args.token_ttl,
            key_rotation: args.key_rotation,
            argon2_memory_kib: args.argon2_memory_kib,
            argon2_passes: args.argon2_passes,
            argon2_budget_mib: args.argon2_budget_mib,
            sms,
            clock: Arc::new(SystemClock),
            bootstrap_admin: args
                .bootstrap_admin_password
                .as_ref()
                .map(|password| (args.bootstrap_admin.clone(), password.expose().to_owned())),
            erasure_journal: args.erasure_journal.clone(),
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
    let failed = || format!("the {} service stopped with an error", name.as_str());
    match name {
        ServiceName::Platform => {
            GrpcServer::new(ctx.server.clone())
                .with_auth(ctx.verifier())
                .add_service(
                    PlatformService::new(
                        ctx.engines.store.engine(),
                        ctx.engines.bus.engine(),
                        &ctx.endpoints,
                    )
                    .into_server(),
                )
                .serve(listener, shutdown)
                .await
                .with_context(failed)?;
        }
        ServiceName::Identity => {
            let config = ctx.identity_config()?;
            let running = passerelle_identity::start(config, shutdown.clone())
                .await
                .context("the identity service cannot start")?;
            if running.bootstrap_admin_created && ctx.announce_generated_admin {
                println!(
                    "First start: admin account `{}` created with password {} (shown once; change it after signing in).",
                    ctx.identity.bootstrap_admin,
                    ctx.identity
                        .bootstrap_admin_password
                        .as_ref()
                        .map_or("", |p| p.expose())
                );
            }
            running
                .serve(listener, shutdown)
                .await
                .with_context(failed)?;
        }
        ServiceName::Directory => {
            let config = passerelle_directory::DirectoryConfig {
                store: ctx.engines.store.clone(),
                bus: ctx.engines.bus.clone(),
                server: ctx.server.clone(),
                verifier: ctx.verifier(),
                clock: Arc::new(SystemClock),
                // Each replica keeps its own index current from the events.
                replica: std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into()),
            };
            let running = passerelle_directory::start(config, shutdown.clone())
                .await
                .context("the directory service cannot start")?;
            running
                .serve(listener, shutdown)
                .await
                .with_context(failed)?;
        }
        ServiceName::Analytics => {
            let config = passerelle_analytics::AnalyticsConfig {
                store: ctx.engines.store.clone(),
                bus: ctx.engines.bus.clone(),
                server: ctx.server.clone(),
                verifier: ctx.verifier(),
                clock: Arc::new(SystemClock),
                rules: ctx.analytics.rules()?,
                directory_url: ctx.analytics.directory_url.clone(),
            };
            let running = passerelle_analytics::start(config, shutdown.clone())
                .map_err(anyhow::Error::msg)
                .context("the analytics service cannot start")?;
            running
                .serve(listener, shutdown)
                .await
                .with_context(failed)?;
        }
        ServiceName::Vault => {
            let config = ctx.vault_config()?;
            let running = passerelle_vault::start(config, shutdown.clone())
                .await
                .context("the vault service cannot start")?;
            running
                .serve(listener, shutdown)
                .await
                .with_context(failed)?;
        }
    }
    Ok(())
}
