//! Who may change a place: the structure that keeps it (its staff), a manager for places an
//! operator imported, an admin for any; imports by managers and admins only, never over
//! another structure's places; and an import that fails to be written leaves nothing in the
//! search index.

use std::sync::Arc;

use passerelle_directory::files::{self, Format};
use passerelle_directory::service::Directory;
use passerelle_proto::directory::v1 as pb;
use passerelle_store::DynStore;
use passerelle_store::testing::Flaky;
use tonic::Code;

use crate::helpers::{data, spawn_app};

fn token(app: &crate::helpers::App, who: &str, role: &str, structure: &str) -> String {
    app.issuer.token(who, role, Some(structure))
}

async fn place(app: &crate::helpers::App, id: &str) -> pb::Place {
    app.client(None)
        .get_place(pb::GetPlaceRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_are_changed_by_whom_keeps_them() {
    let app = spawn_app().await;
    // ccas-nord's manager imports the city's places: ccas-nord keeps them.
    app.import(pb::Format::Csv, data("lieux-amiens.csv"))
        .await
        .unwrap();
    let nord_agent = app.client(Some(&token(&app, "agent-n", "agent", "ccas-nord")));
    let sud_agent = app.client(Some(&token(&app, "agent-s", "agent", "ccas-sud")));
    let sud_manager = app.client(Some(&token(&app, "manager-s", "manager", "ccas-sud")));
    let admin = app.client(Some(&token(&app, "admin-1", "admin", "passerelle")));

    let mut nord = place(&app, "ccas-amiens-nord").await;
    nord.horaires = "Mo-Fr 09:00-17:00".into();
    let refused = sud_agent
        .clone()
        .upsert_place(nord.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("kept by ccas-nord"),
        "{refused:?}"
    );
    assert_eq!(
        sud_manager
            .clone()
            .delete_place(pb::DeletePlaceRequest {
                id: nord.id.clone()
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    nord_agent.clone().upsert_place(nord.clone()).await.unwrap();
    admin.clone().upsert_place(nord.clone()).await.unwrap();

    // A new place is kept by the structure that made it.
    let mut new = nord.clone();
    new.id = "atelier-sud".into();
    new.nom = "Atelier numérique du Sud".into();
    new.latitude = Some(49.87);
    sud_agent.clone().upsert_place(new.clone()).await.unwrap();
    assert_eq!(
        nord_agent
            .clone()
            .upsert_place(new.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // Imports: agents may not; another structure's manager changes none of ccas-nord's places.
    let agent_import = app
        .import_as(
            nord_agent.clone(),
            pb::Format::Csv,
            data("lieux-amiens.csv"),
        )
        .await
        .unwrap_err();
    assert_eq!(agent_import.code(), Code::PermissionDenied);
    let report = app
        .import_as(
            sud_manager.clone(),
            pb::Format::Csv,
            data("lieux-amiens.csv"),
        )
        .await
        .unwrap();
    assert_eq!((report.imported, report.updated), (0, 0), "{report:?}");
    assert_eq!(report.rejected.len(), 10, "{report:?}");
    assert!(
        report
            .rejected
            .iter()
            .all(|r| r.reason.contains("kept by ccas-nord"))
    );

    // The change is announced with who made it.
    let mut consumer = app
        .bus
        .subscribe("test-keepers", &["passerelle.directory"])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut by = Vec::new();
    while !by
        .iter()
        .any(|(who, _): &(String, String)| who == "agent-s")
    {
        assert!(std::time::Instant::now() < deadline, "{by:?}");
        for d in consumer
            .poll(100, std::time::Duration::from_millis(200))
            .await
            .unwrap()
        {
            let envelope = passerelle_bus::event::decode(&d).unwrap();
            if envelope.event_type.ends_with("PlaceUpserted") {
                use prost::Message as _;
                let e = passerelle_proto::events::v1::PlaceUpserted::decode(
                    envelope.payload.as_slice(),
                )
                .unwrap();
                by.push((e.changed_by, e.structure));
            }
        }
    }
    assert!(
        by.contains(&("agent-s".into(), "ccas-sud".into())),
        "{by:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_an_operator_imported_are_changed_by_managers() {
    let app = spawn_app().await;
    let rows = files::read(Format::Csv, &data("lieux-amiens.csv"), "open data").unwrap();
    app.service.import(None, rows, |_, _| {}).await.unwrap();
    let mut p = place(&app, "mediatheque-louis-aragon").await;
    p.wifi_public = true;
    let agent = app.client(Some(&token(&app, "agent-n", "agent", "ccas-nord")));
    let refused = agent.clone().upsert_place(p.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("comes from an import"),
        "{refused:?}"
    );
    app.manager().upsert_place(p).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_the_store_refused_leaves_nothing_in_the_search() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: DynStore =
        Arc::new(passerelle_store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let flaky = Arc::new(Flaky::new(sqlite));
    let store: DynStore = flaky.clone();
    let bus: passerelle_bus::DynBus =
        Arc::new(passerelle_bus::sqlite::SqliteBus::open(&dir.path().join("b.db"), 1).unwrap());
    let relay = passerelle_bus::outbox::OutboxRelay::new(store.clone(), bus, "directory");
    let outbox = passerelle_bus::outbox::Outbox::new(store.clone(), relay);
    let directory = Directory::load(store, outbox).await.unwrap();
    let rows = files::read(Format::Csv, &data("lieux-amiens.csv"), "open data").unwrap();
    flaky.set_writes_failing(true);
    assert!(directory.import(None, rows, |_, _| {}).await.is_err());
    assert_eq!(
        directory.len(),
        0,
        "the index shows places the store does not have"
    );
    assert!(directory.get("ccas-amiens-nord").is_err());
}
