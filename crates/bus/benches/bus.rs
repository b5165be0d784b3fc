//! Bus append and consume, the embedded SQLite log side by side with Apache Kafka, in one run.
//! Kafka runs when `PASSERELLE_TEST_KAFKA` is set (`scripts/bench.sh` sets it).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use passerelle_benchkit::{Stats, compare, measure, section};
use passerelle_bus::sqlite::SqliteBus;
use passerelle_bus::{DynBus, Headers, Record};

const PAYLOAD_BYTES: usize = 256;
const CONSUMED: usize = 20_000;

fn record(topic: &str, i: u64) -> Record {
    let mut headers = Headers::default();
    headers.insert("event_id", format!("{i:016x}"));
    Record {
        topic: topic.to_owned(),
        key: format!("person-{}", i % 5000),
        payload: vec![1u8; PAYLOAD_BYTES],
        headers,
    }
}

fn unique(base: &str) -> String {
    format!(
        "{base}.{}.{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn append(name: &str, bus: DynBus, concurrency: usize) -> Stats {
    let topic = unique("bench-append");
    measure(
        &format!("{name} append, {concurrency} in flight"),
        concurrency,
        move |i| {
            let (bus, topic) = (bus.clone(), topic.clone());
            async move {
                bus.append(record(&topic, i)).await.unwrap();
            }
        },
    )
    .await
}

/// Appends `CONSUMED` records, then times a new group reading them all, committing each poll.
async fn consume(name: &str, bus: DynBus) -> Stats {
    let topic = unique("bench-consume");
    let mut pending =
        futures::stream::iter((0..CONSUMED as u64).map(|i| bus.append(record(&topic, i))))
            .buffer_unordered(256);
    while let Some(result) = pending.next().await {
        result.unwrap();
    }
    let mut consumer = bus
        .subscribe(&unique("bench-group"), &[&topic])
        .await
        .unwrap();
    let started = Instant::now();
    let mut got = 0;
    while got < CONSUMED {
        let batch = consumer.poll(1000, Duration::from_secs(5)).await.unwrap();
        consumer.commit(&batch).await.unwrap();
        got += batch.len();
    }
    let elapsed = started.elapsed();
    let stats = Stats {
        label: format!("{name} consume (poll + commit)"),
        ops: got as u64,
        elapsed,
        p50: Duration::ZERO,
        p99: Duration::ZERO,
    };
    println!(
        "  {:<44} {:>10.0} records/s ({got} records in {:.2}s, group join included)",
        stats.label,
        stats.ops_per_sec(),
        elapsed.as_secs_f64()
    );
    stats
}

fn main() {
    passerelle_benchkit::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite: DynBus = Arc::new(SqliteBus::open(&dir.path().join("bus.db"), 4).unwrap());
        let kafka = match std::env::var("PASSERELLE_TEST_KAFKA") {
            Ok(addr) => Some(
                passerelle_bus::open(&format!("kafka://{addr}?partitions=4"))
                    .await
                    .unwrap(),
            ),
            Err(_) => {
                println!(
                    "PASSERELLE_TEST_KAFKA is not set: Kafka is left out (scripts/bench.sh sets it)"
                );
                None
            }
        };
        for concurrency in [1, 64] {
            section(&format!(
                "bus append, {concurrency} in flight, {PAYLOAD_BYTES}-byte payloads, durable on return"
            ));
            let local = append("sqlite", sqlite.clone(), concurrency).await;
            if let Some(kafka) = &kafka {
                let remote = append("kafka", kafka.clone(), concurrency).await;
                compare("append", &remote, &local);
            }
        }
        section(&format!("bus consume, {CONSUMED} records"));
        let local = consume("sqlite", sqlite.clone()).await;
        if let Some(kafka) = &kafka {
            let remote = consume("kafka", kafka.clone()).await;
            compare("consume", &remote, &local);
        }
    });
}
