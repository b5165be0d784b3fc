//! One trace spans a request and the events it causes: the trace context rides in the event
//! headers, through the outbox and the bus, into the consumer's span.
//! A test binary of its own, because it installs the process-wide tracing subscriber.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passerelle_bus::outbox::{self, OutboxRelay};
use passerelle_bus::sqlite::SqliteBus;
use passerelle_bus::{DynBus, consume, event};
use passerelle_kit::config::{LogFormat, TelemetryArgs};
use passerelle_kit::{CancellationToken, telemetry};
use passerelle_store::DynStore;
use passerelle_store::sqlite::SqliteStore;

fn trace_id(traceparent: &str) -> String {
    traceparent.split('-').nth(1).unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_continues_the_trace_of_the_request_that_caused_the_event() {
    let args = TelemetryArgs {
        log: "warn".into(),
        log_format: LogFormat::Text,
    };
    let _guard = telemetry::init("bus-trace-test", &args).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let bus: DynBus = Arc::new(SqliteBus::open(&dir.path().join("bus.db"), 2).unwrap());

    // A request arrives with a trace; the service writes state and an event in one batch.
    let request_trace = "0af7651916cd43dd8448eb211c80319c";
    let span = tracing::info_span!("request");
    telemetry::set_parent_from(&span, |name| {
        (name == "traceparent").then_some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    });
    let (envelope, record) = {
        let _entered = span.enter();
        event::new_record(
            "tracetest",
            "test.Happened",
            "agg-1",
            &passerelle_proto::platform::v1::InfoRequest {},
        )
    };
    assert_eq!(
        trace_id(record.headers.get_str("traceparent").unwrap()),
        request_trace
    );
    store
        .batch(vec![outbox::mutation(
            "tracetest",
            &envelope.event_id,
            &record,
        )])
        .await
        .unwrap();
    OutboxRelay::new(store.clone(), bus.clone(), "tracetest")
        .relay_once()
        .await
        .unwrap();

    let seen = Arc::new(Mutex::new(None));
    let shutdown = CancellationToken::new();
    let task = {
        let (seen, shutdown, bus, store) =
            (seen.clone(), shutdown.clone(), bus.clone(), store.clone());
        tokio::spawn(async move {
            consume::run(
                bus,
                store,
                "tracetest-consumer",
                &["passerelle.tracetest"],
                move |_, _| {
                    let inside = telemetry::current_trace_headers();
                    *seen.lock().unwrap() = inside
                        .into_iter()
                        .find(|(k, _)| k == "traceparent")
                        .map(|(_, v)| v);
                    async { Ok(()) }
                },
                passerelle_kit::health::Health::default(),
                shutdown,
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the event never reached the consumer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    task.await.unwrap();
    let consumer_trace = seen.lock().unwrap().clone().unwrap();
    assert_eq!(
        trace_id(&consumer_trace),
        request_trace,
        "the consumer started a new trace"
    );
}
