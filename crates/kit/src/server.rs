//! The gRPC server every service runs.
//!
//! [`GrpcServer`] mounts the service's own gRPC services next to `grpc.health.v1` and server
//! reflection (so grpcurl and any stock client can list and call them), and wraps them in the
//! same tower layers, outermost first:
//!
//! 1. request id: `x-request-id` kept from the caller or made up, and echoed in the response;
//! 2. tracing: one span per call, child of the caller's W3C trace context;
//! 3. load shedding over a concurrency limit: past the limit a call is refused at once with
//!    UNAVAILABLE instead of queueing (queues only grow latency under overload);
//! 4. authentication: a bearer token, when sent, is verified and its [`Principal`] attached to
//!    the request; an invalid token is refused here, before any service code runs;
//! 5. a deadline per call: the request timeout for unary calls, none for streams (they end when
//!    idle instead, see `ServerArgs::stream_idle_timeout`), the caller's `grpc-timeout` if
//!    shorter.
//!
//! Before all of them, the client's address is resolved (the peer, or behind a trusted proxy
//! the client it forwards for: [`crate::net`]).
//!
//! HTTP/2 flow-control windows adapt to the connection, so large streams (documents) are not
//! held back by the protocol's 64 KiB default.
//!
//! On shutdown the health status turns NOT_SERVING, the listener closes, and in-flight calls
//! get up to the configured grace period to finish.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tower::{BoxError, Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::auth::{JwtVerifier, Principal};
use crate::config::ServerArgs;
use crate::error::ServiceError;
use crate::net::{Cidr, ClientAddress};
use crate::telemetry;

/// Builds and runs one gRPC server.
pub struct GrpcServer {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    args: ServerArgs,
    verifier: Option<JwtVerifier>,
    http: Option<axum::Router>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    health: crate::health::Health,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("services", &self.names)
            .finish()
    }
}

impl GrpcServer {
    pub fn new(args: ServerArgs) -> Self {
        Self {
            routes: RoutesBuilder::default(),
            names: Vec::new(),
            args,
            verifier: None,
            http: None,
            tasks: Vec::new(),
            health: crate::health::Health::default(),
        }
    }

    /// Reports NOT_SERVING while any of the service's background work has been stuck for
    /// [`crate::health::STUCK_AFTER`] (see [`crate::health`]).
    pub fn with_health(mut self, health: crate::health::Health) -> Self {
        self.health = health;
        self
    }

    /// Background work of the service (relays, consumers, schedules): it stops with the server,
    /// which waits for it after draining requests.
    pub fn with_tasks(mut self, tasks: Vec<tokio::task::JoinHandle<()>>) -> Self {
        self.tasks.extend(tasks);
        self
    }

    /// Also serves plain HTTP routes (HTTP/1.1 and HTTP/2) on the same port, behind the same
    /// layers: the identity service publishes its OIDC discovery document and keys this way.
    pub fn with_http(mut self, router: axum::Router) -> Self {
        self.http = Some(router);
        self
    }

    /// Verifies bearer tokens with `verifier`. Without one, no request carries a principal
    /// and every RPC that needs one refuses with UNAUTHENTICATED.
    pub fn with_auth(mut self, verifier: Option<JwtVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// The gRPC service names this server will serve, health and reflection aside.
    pub fn service_names(&self) -> &[&'static str] {
        &self.names
    }

    /// Serves on `listener` until `shutdown` is cancelled, then drains.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), tonic::transport::Error> {
        let (reporter, health) = tonic_health::server::health_reporter();
        for name in &self.names {
            reporter
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        {
            let (reporter, names, shutdown, health) = (
                reporter.clone(),
                self.names.clone(),
                shutdown.clone(),
                self.health.clone(),
            );
            tokio::spawn(async move {
                let set = |status: ServingStatus| {
                    let (reporter, names) = (reporter.clone(), names.clone());
                    async move {
                        for name in names {
                            reporter.set_service_status(name, status).await;
                        }
                        reporter.set_service_status("", status).await;
                    }
                };
                let mut serving = true;
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    let problems = health.problems(crate::health::STUCK_AFTER);
                    if problems.is_empty() != serving {
                        serving = problems.is_empty();
                        if serving {
                            tracing::info!("background work caught up: serving again");
                            set(ServingStatus::Serving).await;
                        } else {
                            for (component, reason, age) in &problems {
                                tracing::error!(
                                    component,
                                    reason,
                                    stuck_seconds = age.as_secs(),
                                    "background work is stuck: reporting NOT_SERVING"
                                );
                            }
                            set(ServingStatus::NotServing).await;
                        }
                    }
                }
                set(ServingStatus::NotServing).await;
            });
        }
        // Reflection lists what this server serves, not every service of the descriptor set.
        let reflection = || {
            let mut builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(passerelle_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name("grpc.health.v1.Health");
            for name in &self.names {
                builder = builder.with_service_name(*name);
            }
            builder
        };
        // Both reflection versions: older grpcurl and grpcio tools still ask for v1alpha.
        let reflection_v1 = reflection().build_v1();
        let reflection_v1alpha = reflection().build_v1alpha();
        self.routes.add_service(health);
        match (reflection_v1, reflection_v1alpha) {
            (Ok(v1), Ok(v1alpha)) => {
                self.routes.add_service(v1);
                self.routes.add_service(v1alpha);
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "server reflection disabled: descriptor set does not load");
            }
        }

        let streaming = std::sync::Arc::new(streaming_methods(&self.names));
        let layers = ServiceBuilder::new()
            .layer(ClientAddressLayer {
                trusted: std::sync::Arc::new(self.args.trusted_proxies.clone()),
            })
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(make_span)
                    .on_failure(DefaultOnFailure::new().level(tracing::Level::INFO)),
            )
            // A bug reached by some input answers INTERNAL instead of dropping the connection.
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_as_internal,
            ))
            .layer(OverloadAsUnavailable)
            .load_shed()
            .concurrency_limit(self.args.max_concurrent_requests)
            .layer(DeadlineLayer {
                unary: self.args.request_timeout,
                streaming,
            })
            .layer(AuthLayer {
                verifier: self.verifier.clone(),
            });

        let mut routes = self.routes.routes();
        if let Some(http) = self.http.take() {
            let grpc = std::mem::take(routes.axum_router_mut());
            *routes.axum_router_mut() = grpc.merge(http);
        }
        // Small replies must not wait for Nagle's algorithm to meet the peer's delayed ACK
        // (40 ms per unary call otherwise); keepalive finds dead peers behind NAT and load
        // balancers.
        let incoming = tonic::transport::server::TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(60)));
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = server_tls(&self.args)? {
            builder = builder.tls_config(tls)?;
        }
        let server = builder
            .accept_http1(true)
            // Flow-control windows sized to the connection (BDP estimation), not h2's 64 KiB
            // default, which throttles document streams to a fraction of the disk's speed.
            .http2_adaptive_window(Some(true))
            .layer(layers)
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
        tokio::pin!(server);
        let grace = self.args.shutdown_grace;
        let result = tokio::select! {
            result = &mut server => result,
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_seconds = grace.as_secs(), "in-flight requests still running after the grace period; stopping anyway");
                Ok(())
            }
        };
        // The server may have ended on its own (an error): stop the background work too.
        shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        result
    }
}

fn make_span<B>(request: &Request<B>) -> tracing::Span {
    let headers = request.headers();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "grpc",
        otel.kind = "server",
        rpc.method = %request.uri().path(),
        request_id = %request_id,
    );
    telemetry::set_parent_from(&span, |name| {
        headers.get(name).and_then(|v| v.to_str().ok())
    });
    span
}

/// A handler's panic, as a gRPC answer: INTERNAL, logged with what it said.
fn panic_as_internal(
    payload: Box<dyn std::any::Any + Send + 'static>,
) -> http::Response<tonic::body::Body> {
    let what = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("?");
    tracing::error!(panic = what, "a request handler panicked");
    tonic::Status::internal("the service failed on this request; it was logged").into_http()
}

/// Turns the load shedder's refusal into a gRPC UNAVAILABLE answer.
#[derive(Clone, Copy, Debug)]
struct OverloadAsUnavailable;

impl<S> Layer<S> for OverloadAsUnavailable {
    type Service = OverloadService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        OverloadService { inner }
    }
}

#[derive(Clone, Debug)]
struct OverloadService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<Request<B>> for OverloadService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    RB: Default,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<RB>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The load shedder below is always ready: it refuses in `call` instead.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            match future.await.map_err(Into::into) {
                Err(e) if e.is::<tower::load_shed::error::Overloaded>() => {
                    tracing::warn!("overloaded: request refused");
                    Ok(
                        tonic::Status::unavailable("server overloaded: retry in a moment")
                            .into_http(),
                    )
                }
                other => other,
            }
        })
    }
}

/// Puts the [`ClientAddress`] in every request's extensions: the peer, or behind a trusted
/// proxy the client it forwards for (see [`crate::net`]).
#[derive(Clone, Debug)]
struct ClientAddressLayer {
    trusted: std::sync::Arc<Vec<Cidr>>,
}

impl<S> Layer<S> for ClientAddressLayer {
    type Service = ClientAddressService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientAddressService {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct ClientAddressService<S> {
    inner: S,
    trusted: std::sync::Arc<Vec<Cidr>>,
}

impl<S, B> Service<Request<B>> for ClientAddressService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr())
            .map(|addr| addr.ip());
        if let Some(peer) = peer {
            let forwarded: Vec<&str> = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let client = crate::net::resolve(peer, &forwarded, &self.trusted);
            request.extensions_mut().insert(ClientAddress(client));
        }
        self.inner.call(request)
    }
}

/// The gRPC methods of `names` that stream (either way), as `/package.Service/Method`.
fn streaming_methods(names: &[&'static str]) -> std::collections::HashSet<String> {
    use prost::Message as _;
    let mut out = std::collections::HashSet::new();
    let Ok(set) = passerelle_proto::prost_types::FileDescriptorSet::decode(
        passerelle_proto::FILE_DESCRIPTOR_SET,
    ) else {
        return out;
    };
    for file in &set.file {
        for service in &file.service {
            let full = format!("{}.{}", file.package(), service.name());
            if !names.contains(&full.as_str()) {
                continue;
            }
            for method in &service.method {
                if method.client_streaming() || method.server_streaming() {
                    out.insert(format!("/{full}/{}", method.name()));
                }
            }
        }
    }
    out
}

/// A deadline for each call: the server's request timeout for unary calls, none of its own for
/// streams (they end on their idle timeout instead), and the caller's `grpc-timeout` if
/// shorter.
#[derive(Clone, Debug)]
struct DeadlineLayer {
    unary: Duration,
    streaming: std::sync::Arc<std::collections::HashSet<String>>,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct DeadlineService<S> {
    inner: S,
    layer: DeadlineLayer,
}

/// Parses a `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl<S, B, RB> Service<Request<B>> for DeadlineService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    RB: Default,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let asked = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(grpc_timeout);
        let own =
            (!self.layer.streaming.contains(request.uri().path())).then_some(self.layer.unary);
        let deadline = match (own, asked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let Some(deadline) = deadline else {
                return future.await;
            };
            match tokio::time::timeout(deadline, future).await {
                Ok(result) => result,
                Err(_) => Ok(tonic::Status::deadline_exceeded(format!(
                    "the request took longer than {} ms and was stopped: try again, or ask for less at once",
                    deadline.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

/// Verifies the bearer token, when one is sent, and attaches the [`Principal`].
#[derive(Clone, Debug)]
struct AuthLayer {
    verifier: Option<JwtVerifier>,
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct AuthService<S> {
    inner: S,
    verifier: Option<JwtVerifier>,
}

impl<S, B, RB> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Default,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or("\u{0}"));
            if let (Some(verifier), Some(header)) = (verifier, header) {
                match verifier.verify_header(Some(header)).await {
                    Ok(principal) => {
                        tracing::Span::current().record("subject", principal.subject.as_str());
                        request.extensions_mut().insert(principal);
                    }
                    Err(e) => {
                        tracing::info!(reason = %e, "token refused");
                        return Ok(tonic::Status::from(e).into_http());
                    }
                }
            }
            inner.call(request).await
        })
    }
}

/// Makes aws-lc-rs the process's TLS crypto provider, once. Several libraries of the platform
/// bring rustls with both of its providers compiled in, and rustls then refuses to guess:
/// every TLS set-up (servers, service clients, key fetches) calls this first.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error only says a provider is already installed: that one is kept.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// The server's TLS settings, when a certificate and key are given.
fn server_tls(
    args: &ServerArgs,
) -> Result<Option<tonic::transport::ServerTlsConfig>, tonic::transport::Error> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    install_crypto_provider();
    // Checked readable at start (`check_tls`). Should one fail to read now, the empty identity
    // makes `tls_config` fail: the server does not start, and the log names the file.
    let read = |path: &std::path::Path| {
        std::fs::read(path).unwrap_or_else(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot read a TLS file");
            Vec::new()
        })
    };
    Ok(Some(tonic::transport::ServerTlsConfig::new().identity(
        tonic::transport::Identity::from_pem(read(cert), read(key)),
    )))
}

/// Checks that the TLS files a server was given can be read, saying which cannot.
pub fn check_tls(args: &ServerArgs) -> Result<(), String> {
    for path in [&args.tls_cert, &args.tls_key, &args.tls_ca]
        .into_iter()
        .flatten()
    {
        std::fs::metadata(path)
            .map_err(|e| format!("cannot read the TLS file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A client endpoint for another service at `url`: over TLS for `https://` (trusting
/// `ca` — a PEM file — when given, the system's roots otherwise), plaintext for `http://`.
pub fn endpoint(
    url: &str,
    ca: Option<&std::path::Path>,
) -> Result<tonic::transport::Endpoint, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| format!("`{url}` is not a service address: {e}"))?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    install_crypto_provider();
    let mut tls = tonic::transport::ClientTlsConfig::new();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("cannot read the TLS authority {}: {e}", ca.display()))?;
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
    }
    endpoint
        .tls_config(tls)
        .map_err(|e| format!("TLS to `{url}` cannot be set up: {e}"))
}

/// The next message of a client stream, or DEADLINE_EXCEEDED when none came for `idle`:
/// streams have no overall deadline (a large file over a slow link must finish), only this one
/// (`ServerArgs::stream_idle_timeout`).
pub async fn next_message<T>(
    stream: &mut tonic::Streaming<T>,
    idle: Duration,
) -> Result<Option<T>, tonic::Status> {
    match tokio::time::timeout(idle, stream.message()).await {
        Ok(message) => message,
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "nothing arrived for {} ms: the stream was ended; what was sent before is kept where the call says so",
            idle.as_millis()
        ))),
    }
}

/// The verified caller of a request, or UNAUTHENTICATED.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, ServiceError> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| ServiceError::Unauthenticated(crate::auth::AuthError::Missing.to_string()))
}
