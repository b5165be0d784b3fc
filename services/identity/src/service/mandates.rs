//! Mandates: granted by the person, at the desk (signature and the person's own secret) or by
//! SMS code; revoked, renewed, listed; the audit trail of what was done under them.

use super::*;

/// How the person signed a mandate at the desk.
#[derive(Clone, Debug)]
pub enum Signature {
    None,
    /// Drawn on the screen or a pad: a whole PNG.
    Png(Vec<u8>),
    /// Their name, typed by them (no drawing possible).
    Typed(PersonName),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct PendingConsent {
    pub(super) id: String,
    pub(super) beneficiary_id: String,
    pub(super) structure: String,
    pub(super) agent: String,
    pub(super) scopes: BTreeSet<Scope>,
    pub(super) duration_seconds: i64,
    pub(super) code_hash: String,
    pub(super) attempts: u32,
    pub(super) expires_at: i64,
}

/// What a consent's row holds: the consent while it waits for its code, then, for a minute,
/// that it was used.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) enum ConsentRow {
    Waiting(PendingConsent),
    Used,
}

/// A pending consent, as the agent sees it.
#[derive(Clone, Debug)]
pub struct ConsentPending {
    pub id: String,
    pub phone_masked: String,
    pub expires_at: i64,
}

impl Identity {
    // ----- mandates -------------------------------------------------------------------------

    pub(super) async fn write_mandate(
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

    pub(super) fn granted_event(&self, mandate: &Mandate) -> Mutation {
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
        signature: &Signature,
        beneficiary_secret: &str,
        source: &str,
    ) -> Result<Mandate, ServiceError> {
        let structure = self.registered(&parse_structure(structure)?).await?.id;
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
            let signature_sha256 = match signature {
                Signature::None => {
                    return Err(ServiceError::InvalidArgument(
                        "signature_png or typed_signature is required: a mandate recorded at the desk carries the person's signature".into(),
                    ));
                }
                Signature::Png(png) => {
                    check_signature_png(png)?;
                    sha256_bytes_hex(png)
                }
                Signature::Typed(name) => {
                    sha256_bytes_hex(format!("typed signature: {}", name.as_str()).as_bytes())
                }
            };
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
                signature_sha256: Some(signature_sha256),
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
        let structure = self.registered(&staff_structure(principal)?).await?;
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
            structure: structure.id.clone(),
            agent: principal.subject.clone(),
            scopes: scopes.clone(),
            duration_seconds: duration.seconds(),
            code_hash: sha256_hex(&format!("{}:{code}", beneficiary_id)),
            attempts: 0,
            expires_at: now + CONSENT_TTL,
        };
        let text = format!(
            "Passerelle : {} demande votre accord pour {}. Si vous êtes d'accord, donnez ce code à l'agent : {code}. Sinon, ne faites rien.",
            structure.display_name,
            scope_list_fr(&scopes)
        );
        sms.send(phone.as_str(), &text).await?;
        CONSENT_ROWS
            .put(
                &*self.store,
                &pending.id,
                "",
                &ConsentRow::Waiting(pending.clone()),
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
            let read = older_as_absent(CONSENT_ROWS.read(&*self.store, consent_id, "").await)?
                .ok_or_else(gone)?;
            let ConsentRow::Waiting(mut pending) = read.value.clone() else {
                return Err(gone());
            };
            if pending.agent != principal.subject {
                return Err(denied("only the agent who asked may confirm this consent"));
            }
            if now >= pending.expires_at || pending.attempts >= CONSENT_ATTEMPTS {
                return Err(gone());
            }
            pending.attempts += 1;
            let left = std::time::Duration::from_secs((pending.expires_at - now).max(1) as u64);
            let next = ConsentRow::Waiting(pending.clone());
            let key = (consent_id, "");
            if let Some(counted) = CONSENT_ROWS
                .replace(&*self.store, key, &read, next, Some(left))
                .await?
            {
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
        let used = CONSENT_ROWS
            .replace(
                &*self.store,
                (consent_id, ""),
                &counted,
                ConsentRow::Used,
                Some(SPENT_TTL),
            )
            .await?;
        if used.is_none() {
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
    pub(super) fn may_manage(principal: &Principal, mandate: &Mandate, withdrawing: bool) -> bool {
        principal.actor.is_none()
            && ((principal.subject == mandate.beneficiary_id
                && principal.has_role(Role::Beneficiary))
                || (principal.has_role(Role::Agent)
                    && principal.structure.as_deref() == Some(mandate.structure.as_str()))
                || (withdrawing && principal.has_role(Role::Admin)))
    }

    pub(super) async fn mandate_for_change(
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
}
