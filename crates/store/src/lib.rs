//! The key-column-value store every Passerelle service keeps its state in.
//!
//! A [`Store`] holds named tables of `(partition key, clustering key) -> value` rows, the data
//! model of ScyllaDB and Cassandra. Services build typed repositories on top of it; they never
//! see which engine runs underneath.
//!
//! # Engines
//! The engine is chosen by URL at start-up, never by a rebuild ([`open`]):
//! - `sqlite://PATH` — the embedded default: one SQLite file in WAL mode, written by one thread
//!   that commits concurrent writes together (group commit), each commit fsynced;
//! - `scylla://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE[?replication_factor=N]` — ScyllaDB or any
//!   CQL node (Apache Cassandra in our tests); conditional writes are lightweight transactions.
//!
//! # Layout
//! - [`Store`], [`KeyRange`], [`Page`], [`Mutation`]: the contract;
//! - [`Table`]: typed tables (JSON values of one type) and the compare-and-set update loop;
//! - [`sqlite`], [`scylla`]: the engines;
//! - [`conformance`]: the one test suite every engine must pass;
//! - [`testing`]: a store that fails on demand, for services' failure tests.
#![forbid(unsafe_code)]

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

#[cfg(feature = "testsuite")]
pub mod conformance;
mod error;
pub mod scylla;
pub mod sqlite;
#[cfg(feature = "testsuite")]
pub mod testing;
mod typed;

pub use error::{Error, Result};
pub use typed::{Read, Table, Updated};

/// The largest value a single row may hold. Documents live in object storage, not here; this
/// keeps a runaway caller from filling a partition (ScyllaDB warns on cells over 1 MiB).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// An async key-column-value store.
///
/// Rows written with a TTL disappear once it passes: reads, scans and conditional writes treat
/// an expired row as absent.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The engine name, as in the URL scheme: `sqlite` or `scylla`.
    fn engine(&self) -> &'static str;

    /// Reads one row.
    async fn get(&self, table: &str, pk: &str, ck: &str) -> Result<Option<Vec<u8>>>;

    /// Writes one row, replacing any previous value.
    async fn put(&self, row: Row) -> Result<()>;

    /// Writes one row only if none exists (or the previous one expired). Returns whether it
    /// was written. Among racing writers of one key exactly one wins.
    async fn put_if_absent(&self, row: Row) -> Result<bool>;

    /// Replaces a row's value only if it currently equals `expected`. Returns whether it was
    /// written. A missing or expired row never matches.
    async fn compare_and_set(&self, row: Row, expected: &[u8]) -> Result<bool>;

    /// Deletes one row; deleting a missing row is not an error.
    async fn delete(&self, table: &str, pk: &str, ck: &str) -> Result<()>;

    /// Reads up to `limit` rows of one partition within `range`, in clustering-key order.
    /// [`Page::next`] is the range that continues after the last row returned.
    async fn scan(&self, table: &str, pk: &str, range: &KeyRange, limit: usize) -> Result<Page>;

    /// Applies every mutation or none (across tables and partitions).
    async fn batch(&self, mutations: Vec<Mutation>) -> Result<()>;

    /// Every row of one partition, in clustering-key order, read page by page. Meant for
    /// partitions known to stay small (a person's mandates, a vault's documents).
    async fn scan_all(&self, table: &str, pk: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut rows = Vec::new();
        let mut range = KeyRange::all();
        loop {
            let page = self.scan(table, pk, &range, 1000).await?;
            rows.extend(page.rows);
            match page.next {
                Some(next) => range = next,
                None => return Ok(rows),
            }
        }
    }
}

/// A shared, engine-erased store.
pub type DynStore = Arc<dyn Store>;

/// One row to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub table: String,
    pub pk: String,
    pub ck: String,
    pub value: Vec<u8>,
    /// Time to live; `None` keeps the row until deleted.
    pub ttl: Option<Duration>,
}

impl Row {
    pub fn new(
        table: impl Into<String>,
        pk: impl Into<String>,
        ck: impl Into<String>,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            table: table.into(),
            pk: pk.into(),
            ck: ck.into(),
            value: value.into(),
            ttl: None,
        }
    }

    /// Sets a time to live. Engines keep whole seconds; anything below one second is one second.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The TTL in whole seconds, rounded up (0 = none).
    fn ttl_seconds(&self) -> i64 {
        match self.ttl {
            None => 0,
            Some(ttl) => {
                let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
                i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
            }
        }
    }
}

/// One write of an atomic [`Store::batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    Put(Row),
    Delete {
        table: String,
        pk: String,
        ck: String,
    },
}

impl Mutation {
    pub fn delete(table: impl Into<String>, pk: impl Into<String>, ck: impl Into<String>) -> Self {
        Self::Delete {
            table: table.into(),
            pk: pk.into(),
            ck: ck.into(),
        }
    }

    fn table(&self) -> &str {
        match self {
            Self::Put(row) => &row.table,
            Self::Delete { table, .. } => table,
        }
    }
}

impl From<Row> for Mutation {
    fn from(row: Row) -> Self {
        Self::Put(row)
    }
}

/// A range of clustering keys within one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<String>,
    pub end: Bound<String>,
}

impl KeyRange {
    /// Every row of the partition.
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Rows whose clustering key starts with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        let end = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        Self {
            start: Bound::Included(prefix.to_owned()),
            end,
        }
    }

    /// Rows from `start` (inclusive) to `end` (exclusive).
    pub fn between(start: impl Into<String>, end: impl Into<String>) -> Self {
        Self {
            start: Bound::Included(start.into()),
            end: Bound::Excluded(end.into()),
        }
    }

    /// The same range, continuing strictly after `ck`.
    pub fn after(&self, ck: &str) -> Self {
        Self {
            start: Bound::Excluded(ck.to_owned()),
            end: self.end.clone(),
        }
    }
}

/// The smallest string greater than every string starting with `prefix`, if any.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // Skip the surrogate gap; char::MAX has no successor, so drop it and carry.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A page of a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// `(clustering key, value)` in clustering-key order.
    pub rows: Vec<(String, Vec<u8>)>,
    /// The range to scan for the next page; `None` when this page ends the range.
    pub next: Option<KeyRange>,
}

impl Page {
    /// Builds a page from up to `limit + 1` rows read in key order: the extra row, if any,
    /// only tells that the range goes on.
    fn from_overfetch(mut rows: Vec<(String, Vec<u8>)>, limit: usize, range: &KeyRange) -> Self {
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|(ck, _)| range.after(ck))
        } else {
            None
        };
        Self { rows, next }
    }
}

impl KeyRange {
    /// The range as `(operator, key)` conditions on the clustering key, for query builders.
    fn conditions(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        match &self.start {
            Bound::Included(k) => out.push((">=", k.as_str())),
            Bound::Excluded(k) => out.push((">", k.as_str())),
            Bound::Unbounded => {}
        }
        match &self.end {
            Bound::Included(k) => out.push(("<=", k.as_str())),
            Bound::Excluded(k) => out.push(("<", k.as_str())),
            Bound::Unbounded => {}
        }
        out
    }
}

/// Opens the store an URL names. See the crate docs for the accepted URLs.
pub async fn open(url: &str) -> Result<DynStore> {
    match url.split_once("://") {
        Some(("sqlite", _)) => Ok(Arc::new(sqlite::SqliteStore::open_url(url)?)),
        Some(("scylla", _)) => Ok(Arc::new(scylla::ScyllaStore::open_url(url).await?)),
        _ => Err(Error::InvalidUrl {
            url: url.to_owned(),
            reason: "unknown scheme".into(),
        }),
    }
}

/// Checks a table name: it becomes a CQL table name, so `[a-z][a-z0-9_]*`, at most 48 bytes.
pub fn validate_table(table: &str) -> Result<()> {
    let ok = !table.is_empty()
        && table.len() <= 48
        && table.starts_with(|c: char| c.is_ascii_lowercase())
        && table
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid table name `{table}`: expected a lowercase letter then lowercase letters, digits or `_`, at most 48 characters"
        )))
    }
}

fn validate_row(row: &Row) -> Result<()> {
    validate_table(&row.table)?;
    validate_value(&row.value)
}

fn validate_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::InvalidArgument(format!(
            "value of {} bytes is too large: a row holds at most {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    Ok(())
}

fn validate_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > 10_000 {
        return Err(Error::InvalidArgument(format!(
            "scan limit {limit} is out of range: expected 1 to 10000"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_covers_exactly_the_prefix() {
        let range = KeyRange::prefix("ab");
        assert_eq!(range.start, Bound::Included("ab".to_owned()));
        assert_eq!(range.end, Bound::Excluded("ac".to_owned()));
        assert_eq!(KeyRange::prefix("").end, Bound::Unbounded);
    }

    #[test]
    fn table_names_follow_cql_rules() {
        assert!(validate_table("identity_accounts").is_ok());
        for bad in ["", "Accounts", "1table", "a-b", &"x".repeat(49)] {
            assert!(validate_table(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ttl_rounds_up_to_whole_seconds() {
        let row = Row::new("t", "p", "c", b"v".to_vec());
        assert_eq!(row.ttl_seconds(), 0);
        assert_eq!(
            row.clone()
                .with_ttl(Duration::from_millis(10))
                .ttl_seconds(),
            1
        );
        assert_eq!(row.with_ttl(Duration::from_millis(1500)).ttl_seconds(), 2);
    }
}
