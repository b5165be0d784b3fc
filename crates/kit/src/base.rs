//! One service base: what every service is started with, and how its background work starts.
//!
//! A service's `start(config, shutdown)` takes a [`ServiceBase`] (engines, server settings,
//! whom it trusts, time) inside its own config, opens a [`Launch`] on it, gets its [`Outbox`]
//! (relay running), adds its consumers and schedules, and ends with [`Launch::running`]: the
//! server with health, authentication and that background work, which it drains at shutdown.
//! `serve(config, listener, shutdown)` is then the same two lines for every service.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use passerelle_bus::consume::{self, HandlerResult};
use passerelle_bus::outbox::{Outbox, OutboxRelay};
use passerelle_bus::{Delivery, DynBus};
use passerelle_core::CancellationToken;
use passerelle_core::clock::DynClock;
use passerelle_core::health::Health;
use passerelle_proto::events::v1::Envelope;
use passerelle_store::DynStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::JwtVerifier;
use crate::config::ServerArgs;
use crate::server::GrpcServer;

/// What every service is started with.
#[derive(Clone)]
pub struct ServiceBase {
    pub store: DynStore,
    pub bus: DynBus,
    pub server: ServerArgs,
    /// Whom bearer tokens must come from; `None`: no request carries a principal.
    pub verifier: Option<JwtVerifier>,
    pub clock: DynClock,
}

impl std::fmt::Debug for ServiceBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBase")
            .field("store", &self.store.engine())
            .field("bus", &self.bus.engine())
            .finish_non_exhaustive()
    }
}

/// A service being started: its background work and the health that work reports to.
pub struct Launch {
    base: ServiceBase,
    shutdown: CancellationToken,
    health: Health,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Launch {
    pub fn new(base: &ServiceBase, shutdown: &CancellationToken) -> Self {
        Self {
            base: base.clone(),
            shutdown: shutdown.clone(),
            health: Health::default(),
            tasks: Vec::new(),
        }
    }

    pub fn base(&self) -> &ServiceBase {
        &self.base
    }

    /// Verifies tokens with `verifier` instead of the base's (the identity service trusts its
    /// own provider).
    pub fn trust(&mut self, verifier: JwtVerifier) {
        self.base.verifier = Some(verifier);
    }

    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The outbox of `producer` (events on `passerelle.<producer>`), its relay running.
    pub fn outbox(&mut self, producer: &str) -> Outbox {
        let relay = OutboxRelay::new(self.base.store.clone(), self.base.bus.clone(), producer);
        self.tasks
            .push(tokio::spawn(relay.clone().run(self.shutdown.clone())));
        Outbox::new(self.base.store.clone(), relay)
    }

    /// Handles every new event of `topics` as consumer `group` (see [`consume::run`]): outages
    /// are waited out, bad events parked, and a stuck consumer shows in the health check.
    pub fn consume<H, Fut>(&mut self, group: impl Into<String>, topics: &[&str], handler: H)
    where
        H: FnMut(Envelope, Delivery) -> Fut + Send + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let (bus, store, health, shutdown) = (
            self.base.bus.clone(),
            self.base.store.clone(),
            self.health.clone(),
            self.shutdown.clone(),
        );
        let group = group.into();
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        self.tasks.push(tokio::spawn(async move {
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            consume::run(bus, store, &group, &topics, handler, health, shutdown).await;
        }));
    }

    /// Runs `job` now and then every `period` until shutdown; a failure is logged as `what`
    /// and the job runs again at its next time.
    pub fn every<F, Fut, T, E>(&mut self, period: Duration, what: &'static str, mut job: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send,
        E: Display,
    {
        self.tasks.push(passerelle_core::shutdown::every(
            period,
            self.shutdown.clone(),
            move || {
                let run = job();
                async move {
                    if let Err(e) = run.await {
                        tracing::warn!(error = %e, "{what} failed");
                    }
                }
            },
        ));
    }

    /// Some other background task of the service, stopped and awaited with the server.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// The server of this service (health, authentication, background work), still to be
    /// given its gRPC services.
    pub fn server(self) -> GrpcServer {
        GrpcServer::new(self.base.server.clone())
            .with_health(self.health)
            .with_auth(self.base.verifier.clone())
            .with_tasks(self.tasks)
    }

    /// The started service: its domain handle and its server.
    pub fn running<S>(self, service: S, add: impl FnOnce(GrpcServer) -> GrpcServer) -> Running<S> {
        Running {
            service,
            server: add(self.server()),
        }
    }
}

/// A started service: its domain handle (for tests and tools), and the server to serve it.
pub struct Running<S> {
    pub service: S,
    server: GrpcServer,
}

impl<S> std::fmt::Debug for Running<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<S> Running<S> {
    /// Serves until `shutdown`, then drains requests and waits for the background work.
    /// (The domain handle is let go: the server and its tasks hold what they need.)
    pub fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> impl Future<Output = Result<(), tonic::transport::Error>> + Send + 'static {
        self.server.serve(listener, shutdown)
    }

    /// The gRPC services this server answers, health and reflection aside.
    pub fn service_names(&self) -> &[&'static str] {
        self.server.service_names()
    }
}

/// Why a service stopped: it could not start, or its server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start: {0}")]
    Start(String),
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}

impl From<passerelle_core::ServiceError> for ServeError {
    fn from(e: passerelle_core::ServiceError) -> Self {
        Self::Start(e.to_string())
    }
}

/// A service's `serve(config, listener, shutdown)`: its `start`, then serving until `shutdown`.
pub async fn serve<S>(
    started: impl Future<Output = Result<Running<S>, passerelle_core::ServiceError>>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    started.await?.serve(listener, shutdown).await?;
    Ok(())
}
