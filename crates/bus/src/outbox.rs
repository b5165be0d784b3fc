//! The transactional outbox: an event is written in the same store batch as the state change
//! it reports, so neither exists without the other; a relay then appends it to the bus and
//! removes it.
//!
//! A crash between the append and the removal appends the event again after restart: delivery
//! is at least once, which is why consumers deduplicate by event id ([`crate::consume`]).
//!
//! Each producing service has one outbox partition; clustering keys are the events' UUIDv7 ids,
//! so a scan returns events in the order they were written and the relay appends them in that
//! order.
//!
//! A relayed event is deleted, and on ScyllaDB/Cassandra a delete leaves a tombstone that every
//! later read of the partition walks over until it is purged (days later): a relay that always
//! scanned from the start would read more tombstones each round, and past Cassandra's failure
//! threshold (100,000) its reads would fail. So the relay keeps a floor: the id below which it
//! has seen the outbox empty, lagging [`LATE_COMMIT`] behind the clock because an event's id is
//! taken just before its batch commits. Each round scans only above the floor; the first round
//! after start scans the whole partition.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use passerelle_store::{DynStore, KeyRange, Mutation, Row};
use prost::Message;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{DynBus, Error, Headers, Record, Result};

/// The store table holding events not yet relayed.
pub const OUTBOX_TABLE: &str = "outbox";
/// Events relayed per round.
const PAGE: usize = 256;
/// How often the relay looks for events when nobody woke it (events from another process).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// The longest an event's batch may take to commit after its id was made: far beyond any
/// store request's timeout. Events are looked for this far below what was seen empty.
pub const LATE_COMMIT: Duration = Duration::from_secs(300);

/// How an outbox row stores its record.
#[derive(Clone, PartialEq, Message)]
struct StoredRecord {
    #[prost(string, tag = "1")]
    topic: String,
    #[prost(string, tag = "2")]
    key: String,
    #[prost(bytes = "vec", tag = "3")]
    payload: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    headers: Vec<StoredHeader>,
}

#[derive(Clone, PartialEq, Message)]
struct StoredHeader {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// The mutation that puts `record` in `producer`'s outbox; add it to the state change's batch.
/// `event_id` must be a UUIDv7 (time-ordered), as [`crate::event::new_record`] makes.
pub fn mutation(producer: &str, event_id: &str, record: &Record) -> Mutation {
    let stored = StoredRecord {
        topic: record.topic.clone(),
        key: record.key.clone(),
        payload: record.payload.clone(),
        headers: record
            .headers
            .0
            .iter()
            .map(|(name, value)| StoredHeader {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    };
    Mutation::Put(Row::new(
        OUTBOX_TABLE,
        producer,
        event_id,
        stored.encode_to_vec(),
    ))
}

/// A service's outbox: where its state changes and their events are written together. Every
/// service writes through one of these: events named from their protobuf type, one batch per
/// change, the relay woken once the batch is in.
#[derive(Clone)]
pub struct Outbox {
    store: DynStore,
    relay: OutboxRelay,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("producer", &self.relay.producer)
            .finish()
    }
}

impl Outbox {
    /// The outbox of `relay`'s producer; run the relay (`relay().clone().run(..)`) beside it.
    pub fn new(store: DynStore, relay: OutboxRelay) -> Self {
        Self { store, relay }
    }

    pub fn producer(&self) -> &str {
        &self.relay.producer
    }

    pub fn relay(&self) -> &OutboxRelay {
        &self.relay
    }

    /// The mutation that sends `payload` as an event about `aggregate` (its partition key),
    /// typed by its protobuf name (`passerelle.events.v1.AccountCreated`).
    pub fn event<M: Message + prost::Name>(&self, aggregate: &str, payload: &M) -> Mutation {
        let (envelope, record) =
            crate::event::new_record(&self.relay.producer, &M::full_name(), aggregate, payload);
        mutation(&self.relay.producer, &envelope.event_id, &record)
    }

    /// Writes `mutations` (state and events) in one atomic batch, then wakes the relay so the
    /// events leave at once.
    pub async fn commit(&self, mutations: Vec<Mutation>) -> passerelle_store::Result<()> {
        self.store.batch(mutations).await?;
        self.relay.notify();
        Ok(())
    }
}

/// Moves `producer`'s outbox to the bus. Run one per producer (a singleton in the cluster).
#[derive(Clone)]
pub struct OutboxRelay {
    store: DynStore,
    bus: DynBus,
    producer: String,
    wake: Arc<Notify>,
    /// No event below this id is pending (see the module docs); `None` before the first round.
    floor: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("producer", &self.producer)
            .finish()
    }
}

/// The smallest UUIDv7 string of millisecond `ms`: every id made at or after it sorts above.
fn uuid_v7_floor(ms: u64) -> String {
    format!(
        "{:08x}-{:04x}-7000-0000-000000000000",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff
    )
}

/// A key sorting below `key` (its prefix without the last character); a scan after it still
/// finds `key`. `None` for an empty key.
fn prev_key(key: &str) -> Option<String> {
    let mut chars = key.chars();
    chars.next_back()?;
    Some(chars.as_str().to_owned())
}

impl OutboxRelay {
    pub fn new(store: DynStore, bus: DynBus, producer: impl Into<String>) -> Self {
        Self {
            store,
            bus,
            producer: producer.into(),
            wake: Arc::new(Notify::new()),
            floor: Arc::new(Mutex::new(None)),
        }
    }

    /// Call after committing a batch with outbox events, so they go out at once.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Relays one page of pending events, oldest first. Returns how many left the outbox.
    pub async fn relay_once(&self) -> Result<usize> {
        let started = SystemTime::now();
        let floor = self
            .floor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let range = match &floor {
            Some(floor) => KeyRange::all().after(floor),
            None => KeyRange::all(),
        };
        let page = self
            .store
            .scan(OUTBOX_TABLE, &self.producer, &range, PAGE)
            .await?;
        if page.rows.is_empty() {
            self.raise_floor(started, None);
            return Ok(0);
        }
        let mut records = Vec::with_capacity(page.rows.len());
        for (event_id, bytes) in &page.rows {
            let stored = StoredRecord::decode(bytes.as_slice()).map_err(|e| {
                Error::Corrupt(format!("outbox row {event_id} of {}: {e}", self.producer))
            })?;
            records.push(Record {
                topic: stored.topic,
                key: stored.key,
                payload: stored.payload,
                headers: Headers(
                    stored
                        .headers
                        .into_iter()
                        .map(|h| (h.name, h.value))
                        .collect(),
                ),
            });
        }
        // Appends start in page order (each engine queues an append when first polled), so a
        // key's events keep their order; they complete concurrently, sharing commits.
        let results =
            futures::future::join_all(records.into_iter().map(|r| self.bus.append(r))).await;
        let delivered = results.iter().take_while(|r| r.is_ok()).count();
        if delivered > 0 {
            let deletes = page.rows[..delivered]
                .iter()
                .map(|(event_id, _)| Mutation::delete(OUTBOX_TABLE, &self.producer, event_id))
                .collect();
            self.store.batch(deletes).await?;
        }
        // Nothing is pending below the first event left (one that failed, or past this page).
        let left = match page.rows.get(delivered) {
            Some((event_id, _)) => Some(event_id.as_str()),
            None if page.rows.len() == PAGE => page.rows.last().map(|(id, _)| id.as_str()),
            None => None,
        };
        self.raise_floor(started, left);
        // Only a prefix is removed: a later event must not overtake one that failed.
        if let Some(Err(e)) = results.into_iter().nth(delivered) {
            return Err(e);
        }
        Ok(delivered)
    }

    /// After a round that began at `started` and found nothing pending below `left` (`None`:
    /// nothing at all), lifts the floor to [`LATE_COMMIT`] before `started`, never above
    /// `left` and never down.
    fn raise_floor(&self, started: SystemTime, left: Option<&str>) {
        let since_epoch = started
            .checked_sub(LATE_COMMIT)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .unwrap_or_default();
        let mut candidate = uuid_v7_floor(since_epoch.as_millis() as u64);
        if let Some(left) = left
            && left < candidate.as_str()
        {
            // Below `left`, so that the next scan, which starts after the floor, finds it again.
            match prev_key(left) {
                Some(below) => candidate = below,
                None => return,
            }
        }
        let mut floor = self.floor.lock().unwrap_or_else(PoisonError::into_inner);
        if floor.as_deref().is_none_or(|f| f < candidate.as_str()) {
            *floor = Some(candidate);
        }
    }

    /// Relays until `shutdown`, backing off while the bus or store fails.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.relay_once().await {
                Ok(n) if n > 0 => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(_) => {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(producer = %self.producer, error = %e, retry_ms = backoff.as_millis() as u64, "outbox relay failed");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_sorts_below_every_id_of_its_millisecond_and_above_earlier_ones() {
        let ms = 1_796_195_816_123u64;
        let at = |ms: u64| {
            uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                ms / 1000,
                (ms % 1000) as u32 * 1_000_000,
            ))
            .to_string()
        };
        let floor = uuid_v7_floor(ms);
        for _ in 0..100 {
            assert!(floor < at(ms), "{floor} !< {}", at(ms));
            assert!(at(ms - 1) < floor, "{} !< {floor}", at(ms - 1));
        }
        assert!(prev_key("abc").unwrap().as_str() < "abc");
        assert_eq!(prev_key(""), None);
    }

    fn event(topic: &str, payload: &str) -> Record {
        Record {
            topic: topic.into(),
            key: "k".into(),
            payload: payload.as_bytes().to_vec(),
            headers: Headers::default(),
        }
    }

    fn id_at(ago: Duration) -> String {
        let at = SystemTime::now() - ago;
        let since = at.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            since.as_secs(),
            since.subsec_nanos(),
        ))
        .to_string()
    }

    /// The relay stops scanning over what it relayed (on Cassandra: its tombstones), yet an
    /// event whose batch committed late, with an id below ones already relayed, still goes.
    #[tokio::test]
    async fn rounds_scan_above_the_floor_and_still_find_late_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(
            passerelle_store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap(),
        );
        let bus: DynBus =
            Arc::new(crate::sqlite::SqliteBus::open(&dir.path().join("b.db"), 1).unwrap());
        let relay = OutboxRelay::new(store.clone(), bus.clone(), "p");
        let mut consumer = bus.subscribe("g", &["t"]).await.unwrap();

        store
            .batch(vec![mutation(
                "p",
                &id_at(Duration::ZERO),
                &event("t", "now"),
            )])
            .await
            .unwrap();
        assert_eq!(relay.relay_once().await.unwrap(), 1);
        let floor = relay.floor.lock().unwrap().clone().unwrap();
        assert!(
            floor > id_at(LATE_COMMIT + Duration::from_secs(60)),
            "the floor stays at the start: every round would walk the whole history"
        );

        // Made 30 s ago, committed only now.
        store
            .batch(vec![mutation(
                "p",
                &id_at(Duration::from_secs(30)),
                &event("t", "late"),
            )])
            .await
            .unwrap();
        assert_eq!(
            relay.relay_once().await.unwrap(),
            1,
            "the late event was skipped"
        );
        let mut got = Vec::new();
        while got.len() < 2 {
            for delivery in consumer.poll(10, Duration::from_millis(200)).await.unwrap() {
                got.push(String::from_utf8(delivery.payload).unwrap());
            }
        }
        assert_eq!(got, ["now", "late"]);
    }
}
