//! The HTTP server: routes, the layers every request goes through, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use passerelle_kit::CancellationToken;
use passerelle_kit::ServiceError;
use passerelle_kit::base::{ServeError, ServiceBase};
use passerelle_kit::clock::DynClock;
use passerelle_kit::net::Cidr;
use passerelle_kit::secrets::MasterKey;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;

use crate::backend::Backend;
pub use crate::pages::oidc::Oidc;
use crate::pages::oidc::OidcClient;
use crate::pages::{
    desk, home, me, oidc, papers, person, recovery, share, sign_in, staff, structures,
};
use crate::session::Sessions;
use crate::{assets, security};

/// Everything the web front is started with.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The store keeps the sessions; the verifier checks the tokens people sign in with.
    pub base: ServiceBase,
    /// Seals the sessions in the store.
    pub master_key: MasterKey,
    pub identity_url: String,
    pub vault_url: String,
    /// As browsers reach the web front: `https://` makes cookies `Secure`.
    pub web_url: Option<url::Url>,
    pub session_idle: Duration,
    pub session_max: Duration,
    /// Sign-in through an OpenID Connect issuer (Keycloak) instead of the form.
    pub oidc: Option<Oidc>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("identity_url", &self.identity_url)
            .field("vault_url", &self.vault_url)
            .field("web_url", &self.web_url.as_ref().map(url::Url::as_str))
            .finish_non_exhaustive()
    }
}

/// What every page's handler reaches.
#[derive(Clone)]
pub struct App {
    pub sessions: Sessions,
    pub backend: Backend,
    pub verifier: Option<passerelle_kit::auth::JwtVerifier>,
    pub clock: DynClock,
    pub secure_cookies: bool,
    pub trusted_proxies: Arc<Vec<Cidr>>,
    pub oidc: Option<OidcClient>,
    /// The store, for short-lived sign-in state (OpenID Connect).
    pub store: passerelle_store::DynStore,
    /// The web front's own address, for links given out (QR codes).
    pub web_url: Option<String>,
    /// Seals what the web front keeps for a while (recovery sheets to print).
    pub master: MasterKey,
    /// Uploads being received at once (each spools its files to disk first).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Where uploaded files wait while they are sent to the vault.
    pub spool_dir: std::path::PathBuf,
}

/// Requests being answered at once; beyond, refused at once (503) rather than queued.
const MAX_CONCURRENT: usize = 256;
/// The largest form; uploads have their own bound.
const FORM_LIMIT: usize = 64 * 1024;
/// Upload forms received at once: each may hold up to 8 files of 50 MB on disk for a moment.
const MAX_UPLOADS: usize = 4;
/// The largest upload form: 8 files of 50 MB and their fields.
const UPLOAD_LIMIT: usize = 8 * 50_000_000 + 1_000_000;

/// A started web front.
pub struct Running {
    router: Router,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

/// The routes: French paths, as people see them in their address bar.
fn routes(app: App) -> Router {
    Router::new()
        .route("/", get(home::index))
        .route("/langue", get(home::language))
        .route("/sante", get(home::health))
        .route("/connexion", get(sign_in::form).post(sign_in::submit))
        .route("/connexion/code", get(sign_in::pin_form))
        .route("/connexion/oidc", get(oidc::start))
        .route("/connexion/retour", get(oidc::callback))
        .route("/deconnexion", post(sign_in::sign_out))
        .route("/deconnexion/partout", post(sign_in::sign_out_everywhere))
        .route("/personnes", get(desk::search))
        .route(
            "/personnes/nouvelle",
            get(person::new_form).post(person::create),
        )
        .route("/personnes/{id}", get(person::show))
        .route("/personnes/{id}/feuille/{key}", get(person::sheet_pdf))
        .route(
            "/personnes/{id}/mandat",
            get(person::mandate_form).post(person::mandate_grant),
        )
        .route(
            "/personnes/{id}/mandat/resume",
            post(person::mandate_summary),
        )
        .route("/personnes/{id}/mandat/sms", post(person::mandate_sms))
        .route(
            "/personnes/{id}/mandat/sms/code",
            post(person::mandate_sms_code),
        )
        .route(
            "/personnes/{id}/mandats/{mandate}/renouveler",
            post(person::mandate_renew),
        )
        .route(
            "/personnes/{id}/mandats/{mandate}/revoquer",
            post(person::mandate_revoke),
        )
        .route(
            "/personnes/{id}/documents/ajouter",
            get(person::upload_form),
        )
        .route(
            "/personnes/{id}/documents",
            post(person::upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route(
            "/personnes/{id}/documents/{doc}/fichier",
            get(person::download),
        )
        .route(
            "/personnes/{id}/documents/{doc}/partager",
            post(person::share),
        )
        .route("/personnes/{id}/demarches", get(person::checklist))
        .route(
            "/personnes/{id}/recuperation",
            get(recovery::start_form).post(recovery::start),
        )
        .route(
            "/recuperations",
            get(recovery::approve_form).post(recovery::approve),
        )
        .route("/qui-m-aide", get(me::helpers))
        .route("/qui-m-aide/{mandate}/retirer", post(me::revoke))
        .route("/mon-code", get(me::secret_form).post(me::change_secret))
        .route("/comptes", get(staff::form).post(staff::create))
        .route("/structures", get(structures::list).post(structures::save))
        .route("/mes-papiers", get(papers::list))
        .route("/mes-papiers/{id}", get(papers::show))
        .route("/mes-papiers/{id}/fichier", get(papers::download))
        .route("/mes-papiers/{id}/partager", post(papers::share))
        .route("/partage", get(share::form).post(share::open))
        .route("/partage/fichier", post(share::download))
        .route("/static/{name}", get(assets::serve))
        .fallback(home::not_found)
        .method_not_allowed_fallback(home::from_a_form_only)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(security::headers))
                .layer(DefaultBodyLimit::max(FORM_LIMIT)),
        )
        .with_state(app)
}

/// Builds the web front; it serves with [`Running::serve`].
pub async fn start(
    config: GatewayConfig,
    _shutdown: CancellationToken,
) -> Result<Running, ServiceError> {
    let base = &config.base;
    let backend = Backend::new(
        &config.identity_url,
        &config.vault_url,
        base.server.tls_ca.as_deref(),
    )?;
    let secure_cookies = config
        .web_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https");
    let oidc = match &config.oidc {
        Some(settings) => {
            let web_url = config.web_url.clone().ok_or_else(|| {
                ServiceError::invalid(
                    "set PASSERELLE_WEB_URL: the issuer sends people back to the web front's address",
                )
            })?;
            Some(OidcClient::new(
                settings.clone(),
                web_url,
                base.server.tls_ca.as_deref(),
            )?)
        }
        None => None,
    };
    let app = App {
        sessions: Sessions::new(
            base.store.clone(),
            config.master_key.clone(),
            base.clock.clone(),
            config.session_idle,
            config.session_max,
        ),
        backend,
        verifier: base.verifier.clone(),
        clock: base.clock.clone(),
        secure_cookies,
        trusted_proxies: Arc::new(base.server.trusted_proxies.clone()),
        oidc,
        store: base.store.clone(),
        web_url: config.web_url.as_ref().map(|u| u.as_str().to_owned()),
        master: config.master_key.clone(),
        uploads: Arc::new(tokio::sync::Semaphore::new(MAX_UPLOADS)),
        spool_dir: std::env::temp_dir(),
    };
    let router = routes(app).layer(
        ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                |_: tower::BoxError| async {
                    (
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        "Passerelle est très demandée : réessayez dans un instant. / Passerelle is busy: try again in a moment.",
                    )
                },
            ))
            .layer(tower::load_shed::LoadShedLayer::new())
            .layer(ConcurrencyLimitLayer::new(MAX_CONCURRENT)),
    );
    Ok(Running { router })
}

impl Running {
    /// Serves on `listener` until `shutdown`, then lets requests under way finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), std::io::Error> {
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|tcp| {
            // Pages are small and interactive: no 40 ms wait for more bytes.
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    }
}

/// `start` then serve on `listener` until `shutdown`.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let running = start(config, shutdown.clone()).await?;
    running
        .serve(listener, shutdown)
        .await
        .map_err(|e| ServeError::Start(format!("the web front stopped: {e}")))
}
