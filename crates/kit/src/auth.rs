//! Verifying bearer tokens and knowing who is calling.
//!
//! Tokens are RS256 JWTs with Keycloak's claim layout, whether Keycloak or the built-in issuer
//! signed them: `iss`, `sub`, `exp`, `azp`, roles in `realm_access.roles`, plus `structure` (the
//! agent's structure) and `act` (RFC 8693: the agent acting on the subject's behalf).
//! [`JwtVerifier`] checks the signature against the issuer's published keys (JWKS), cached by
//! key id and refetched, at most every [`JWKS_MIN_REFRESH`], when an unknown key id shows up
//! (that is how key rotation reaches us).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use crate::error::ServiceError;
pub use passerelle_core::principal::{Principal, Role};

/// The audience (`aud`) of every token meant for Passerelle's services.
pub const AUDIENCE: &str = "passerelle";

/// The shortest interval between two JWKS fetches, so forged key ids cannot flood the issuer.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Why a token was refused. Each message says what was wrong and what is expected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token: send the header `authorization: Bearer <JWT>`")]
    Missing,
    #[error("malformed authorization header: expected `Bearer <JWT>`")]
    MalformedHeader,
    #[error("malformed token: {0}; expected a JWT signed with RS256")]
    Malformed(String),
    #[error("token algorithm {0} is not accepted: expected RS256")]
    WrongAlgorithm(String),
    #[error("token expired: sign in again for a new one")]
    Expired,
    #[error("token not valid yet (nbf in the future): check the clock")]
    NotYetValid,
    #[error("token signature does not verify: it was not issued by {issuer} or was altered")]
    BadSignature { issuer: String },
    #[error("token signed with unknown key id `{kid}`: not among the keys {issuer} publishes")]
    UnknownKey { kid: String, issuer: String },
    #[error("token issued by `{got}`: expected `{expected}`")]
    WrongIssuer { got: String, expected: String },
    #[error("token audience does not include `{0}`")]
    WrongAudience(String),
    #[error("cannot fetch the issuer's signing keys from {url}: {reason}")]
    JwksUnavailable { url: String, reason: String },
}

impl From<AuthError> for ServiceError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::JwksUnavailable { .. } => ServiceError::Unavailable(err.to_string()),
            other => ServiceError::Unauthenticated(other.to_string()),
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(err: AuthError) -> Self {
        ServiceError::from(err).into()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    realm_access: Option<RealmAccess>,
    #[serde(default)]
    structure: Option<String>,
    #[serde(default)]
    act: Option<Actor>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    auth_time: Option<i64>,
}

#[derive(Deserialize)]
struct RealmAccess {
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
struct Actor {
    sub: String,
}

/// Where the verifier gets the issuer's keys.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A fixed key set (the in-process built-in issuer, tests).
    Static(JwkSet),
    /// A JWKS URL, fetched on first use and whenever an unknown key id appears.
    Remote(String),
}

/// Verifies RS256 bearer tokens of one issuer.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    issuer: String,
    audience: Option<String>,
    source: KeySource,
    http: reqwest::Client,
    // std RwLock: held only to read or swap the map, never across an await.
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.inner.issuer)
            .finish()
    }
}

fn keys_of(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            // Keys for other uses (encryption) or algorithms do not verify RS256 tokens.
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

impl JwtVerifier {
    pub fn new(issuer: impl Into<String>, audience: Option<String>, source: KeySource) -> Self {
        let keys = match &source {
            KeySource::Static(set) => keys_of(set),
            KeySource::Remote(_) => HashMap::new(),
        };
        crate::server::install_crypto_provider();
        Self {
            inner: Arc::new(VerifierInner {
                issuer: issuer.into(),
                audience,
                source,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
                keys: RwLock::new(keys),
                last_fetch: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Fetches keys trusting the certificate authority in `ca` (a PEM file) too: an issuer
    /// served over TLS with the city's own CA.
    pub fn trusting(
        self,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let Some(ca) = ca else {
            return Ok(self);
        };
        let path = ca.display().to_string();
        let pem = std::fs::read(ca).map_err(|e| ConfigError::TlsFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let certificate =
            reqwest::Certificate::from_pem(&pem).map_err(|e| ConfigError::NotPem {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .add_root_certificate(certificate)
            .build()
            .map_err(|e| ConfigError::Tls {
                target: path.clone(),
                reason: e.to_string(),
            })?;
        let inner = &self.inner;
        let keys = match &inner.source {
            KeySource::Static(set) => keys_of(set),
            KeySource::Remote(_) => HashMap::new(),
        };
        Ok(Self {
            inner: Arc::new(VerifierInner {
                issuer: inner.issuer.clone(),
                audience: inner.audience.clone(),
                source: inner.source.clone(),
                http,
                keys: RwLock::new(keys),
                last_fetch: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// A verifier for Keycloak's realm URL layout: keys at `<issuer>/protocol/openid-connect/certs`.
    pub fn for_issuer(issuer: &str, jwks_url: Option<&str>, audience: Option<String>) -> Self {
        let url = jwks_url.map_or_else(
            || {
                format!(
                    "{}/protocol/openid-connect/certs",
                    issuer.trim_end_matches('/')
                )
            },
            str::to_owned,
        );
        Self::new(issuer, audience, KeySource::Remote(url))
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Verifies an `authorization` header value (`Bearer <JWT>`).
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::MalformedHeader)?;
        self.verify(token.trim()).await
    }

    /// Verifies a token and returns who it names.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::WrongAlgorithm(format!("{:?}", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Malformed("the header has no key id (kid)".into()))?;
        let key = match self.cached_key(&kid) {
            Some(key) => key,
            None => {
                self.refresh().await?;
                self.cached_key(&kid).ok_or_else(|| AuthError::UnknownKey {
                    kid: kid.clone(),
                    issuer: self.inner.issuer.clone(),
                })?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        match &self.inner.audience {
            Some(aud) => {
                // Required, not only checked when present: a token with no audience at all
                // is not one meant for us.
                validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
                validation.set_audience(&[aud]);
            }
            None => {
                validation.set_required_spec_claims(&["exp", "sub", "iss"]);
                validation.validate_aud = false;
            }
        }
        // The issuer is compared below, to say which one the token named.
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature => AuthError::BadSignature {
                    issuer: self.inner.issuer.clone(),
                },
                ErrorKind::InvalidAudience => {
                    AuthError::WrongAudience(self.inner.audience.clone().unwrap_or_default())
                }
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                    AuthError::WrongAudience(self.inner.audience.clone().unwrap_or_default())
                }
                _ => AuthError::Malformed(e.to_string()),
            }
        })?;
        let claims = data.claims;
        if claims.iss != self.inner.issuer {
            return Err(AuthError::WrongIssuer {
                got: claims.iss,
                expected: self.inner.issuer.clone(),
            });
        }
        let mut roles: Vec<Role> = claims
            .realm_access
            .map(|r| r.roles)
            .unwrap_or_default()
            .iter()
            .filter_map(|r| Role::parse(r))
            .collect();
        roles.sort();
        roles.dedup();
        Ok(Principal {
            subject: claims.sub,
            roles,
            structure: claims.structure,
            actor: claims.act.map(|a| a.sub),
            client: claims.azp,
            token_id: claims.jti,
            scopes: claims
                .scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            signed_in_at: claims.auth_time.or(claims.iat),
        })
    }

    fn cached_key(&self, kid: &str) -> Option<DecodingKey> {
        self.inner.keys.read().ok()?.get(kid).cloned()
    }

    /// Refetches the key set, unless it was fetched less than [`JWKS_MIN_REFRESH`] ago.
    async fn refresh(&self) -> Result<(), AuthError> {
        let KeySource::Remote(url) = &self.inner.source else {
            return Ok(());
        };
        let mut last = self.inner.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_MIN_REFRESH) {
            return Ok(());
        }
        let unavailable = |reason: String| AuthError::JwksUnavailable {
            url: url.clone(),
            reason,
        };
        let set: JwkSet = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(format!("not a JWKS document: {e}")))?;
        *last = Some(Instant::now());
        let keys = keys_of(&set);
        tracing::info!(keys = keys.len(), "fetched the issuer's signing keys");
        if let Ok(mut cached) = self.inner.keys.write() {
            *cached = keys;
        }
        Ok(())
    }
}
