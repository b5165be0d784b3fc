//! The embedded engine: one SQLite file in WAL mode.
//!
//! [`SqliteDb`] is shared with the embedded event log: one writer thread owns the only write
//! connection and commits every write queued while the previous commit was being fsynced in one
//! transaction (group commit), so concurrent writers share one fsync and an acknowledged write is
//! on disk. Each queued write runs inside its own savepoint, so one failing write never takes
//! its neighbours down. Reads run on a small pool of read-only connections, which WAL lets
//! proceed while the writer commits.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{
    Error, KeyRange, Mutation, Page, Result, Row, Store, validate_limit, validate_row,
    validate_table,
};

/// How many queued writes one commit takes at most.
const MAX_GROUP: usize = 512;
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(Result<&Connection, &str>) -> Completion + Send>;
type Housekeeping = Box<dyn FnMut(&Connection) + Send>;

/// A SQLite database with one group-committing writer thread and pooled readers.
#[derive(Clone)]
pub struct SqliteDb {
    inner: Arc<DbInner>,
}

struct DbInner {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    // A std Mutex: held only to push or pop a connection, never across an await.
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for DbInner {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has committed what is queued.
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl SqliteDb {
    /// Opens (creating if needed) the database at `path`, applies `schema` (idempotent DDL) and
    /// starts the writer. `housekeeping` runs on the writer every `interval` when given.
    pub fn open(
        path: &Path,
        schema: &str,
        housekeeping: Option<(Duration, Housekeeping)>,
    ) -> Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| Error::Unreachable {
                engine: "sqlite",
                target: path.display().to_string(),
                reason: format!("cannot create directory {}: {e}", parent.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| Error::Unreachable {
            engine: "sqlite",
            target: path.display().to_string(),
            reason: e.to_string(),
        })?;
        // FULL: with WAL, every commit is fsynced, so an acknowledged write survives even a
        // power cut; group commit keeps the cost of that fsync shared.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;",
        )?;
        conn.execute_batch(schema)?;

        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, housekeeping))
            .map_err(|e| Error::Backend {
                engine: "sqlite",
                message: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            inner: Arc::new(DbInner {
                path: path.to_owned(),
                jobs: Mutex::new(Some(tx)),
                readers: Mutex::new(Vec::new()),
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in the next group commit; resolves once that commit is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let outcome = match conn {
                Ok(conn) => in_savepoint(conn, f),
                Err(e) => Err(backend(e)),
            };
            Box::new(move |commit: Result<(), String>| {
                let result = match (outcome, commit) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(backend(&e)),
                };
                let _ = tx.send(result);
            })
        });
        let sent = match self.inner.jobs.lock() {
            Ok(jobs) => jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok()),
            Err(_) => false,
        };
        if !sent {
            return Err(backend("the writer has stopped"));
        }
        rx.await
            .map_err(|_| backend("the writer stopped before committing"))?
    }

    /// Runs `f` on a read connection, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut r| r.pop());
            let conn = match pooled {
                Some(conn) => conn,
                None => {
                    let conn = Connection::open(&inner.path)?;
                    conn.execute_batch("PRAGMA query_only=1; PRAGMA busy_timeout=10000;")?;
                    conn
                }
            };
            let result = f(&conn);
            if let Ok(mut readers) = inner.readers.lock()
                && readers.len() < MAX_IDLE_READERS
            {
                readers.push(conn);
            }
            result
        })
        .await
        .map_err(|e| backend(&format!("read task failed: {e}")))?
    }
}

fn backend(message: &str) -> Error {
    Error::Backend {
        engine: "sqlite",
        message: message.to_owned(),
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    mut housekeeping: Option<(Duration, Housekeeping)>,
) {
    let mut last_housekeeping = std::time::Instant::now();
    loop {
        let wait = housekeeping
            .as_ref()
            .map_or(Duration::from_secs(3600), |(every, _)| *every);
        let first = match rx.recv_timeout(wait) {
            Ok(job) => Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if let Some((every, task)) = housekeeping.as_mut()
            && last_housekeeping.elapsed() >= *every
        {
            task(&conn);
            last_housekeeping = std::time::Instant::now();
        }
        let Some(first) = first else { continue };
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = e.to_string();
            for job in jobs {
                job(Err(&message))(Err(message.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = jobs.into_iter().map(|job| job(Ok(&conn))).collect();
        let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for complete in completions {
            complete(commit.clone());
        }
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    ck TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (tbl, pk, ck)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
";

/// How often expired rows are purged; until then reads already hide them.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The embedded store engine.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    db: SqliteDb,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (a relative PATH is relative to the working directory).
    pub fn open_url(url: &str) -> Result<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .ok_or_else(|| Error::InvalidUrl {
                url: url.to_owned(),
                reason: "the scheme is not sqlite".into(),
            })?;
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                reason: "the database path is empty".into(),
            });
        }
        Self::open(Path::new(path))
    }

    pub fn open(path: &Path) -> Result<Self> {
        let purge: Housekeeping = Box::new(|conn: &Connection| {
            let removed = conn.execute(
                "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                params![now_millis()],
            );
            match removed {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired rows"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
            }
        });
        Ok(Self {
            db: SqliteDb::open(path, SCHEMA, Some((PURGE_EVERY, purge)))?,
        })
    }
}

fn expiry(row: &Row) -> Option<i64> {
    match row.ttl_seconds() {
        0 => None,
        secs => Some(now_millis().saturating_add(secs.saturating_mul(1000))),
    }
}

fn upsert(conn: &Connection, row: &Row) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO kv (tbl, pk, ck, value, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tbl, pk, ck) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
    )?
    .execute(params![row.table, row.pk, row.ck, row.value, expiry(row)])?;
    Ok(())
}

fn remove(conn: &Connection, table: &str, pk: &str, ck: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM kv WHERE tbl = ?1 AND pk = ?2 AND ck = ?3")?
        .execute(params![table, pk, ck])?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    async fn get(&self, table: &str, pk: &str, ck: &str) -> Result<Option<Vec<u8>>> {
        validate_table(table)?;
        let (table, pk, ck) = (table.to_owned(), pk.to_owned(), ck.to_owned());
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT value FROM kv WHERE tbl = ?1 AND pk = ?2 AND ck = ?3
                         AND (expires_at IS NULL OR expires_at > ?4)",
                    )?
                    .query_row(params![table, pk, ck, now_millis()], |r| r.get(0))
                    .optional()?)
            })
            .await
    }

    async fn put(&self, row: Row) -> Result<()> {
        validate_row(&row)?;
        self.db.write(move |conn| upsert(conn, &row)).await
    }

    async fn put_if_absent(&self, row: Row) -> Result<bool> {
        validate_row(&row)?;
        self.db
            .write(move |conn| {
                let now = now_millis();
                let changed = conn
                    .prepare_cached(
                        "INSERT INTO kv (tbl, pk, ck, value, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (tbl, pk, ck) DO UPDATE
                         SET value = excluded.value, expires_at = excluded.expires_at
                         WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?6",
                    )?
                    .execute(params![row.table, row.pk, row.ck, row.value, expiry(&row), now])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn compare_and_set(&self, row: Row, expected: &[u8]) -> Result<bool> {
        validate_row(&row)?;
        let expected = expected.to_vec();
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE kv SET value = ?1, expires_at = ?2
                         WHERE tbl = ?3 AND pk = ?4 AND ck = ?5 AND value = ?6
                         AND (expires_at IS NULL OR expires_at > ?7)",
                    )?
                    .execute(params![
                        row.value,
                        expiry(&row),
                        row.table,
                        row.pk,
                        row.ck,
                        expected,
                        now_millis()
                    ])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn delete(&self, table: &str, pk: &str, ck: &str) -> Result<()> {
        validate_table(table)?;
        let (table, pk, ck) = (table.to_owned(), pk.to_owned(), ck.to_owned());
        self.db
            .write(move |conn| remove(conn, &table, &pk, &ck))
            .await
    }

    async fn scan(&self, table: &str, pk: &str, range: &KeyRange, limit: usize) -> Result<Page> {
        validate_table(table)?;
        validate_limit(limit)?;
        let (table, pk, range) = (table.to_owned(), pk.to_owned(), range.clone());
        self.db
            .read(move |conn| {
                let mut sql = String::from(
                    "SELECT ck, value FROM kv WHERE tbl = ?1 AND pk = ?2
                     AND (expires_at IS NULL OR expires_at > ?3)",
                );
                let conditions = range.conditions();
                for (i, (op, _)) in conditions.iter().enumerate() {
                    sql.push_str(&format!(" AND ck {op} ?{}", i + 4));
                }
                sql.push_str(&format!(" ORDER BY ck LIMIT {}", limit + 1));
                let mut stmt = conn.prepare_cached(&sql)?;
                let now = now_millis();
                let mut values: Vec<&dyn rusqlite::ToSql> = vec![&table, &pk, &now];
                for (_, key) in &conditions {
                    values.push(key);
                }
                let rows = stmt
                    .query_map(values.as_slice(), |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<(String, Vec<u8>)>>>()?;
                Ok(Page::from_overfetch(rows, limit, &range))
            })
            .await
    }

    async fn batch(&self, mutations: Vec<Mutation>) -> Result<()> {
        for m in &mutations {
            match m {
                Mutation::Put(row) => validate_row(row)?,
                Mutation::Delete { table, .. } => validate_table(table)?,
            }
        }
        self.db
            .write(move |conn| {
                for m in &mutations {
                    match m {
                        Mutation::Put(row) => upsert(conn, row)?,
                        Mutation::Delete { table, pk, ck } => remove(conn, table, pk, ck)?,
                    }
                }
                Ok(())
            })
            .await
    }
}

/// A consistent copy of an SQLite file, taken while it is in use (`VACUUM INTO`): what a
/// backup of the embedded platform is made of. `dest` must not exist.
pub fn snapshot(src: &Path, dest: &Path) -> Result<()> {
    let unreachable = |e: rusqlite::Error| Error::Unreachable {
        engine: "sqlite",
        target: src.display().to_string(),
        reason: e.to_string(),
    };
    let conn = Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(unreachable)?;
    conn.execute_batch("PRAGMA busy_timeout=10000;")
        .map_err(unreachable)?;
    conn.execute("VACUUM INTO ?1", params![dest.to_string_lossy()])
        .map_err(unreachable)?;
    Ok(())
}

/// Every live row of one logical table of an embedded store file, across partitions:
/// `(partition, clustering, value)`. For operator tools (a backup's own checks), not services.
pub fn table_rows(path: &Path, table: &str) -> Result<Vec<(String, String, Vec<u8>)>> {
    let unreachable = |e: rusqlite::Error| Error::Unreachable {
        engine: "sqlite",
        target: path.display().to_string(),
        reason: e.to_string(),
    };
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(unreachable)?;
    let mut statement = conn
        .prepare(
            "SELECT pk, ck, value FROM kv WHERE tbl = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        )
        .map_err(unreachable)?;
    let rows = statement
        .query_map(params![table, now_millis()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(unreachable)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(unreachable)?;
    Ok(rows)
}
