//! The bus conformance suite, once per engine: the embedded SQLite log always, Kafka against
//! the real broker of `PASSERELLE_TEST_KAFKA`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use passerelle_store::DynStore;
use passerelle_store::conformance::unique_table;
use passerelle_store::sqlite::SqliteStore;

fn scratch(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique_table(name))
}

async fn sqlite_store() -> DynStore {
    Arc::new(SqliteStore::open(&scratch("store").join("store.db")).unwrap())
}

mod sqlite {
    use passerelle_bus::sqlite::SqliteBus;
    use passerelle_bus::{DynBus, bus_conformance_suite};

    async fn bus() -> Option<DynBus> {
        Some(std::sync::Arc::new(
            SqliteBus::open(&super::scratch("bus").join("bus.db"), 4).unwrap(),
        ))
    }

    bus_conformance_suite!(bus(), super::sqlite_store());
}

mod kafka {
    use passerelle_bus::bus_conformance_suite;
    use passerelle_bus::conformance::kafka_bus;

    bus_conformance_suite!(kafka_bus(), super::sqlite_store());
}
