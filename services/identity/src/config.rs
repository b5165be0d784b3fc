//! The identity service's options (`passerelle serve identity`, `passerelle up`), and how they
//! become its [`IdentityConfig`].

use std::sync::Arc;

use clap::Args;
use passerelle_kit::ServiceError;
use passerelle_kit::base::ServiceBase;
use passerelle_kit::config::{Hidden, parse_duration};
use passerelle_kit::secrets::MasterKey;
use passerelle_sms::{SmppSender, SmppUrl, SmsSender};

use crate::domain::{Structure, StructureKind};
use crate::keycloak::KeycloakSettings;
use crate::run::{IdentityConfig, IdpChoice};

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

    /// A TOML file of the structures accounts and mandates may name (`[[structure]]` with
    /// `id`, `name`, `kind`), registered at start when missing; admins change them with
    /// SaveStructure. See deploy/structures.example.toml.
    #[arg(long, env = "PASSERELLE_STRUCTURES")]
    pub structures: Option<std::path::PathBuf>,

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

impl IdentityArgs {
    /// The identity provider these options name.
    pub fn provider(&self) -> Result<IdpChoice, ServiceError> {
        IdpChoice::parse(
            &self.idp,
            self.keycloak_client_secret
                .as_ref()
                .map(|s| s.expose().to_owned())
                .unwrap_or_default(),
        )
    }

    /// The issuer every service must trust: the Keycloak realm, or the built-in issuer at the
    /// public URL (`None` while that URL is not known).
    pub fn issuer_url(&self) -> Result<Option<String>, ServiceError> {
        Ok(match self.provider()? {
            IdpChoice::Keycloak(settings) => Some(settings.issuer()),
            IdpChoice::BuiltIn => self.public_url.as_deref().map(builtin_issuer_url),
        })
    }

    /// The service's configuration on `base`, with the master key.
    pub fn config(
        &self,
        base: ServiceBase,
        master_key: MasterKey,
    ) -> Result<IdentityConfig, ServiceError> {
        let public_url = self.public_url.clone().ok_or_else(|| {
            ServiceError::invalid(
                "set PASSERELLE_PUBLIC_URL: the identity service's URL as clients reach it",
            )
        })?;
        let sms = match &self.sms_url {
            Some(url) => {
                let url = SmppUrl::parse(url.expose()).map_err(ServiceError::invalid)?;
                Some(Arc::new(SmppSender::new(url)) as Arc<dyn SmsSender>)
            }
            None => None,
        };
        Ok(IdentityConfig {
            base,
            idp: self.provider()?,
            master_key,
            public_url,
            token_ttl: self.token_ttl,
            key_rotation: self.key_rotation,
            argon2_memory_kib: self.argon2_memory_kib,
            argon2_passes: self.argon2_passes,
            argon2_budget_mib: self.argon2_budget_mib,
            sms,
            bootstrap_admin: self
                .bootstrap_admin_password
                .as_ref()
                .map(|password| (self.bootstrap_admin.clone(), password.expose().to_owned())),
            erasure_journal: self.erasure_journal.clone(),
            structures: match &self.structures {
                Some(path) => read_structures(path)?,
                None => Vec::new(),
            },
        })
    }
}

/// The example structures file (a city with four CCAS antennas): what `up` starts with, and
/// what the tests use.
pub const EXAMPLE_STRUCTURES: &str = include_str!("../../../deploy/structures.example.toml");

/// The structures of a `--structures` file.
pub fn read_structures(path: &std::path::Path) -> Result<Vec<Structure>, ServiceError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServiceError::invalid(format!(
            "cannot read the structures file {}: {e}",
            path.display()
        ))
    })?;
    parse_structures(&text, &path.display().to_string())
}

/// The structures of a structures file's text; `origin` names it in errors.
pub fn parse_structures(text: &str, origin: &str) -> Result<Vec<Structure>, ServiceError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        structure: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        id: String,
        name: String,
        kind: String,
    }
    let place = origin;
    let file: File = toml::from_str(text).map_err(|e| {
        ServiceError::invalid(format!(
            "the structures file {place} does not read: {e}expected [[structure]] entries with id, name and kind"
        ))
    })?;
    file.structure
        .iter()
        .map(|entry| {
            StructureKind::parse(&entry.kind)
                .and_then(|kind| Structure::parse(&entry.id, &entry.name, kind))
                .map_err(|e| ServiceError::invalid(format!("{place}: {e}")))
        })
        .collect()
}

/// The built-in issuer's URL (`iss`) for the identity service reached at `public_url`.
pub fn builtin_issuer_url(public_url: &str) -> String {
    format!("{}/realms/passerelle", public_url.trim_end_matches('/'))
}

impl IdpChoice {
    /// `builtin`, or a Keycloak realm URL (keycloak://HOST:PORT/realms/REALM) whose client
    /// `passerelle-identity` has `client_secret`.
    pub fn parse(idp: &str, client_secret: String) -> Result<Self, ServiceError> {
        match idp {
            "builtin" => Ok(Self::BuiltIn),
            url => Ok(Self::Keycloak(KeycloakSettings::parse(url, client_secret)?)),
        }
    }
}
