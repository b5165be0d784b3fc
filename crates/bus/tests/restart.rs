//! The Kafka engine across a broker restart: the producer and the consumer loop of a running
//! service, made before the broker stops, must both work again once it is back — and the
//! service must report itself serving again soon after — without being restarted.
//!
//! Needs `PASSERELLE_TEST_KAFKA` (scripts/test.sh sets it); it stops and starts the broker
//! through scripts/servers.sh, so it is a test binary of its own (nothing else runs beside it).
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passerelle_bus::conformance::{kafka_bus, unique_name};
use passerelle_bus::{consume, event};
use passerelle_core::CancellationToken;
use passerelle_core::health::Health;
use passerelle_proto::events::v1 as events;
use passerelle_store::DynStore;
use passerelle_store::sqlite::SqliteStore;

fn broker(action: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/servers.sh");
    let status = Command::new(script)
        .args([action, "kafka"])
        .status()
        .unwrap();
    assert!(status.success(), "servers.sh {action} kafka failed");
}

async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_consumer_and_producer_come_back_with_the_broker() {
    let Some(bus) = kafka_bus().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let topic = unique_name("restart");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (health, shutdown) = (Health::default(), CancellationToken::new());
    let consumer = {
        let (bus, store, topic, seen, health, shutdown) = (
            bus.clone(),
            store.clone(),
            topic.clone(),
            seen.clone(),
            health.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            let handler = move |envelope: events::Envelope, _| {
                seen.lock().unwrap().push(envelope.aggregate_id);
                async { Ok::<(), consume::Failure>(()) }
            };
            let group = unique_name("restart-group");
            consume::run(bus, store, &group, &[&topic], handler, health, shutdown).await;
        })
    };
    let publish = |who: &'static str| {
        let (_, mut record) = event::new_record(
            "restart",
            "passerelle.events.v1.AccountErased",
            who,
            &events::AccountErased {
                account_id: who.into(),
            },
        );
        record.topic = topic.clone();
        record
    };
    bus.append(publish("before")).await.unwrap();
    until("the first event", Duration::from_secs(60), || {
        seen.lock().unwrap().iter().any(|s| s == "before")
    })
    .await;

    // Down long enough for the consumer to see the outage and back off.
    broker("stop");
    until("the outage to be seen", Duration::from_secs(60), || {
        !health.problems(Duration::ZERO).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    broker("start");
    let restarted = Instant::now();

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match bus.append(publish("after")).await {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no append after the restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    until(
        "the event appended after the restart",
        Duration::from_secs(60),
        || seen.lock().unwrap().iter().any(|s| s == "after"),
    )
    .await;
    let handled = restarted.elapsed();
    // Serving again well before the health check's 30 s would turn a stuck consumer into
    // NOT_SERVING: nothing may stay stuck once events flow.
    until(
        "the consumer to report itself unstuck",
        Duration::from_secs(20),
        || health.problems(Duration::ZERO).is_empty(),
    )
    .await;
    println!(
        "after the broker restart: event handled in {:.1} s, serving in {:.1} s",
        handled.as_secs_f64(),
        restarted.elapsed().as_secs_f64()
    );
    shutdown.cancel();
    consumer.await.unwrap();
}
