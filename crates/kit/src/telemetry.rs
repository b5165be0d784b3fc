//! Logs, traces and trace-context propagation.
//!
//! Every span gets an OpenTelemetry trace id, whether or not traces are exported, so that the
//! W3C `traceparent` carried in gRPC metadata and in event headers ties a request to the events
//! it causes. Spans are exported over OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
//! (the exporter reads the standard `OTEL_*` variables itself).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{ConfigError, LogFormat, TelemetryArgs};

/// Keeps the trace pipeline alive; dropping it flushes the spans not yet exported.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelemetryGuard")
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("flushing traces failed: {e}");
        }
    }
}

/// Installs logging and tracing for the process. Call once, inside the tokio runtime (the
/// OTLP batch exporter needs it).
pub fn init(service: &str, args: &TelemetryArgs) -> Result<TelemetryGuard, ConfigError> {
    let mut builder = SdkTracerProvider::builder().with_resource(
        Resource::builder()
            .with_service_name(service.to_owned())
            .build(),
    );
    let exporting = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.is_empty());
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| ConfigError::Telemetry(format!("the OTLP exporter: {e}")))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("passerelle"));

    let filter = EnvFilter::try_new(&args.log).map_err(|e| ConfigError::LogFilter {
        filter: args.log.clone(),
        reason: e.to_string(),
    })?;
    // The log filter applies to log output only: spans stay enabled for tracing at INFO even
    // when logs are quieter, or a quiet service would break the traces passing through it.
    let otel = otel.with_filter(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel);
    let installed = match args.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_filter(filter),
            )
            .try_init(),
    };
    installed.map_err(|e| ConfigError::Telemetry(format!("logging is already set up: {e}")))?;
    if exporting {
        tracing::info!(service, "exporting traces over OTLP");
    }
    Ok(TelemetryGuard { provider })
}

pub use passerelle_core::trace::{current_trace_headers, set_parent_from};

/// Copies the current trace context into outgoing gRPC metadata (client side).
pub fn inject_metadata(metadata: &mut tonic::metadata::MetadataMap) {
    for (key, value) in current_trace_headers() {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            metadata.insert(key, value);
        }
    }
}
