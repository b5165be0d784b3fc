//! The conformance suite every [`Bus`](crate::Bus) engine passes.
//!
//! Each check uses topics and groups of its own, so checks run concurrently on one broker.
//! [`bus_conformance_suite!`](crate::bus_conformance_suite) makes one `#[tokio::test]` per check.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passerelle_store::conformance::unique_table;
use passerelle_store::{DynStore, KeyRange};
use tokio_util::sync::CancellationToken;

use crate::outbox::{OUTBOX_TABLE, OutboxRelay};
use crate::{Consumer, Delivery, DynBus, Headers, Record, consume, event};

/// A bus name (topic or group) no other check uses.
pub fn unique_name(base: &str) -> String {
    unique_table(base).replace('_', ".")
}

/// A bus on the real Kafka broker of `PASSERELLE_TEST_KAFKA`.
pub async fn kafka_bus() -> Option<DynBus> {
    let addr = passerelle_store::conformance::server_address("PASSERELLE_TEST_KAFKA", "Kafka")?;
    Some(
        crate::open(&format!("kafka://{addr}?partitions=4"))
            .await
            .unwrap(),
    )
}

fn record(topic: &str, key: &str, payload: &str) -> Record {
    let mut headers = Headers::default();
    headers.insert("origin", "conformance");
    Record {
        topic: topic.to_owned(),
        key: key.to_owned(),
        payload: payload.as_bytes().to_vec(),
        headers,
    }
}

/// Polls until `n` deliveries arrived (Kafka needs a few seconds to form a group).
pub async fn collect(consumer: &mut Box<dyn Consumer>, n: usize) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "got {} of {n} records within 60s",
            out.len()
        );
        out.extend(
            consumer
                .poll(n - out.len(), Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    out
}

/// Polls for `wait` and returns whatever comes.
async fn drain(consumer: &mut Box<dyn Consumer>, wait: Duration) -> Vec<Delivery> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        out.extend(
            consumer
                .poll(100, Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    out
}

pub async fn delivers_every_record_in_key_order(bus: DynBus) {
    let topic = unique_name("order");
    for i in 0..50 {
        let key = format!("person-{}", i % 5);
        bus.append(record(&topic, &key, &format!("{key}:{i:03}")))
            .await
            .unwrap();
    }
    let mut consumer = bus.subscribe(&unique_name("g"), &[&topic]).await.unwrap();
    let got = collect(&mut consumer, 50).await;
    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &got {
        assert_eq!(d.topic, topic);
        assert_eq!(d.headers.get_str("origin"), Some("conformance"));
        let payload = String::from_utf8(d.payload.clone()).unwrap();
        assert!(payload.starts_with(&d.key), "{payload} under key {}", d.key);
        per_key.entry(d.key.clone()).or_default().push(payload);
    }
    assert_eq!(per_key.len(), 5);
    for (key, payloads) in per_key {
        let mut sorted = payloads.clone();
        sorted.sort();
        assert_eq!(payloads, sorted, "records of {key} out of order");
        assert_eq!(payloads.len(), 10);
    }
}

pub async fn every_group_sees_every_record(bus: DynBus) {
    let topic = unique_name("groups");
    for i in 0..10 {
        bus.append(record(&topic, &format!("k{i}"), "v"))
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let mut consumer = bus.subscribe(&unique_name("g"), &[&topic]).await.unwrap();
        assert_eq!(collect(&mut consumer, 10).await.len(), 10);
    }
}

/// Committed records are not delivered to the group again; uncommitted ones are.
pub async fn commits_decide_what_comes_again(bus: DynBus) {
    let topic = unique_name("commit");
    let group = unique_name("g");
    // One key: one partition, so "the first N" is well defined.
    for i in 0..20 {
        bus.append(record(&topic, "one-key", &format!("{i:02}")))
            .await
            .unwrap();
    }
    let mut consumer = bus.subscribe(&group, &[&topic]).await.unwrap();
    let first = collect(&mut consumer, 20).await;
    consumer.commit(&first[..8]).await.unwrap();
    drop(consumer);

    let mut consumer = bus.subscribe(&group, &[&topic]).await.unwrap();
    let again = collect(&mut consumer, 12).await;
    let payloads: Vec<String> = again
        .iter()
        .map(|d| String::from_utf8(d.payload.clone()).unwrap())
        .collect();
    assert_eq!(
        payloads.first().map(String::as_str),
        Some("08"),
        "resumes after the last commit"
    );
    consumer.commit(&again).await.unwrap();
    let extra = drain(&mut consumer, Duration::from_secs(2)).await;
    assert!(extra.is_empty(), "committed records came again: {extra:?}");
}

pub async fn group_members_share_the_records(bus: DynBus) {
    let topic = unique_name("share");
    let group = unique_name("g");
    let total = 40;
    for i in 0..total {
        bus.append(record(&topic, &format!("k{i}"), &format!("{i}")))
            .await
            .unwrap();
    }
    let mut a = bus.subscribe(&group, &[&topic]).await.unwrap();
    let mut b = bus.subscribe(&group, &[&topic]).await.unwrap();
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < total {
        assert!(
            Instant::now() < deadline,
            "the group got {} of {total} records",
            seen.len()
        );
        for consumer in [&mut a, &mut b] {
            let got = consumer.poll(10, Duration::from_millis(200)).await.unwrap();
            // A commit can race a rebalance and be refused; the records then come again,
            // which this check allows.
            let _ = consumer.commit(&got).await;
            seen.extend(got.into_iter().map(|d| (d.partition, d.offset)));
        }
    }
}

pub async fn concurrent_appends_all_land(bus: DynBus) {
    let topic = unique_name("burst");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let bus = Arc::clone(&bus);
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for i in 0..25 {
                let key = format!("k{t}-{i}");
                let position = bus.append(record(&topic, &key, "v")).await.unwrap();
                positions.push((key, position));
            }
            positions
        }));
    }
    // Every append says where it landed; an offset may be unknown (a retried Kafka batch the
    // broker had already written), but a known one is never given twice.
    let mut appended = HashMap::new();
    let mut known = HashSet::new();
    for task in tasks {
        for (key, p) in task.await.unwrap() {
            if let Some(offset) = p.offset {
                assert!(known.insert((p.partition, offset)), "two appends got {p:?}");
            }
            appended.insert(key, p);
        }
    }
    assert_eq!(appended.len(), 200);
    // Each record is delivered once, where its append said. Missing ones are named with where
    // their append said they landed, so a loss can be told from a slow group.
    let mut consumer = bus.subscribe(&unique_name("g"), &[&topic]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < appended.len() && Instant::now() < deadline {
        got.extend(
            consumer
                .poll(appended.len() - got.len(), Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    if got.len() < appended.len() {
        let seen: HashSet<&str> = got.iter().map(|d| d.key.as_str()).collect();
        let mut missing: Vec<_> = appended
            .iter()
            .filter(|(key, _)| !seen.contains(key.as_str()))
            .map(|(key, p)| format!("{key} at {p:?}"))
            .collect();
        missing.sort();
        panic!(
            "got {} of {} records within 60s; missing: {}",
            got.len(),
            appended.len(),
            missing.join(", ")
        );
    }
    let mut delivered = HashSet::new();
    for d in &got {
        assert!(delivered.insert(d.key.clone()), "{} delivered twice", d.key);
        let p = appended[&d.key];
        assert_eq!(p.partition, d.partition, "{} landed elsewhere", d.key);
        if let Some(offset) = p.offset {
            assert_eq!(offset, d.offset, "{} landed elsewhere", d.key);
        }
    }
    assert_eq!(delivered.len(), appended.len());
}

pub async fn bad_input_is_refused_with_the_reason(bus: DynBus) {
    let err = bus
        .append(record("bad topic", "k", "v"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid topic `bad topic`") && err.contains("expected"),
        "{err}"
    );
    let err = bus.subscribe("g", &[]).await.err().unwrap().to_string();
    assert!(err.contains("expected at least one"), "{err}");
    let err = bus
        .subscribe("bad group!", &["t"])
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("invalid consumer group"), "{err}");
    let mut consumer = bus
        .subscribe(&unique_name("g"), &[&unique_name("t")])
        .await
        .unwrap();
    let err = consumer
        .poll(0, Duration::from_millis(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected at least 1"), "{err}");
}

/// The outbox relay publishes what a store batch wrote, in order, then empties the outbox;
/// the idempotent consumer handles each event once even when the bus repeats it.
pub async fn outbox_to_idempotent_consumer(bus: DynBus, store: DynStore) {
    let producer = unique_table("svc");
    let relay = OutboxRelay::new(store.clone(), bus.clone(), producer.clone());
    let mut ids = Vec::new();
    let mut records = Vec::new();
    for i in 0..30 {
        let payload = passerelle_proto::platform::v1::ServiceEndpoint {
            name: format!("n{i}"),
            address: String::new(),
        };
        let (envelope, record) =
            event::new_record(&producer, "test.Event", &format!("agg-{}", i % 3), &payload);
        store
            .batch(vec![crate::outbox::mutation(
                &producer,
                &envelope.event_id,
                &record,
            )])
            .await
            .unwrap();
        ids.push(envelope.event_id);
        records.push(record);
    }
    let mut relayed = 0;
    while relayed < 30 {
        relayed += relay.relay_once().await.unwrap();
    }
    let left = store
        .scan(OUTBOX_TABLE, &producer, &KeyRange::all(), 10)
        .await
        .unwrap();
    assert!(left.rows.is_empty(), "the outbox kept relayed events");
    // The bus repeats three events, as it may after a relay crash.
    for record in &records[..3] {
        bus.append(record.clone()).await.unwrap();
    }

    let topic = event::topic_of(&producer);
    let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let shutdown = CancellationToken::new();
    let task = {
        let (bus, store, handled, shutdown) = (
            bus.clone(),
            store.clone(),
            handled.clone(),
            shutdown.clone(),
        );
        let group = unique_name("g");
        tokio::spawn(async move {
            consume::run(
                bus,
                store,
                &group,
                &[&topic],
                move |envelope, _| {
                    let handled = handled.clone();
                    async move {
                        handled.lock().unwrap().push(envelope.event_id);
                        Ok(())
                    }
                },
                passerelle_core::health::Health::default(),
                shutdown,
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while handled.lock().unwrap().len() < 30 {
        assert!(
            Instant::now() < deadline,
            "handled {} of 30 events",
            handled.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the repeats arrive too, then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    shutdown.cancel();
    task.await.unwrap();
    let mut handled = handled.lock().unwrap().clone();
    assert_eq!(handled.len(), 30, "an event was handled twice");
    handled.sort();
    ids.sort();
    assert_eq!(handled, ids);
}

/// Generates one `#[tokio::test]` per conformance check. `$bus` is an async expression giving
/// `Option<DynBus>` (`None` skips); `$store` gives the `DynStore` the outbox check uses.
#[macro_export]
macro_rules! bus_conformance_suite {
    ($bus:expr, $store:expr) => {
        $crate::bus_conformance_suite!(@tests $bus;
            delivers_every_record_in_key_order,
            every_group_sees_every_record,
            commits_decide_what_comes_again,
            group_members_share_the_records,
            concurrent_appends_all_land,
            bad_input_is_refused_with_the_reason,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn outbox_to_idempotent_consumer() {
            if let Some(bus) = $bus.await {
                $crate::conformance::outbox_to_idempotent_consumer(bus, $store.await).await;
            }
        }
    };
    (@tests $bus:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                if let Some(bus) = $bus.await {
                    $crate::conformance::$check(bus).await;
                }
            }
        )*
    };
}
