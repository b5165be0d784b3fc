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

use std::sync::Arc;
use std::time::Duration;

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

/// Moves `producer`'s outbox to the bus. Run one per producer (a singleton in the cluster).
#[derive(Clone)]
pub struct OutboxRelay {
    store: DynStore,
    bus: DynBus,
    producer: String,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("producer", &self.producer)
            .finish()
    }
}

impl OutboxRelay {
    pub fn new(store: DynStore, bus: DynBus, producer: impl Into<String>) -> Self {
        Self {
            store,
            bus,
            producer: producer.into(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Call after committing a batch with outbox events, so they go out at once.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Relays one page of pending events, oldest first. Returns how many left the outbox.
    pub async fn relay_once(&self) -> Result<usize> {
        let page = self
            .store
            .scan(OUTBOX_TABLE, &self.producer, &KeyRange::all(), PAGE)
            .await?;
        if page.rows.is_empty() {
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
        // Only a prefix is removed: a later event must not overtake one that failed.
        if let Some(Err(e)) = results.into_iter().nth(delivered) {
            return Err(e);
        }
        Ok(delivered)
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
