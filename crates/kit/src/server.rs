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
//! 5. a per-request timeout (tonic's, which also honours the caller's `grpc-timeout`).
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
use crate::telemetry;

/// Builds and runs one gRPC server.
pub struct GrpcServer {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    args: ServerArgs,
    verifier: Option<JwtVerifier>,
    http: Option<axum::Router>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
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
        }
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
            let (reporter, names, shutdown) =
                (reporter.clone(), self.names.clone(), shutdown.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                for name in names {
                    reporter
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
                reporter
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
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

        let layers = ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(make_span)
                    .on_failure(DefaultOnFailure::new().level(tracing::Level::INFO)),
            )
            .layer(OverloadAsUnavailable)
            .load_shed()
            .concurrency_limit(self.args.max_concurrent_requests)
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
        let server = tonic::transport::Server::builder()
            .accept_http1(true)
            // Flow-control windows sized to the connection (BDP estimation), not h2's 64 KiB
            // default, which throttles document streams to a fraction of the disk's speed.
            .http2_adaptive_window(Some(true))
            .timeout(self.args.request_timeout)
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

/// The verified caller of a request, or UNAUTHENTICATED.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, ServiceError> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| ServiceError::Unauthenticated(crate::auth::AuthError::Missing.to_string()))
}
