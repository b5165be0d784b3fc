//! The embedded engine: a durable event log in one SQLite file.
//!
//! Appends go through the store's group-committing writer ([`SqliteDb`]), so an append returns
//! once its commit is fsynced and concurrent appends share one fsync. Each topic has a fixed
//! number of partitions; a record's partition is a hash of its key, so one key's records keep
//! their order.
//!
//! Consumer groups work like Kafka's, scaled down: each member heartbeats a membership row;
//! every member sees the same sorted list of live members and partitions and takes the
//! partitions whose index falls to it, so the group rebalances when a member joins, leaves or
//! stops heartbeating. Two members may briefly both read a partition while their views differ:
//! that only repeats deliveries, which at-least-once allows, and a commit never moves a group's
//! offset backwards.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use passerelle_store::sqlite::SqliteDb;
use rusqlite::params;
use tokio::sync::watch;

use crate::{
    Bus, Consumer, DEFAULT_PARTITIONS, Delivery, Error, Headers, Position, Record, Result,
    url_params, validate_name, validate_subscription,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS partition_heads (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key TEXT NOT NULL,
    payload BLOB NOT NULL,
    headers BLOB NOT NULL,
    appended_at INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (
    grp TEXT NOT NULL,
    member TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (grp, member)
) WITHOUT ROWID;
";

/// A member that has not heartbeated for this long leaves its group.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a member heartbeats and recomputes its assignment.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often an idle consumer looks for records appended by another process.
const IDLE_POLL: Duration = Duration::from_millis(200);

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// FNV-1a: a stable hash, so a key maps to the same partition in every process and version.
fn partition_of(key: &str, partitions: u32) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::try_from(hash % partitions.max(1)).unwrap_or(0)
}

/// The embedded bus engine.
#[derive(Clone)]
pub struct SqliteBus {
    db: SqliteDb,
    partitions: u32,
    /// Bumped after each append commits, to wake this process's consumers at once.
    appended: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for SqliteBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBus")
            .field("path", &self.db.path())
            .field("partitions", &self.partitions)
            .finish()
    }
}

impl SqliteBus {
    /// Opens `sqlite://PATH[?partitions=N]`.
    pub fn open_url(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("sqlite://")
            .ok_or_else(|| invalid("the scheme is not sqlite"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(invalid("the log path is empty"));
        }
        let mut partitions = DEFAULT_PARTITIONS;
        for (name, value) in url_params(url, query, &["partitions"])? {
            if name == "partitions" {
                partitions = value;
            }
        }
        Self::open(Path::new(path), partitions)
    }

    pub fn open(path: &Path, partitions: u32) -> Result<Self> {
        let db = SqliteDb::open(path, SCHEMA, None)?;
        Ok(Self {
            db,
            partitions,
            appended: Arc::new(watch::channel(0).0),
        })
    }

    /// Creates `topic`'s partitions if it is new; returns its partition count.
    fn ensure_topic(
        conn: &rusqlite::Connection,
        topic: &str,
        partitions: u32,
    ) -> passerelle_store::Result<u32> {
        let existing: u32 = conn
            .prepare_cached("SELECT COUNT(*) FROM partition_heads WHERE topic = ?1")?
            .query_row(params![topic], |r| r.get(0))?;
        if existing > 0 {
            return Ok(existing);
        }
        let mut insert = conn.prepare_cached(
            "INSERT INTO partition_heads (topic, partition, next_offset) VALUES (?1, ?2, 0)",
        )?;
        for p in 0..partitions {
            insert.execute(params![topic, p])?;
        }
        Ok(partitions)
    }
}

#[async_trait]
impl Bus for SqliteBus {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    async fn prune(&self, older_than: Duration) -> Result<u64> {
        let cutoff = now_millis()
            - i64::try_from(older_than.as_millis())
                .unwrap_or(i64::MAX)
                .min(now_millis());
        let removed = self
            .db
            .write(move |conn| {
                Ok(conn
                    .prepare_cached("DELETE FROM events WHERE appended_at < ?1")?
                    .execute(params![cutoff])?)
            })
            .await?;
        if removed > 0 {
            tracing::info!(
                records = removed,
                "bus records past their retention removed"
            );
        }
        Ok(removed as u64)
    }

    async fn append(&self, record: Record) -> Result<Position> {
        validate_name("topic", &record.topic)?;
        let default_partitions = self.partitions;
        let position = self
            .db
            .write(move |conn| {
                let partitions = Self::ensure_topic(conn, &record.topic, default_partitions)?;
                let partition = partition_of(&record.key, partitions);
                let offset: i64 = conn
                    .prepare_cached(
                        "UPDATE partition_heads SET next_offset = next_offset + 1
                         WHERE topic = ?1 AND partition = ?2 RETURNING next_offset - 1",
                    )?
                    .query_row(params![record.topic, partition], |r| r.get(0))?;
                conn.prepare_cached(
                    "INSERT INTO events (topic, partition, offset, key, payload, headers, appended_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    record.topic,
                    partition,
                    offset,
                    record.key,
                    record.payload,
                    record.headers.encode(),
                    now_millis()
                ])?;
                Ok(Position {
                    partition,
                    offset: Some(offset),
                })
            })
            .await?;
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
        Ok(position)
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Consumer>> {
        validate_subscription(group, topics)?;
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let default_partitions = self.partitions;
        {
            let topics = topics.clone();
            self.db
                .write(move |conn| {
                    for topic in &topics {
                        Self::ensure_topic(conn, topic, default_partitions)?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(Box::new(SqliteConsumer {
            db: self.db.clone(),
            group: group.to_owned(),
            member: uuid::Uuid::new_v4().to_string(),
            topics,
            appended: self.appended.subscribe(),
            cursors: BTreeMap::new(),
            last_heartbeat: None,
            rotation: 0,
        }))
    }
}

type TopicPartition = (String, i32);

struct SqliteConsumer {
    db: SqliteDb,
    group: String,
    member: String,
    topics: Vec<String>,
    appended: watch::Receiver<u64>,
    /// The partitions this member owns, each with the next offset to deliver.
    cursors: BTreeMap<TopicPartition, i64>,
    last_heartbeat: Option<Instant>,
    /// Which owned partition the next fetch starts with, so a backlog in one partition does
    /// not starve the others.
    rotation: usize,
}

impl SqliteConsumer {
    /// Heartbeats, then takes this member's share of the partitions, starting each newly
    /// owned partition at the group's committed offset.
    async fn rebalance(&mut self) -> Result<()> {
        let (group, member, topics) =
            (self.group.clone(), self.member.clone(), self.topics.clone());
        let (members, partitions, committed) = self
            .db
            .write(move |conn| {
                let now = now_millis();
                let expires = now + i64::try_from(SESSION_TIMEOUT.as_millis()).unwrap_or(10_000);
                conn.prepare_cached(
                    "INSERT INTO group_members (grp, member, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (grp, member) DO UPDATE SET expires_at = excluded.expires_at",
                )?
                .execute(params![group, member, expires])?;
                conn.prepare_cached(
                    "DELETE FROM group_members WHERE grp = ?1 AND expires_at <= ?2",
                )?
                .execute(params![group, now])?;
                let members = conn
                    .prepare_cached(
                        "SELECT member FROM group_members WHERE grp = ?1 ORDER BY member",
                    )?
                    .query_map(params![group], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut partitions = Vec::new();
                let mut committed = HashMap::new();
                for topic in &topics {
                    let mut stmt = conn.prepare_cached(
                        "SELECT h.partition, o.next_offset FROM partition_heads h
                         LEFT JOIN group_offsets o
                           ON o.grp = ?1 AND o.topic = h.topic AND o.partition = h.partition
                         WHERE h.topic = ?2 ORDER BY h.partition",
                    )?;
                    let rows = stmt.query_map(params![group, topic], |r| {
                        Ok((r.get::<_, i32>(0)?, r.get::<_, Option<i64>>(1)?))
                    })?;
                    for row in rows {
                        let (partition, offset) = row?;
                        partitions.push((topic.clone(), partition));
                        committed.insert((topic.clone(), partition), offset.unwrap_or(0));
                    }
                }
                Ok((members, partitions, committed))
            })
            .await?;
        let me = members.iter().position(|m| *m == self.member).unwrap_or(0);
        let count = members.len().max(1);
        let mut cursors = BTreeMap::new();
        for (index, tp) in partitions.into_iter().enumerate() {
            if index % count == me {
                let start = match self.cursors.get(&tp) {
                    Some(cursor) => *cursor,
                    None => committed.get(&tp).copied().unwrap_or(0),
                };
                cursors.insert(tp, start);
            }
        }
        if cursors.keys().ne(self.cursors.keys()) {
            tracing::debug!(group = %self.group, member = %self.member, partitions = cursors.len(), "group rebalanced");
        }
        self.cursors = cursors;
        self.last_heartbeat = Some(Instant::now());
        Ok(())
    }

    async fn fetch(&mut self, max: usize) -> Result<Vec<Delivery>> {
        let mut cursors: Vec<(TopicPartition, i64)> = self
            .cursors
            .iter()
            .map(|(tp, o)| (tp.clone(), *o))
            .collect();
        if !cursors.is_empty() {
            self.rotation = (self.rotation + 1) % cursors.len();
            cursors.rotate_left(self.rotation);
        }
        let rows = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT offset, key, payload, headers FROM events
                     WHERE topic = ?1 AND partition = ?2 AND offset >= ?3
                     ORDER BY offset LIMIT ?4",
                )?;
                let mut out = Vec::new();
                for ((topic, partition), from) in cursors {
                    if out.len() >= max {
                        break;
                    }
                    let limit = i64::try_from(max - out.len()).unwrap_or(i64::MAX);
                    let rows = stmt.query_map(params![topic, partition, from, limit], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                            r.get::<_, Vec<u8>>(3)?,
                        ))
                    })?;
                    for row in rows {
                        let (offset, key, payload, headers) = row?;
                        out.push((topic.clone(), partition, offset, key, payload, headers));
                    }
                }
                Ok(out)
            })
            .await?;
        rows.into_iter()
            .map(|(topic, partition, offset, key, payload, headers)| {
                Ok(Delivery {
                    topic,
                    partition,
                    offset,
                    key,
                    payload,
                    headers: Headers::decode(&headers)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl Consumer for SqliteConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Err(Error::InvalidArgument(
                "poll max is 0: expected at least 1".into(),
            ));
        }
        let deadline = Instant::now() + wait;
        loop {
            if self.last_heartbeat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
                self.rebalance().await?;
            }
            // Mark the current append count seen before reading, so an append that commits
            // after this read still wakes the wait below.
            self.appended.borrow_and_update();
            let deliveries = self.fetch(max).await?;
            if !deliveries.is_empty() {
                for d in &deliveries {
                    self.cursors
                        .insert((d.topic.clone(), d.partition), d.offset + 1);
                }
                return Ok(deliveries);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let nap = (deadline - now).min(IDLE_POLL);
            let _ = tokio::time::timeout(nap, self.appended.changed()).await;
        }
    }

    async fn commit(&mut self, deliveries: &[Delivery]) -> Result<()> {
        let mut next: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for d in deliveries {
            let slot = next.entry((d.topic.clone(), d.partition)).or_insert(0);
            *slot = (*slot).max(d.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let group = self.group.clone();
        self.db
            .write(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "INSERT INTO group_offsets (grp, topic, partition, next_offset) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (grp, topic, partition)
                     DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
                )?;
                for ((topic, partition), offset) in &next {
                    stmt.execute(params![group, topic, partition, offset])?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }
}

impl Drop for SqliteConsumer {
    /// Leaves the group at once, so the others take over its partitions without waiting for
    /// its session to time out.
    fn drop(&mut self) {
        let (db, group, member) = (self.db.clone(), self.group.clone(), self.member.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = db
                    .write(move |conn| {
                        conn.execute(
                            "DELETE FROM group_members WHERE grp = ?1 AND member = ?2",
                            params![group, member],
                        )?;
                        Ok(())
                    })
                    .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_always_lands_in_the_same_partition() {
        assert_eq!(partition_of("person-42", 4), partition_of("person-42", 4));
        let spread: std::collections::HashSet<_> = (0..100)
            .map(|i| partition_of(&format!("k{i}"), 4))
            .collect();
        assert_eq!(spread.len(), 4, "keys should spread over every partition");
    }
}
