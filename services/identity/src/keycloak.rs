//! Keycloak as the identity provider, for cities that run it (`--idp keycloak://…`).
//!
//! Accounts are Keycloak users of the Passerelle realm (`deploy/keycloak/passerelle-realm.json`),
//! provisioned through the admin REST API with the `keycloak` crate by the confidential client
//! `passerelle-identity` (a service account allowed to manage users): the role becomes a realm
//! role, the structure a group and the `structure` attribute (which the realm maps into the
//! tokens' `structure` claim). Sign-in uses the realm's token endpoint (password grant of the
//! public client `passerelle-app`), so tokens are Keycloak's and every service verifies them
//! against Keycloak's keys. Passerelle's own records (mandates, recovery codes, audit trail)
//! stay in Passerelle's store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use keycloak::types::{CredentialRepresentation, GroupRepresentation, UserRepresentation};
use keycloak::{KeycloakAdmin, KeycloakError, KeycloakTokenSupplier};
use passerelle_kit::ServiceError;

use crate::error::SetupError;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::domain::{Account, Secret};
use crate::provider::{NewLogin, Provider, Registered, Token};

/// Where Keycloak is and how to talk to it.
#[derive(Clone)]
pub struct KeycloakSettings {
    /// Base URL, e.g. `http://127.0.0.1:18080`.
    pub base_url: String,
    pub realm: String,
    /// The service-account client that manages users.
    pub admin_client: String,
    pub admin_secret: String,
    /// The public client people sign in through.
    pub login_client: String,
}

impl std::fmt::Debug for KeycloakSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeycloakSettings")
            .field("base_url", &self.base_url)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl KeycloakSettings {
    /// Parses `keycloak://HOST:PORT/realms/REALM` (or `keycloaks://` for HTTPS).
    pub fn parse(url: &str, admin_secret: String) -> Result<Self, SetupError> {
        let invalid = |reason: &'static str| SetupError::ProviderUrl {
            url: url.to_owned(),
            reason,
        };
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("keycloak://") {
            ("http", rest)
        } else if let Some(rest) = url.strip_prefix("keycloaks://") {
            ("https", rest)
        } else {
            return Err(invalid("unknown scheme"));
        };
        let (host, path) = rest
            .split_once("/realms/")
            .ok_or_else(|| invalid("the realm is missing"))?;
        let realm = path.trim_end_matches('/');
        if host.is_empty() || realm.is_empty() || realm.contains('/') {
            return Err(invalid("the host or realm is empty"));
        }
        if admin_secret.is_empty() {
            return Err(SetupError::NoClientSecret);
        }
        Ok(Self {
            base_url: format!("{scheme}://{host}"),
            realm: realm.to_owned(),
            admin_client: "passerelle-identity".into(),
            admin_secret,
            login_client: "passerelle-app".into(),
        })
    }

    /// The realm's issuer URL, the `iss` of its tokens.
    pub fn issuer(&self) -> String {
        format!("{}/realms/{}", self.base_url, self.realm)
    }
}

/// Keeps the service account's token until shortly before it expires.
struct CachedToken {
    settings: KeycloakSettings,
    http: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: i64,
}

#[async_trait]
impl KeycloakTokenSupplier for CachedToken {
    async fn get(&self, _url: &str) -> Result<String, KeycloakError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(format!(
                "{}/protocol/openid-connect/token",
                self.settings.issuer()
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.settings.admin_client.as_str()),
                ("client_secret", self.settings.admin_secret.as_str()),
            ])
            .send()
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            return Err(KeycloakError::HttpFailure {
                status,
                body: None,
                text,
            });
        }
        let reply: TokenReply = response.json().await?;
        let until = Instant::now()
            + Duration::from_secs(reply.expires_in.saturating_sub(10).clamp(1, 86_400) as u64);
        *cached = Some((reply.access_token.clone(), until));
        Ok(reply.access_token)
    }
}

/// Sign-ins kept by Keycloak.
pub struct KeycloakProvider {
    settings: KeycloakSettings,
    admin: KeycloakAdmin<CachedTokenRef>,
    http: reqwest::Client,
}

/// `KeycloakAdmin` owns its supplier; this shares ours.
pub struct CachedTokenRef(Arc<CachedToken>);

#[async_trait]
impl KeycloakTokenSupplier for CachedTokenRef {
    async fn get(&self, url: &str) -> Result<String, KeycloakError> {
        self.0.get(url).await
    }
}

impl std::fmt::Debug for KeycloakProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeycloakProvider")
            .field("settings", &self.settings)
            .finish()
    }
}

fn unavailable(settings: &KeycloakSettings, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Unavailable(format!("Keycloak at {} failed: {e}", settings.issuer()))
}

fn status_of(e: &KeycloakError) -> Option<u16> {
    match e {
        KeycloakError::HttpFailure { status, .. } => Some(*status),
        KeycloakError::ReqwestFailure(_) => None,
    }
}

impl KeycloakProvider {
    /// Connects, and checks the service account works, so a wrong secret fails at start-up.
    pub async fn connect(settings: KeycloakSettings) -> Result<Self, ServiceError> {
        passerelle_kit::server::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let supplier = Arc::new(CachedToken {
            settings: settings.clone(),
            http: http.clone(),
            cached: Mutex::new(None),
        });
        supplier.get(&settings.base_url).await.map_err(|e| {
            ServiceError::Unavailable(format!(
                "cannot sign in to Keycloak at {} as {}: {e}; check the URL and PASSERELLE_KEYCLOAK_CLIENT_SECRET",
                settings.issuer(),
                settings.admin_client
            ))
        })?;
        let admin = KeycloakAdmin::new(&settings.base_url, CachedTokenRef(supplier), http.clone());
        Ok(Self {
            settings,
            admin,
            http,
        })
    }

    /// The id of the group for `structure`, created if missing.
    async fn group(&self, structure: &str) -> Result<String, ServiceError> {
        let realm = &self.settings.realm;
        let find = || async {
            self.admin
                .realm_groups_get(
                    realm,
                    Some(true),
                    Some(true),
                    None,
                    None,
                    None,
                    None,
                    Some(structure.to_owned()),
                    None,
                )
                .await
                .map_err(|e| unavailable(&self.settings, e))
                .map(|groups| {
                    groups
                        .iter()
                        .find(|g| g.name.as_deref() == Some(structure))
                        .and_then(|g| g.id.clone())
                })
        };
        if let Some(id) = find().await? {
            return Ok(id.to_string());
        }
        let created = self
            .admin
            .realm_groups_post(
                realm,
                GroupRepresentation {
                    name: Some(structure.into()),
                    ..Default::default()
                },
            )
            .await;
        match created {
            Ok(response) => {
                if let Some(id) = response.to_id() {
                    return Ok(id.to_owned());
                }
            }
            // Another replica made it at the same moment.
            Err(e) if status_of(&e) == Some(409) => {}
            Err(e) => return Err(unavailable(&self.settings, e)),
        }
        find()
            .await?
            .map(|id| id.to_string())
            .ok_or_else(|| unavailable(&self.settings, format!("group {structure} vanished")))
    }
}

fn password(secret: &Secret) -> CredentialRepresentation {
    CredentialRepresentation {
        type_: Some("password".into()),
        value: Some(secret.expose().into()),
        temporary: Some(false),
        ..Default::default()
    }
}

#[async_trait]
impl Provider for KeycloakProvider {
    fn kind(&self) -> &'static str {
        "keycloak"
    }

    async fn register(&self, login: NewLogin<'_>) -> Result<Registered, ServiceError> {
        let realm = &self.settings.realm;
        let mut attributes = std::collections::HashMap::new();
        attributes.insert("structure".to_owned(), vec![login.structure.to_owned()]);
        let user = UserRepresentation {
            username: Some(login.username.as_str().into()),
            enabled: Some(true),
            first_name: Some(login.given_name.into()),
            last_name: Some(login.family_name.into()),
            attributes: Some(attributes),
            credentials: Some(vec![password(login.secret)]),
            ..Default::default()
        };
        let response =
            self.admin
                .realm_users_post(realm, user)
                .await
                .map_err(|e| match status_of(&e) {
                    Some(409) => ServiceError::AlreadyExists(format!(
                        "username `{}` is taken in Keycloak: choose another",
                        login.username
                    )),
                    _ => unavailable(&self.settings, e),
                })?;
        let id = response
            .to_id()
            .ok_or_else(|| unavailable(&self.settings, "no user id in the answer"))?
            .to_owned();
        let role = self
            .admin
            .realm_roles_with_role_name_get(realm, login.role.as_str())
            .await
            .map_err(|e| unavailable(&self.settings, format!("realm role {}: {e}", login.role)))?;
        self.admin
            .realm_users_with_user_id_role_mappings_realm_post(realm, &id, vec![role])
            .await
            .map_err(|e| unavailable(&self.settings, e))?;
        let group = self.group(login.structure).await?;
        self.admin
            .realm_users_with_user_id_groups_with_group_id_put(realm, &id, &group)
            .await
            .map_err(|e| unavailable(&self.settings, e))?;
        Ok(Registered {
            account_id: id,
            secret_hash: String::new(),
        })
    }

    async fn set_secret(&self, account: &Account, secret: &Secret) -> Result<String, ServiceError> {
        self.admin
            .realm_users_with_user_id_reset_password_put(
                &self.settings.realm,
                &account.id,
                password(secret),
            )
            .await
            .map_err(|e| unavailable(&self.settings, e))?;
        Ok(String::new())
    }

    async fn sign_in(
        &self,
        username: &str,
        _account: Option<&Account>,
        secret: &str,
    ) -> Result<Option<Token>, ServiceError> {
        // Asked even when the name is unknown here: Keycloak answers "invalid_grant" either way.
        let response = self
            .http
            .post(format!(
                "{}/protocol/openid-connect/token",
                self.settings.issuer()
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", self.settings.login_client.as_str()),
                ("username", username),
                ("password", secret),
                ("scope", "openid"),
            ])
            .send()
            .await
            .map_err(|e| unavailable(&self.settings, e))?;
        match response.status().as_u16() {
            200 => {
                let reply: TokenReply = response
                    .json()
                    .await
                    .map_err(|e| unavailable(&self.settings, e))?;
                Ok(Some(Token {
                    access_token: reply.access_token,
                    expires_in: reply.expires_in,
                }))
            }
            400 | 401 => Ok(None),
            status => Err(unavailable(
                &self.settings,
                format!("token endpoint answered {status}"),
            )),
        }
    }

    async fn renew(&self, _account: &Account, _signed_in_at: i64) -> Result<Token, ServiceError> {
        Err(ServiceError::FailedPrecondition(
            "tokens are Keycloak's: renew them with Keycloak's refresh token".into(),
        ))
    }

    async fn remove(&self, account: &Account) -> Result<(), ServiceError> {
        match self
            .admin
            .realm_users_with_user_id_delete(&self.settings.realm, &account.id)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(unavailable(&self.settings, e)),
        }
    }

    async fn delegate(
        &self,
        _beneficiary: &Account,
        _actor: &str,
        _actor_structure: &str,
        _scope: &str,
        _until: i64,
        _now: i64,
    ) -> Result<Token, ServiceError> {
        Err(ServiceError::FailedPrecondition(
            "delegated tokens come from the built-in issuer; with Keycloak, call services with your own token and name the person: the mandate is checked the same way".into(),
        ))
    }
}
