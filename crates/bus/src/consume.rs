//! Idempotent consumers: delivery is at least once, so each consumer group remembers which
//! event ids it has handled and skips them when they come again.
//!
//! [`run`] is the loop services use: poll, skip what was seen, handle, remember, commit. It
//! never gives up while the service runs:
//! - a store or bus failure (to remember, to poll, to park) is retried with backoff, for as
//!   long as it lasts;
//! - a handler failure says whether it may pass ([`Failure::Retry`]: an outage — retried with
//!   backoff until it works, never skipped, so an erasure waits out a store failover rather than
//!   being lost) or not ([`Failure::Reject`]: the event itself is wrong — retried
//!   [`MAX_ATTEMPTS`] times, then parked in the `dead_letters` table, logged, and the group
//!   moves on);
//! - while it is held up, it says so to the service's [`Health`], which turns the health check
//!   NOT_SERVING after a while.
//!
//! Parked events are listed and replayed by [`dead_letters`] (`passerelle bus dead-letters`).

use std::future::Future;
use std::time::Duration;

use futures::FutureExt as _;
use passerelle_core::ServiceError;
use passerelle_core::health::Health;
use passerelle_proto::events::v1::Envelope;
use passerelle_store::{DynStore, Mutation, Row};
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{Delivery, DynBus, Headers, Result, event};

/// Processed event ids, per consumer group.
pub const PROCESSED_TABLE: &str = "processed_events";
/// Events a handler rejected, per consumer group.
pub const DEAD_LETTER_TABLE: &str = "dead_letters";
/// The groups that ever parked an event (partition `groups`), so all can be listed.
pub const DEAD_LETTER_GROUPS: &str = "dead_letter_groups";
/// How long an event id is remembered: far longer than any redelivery (a rebalance or a
/// relay restart redelivers within minutes).
pub const REMEMBER_FOR: Duration = Duration::from_secs(14 * 24 * 3600);
/// Attempts before a rejected event goes to the dead letters.
pub const MAX_ATTEMPTS: u32 = 5;
/// The longest pause between two tries of something failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait between two polls of an unreachable bus: its client reconnects on its
/// own, so the consumer looks again soon and reports itself unstuck once it is back.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(5);

/// Why a handler did not handle an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Something it depends on is out (the store, another service): try again until it works.
    Retry(String),
    /// The event cannot be handled as it is: after a few tries, park it for an operator.
    Reject(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retry(r) | Failure::Reject(r) => f.write_str(r),
        }
    }
}

/// A plain reason: the event is refused (parked after [`MAX_ATTEMPTS`]).
impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Reject(reason)
    }
}

impl From<prost::DecodeError> for Failure {
    fn from(e: prost::DecodeError) -> Self {
        Failure::Reject(format!("the payload does not decode: {e}"))
    }
}

/// A service error: an outage (UNAVAILABLE) is waited out; anything else refuses the event.
impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Unavailable(_) => Failure::Retry(e.to_string()),
            other => Failure::Reject(other.to_string()),
        }
    }
}

/// What a handler says about an event.
pub type HandlerResult = std::result::Result<(), Failure>;

/// Remembers which events a consumer group has handled.
#[derive(Clone)]
pub struct Dedupe {
    store: DynStore,
    group: String,
}

impl std::fmt::Debug for Dedupe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedupe")
            .field("group", &self.group)
            .finish()
    }
}

impl Dedupe {
    pub fn new(store: DynStore, group: impl Into<String>) -> Self {
        Self {
            store,
            group: group.into(),
        }
    }

    /// Spreads a group's ids over 256 partitions (ScyllaDB dislikes huge partitions).
    fn partition(&self, event_id: &str) -> String {
        let tail = event_id
            .get(event_id.len().saturating_sub(2)..)
            .unwrap_or("");
        format!("{}/{tail}", self.group)
    }

    pub async fn seen(&self, event_id: &str) -> Result<bool> {
        Ok(self
            .store
            .get(PROCESSED_TABLE, &self.partition(event_id), event_id)
            .await?
            .is_some())
    }

    fn row(&self, event_id: &str) -> Row {
        Row::new(
            PROCESSED_TABLE,
            self.partition(event_id),
            event_id,
            Vec::new(),
        )
        .with_ttl(REMEMBER_FOR)
    }

    /// The mutation recording `event_id` as handled. Put it in the same batch as the
    /// handler's own writes, and the effect happens exactly once.
    pub fn mark(&self, event_id: &str) -> Mutation {
        Mutation::Put(self.row(event_id))
    }

    /// Claims `event_id` before a side effect outside the store (an SMS): true for the first
    /// claimant only.
    pub async fn claim(&self, event_id: &str) -> Result<bool> {
        Ok(self.store.put_if_absent(self.row(event_id)).await?)
    }
}

/// Retries `op` with backoff until it works or `shutdown`; while it fails, `health` hears
/// that `group` is stuck. `None` means shut down.
async fn persist<T, F, Fut>(
    health: &Health,
    group: &str,
    what: &str,
    shutdown: &CancellationToken,
    mut op: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(value) => return Some(value),
            Err(e) => {
                let reason = format!("{what} failed: {e}");
                tracing::warn!(group, error = %e, retry_ms = backoff.as_millis() as u64, "{what} failed; retrying");
                health.stuck(group, &reason);
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Consumes `topics` as `group` until `shutdown`, calling `handler` once per new event.
/// Returns only at shutdown: failures are waited out (see the module docs).
pub async fn run<H, Fut>(
    bus: DynBus,
    store: DynStore,
    group: &str,
    topics: &[&str],
    mut handler: H,
    health: Health,
    shutdown: CancellationToken,
) where
    H: FnMut(Envelope, Delivery) -> Fut + Send,
    Fut: Future<Output = HandlerResult> + Send,
{
    let dedupe = Dedupe::new(store.clone(), group);
    let Some(mut consumer) = persist(&health, group, "joining the group", &shutdown, || {
        bus.subscribe(group, topics)
    })
    .await
    else {
        return;
    };
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let deliveries = tokio::select! {
            () = shutdown.cancelled() => break,
            polled = consumer.poll(256, Duration::from_secs(1)) => polled,
        };
        let deliveries = match deliveries {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(group, error = %e, "polling the bus failed");
                health.stuck(group, &format!("polling the bus failed: {e}"));
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_POLL_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let mut done = 0;
        for delivery in &deliveries {
            if !handle_one(
                &dedupe,
                &store,
                group,
                delivery,
                &mut handler,
                &health,
                &shutdown,
            )
            .await
            {
                break;
            }
            done += 1;
        }
        if done == deliveries.len() {
            health.ok(group);
        }
        if let Err(e) = consumer.commit(&deliveries[..done]).await {
            // Not fatal: the uncommitted events come again and are skipped as seen.
            tracing::warn!(group, error = %e, "committing offsets failed");
        }
    }
}

/// Handles one delivery to the end: `true` once it is handled, skipped or parked; `false` only
/// at shutdown (it then comes again after the restart).
async fn handle_one<H, Fut>(
    dedupe: &Dedupe,
    store: &DynStore,
    group: &str,
    delivery: &Delivery,
    handler: &mut H,
    health: &Health,
    shutdown: &CancellationToken,
) -> bool
where
    H: FnMut(Envelope, Delivery) -> Fut,
    Fut: Future<Output = HandlerResult>,
{
    let envelope = match event::decode(delivery) {
        Ok(envelope) => envelope,
        Err(e) => {
            let reason = e.to_string();
            return persist(health, group, "parking an event", shutdown, || {
                park(store, group, delivery, &reason, 1)
            })
            .await
            .is_some();
        }
    };
    let Some(seen) = persist(health, group, "reading processed events", shutdown, || {
        dedupe.seen(&envelope.event_id)
    })
    .await
    else {
        return false;
    };
    if seen {
        tracing::debug!(group, event_id = %envelope.event_id, "skipping an event already handled");
        return true;
    }
    let span = tracing::info_span!("event", group, event_type = %envelope.event_type, event_id = %envelope.event_id);
    event::follow_trace(&span, delivery);
    let mut rejections = 0;
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = {
            let _entered = span.enter();
            handler(envelope.clone(), delivery.clone())
        };
        // A handler's panic is a bug reached by this event: refuse it like a bad one, rather
        // than end the consumer (and hit it again on every restart).
        let outcome = std::panic::AssertUnwindSafe(outcome.instrument(span.clone()))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(Failure::Reject("the handler panicked on this event".into())));
        let reason = match outcome {
            Ok(()) => {
                return persist(
                    health,
                    group,
                    "remembering a handled event",
                    shutdown,
                    || async { Ok(store.batch(vec![dedupe.mark(&envelope.event_id)]).await?) },
                )
                .await
                .is_some();
            }
            Err(failure) => failure,
        };
        if shutdown.is_cancelled() {
            return false; // not handled, not committed: it comes again after the restart
        }
        match &reason {
            Failure::Reject(why) => {
                rejections += 1;
                if rejections >= MAX_ATTEMPTS {
                    return persist(health, group, "parking an event", shutdown, || {
                        park(store, group, delivery, why, rejections)
                    })
                    .await
                    .is_some();
                }
            }
            Failure::Retry(why) => health.stuck(group, &format!("a handler waits: {why}")),
        }
        tracing::warn!(group, event_id = %envelope.event_id, reason = %reason, retry_ms = backoff.as_millis() as u64, "handler failed; retrying");
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A parked event: the record as it came, and why it was parked.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredLetter {
    #[prost(string, tag = "1")]
    topic: String,
    #[prost(int32, tag = "2")]
    partition: i32,
    #[prost(int64, tag = "3")]
    offset: i64,
    #[prost(string, tag = "4")]
    key: String,
    #[prost(bytes = "vec", tag = "5")]
    payload: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    headers: Vec<u8>,
    #[prost(string, tag = "7")]
    reason: String,
    #[prost(int64, tag = "8")]
    parked_at: i64,
    #[prost(uint32, tag = "9")]
    attempts: u32,
}

/// Keeps an event the group could not handle, for an operator to look at and replay.
async fn park(
    store: &DynStore,
    group: &str,
    delivery: &Delivery,
    reason: &str,
    attempts: u32,
) -> Result<()> {
    tracing::error!(group, topic = %delivery.topic, partition = delivery.partition, offset = delivery.offset, reason, "event parked in dead letters");
    let letter = StoredLetter {
        topic: delivery.topic.clone(),
        partition: delivery.partition,
        offset: delivery.offset,
        key: delivery.key.clone(),
        payload: delivery.payload.clone(),
        headers: delivery.headers.encode(),
        reason: reason.chars().take(2000).collect(),
        parked_at: time_now(),
        attempts,
    };
    store
        .batch(vec![
            Mutation::Put(Row::new(
                DEAD_LETTER_TABLE,
                group,
                dead_letters::letter_id(&delivery.topic, delivery.partition, delivery.offset),
                letter.encode_to_vec(),
            )),
            Mutation::Put(Row::new(DEAD_LETTER_GROUPS, "groups", group, Vec::new())),
        ])
        .await?;
    Ok(())
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Listing and replaying parked events.
pub mod dead_letters {
    use super::*;

    /// A parked event, as an operator sees it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DeadLetter {
        pub group: String,
        /// `topic/partition/offset`, zero-padded: what `replay` takes.
        pub id: String,
        pub topic: String,
        pub partition: i32,
        pub offset: i64,
        pub key: String,
        pub event_type: String,
        pub event_id: String,
        pub reason: String,
        pub parked_at: i64,
        pub attempts: u32,
        payload: Vec<u8>,
        headers: Headers,
    }

    pub(super) fn letter_id(topic: &str, partition: i32, offset: i64) -> String {
        format!("{topic}/{partition}/{offset:020}")
    }

    /// Every group that ever parked an event.
    pub async fn groups(store: &DynStore) -> Result<Vec<String>> {
        Ok(store
            .scan_all(DEAD_LETTER_GROUPS, "groups")
            .await?
            .into_iter()
            .map(|(group, _)| group)
            .collect())
    }

    /// The events `group` parked (every group's when `None`), oldest offset first per topic.
    pub async fn list(store: &DynStore, group: Option<&str>) -> Result<Vec<DeadLetter>> {
        let groups = match group {
            Some(g) => vec![g.to_owned()],
            None => groups(store).await?,
        };
        let mut out = Vec::new();
        for group in groups {
            for (id, bytes) in store.scan_all(DEAD_LETTER_TABLE, &group).await? {
                let letter = StoredLetter::decode(bytes.as_slice()).map_err(|e| {
                    crate::Error::Corrupt(format!("dead letter {id} of {group}: {e}"))
                })?;
                let headers = Headers::decode(&letter.headers)?;
                out.push(DeadLetter {
                    event_type: headers
                        .get_str(event::HEADER_EVENT_TYPE)
                        .unwrap_or("")
                        .to_owned(),
                    event_id: headers
                        .get_str(event::HEADER_EVENT_ID)
                        .unwrap_or("")
                        .to_owned(),
                    group: group.clone(),
                    id,
                    topic: letter.topic,
                    partition: letter.partition,
                    offset: letter.offset,
                    key: letter.key,
                    reason: letter.reason,
                    parked_at: letter.parked_at,
                    attempts: letter.attempts,
                    payload: letter.payload,
                    headers,
                });
            }
        }
        Ok(out)
    }

    /// Sends a parked event again: appended anew to its topic (with its event id, so groups
    /// that handled it skip it and the one that parked it tries again), then forgotten here.
    pub async fn replay(store: &DynStore, bus: &DynBus, letter: &DeadLetter) -> Result<()> {
        bus.append(crate::Record {
            topic: letter.topic.clone(),
            key: letter.key.clone(),
            payload: letter.payload.clone(),
            headers: letter.headers.clone(),
        })
        .await?;
        store
            .delete(DEAD_LETTER_TABLE, &letter.group, &letter.id)
            .await?;
        Ok(())
    }
}
