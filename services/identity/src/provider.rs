//! Where sign-ins live: the built-in issuer (secrets hashed in our store, tokens signed by
//! [`Issuer`]) or Keycloak (secrets and tokens Keycloak's). The service talks to either
//! through [`Provider`].

use async_trait::async_trait;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::Role;
use serde_json::json;

use crate::credentials::Hasher;
use crate::domain::{Account, Secret, Username};
use crate::issuer::Issuer;

/// A token handed to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
    pub expires_in: i64,
}

/// What a new sign-in is for.
#[derive(Clone, Debug)]
pub struct NewLogin<'a> {
    pub username: &'a Username,
    pub secret: &'a Secret,
    pub role: Role,
    pub structure: &'a str,
    pub given_name: &'a str,
    pub family_name: &'a str,
}

/// What a new sign-in gave: the account id, and the secret's hash when we keep it.
#[derive(Clone, Debug)]
pub struct Registered {
    pub account_id: String,
    pub secret_hash: String,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// `builtin` or `keycloak`.
    fn kind(&self) -> &'static str;

    async fn register(&self, login: NewLogin<'_>) -> Result<Registered, ServiceError>;

    /// Replaces the secret; returns the new hash when we keep it.
    async fn set_secret(&self, account: &Account, secret: &Secret) -> Result<String, ServiceError>;

    /// Checks the secret and, if right, issues a token. `account` is `None` for a username
    /// with no account: the check still runs, so the answer takes as long.
    async fn sign_in(
        &self,
        username: &str,
        account: Option<&Account>,
        secret: &str,
    ) -> Result<Option<Token>, ServiceError>;

    async fn remove(&self, account: &Account) -> Result<(), ServiceError>;

    /// A new token for `account`, signed in at `signed_in_at` (kept in the token).
    async fn renew(&self, account: &Account, signed_in_at: i64) -> Result<Token, ServiceError>;

    /// A token for `beneficiary` naming `actor` in `act`, limited to `scope`, valid at most
    /// until `until` (Unix seconds).
    async fn delegate(
        &self,
        beneficiary: &Account,
        actor: &str,
        actor_structure: &str,
        scope: &str,
        until: i64,
        now: i64,
    ) -> Result<Token, ServiceError>;
}

/// Sign-ins kept by Passerelle itself.
#[derive(Clone, Debug)]
pub struct BuiltIn {
    pub issuer: Issuer,
    pub hasher: Hasher,
}

impl BuiltIn {
    fn claims(account: &Account) -> serde_json::Value {
        let role: Role = account.role.into();
        json!({
            "sub": account.id,
            "aud": passerelle_kit::auth::AUDIENCE,
            "azp": "passerelle",
            "preferred_username": account.username.as_str(),
            "realm_access": { "roles": [role.as_str()] },
            "structure": account.structure,
            "scope": "openid",
        })
    }
}

#[async_trait]
impl Provider for BuiltIn {
    fn kind(&self) -> &'static str {
        "builtin"
    }

    async fn register(&self, login: NewLogin<'_>) -> Result<Registered, ServiceError> {
        Ok(Registered {
            account_id: uuid::Uuid::new_v4().to_string(),
            secret_hash: self.hasher.hash(login.secret.expose()).await?,
        })
    }

    async fn set_secret(
        &self,
        _account: &Account,
        secret: &Secret,
    ) -> Result<String, ServiceError> {
        self.hasher.hash(secret.expose()).await
    }

    async fn sign_in(
        &self,
        _username: &str,
        account: Option<&Account>,
        secret: &str,
    ) -> Result<Option<Token>, ServiceError> {
        let hash = account.map_or("", |a| a.secret_hash.as_str());
        if !self.hasher.verify(secret, hash).await? {
            return Ok(None);
        }
        let Some(account) = account else {
            return Ok(None);
        };
        let (access_token, expires_in) = self
            .issuer
            .sign(Self::claims(account), self.issuer.settings().token_ttl)?;
        Ok(Some(Token {
            access_token,
            expires_in,
        }))
    }

    async fn remove(&self, _account: &Account) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn renew(&self, account: &Account, signed_in_at: i64) -> Result<Token, ServiceError> {
        let mut claims = Self::claims(account);
        claims["auth_time"] = json!(signed_in_at);
        let (access_token, expires_in) =
            self.issuer.sign(claims, self.issuer.settings().token_ttl)?;
        Ok(Token {
            access_token,
            expires_in,
        })
    }

    async fn delegate(
        &self,
        beneficiary: &Account,
        actor: &str,
        actor_structure: &str,
        scope: &str,
        until: i64,
        now: i64,
    ) -> Result<Token, ServiceError> {
        let claims = json!({
            "sub": beneficiary.id,
            "aud": passerelle_kit::auth::AUDIENCE,
            "azp": "passerelle",
            // No role: a delegated token is worth only what its mandate allows.
            "realm_access": { "roles": [] },
            "structure": actor_structure,
            "act": { "sub": actor },
            "scope": scope,
        });
        let ttl = (until - now).min(self.issuer.settings().token_ttl).max(1);
        let (access_token, expires_in) = self.issuer.sign(claims, ttl)?;
        Ok(Token {
            access_token,
            expires_in,
        })
    }
}
