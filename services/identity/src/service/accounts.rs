//! Accounts: created by staff or at the desk (with a recovery sheet), read, changed and
//! erased by whom the rules allow.

use super::*;

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
    pub birth_date: Option<BirthDate>,
}

/// Changes to an account's details; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct AccountChanges {
    pub given_name: Option<PersonName>,
    pub family_name: Option<PersonName>,
    /// `Some(None)` removes the phone.
    pub phone: Option<Option<Phone>>,
    pub language: Option<Language>,
    /// `Some(None)` forgets the date of birth.
    pub birth_date: Option<Option<BirthDate>>,
}

/// A beneficiary in their structure's list, as searches read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Listed {
    /// Names and username, as [`search_key`] makes them.
    search: String,
    birth_date: Option<BirthDate>,
}

/// Beneficiaries by structure: partition = structure, clustering = account id.
pub(super) const LISTED: Table<Listed> = Table::new("structure_people");

/// The most accounts a search returns.
const SEARCH_MAX: usize = 50;

/// The row listing `account` in its structure, for beneficiaries.
pub(super) fn listing(account: &Account) -> Result<Option<Mutation>, ServiceError> {
    if account.role != StoredRole::Beneficiary || account.structure.is_empty() {
        return Ok(None);
    }
    // Each name both as written and run together, so `ndiaye` finds N'Diaye too.
    let mut search = Vec::new();
    for part in [
        account.given_name.as_str(),
        account.family_name.as_str(),
        account.username.as_str(),
    ] {
        let key = search_key(part);
        let compact = key.replace(' ', "");
        search.push(key.clone());
        if compact != key {
            search.push(compact);
        }
    }
    let listed = Listed {
        search: search.join(" "),
        birth_date: account.birth_date,
    };
    Ok(Some(LISTED.put_mutation(
        &account.structure,
        &account.id,
        &listed,
    )?))
}

impl Identity {
    // ----- accounts -------------------------------------------------------------------------

    pub async fn create_account(
        &self,
        principal: &Principal,
        new: NewAccount,
    ) -> Result<(Account, Sheet), ServiceError> {
        let structure = self.creation_structure(principal, &new)?;
        let structure = self.registered(&structure).await?.id;
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
    pub(super) fn creation_structure(
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

    pub(super) async fn finish_creation(
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
            birth_date: new.birth_date,
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
        let mut batch = vec![
            account_mutation(&account)?,
            self.outbox.event(&account.id, &payload),
        ];
        batch.extend(listing(&account)?);
        self.commit(batch).await?;
        tracing::info!(account_id = %account.id, role = %Role::from(account.role), created_by = %principal.subject, "account created");
        Ok((account, sheet))
    }

    /// What `principal` may see of `account`, and under which grant (for the audit trail).
    pub(super) async fn authorize_account(
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
                // Reading needs a live mandate, whatever its scope.
                None => self.access.authorize_any(principal, &account.id, now).await,
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

    pub(super) async fn audit_if_mandated(
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
        if let Some(v) = changes.birth_date {
            account.birth_date = v;
            fields.push("birth_date");
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
        batch.extend(listing(&account)?);
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
            Mutation::delete(LISTED.name(), &account.structure, &account.id),
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

    /// The beneficiaries of a structure matching `query` (names, username; case and accents
    /// ignored) and `birth_date`: agents and managers search their own structure, admins the
    /// one they name. Returns at most `limit` and whether more matched.
    pub async fn search_accounts(
        &self,
        principal: &Principal,
        query: &str,
        birth_date: Option<BirthDate>,
        structure: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Account>, bool), ServiceError> {
        if principal.actor.is_some() {
            return Err(denied("people are searched with your own account"));
        }
        let structure = if is_admin(principal) {
            structure
                .map(str::to_owned)
                .or_else(|| principal.structure.clone())
                .ok_or_else(|| {
                    ServiceError::invalid("structure is required for an admin's search")
                })?
        } else if principal.has_role(Role::Agent) || principal.has_role(Role::Manager) {
            staff_structure(principal)?
        } else {
            return Err(denied("agents, managers and admins search for people"));
        };
        let exact_id = query.trim();
        let words: Vec<String> = search_key(query)
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        if words.is_empty() && birth_date.is_none() {
            return Err(ServiceError::invalid(
                "give part of a name or username, or a date of birth",
            ));
        }
        let limit = limit.clamp(1, SEARCH_MAX);
        let mut found = Vec::new();
        let mut more = false;
        for (account_id, listed) in LISTED.scan_all(&*self.store, &structure).await? {
            let matches = account_id == exact_id
                || (words.iter().all(|w| listed.search.contains(w.as_str()))
                    && birth_date.is_none_or(|d| listed.birth_date == Some(d)));
            if !matches {
                continue;
            }
            if found.len() == limit {
                more = true;
                break;
            }
            // Listed but gone (erased meanwhile): skipped.
            if let Some(account) = self.load(&account_id).await? {
                found.push(account);
            }
        }
        found.sort_by(|a, b| {
            (a.family_name.as_str(), a.given_name.as_str())
                .cmp(&(b.family_name.as_str(), b.given_name.as_str()))
        });
        Ok((found, more))
    }
}
