//! Signing in through the city's identity provider (Keycloak) with OpenID Connect: the
//! authorization code flow with PKCE. The browser is sent to the provider's own login page
//! with a one-time `state` (also kept in a cookie, so nobody can finish a sign-in started in
//! another browser) and a code challenge; the provider sends it back with a code, which the web
//! front exchanges, with its client secret and the code verifier, for tokens. The access token
//! is then verified like any other (issuer, signature, audience) before a session opens.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{StatusCode, header};
use passerelle_kit::ServiceError;
use passerelle_store::Table;
use serde::{Deserialize, Serialize};

use crate::page::{Ctx, cookie, safe_next, see_other, set_cookie};
use crate::session::random_token;

/// The web front's client at an OpenID Connect issuer.
#[derive(Clone)]
pub struct Oidc {
    /// e.g. `http://127.0.0.1:18080/realms/passerelle`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
    /// Where a session at the provider ends (RP-initiated logout; Keycloak also takes the
    /// refresh token there, from a confidential client, without the browser).
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

/// Tokens from the issuer's token endpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A sign-in under way: partition = the `state`'s SHA-256.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    verifier: String,
    next: String,
}

const PENDING: Table<Pending> = Table::new("web_oidc_pending").with_ttl(Duration::from_secs(600));
/// Binds a sign-in to the browser that started it.
const STATE_COOKIE: &str = "passerelle_oidc";

/// Talks to the issuer.
#[derive(Clone)]
pub struct OidcClient {
    settings: Oidc,
    redirect_uri: String,
    http: reqwest::Client,
    endpoints: Arc<tokio::sync::OnceCell<Endpoints>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("settings", &self.settings)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl OidcClient {
    pub fn new(
        settings: Oidc,
        web_url: url::Url,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, ServiceError> {
        passerelle_kit::server::install_crypto_provider();
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|e| {
                ServiceError::invalid(format!(
                    "cannot read the TLS authority {}: {e}",
                    ca.display()
                ))
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                ServiceError::invalid(format!("{} is not a PEM certificate: {e}", ca.display()))
            })?;
            http = http.add_root_certificate(certificate);
        }
        Ok(Self {
            redirect_uri: format!(
                "{}/connexion/retour",
                web_url.as_str().trim_end_matches('/')
            ),
            settings,
            http: http.build().map_err(ServiceError::internal)?,
            endpoints: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    async fn endpoints(&self) -> Result<&Endpoints, String> {
        self.endpoints
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
                self.http
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| format!("{url}: {e}"))?
                    .json::<Endpoints>()
                    .await
                    .map_err(|e| format!("{url}: {e}"))
            })
            .await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<Tokens, String> {
        let endpoint = self.endpoints().await?.token_endpoint.clone();
        let response = self
            .http
            .post(&endpoint)
            .basic_auth(&self.settings.client_id, Some(&self.settings.client_secret))
            .form(form)
            .send()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{endpoint} answered {status}"));
        }
        response
            .json::<Tokens>()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))
    }

    /// Ends the person's session at the provider too, so that on a shared computer the next
    /// person who clicks "sign in" meets the provider's login form, not the previous person's
    /// session. Failures are logged: the web session ends regardless.
    pub async fn end(&self, refresh_token: &str) {
        let endpoint = match self.endpoints().await {
            Ok(Endpoints {
                end_session_endpoint: Some(endpoint),
                ..
            }) => endpoint.clone(),
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the provider's session could not be ended");
                return;
            }
        };
        let sent = self
            .http
            .post(&endpoint)
            .basic_auth(&self.settings.client_id, Some(&self.settings.client_secret))
            .form(&[("refresh_token", refresh_token)])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        if let Err(e) = sent {
            tracing::warn!(error = %e, "the provider's session could not be ended");
        }
    }

    /// New tokens for a refresh token; `Err` ends the session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ()> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
        .map_err(|e| tracing::info!(error = %e, "a session was not refreshed"))
    }
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    suite: Option<String>,
}

/// `GET /connexion/oidc`: off to the issuer's login page.
pub async fn start(ctx: Ctx, Query(query): Query<StartQuery>) -> Response {
    let Some(oidc) = &ctx.app.oidc else {
        return see_other("/connexion");
    };
    let endpoints = match oidc.endpoints().await {
        Ok(endpoints) => endpoints,
        Err(e) => {
            tracing::warn!(error = %e, "the identity provider cannot be reached");
            return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
        }
    };
    let (Ok(state), Ok(verifier)) = (random_token(), random_token()) else {
        return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
    };
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    let pending = Pending {
        verifier,
        next: safe_next(query.suite.as_deref()),
    };
    if let Err(e) = PENDING
        .put(&*ctx.app.store, &sha256_hex(&state), "", &pending)
        .await
    {
        tracing::warn!(error = %e, "a sign-in could not be started");
        return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
    }
    let mut url = match url::Url::parse(&endpoints.authorization_endpoint) {
        Ok(url) => url,
        Err(_) => return ctx.message(StatusCode::BAD_GATEWAY, "error-unavailable", None),
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.settings.client_id)
        .append_pair("redirect_uri", &oidc.redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("ui_locales", ctx.tr.lang());
    let mut response = see_other(url.as_str());
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            STATE_COOKIE,
            &state,
            Some(600),
            "Lax",
            ctx.app.secure_cookies,
        ),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /connexion/retour?code=…&state=…`: back from the issuer.
pub async fn callback(
    ctx: Ctx,
    headers: http::HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = ctx.app.oidc.clone() else {
        return see_other("/connexion");
    };
    if let Some(error) = &query.error {
        tracing::info!(error = %error, "the identity provider refused a sign-in");
        return see_other("/connexion");
    }
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return ctx.message(StatusCode::BAD_REQUEST, "error-form-expired", None);
    };
    // Started in this browser, and not already finished.
    let started_here =
        cookie(&headers, STATE_COOKIE).is_some_and(|c| crate::session::same_token(&c, &state));
    let key = sha256_hex(&state);
    let pending = match PENDING.get(&*ctx.app.store, &key, "").await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in could not be read");
            return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
        }
    };
    let _ = ctx.app.store.delete(PENDING.name(), &key, "").await;
    let (Some(pending), true) = (pending, started_here) else {
        return ctx.message(StatusCode::BAD_REQUEST, "error-form-expired", None);
    };
    let tokens = match oidc
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &oidc.redirect_uri),
            ("code_verifier", &pending.verifier),
        ])
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in code was not exchanged");
            return ctx.message(StatusCode::BAD_GATEWAY, "error-unavailable", None);
        }
    };
    let mut response = crate::pages::sign_in::open_session(
        &ctx,
        tokens.access_token,
        tokens.expires_in,
        tokens.refresh_token,
        &pending.next,
    )
    .await;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(STATE_COOKIE, "", Some(0), "Lax", ctx.app.secure_cookies),
    );
    response
}
