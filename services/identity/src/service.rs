//! The identity service's operations, with their authorization rules. No gRPC here: the
//! [`crate::grpc`] adapter parses requests into these calls and maps results back.

use std::collections::BTreeSet;
use std::sync::Arc;

use passerelle_access::{Access, AuditEntry, Consent, Grant, Mandate, Scope, audit_mutation};
use passerelle_bus::outbox::Outbox;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{Principal, Role};
use passerelle_kit::clock::DynClock;
use passerelle_proto::events::v1 as events;
use passerelle_store::{DynStore, Mutation, Row};
use serde::{Deserialize, Serialize};

use passerelle_access::throttle::{Throttle, ThrottleKey};

use crate::credentials::sha256_hex;
use crate::domain::{
    Account, IdentityDocument, Language, MandateDuration, PersonName, Phone, Secret, StoredRole,
    Username, check_signature_png, parse_structure,
};
use crate::provider::{NewLogin, Provider, Token};
use crate::recovery;
use crate::sms::SmsSender;

pub const PRODUCER: &str = "identity";
const ACCOUNTS: &str = "accounts";
const USERNAMES: &str = "usernames";
const ASSISTED_RECOVERIES: &str = "assisted_recoveries";
const CONSENTS: &str = "mandate_consents";
/// How long an assisted recovery waits for its second agent.
const ASSISTED_RECOVERY_TTL: i64 = 3600;
/// What an approved recovery's row holds until it expires, so a second approval is told so.
const APPROVED: &[u8] = b"approved";
/// How long a consent code sent by SMS stays valid, and how many tries it allows.
const CONSENT_TTL: i64 = 600;
const CONSENT_ATTEMPTS: u32 = 5;

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

/// A new account, as asked for.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub role: Role,
    pub username: Option<Username>,
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub phone: Option<Phone>,
    pub language: Language,
    pub secret: Secret,
    pub structure: Option<String>,
}

/// Changes to an account's details; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct AccountChanges {
    pub given_name: Option<PersonName>,
    pub family_name: Option<PersonName>,
    /// `Some(None)` removes the phone.
    pub phone: Option<Option<Phone>>,
    pub language: Option<Language>,
}

/// A recovery sheet: the code in clear (shown once), the PDF and the QR code.
#[derive(Clone, Debug)]
pub struct Sheet {
    pub code: String,
    pub pdf: Vec<u8>,
    pub qr_svg: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AssistedRecovery {
    pub id: String,
    pub account_id: String,
    pub started_by: String,
    pub structure: String,
    /// The agent's own note, if any.
    pub verification: String,
    /// How the person showed they were there, as the audit trail says it.
    #[serde(default)]
    pub proof: String,
    /// The identity document's salted hash, when that was the proof: the approving agent's
    /// reading must match it.
    #[serde(default)]
    pub document_hash: Option<String>,
    pub expires_at: i64,
}

/// How a person shows they are at the desk for a recovery.
#[derive(Clone, Debug)]
pub enum Presence {
    /// The code of their printed recovery sheet.
    SheetCode(String),
    /// An identity document, checked by both agents.
    IdentityDocument(IdentityDocument),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingConsent {
    id: String,
    beneficiary_id: String,
    structure: String,
    agent: String,
    scopes: BTreeSet<Scope>,
    duration_seconds: i64,
    code_hash: String,
    attempts: u32,
    expires_at: i64,
}

/// A pending consent, as the agent sees it.
#[derive(Clone, Debug)]
pub struct ConsentPending {
    pub id: String,
    pub phone_masked: String,
    pub expires_at: i64,
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
    Ok(Mutation::Put(Row::new(
        ACCOUNTS,
        &account.id,
        "",
        serde_json::to_vec(account).map_err(ServiceError::internal)?,
    )))
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
        let system = Principal {
            subject: "system".into(),
            roles: vec![Role::Admin],
            structure: Some("passerelle".into()),
            actor: None,
            client: None,
            token_id: None,
            scopes: Vec::new(),
        };
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

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Writes a batch with its events, then wakes the relay so they leave at once.
    async fn commit(&self, mutations: Vec<Mutation>) -> Result<(), ServiceError> {
        Ok(self.outbox.commit(mutations).await?)
    }

    async fn load(&self, account_id: &str) -> Result<Option<Account>, ServiceError> {
        let bytes = self.store.get(ACCOUNTS, account_id, "").await?;
        bytes
            .map(|b| {
                serde_json::from_slice(&b).map_err(|e| {
                    ServiceError::internal(format!("account {account_id} does not decode: {e}"))
                })
            })
            .transpose()
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

    // ----- accounts -------------------------------------------------------------------------

    pub async fn create_account(
        &self,
        principal: &Principal,
        new: NewAccount,
    ) -> Result<(Account, Sheet), ServiceError> {
        let structure = self.creation_structure(principal, &new)?;
        if new.role != Role::Beneficiary {
            new.secret.check_for_staff()?;
        }
        let mut username = match &new.username {
            Some(name) => name.clone(),
            None => Username::generate()?,
        };
        // Claim the name before anything else: of two people asking for it, one gets it.
        let claim = uuid::Uuid::new_v4().to_string();
        let mut claimed = false;
        for _ in 0..8 {
            claimed = self
                .store
                .put_if_absent(Row::new(
                    USERNAMES,
                    username.as_str(),
                    "",
                    claim.as_bytes().to_vec(),
                ))
                .await?;
            if claimed || new.username.is_some() {
                break;
            }
            username = Username::generate()?;
        }
        if !claimed {
            return Err(ServiceError::AlreadyExists(format!(
                "username `{username}` is taken: choose another, or leave it empty to get one"
            )));
        }
        match self
            .finish_creation(principal, &new, &username, &structure, &claim)
            .await
        {
            Ok(done) => Ok(done),
            Err(e) => {
                // Give the name back, so a retry can have it.
                let _ = self.store.delete(USERNAMES, username.as_str(), "").await;
                Err(e)
            }
        }
    }

    /// Who may create what, and in which structure.
    fn creation_structure(
        &self,
        principal: &Principal,
        new: &NewAccount,
    ) -> Result<String, ServiceError> {
        let admin = is_admin(principal);
        let manager = principal.actor.is_none() && principal.has_role(Role::Manager);
        match new.role {
            Role::Beneficiary if admin || manager || is_agent(principal) => {
                match (&new.structure, admin) {
                    (Some(s), true) => Ok(s.clone()),
                    _ => staff_structure(principal),
                }
            }
            Role::Agent | Role::Volunteer if admin => new.structure.clone().ok_or_else(|| {
                ServiceError::InvalidArgument(
                    "structure is required for an agent or volunteer: e.g. ccas-nord".into(),
                )
            }),
            Role::Agent | Role::Volunteer if manager => {
                let own = staff_structure(principal)?;
                match &new.structure {
                    Some(s) if *s != own => Err(denied(
                        "a manager creates staff of their own structure only",
                    )),
                    _ => Ok(own),
                }
            }
            Role::Manager | Role::Admin if admin => match (new.role, &new.structure) {
                (Role::Manager, None) => Err(ServiceError::InvalidArgument(
                    "structure is required for a manager: e.g. ccas-nord".into(),
                )),
                (_, structure) => Ok(structure.clone().unwrap_or_else(|| "passerelle".into())),
            },
            role => Err(denied(&format!("you may not create {role} accounts"))),
        }
    }

    async fn finish_creation(
        &self,
        principal: &Principal,
        new: &NewAccount,
        username: &Username,
        structure: &str,
        claim: &str,
    ) -> Result<(Account, Sheet), ServiceError> {
        let registered = self
            .provider
            .register(NewLogin {
                username,
                secret: &new.secret,
                role: new.role,
                structure,
                given_name: new.given_name.as_str(),
                family_name: new.family_name.as_str(),
            })
            .await?;
        let sheet = Self::new_sheet(username)?;
        let account = Account {
            id: registered.account_id.clone(),
            username: username.clone(),
            role: new.role.into(),
            given_name: new.given_name.clone(),
            family_name: new.family_name.clone(),
            phone: new.phone.clone(),
            language: new.language.clone(),
            structure: structure.to_owned(),
            created_at: self.now(),
            created_by: principal.subject.clone(),
            uses_pin: new.secret.is_pin(),
            secret_hash: registered.secret_hash,
            recovery_hash: recovery::code_hash(username.as_str(), &sheet.code),
        };
        if registered.account_id != claim {
            // Keycloak chose the id: point the name at it.
            let row = Row::new(
                USERNAMES,
                username.as_str(),
                "",
                account.id.as_bytes().to_vec(),
            );
            if !self.store.compare_and_set(row, claim.as_bytes()).await? {
                return Err(ServiceError::internal("username claim changed under us"));
            }
        }
        let payload = events::AccountCreated {
            account_id: account.id.clone(),
            role: Role::from(account.role).as_str().to_owned(),
            structure: account.structure.clone(),
        };
        self.commit(vec![
            account_mutation(&account)?,
            self.outbox.event(&account.id, &payload),
        ])
        .await?;
        tracing::info!(account_id = %account.id, role = %Role::from(account.role), created_by = %principal.subject, "account created");
        Ok((account, sheet))
    }

    /// What `principal` may see of `account`, and under which grant (for the audit trail).
    async fn authorize_account(
        &self,
        principal: &Principal,
        account: &Account,
        scope: Option<Scope>,
    ) -> Result<Grant, ServiceError> {
        let now = self.now();
        if is_admin(principal) {
            return Ok(Grant::Own);
        }
        if principal.actor.is_none() && principal.subject == account.id {
            return Ok(Grant::Own);
        }
        if account.role == StoredRole::Beneficiary {
            return match scope {
                Some(scope) => {
                    self.access
                        .authorize(principal, &account.id, scope, now)
                        .await
                }
                None => {
                    // Reading needs a live mandate, whatever its scope.
                    let mut last = denied("only the person or a mandated agent may do this");
                    for scope in Scope::ALL {
                        match self
                            .access
                            .authorize(principal, &account.id, scope, now)
                            .await
                        {
                            Ok(grant) => return Ok(grant),
                            Err(e) => last = e,
                        }
                    }
                    Err(last)
                }
            };
        }
        // Staff accounts: their manager reads them.
        if scope.is_none()
            && principal.actor.is_none()
            && principal.has_role(Role::Manager)
            && principal.structure.as_deref() == Some(account.structure.as_str())
        {
            return Ok(Grant::Own);
        }
        Err(denied("you may not see this account"))
    }

    async fn audit_if_mandated(
        &self,
        account_id: &str,
        grant: &Grant,
        action: &str,
        detail: &str,
    ) -> Result<(), ServiceError> {
        if let Some(m) = self
            .access
            .audit(account_id, grant, action, detail, self.now())
        {
            self.store.batch(vec![m]).await?;
        }
        Ok(())
    }

    pub async fn get_account(
        &self,
        principal: &Principal,
        account_id: &str,
    ) -> Result<Account, ServiceError> {
        let account = self.account(account_id).await?;
        let grant = self.authorize_account(principal, &account, None).await?;
        self.audit_if_mandated(account_id, &grant, "identity.GetAccount", "")
            .await?;
        Ok(account)
    }

    pub async fn update_account(
        &self,
        principal: &Principal,
        account_id: &str,
        changes: AccountChanges,
    ) -> Result<Account, ServiceError> {
        let mut account = self.account(account_id).await?;
        let grant = self
            .authorize_account(principal, &account, Some(Scope::Procedures))
            .await?;
        let mut fields = Vec::new();
        if let Some(v) = changes.given_name {
            account.given_name = v;
            fields.push("given_name");
        }
        if let Some(v) = changes.family_name {
            account.family_name = v;
            fields.push("family_name");
        }
        if let Some(v) = changes.phone {
            account.phone = v;
            fields.push("phone");
        }
        if let Some(v) = changes.language {
            account.language = v;
            fields.push("language");
        }
        if fields.is_empty() {
            return Ok(account);
        }
        let mut batch = vec![
            account_mutation(&account)?,
            self.outbox.event(
                &account.id,
                &events::AccountUpdated {
                    account_id: account.id.clone(),
                    fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                },
            ),
        ];
        batch.extend(self.access.audit(
            account_id,
            &grant,
            "identity.UpdateAccount",
            &format!("changed {}", fields.join(", ")),
            self.now(),
        ));
        self.commit(batch).await?;
        Ok(account)
    }

    /// Erases the account, its mandates and its audit trail; other services erase their data
    /// on the `AccountErased` event.
    pub async fn erase_account(
        &self,
        principal: &Principal,
        account_id: &str,
    ) -> Result<(), ServiceError> {
        let account = self.account(account_id).await?;
        let own = principal.actor.is_none() && principal.subject == account.id;
        if !own && !is_admin(principal) {
            return Err(denied("only the person or an admin may erase an account"));
        }
        self.journal_erasure(&account.id).await?;
        self.provider.remove(&account).await?;
        let mut batch = vec![
            Mutation::delete(ACCOUNTS, &account.id, ""),
            Mutation::delete(USERNAMES, account.username.as_str(), ""),
            self.outbox.event(
                &account.id,
                &events::AccountErased {
                    account_id: account.id.clone(),
                },
            ),
        ];
        for table in [
            passerelle_access::MANDATES_TABLE,
            passerelle_access::AUDIT_TABLE,
        ] {
            let rows = self.store.scan_all(table, &account.id).await?;
            batch.extend(
                rows.iter()
                    .map(|(ck, _)| Mutation::delete(table, &account.id, ck)),
            );
        }
        // The expiry index names the person too.
        for mandate in self.access.mandates(&account.id).await? {
            batch.push(Mutation::delete(
                EXPIRY_INDEX,
                format!("{}", mandate.expires_at / 86_400),
                expiry_key(&mandate),
            ));
        }
        self.commit(batch).await?;
        tracing::info!(account_id = %account.id, by = %principal.subject, "account erased");
        Ok(())
    }

    // ----- sign-in --------------------------------------------------------------------------

    /// Signs in. Every failure — unknown name, wrong secret, malformed name — gives the same
    /// answer; past the free allowance, attempts wait (at most 15 minutes).
    pub async fn login(
        &self,
        username: &str,
        secret: &str,
        source: &str,
    ) -> Result<Token, ServiceError> {
        let typed = username.trim().to_lowercase();
        let account = self.account_by_typed(&typed).await?;
        match self
            .checked_sign_in(&typed, account.as_ref(), secret, source)
            .await?
        {
            Some(token) => {
                if let Some(account) = &account {
                    tracing::info!(account_id = %account.id, "signed in");
                }
                Ok(token)
            }
            None => {
                // Nothing of the typed name is logged: logs must not collect what people type.
                tracing::info!("sign-in failed");
                Err(ServiceError::Unauthenticated(WRONG_CREDENTIALS.into()))
            }
        }
    }

    /// Checks a secret for a typed name, throttled per name and per source: the attempt is
    /// counted before the secret is checked, and given back only when it was right.
    async fn checked_sign_in(
        &self,
        typed: &str,
        account: Option<&Account>,
        secret: &str,
        source: &str,
    ) -> Result<Option<Token>, ServiceError> {
        let now = self.now();
        let keys = [
            ThrottleKey::Username(typed.to_owned()),
            ThrottleKey::Source(source.to_owned()),
        ];
        let attempt = self.throttle.attempt(&keys, now).await?;
        match self.provider.sign_in(typed, account, secret).await {
            Ok(Some(token)) => {
                self.throttle.succeeded(attempt, now).await?;
                Ok(Some(token))
            }
            Ok(None) => Ok(None), // a failure: it stays counted
            Err(e) => {
                // Not checked (too busy, provider down): no guess was made.
                self.throttle.cancel(attempt, now).await?;
                Err(e)
            }
        }
    }

    /// Changes one's own secret, knowing the current one (throttled like a sign-in).
    pub async fn change_secret(
        &self,
        principal: &Principal,
        current: &str,
        new_secret: Secret,
        source: &str,
    ) -> Result<(), ServiceError> {
        if principal.actor.is_some() {
            return Err(denied("a secret is changed by its owner only"));
        }
        let mut account = self.account(&principal.subject).await?;
        if account.role != StoredRole::Beneficiary {
            new_secret.check_for_staff()?;
        }
        if self
            .checked_sign_in(account.username.as_str(), Some(&account), current, source)
            .await?
            .is_none()
        {
            return Err(ServiceError::Unauthenticated(
                "the current secret is wrong".into(),
            ));
        }
        account.secret_hash = self.provider.set_secret(&account, &new_secret).await?;
        account.uses_pin = new_secret.is_pin();
        self.commit(vec![account_mutation(&account)?]).await?;
        tracing::info!(account_id = %account.id, "secret changed");
        Ok(())
    }

    pub async fn act_as(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
        scope: Scope,
    ) -> Result<Token, ServiceError> {
        if principal.actor.is_some() {
            return Err(denied("a delegated token cannot be delegated again"));
        }
        if !(principal.has_role(Role::Agent) || principal.has_role(Role::Volunteer)) {
            return Err(denied("only agents and volunteers act for someone"));
        }
        let beneficiary = self.beneficiary(beneficiary_id).await?;
        let now = self.now();
        let grant = self
            .access
            .authorize(principal, beneficiary_id, scope, now)
            .await?;
        let Grant::Mandate {
            mandate_id,
            structure,
            ..
        } = &grant
        else {
            return Err(denied("only agents and volunteers act for someone"));
        };
        let mandate = self
            .access
            .mandate(beneficiary_id, mandate_id)
            .await?
            .ok_or_else(|| ServiceError::internal("mandate vanished"))?;
        let token = self
            .provider
            .delegate(
                &beneficiary,
                &principal.subject,
                structure,
                scope.as_str(),
                mandate.expires_at,
                now,
            )
            .await?;
        self.audit_if_mandated(beneficiary_id, &grant, "identity.ActAs", scope.as_str())
            .await?;
        Ok(token)
    }

    // ----- recovery -------------------------------------------------------------------------

    pub async fn recover_with_code(
        &self,
        username: &str,
        code: &str,
        new_secret: Secret,
        source: &str,
    ) -> Result<Sheet, ServiceError> {
        let now = self.now();
        let typed = username.trim().to_lowercase();
        let keys = [
            ThrottleKey::Username(format!("recovery:{typed}")),
            ThrottleKey::Source(source.to_owned()),
        ];
        let attempt = self.throttle.attempt(&keys, now).await?;
        let account = self.account_by_typed(&typed).await?;
        let Some(mut account) = account.filter(|a| Self::sheet_matches(a, code)) else {
            return Err(ServiceError::Unauthenticated(
                "wrong username or recovery code: the code is on the sheet given when the account was made, or the last one given".into(),
            ));
        };
        self.throttle.succeeded(attempt, now).await?;
        if account.role != StoredRole::Beneficiary {
            new_secret.check_for_staff()?;
        }
        let sheet = self.replace_secret(&mut account, &new_secret).await?;
        self.commit(vec![
            account_mutation(&account)?,
            audit_mutation(
                &account.id,
                &AuditEntry {
                    at: now,
                    actor: account.id.clone(),
                    actor_structure: String::new(),
                    action: "identity.RecoverWithCode".into(),
                    mandate_id: None,
                    detail: "new secret set with the recovery code; a new sheet was issued".into(),
                },
            ),
            recovered_event(&self.outbox, &account, "sheet_code", ""),
        ])
        .await?;
        tracing::info!(account_id = %account.id, "account recovered with its code");
        Ok(sheet)
    }

    fn sheet_matches(account: &Account, code: &str) -> bool {
        !account.recovery_hash.is_empty()
            && account.recovery_hash == recovery::code_hash(account.username.as_str(), code)
    }

    /// Sets a new secret and a new recovery code on `account` (not yet written).
    async fn replace_secret(
        &self,
        account: &mut Account,
        secret: &Secret,
    ) -> Result<Sheet, ServiceError> {
        account.secret_hash = self.provider.set_secret(account, secret).await?;
        account.uses_pin = secret.is_pin();
        let sheet = Self::new_sheet(&account.username)?;
        account.recovery_hash = recovery::code_hash(account.username.as_str(), &sheet.code);
        Ok(sheet)
    }

    /// May this agent's structure recover `account` at its desk? The person must be one of
    /// its beneficiaries, or have given it a live mandate with `procedures` (their account and
    /// its details). Returns the mandate's grant in the second case, for the audit trail.
    async fn desk_binding(
        &self,
        principal: &Principal,
        account: &Account,
    ) -> Result<Option<Grant>, ServiceError> {
        let structure = staff_structure(principal)?;
        if account.structure == structure {
            return Ok(None);
        }
        match self
            .access
            .authorize(principal, &account.id, Scope::Procedures, self.now())
            .await
        {
            Ok(grant @ Grant::Mandate { .. }) => Ok(Some(grant)),
            _ => Err(denied(&format!(
                "this person is followed by {} and gave {structure} no live mandate with `procedures`: their own structure recovers the account, or they grant {structure} a mandate first",
                account.structure
            ))),
        }
    }

    pub async fn start_assisted_recovery(
        &self,
        principal: &Principal,
        account_id: &str,
        note: &str,
        presence: Presence,
        source: &str,
    ) -> Result<AssistedRecovery, ServiceError> {
        if !is_agent(principal) {
            return Err(denied("only an agent starts a recovery at the desk"));
        }
        let structure = staff_structure(principal)?;
        let mut account = self.beneficiary(account_id).await?;
        let binding = self.desk_binding(principal, &account).await?;
        let now = self.now();
        let id = uuid::Uuid::new_v4().to_string();
        let mut batch = Vec::new();
        let (proof, document_hash) = match &presence {
            Presence::SheetCode(code) => {
                // The agent saw the code: it is used up now, whatever comes of the recovery,
                // so nobody at the desk can use it later.
                let keys = [
                    ThrottleKey::Username(format!("recovery:{}", account.username)),
                    ThrottleKey::Source(source.to_owned()),
                ];
                let attempt = self.throttle.attempt(&keys, now).await?;
                if !Self::sheet_matches(&account, code) {
                    return Err(denied(
                        "this code is not the one on this person's recovery sheet (or it was used): check it, or check an identity document instead",
                    ));
                }
                self.throttle.succeeded(attempt, now).await?;
                account.recovery_hash.clear();
                batch.push(account_mutation(&account)?);
                (
                    "the code of their recovery sheet (now used up)".to_owned(),
                    None,
                )
            }
            Presence::IdentityDocument(document) => (
                format!("{} {} seen", document.kind.as_str(), document.masked()),
                Some(document.hash(&id)),
            ),
        };
        let note: String = note.trim().chars().take(200).collect();
        let recovery = AssistedRecovery {
            id,
            account_id: account.id.clone(),
            started_by: principal.subject.clone(),
            structure: structure.clone(),
            verification: note.clone(),
            proof: proof.clone(),
            document_hash,
            expires_at: now + ASSISTED_RECOVERY_TTL,
        };
        batch.push(Mutation::Put(
            Row::new(
                ASSISTED_RECOVERIES,
                &recovery.id,
                "",
                serde_json::to_vec(&recovery).map_err(ServiceError::internal)?,
            )
            .with_ttl(std::time::Duration::from_secs(ASSISTED_RECOVERY_TTL as u64)),
        ));
        batch.push(audit_mutation(
            &account.id,
            &AuditEntry {
                at: now,
                actor: principal.subject.clone(),
                actor_structure: structure,
                action: "identity.StartAssistedRecovery".into(),
                mandate_id: mandate_of(binding.as_ref()),
                detail: if note.is_empty() {
                    format!("presence shown by {proof}")
                } else {
                    format!("presence shown by {proof}; note: {note}")
                },
            },
        ));
        self.commit(batch).await?;
        Ok(recovery)
    }

    pub async fn approve_assisted_recovery(
        &self,
        principal: &Principal,
        recovery_id: &str,
        new_secret: Secret,
        document: Option<IdentityDocument>,
    ) -> Result<Sheet, ServiceError> {
        let manager = principal.actor.is_none() && principal.has_role(Role::Manager);
        if !is_agent(principal) && !manager {
            return Err(denied("only an agent or a manager approves a recovery"));
        }
        let bytes = self
            .store
            .get(ASSISTED_RECOVERIES, recovery_id, "")
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "no recovery `{recovery_id}` waiting: it was approved already or expired after an hour; start a new one"
                ))
            })?;
        if bytes == APPROVED {
            return Err(ServiceError::FailedPrecondition(format!(
                "recovery `{recovery_id}` was approved already"
            )));
        }
        let recovery: AssistedRecovery =
            serde_json::from_slice(&bytes).map_err(ServiceError::internal)?;
        if recovery.started_by == principal.subject {
            return Err(denied(
                "a second agent must approve: you started this recovery",
            ));
        }
        if principal.structure.as_deref() != Some(recovery.structure.as_str()) {
            return Err(denied(
                "the approving agent must belong to the structure that started the recovery",
            ));
        }
        if let Some(expected) = &recovery.document_hash {
            let Some(document) = document else {
                return Err(ServiceError::InvalidArgument(
                    "identity_document is required: look at the person's identity document yourself and type its kind and number".into(),
                ));
            };
            if &document.hash(&recovery.id) != expected {
                return Err(denied(
                    "this is not the identity document the first agent checked: check the kind and the number with the person",
                ));
            }
        }
        let mut account = self.account(&recovery.account_id).await?;
        // The binding must still hold: a mandate withdrawn in the meantime ends it.
        let binding = self.desk_binding(principal, &account).await?;
        // Used once: whoever removes it first approves it.
        let claimed = self
            .store
            .compare_and_set(
                Row::new(ASSISTED_RECOVERIES, recovery_id, "", APPROVED.to_vec())
                    .with_ttl(std::time::Duration::from_secs(60)),
                &bytes,
            )
            .await?;
        if !claimed {
            return Err(ServiceError::FailedPrecondition(format!(
                "recovery `{recovery_id}` was approved already"
            )));
        }
        let sheet = self.replace_secret(&mut account, &new_secret).await?;
        let checked = if recovery.document_hash.is_some() {
            "; the identity document was checked by both agents"
        } else {
            ""
        };
        self.commit(vec![
            account_mutation(&account)?,
            audit_mutation(
                &account.id,
                &AuditEntry {
                    at: self.now(),
                    actor: principal.subject.clone(),
                    actor_structure: recovery.structure.clone(),
                    action: "identity.ApproveAssistedRecovery".into(),
                    mandate_id: mandate_of(binding.as_ref()),
                    detail: format!(
                        "recovery started by {} approved{checked}; new secret set, new sheet issued",
                        recovery.started_by
                    ),
                },
            ),
            recovered_event(&self.outbox, &account, "desk", &recovery.structure),
        ])
        .await?;
        tracing::info!(account_id = %account.id, started_by = %recovery.started_by, approved_by = %principal.subject, "assisted recovery");
        Ok(sheet)
    }

    /// Tells the person their secret was set anew without the old one (on `AccountRecovered`):
    /// by SMS when they have a phone and a gateway is configured. Returns whether a message
    /// went out.
    pub async fn notify_recovery(
        &self,
        event: &events::AccountRecovered,
    ) -> Result<bool, ServiceError> {
        let (Some(sms), Some(account)) = (self.sms.as_ref(), self.load(&event.account_id).await?)
        else {
            return Ok(false);
        };
        let Some(phone) = &account.phone else {
            return Ok(false);
        };
        let english = account.language.as_str().starts_with("en");
        let text = match (event.method.as_str(), english) {
            ("desk", false) => format!(
                "Passerelle : le mot de passe du compte {} a été changé au guichet de {}. Si ce n'était pas vous, appelez ce guichet ou le CCAS.",
                account.username, event.structure
            ),
            ("desk", true) => format!(
                "Passerelle: the password of account {} was changed at the {} desk. If this was not you, call that desk or the CCAS.",
                account.username, event.structure
            ),
            (_, false) => format!(
                "Passerelle : le mot de passe du compte {} a été changé avec le code de secours. Si ce n'était pas vous, appelez le CCAS.",
                account.username
            ),
            (_, true) => format!(
                "Passerelle: the password of account {} was changed with the recovery code. If this was not you, call the CCAS.",
                account.username
            ),
        };
        sms.send(phone.as_str(), &text).await?;
        tracing::info!(account_id = %account.id, "recovery notice sent by SMS");
        Ok(true)
    }

    // ----- mandates -------------------------------------------------------------------------

    async fn write_mandate(
        &self,
        mandate: &Mandate,
        event: Mutation,
        audit: Option<AuditEntry>,
    ) -> Result<(), ServiceError> {
        let mut batch = vec![mandate.mutation(), event, expiry_index(mandate, self.now())];
        if let Some(entry) = audit {
            batch.push(audit_mutation(&mandate.beneficiary_id, &entry));
        }
        self.commit(batch).await
    }

    fn granted_event(&self, mandate: &Mandate) -> Mutation {
        self.outbox.event(
            &mandate.beneficiary_id,
            &events::MandateGranted {
                mandate_id: mandate.id.clone(),
                beneficiary_id: mandate.beneficiary_id.clone(),
                structure: mandate.structure.clone(),
                scopes: mandate
                    .scopes
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
                expires_at: Some(timestamp(mandate.expires_at)),
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn grant_mandate(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
        structure: &str,
        scopes: BTreeSet<Scope>,
        duration: MandateDuration,
        signature_png: &[u8],
        beneficiary_secret: &str,
        source: &str,
    ) -> Result<Mandate, ServiceError> {
        let structure = parse_structure(structure)?;
        if scopes.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "no scope given: expected one or more of documents, alerts, interpreting, pathways, procedures".into(),
            ));
        }
        let beneficiary = self.beneficiary(beneficiary_id).await?;
        let consent = if principal.actor.is_none()
            && principal.subject == beneficiary_id
            && principal.has_role(Role::Beneficiary)
        {
            Consent::SelfService
        } else if is_agent(principal) && principal.structure.as_deref() == Some(structure.as_str())
        {
            if signature_png.is_empty() {
                return Err(ServiceError::InvalidArgument(
                    "signature_png is required: a mandate recorded at the desk carries the person's signature".into(),
                ));
            }
            check_signature_png(signature_png)?;
            // The person shows they are here, and agree, with their own secret: an agent alone
            // cannot make a mandate for someone who is not at the desk.
            if beneficiary_secret.is_empty() {
                return Err(ServiceError::InvalidArgument(
                    "beneficiary_secret is required: the person types their own PIN or password on the desk's screen; someone who cannot may have their account recovered at the desk first, or be asked by SMS".into(),
                ));
            }
            if self
                .checked_sign_in(
                    beneficiary.username.as_str(),
                    Some(&beneficiary),
                    beneficiary_secret,
                    source,
                )
                .await?
                .is_none()
            {
                return Err(denied(
                    "the person's PIN or password is wrong: they may try again, or have their account recovered at the desk",
                ));
            }
            Consent::InPerson {
                agent: principal.subject.clone(),
                signature_sha256: Some(sha256_bytes_hex(signature_png)),
            }
        } else {
            return Err(denied(
                "a mandate is granted by the person, or recorded at the desk by an agent of the structure it is for",
            ));
        };
        let now = self.now();
        let mandate = Mandate::new(
            beneficiary_id,
            &structure,
            scopes,
            consent.clone(),
            now,
            duration.seconds(),
        );
        let audit = consent.recorded_by().map(|agent| AuditEntry {
            at: now,
            actor: agent.to_owned(),
            actor_structure: structure.clone(),
            action: "identity.GrantMandate".into(),
            mandate_id: Some(mandate.id.clone()),
            detail: format!(
                "mandate signed at the desk, the person's own secret typed: {}",
                scope_list(&mandate.scopes)
            ),
        });
        self.write_mandate(&mandate, self.granted_event(&mandate), audit)
            .await?;
        tracing::info!(mandate_id = %mandate.id, beneficiary_id, structure = %structure, consent = consent.kind(), "mandate granted");
        Ok(mandate)
    }

    pub async fn request_mandate_consent(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
        scopes: BTreeSet<Scope>,
        duration: MandateDuration,
    ) -> Result<ConsentPending, ServiceError> {
        if !is_agent(principal) {
            return Err(denied("only an agent asks for a mandate by SMS"));
        }
        let structure = staff_structure(principal)?;
        if scopes.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "no scope given: expected one or more of documents, alerts, interpreting, pathways, procedures".into(),
            ));
        }
        let account = self.beneficiary(beneficiary_id).await?;
        let phone = account.phone.clone().ok_or_else(|| {
            ServiceError::FailedPrecondition(
                "this person has no phone number: record the mandate at the desk with their signature instead".into(),
            )
        })?;
        let sms = self.sms.clone().ok_or_else(|| {
            ServiceError::FailedPrecondition(
                "no SMS gateway is configured (--sms-url): record the mandate at the desk instead"
                    .into(),
            )
        })?;
        let code = six_digits()?;
        let now = self.now();
        let pending = PendingConsent {
            id: uuid::Uuid::new_v4().to_string(),
            beneficiary_id: beneficiary_id.to_owned(),
            structure: structure.clone(),
            agent: principal.subject.clone(),
            scopes: scopes.clone(),
            duration_seconds: duration.seconds(),
            code_hash: sha256_hex(&format!("{}:{code}", beneficiary_id)),
            attempts: 0,
            expires_at: now + CONSENT_TTL,
        };
        let text = format!(
            "Passerelle : {structure} demande votre accord pour {}. Si vous êtes d'accord, donnez ce code à l'agent : {code}. Sinon, ne faites rien.",
            scope_list_fr(&scopes)
        );
        sms.send(phone.as_str(), &text).await?;
        self.store
            .put(
                Row::new(
                    CONSENTS,
                    &pending.id,
                    "",
                    serde_json::to_vec(&pending).map_err(ServiceError::internal)?,
                )
                .with_ttl(std::time::Duration::from_secs(CONSENT_TTL as u64)),
            )
            .await?;
        Ok(ConsentPending {
            id: pending.id,
            phone_masked: phone.masked(),
            expires_at: pending.expires_at,
        })
    }

    pub async fn confirm_mandate_consent(
        &self,
        principal: &Principal,
        consent_id: &str,
        code: &str,
    ) -> Result<Mandate, ServiceError> {
        if !is_agent(principal) {
            return Err(denied("only an agent confirms a mandate by SMS"));
        }
        let gone = || {
            ServiceError::NotFound(format!(
                "no consent `{consent_id}` waiting: codes last 10 minutes and allow {CONSENT_ATTEMPTS} tries; ask again"
            ))
        };
        // The try is counted before the code is compared, so parallel guesses get no more
        // tries than guesses one after another.
        let now = self.now();
        let (pending, counted) = loop {
            let bytes = self
                .store
                .get(CONSENTS, consent_id, "")
                .await?
                .ok_or_else(gone)?;
            let mut pending: PendingConsent = serde_json::from_slice(&bytes).map_err(|_| gone())?;
            if pending.agent != principal.subject {
                return Err(denied("only the agent who asked may confirm this consent"));
            }
            if now >= pending.expires_at || pending.attempts >= CONSENT_ATTEMPTS {
                return Err(gone());
            }
            pending.attempts += 1;
            let counted = serde_json::to_vec(&pending).map_err(ServiceError::internal)?;
            let row = Row::new(CONSENTS, consent_id, "", counted.clone()).with_ttl(
                std::time::Duration::from_secs((pending.expires_at - now).max(1) as u64),
            );
            if self.store.compare_and_set(row, &bytes).await? {
                break (pending, counted);
            }
        };
        let code = code.trim();
        if sha256_hex(&format!("{}:{code}", pending.beneficiary_id)) != pending.code_hash {
            return Err(ServiceError::InvalidArgument(format!(
                "wrong code: {} tries left",
                CONSENT_ATTEMPTS.saturating_sub(pending.attempts)
            )));
        }
        let used = Row::new(CONSENTS, consent_id, "", b"used".to_vec())
            .with_ttl(std::time::Duration::from_secs(60));
        if !self.store.compare_and_set(used, &counted).await? {
            return Err(gone());
        }
        let mandate = Mandate::new(
            &pending.beneficiary_id,
            &pending.structure,
            pending.scopes.clone(),
            Consent::Sms {
                agent: principal.subject.clone(),
            },
            now,
            pending.duration_seconds,
        );
        let audit = AuditEntry {
            at: now,
            actor: principal.subject.clone(),
            actor_structure: pending.structure.clone(),
            action: "identity.ConfirmMandateConsent".into(),
            mandate_id: Some(mandate.id.clone()),
            detail: format!(
                "mandate accepted by SMS code: {}",
                scope_list(&mandate.scopes)
            ),
        };
        self.write_mandate(&mandate, self.granted_event(&mandate), Some(audit))
            .await?;
        Ok(mandate)
    }

    /// Who may change a mandate: the beneficiary and an agent of its structure; an admin may
    /// also withdraw one (never extend it: that needs the person's consent).
    fn may_manage(principal: &Principal, mandate: &Mandate, withdrawing: bool) -> bool {
        principal.actor.is_none()
            && ((principal.subject == mandate.beneficiary_id
                && principal.has_role(Role::Beneficiary))
                || (principal.has_role(Role::Agent)
                    && principal.structure.as_deref() == Some(mandate.structure.as_str()))
                || (withdrawing && principal.has_role(Role::Admin)))
    }

    async fn mandate_for_change(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
        mandate_id: &str,
        withdrawing: bool,
    ) -> Result<Mandate, ServiceError> {
        let mandate = self
            .access
            .mandate(beneficiary_id, mandate_id)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no mandate `{mandate_id}` for this person"))
            })?;
        if !Self::may_manage(principal, &mandate, withdrawing) {
            return Err(denied(if withdrawing {
                "only the person, an agent of the mandated structure or an admin may withdraw this mandate"
            } else {
                "only the person or an agent of the mandated structure may renew this mandate"
            }));
        }
        Ok(mandate)
    }

    pub async fn revoke_mandate(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
        mandate_id: &str,
        scopes: BTreeSet<Scope>,
    ) -> Result<Mandate, ServiceError> {
        let mut mandate = self
            .mandate_for_change(principal, beneficiary_id, mandate_id, true)
            .await?;
        let now = self.now();
        let withdrawn: BTreeSet<Scope> = if scopes.is_empty() {
            mandate.scopes.clone()
        } else {
            scopes.intersection(&mandate.scopes).copied().collect()
        };
        mandate.scopes.retain(|s| !withdrawn.contains(s));
        let whole = mandate.scopes.is_empty();
        if whole && mandate.revoked_at.is_none() {
            mandate.revoked_at = Some(now);
        }
        let event = self.outbox.event(
            beneficiary_id,
            &events::MandateRevoked {
                mandate_id: mandate.id.clone(),
                beneficiary_id: beneficiary_id.to_owned(),
                structure: mandate.structure.clone(),
                scopes: withdrawn.iter().map(|s| s.as_str().to_owned()).collect(),
                whole,
            },
        );
        let audit = (principal.subject != beneficiary_id).then(|| AuditEntry {
            at: now,
            actor: principal.subject.clone(),
            actor_structure: principal.structure.clone().unwrap_or_default(),
            action: "identity.RevokeMandate".into(),
            mandate_id: Some(mandate.id.clone()),
            detail: format!("withdrew {}", scope_list(&withdrawn)),
        });
        self.write_mandate(&mandate, event, audit).await?;
        tracing::info!(mandate_id = %mandate.id, by = %principal.subject, whole, "mandate revoked");
        Ok(mandate)
    }

    pub async fn renew_mandate(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
        mandate_id: &str,
        duration: MandateDuration,
    ) -> Result<Mandate, ServiceError> {
        let mut mandate = self
            .mandate_for_change(principal, beneficiary_id, mandate_id, false)
            .await?;
        if mandate.revoked_at.is_some() || mandate.scopes.is_empty() {
            return Err(ServiceError::FailedPrecondition(
                "this mandate was revoked: grant a new one instead".into(),
            ));
        }
        let now = self.now();
        mandate.expires_at = now + duration.seconds();
        mandate.expiry_announced = false;
        let audit = (principal.subject != beneficiary_id).then(|| AuditEntry {
            at: now,
            actor: principal.subject.clone(),
            actor_structure: principal.structure.clone().unwrap_or_default(),
            action: "identity.RenewMandate".into(),
            mandate_id: Some(mandate.id.clone()),
            detail: format!("renewed for {} days", duration.seconds() / 86_400),
        });
        self.write_mandate(&mandate, self.granted_event(&mandate), audit)
            .await?;
        Ok(mandate)
    }

    pub async fn list_mandates(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
    ) -> Result<Vec<Mandate>, ServiceError> {
        let all = self.access.mandates(beneficiary_id).await?;
        if principal.actor.is_none()
            && ((principal.subject == beneficiary_id && principal.has_role(Role::Beneficiary))
                || principal.has_role(Role::Admin))
        {
            return Ok(all);
        }
        if is_agent(principal) {
            let structure = staff_structure(principal)?;
            return Ok(all
                .into_iter()
                .filter(|m| m.structure == structure)
                .collect());
        }
        Err(denied(
            "only the person, an agent of a mandated structure or an admin may list mandates",
        ))
    }

    pub async fn audit_trail(
        &self,
        principal: &Principal,
        beneficiary_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<String>), ServiceError> {
        let own = principal.actor.is_none()
            && principal.subject == beneficiary_id
            && principal.has_role(Role::Beneficiary);
        if !own && !is_admin(principal) {
            return Err(denied("only the person or an admin reads the audit trail"));
        }
        self.access.trail(beneficiary_id, after, limit).await
    }

    // ----- expiry ---------------------------------------------------------------------------

    /// Announces the mandates that ended (`MandateExpired`), once each. Runs on a schedule;
    /// safe to run from several replicas (an announcement is claimed before it is sent).
    pub async fn announce_expired_mandates(&self) -> Result<usize, ServiceError> {
        let now = self.now();
        let mut announced = 0;
        // Expiries are indexed by day; look back a week so a stopped service catches up.
        for day in (now / 86_400 - EXPIRY_LOOKBACK_DAYS)..=(now / 86_400) {
            let partition = format!("{day}");
            let rows = self.store.scan_all(EXPIRY_INDEX, &partition).await?;
            for (ck, beneficiary) in &rows {
                let Some((expires, mandate_id)) = ck.split_once('/') else {
                    continue;
                };
                if expires.parse::<i64>().unwrap_or(i64::MAX) > now {
                    continue;
                }
                let beneficiary = String::from_utf8_lossy(beneficiary).into_owned();
                let Some(mut mandate) = self.access.mandate(&beneficiary, mandate_id).await? else {
                    continue;
                };
                if mandate.expiry_announced
                    || mandate.revoked_at.is_some()
                    || mandate.expires_at > now
                {
                    continue;
                }
                let before = mandate.encode();
                mandate.expiry_announced = true;
                // Claim the announcement, then send it with the change.
                let claimed = self
                    .store
                    .compare_and_set(
                        Row::new(
                            passerelle_access::MANDATES_TABLE,
                            &beneficiary,
                            &mandate.id,
                            mandate.encode(),
                        ),
                        &before,
                    )
                    .await?;
                if !claimed {
                    continue;
                }
                self.commit(vec![self.outbox.event(
                    &beneficiary,
                    &events::MandateExpired {
                        mandate_id: mandate.id.clone(),
                        beneficiary_id: beneficiary.clone(),
                        structure: mandate.structure.clone(),
                    },
                )])
                .await?;
                announced += 1;
            }
        }
        Ok(announced)
    }
}

const EXPIRY_INDEX: &str = "mandate_expiry";

/// The row that finds a mandate when its day comes: partition = day number, clustering =
/// `<expires_at>/<mandate id>`, value = beneficiary id.
///
/// The row lives until a week after the mandate's end (the announcer looks back a week), then
/// goes by itself: the index never grows into a list of everyone who ever had a mandate.
fn expiry_index(mandate: &Mandate, now: i64) -> Mutation {
    let keep = (mandate.expires_at - now).max(0) + EXPIRY_LOOKBACK_DAYS * 86_400 + 86_400;
    Mutation::Put(
        Row::new(
            EXPIRY_INDEX,
            format!("{}", mandate.expires_at / 86_400),
            expiry_key(mandate),
            mandate.beneficiary_id.as_bytes().to_vec(),
        )
        .with_ttl(std::time::Duration::from_secs(keep as u64)),
    )
}

fn expiry_key(mandate: &Mandate) -> String {
    format!("{:012}/{}", mandate.expires_at, mandate.id)
}

/// Days the expiry announcer looks back, so a stopped service catches up.
const EXPIRY_LOOKBACK_DAYS: i64 = 7;

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
