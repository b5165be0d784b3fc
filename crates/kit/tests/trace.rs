//! W3C trace context crosses a gRPC call: the server's span continues the caller's trace.
//! A test binary of its own, because it installs the process-wide tracing subscriber.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use passerelle_kit::config::{LogFormat, ServerArgs, TelemetryArgs};
use passerelle_kit::server::GrpcServer;
use passerelle_kit::{CancellationToken, telemetry};
use passerelle_proto::platform::v1::platform_client::PlatformClient;
use passerelle_proto::platform::v1::platform_server::{Platform, PlatformServer};
use passerelle_proto::platform::v1::{InfoRequest, InfoResponse};
use tonic::{Request, Response, Status};

/// Answers with the trace context of the span it runs in.
struct TraceEcho;

#[tonic::async_trait]
impl Platform for TraceEcho {
    async fn info(&self, _: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let traceparent = telemetry::current_trace_headers()
            .into_iter()
            .find(|(k, _)| k == "traceparent")
            .map(|(_, v)| v)
            .unwrap_or_default();
        Ok(Response::new(InfoResponse {
            version: traceparent,
            ..Default::default()
        }))
    }
}

#[tokio::test]
async fn the_server_span_continues_the_callers_trace() {
    let args = TelemetryArgs {
        log: "warn".into(),
        log_format: LogFormat::Text,
    };
    let _guard = telemetry::init("trace-test", &args).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = GrpcServer::new(ServerArgs::default()).add_service(PlatformServer::new(TraceEcho));
    tokio::spawn(server.serve(listener, shutdown.clone()));
    let mut client = PlatformClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = Request::new(InfoRequest {});
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    let seen = client.info(request).await.unwrap().into_inner().version;
    let parts: Vec<&str> = seen.split('-').collect();
    assert_eq!(
        parts.len(),
        4,
        "no traceparent inside the handler: `{seen}`"
    );
    assert_eq!(parts[1], trace_id, "the handler runs in another trace");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "the server span is a child, not the caller's span"
    );

    // With no incoming context, a fresh trace starts.
    let fresh = client
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .version;
    assert!(
        fresh.starts_with("00-") && !fresh.contains(trace_id),
        "{fresh}"
    );
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
}
