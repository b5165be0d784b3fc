//! The command line.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use passerelle_kit::config::{
    AuthArgs, EngineArgs, Hidden, ServerArgs, TelemetryArgs, parse_duration,
};

use crate::bus_tools::BusCommand;
use crate::services::{self, Engines, ServiceName};

#[derive(Parser, Debug)]
#[command(
    name = "passerelle",
    version,
    about = "Passerelle, the digital-inclusion platform of a social-action centre",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole platform in one process on the embedded engines (data under --data-dir).
    Up(UpArgs),
    /// Run one service, as a Kubernetes pod does.
    Serve(ServeArgs),
    /// Operator tools for the event bus.
    #[command(subcommand)]
    Bus(BusCommand),
    /// Operator tools for the vault.
    #[command(subcommand)]
    Vault(crate::vault_tools::VaultCommand),
    /// Operator tools for the directory of digital access points.
    #[command(subcommand)]
    Directory(crate::directory_tools::DirectoryCommand),
    /// Digital-literacy surveys: import answers, write the dashboard tables.
    #[command(subcommand)]
    Survey(crate::survey_tools::SurveyCommand),
    /// Copy the embedded platform's store, event log and documents, while it runs, into a new
    /// directory (with a manifest of hashes; the master key is never in it).
    Backup(crate::backup_tools::BackupArgs),
    /// Put a backup back into a new data directory, re-applying the erasures made since.
    Restore(crate::backup_tools::RestoreArgs),
}

/// The analytics service's options.
#[derive(Args, Clone, Debug, Default)]
pub struct AnalyticsArgs {
    /// A rules file (areas, levels, modules; see analytics/rules/pathways.toml) replacing the
    /// built-in one.
    #[arg(long, env = "PASSERELLE_ANALYTICS_RULES")]
    pub rules_file: Option<std::path::PathBuf>,

    /// The directory service (http://HOST:PORT), for the places of each pathway step. `up`
    /// uses its own directory.
    #[arg(long, env = "PASSERELLE_DIRECTORY_URL")]
    pub directory_url: Option<String>,
}

impl AnalyticsArgs {
    pub fn rules(&self) -> anyhow::Result<passerelle_analytics::rules::Rules> {
        match &self.rules_file {
            None => Ok(passerelle_analytics::rules::Rules::default_rules()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the rules file {}", path.display()))?;
                passerelle_analytics::rules::Rules::parse(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
        }
    }
}

/// The identity service's options.
#[derive(Args, Clone, Debug)]
pub struct IdentityArgs {
    /// Identity provider: `builtin` (Passerelle issues tokens) or
    /// keycloak://HOST:PORT/realms/REALM (keycloaks:// for HTTPS).
    #[arg(long, env = "PASSERELLE_IDP", default_value = "builtin")]
    pub idp: String,

    /// Secret of the Keycloak client `passerelle-identity` (with --idp keycloak://…).
    #[arg(
        long,
        env = "PASSERELLE_KEYCLOAK_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub keycloak_client_secret: Option<Hidden>,

    /// File holding the master key (32 bytes, base64). `up` creates <data-dir>/master.key.
    #[arg(long, env = "PASSERELLE_MASTER_KEY_FILE")]
    pub master_key_file: Option<std::path::PathBuf>,

    /// The identity service's URL as clients reach it (the built-in issuer is
    /// <URL>/realms/passerelle); `up` uses its listening address.
    #[arg(long, env = "PASSERELLE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// How long a sign-in token lives.
    #[arg(long, env = "PASSERELLE_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub token_ttl: std::time::Duration,

    /// How often the built-in issuer makes a new signing key.
    #[arg(long, env = "PASSERELLE_KEY_ROTATION", default_value = "30d", value_parser = parse_duration)]
    pub key_rotation: std::time::Duration,

    /// Argon2id memory per hash, in KiB (OWASP minimum: 19456).
    #[arg(long, env = "PASSERELLE_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// Argon2id passes (OWASP minimum with 19 MiB: 2).
    #[arg(long, env = "PASSERELLE_ARGON2_PASSES", default_value_t = 2)]
    pub argon2_passes: u32,

    /// Memory, in MiB, that password hashing may hold at once: it bounds how many sign-ins
    /// are checked together (256 MiB: 13 at the default 19 MiB), so a burst of sign-ins cannot
    /// exhaust memory; a few more wait, the rest are refused with UNAVAILABLE.
    #[arg(long, env = "PASSERELLE_ARGON2_BUDGET_MIB", default_value_t = 256)]
    pub argon2_budget_mib: u32,

    /// SMS gateway for consent codes: smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?source=SENDER].
    #[arg(long, env = "PASSERELLE_SMS_URL", hide_env_values = true)]
    pub sms_url: Option<Hidden>,

    /// A file, kept apart from the store, where every erasure is also written; erased
    /// accounts a restored backup brings back are erased again at start. `up` uses
    /// <data-dir>/erasures.journal; keep it on other storage than the backups.
    #[arg(long, env = "PASSERELLE_ERASURE_JOURNAL")]
    pub erasure_journal: Option<std::path::PathBuf>,

    /// Username of the first admin, made at start when free.
    #[arg(long, env = "PASSERELLE_BOOTSTRAP_ADMIN", default_value = "admin")]
    pub bootstrap_admin: String,

    /// Password of the first admin. `up` makes one up and prints it once when not given.
    #[arg(
        long,
        env = "PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub bootstrap_admin_password: Option<Hidden>,
}

/// The vault service's options.
#[derive(Args, Clone, Debug)]
pub struct VaultArgs {
    /// Where document bytes are kept (sealed): file://DIR, or s3://BUCKET[/PREFIX][?endpoint=URL&region=R]
    /// with credentials in the standard AWS_* variables. `up` uses <data-dir>/documents.
    #[arg(long, env = "PASSERELLE_BLOBS")]
    pub blobs: Option<String>,

    /// Largest document, in bytes.
    #[arg(
        long,
        env = "PASSERELLE_MAX_DOCUMENT_BYTES",
        default_value_t = 50_000_000
    )]
    pub max_document_bytes: u64,

    /// Room per vault, in bytes.
    #[arg(
        long,
        env = "PASSERELLE_VAULT_QUOTA_BYTES",
        default_value_t = 500_000_000
    )]
    pub vault_quota_bytes: u64,

    /// Days ahead of a document's expiry when the reminder event goes out.
    #[arg(long, env = "PASSERELLE_EXPIRY_NOTICE_DAYS", default_value_t = 30)]
    pub expiry_notice_days: i64,

    /// A procedures catalogue (JSON) replacing the built-in one.
    #[arg(long, env = "PASSERELLE_PROCEDURES_FILE")]
    pub procedures_file: Option<std::path::PathBuf>,

    /// Uploads untouched for this long are abandoned and their bytes removed.
    #[arg(long, env = "PASSERELLE_ABANDON_UPLOADS_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub abandon_uploads_after: std::time::Duration,

    /// Uploads and downloads under way at once, in all: each holds up to about 12 MiB of
    /// memory, so this bounds the vault's memory under a burst; more are refused with
    /// UNAVAILABLE.
    #[arg(long, env = "PASSERELLE_MAX_TRANSFERS", default_value_t = 32)]
    pub max_transfers: usize,

    /// Uploads and downloads under way at once for one person (or one address, for shares).
    #[arg(long, env = "PASSERELLE_MAX_TRANSFERS_PER_CALLER", default_value_t = 4)]
    pub max_transfers_per_caller: usize,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Address of the first service; the others take the following ports. Port 0 gives each
    /// service a free port.
    #[arg(long, env = "PASSERELLE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub vault: VaultArgs,
    #[command(flatten)]
    pub analytics: AnalyticsArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The service to run.
    #[arg(value_enum)]
    pub service: ServiceName,
    #[arg(long, env = "PASSERELLE_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub vault: VaultArgs,
    #[command(flatten)]
    pub analytics: AnalyticsArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Bus(command) => command.run().await,
        Command::Vault(command) => command.run().await,
        Command::Directory(command) => command.run().await,
        Command::Survey(command) => command.run().await,
        Command::Backup(args) => crate::backup_tools::backup(args).await,
        Command::Restore(args) => crate::backup_tools::restore(args).await,
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    passerelle_kit::server::check_tls(&args.server).map_err(anyhow::Error::msg)?;
    let _telemetry = passerelle_kit::telemetry::init("passerelle", &args.telemetry)
        .map_err(anyhow::Error::msg)?;
    let engines = Engines::open(&args.engines).await?;
    let shutdown = passerelle_kit::shutdown::on_signal();
    engines.keep_retention(args.engines.bus_retention, shutdown.clone());
    let mut listeners = Vec::new();
    for (i, name) in ServiceName::ALL.iter().enumerate() {
        let mut addr = args.listen;
        if addr.port() != 0 {
            let offset = u16::try_from(i).context("too many services")?;
            addr.set_port(
                addr.port()
                    .checked_add(offset)
                    .context("port out of range")?,
            );
        }
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr} for {}: is the port taken? choose another with --listen",
                name.as_str()
            )
        })?;
        listeners.push((*name, listener));
    }
    let endpoints: Vec<(String, String)> = listeners
        .iter()
        .map(|(name, l)| {
            let addr = l
                .local_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string());
            (name.as_str().to_owned(), addr)
        })
        .collect();
    println!(
        "Passerelle {} is up — store: {}, bus: {}",
        env!("CARGO_PKG_VERSION"),
        args.engines.store_url(),
        args.engines.bus_url()
    );
    for (name, addr) in &endpoints {
        println!("  {name:<12} {addr}");
    }
    println!("Press Ctrl-C to stop.");
    let identity_addr = endpoints
        .iter()
        .find(|(name, _)| name == "identity")
        .map(|(_, addr)| addr.clone())
        .context("the identity service has no address")?;
    let mut identity = args.identity.clone();
    identity
        .public_url
        .get_or_insert_with(|| format!("http://{identity_addr}"));
    identity
        .master_key_file
        .get_or_insert_with(|| args.engines.data_dir.join("master.key"));
    identity
        .erasure_journal
        .get_or_insert_with(|| args.engines.data_dir.join("erasures.journal"));
    // Made here, once: the services that need it start side by side.
    if let Some(file) = &identity.master_key_file {
        passerelle_kit::secrets::MasterKey::load_or_create(file, true)
            .map_err(anyhow::Error::msg)?;
    }
    let generated_password = identity.bootstrap_admin_password.is_none();
    if generated_password {
        identity.bootstrap_admin_password = Some(Hidden::new(services::random_password()?));
    }
    let auth = services::auth_for(&args.auth, &identity)?;
    let mut vault = args.vault.clone();
    vault.blobs.get_or_insert_with(|| {
        format!(
            "file://{}",
            args.engines.data_dir.join("documents").display()
        )
    });
    let mut analytics = args.analytics.clone();
    if let Some((_, addr)) = endpoints.iter().find(|(name, _)| name == "directory") {
        analytics
            .directory_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }
    let mut tasks = Vec::new();
    for (name, listener) in listeners {
        let ctx = services::Context {
            engines: engines.clone(),
            server: args.server.clone(),
            auth: auth.clone(),
            identity: identity.clone(),
            vault: vault.clone(),
            analytics: analytics.clone(),
            create_master_key: true,
            announce_generated_admin: generated_password,
            endpoints: endpoints.clone(),
        };
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            services::serve(name, ctx, listener, shutdown).await
        }));
    }
    let mut failure = None;
    for task in tasks {
        if let Err(e) = task.await.context("a service task panicked")? {
            // One service failing takes the whole process down, so nothing runs half-started.
            shutdown.cancel();
            failure.get_or_insert(e);
        }
    }
    match failure {
        Some(e) => Err(e),
        None => {
            println!("Passerelle stopped.");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    passerelle_kit::server::check_tls(&args.server).map_err(anyhow::Error::msg)?;
    let _telemetry = passerelle_kit::telemetry::init(args.service.as_str(), &args.telemetry)
        .map_err(anyhow::Error::msg)?;
    let engines = Engines::open(&args.engines).await?;
    let shutdown = passerelle_kit::shutdown::on_signal();
    engines.keep_retention(args.engines.bus_retention, shutdown.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?.to_string();
    tracing::info!(service = args.service.as_str(), %addr, store = engines.store.engine(), bus = engines.bus.engine(), "serving");
    let mut identity = args.identity.clone();
    if args.service == ServiceName::Identity {
        identity
            .public_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }
    let auth = services::auth_for(&args.auth, &identity)?;
    let ctx = services::Context {
        engines,
        server: args.server,
        auth,
        identity,
        vault: args.vault,
        analytics: args.analytics,
        create_master_key: false,
        announce_generated_admin: false,
        endpoints: vec![(args.service.as_str().to_owned(), addr)],
    };
    services::serve(args.service, ctx, listener, shutdown).await
}
