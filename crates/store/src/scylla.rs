//! The cluster engine: ScyllaDB, or any node speaking CQL (Apache Cassandra in our tests).
//!
//! Each logical table is a CQL table `(pk text, ck text, value blob, PRIMARY KEY ((pk), ck))`
//! in the keyspace the URL names, created on first use. Conditional writes are lightweight
//! transactions (Paxos); a batch is a logged batch, which CQL applies all or nothing. Reads and
//! writes run at LOCAL_QUORUM and LWTs at LOCAL_SERIAL, so a quorum write is seen by the next
//! quorum read.
//!
//! Do not mix plain writes and conditional writes on one key: CQL orders the former by
//! timestamp and the latter by Paxos ballot. Keys claimed with `put_if_absent` are updated with
//! `compare_and_set`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::CqlValue;

use crate::{
    Error, KeyRange, Mutation, Page, Result, Row, Store, validate_limit, validate_row,
    validate_table,
};

const DEFAULT_PORT: u16 = 9042;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `scylla://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScyllaUrl {
    pub nodes: Vec<String>,
    pub keyspace: String,
    pub replication_factor: u32,
}

impl ScyllaUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("scylla://")
            .ok_or_else(|| invalid("the scheme is not scylla"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, keyspace) = rest
            .split_once('/')
            .ok_or_else(|| invalid("the keyspace is missing"))?;
        if keyspace.is_empty() {
            return Err(invalid("the keyspace is missing"));
        }
        validate_table(keyspace).map_err(|_| {
            invalid("the keyspace must be a lowercase letter then lowercase letters, digits or `_`")
        })?;
        let mut nodes = Vec::new();
        for host in hosts.split(',') {
            if host.is_empty() {
                return Err(invalid("a host is empty"));
            }
            let node = match host.rsplit_once(':') {
                Some((name, port)) => {
                    port.parse::<u16>()
                        .map_err(|_| invalid(&format!("port `{port}` is not a number")))?;
                    if name.is_empty() {
                        return Err(invalid("a host is empty"));
                    }
                    host.to_owned()
                }
                None => format!("{host}:{DEFAULT_PORT}"),
            };
            nodes.push(node);
        }
        let mut replication_factor = 1;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("replication_factor", n)) => {
                    replication_factor = n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        invalid("replication_factor must be a whole number of at least 1")
                    })?;
                }
                _ => {
                    return Err(invalid(&format!(
                        "unknown parameter `{pair}` (accepted: replication_factor)"
                    )));
                }
            }
        }
        Ok(Self {
            nodes,
            keyspace: keyspace.to_owned(),
            replication_factor,
        })
    }
}

/// The CQL engine.
pub struct ScyllaStore {
    session: Session,
    keyspace: String,
    // std Mutexes: held only to look up or insert, never across an await.
    tables: std::sync::Mutex<HashSet<String>>,
    prepared: std::sync::Mutex<HashMap<String, PreparedStatement>>,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("keyspace", &self.keyspace)
            .finish()
    }
}

fn backend(err: impl std::fmt::Display) -> Error {
    Error::Backend {
        engine: "scylla",
        message: err.to_string(),
    }
}

impl ScyllaStore {
    /// Connects to the nodes an URL names and creates its keyspace if missing.
    pub async fn open_url(url: &str) -> Result<Self> {
        Self::open(ScyllaUrl::parse(url)?).await
    }

    pub async fn open(url: ScyllaUrl) -> Result<Self> {
        let profile = ExecutionProfile::builder()
            .consistency(Consistency::LocalQuorum)
            .serial_consistency(Some(SerialConsistency::LocalSerial))
            .request_timeout(Some(Duration::from_secs(15)))
            .build()
            .into_handle();
        let unreachable = |reason: String| Error::Unreachable {
            engine: "scylla",
            target: url.nodes.join(","),
            reason,
        };
        let builder = SessionBuilder::new()
            .known_nodes(&url.nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .default_execution_profile_handle(profile);
        let session =
            tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(5), builder.build())
                .await
                .map_err(|_| {
                    unreachable(format!(
                        "no answer within {}s",
                        CONNECT_TIMEOUT.as_secs() + 5
                    ))
                })?
                .map_err(|e| {
                    unreachable(format!(
                        "{e}; expected a running CQL node (ScyllaDB or Cassandra)"
                    ))
                })?;
        let create = format!(
            "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'NetworkTopologyStrategy', 'replication_factor': {}}}",
            url.keyspace, url.replication_factor
        );
        session.query_unpaged(create, ()).await.map_err(backend)?;
        Ok(Self {
            session,
            keyspace: url.keyspace,
            tables: std::sync::Mutex::new(HashSet::new()),
            prepared: std::sync::Mutex::new(HashMap::new()),
        })
    }

    async fn ensure_table(&self, table: &str) -> Result<()> {
        validate_table(table)?;
        if self.tables.lock().map_err(backend)?.contains(table) {
            return Ok(());
        }
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {}.{table} (pk text, ck text, value blob, PRIMARY KEY ((pk), ck))",
            self.keyspace
        );
        self.session
            .query_unpaged(create, ())
            .await
            .map_err(backend)?;
        self.tables
            .lock()
            .map_err(backend)?
            .insert(table.to_owned());
        Ok(())
    }

    /// Prepares (once) a statement on `table`; `{t}` in `cql` stands for the qualified table.
    async fn statement(&self, table: &str, cql: &str) -> Result<PreparedStatement> {
        self.ensure_table(table).await?;
        let text = cql.replace("{t}", &format!("{}.{table}", self.keyspace));
        if let Some(stmt) = self.prepared.lock().map_err(backend)?.get(&text) {
            return Ok(stmt.clone());
        }
        let stmt = self.session.prepare(text.clone()).await.map_err(backend)?;
        self.prepared
            .lock()
            .map_err(backend)?
            .insert(text, stmt.clone());
        Ok(stmt)
    }

    /// Runs a lightweight transaction and reports whether it applied.
    async fn lwt(
        &self,
        stmt: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<bool> {
        let result = self
            .session
            .execute_unpaged(stmt, values)
            .await
            .map_err(backend)?
            .into_rows_result()
            .map_err(backend)?;
        let row: scylla::value::Row = result.first_row().map_err(backend)?;
        match row.columns.first() {
            Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
            other => Err(backend(format!("unexpected [applied] column: {other:?}"))),
        }
    }
}

const INSERT: &str = "INSERT INTO {t} (pk, ck, value) VALUES (?, ?, ?) USING TTL ?";
const DELETE: &str = "DELETE FROM {t} WHERE pk = ? AND ck = ?";

fn ttl(row: &Row) -> i32 {
    i32::try_from(row.ttl_seconds()).unwrap_or(i32::MAX)
}

#[async_trait]
impl Store for ScyllaStore {
    fn engine(&self) -> &'static str {
        "scylla"
    }

    async fn get(&self, table: &str, pk: &str, ck: &str) -> Result<Option<Vec<u8>>> {
        let stmt = self
            .statement(table, "SELECT value FROM {t} WHERE pk = ? AND ck = ?")
            .await?;
        let result = self
            .session
            .execute_unpaged(&stmt, (pk, ck))
            .await
            .map_err(backend)?
            .into_rows_result()
            .map_err(backend)?;
        let row: Option<(Vec<u8>,)> = result.maybe_first_row().map_err(backend)?;
        Ok(row.map(|(value,)| value))
    }

    async fn put(&self, row: Row) -> Result<()> {
        validate_row(&row)?;
        let stmt = self.statement(&row.table, INSERT).await?;
        self.session
            .execute_unpaged(&stmt, (&row.pk, &row.ck, &row.value, ttl(&row)))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_if_absent(&self, row: Row) -> Result<bool> {
        validate_row(&row)?;
        let stmt = self
            .statement(
                &row.table,
                "INSERT INTO {t} (pk, ck, value) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?",
            )
            .await?;
        self.lwt(&stmt, (&row.pk, &row.ck, &row.value, ttl(&row)))
            .await
    }

    async fn compare_and_set(&self, row: Row, expected: &[u8]) -> Result<bool> {
        validate_row(&row)?;
        let stmt = self
            .statement(
                &row.table,
                "UPDATE {t} USING TTL ? SET value = ? WHERE pk = ? AND ck = ? IF value = ?",
            )
            .await?;
        self.lwt(&stmt, (ttl(&row), &row.value, &row.pk, &row.ck, expected))
            .await
    }

    async fn delete(&self, table: &str, pk: &str, ck: &str) -> Result<()> {
        let stmt = self.statement(table, DELETE).await?;
        self.session
            .execute_unpaged(&stmt, (pk, ck))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn scan(&self, table: &str, pk: &str, range: &KeyRange, limit: usize) -> Result<Page> {
        validate_limit(limit)?;
        let mut cql = String::from("SELECT ck, value FROM {t} WHERE pk = ?");
        let mut values = vec![CqlValue::Text(pk.to_owned())];
        for (op, key) in range.conditions() {
            cql.push_str(&format!(" AND ck {op} ?"));
            values.push(CqlValue::Text(key.to_owned()));
        }
        cql.push_str(" LIMIT ?");
        values.push(CqlValue::Int(i32::try_from(limit + 1).unwrap_or(i32::MAX)));
        let stmt = self.statement(table, &cql).await?;
        let result = self
            .session
            .execute_unpaged(&stmt, values)
            .await
            .map_err(backend)?
            .into_rows_result()
            .map_err(backend)?;
        let rows = result
            .rows::<(String, Vec<u8>)>()
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        Ok(Page::from_overfetch(rows, limit, range))
    }

    async fn batch(&self, mutations: Vec<Mutation>) -> Result<()> {
        if mutations.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Logged);
        let mut values: Vec<Vec<CqlValue>> = Vec::with_capacity(mutations.len());
        for m in &mutations {
            match m {
                Mutation::Put(row) => {
                    validate_row(row)?;
                    batch.append_statement(self.statement(m.table(), INSERT).await?);
                    values.push(vec![
                        CqlValue::Text(row.pk.clone()),
                        CqlValue::Text(row.ck.clone()),
                        CqlValue::Blob(row.value.clone()),
                        CqlValue::Int(ttl(row)),
                    ]);
                }
                Mutation::Delete { table, pk, ck } => {
                    batch.append_statement(self.statement(table, DELETE).await?);
                    values.push(vec![CqlValue::Text(pk.clone()), CqlValue::Text(ck.clone())]);
                }
            }
        }
        self.session.batch(&batch, values).await.map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nodes_keyspace_and_replication() {
        let url = ScyllaUrl::parse("scylla://a:9043,b/passerelle?replication_factor=3").unwrap();
        assert_eq!(url.nodes, ["a:9043", "b:9042"]);
        assert_eq!(url.keyspace, "passerelle");
        assert_eq!(url.replication_factor, 3);
    }

    #[test]
    fn rejects_malformed_urls_with_the_reason() {
        for (url, reason) in [
            ("scylla://host", "keyspace is missing"),
            ("scylla://host/", "keyspace is missing"),
            ("scylla://host:abc/ks", "port `abc` is not a number"),
            ("scylla://,host/ks", "a host is empty"),
            ("scylla://host/Bad-Name", "keyspace must be"),
            ("scylla://host/ks?rf=3", "unknown parameter `rf=3`"),
        ] {
            let err = ScyllaUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(reason), "{url}: {err}");
            assert!(err.contains("expected sqlite://PATH or scylla://"), "{err}");
        }
    }
}
