//! Signing in with a username and a password or a 6-digit PIN (checked by the identity
//! service, which counts every attempt by name and by the person's address), and signing out
//! — of this browser, or of every device at once.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::response::Response;
use http::{StatusCode, header};
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;
use tonic::Code;

use crate::page::{Chrome, Ctx, safe_next, see_other, session_cookie, set_cookie, wait_seconds};
use crate::pages::CsrfOnly;
use crate::session::{NewSession, Session};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    next: String,
    username: String,
    /// A sentence saying why the last try failed.
    problem: Option<String>,
    /// Sign-in goes through the city's identity provider (Keycloak).
    oidc: bool,
    /// The large PIN pad instead of a password field.
    pin: bool,
    /// Just signed out.
    bye: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    suite: Option<String>,
    #[serde(rename = "au-revoir")]
    bye: Option<String>,
}

fn page(
    ctx: &Ctx,
    next: &str,
    username: &str,
    problem: Option<String>,
    pin: bool,
    bye: bool,
) -> SignInPage {
    SignInPage {
        chrome: ctx.chrome(if pin { "pin-title" } else { "sign-in-title" }),
        next: next.to_owned(),
        username: username.to_owned(),
        problem,
        oidc: ctx.app.oidc.is_some(),
        pin,
        bye,
    }
}

/// `GET /connexion`.
pub async fn form(ctx: Ctx, Query(query): Query<SignInQuery>) -> Response {
    let next = safe_next(query.suite.as_deref());
    if ctx.signed_in().is_some() {
        return see_other(&next);
    }
    ctx.html(&page(&ctx, &next, "", None, false, query.bye.is_some()))
}

/// `GET /connexion/code`: the same, with large keys for a 6-digit code.
pub async fn pin_form(ctx: Ctx, Query(query): Query<SignInQuery>) -> Response {
    let next = safe_next(query.suite.as_deref());
    if ctx.signed_in().is_some() {
        return see_other(&next);
    }
    ctx.html(&page(&ctx, &next, "", None, true, false))
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    suite: String,
    #[serde(default)]
    pin: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /connexion`.
pub async fn submit(ctx: Ctx, Form(form): Form<SignInForm>) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let next = safe_next(Some(&form.suite));
    let pin = !form.pin.is_empty();
    let again = |ctx: &Ctx, status: StatusCode, problem: String| {
        ctx.html_with(
            status,
            &page(ctx, &next, &form.username, Some(problem), pin, false),
        )
    };
    if form.username.trim().is_empty() || form.secret.is_empty() {
        return again(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.tr.t("sign-in-missing"),
        );
    }
    let token = match ctx
        .app
        .backend
        .identity(None, &ctx.client)
        .login(id::LoginRequest {
            username: form.username.trim().to_owned(),
            secret: form.secret.clone(),
        })
        .await
    {
        Ok(reply) => reply.into_inner(),
        Err(status) if status.code() == Code::Unauthenticated => {
            return again(&ctx, StatusCode::UNAUTHORIZED, ctx.tr.t("sign-in-wrong"));
        }
        Err(status) if status.code() == Code::ResourceExhausted => {
            let minutes = wait_seconds(status.message()).map_or(1, |s| (s + 59) / 60);
            return again(
                &ctx,
                StatusCode::TOO_MANY_REQUESTS,
                ctx.tr.n("sign-in-wait", "minutes", minutes),
            );
        }
        Err(status) => return ctx.failure(&status),
    };
    open_session(
        &ctx,
        token.access_token,
        token.expires_in_seconds,
        None,
        &next,
    )
    .await
}

/// Opens a session for a token just issued, then goes to `next`.
pub async fn open_session(
    ctx: &Ctx,
    token: String,
    expires_in: i64,
    refresh_token: Option<String>,
    next: &str,
) -> Response {
    let Some(verifier) = &ctx.app.verifier else {
        tracing::error!("the web front trusts no token issuer: set PASSERELLE_ISSUER");
        return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
    };
    let principal = match verifier.verify(&token).await {
        Ok(principal) => principal,
        Err(e) => {
            tracing::error!(error = %e, "a token just issued does not verify");
            return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
        }
    };
    let account = match ctx
        .app
        .backend
        .identity(Some(&token), &ctx.client)
        .get_account(id::GetAccountRequest {
            account_id: principal.subject.clone(),
        })
        .await
    {
        Ok(account) => account.into_inner(),
        Err(status) => return ctx.failure(&status),
    };
    let now = ctx.app.clock.now();
    let opened = ctx
        .app
        .sessions
        .create(NewSession {
            subject: principal.subject.clone(),
            username: account.username,
            roles: principal
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            structure: principal.structure.clone(),
            token,
            token_expires_at: now + expires_in,
            refresh_token,
            signed_in_at: principal.signed_in_at.unwrap_or(now),
        })
        .await;
    let (id, _) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(error = %e, "a session could not be opened");
            return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
        }
    };
    tracing::info!(account_id = %principal.subject, "signed in on the web front");
    let mut response = see_other(next);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session_cookie(ctx.app.secure_cookies),
            &id,
            None,
            "Lax",
            ctx.app.secure_cookies,
        ),
    );
    response
}

/// The response that ends this browser's session: the cookie cleared, back to sign-in.
fn signed_out(ctx: &Ctx) -> Response {
    let mut response = see_other("/connexion?au-revoir=1");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session_cookie(ctx.app.secure_cookies),
            "",
            Some(0),
            "Lax",
            ctx.app.secure_cookies,
        ),
    );
    // The browser forgets what it kept of the pages too (shared computers).
    response.headers_mut().insert(
        http::HeaderName::from_static("clear-site-data"),
        http::HeaderValue::from_static("\"cache\""),
    );
    response
}

/// `POST /deconnexion`: "Je termine".
pub async fn sign_out(ctx: Ctx, Form(form): Form<CsrfOnly>) -> Response {
    let Some((id, session)) = &ctx.session else {
        return signed_out(&ctx);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    if let Err(e) = ctx.app.sessions.end(id).await {
        tracing::warn!(error = %e, "a session could not be ended");
        return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None);
    }
    end_at_provider(&ctx, session).await;
    signed_out(&ctx)
}

/// With Keycloak, the provider's session ends with the web session.
async fn end_at_provider(ctx: &Ctx, session: &Session) {
    if let (Some(oidc), Some(refresh)) = (&ctx.app.oidc, &session.refresh_token) {
        oidc.end(refresh).await;
    }
}

/// `POST /deconnexion/partout`: every device signed out at once.
pub async fn sign_out_everywhere(ctx: Ctx, Form(form): Form<CsrfOnly>) -> Response {
    let Some((_, session)) = &ctx.session else {
        return signed_out(&ctx);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    match ctx.app.sessions.end_all(&session.subject).await {
        Ok(ended) => {
            tracing::info!(account_id = %session.subject, sessions = ended, "signed out everywhere");
            end_at_provider(&ctx, session).await;
            signed_out(&ctx)
        }
        Err(e) => {
            tracing::warn!(error = %e, "sessions could not be ended");
            ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None)
        }
    }
}
