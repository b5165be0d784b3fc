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
mod layers;
mod tls;

use layers::{
    AuthLayer, ClientAddressLayer, DeadlineLayer, OverloadAsUnavailable, make_span,
    panic_as_internal, streaming_methods,
};
use tls::server_tls;
pub use tls::{check_tls, endpoint, install_crypto_provider};

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
