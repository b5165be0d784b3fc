//! W3C trace context (`traceparent`, `tracestate`) in and out of headers, so that a request and
//! the events it causes share one trace (gRPC metadata, event records).

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace context (`traceparent`, `tracestate`) of the current span, as headers.
pub fn current_trace_headers() -> Vec<(String, String)> {
    struct Collect(Vec<(String, String)>);
    impl Injector for Collect {
        fn set(&mut self, key: &str, value: String) {
            self.0.push((key.to_owned(), value));
        }
    }
    let mut headers = Collect(Vec::new());
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut headers);
    headers.0
}

/// Makes `span` a child of the trace context found in `headers` (if any).
pub fn set_parent_from<'a>(span: &tracing::Span, headers: impl Fn(&str) -> Option<&'a str>) {
    let found: std::collections::HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| headers(name).map(|v| (name.to_owned(), v.to_owned())))
        .collect();
    if found.is_empty() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&found);
    // Fails only when the span is disabled; then there is nothing to parent.
    let _ = span.set_parent(parent);
}
