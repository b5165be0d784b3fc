//! The consumer loop under failure: an outage (store down, a handler waiting on something out)
//! is waited out — never skipped, never parked — and shown to the service's health; a bad
//! event is parked after a few tries, listed, and replayed once its cause is fixed.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use passerelle_bus::consume::{self, Failure, dead_letters};
use passerelle_bus::sqlite::SqliteBus;
use passerelle_bus::{DynBus, event};
use passerelle_core::CancellationToken;
use passerelle_core::health::Health;
use passerelle_proto::events::v1 as events;
use passerelle_store::DynStore;
use passerelle_store::sqlite::SqliteStore;
use passerelle_store::testing::Flaky;

struct World {
    bus: DynBus,
    flaky: Arc<Flaky>,
    store: DynStore,
    health: Health,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky::new(Arc::new(
        SqliteStore::open(&dir.path().join("store.db")).unwrap(),
    )));
    World {
        bus: Arc::new(SqliteBus::open(&dir.path().join("bus.db"), 2).unwrap()),
        store: flaky.clone(),
        flaky,
        health: Health::default(),
        shutdown: CancellationToken::new(),
        _dir: dir,
    }
}

impl World {
    async fn publish(&self, account: &str) -> String {
        let (envelope, record) = event::new_record(
            "identity",
            "passerelle.events.v1.AccountErased",
            account,
            &events::AccountErased {
                account_id: account.into(),
            },
        );
        self.bus.append(record).await.unwrap();
        envelope.event_id
    }

    fn consume<H, Fut>(&self, handler: H) -> tokio::task::JoinHandle<()>
    where
        H: FnMut(events::Envelope, passerelle_bus::Delivery) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = consume::HandlerResult> + Send + 'static,
    {
        let (bus, store, health, shutdown) = (
            self.bus.clone(),
            self.store.clone(),
            self.health.clone(),
            self.shutdown.clone(),
        );
        tokio::spawn(async move {
            consume::run(
                bus,
                store,
                "eraser",
                &["passerelle.identity"],
                handler,
                health,
                shutdown,
            )
            .await
        })
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An erasure whose handler waits on an outage is tried again and again — past the attempts a
/// bad event gets — and done once the outage ends; meanwhile the health shows it stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_waited_out_never_skipped() {
    let w = world();
    w.publish("person-1").await;
    let tries = Arc::new(AtomicU32::new(0));
    let task = {
        let tries = tries.clone();
        w.consume(move |_, _| {
            let n = tries.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n <= consume::MAX_ATTEMPTS + 2 {
                    Err(Failure::Retry("the vault's store is failing over".into()))
                } else {
                    Ok(())
                }
            }
        })
    };
    until("the handler to be tried past the limit", || {
        tries.load(Ordering::SeqCst) > consume::MAX_ATTEMPTS
    })
    .await;
    assert!(
        !w.health.problems(Duration::ZERO).is_empty(),
        "the consumer does not say it is stuck"
    );
    until("the erasure to be done", || {
        tries.load(Ordering::SeqCst) == consume::MAX_ATTEMPTS + 3
    })
    .await;
    until("the health to clear", || {
        w.health.problems(Duration::ZERO).is_empty()
    })
    .await;
    assert!(
        dead_letters::list(&w.store, None).await.unwrap().is_empty(),
        "an outage is not a bad event"
    );
    w.shutdown.cancel();
    task.await.unwrap();
}

/// The store itself out — the consumer cannot even remember what it handled: it keeps
/// trying, does not end, and carries on when the store is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_does_not_end_the_consumer() {
    let w = world();
    let handled = Arc::new(AtomicU32::new(0));
    w.flaky.set_down(true);
    w.publish("person-2").await;
    let task = {
        let handled = handled.clone();
        w.consume(move |_, _| {
            handled.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        })
    };
    until("the consumer to report the store", || {
        !w.health.problems(Duration::ZERO).is_empty()
    })
    .await;
    assert!(!task.is_finished(), "the consumer ended on a store error");
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    w.flaky.set_down(false);
    until("the event to be handled", || {
        handled.load(Ordering::SeqCst) == 1
    })
    .await;
    until("the health to clear", || {
        w.health.problems(Duration::ZERO).is_empty()
    })
    .await;
    w.shutdown.cancel();
    task.await.unwrap();
}

/// A bad event is parked after a few tries and the group moves on; once the cause is fixed,
/// the operator lists it and replays it, and it is handled — once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_event_is_parked_listed_and_replayed() {
    let w = world();
    let fixed = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bad = w.publish("person-3").await;
    let good = w.publish("person-4").await;
    let task = {
        let (fixed, handled) = (fixed.clone(), handled.clone());
        w.consume(move |envelope, _| {
            let ok = fixed.load(Ordering::SeqCst) || envelope.aggregate_id != "person-3";
            if ok {
                handled.lock().unwrap().push(envelope.event_id.clone());
            }
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(Failure::Reject("no such vault layout".into()))
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let letters = loop {
        let letters = dead_letters::list(&w.store, None).await.unwrap();
        if !letters.is_empty() {
            break letters;
        }
        assert!(Instant::now() < deadline, "the bad event was never parked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        handled.lock().unwrap().contains(&good),
        "the group did not move on"
    );
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.group, "eraser");
    assert_eq!(letter.event_id, bad);
    assert_eq!(letter.event_type, "passerelle.events.v1.AccountErased");
    assert_eq!(letter.attempts, consume::MAX_ATTEMPTS);
    assert!(letter.reason.contains("no such vault layout"));

    fixed.store(true, Ordering::SeqCst);
    dead_letters::replay(&w.store, &w.bus, letter)
        .await
        .unwrap();
    until("the replayed event to be handled", || {
        handled.lock().unwrap().contains(&bad)
    })
    .await;
    assert!(
        dead_letters::list(&w.store, Some("eraser"))
            .await
            .unwrap()
            .is_empty()
    );
    // Replaying it again by mistake changes nothing: it is known as handled.
    w.bus
        .append(event::to_record(
            "passerelle.identity",
            &events::Envelope {
                event_id: bad.clone(),
                event_type: "passerelle.events.v1.AccountErased".into(),
                aggregate_id: "person-3".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let marker = w.publish("person-5").await;
    until("a later event", || {
        handled.lock().unwrap().contains(&marker)
    })
    .await;
    let times = handled
        .lock()
        .unwrap()
        .iter()
        .filter(|id| **id == bad)
        .count();
    assert_eq!(times, 1, "the replayed event was handled twice");
    w.shutdown.cancel();
    task.await.unwrap();
}

/// The embedded log keeps records for its retention, then forgets them (events name accounts:
/// they must not stay for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_log_forgets_records_past_their_retention() {
    let w = world();
    for n in 0..3 {
        w.publish(&format!("person-{n}")).await;
    }
    assert_eq!(w.bus.prune(Duration::from_secs(3600)).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(w.bus.prune(Duration::from_millis(10)).await.unwrap(), 3);
    let mut late = w
        .bus
        .subscribe("late-group", &["passerelle.identity"])
        .await
        .unwrap();
    assert!(
        late.poll(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
}
