//! Idempotent consumers: delivery is at least once, so each consumer group remembers which
//! event ids it has handled and skips them when they come again.
//!
//! [`run`] is the loop services use: poll, skip what was seen, handle, remember, commit.
//! A handler that fails is retried with backoff; after [`MAX_ATTEMPTS`] the event is parked in
//! the `dead_letters` table (logged, never dropped silently) and the group moves on, so one bad
//! event cannot stop a service.

use std::future::Future;
use std::time::Duration;

use passerelle_proto::events::v1::Envelope;
use passerelle_store::{DynStore, Mutation, Row};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{Delivery, DynBus, Result, event};

/// Processed event ids, per consumer group.
pub const PROCESSED_TABLE: &str = "processed_events";
/// Events a handler kept failing on.
pub const DEAD_LETTER_TABLE: &str = "dead_letters";
/// How long an event id is remembered: far longer than any redelivery (a rebalance or a
/// relay restart redelivers within minutes).
pub const REMEMBER_FOR: Duration = Duration::from_secs(14 * 24 * 3600);
/// Attempts before an event goes to the dead letters.
pub const MAX_ATTEMPTS: u32 = 5;

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

    /// The mutation recording `event_id` as handled. Put it in the same batch as the
    /// handler's own writes, and the effect happens exactly once.
    pub fn mark(&self, event_id: &str) -> Mutation {
        Mutation::Put(
            Row::new(
                PROCESSED_TABLE,
                self.partition(event_id),
                event_id,
                Vec::new(),
            )
            .with_ttl(REMEMBER_FOR),
        )
    }

    /// Claims `event_id` before a side effect outside the store (an SMS): true for the first
    /// claimant only.
    pub async fn claim(&self, event_id: &str) -> Result<bool> {
        let Mutation::Put(row) = self.mark(event_id) else {
            unreachable!("mark builds a put")
        };
        Ok(self.store.put_if_absent(row).await?)
    }
}

/// What a handler says about an event.
pub type HandlerResult = std::result::Result<(), String>;

/// Consumes `topics` as `group` until `shutdown`, calling `handler` once per new event.
/// Returns early only if the store fails, since without it nothing can be remembered.
pub async fn run<H, Fut>(
    bus: DynBus,
    store: DynStore,
    group: &str,
    topics: &[&str],
    mut handler: H,
    shutdown: CancellationToken,
) -> Result<()>
where
    H: FnMut(Envelope, Delivery) -> Fut + Send,
    Fut: Future<Output = HandlerResult> + Send,
{
    let dedupe = Dedupe::new(store.clone(), group);
    let mut consumer = bus.subscribe(group, topics).await?;
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
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let mut done = 0;
        for delivery in &deliveries {
            if !handle_one(&dedupe, &store, group, delivery, &mut handler, &shutdown).await? {
                break;
            }
            done += 1;
        }
        if let Err(e) = consumer.commit(&deliveries[..done]).await {
            // Not fatal: the uncommitted events come again and are skipped as seen.
            tracing::warn!(group, error = %e, "committing offsets failed");
        }
    }
    Ok(())
}

async fn handle_one<H, Fut>(
    dedupe: &Dedupe,
    store: &DynStore,
    group: &str,
    delivery: &Delivery,
    handler: &mut H,
    shutdown: &CancellationToken,
) -> Result<bool>
where
    H: FnMut(Envelope, Delivery) -> Fut,
    Fut: Future<Output = HandlerResult>,
{
    let envelope = match event::decode(delivery) {
        Ok(envelope) => envelope,
        Err(e) => {
            park(store, group, delivery, &e.to_string()).await?;
            return Ok(true);
        }
    };
    if dedupe.seen(&envelope.event_id).await? {
        tracing::debug!(group, event_id = %envelope.event_id, "skipping an event already handled");
        return Ok(true);
    }
    let span = tracing::info_span!("event", group, event_type = %envelope.event_type, event_id = %envelope.event_id);
    event::follow_trace(&span, delivery);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = {
            let _entered = span.enter();
            handler(envelope.clone(), delivery.clone())
        }
        .instrument(span.clone())
        .await;
        match outcome {
            Ok(()) => {
                store.batch(vec![dedupe.mark(&envelope.event_id)]).await?;
                return Ok(true);
            }
            // Not handled and not committed: it comes again after the restart.
            Err(_) if shutdown.is_cancelled() => return Ok(false),
            Err(reason) if attempt >= MAX_ATTEMPTS => {
                park(store, group, delivery, &reason).await?;
                return Ok(true);
            }
            Err(reason) => {
                let wait = Duration::from_millis(100 * 2u64.pow(attempt));
                tracing::warn!(group, event_id = %envelope.event_id, attempt, reason = %reason, "handler failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Keeps an event the group could not handle, for an operator to look at and replay.
async fn park(store: &DynStore, group: &str, delivery: &Delivery, reason: &str) -> Result<()> {
    tracing::error!(group, topic = %delivery.topic, partition = delivery.partition, offset = delivery.offset, reason, "event parked in dead letters");
    let ck = format!(
        "{}/{}/{:020}",
        delivery.topic, delivery.partition, delivery.offset
    );
    let mut value = reason.as_bytes().to_vec();
    value.push(0);
    value.extend_from_slice(&delivery.payload);
    store
        .put(Row::new(DEAD_LETTER_TABLE, group, ck, value))
        .await?;
    Ok(())
}
