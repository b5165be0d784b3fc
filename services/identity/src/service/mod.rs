//! The identity service's operations, with their authorization rules. No gRPC here: the
//! [`crate::grpc`] adapter parses requests into these calls and maps results back.
//!
//! # Layout
//! - this file: the [`Identity`] handle, account loading, the erasure journal;
//! - [`accounts`]: creating, reading, changing and erasing accounts;
//! - [`sign_in`]: sign-in, secrets, delegated tokens;
//! - [`recoveries`]: recovery by the printed sheet, or at the desk;
//! - [`mandates`]: granting, consenting by SMS, revoking, renewing, the audit trail;
//! - [`expiry`]: mandates reaching their end;
//! - [`structures`]: the registry of structures accounts and mandates name.

use std::collections::BTreeSet;
use std::sync::Arc;

use passerelle_access::{Access, AuditEntry, Consent, Grant, Mandate, Scope, audit_mutation};
use passerelle_bus::outbox::Outbox;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{Principal, Role};
use passerelle_kit::clock::DynClock;
use passerelle_proto::events::v1 as events;
use passerelle_store::{DynStore, Mutation, Row, Table};
use serde::{Deserialize, Serialize};

use passerelle_access::throttle::{Throttle, ThrottleKey};

use crate::credentials::sha256_hex;
use crate::domain::{
    Account, BirthDate, IdentityDocument, Language, MandateDuration, PersonName, Phone, Secret,
    StoredRole, Username, check_signature_png, parse_structure, search_key,
};
use crate::provider::{NewLogin, Provider, Token};
use crate::recovery;
use crate::sms::SmsSender;

mod accounts;
mod expiry;
mod mandates;
mod recoveries;
mod sign_in;
mod structures;

pub use accounts::{AccountChanges, NewAccount};
use expiry::{EXPIRY_INDEX, expiry_index, expiry_key};
pub use mandates::{ConsentPending, Signature};
pub use recoveries::{AssistedRecovery, Presence, Sheet};
pub use structures::platform_structure;

pub const PRODUCER: &str = "identity";
const ACCOUNTS: &str = "accounts";
/// Accounts: partition = account id.
const ACCOUNT_ROWS: Table<Account> = Table::new(ACCOUNTS);
const USERNAMES: &str = "usernames";
/// How long an assisted recovery waits for its second agent.
const ASSISTED_RECOVERY_TTL: i64 = 3600;
/// Assisted recoveries: partition = recovery id.
const RECOVERY_ROWS: Table<recoveries::RecoveryRow> = Table::new("assisted_recoveries")
    .with_ttl(std::time::Duration::from_secs(ASSISTED_RECOVERY_TTL as u64));
/// How long a consent code sent by SMS stays valid, and how many tries it allows.
const CONSENT_TTL: i64 = 600;
/// Consents asked by SMS: partition = consent id.
const CONSENT_ROWS: Table<mandates::ConsentRow> =
    Table::new("mandate_consents").with_ttl(std::time::Duration::from_secs(CONSENT_TTL as u64));
/// How long a used consent or an approved recovery stays, so a second use is told so.
const SPENT_TTL: std::time::Duration = std::time::Duration::from_secs(60);
const CONSENT_ATTEMPTS: u32 = 5;

/// A row written in an older format reads as absent: a consent or recovery in flight across an
/// upgrade is asked for again, never an internal error.
fn older_as_absent<T>(
    read: Result<Option<T>, passerelle_store::Error>,
) -> Result<Option<T>, ServiceError> {
    match read {
        Err(passerelle_store::Error::Corrupt { .. }) => Ok(None),
        other => Ok(other?),
    }
}

/// The answer to every failed sign-in, whatever failed.
pub const WRONG_CREDENTIALS: &str = "wrong username or secret";

/// Everything the service needs.
#[derive(Clone)]
pub struct Identity {
    store: DynStore,
    access: Access,
    provider: Arc<dyn Provider>,
    throttle: Throttle,
    clock: DynClock,
    outbox: Outbox,
    sms: Option<Arc<dyn SmsSender>>,
    /// Where erasures are also written, outside the store (see [`Identity::replay_erasures`]).
    journal: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("provider", &self.provider.kind())
            .finish()
    }
}

fn denied(reason: &str) -> ServiceError {
    ServiceError::PermissionDenied(reason.to_owned())
}

/// `AccountRecovered`, for the person to be told on their own channel.
fn recovered_event(outbox: &Outbox, account: &Account, method: &str, structure: &str) -> Mutation {
    outbox.event(
        &account.id,
        &events::AccountRecovered {
            account_id: account.id.clone(),
            method: method.to_owned(),
            structure: structure.to_owned(),
        },
    )
}

fn mandate_of(grant: Option<&Grant>) -> Option<String> {
    match grant {
        Some(Grant::Mandate { mandate_id, .. }) => Some(mandate_id.clone()),
        _ => None,
    }
}

fn account_mutation(account: &Account) -> Result<Mutation, ServiceError> {
    Ok(ACCOUNT_ROWS.put_mutation(&account.id, "", account)?)
}

fn staff_structure(principal: &Principal) -> Result<String, ServiceError> {
    principal
        .structure
        .clone()
        .ok_or_else(|| denied("your account belongs to no structure"))
}

fn is_admin(principal: &Principal) -> bool {
    principal.actor.is_none() && principal.has_role(Role::Admin)
}

fn is_agent(principal: &Principal) -> bool {
    principal.actor.is_none() && principal.has_role(Role::Agent)
}

impl Identity {
    pub fn new(
        store: DynStore,
        provider: Arc<dyn Provider>,
        clock: DynClock,
        outbox: Outbox,
        sms: Option<Arc<dyn SmsSender>>,
    ) -> Self {
        Self {
            access: Access::new(store.clone()),
            throttle: Throttle::new(store.clone()),
            store,
            provider,
            clock,
            outbox,
            sms,
            journal: None,
        }
    }

    /// Also writes every erasure to `path`, a file kept apart from the store: a store restored
    /// from an older backup brings erased accounts back, and the journal erases them again
    /// ([`Identity::replay_erasures`], `passerelle restore`).
    pub fn with_erasure_journal(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.journal = path;
        self
    }

    /// Appends `account_id` to the erasure journal, durably, before the erasure is committed.
    async fn journal_erasure(&self, account_id: &str) -> Result<(), ServiceError> {
        let Some(path) = self.journal.clone() else {
            return Ok(());
        };
        let line = format!("{account_id}\t{}\n", self.now());
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(ServiceError::internal)?
        .map_err(|e| {
            ServiceError::Unavailable(format!("the erasure journal cannot be written: {e}"))
        })
    }

    /// The account ids of an erasure journal's lines.
    pub fn read_journal(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|line| line.split('\t').next())
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Erases again every journalled account the store still has (it came back with a
    /// restored backup). Runs at start; returns how many were erased.
    pub async fn replay_erasures(&self) -> Result<usize, ServiceError> {
        let Some(path) = self.journal.clone() else {
            return Ok(0);
        };
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(ServiceError::Unavailable(format!(
                    "the erasure journal {} cannot be read: {e}",
                    path.display()
                )));
            }
        };
        let system = Principal::system();
        let mut erased = 0;
        for id in Self::read_journal(&text) {
            if self.load(&id).await?.is_some() {
                self.erase_account(&system, &id).await?;
                tracing::warn!(account_id = %id, "an erased account came back (a restore?): erased again");
                erased += 1;
            }
        }
        Ok(erased)
    }

    pub fn provider_kind(&self) -> &'static str {
        self.provider.kind()
    }

    /// Today, in UTC.
    pub fn today(&self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp(self.now()).map_or(time::Date::MIN, |t| t.date())
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Writes a batch with its events, then wakes the relay so they leave at once.
    async fn commit(&self, mutations: Vec<Mutation>) -> Result<(), ServiceError> {
        Ok(self.outbox.commit(mutations).await?)
    }

    async fn load(&self, account_id: &str) -> Result<Option<Account>, ServiceError> {
        Ok(ACCOUNT_ROWS.get(&*self.store, account_id, "").await?)
    }

    async fn account(&self, account_id: &str) -> Result<Account, ServiceError> {
        self.load(account_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no account `{account_id}`")))
    }

    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, ServiceError> {
        let id = self.store.get(USERNAMES, username.as_str(), "").await?;
        match id {
            Some(id) => self.load(&String::from_utf8_lossy(&id)).await,
            None => Ok(None),
        }
    }

    /// The account a typed name designates, if it is a valid name with an account.
    async fn account_by_typed(&self, typed: &str) -> Result<Option<Account>, ServiceError> {
        match Username::parse(typed) {
            Ok(name) => self.account_by_username(&name).await,
            Err(_) => Ok(None),
        }
    }

    async fn beneficiary(&self, account_id: &str) -> Result<Account, ServiceError> {
        let account = self.account(account_id).await?;
        if account.role != StoredRole::Beneficiary {
            return Err(ServiceError::FailedPrecondition(format!(
                "account `{account_id}` is not a beneficiary: mandates and recovery codes at the desk are for beneficiaries"
            )));
        }
        Ok(account)
    }

    fn new_sheet(username: &Username) -> Result<Sheet, ServiceError> {
        let code = recovery::new_code()?;
        Ok(Sheet {
            pdf: recovery::sheet_pdf(username.as_str(), &code),
            qr_svg: recovery::qr_svg(username.as_str(), &code),
            code,
        })
    }
}

fn timestamp(unix: i64) -> passerelle_proto::prost_types::Timestamp {
    passerelle_proto::prost_types::Timestamp {
        seconds: unix,
        nanos: 0,
    }
}

fn scope_list(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn scope_list_fr(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.label_fr())
        .collect::<Vec<_>>()
        .join(", ")
}

fn sha256_bytes_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn six_digits() -> Result<String, ServiceError> {
    let bytes = passerelle_kit::secrets::random::<4>()?;
    Ok(format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000))
}
