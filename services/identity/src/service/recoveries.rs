//! Getting back into an account without e-mail: the printed sheet's code, or at the desk
//! with a second agent, the person's presence proven, and the person told.

use super::*;

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

/// What a recovery's row holds: the recovery while it waits for its second agent, then, for a
/// minute, that it was approved, so a second approval is told so.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) enum RecoveryRow {
    Waiting(AssistedRecovery),
    Approved,
}

/// How a person shows they are at the desk for a recovery.
#[derive(Clone, Debug)]
pub enum Presence {
    /// The code of their printed recovery sheet.
    SheetCode(String),
    /// An identity document, checked by both agents.
    IdentityDocument(IdentityDocument),
}

impl Identity {
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

    pub(super) fn sheet_matches(account: &Account, code: &str) -> bool {
        !account.recovery_hash.is_empty()
            && account.recovery_hash == recovery::code_hash(account.username.as_str(), code)
    }

    /// Sets a new secret and a new recovery code on `account` (not yet written).
    pub(super) async fn replace_secret(
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
    pub(super) async fn desk_binding(
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
        batch.push(RECOVERY_ROWS.put_mutation(
            &recovery.id,
            "",
            &RecoveryRow::Waiting(recovery.clone()),
        )?);
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
        let waiting = older_as_absent(RECOVERY_ROWS.read(&*self.store, recovery_id, "").await)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "no recovery `{recovery_id}` waiting: it was approved already or expired after an hour; start a new one"
                ))
            })?;
        let RecoveryRow::Waiting(recovery) = waiting.value.clone() else {
            return Err(ServiceError::FailedPrecondition(format!(
                "recovery `{recovery_id}` was approved already"
            )));
        };
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
        let claimed = RECOVERY_ROWS
            .replace(
                &*self.store,
                (recovery_id, ""),
                &waiting,
                RecoveryRow::Approved,
                Some(SPENT_TTL),
            )
            .await?
            .is_some();
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
}
