//! Typed tables: a table's rows as values of one Rust type (JSON in the store), so no service
//! encodes and decodes by hand; and [`Table::update`], the read-change-compare-and-set loop
//! every counter and state machine needs, written once.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, KeyRange, Mutation, Result, Row, Store};

/// A table whose values are `T`.
pub struct Table<T> {
    name: &'static str,
    ttl: Option<Duration>,
    _values: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Table<T> {}

impl<T> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("name", &self.name).finish()
    }
}

/// How an [`Table::update`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Updated<T> {
    /// The new value is stored.
    Written(T),
    /// The change left the value as it was; nothing was written.
    Unchanged,
    /// Others kept writing the row first, every round: the caller says "busy, try again".
    Contended,
}

/// A value read together with the bytes it was read from, so its successor is written only if
/// nobody changed the row in between (see [`Table::replace`]).
#[derive(Clone, Debug)]
pub struct Read<T> {
    pub value: T,
    raw: Vec<u8>,
}

impl<T: Serialize + DeserializeOwned> Table<T> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            ttl: None,
            _values: PhantomData,
        }
    }

    /// Rows written through this table live for `ttl`.
    pub const fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn encode(&self, value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| Error::InvalidArgument(format!("{}: {e}", self.name)))
    }

    fn decode(&self, pk: &str, ck: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            table: self.name,
            key: format!("{pk}/{ck}"),
            reason: e.to_string(),
        })
    }

    /// The row holding `value`, to write or batch.
    pub fn row(&self, pk: &str, ck: &str, value: &T) -> Result<Row> {
        let row = Row::new(self.name, pk, ck, self.encode(value)?);
        Ok(match self.ttl {
            Some(ttl) => row.with_ttl(ttl),
            None => row,
        })
    }

    /// The mutation that writes `value`, for a batch.
    pub fn put_mutation(&self, pk: &str, ck: &str, value: &T) -> Result<Mutation> {
        Ok(Mutation::Put(self.row(pk, ck, value)?))
    }

    pub async fn get(&self, store: &dyn Store, pk: &str, ck: &str) -> Result<Option<T>> {
        match store.get(self.name, pk, ck).await? {
            Some(bytes) => Ok(Some(self.decode(pk, ck, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The row's value and the bytes it was read from (`None` when absent).
    pub async fn read(&self, store: &dyn Store, pk: &str, ck: &str) -> Result<Option<Read<T>>> {
        match store.get(self.name, pk, ck).await? {
            Some(raw) => Ok(Some(Read {
                value: self.decode(pk, ck, &raw)?,
                raw,
            })),
            None => Ok(None),
        }
    }

    /// Writes `next` where `read` was read, only if the row still holds what was read
    /// (compare-and-set), to live for `ttl` (the table's when `None`); what was written, for a
    /// further replace, or `None` when another writer came first.
    pub async fn replace(
        &self,
        store: &dyn Store,
        (pk, ck): (&str, &str),
        read: &Read<T>,
        next: T,
        ttl: Option<Duration>,
    ) -> Result<Option<Read<T>>> {
        let mut row = self.row(pk, ck, &next)?;
        if let Some(ttl) = ttl {
            row = row.with_ttl(ttl);
        }
        let raw = row.value.clone();
        Ok(store
            .compare_and_set(row, &read.raw)
            .await?
            .then_some(Read { value: next, raw }))
    }

    pub async fn put(&self, store: &dyn Store, pk: &str, ck: &str, value: &T) -> Result<()> {
        store.put(self.row(pk, ck, value)?).await
    }

    /// Writes `value` only where no row is; whether it was written.
    pub async fn put_if_absent(
        &self,
        store: &dyn Store,
        pk: &str,
        ck: &str,
        value: &T,
    ) -> Result<bool> {
        store.put_if_absent(self.row(pk, ck, value)?).await
    }

    /// Every row of a partition, in clustering order.
    pub async fn scan_all(&self, store: &dyn Store, pk: &str) -> Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        for (ck, bytes) in store.scan_all(self.name, pk).await? {
            let value = self.decode(pk, &ck, &bytes)?;
            out.push((ck, value));
        }
        Ok(out)
    }

    /// Every row of a partition, in clustering order, each decoded on its own: a row that does
    /// not decode is its own [`Error::Corrupt`], not the whole scan's, for a pass that must get
    /// past damage (an erasure removes what it cannot read too).
    pub async fn scan_all_each(
        &self,
        store: &dyn Store,
        pk: &str,
    ) -> Result<Vec<(String, Result<T>)>> {
        Ok(store
            .scan_all(self.name, pk)
            .await?
            .into_iter()
            .map(|(ck, bytes)| {
                let value = self.decode(pk, &ck, &bytes);
                (ck, value)
            })
            .collect())
    }

    /// Up to `limit` rows of a partition within `range`, in clustering order (one
    /// [`Store::scan`]), and the range that continues after the last of them (`None` at the
    /// end).
    pub async fn scan(
        &self,
        store: &dyn Store,
        pk: &str,
        range: &KeyRange,
        limit: usize,
    ) -> Result<(Vec<(String, T)>, Option<KeyRange>)> {
        let page = store.scan(self.name, pk, range, limit).await?;
        let mut out = Vec::with_capacity(page.rows.len());
        for (ck, bytes) in page.rows {
            let value = self.decode(pk, &ck, &bytes)?;
            out.push((ck, value));
        }
        Ok((out, page.next))
    }

    /// Reads the row (`None` when absent), asks `change` for its next value (`Ok(None)`: leave
    /// it), and writes it only if nobody wrote the row in between (compare-and-set, or
    /// put-if-absent when there was none); on a lost race, reads again, up to `rounds` times
    /// with a short jittered pause. `change` may refuse with the caller's error.
    pub async fn update<E>(
        &self,
        store: &dyn Store,
        pk: &str,
        ck: &str,
        rounds: u32,
        mut change: impl FnMut(Option<T>) -> std::result::Result<Option<T>, E>,
    ) -> std::result::Result<Updated<T>, E>
    where
        E: From<Error>,
    {
        for round in 0..rounds {
            let raw = store.get(self.name, pk, ck).await?;
            let current = match &raw {
                Some(bytes) => Some(self.decode(pk, ck, bytes)?),
                None => None,
            };
            let Some(next) = change(current)? else {
                return Ok(Updated::Unchanged);
            };
            let row = self.row(pk, ck, &next)?;
            let written = match &raw {
                Some(raw) => store.compare_and_set(row, raw).await?,
                None => store.put_if_absent(row).await?,
            };
            if written {
                return Ok(Updated::Written(next));
            }
            // Another writer won: back off a little, differently each round and each writer.
            let jitter = u64::from(round % 7) + u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
            tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
        }
        Ok(Updated::Contended)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde::Deserialize;

    use super::*;
    use crate::DynStore;

    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Counter {
        n: u64,
    }

    const COUNTERS: Table<Counter> = Table::new("counters");

    fn store() -> (DynStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap());
        (store, dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_updates_lose_nothing() {
        let (store, _dir) = store();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    COUNTERS
                        .update(&*store, "c", "", 1000, |c: Option<Counter>| {
                            Ok::<_, Error>(Some(Counter {
                                n: c.unwrap_or_default().n + 1,
                            }))
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert!(matches!(task.await.unwrap(), Updated::Written(_)));
        }
        assert_eq!(
            COUNTERS.get(&*store, "c", "").await.unwrap(),
            Some(Counter { n: 20 })
        );
    }

    #[tokio::test]
    async fn a_refused_or_empty_change_writes_nothing_and_damage_is_named() {
        let (store, _dir) = store();
        let unchanged = COUNTERS
            .update(&*store, "c", "", 3, |_| Ok::<_, Error>(None))
            .await
            .unwrap();
        assert_eq!(unchanged, Updated::Unchanged);
        let refused = COUNTERS
            .update(&*store, "c", "", 3, |_| {
                Err::<Option<Counter>, _>(Error::InvalidArgument("no".into()))
            })
            .await;
        assert!(refused.is_err());
        assert_eq!(COUNTERS.get(&*store, "c", "").await.unwrap(), None);

        store
            .put(Row::new("counters", "d", "", b"not json".to_vec()))
            .await
            .unwrap();
        let damaged = COUNTERS.get(&*store, "d", "").await.unwrap_err();
        assert!(damaged.to_string().contains("counters"), "{damaged}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replace_loses_to_a_write_since_the_read() {
        let (store, _dir) = store();
        COUNTERS
            .put(&*store, "c", "", &Counter { n: 1 })
            .await
            .unwrap();
        let first = COUNTERS.read(&*store, "c", "").await.unwrap().unwrap();
        let second = first.clone();
        let key = ("c", "");
        let won = COUNTERS
            .replace(&*store, key, &first, Counter { n: 2 }, None)
            .await
            .unwrap()
            .expect("nobody wrote since the read");
        assert_eq!(won.value, Counter { n: 2 });
        let lost = COUNTERS.replace(&*store, key, &second, Counter { n: 3 }, None);
        assert!(lost.await.unwrap().is_none(), "a stale read must not win");
        // What the winner wrote is itself a read to chain from.
        let chained = COUNTERS.replace(&*store, key, &won, Counter { n: 4 }, None);
        assert!(chained.await.unwrap().is_some());
        let now = COUNTERS.get(&*store, "c", "").await.unwrap();
        assert_eq!(now, Some(Counter { n: 4 }));
    }

    #[tokio::test]
    async fn scans_page_and_a_damaged_row_spoils_only_itself_when_asked() {
        let (store, _dir) = store();
        for (ck, n) in [("a", 1), ("b", 2), ("d", 4)] {
            COUNTERS
                .put(&*store, "p", ck, &Counter { n })
                .await
                .unwrap();
        }
        store
            .put(Row::new("counters", "p", "c", b"not json".to_vec()))
            .await
            .unwrap();

        let (first, next) = COUNTERS
            .scan(&*store, "p", &KeyRange::all(), 2)
            .await
            .unwrap();
        assert_eq!(
            first,
            vec![
                ("a".to_owned(), Counter { n: 1 }),
                ("b".to_owned(), Counter { n: 2 })
            ]
        );
        let damaged = COUNTERS.scan(&*store, "p", &next.unwrap(), 2).await;
        assert!(damaged.unwrap_err().to_string().contains("p/c"));
        assert!(COUNTERS.scan_all(&*store, "p").await.is_err());

        let each = COUNTERS.scan_all_each(&*store, "p").await.unwrap();
        let keys: Vec<_> = each.iter().map(|(ck, _)| ck.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
        assert!(matches!(each[2].1, Err(Error::Corrupt { .. })));
        assert_eq!(each[3].1.as_ref().unwrap(), &Counter { n: 4 });
    }
}
