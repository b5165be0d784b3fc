//! The conformance suite every [`Store`](crate::Store) engine passes.
//!
//! Each check takes a store and works in tables of its own, so checks run concurrently on one
//! store. [`store_conformance_suite!`](crate::store_conformance_suite) turns the list into one
//! `#[tokio::test]` per check for an engine. [`server_address`] and [`cql_store`] find the real
//! servers a test run was given.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{DynStore, KeyRange, Mutation, Row};

/// The address of a real server a test needs, from the environment variable `var`.
///
/// Unset, the test is skipped with a note, unless `CI` is set: in CI every suite runs, so a
/// missing server fails the run instead of passing silently.
pub fn server_address(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(addr) if !addr.is_empty() => Some(addr),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{var} is not set: CI runs the {what} suite against a real server (scripts/test.sh starts it)"
        ),
        _ => {
            eprintln!("skipped: the {what} suite needs {var} (scripts/test.sh sets it)");
            None
        }
    }
}

/// A store on the real CQL node of `PASSERELLE_TEST_CQL`, in `keyspace`, which is dropped and
/// created anew once per test process so test tables never pile up on the node.
pub async fn cql_store(keyspace: &str) -> Option<DynStore> {
    static RESET: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let addr = server_address("PASSERELLE_TEST_CQL", "CQL (Cassandra)")?;
    RESET
        .get_or_init(|| async {
            let session = scylla::client::session_builder::SessionBuilder::new()
                .known_node(&addr)
                .build()
                .await
                .unwrap_or_else(|e| panic!("PASSERELLE_TEST_CQL={addr}: {e}"));
            session
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
                .await
                .unwrap();
        })
        .await;
    let store = crate::open(&format!("scylla://{addr}/{keyspace}"))
        .await
        .unwrap();
    Some(store)
}

/// A table name no other check or run uses.
pub fn unique_table(base: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!("{base}_{pid:x}{nanos:x}{n:x}")
}

pub async fn put_get_delete(store: DynStore) {
    let t = unique_table("basic");
    assert_eq!(store.get(&t, "p", "c").await.unwrap(), None);
    store
        .put(Row::new(&t, "p", "c", b"one".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        store.get(&t, "p", "c").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    store
        .put(Row::new(&t, "p", "c", b"two".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        store.get(&t, "p", "c").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    // Keys are exact: neither another partition nor another clustering key sees the row.
    assert_eq!(store.get(&t, "q", "c").await.unwrap(), None);
    assert_eq!(store.get(&t, "p", "d").await.unwrap(), None);
    store.delete(&t, "p", "c").await.unwrap();
    assert_eq!(store.get(&t, "p", "c").await.unwrap(), None);
    store.delete(&t, "p", "c").await.unwrap();
    // Empty values and non-ASCII keys are ordinary.
    store.put(Row::new(&t, "é", "ç", Vec::new())).await.unwrap();
    assert_eq!(store.get(&t, "é", "ç").await.unwrap(), Some(Vec::new()));
}

pub async fn put_if_absent_claims_once(store: DynStore) {
    let t = unique_table("claim");
    assert!(
        store
            .put_if_absent(Row::new(&t, "p", "c", b"first".to_vec()))
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_if_absent(Row::new(&t, "p", "c", b"second".to_vec()))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get(&t, "p", "c").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

pub async fn racing_put_if_absent_has_one_winner(store: DynStore) {
    let t = unique_table("race");
    let writers = 16;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let won = store
                .put_if_absent(Row::new(&t, "p", "c", format!("writer-{i}").into_bytes()))
                .await
                .unwrap();
            (i, won)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = task.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = store.get(&t, "p", "c").await.unwrap().unwrap();
    assert_eq!(stored, format!("writer-{}", winners[0]).into_bytes());
}

pub async fn compare_and_set_checks_the_current_value(store: DynStore) {
    let t = unique_table("cas");
    let row = |v: &str| Row::new(&t, "p", "c", v.as_bytes().to_vec());
    assert!(
        !store.compare_and_set(row("x"), b"anything").await.unwrap(),
        "missing row matched"
    );
    assert!(store.put_if_absent(row("v1")).await.unwrap());
    assert!(!store.compare_and_set(row("v2"), b"wrong").await.unwrap());
    assert_eq!(
        store.get(&t, "p", "c").await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert!(store.compare_and_set(row("v2"), b"v1").await.unwrap());
    assert_eq!(
        store.get(&t, "p", "c").await.unwrap().as_deref(),
        Some(&b"v2"[..])
    );
}

/// Concurrent read-modify-write loops through compare-and-set lose no increment.
pub async fn compare_and_set_counter_loses_no_update(store: DynStore) {
    let t = unique_table("counter");
    assert!(
        store
            .put_if_absent(Row::new(&t, "p", "n", b"0".to_vec()))
            .await
            .unwrap()
    );
    let (tasks, increments) = (4, 5);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = Arc::clone(&store);
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..increments {
                loop {
                    let current = store.get(&t, "p", "n").await.unwrap().unwrap();
                    let n: u32 = String::from_utf8(current.clone()).unwrap().parse().unwrap();
                    let next = (n + 1).to_string().into_bytes();
                    if store
                        .compare_and_set(Row::new(&t, "p", "n", next), &current)
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let total = store.get(&t, "p", "n").await.unwrap().unwrap();
    assert_eq!(total, (tasks * increments).to_string().into_bytes());
}

pub async fn scan_pages_in_key_order(store: DynStore) {
    let t = unique_table("scan");
    // Written out of order, in two partitions.
    let mut batch = Vec::new();
    for i in (0..25).rev() {
        batch.push(Mutation::Put(Row::new(
            &t,
            "p",
            format!("k{i:02}"),
            vec![i as u8],
        )));
        batch.push(Mutation::Put(Row::new(
            &t,
            "other",
            format!("k{i:02}"),
            vec![0],
        )));
    }
    store.batch(batch).await.unwrap();

    let mut range = KeyRange::all();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.scan(&t, "p", &range, 10).await.unwrap();
        pages += 1;
        assert!(page.rows.len() <= 10);
        seen.extend(page.rows.into_iter().map(|(ck, v)| (ck, v[0])));
        match page.next {
            Some(next) => range = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<_> = (0..25).map(|i| (format!("k{i:02}"), i as u8)).collect();
    assert_eq!(seen, expected);

    let prefixed = store
        .scan(&t, "p", &KeyRange::prefix("k1"), 100)
        .await
        .unwrap();
    let keys: Vec<_> = prefixed.rows.iter().map(|(ck, _)| ck.as_str()).collect();
    assert_eq!(
        keys,
        [
            "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19"
        ]
    );
    assert!(prefixed.next.is_none());

    let between = store
        .scan(&t, "p", &KeyRange::between("k05", "k08"), 100)
        .await
        .unwrap();
    let keys: Vec<_> = between.rows.iter().map(|(ck, _)| ck.as_str()).collect();
    assert_eq!(keys, ["k05", "k06", "k07"]);

    let exact_page = store
        .scan(&t, "p", &KeyRange::prefix("k2"), 5)
        .await
        .unwrap();
    assert_eq!(exact_page.rows.len(), 5);
    assert!(
        exact_page.next.is_none(),
        "a page that ends the range has no next"
    );

    let empty = store
        .scan(&t, "nobody", &KeyRange::all(), 10)
        .await
        .unwrap();
    assert!(empty.rows.is_empty() && empty.next.is_none());
}

/// Polls until `check` holds; TTLs are whole seconds, so this waits a few of them at most.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 10s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn ttl_expires_rows(store: DynStore) {
    let t = unique_table("ttl");
    let short = Duration::from_secs(1);
    store
        .put(Row::new(&t, "p", "gone", b"v".to_vec()).with_ttl(short))
        .await
        .unwrap();
    store
        .put(Row::new(&t, "p", "kept", b"v".to_vec()))
        .await
        .unwrap();
    assert!(
        store
            .put_if_absent(Row::new(&t, "p", "claim", b"old".to_vec()).with_ttl(short))
            .await
            .unwrap()
    );
    assert!(store.get(&t, "p", "gone").await.unwrap().is_some());

    eventually("TTL expiry", || async {
        store.get(&t, "p", "gone").await.unwrap().is_none()
            && store.get(&t, "p", "claim").await.unwrap().is_none()
    })
    .await;
    let page = store.scan(&t, "p", &KeyRange::all(), 10).await.unwrap();
    let keys: Vec<_> = page.rows.iter().map(|(ck, _)| ck.as_str()).collect();
    assert_eq!(keys, ["kept"], "expired rows must not show in scans");
    assert!(
        !store
            .compare_and_set(Row::new(&t, "p", "claim", b"x".to_vec()), b"old")
            .await
            .unwrap()
    );
    // An expired claim can be claimed again: that is what leases rely on.
    assert!(
        store
            .put_if_absent(Row::new(&t, "p", "claim", b"new".to_vec()))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get(&t, "p", "claim").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );
}

pub async fn batch_applies_all_across_tables(store: DynStore) {
    let (a, b) = (unique_table("batch_a"), unique_table("batch_b"));
    store
        .put(Row::new(&b, "p", "old", b"x".to_vec()))
        .await
        .unwrap();
    store
        .batch(vec![
            Row::new(&a, "p1", "c", b"1".to_vec()).into(),
            Row::new(&b, "p2", "c", b"2".to_vec()).into(),
            Mutation::delete(&b, "p", "old"),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.get(&a, "p1", "c").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        store.get(&b, "p2", "c").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(store.get(&b, "p", "old").await.unwrap(), None);
}

/// A batch with one bad mutation is refused whole: nothing of it is written.
pub async fn batch_with_a_bad_mutation_writes_nothing(store: DynStore) {
    let t = unique_table("batch_bad");
    let err = store
        .batch(vec![
            Row::new(&t, "p", "good", b"1".to_vec()).into(),
            Row::new(&t, "p", "huge", vec![0u8; crate::MAX_VALUE_BYTES + 1]).into(),
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    assert_eq!(store.get(&t, "p", "good").await.unwrap(), None);
}

/// Readers never see half a batch written within one partition.
pub async fn batch_is_never_seen_half_written(store: DynStore) {
    let t = unique_table("batch_iso");
    store
        .batch(vec![
            Row::new(&t, "p", "a", b"0".to_vec()).into(),
            Row::new(&t, "p", "b", b"0".to_vec()).into(),
        ])
        .await
        .unwrap();
    let writer = {
        let store = Arc::clone(&store);
        let t = t.clone();
        tokio::spawn(async move {
            for v in 1..=40u32 {
                let v = v.to_string().into_bytes();
                store
                    .batch(vec![
                        Row::new(&t, "p", "a", v.clone()).into(),
                        Row::new(&t, "p", "b", v).into(),
                    ])
                    .await
                    .unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let page = store.scan(&t, "p", &KeyRange::all(), 10).await.unwrap();
        assert_eq!(page.rows.len(), 2);
        assert_eq!(page.rows[0].1, page.rows[1].1, "saw half a batch");
        reads += 1;
    }
    writer.await.unwrap();
}

pub async fn bad_input_is_refused_with_the_reason(store: DynStore) {
    let err = store
        .get("Bad Table", "p", "c")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid table name `Bad Table`") && err.contains("expected"),
        "{err}"
    );
    let t = unique_table("bad");
    let err = store
        .put(Row::new(
            &t,
            "p",
            "c",
            vec![0u8; crate::MAX_VALUE_BYTES + 1],
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("too large") && err.contains("at most"),
        "{err}"
    );
    let err = store
        .scan(&t, "p", &KeyRange::all(), 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected 1 to 10000"), "{err}");
}

/// Generates one `#[tokio::test]` per conformance check. `$open` is an async expression giving
/// `Option<DynStore>`; `None` skips the engine (the caller says why).
#[macro_export]
macro_rules! store_conformance_suite {
    ($open:expr) => {
        $crate::store_conformance_suite!(@tests $open;
            put_get_delete,
            put_if_absent_claims_once,
            racing_put_if_absent_has_one_winner,
            compare_and_set_checks_the_current_value,
            compare_and_set_counter_loses_no_update,
            scan_pages_in_key_order,
            ttl_expires_rows,
            batch_applies_all_across_tables,
            batch_with_a_bad_mutation_writes_nothing,
            batch_is_never_seen_half_written,
            bad_input_is_refused_with_the_reason,
        );
    };
    (@tests $open:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                if let Some(store) = $open.await {
                    $crate::conformance::$check(store).await;
                }
            }
        )*
    };
}
