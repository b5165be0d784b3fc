//! Store put and get, the embedded SQLite engine side by side with Cassandra (the CQL engine,
//! standing in for ScyllaDB), in one run. Cassandra runs when `PASSERELLE_TEST_CQL` is set
//! (`scripts/bench.sh` sets it).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use futures::StreamExt as _;

use passerelle_benchkit::{compare, measure, section};
use passerelle_store::sqlite::SqliteStore;
use passerelle_store::{DynStore, Row};

const VALUE_BYTES: usize = 200;
const PREFILLED: u64 = 10_000;

async fn put_then_get(
    name: &str,
    store: DynStore,
    concurrency: usize,
) -> (passerelle_benchkit::Stats, passerelle_benchkit::Stats) {
    let table = format!("bench_{}", std::process::id());
    let put = {
        let (store, table) = (store.clone(), table.clone());
        measure(
            &format!("{name} put, {concurrency} in flight"),
            concurrency,
            move |i| {
                let (store, table) = (store.clone(), table.clone());
                async move {
                    let row = Row::new(
                        &table,
                        format!("p{}", i % 1000),
                        format!("c{i:012}"),
                        vec![7u8; VALUE_BYTES],
                    );
                    store.put(row).await.unwrap();
                }
            },
        )
        .await
    };
    // Reads hit rows known to exist, whatever the put phase managed to write.
    let mut prefill = futures::stream::iter((0..PREFILLED).map(|i| {
        let row = Row::new(
            &table,
            format!("p{}", i % 1000),
            format!("c{i:012}"),
            vec![7u8; VALUE_BYTES],
        );
        store.put(row)
    }))
    .buffer_unordered(64);
    while let Some(result) = prefill.next().await {
        result.unwrap();
    }
    drop(prefill);
    let get = measure(
        &format!("{name} get, {concurrency} in flight"),
        concurrency,
        move |i| {
            let (store, table) = (store.clone(), table.clone());
            async move {
                let i = (i.wrapping_mul(2_654_435_761)) % PREFILLED;
                let value = store
                    .get(&table, &format!("p{}", i % 1000), &format!("c{i:012}"))
                    .await
                    .unwrap();
                assert!(value.is_some(), "row {i} missing");
            }
        },
    )
    .await;
    (put, get)
}

fn main() {
    passerelle_benchkit::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite: DynStore = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let cql = match std::env::var("PASSERELLE_TEST_CQL") {
            Ok(addr) => Some(
                passerelle_store::open(&format!("scylla://{addr}/passerelle_bench"))
                    .await
                    .unwrap(),
            ),
            Err(_) => {
                println!(
                    "PASSERELLE_TEST_CQL is not set: Cassandra is left out (scripts/bench.sh sets it)"
                );
                None
            }
        };
        for concurrency in [1, 32] {
            section(&format!(
                "store, {concurrency} operation(s) in flight, {VALUE_BYTES}-byte values"
            ));
            let (sqlite_put, sqlite_get) =
                put_then_get("sqlite", sqlite.clone(), concurrency).await;
            if let Some(cql) = &cql {
                let (cql_put, cql_get) = put_then_get("cassandra", cql.clone(), concurrency).await;
                compare("put", &cql_put, &sqlite_put);
                compare("get", &cql_get, &sqlite_get);
            }
        }
    });
}
