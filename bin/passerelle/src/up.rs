//! `passerelle up`: every service in one process on the embedded engines, one port each.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Args;
use passerelle_alerts::config::AlertsArgs;
use passerelle_analytics::config::AnalyticsArgs;
use passerelle_gateway::config::GatewayArgs;
use passerelle_identity::IdpChoice;
use passerelle_identity::config::IdentityArgs;
use passerelle_kit::config::{
    AuthArgs, EngineArgs, Hidden, MasterKeyArgs, ServerArgs, TelemetryArgs,
};
use passerelle_vault::config::VaultArgs;

use crate::process::{Process, ServiceName, random_password, trusted_issuer};

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
    pub master_key: MasterKeyArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub vault: VaultArgs,
    #[command(flatten)]
    pub analytics: AnalyticsArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub alerts: AlertsArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    passerelle_kit::server::check_tls(&args.server).map_err(anyhow::Error::msg)?;
    let _telemetry = passerelle_kit::telemetry::init("passerelle", &args.telemetry)
        .map_err(anyhow::Error::msg)?;
    // Looked at before the engines make their files: a data directory from an earlier run.
    let fresh_data_dir = !args.engines.data_dir.join("master.key").exists()
        && !args.engines.data_dir.join("store.db").exists();
    let engines = args.engines.open().await.map_err(anyhow::Error::msg)?;
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
        if name == "gateway" {
            println!("  {name:<12} http://{addr}");
        } else {
            println!("  {name:<12} {addr}");
        }
    }
    if let Some((_, addr)) = endpoints.iter().find(|(name, _)| name == "gateway") {
        println!("Open http://{addr} in a browser to use Passerelle.");
    }
    println!("Press Ctrl-C to stop.");
    let address_of = |service: &str| {
        endpoints
            .iter()
            .find(|(name, _)| name == service)
            .map(|(_, addr)| addr.clone())
    };
    let data_dir = &args.engines.data_dir;
    let mut identity = args.identity.clone();
    let identity_addr = address_of("identity").context("the identity service has no address")?;
    identity
        .public_url
        .get_or_insert_with(|| format!("http://{identity_addr}"));
    identity
        .erasure_journal
        .get_or_insert_with(|| data_dir.join("erasures.journal"));
    if identity.structures.is_none() {
        // A first run starts with the example city's structures, in a file to edit; a data
        // directory from before the registry gets none made up (its accounts name its own).
        let file = data_dir.join("structures.toml");
        if fresh_data_dir && !file.exists() {
            std::fs::write(&file, passerelle_identity::config::EXAMPLE_STRUCTURES)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        if file.exists() {
            identity.structures = Some(file);
        }
    }
    let generated_password = identity.bootstrap_admin_password.is_none();
    if generated_password {
        identity.bootstrap_admin_password = Some(Hidden::new(random_password()?));
    }
    let mut master_key = args.master_key.clone();
    master_key
        .master_key_file
        .get_or_insert_with(|| data_dir.join("master.key"));
    // Made here, once: the services that need it start side by side.
    let key = master_key.load(true).map_err(anyhow::Error::msg)?;
    let mut vault = args.vault.clone();
    vault
        .blobs
        .get_or_insert_with(|| format!("file://{}", data_dir.join("documents").display()));
    let mut analytics = args.analytics.clone();
    if let Some(addr) = address_of("directory") {
        analytics
            .directory_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }
    let mut gateway = args.gateway.clone();
    if let Some(addr) = address_of("identity") {
        gateway
            .identity_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }
    if let Some(addr) = address_of("vault") {
        gateway
            .vault_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }
    if let Some(addr) = address_of("gateway") {
        gateway
            .web_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }
    if let IdpChoice::Keycloak(settings) = identity.provider()? {
        gateway.oidc_issuer.get_or_insert_with(|| settings.issuer());
    }
    let mut server = args.server.clone();
    if server.trusted_proxies.is_empty() {
        // The web front calls the services from this machine, forwarding each person's
        // address: the services believe it from the loopback only.
        server.trusted_proxies = vec!["127.0.0.1/32".parse()?, "::1/128".parse()?];
    }
    let process = Process {
        engines,
        server,
        auth: trusted_issuer(&args.auth, Some(&identity))?,
        endpoints: endpoints.clone(),
    };
    let mut tasks = Vec::new();
    for (name, listener) in listeners {
        let alerts = args.alerts.clone();
        let (process, identity, vault, analytics, gateway, key, shutdown) = (
            process.clone(),
            identity.clone(),
            vault.clone(),
            analytics.clone(),
            gateway.clone(),
            key.clone(),
            shutdown.clone(),
        );
        tasks.push(tokio::spawn(async move {
            match name {
                ServiceName::Platform => process.platform(listener, shutdown).await,
                ServiceName::Identity => {
                    process
                        .identity(&identity, key, generated_password, listener, shutdown)
                        .await
                }
                ServiceName::Vault => process.vault(&vault, key, listener, shutdown).await,
                ServiceName::Directory => process.directory(listener, shutdown).await,
                ServiceName::Analytics => process.analytics(&analytics, listener, shutdown).await,
                ServiceName::Gateway => process.gateway(&gateway, key, listener, shutdown).await,
                ServiceName::Alerts => process.alerts(&alerts, listener, shutdown).await,
            }
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
