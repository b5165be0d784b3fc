//! A store that fails on demand, for tests of what services do when their store goes away (a
//! node failing over, a full disk): every call fails while it is switched off.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::{DynStore, Error, KeyRange, Mutation, Page, Result, Row, Store};

/// Wraps a store; [`Flaky::set_down`] makes every call fail until switched back.
pub struct Flaky {
    inner: DynStore,
    down: AtomicBool,
    /// Fail only writes (batches and conditional writes), as a full disk would.
    writes_only: AtomicBool,
}

impl std::fmt::Debug for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flaky")
            .field("down", &self.down.load(Ordering::SeqCst))
            .finish()
    }
}

impl Flaky {
    pub fn new(inner: DynStore) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
            writes_only: AtomicBool::new(false),
        }
    }

    pub fn set_down(&self, down: bool) {
        self.writes_only.store(false, Ordering::SeqCst);
        self.down.store(down, Ordering::SeqCst);
    }

    /// Reads work, writes fail.
    pub fn set_writes_failing(&self, failing: bool) {
        self.writes_only.store(true, Ordering::SeqCst);
        self.down.store(failing, Ordering::SeqCst);
    }

    fn check(&self, write: bool) -> Result<()> {
        if self.down.load(Ordering::SeqCst) && (write || !self.writes_only.load(Ordering::SeqCst)) {
            return Err(Error::Unreachable {
                engine: "test",
                target: "flaky".into(),
                reason: "switched off by the test".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Flaky {
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }
    async fn get(&self, table: &str, pk: &str, ck: &str) -> Result<Option<Vec<u8>>> {
        self.check(false)?;
        self.inner.get(table, pk, ck).await
    }
    async fn put(&self, row: Row) -> Result<()> {
        self.check(true)?;
        self.inner.put(row).await
    }
    async fn put_if_absent(&self, row: Row) -> Result<bool> {
        self.check(true)?;
        self.inner.put_if_absent(row).await
    }
    async fn compare_and_set(&self, row: Row, expected: &[u8]) -> Result<bool> {
        self.check(true)?;
        self.inner.compare_and_set(row, expected).await
    }
    async fn delete(&self, table: &str, pk: &str, ck: &str) -> Result<()> {
        self.check(true)?;
        self.inner.delete(table, pk, ck).await
    }
    async fn scan(&self, table: &str, pk: &str, range: &KeyRange, limit: usize) -> Result<Page> {
        self.check(false)?;
        self.inner.scan(table, pk, range, limit).await
    }
    async fn batch(&self, mutations: Vec<Mutation>) -> Result<()> {
        self.check(true)?;
        self.inner.batch(mutations).await
    }
}
