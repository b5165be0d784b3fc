//! The cluster engine: Apache Kafka through librdkafka (the `rdkafka` crate, librdkafka built
//! from its bundled sources). See `docs/adr/0001-kafka-client.md` for why not a pure-Rust client.
//!
//! The producer is idempotent with `acks=all`: an append returns once every in-sync replica
//! has the record, and retries never duplicate it. Keys are partitioned with murmur2, as the
//! Java clients do, so every client agrees on where a key lives. Consumers commit offsets
//! explicitly and synchronously, after processing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::{
    Bus, Consumer, Delivery, Error, Headers, Position, Record, Result, url_params, validate_name,
    validate_subscription,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The Kafka engine.
pub struct KafkaBus {
    brokers: String,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// `-1` lets the broker apply its own default (`num.partitions`, `default.replication.factor`).
    partitions: i32,
    replication_factor: i32,
    known_topics: tokio::sync::Mutex<HashSet<String>>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus")
            .field("brokers", &self.brokers)
            .finish()
    }
}

fn backend(err: impl std::fmt::Display) -> Error {
    Error::Backend {
        engine: "kafka",
        message: err.to_string(),
    }
}

impl KafkaBus {
    /// Opens `kafka://HOST:PORT[,HOST:PORT...][?partitions=N&replication_factor=N]` and checks
    /// that a broker answers.
    pub async fn open_url(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| invalid("the scheme is not kafka"))?;
        let (brokers, query) = rest.split_once('?').unwrap_or((rest, ""));
        let brokers = brokers.trim_end_matches('/');
        if brokers.is_empty() {
            return Err(invalid("no broker is named"));
        }
        for broker in brokers.split(',') {
            let (host, port) = broker
                .rsplit_once(':')
                .ok_or_else(|| invalid(&format!("broker `{broker}` has no port")))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(invalid(&format!("broker `{broker}` is not HOST:PORT")));
            }
        }
        let (mut partitions, mut replication_factor) = (-1, -1);
        for (name, value) in url_params(url, query, &["partitions", "replication_factor"])? {
            let value = i32::try_from(value).unwrap_or(i32::MAX);
            match name.as_str() {
                "partitions" => partitions = value,
                _ => replication_factor = value,
            }
        }
        Self::open(brokers, partitions, replication_factor).await
    }

    pub async fn open(brokers: &str, partitions: i32, replication_factor: i32) -> Result<Self> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", "30000")
            .set("log_level", "3")
            .create()?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("log_level", "3")
            .create()?;
        // librdkafka connects lazily and retries forever; ask for metadata once so that a
        // wrong address fails at start-up with a clear message instead of hanging later.
        let probe = producer.clone();
        tokio::task::spawn_blocking(move || probe.client().fetch_metadata(None, CONNECT_TIMEOUT))
            .await
            .map_err(backend)?
            .map_err(|e| Error::Unreachable {
                engine: "kafka",
                target: brokers.to_owned(),
                reason: format!(
                    "{e} after {}s; expected a running Kafka broker",
                    CONNECT_TIMEOUT.as_secs()
                ),
            })?;
        Ok(Self {
            brokers: brokers.to_owned(),
            producer,
            admin,
            partitions,
            replication_factor,
            known_topics: tokio::sync::Mutex::new(HashSet::new()),
        })
    }

    /// Creates `topic` once if it does not exist, with the configured partitions.
    async fn ensure_topic(&self, topic: &str) -> Result<()> {
        let mut known = self.known_topics.lock().await;
        if known.contains(topic) {
            return Ok(());
        }
        let new = NewTopic::new(
            topic,
            self.partitions,
            TopicReplication::Fixed(self.replication_factor),
        );
        let options = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
        for result in self.admin.create_topics([&new], &options).await? {
            match result {
                Ok(_) => tracing::info!(topic, "created topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(backend(format!("cannot create topic {name}: {code}")));
                }
            }
        }
        known.insert(topic.to_owned());
        Ok(())
    }
}

#[async_trait]
impl Bus for KafkaBus {
    fn engine(&self) -> &'static str {
        "kafka"
    }

    async fn append(&self, record: Record) -> Result<Position> {
        validate_name("topic", &record.topic)?;
        self.ensure_topic(&record.topic).await?;
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.0.len());
        for (name, value) in &record.headers.0 {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let delivery = self
            .producer
            .send(
                FutureRecord::to(&record.topic)
                    .key(&record.key)
                    .payload(&record.payload)
                    .headers(headers),
                SEND_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| backend(e))?;
        Ok(Position {
            partition: delivery.partition,
            // Negative (-1001): delivered, offset unknown (see `Position`).
            offset: (delivery.offset >= 0).then_some(delivery.offset),
        })
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Consumer>> {
        validate_subscription(group, topics)?;
        for topic in topics {
            self.ensure_topic(topic).await?;
        }
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("log_level", "3")
            .create()?;
        consumer.subscribe(topics)?;
        Ok(Box::new(KafkaConsumer {
            consumer: Arc::new(consumer),
        }))
    }
}

struct KafkaConsumer {
    consumer: Arc<StreamConsumer>,
}

fn to_delivery(message: &rdkafka::message::BorrowedMessage<'_>) -> Delivery {
    let mut headers = Headers::default();
    if let Some(h) = message.headers() {
        for header in h.iter() {
            headers.0.push((
                header.key.to_owned(),
                header.value.unwrap_or_default().to_vec(),
            ));
        }
    }
    Delivery {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
        payload: message.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Err(Error::InvalidArgument(
                "poll max is 0: expected at least 1".into(),
            ));
        }
        // librdkafka queues its client errors (a broker down, a transport failure) among the
        // messages, one per event, and keeps reconnecting by itself. Take every one queued
        // within this poll instead of one per call: a caller backing off after each would
        // otherwise still be reading errors of an outage long over.
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut last_error = None;
        while out.is_empty() {
            match tokio::time::timeout(
                deadline.saturating_duration_since(Instant::now()),
                self.consumer.recv(),
            )
            .await
            {
                Err(_elapsed) => break,
                Ok(Ok(message)) => out.push(to_delivery(&message)),
                Ok(Err(e)) => last_error = Some(e),
            }
        }
        if out.is_empty() {
            // Errors and no message: the broker is still out of reach.
            return match last_error {
                Some(e) => Err(e.into()),
                None => Ok(out),
            };
        }
        // Take what is already buffered, without waiting again.
        while out.len() < max {
            match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => out.push(to_delivery(&message)),
                Some(Err(_)) => continue,
                None => break,
            }
        }
        Ok(out)
    }

    async fn commit(&mut self, deliveries: &[Delivery]) -> Result<()> {
        let mut next = std::collections::BTreeMap::new();
        for d in deliveries {
            let slot = next.entry((d.topic.clone(), d.partition)).or_insert(0);
            *slot = std::cmp::max(*slot, d.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            list.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
        let consumer = Arc::clone(&self.consumer);
        tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(backend)??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn malformed_urls_name_the_problem() {
        for (url, reason) in [
            ("kafka://", "no broker is named"),
            ("kafka://localhost", "broker `localhost` has no port"),
            ("kafka://localhost:x", "is not HOST:PORT"),
            (
                "kafka://h:1?partitions=0",
                "partitions must be a whole number",
            ),
            ("kafka://h:1?acks=1", "unknown parameter `acks`"),
        ] {
            let err = super::KafkaBus::open_url(url)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{url}: {err}");
            assert!(err.contains("expected sqlite://PATH or kafka://"), "{err}");
        }
    }
}
