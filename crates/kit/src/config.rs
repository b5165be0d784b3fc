//! Command-line and environment configuration shared by every service.
//!
//! Each option has a `PASSERELLE_*` environment variable and a default that runs on a laptop;
//! the Helm chart sets the variables. Secrets never print: their values are hidden from
//! `--help` and from `Debug`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Why a process cannot be set up as configured. Each message says what was wrong and what is
/// expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot open the store: {0}")]
    Store(#[from] passerelle_store::Error),
    #[error("cannot open the event bus: {0}")]
    Bus(#[from] passerelle_bus::Error),
    #[error("this service needs the master key: set PASSERELLE_MASTER_KEY_FILE (32 bytes, base64)")]
    NoMasterKey,
    #[error(transparent)]
    MasterKey(#[from] passerelle_core::secrets::KeyError),
    #[error("`{text}` is not a duration: expected a number and a unit, e.g. 30s, 500ms, 2m, 1h")]
    NotADuration { text: String },
    #[error("`{text}` is too long a duration")]
    DurationTooLong { text: String },
    #[error("unknown duration unit `{unit}` in `{text}`: expected ms, s, m, h or d")]
    DurationUnit { unit: String, text: String },
    #[error(
        "`{text}` is not an address block: expected an address (10.1.2.3, ::1) or an address with a prefix length (10.0.0.0/8, fd00::/8)"
    )]
    NotAnAddressBlock { text: String },
    #[error("cannot read the TLS file {path}: {reason}")]
    TlsFile { path: String, reason: String },
    #[error("{path} is not a PEM certificate: {reason}")]
    NotPem { path: String, reason: String },
    #[error("`{url}` is not a service address: {reason}")]
    NotAnAddress { url: String, reason: String },
    #[error("TLS to `{target}` cannot be set up: {reason}")]
    Tls { target: String, reason: String },
    #[error(
        "invalid log filter `{filter}`: {reason}; expected e.g. `info` or `passerelle=debug,info`"
    )]
    LogFilter { filter: String, reason: String },
    #[error("cannot set up telemetry: {0}")]
    Telemetry(String),
}

/// A setting a service was started with is wrong: the service does not start, and says why.
impl From<ConfigError> for passerelle_core::ServiceError {
    fn from(e: ConfigError) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}

/// A secret setting (a password, a client secret, an URL with credentials): read like a string,
/// never printed — not by `Debug`, not in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(String);

impl Hidden {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hidden(…)")
    }
}

impl std::str::FromStr for Hidden {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Where a service keeps its state and exchanges events.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// Store URL: sqlite://PATH (embedded) or scylla://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE.
    #[arg(long, env = "PASSERELLE_STORE")]
    pub store: Option<String>,

    /// Event bus URL: sqlite://PATH (embedded) or kafka://HOST:PORT[,HOST:PORT...].
    #[arg(long, env = "PASSERELLE_BUS")]
    pub bus: Option<String>,

    /// Directory of the embedded engines' files, used when --store or --bus is not given.
    #[arg(long, env = "PASSERELLE_DATA_DIR", default_value = "passerelle-data")]
    pub data_dir: std::path::PathBuf,

    /// How long the embedded event log keeps records (Kafka keeps its own `retention.ms`):
    /// long enough for a consumer stopped over a holiday to catch up, not for ever.
    #[arg(long, env = "PASSERELLE_BUS_RETENTION", default_value = "14d", value_parser = parse_duration)]
    pub bus_retention: Duration,
}

impl EngineArgs {
    /// The store URL: the one given, else the embedded file under the data directory.
    pub fn store_url(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("store.db").display()))
    }

    /// The bus URL: the one given, else the embedded log under the data directory.
    pub fn bus_url(&self) -> String {
        self.bus
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("bus.db").display()))
    }
}

/// The opened store and event bus, shared by every service of a process.
#[derive(Clone)]
pub struct Engines {
    pub store: passerelle_store::DynStore,
    pub bus: passerelle_bus::DynBus,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("store", &self.store.engine())
            .field("bus", &self.bus.engine())
            .finish()
    }
}

impl EngineArgs {
    /// Opens the store and the bus these options name.
    pub async fn open(&self) -> Result<Engines, ConfigError> {
        let store = passerelle_store::open(&self.store_url()).await?;
        let bus = passerelle_bus::open(&self.bus_url()).await?;
        Ok(Engines { store, bus })
    }
}

impl Engines {
    /// Prunes the event log past `retention`, now and every hour (the embedded log; Kafka
    /// keeps its own).
    pub fn keep_retention(
        &self,
        retention: Duration,
        shutdown: passerelle_core::CancellationToken,
    ) {
        let bus = self.bus.clone();
        drop(passerelle_core::shutdown::every(
            Duration::from_secs(3600),
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

/// Where the master key is: the one secret sealing stored secrets (signing keys, vault keys).
#[derive(Args, Clone, Debug, Default)]
pub struct MasterKeyArgs {
    /// File holding the master key (32 bytes, base64). `up` creates <data-dir>/master.key.
    #[arg(long, env = "PASSERELLE_MASTER_KEY_FILE")]
    pub master_key_file: Option<std::path::PathBuf>,
}

impl MasterKeyArgs {
    /// Reads the key; with `create`, makes it first when the file does not exist (the embedded
    /// platform's first start).
    pub fn load(&self, create: bool) -> Result<passerelle_core::secrets::MasterKey, ConfigError> {
        let file = self
            .master_key_file
            .as_ref()
            .ok_or(ConfigError::NoMasterKey)?;
        Ok(passerelle_core::secrets::MasterKey::load_or_create(
            file, create,
        )?)
    }
}

/// How a gRPC server protects itself.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Longest a request may run before it is cancelled (e.g. 30s, 500ms).
    #[arg(long, env = "PASSERELLE_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Requests served at once; beyond that, requests are refused with UNAVAILABLE at once
    /// rather than queued, so clients can retry elsewhere.
    #[arg(
        long,
        env = "PASSERELLE_MAX_CONCURRENT_REQUESTS",
        default_value_t = 512
    )]
    pub max_concurrent_requests: usize,

    /// Longest to wait for in-flight requests to finish on shutdown.
    #[arg(long, env = "PASSERELLE_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Longest a stream (an upload, an import) may wait for its next message before it is
    /// ended: streams have no overall limit, so a 50 MB upload over a phone link can finish,
    /// but a stalled one does not hold its slot for ever.
    #[arg(long, env = "PASSERELLE_STREAM_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub stream_idle_timeout: Duration,

    /// TLS for this server: the certificate chain (PEM). With --tls-key; without both, the
    /// server speaks plaintext (behind a mesh or an ingress that terminates TLS).
    #[arg(long, env = "PASSERELLE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// TLS for this server: its private key (PEM).
    #[arg(long, env = "PASSERELLE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// The certificate authority (PEM) this service trusts when it calls others over https://
    /// (the city's own CA, say).
    #[arg(long, env = "PASSERELLE_TLS_CA")]
    pub tls_ca: Option<std::path::PathBuf>,

    /// Proxies whose `X-Forwarded-For` is believed (the gateway, the ingress), as addresses
    /// or blocks separated by commas, e.g. 10.0.0.0/8. Empty: the peer address is the client.
    #[arg(long, env = "PASSERELLE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::net::Cidr>,
}

impl Default for ServerArgs {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            shutdown_grace: Duration::from_secs(20),
            stream_idle_timeout: Duration::from_secs(30),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Which tokens a service accepts.
#[derive(Args, Clone, Debug)]
pub struct AuthArgs {
    /// Token issuer (the `iss` claim), e.g. https://sso.example.fr/realms/passerelle. Its keys
    /// are read from <issuer>/protocol/openid-connect/certs unless --jwks-url says otherwise.
    #[arg(long, env = "PASSERELLE_ISSUER")]
    pub issuer: Option<String>,

    /// Where the issuer publishes its signing keys (JWKS).
    #[arg(long, env = "PASSERELLE_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// The `aud` claim every token must carry (the built-in issuer and the Passerelle realm
    /// put `passerelle` there): a token the same issuer made for another application is
    /// refused.
    #[arg(long, env = "PASSERELLE_AUDIENCE", default_value = crate::auth::AUDIENCE)]
    pub audience: String,
}

impl Default for AuthArgs {
    fn default() -> Self {
        Self {
            issuer: None,
            jwks_url: None,
            audience: crate::auth::AUDIENCE.into(),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors in the cluster.
    Json,
}

/// Logging and tracing.
#[derive(Args, Clone, Debug)]
pub struct TelemetryArgs {
    /// Log filter, e.g. `info` or `passerelle_store=debug,info`.
    #[arg(long, env = "PASSERELLE_LOG", default_value = "info")]
    pub log: String,

    #[arg(long, env = "PASSERELLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A listening address option.
#[derive(Args, Clone, Debug)]
pub struct ListenArgs {
    /// Address the gRPC server listens on.
    #[arg(long, env = "PASSERELLE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
}

/// Parses `30s`, `500ms`, `2m`, `1h`, `30d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| ConfigError::NotADuration {
        text: text.to_owned(),
    })?;
    let too_long = || ConfigError::DurationTooLong {
        text: text.to_owned(),
    };
    let seconds = |factor: u64| {
        n.checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(too_long)
    };
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        other => Err(ConfigError::DurationUnit {
            unit: other.to_owned(),
            text: text.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s").unwrap(), (Duration::from_secs(30)));
        assert_eq!(
            parse_duration("500ms").unwrap(),
            (Duration::from_millis(500))
        );
        assert_eq!(parse_duration("2m").unwrap(), (Duration::from_secs(120)));
        assert_eq!(parse_duration("7").unwrap(), (Duration::from_secs(7)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .to_string()
                .contains("expected")
        );
        assert_eq!(
            parse_duration("30d").unwrap(),
            (Duration::from_secs(30 * 86_400))
        );
        assert!(
            parse_duration("3w")
                .unwrap_err()
                .to_string()
                .contains("expected ms, s, m, h or d")
        );
    }

    #[test]
    fn embedded_engines_live_in_the_data_dir() {
        let args = EngineArgs {
            store: None,
            bus: Some("kafka://k:9092".into()),
            data_dir: "/srv/p".into(),
            bus_retention: Duration::from_secs(14 * 86_400),
        };
        assert_eq!(args.store_url(), "sqlite:///srv/p/store.db");
        assert_eq!(args.bus_url(), "kafka://k:9092");
    }
}
