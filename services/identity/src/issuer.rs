//! The built-in token issuer of the embedded platform, a stand-in for Keycloak with the same
//! token layout, so services cannot tell them apart.
//!
//! RS256 keys (2048-bit RSA) live in the store, their private half sealed with the master key.
//! A new key is made when the newest is older than the rotation period; tokens are signed with
//! the newest key, and the key set (JWKS) keeps publishing older keys for two rotation
//! periods, so tokens signed before a rotation stay valid until they expire. Replicas reload
//! the key set from the store every minute, so all of them publish a key any of them made.
//!
//! Served over HTTP on the identity port, in Keycloak's URL layout:
//! `<issuer>/.well-known/openid-configuration` and `<issuer>/protocol/openid-connect/certs`.

use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use passerelle_kit::ServiceError;
use passerelle_kit::clock::DynClock;
use passerelle_kit::secrets::MasterKey;
use passerelle_store::{DynStore, Table};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const KEYS_PARTITION: &str = "rs256";

/// How the issuer behaves.
#[derive(Clone, Debug)]
pub struct IssuerSettings {
    /// The `iss` of every token, e.g. `http://127.0.0.1:50052/realms/passerelle`.
    pub issuer: String,
    /// Seconds a sign-in token lives.
    pub token_ttl: i64,
    /// Seconds between two signing keys.
    pub rotation: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    created_at: i64,
    /// PKCS#8 DER of the private key, sealed with the master key (base64).
    sealed_private: String,
    /// The public JWK.
    jwk: Value,
}

/// The signing keys, newest last: partition [`KEYS_PARTITION`], clustered by kid.
const KEYS: Table<StoredKey> = Table::new("issuer_keys");

struct SigningKey {
    kid: String,
    created_at: i64,
    encoding: EncodingKey,
    jwk: Value,
}

/// Signs tokens and publishes its keys.
#[derive(Clone)]
pub struct Issuer {
    settings: IssuerSettings,
    store: DynStore,
    master: MasterKey,
    clock: DynClock,
    // std RwLock: held only to read or swap the list, never across an await.
    keys: Arc<RwLock<Vec<SigningKey>>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.settings.issuer)
            .finish()
    }
}

impl Issuer {
    /// Loads the keys, making the first (or a rotated) one if needed.
    pub async fn open(
        settings: IssuerSettings,
        store: DynStore,
        master: MasterKey,
        clock: DynClock,
    ) -> Result<Self, ServiceError> {
        let issuer = Self {
            settings,
            store,
            master,
            clock,
            keys: Arc::new(RwLock::new(Vec::new())),
        };
        issuer.reload().await?;
        issuer.rotate_if_due().await?;
        Ok(issuer)
    }

    pub fn settings(&self) -> &IssuerSettings {
        &self.settings
    }

    /// Reads the key set from the store.
    pub async fn reload(&self) -> Result<(), ServiceError> {
        let mut loaded = Vec::new();
        for (kid, stored) in KEYS.scan_all(&*self.store, KEYS_PARTITION).await? {
            let sealed = STANDARD
                .decode(&stored.sealed_private)
                .map_err(|e| ServiceError::Internal(format!("issuer key {kid}: {e}")))?;
            let der = self.master.open(&format!("issuer-key:{kid}"), &sealed).map_err(|e| {
                ServiceError::Internal(format!("issuer key {kid}: {e}; is PASSERELLE_MASTER_KEY_FILE the one it was made with?"))
            })?;
            loaded.push(SigningKey {
                kid: stored.kid,
                created_at: stored.created_at,
                encoding: encoding_key(&der),
                jwk: stored.jwk,
            });
        }
        loaded.sort_by_key(|k| k.created_at);
        if let Ok(mut keys) = self.keys.write() {
            *keys = loaded;
        }
        Ok(())
    }

    /// Makes a new signing key when the newest is older than the rotation period.
    pub async fn rotate_if_due(&self) -> Result<bool, ServiceError> {
        let now = self.clock.now();
        let newest = self
            .keys
            .read()
            .ok()
            .and_then(|k| k.last().map(|k| k.created_at));
        if newest.is_some_and(|t| now - t < self.settings.rotation) {
            return Ok(false);
        }
        let (der, jwk_n, jwk_e) = tokio::task::spawn_blocking(|| {
            let key = KeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| ServiceError::Internal("RSA key generation failed".into()))?;
            let der = AsDer::<Pkcs8V1Der<'_>>::as_der(&key)
                .map_err(|_| ServiceError::Internal("RSA key encoding failed".into()))?
                .as_ref()
                .to_vec();
            let public = key.public_key();
            Ok::<_, ServiceError>((
                der,
                URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            ))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("key generation task failed: {e}")))??;
        // Time-ordered ids: the store lists keys oldest first.
        let kid = format!(
            "{now:012}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let stored = StoredKey {
            kid: kid.clone(),
            created_at: now,
            sealed_private: STANDARD.encode(self.master.seal(&format!("issuer-key:{kid}"), &der)?),
            jwk: json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": jwk_n, "e": jwk_e }),
        };
        KEYS.put_if_absent(&*self.store, KEYS_PARTITION, &kid, &stored)
            .await?;
        tracing::info!(kid = %kid, "new token signing key");
        self.reload().await?;
        Ok(true)
    }

    /// Signs `claims` (iss, iat and exp are set here) with the newest key.
    pub fn sign(&self, mut claims: Value, ttl: i64) -> Result<(String, i64), ServiceError> {
        let now = self.clock.now();
        claims["iss"] = json!(self.settings.issuer);
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + ttl);
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        claims["typ"] = json!("Bearer");
        let keys = self
            .keys
            .read()
            .map_err(|_| ServiceError::Internal("issuer keys poisoned".into()))?;
        let key = keys
            .last()
            .ok_or_else(|| ServiceError::Unavailable("the issuer has no signing key yet".into()))?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| ServiceError::Internal(format!("signing failed: {e}")))?;
        Ok((token, ttl))
    }

    /// The published key set: keys younger than two rotation periods (at least the newest).
    pub fn jwks(&self) -> Value {
        let now = self.clock.now();
        let keys = self.keys.read().map(|k| {
            let newest = k.last().map(|k| k.kid.clone());
            k.iter()
                .filter(|k| {
                    now - k.created_at < 2 * self.settings.rotation
                        || Some(&k.kid) == newest.as_ref()
                })
                .map(|k| k.jwk.clone())
                .collect::<Vec<_>>()
        });
        json!({ "keys": keys.unwrap_or_default() })
    }

    /// The OpenID discovery document.
    pub fn discovery(&self) -> Value {
        let issuer = &self.settings.issuer;
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["token"],
            "claims_supported": ["iss", "sub", "azp", "exp", "iat", "jti", "realm_access", "structure", "act", "scope", "preferred_username"],
        })
    }

    /// The HTTP routes publishing discovery and keys under the issuer's path.
    pub fn router(&self) -> axum::Router {
        let path = url_path(&self.settings.issuer);
        let (for_discovery, for_keys) = (self.clone(), self.clone());
        axum::Router::new()
            .route(
                &format!("{path}/.well-known/openid-configuration"),
                axum::routing::get(move || {
                    let issuer = for_discovery.clone();
                    async move { json_response(&issuer.discovery()) }
                }),
            )
            .route(
                &format!("{path}/protocol/openid-connect/certs"),
                axum::routing::get(move || {
                    let issuer = for_keys.clone();
                    async move { json_response(&issuer.jwks()) }
                }),
            )
    }
}

fn encoding_key(pkcs8_der: &[u8]) -> EncodingKey {
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8_der)
    );
    EncodingKey::from_rsa_pem(pem.as_bytes())
        .unwrap_or_else(|_| EncodingKey::from_rsa_der(pkcs8_der))
}

fn json_response(value: &Value) -> impl axum::response::IntoResponse + use<> {
    (
        [
            (http::header::CONTENT_TYPE, "application/json"),
            (http::header::CACHE_CONTROL, "max-age=60"),
        ],
        value.to_string(),
    )
}

/// The path part of an URL (`http://h:1/realms/x` → `/realms/x`).
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_path_is_kept() {
        assert_eq!(
            url_path("http://127.0.0.1:50052/realms/passerelle"),
            "/realms/passerelle"
        );
        assert_eq!(
            url_path("https://sso.example.fr/realms/passerelle/"),
            "/realms/passerelle"
        );
        assert_eq!(url_path("http://h:1"), "");
    }
}
