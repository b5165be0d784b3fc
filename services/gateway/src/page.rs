//! What every page shares: who asks and in which language ([`Ctx`], built for each request),
//! the layout's data ([`Chrome`]), a form's CSRF check, and services' errors turned into
//! sentences — never a status code or a trace.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::response::{IntoResponse, Redirect, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use passerelle_proto::identity::v1 as id;
use tonic::Code;

use crate::i18n::{Lang, Tr};
use crate::run::App;
use crate::session::{Session, random_token, same_token};

/// The session cookie's name: `__Host-` over https (the browser then refuses it from anywhere
/// but this origin, and without `Secure`).
pub fn session_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-passerelle"
    } else {
        "passerelle_session"
    }
}

/// The anonymous forms' CSRF cookie (sign-in, share codes).
const CSRF_COOKIE: &str = "passerelle_csrf";

/// A token renewed when it has less than this left, in seconds.
const RENEW_BEFORE: i64 = 120;

/// The value of cookie `name` in a request's headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite, Path=/, Secure over https.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<u64>,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Where to go after signing in: a path of this site only (`/…`, never `//other.site`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.contains("://")
                && path.len() < 512 =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `303 See Other` to `location`: after a form, the browser fetches the next page with GET.
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// The layout's data: title, language, who is signed in, the form token, the assets.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub tr: Tr,
    pub title: String,
    /// The username of who is signed in.
    pub user: Option<String>,
    pub staff: bool,
    /// A manager or an admin: staff accounts.
    pub manager: bool,
    /// An admin: the registry of structures.
    pub admin: bool,
    /// The CSRF token every form of this page carries.
    pub csrf: String,
    /// Seconds of inactivity before the session ends (the countdown), when signed in.
    pub idle_seconds: u64,
    /// The same page in the other language.
    pub switch_url: String,
    pub other_language: String,
    pub css: &'static str,
    pub js: &'static str,
    pub icons: &'static str,
}

/// Who asks, in which language, from where: built for every request.
pub struct Ctx {
    pub app: App,
    pub tr: Tr,
    /// This request's path and query (to come back to after signing in).
    pub path: String,
    /// The person's address (through trusted proxies), sent on to the services.
    pub client: String,
    /// The session id (from the cookie) and the session, when signed in.
    pub session: Option<(String, Session)>,
    /// The anonymous CSRF token, and whether it is new (its cookie to be set).
    anonymous_csrf: (String, bool),
}

impl<S> FromRequestParts<S> for Ctx
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let app = App::from_ref(state);
        let tr = Tr(Lang::of(&parts.headers));
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client =
            passerelle_kit::net::resolve(peer, &forwarded, &app.trusted_proxies).to_string();
        let session = match cookie(&parts.headers, session_cookie(app.secure_cookies)) {
            None => None,
            Some(id) => match app.sessions.load(&id).await {
                Ok(Some(mut session)) => {
                    if let Err(e) = app.sessions.touch(&id, &mut session).await {
                        tracing::warn!(error = %e, "a session could not be touched");
                    }
                    renew(&app, &client, &id, session)
                        .await
                        .map(|session| (id, session))
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "sessions cannot be read");
                    return Err(unavailable_page(tr));
                }
            },
        };
        let anonymous_csrf = match cookie(&parts.headers, CSRF_COOKIE) {
            Some(token) if token.len() >= 32 => (token, false),
            _ => (random_token().map_err(|_| unavailable_page(tr))?, true),
        };
        Ok(Self {
            app,
            tr,
            path,
            client,
            session,
            anonymous_csrf,
        })
    }
}

/// The session with a token good for a few more minutes: renewed when it is about to end;
/// `None` when it cannot be (the account is gone, the sign-in too old).
async fn renew(app: &App, client: &str, id: &str, mut session: Session) -> Option<Session> {
    let now = app.clock.now();
    if session.token_expires_at - now > RENEW_BEFORE {
        return Some(session);
    }
    let renewed = match &session.refresh_token {
        Some(refresh) => match &app.oidc {
            Some(oidc) => oidc
                .refresh(refresh)
                .await
                .map(|t| (t.access_token, t.expires_in, t.refresh_token)),
            None => Err(()),
        },
        None => app
            .backend
            .identity(Some(&session.token), client)
            .renew_token(id::RenewTokenRequest {})
            .await
            .map(|r| {
                let r = r.into_inner();
                (r.access_token, r.expires_in_seconds, None)
            })
            .map_err(|status| {
                tracing::info!(code = ?status.code(), "a session's token was not renewed");
            }),
    };
    match renewed {
        Ok((token, expires_in, refresh)) => {
            session.token = token;
            session.token_expires_at = now + expires_in;
            if refresh.is_some() {
                session.refresh_token = refresh;
            }
            if let Err(e) = app.sessions.save(id, &session).await {
                tracing::warn!(error = %e, "a renewed session could not be saved");
            }
            Some(session)
        }
        Err(()) => {
            let _ = app.sessions.end(id).await;
            None
        }
    }
}

fn unavailable_page(tr: Tr) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, tr.t("error-unavailable")).into_response()
}

impl Ctx {
    /// The signed-in person's token.
    pub fn token(&self) -> Option<&str> {
        self.session.as_ref().map(|(_, s)| s.token.as_str())
    }

    pub fn signed_in(&self) -> Option<&Session> {
        self.session.as_ref().map(|(_, s)| s)
    }

    /// The identity service, as the signed-in person (or nobody) from this browser's address.
    pub fn identity(&self) -> crate::backend::Identity {
        self.app.backend.identity(self.token(), &self.client)
    }

    /// The vault, as the signed-in person from this browser's address.
    pub fn vault(&self) -> crate::backend::Vault {
        self.app.backend.vault(self.token(), &self.client)
    }

    /// The registered structures, by name (none when the identity service cannot say: pages
    /// then show ids).
    pub async fn structures(&self) -> Vec<id::Structure> {
        match self
            .identity()
            .list_structures(id::ListStructuresRequest {})
            .await
        {
            Ok(reply) => reply.into_inner().structures,
            Err(status) => {
                tracing::warn!(%status, "structures not listed");
                Vec::new()
            }
        }
    }

    /// The name people read for structure `id` (the id when the registry has no name).
    pub async fn structure_name(&self, structure: &str) -> String {
        self.structures()
            .await
            .into_iter()
            .find(|s| s.id == structure)
            .map_or_else(|| structure.to_owned(), |s| s.display_name)
    }

    /// The CSRF token this page's forms carry.
    pub fn csrf(&self) -> &str {
        match &self.session {
            Some((_, session)) => &session.csrf,
            None => &self.anonymous_csrf.0,
        }
    }

    /// Whether a posted form carries this session's (or this browser's) CSRF token.
    pub fn csrf_ok(&self, posted: &str) -> bool {
        !posted.is_empty() && same_token(posted, self.csrf())
    }

    /// The layout's data for a page titled by message `title`.
    pub fn chrome(&self, title: &str) -> Chrome {
        let other = self.tr.0.other();
        let signed_in = self.signed_in();
        Chrome {
            tr: self.tr,
            title: self.tr.t(title),
            user: signed_in.map(|s| s.username.clone()),
            staff: signed_in.is_some_and(Session::is_staff),
            manager: signed_in.is_some_and(|s| s.has_role("manager") || s.has_role("admin")),
            admin: signed_in.is_some_and(|s| s.has_role("admin")),
            csrf: self.csrf().to_owned(),
            idle_seconds: self.app.sessions.idle().as_secs(),
            switch_url: format!(
                "/langue?l={}&retour={}",
                other.code(),
                url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect::<String>()
            ),
            other_language: Tr(other).t("language-name"),
            css: crate::assets::url("passerelle.css"),
            js: crate::assets::url("passerelle.js"),
            icons: crate::assets::url("icons.svg"),
        }
    }

    /// A rendered page, with this browser's new CSRF cookie when it had none.
    pub fn html(&self, page: &impl Template) -> Response {
        self.html_with(StatusCode::OK, page)
    }

    pub fn html_with(&self, status: StatusCode, page: &impl Template) -> Response {
        let body = match page.render() {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "a page did not render");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    self.tr.t("error-internal"),
                )
                    .into_response();
            }
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response();
        self.add_csrf_cookie(&mut response);
        response
    }

    /// Sets the anonymous CSRF cookie on `response` if this browser had none.
    pub fn add_csrf_cookie(&self, response: &mut Response) {
        if self.anonymous_csrf.1 {
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    CSRF_COOKIE,
                    &self.anonymous_csrf.0,
                    None,
                    "Strict",
                    self.app.secure_cookies,
                ),
            );
        }
    }

    /// Back to the sign-in page, to come back here after.
    pub fn to_sign_in(&self) -> Response {
        let next = url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect::<String>();
        see_other(&format!("/connexion?suite={next}"))
    }

    /// A refused form (its CSRF token missing or wrong): said plainly, nothing done.
    pub fn forbidden_form(&self) -> Response {
        self.message(StatusCode::FORBIDDEN, "error-form-expired", None)
    }

    /// A page saying message `id` (and what to do).
    pub fn message(&self, status: StatusCode, id: &str, detail: Option<String>) -> Response {
        let page = ErrorPage {
            chrome: self.chrome("error-title"),
            message: self.tr.t(id),
            detail,
        };
        self.html_with(status, &page)
    }

    /// A service's refusal as a sentence: what was wrong, what to do.
    pub fn failure(&self, status: &tonic::Status) -> Response {
        match status.code() {
            Code::Unauthenticated => self.to_sign_in(),
            Code::PermissionDenied => self.message(StatusCode::FORBIDDEN, "error-denied", None),
            Code::NotFound => self.message(StatusCode::NOT_FOUND, "error-not-found", None),
            Code::ResourceExhausted => match wait_seconds(status.message()) {
                Some(seconds) => {
                    let page = ErrorPage {
                        chrome: self.chrome("error-title"),
                        message: self.tr.n("error-wait", "minutes", (seconds + 59) / 60),
                        detail: None,
                    };
                    self.html_with(StatusCode::TOO_MANY_REQUESTS, &page)
                }
                None => self.message(StatusCode::TOO_MANY_REQUESTS, "error-full", None),
            },
            Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => self.message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "error-invalid",
                Some(status.message().to_owned()),
            ),
            Code::Unavailable | Code::DeadlineExceeded | Code::Aborted => {
                self.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None)
            }
            _ => {
                tracing::error!(code = ?status.code(), message = status.message(), "a service failed");
                self.message(StatusCode::INTERNAL_SERVER_ERROR, "error-internal", None)
            }
        }
    }
}

/// The seconds to wait in a throttled answer (`… wait 120 seconds, then try again`).
pub fn wait_seconds(message: &str) -> Option<i64> {
    let after = message.split("wait ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    message: String,
    detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_sites_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/mes-papiers?x=1")), "/mes-papiers?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookies_and_waits_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=1; passerelle_lang=en; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "passerelle_lang").as_deref(), Some("en"));
        assert_eq!(cookie(&headers, "missing"), None);
        assert_eq!(
            wait_seconds("too many attempts: wait 120 seconds, then try again"),
            Some(120)
        );
        assert_eq!(wait_seconds("no number"), None);
    }
}
