//! The tower layers every server stacks: a span per request continuing the caller's trace,
//! panics answered as INTERNAL, overload shed as UNAVAILABLE, the client's address (through
//! trusted proxies), deadlines for unary calls, and token verification.

use super::*;

pub(super) fn make_span<B>(request: &Request<B>) -> tracing::Span {
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
pub(super) fn panic_as_internal(
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
pub(super) struct OverloadAsUnavailable;

impl<S> Layer<S> for OverloadAsUnavailable {
    type Service = OverloadService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        OverloadService { inner }
    }
}

#[derive(Clone, Debug)]
pub(super) struct OverloadService<S> {
    pub(super) inner: S,
}

pub(super) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

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
pub(super) struct ClientAddressLayer {
    pub(super) trusted: std::sync::Arc<Vec<Cidr>>,
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
pub(super) struct ClientAddressService<S> {
    pub(super) inner: S,
    pub(super) trusted: std::sync::Arc<Vec<Cidr>>,
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
pub(super) fn streaming_methods(names: &[&'static str]) -> std::collections::HashSet<String> {
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
pub(super) struct DeadlineLayer {
    pub(super) unary: Duration,
    pub(super) streaming: std::sync::Arc<std::collections::HashSet<String>>,
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
pub(super) struct DeadlineService<S> {
    pub(super) inner: S,
    pub(super) layer: DeadlineLayer,
}

/// Parses a `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
pub(super) fn grpc_timeout(value: &str) -> Option<Duration> {
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
pub(super) struct AuthLayer {
    pub(super) verifier: Option<JwtVerifier>,
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
pub(super) struct AuthService<S> {
    pub(super) inner: S,
    pub(super) verifier: Option<JwtVerifier>,
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
