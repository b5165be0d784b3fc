//! The store conformance suite, once per engine: SQLite always, CQL against the real node of
//! `PASSERELLE_TEST_CQL` (Apache Cassandra in CI, standing in for ScyllaDB).
#![allow(clippy::unwrap_used)]

mod sqlite {
    use std::sync::Arc;

    use passerelle_store::conformance::unique_table;
    use passerelle_store::sqlite::SqliteStore;
    use passerelle_store::{DynStore, store_conformance_suite};

    async fn open() -> Option<DynStore> {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(unique_table("store"))
            .join("store.db");
        Some(Arc::new(SqliteStore::open(&path).unwrap()))
    }

    store_conformance_suite!(open());
}

mod cql {
    use passerelle_store::conformance::cql_store;
    use passerelle_store::store_conformance_suite;

    store_conformance_suite!(cql_store("passerelle_test_store"));
}
