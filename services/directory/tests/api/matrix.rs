//! Every directory RPC by every kind of caller, allowed exactly where docs/security.md says.
//! Places are public to read; changing one is for the staff of the structure that keeps it.

use passerelle_proto::directory::v1 as pb;
use serde_json::json;

use crate::helpers::{App, data, spawn_app};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Beneficiary,
    AgentKeeping,
    AgentOther,
    Volunteer,
    ManagerKeeping,
    ManagerOther,
    Admin,
    Delegated,
}

const CALLERS: [Caller; 9] = [
    Caller::Anonymous,
    Caller::Beneficiary,
    Caller::AgentKeeping,
    Caller::AgentOther,
    Caller::Volunteer,
    Caller::ManagerKeeping,
    Caller::ManagerOther,
    Caller::Admin,
    Caller::Delegated,
];

#[derive(Clone, Copy, Debug)]
enum Rpc {
    SearchPlaces,
    GetPlace,
    UpsertPlace,
    DeletePlace,
    ImportPlaces,
    ExportPlaces,
}

/// `A` allowed, `D` denied, in the order of [`CALLERS`] (the place is kept by ccas-nord).
const MATRIX: &[(Rpc, &str)] = &[
    (Rpc::SearchPlaces, "AAAAAAAAA"),
    (Rpc::GetPlace, "AAAAAAAAA"),
    (Rpc::UpsertPlace, "DDADDADAD"),
    (Rpc::DeletePlace, "DDDDDADAD"),
    // Another structure's manager may import: its rows over ccas-nord's places are refused
    // one by one in the report (see keepers.rs).
    (Rpc::ImportPlaces, "DDDDDAAAD"),
    (Rpc::ExportPlaces, "AAAAAAAAA"),
];

fn token(app: &App, caller: Caller) -> Option<String> {
    let t = |sub: &str, role: &str, structure: Option<&str>| {
        Some(app.issuer.token(sub, role, structure))
    };
    match caller {
        Caller::Anonymous => None,
        Caller::Beneficiary => t("person-1", "beneficiary", None),
        Caller::AgentKeeping => t("agent-nord", "agent", Some("ccas-nord")),
        Caller::AgentOther => t("agent-sud", "agent", Some("ccas-sud")),
        Caller::Volunteer => t("volunteer-nord", "volunteer", Some("ccas-nord")),
        Caller::ManagerKeeping => t("manager-nord", "manager", Some("ccas-nord")),
        Caller::ManagerOther => t("manager-sud", "manager", Some("ccas-sud")),
        Caller::Admin => t("admin-1", "admin", Some("passerelle")),
        Caller::Delegated => {
            let mut claims =
                passerelle_kit::testing::TestIssuer::claims("person-1", &[], Some("ccas-nord"));
            claims["act"] = json!({ "sub": "agent-nord" });
            claims["scope"] = json!("procedures");
            Some(app.issuer.sign(&claims))
        }
    }
}

async fn call(app: &App, rpc: Rpc, token: Option<&str>) -> Result<(), tonic::Status> {
    let mut client = app.client(token);
    match rpc {
        Rpc::SearchPlaces => client
            .search_places(pb::SearchPlacesRequest {
                latitude: 49.894,
                longitude: 2.302,
                radius_m: 5_000.0,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::GetPlace => client
            .get_place(pb::GetPlaceRequest {
                id: "ccas-amiens-nord".into(),
            })
            .await
            .map(drop),
        Rpc::UpsertPlace => {
            let mut place = app
                .client(None)
                .get_place(pb::GetPlaceRequest {
                    id: "ccas-amiens-nord".into(),
                })
                .await
                .unwrap()
                .into_inner();
            place.wifi_public = !place.wifi_public;
            client.upsert_place(place).await.map(drop)
        }
        Rpc::DeletePlace => client
            .delete_place(pb::DeletePlaceRequest {
                id: "ccas-amiens-nord".into(),
            })
            .await
            .map(drop),
        Rpc::ImportPlaces => client
            .import_places(tokio_stream::iter(vec![pb::ImportPlacesRequest {
                format: pb::Format::Csv as i32,
                source: String::new(),
                chunk: data("lieux-amiens.csv"),
            }]))
            .await
            .map(drop),
        Rpc::ExportPlaces => {
            let mut stream = client
                .export_places(pb::ExportPlacesRequest {
                    format: pb::Format::Json as i32,
                })
                .await?
                .into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_by_every_caller_is_allowed_exactly_where_intended() {
    let mut report = passerelle_kit::testing::MatrixReport::default();
    for (rpc, row) in MATRIX {
        for (caller, expected) in CALLERS.iter().zip(row.chars()) {
            // A fresh directory per cell: the city's places, imported by ccas-nord's manager.
            let app = spawn_app().await;
            app.import(pb::Format::Csv, data("lieux-amiens.csv"))
                .await
                .unwrap();
            let outcome = call(&app, *rpc, token(&app, *caller).as_deref()).await;
            report.cell(
                rpc,
                caller,
                expected,
                *caller == Caller::Anonymous,
                &outcome,
            );
        }
    }
    report.finish(
        "passerelle.directory.v1.Directory",
        MATRIX.iter().map(|(rpc, _)| format!("{rpc:?}")),
    );
}
