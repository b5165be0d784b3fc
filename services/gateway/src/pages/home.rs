//! The front door: each person starts where their work is; the language switch; not-found.

use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Deserialize;

use crate::i18n::{LANG_COOKIE, Lang};
use crate::page::{Ctx, safe_next, see_other, set_cookie};

/// `GET /`: beneficiaries to their papers, staff to their desk, others to sign in.
pub async fn index(ctx: Ctx) -> Response {
    match ctx.signed_in() {
        None => see_other("/connexion"),
        Some(session) if session.is_staff() => see_other("/personnes"),
        Some(_) => see_other("/mes-papiers"),
    }
}

#[derive(Deserialize)]
pub struct LanguageQuery {
    l: String,
    retour: Option<String>,
}

/// `GET /langue?l=en&retour=/page`: remembers the language, back to the page.
pub async fn language(ctx: Ctx, Query(query): Query<LanguageQuery>) -> Response {
    let lang = Lang::parse(&query.l).unwrap_or_default();
    let mut response = see_other(&safe_next(query.retour.as_deref()));
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LANG_COOKIE,
            lang.code(),
            Some(365 * 86_400),
            "Lax",
            ctx.app.secure_cookies,
        ),
    );
    response
}

/// `GET /sante`: for the cluster's probes.
pub async fn health() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// Any other address.
pub async fn not_found(ctx: Ctx) -> Response {
    ctx.message(StatusCode::NOT_FOUND, "error-page-not-found", None)
}

/// A page that only answers a form, opened by its address (a bookmark, a reload after the
/// browser forgot the form): said in words, not a blank browser error.
pub async fn from_a_form_only(ctx: Ctx) -> Response {
    ctx.message(StatusCode::METHOD_NOT_ALLOWED, "error-form-only", None)
}
