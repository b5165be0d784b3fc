//! Signing in, changing one's secret, and the delegated tokens of mandated agents.

use super::*;

impl Identity {
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
    pub(super) async fn checked_sign_in(
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

    /// A fresh token for the holder of a valid token of their own, the account and its roles
    /// read again, while the sign-in is younger than [`MAX_SESSION`]: a session is renewed,
    /// never stretched past its bound, and ends at once with an erased account.
    pub async fn renew_token(&self, principal: &Principal) -> Result<Token, ServiceError> {
        if principal.actor.is_some() {
            return Err(denied(
                "a delegated token is not renewed: ask for a new one",
            ));
        }
        let signed_in_at = principal.signed_in_at.unwrap_or(0);
        if self.now() - signed_in_at > MAX_SESSION {
            return Err(ServiceError::Unauthenticated(
                "this sign-in is too old to renew: sign in again".into(),
            ));
        }
        let account = self
            .load(&principal.subject)
            .await?
            .ok_or_else(|| ServiceError::Unauthenticated("this account no longer exists".into()))?;
        self.provider.renew(&account, signed_in_at).await
    }
}

/// How long after signing in a session may be renewed: a working day.
pub const MAX_SESSION: i64 = 12 * 3600;
