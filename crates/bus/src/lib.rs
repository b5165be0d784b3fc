//! The event log Passerelle services talk through.
//!
//! A [`Bus`] appends records to topics (one per producing service: `passerelle.identity`, …),
//! keyed by aggregate id so that one aggregate's events stay in order, and delivers them to
//! consumer groups at least once: a group's committed offsets say what it has processed, and
//! whatever was delivered but not committed is delivered again after a crash or a rebalance.
//!
//! # Engines
//! Chosen by URL at start-up ([`open`]):
//! - `sqlite://PATH[?partitions=N]` — the embedded default: a durable log in one SQLite file,
//!   with key-hashed partitions, consumer-group offsets and group membership;
//! - `kafka://HOST:PORT[,HOST:PORT...][?partitions=N&replication_factor=N]` — Apache Kafka
//!   through librdkafka (`rdkafka`), idempotent producer, `acks=all`.
//!
//! # Layout
//! - [`Bus`], [`Consumer`], [`Record`], [`Delivery`]: the contract;
//! - [`event`]: the protobuf [`Envelope`](passerelle_proto::events::v1::Envelope) every event
//!   travels in, with its id, type and W3C trace context in the headers;
//! - [`outbox`]: events written in the same store batch as the state change, then relayed;
//! - [`consume`]: an idempotent consumer loop (dedupe by event id);
//! - [`sqlite`], [`kafka`]: the engines; [`conformance`]: the suite both pass.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod consume;
mod error;
pub mod event;
pub mod kafka;
pub mod outbox;
pub mod sqlite;

pub use error::{Error, Result};

/// Partitions a new topic gets unless the URL says otherwise.
pub const DEFAULT_PARTITIONS: u32 = 4;

/// A record to append.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    /// Records with one key land in one partition, in append order.
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Headers,
}

/// Record headers: ordered `(name, value)` pairs, as Kafka has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, Vec<u8>)>);

impl Headers {
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// A compact binary form for engines that store headers in one column.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in &self.0 {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
        out
    }

    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
            if bytes.len() < n {
                return Err(Error::Corrupt("truncated headers".into()));
            }
            let (head, tail) = bytes.split_at(n);
            *bytes = tail;
            Ok(head)
        }
        fn len(bytes: &mut &[u8]) -> Result<usize> {
            let raw = take(bytes, 4)?;
            Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
        }
        let mut headers = Vec::new();
        while !bytes.is_empty() {
            let n = len(&mut bytes)?;
            let name = String::from_utf8(take(&mut bytes, n)?.to_vec())
                .map_err(|_| Error::Corrupt("header name is not UTF-8".into()))?;
            let n = len(&mut bytes)?;
            headers.push((name, take(&mut bytes, n)?.to_vec()));
        }
        Ok(Self(headers))
    }
}

/// Where an appended record landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    /// `None` when the record is durable but its offset is not known: Kafka's idempotent
    /// producer reports no offset for a retried batch the broker had already written (the
    /// broker answers "duplicate sequence" without one). The record is there exactly once.
    pub offset: Option<i64>,
}

/// A record delivered to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Headers,
}

/// An event log.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// The engine name, as in the URL scheme: `sqlite` or `kafka`.
    fn engine(&self) -> &'static str;

    /// Appends a record; once this returns, the record is durable and will be delivered.
    async fn append(&self, record: Record) -> Result<Position>;

    /// Joins consumer group `group` on `topics`. Members of one group share the topics'
    /// partitions; each group sees every record.
    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Consumer>>;

    /// Forgets records appended longer than `older_than` ago, as Kafka's `retention.ms` does
    /// (events carry account ids: the log must not keep them for ever). Returns how many went.
    /// Engines that keep their own retention (Kafka) do nothing here.
    async fn prune(&self, older_than: Duration) -> Result<u64> {
        let _ = older_than;
        Ok(0)
    }
}

/// A member of a consumer group.
#[async_trait]
pub trait Consumer: Send {
    /// Waits up to `wait` for records and returns at most `max` of them (none on timeout).
    /// Records of one partition come in offset order.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>>;

    /// Records that these deliveries, and everything before them in their partitions, are
    /// processed: the group will not see them again.
    async fn commit(&mut self, deliveries: &[Delivery]) -> Result<()>;
}

/// A shared, engine-erased bus.
pub type DynBus = Arc<dyn Bus>;

/// Opens the bus an URL names. See the crate docs for the accepted URLs.
pub async fn open(url: &str) -> Result<DynBus> {
    match url.split_once("://") {
        Some(("sqlite", _)) => Ok(Arc::new(sqlite::SqliteBus::open_url(url)?)),
        Some(("kafka", _)) => Ok(Arc::new(kafka::KafkaBus::open_url(url).await?)),
        _ => Err(Error::InvalidUrl {
            url: url.to_owned(),
            reason: "unknown scheme".into(),
        }),
    }
}

/// Checks a topic or group name: Kafka's rules (`[A-Za-z0-9._-]`, at most 249 characters).
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid {what} `{name}`: expected 1 to 249 characters among letters, digits, `.`, `_` and `-`"
        )))
    }
}

/// Checks a subscription's group and topics.
fn validate_subscription(group: &str, topics: &[&str]) -> Result<()> {
    validate_name("consumer group", group)?;
    if topics.is_empty() {
        return Err(Error::InvalidArgument(
            "no topic to subscribe to: expected at least one".into(),
        ));
    }
    topics
        .iter()
        .try_for_each(|topic| validate_name("topic", topic))
}

/// Parses the `?key=value&…` tail of a bus URL into known numeric parameters.
fn url_params(url: &str, query: &str, accepted: &[&str]) -> Result<Vec<(String, u32)>> {
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| invalid(format!("parameter `{pair}` has no value")))?;
        if !accepted.contains(&name) {
            return Err(invalid(format!(
                "unknown parameter `{name}` (accepted: {})",
                accepted.join(", ")
            )));
        }
        let value = value
            .parse::<u32>()
            .ok()
            .filter(|v| (1..=1024).contains(v))
            .ok_or_else(|| invalid(format!("{name} must be a whole number from 1 to 1024")))?;
        params.push((name.to_owned(), value));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let mut headers = Headers::default();
        headers.insert("event_id", "abc");
        headers.insert("empty", Vec::new());
        headers.insert("event_id", "def");
        let decoded = Headers::decode(&headers.encode()).unwrap();
        assert_eq!(decoded, headers);
        assert_eq!(decoded.get_str("event_id"), Some("def"));
        assert!(Headers::decode(&[1, 0, 0]).is_err());
    }

    #[test]
    fn names_follow_kafka_rules() {
        assert!(validate_name("topic", "passerelle.identity").is_ok());
        for bad in ["", ".", "a b", "é", &"x".repeat(250)] {
            assert!(validate_name("topic", bad).is_err(), "{bad}");
        }
    }
}
