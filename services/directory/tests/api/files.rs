//! Files in the national schema: import, export and import again gives the same places; messy
//! rows are normalised or refused with the line, field, value and what is accepted; duplicates
//! across sources are merged and reported.

use passerelle_proto::directory::v1 as pb;

use crate::helpers::{data, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_export_import_gives_the_same_places() {
    let first = spawn_app().await;
    let report = first
        .import(pb::Format::Csv, data("lieux-amiens.csv"))
        .await
        .unwrap();
    assert_eq!((report.imported, report.updated), (10, 0), "{report:?}");
    assert!(
        report.rejected.is_empty() && report.merged.is_empty(),
        "{report:?}"
    );
    let csv = first.export(pb::Format::Csv).await;
    let json = first.export(pb::Format::Json).await;
    let text = String::from_utf8(csv.clone()).unwrap();
    assert!(
        text.contains("Aide aux démarches administratives|Accès internet et matériel informatique"),
        "multi-values are |-separated"
    );
    // The JSON is the schema's own: multi-values as |-separated strings too (the national
    // reference library refuses arrays), and no empty fields.
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&json).unwrap();
    for row in &rows {
        for (field, value) in row {
            assert!(
                !value.is_array() && !value.is_null() && value != "",
                "{field} of {} is {value}",
                row["id"]
            );
        }
    }
    assert!(
        rows.iter()
            .any(|r| r["services"].as_str().is_some_and(|s| s.contains('|'))),
        "multi-values are |-separated in JSON"
    );

    for (format, bytes) in [
        (pb::Format::Csv, csv.clone()),
        (pb::Format::Json, json.clone()),
    ] {
        let second = spawn_app().await;
        let again = second.import(format, bytes).await.unwrap();
        assert_eq!(again.imported, 10, "{format:?}: {again:?}");
        assert!(
            again.rejected.is_empty() && again.merged.is_empty(),
            "{format:?}: {again:?}"
        );
        assert_eq!(
            second.export(pb::Format::Csv).await,
            csv,
            "{format:?} round trip changed the places"
        );
    }

    // Importing the same file again updates, never duplicates.
    let same = first
        .import(pb::Format::Csv, data("lieux-amiens.csv"))
        .await
        .unwrap();
    assert_eq!((same.imported, same.updated), (0, 10));

    let geojson: serde_json::Value =
        serde_json::from_slice(&first.export(pb::Format::Geojson).await).unwrap();
    assert_eq!(geojson["type"], "FeatureCollection");
    let features = geojson["features"].as_array().unwrap();
    assert_eq!(features.len(), 10);
    let aragon = features
        .iter()
        .find(|f| f["id"] == "mediatheque-louis-aragon")
        .unwrap();
    assert_eq!(
        aragon["geometry"]["coordinates"],
        serde_json::json!([2.2978, 49.8919]),
        "GeoJSON is [longitude, latitude]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messy_rows_are_normalised_or_refused_with_the_reason() {
    let app = spawn_app().await;
    // Semicolons, Windows-1252, stray spaces, lowercase values, four ways to write a phone.
    let report = app
        .import(pb::Format::Csv, data("lieux-messy.csv"))
        .await
        .unwrap();
    assert_eq!(report.imported, 6, "{report:?}");
    let listed = |problems: &[pb::Rejection]| -> Vec<(i32, String, String)> {
        problems
            .iter()
            .map(|r| (r.line, r.field.clone(), r.value.clone()))
            .collect()
    };
    let owned = |rows: &[(i32, &str, &str)]| -> Vec<(i32, String, String)> {
        rows.iter()
            .map(|(l, f, v)| (*l, (*f).to_owned(), (*v).to_owned()))
            .collect()
    };
    // Refused: only what leaves no usable place — no name, no service of the schema's list.
    assert_eq!(
        listed(&report.rejected),
        owned(&[(6, "nom", ""), (9, "services", "Jardinage partagé")])
    );
    assert_eq!(report.rejected[0].reason, "is required");
    assert!(
        report.rejected[1]
            .reason
            .contains("accepted are Aide aux démarches administratives"),
        "{}",
        report.rejected[1].reason
    );
    // Kept: a postcode outside its INSEE code's department (8000 lost a zero, but which one?),
    // swapped coordinates put back, hours that do not read left out; all said.
    assert_eq!(
        listed(&report.warnings),
        owned(&[
            (4, "code_postal", "08000"),
            (7, "latitude", "2.2990, 49.8930"),
            (8, "horaires", "Lundi de 9h à 12h")
        ])
    );
    assert!(
        report.warnings[1].reason.contains("swapped: put back"),
        "{}",
        report.warnings[1].reason
    );
    assert!(
        report.warnings[2]
            .reason
            .contains("OpenStreetMap opening_hours syntax"),
        "{}",
        report.warnings[2].reason
    );

    let mut client = app.client(None);
    let place = |id: &str| {
        let mut client = client.clone();
        let id = id.to_owned();
        async move {
            client
                .get_place(pb::GetPlaceRequest { id })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let lost = place("messy-6").await;
    assert_eq!(
        (lost.latitude, lost.longitude),
        (Some(49.893), Some(2.299)),
        "swapped back"
    );
    assert_eq!(
        place("messy-7").await.horaires,
        "",
        "doubtful hours left out"
    );
    let first = place("messy-1").await;
    assert_eq!(first.nom, "Espace public numérique");
    assert_eq!(first.adresse, "1 rue Robert de Luzarches");
    assert_eq!(
        first.services,
        [
            "Aide aux démarches administratives",
            "Accès internet et matériel informatique"
        ]
    );
    assert_eq!(
        (
            first.frais_a_charge[0].as_str(),
            first.itinerance[0].as_str(),
            first.publics_specifiquement_adresses[0].as_str()
        ),
        ("Gratuit", "Fixe", "Seniors")
    );
    assert_eq!(first.site_web, ["https://www.amiens.fr"]);
    assert_eq!(first.date_maj, "2026-10-01");
    let phones: Vec<String> = futures_util_join(vec![
        place("messy-1"),
        place("messy-2"),
        place("messy-3"),
        place("messy-4"),
    ])
    .await
    .into_iter()
    .map(|p| p.telephone)
    .collect();
    assert_eq!(
        phones,
        [
            "+33322971010",
            "+33322971011",
            "+33322971012",
            "+33322971013"
        ]
    );
    assert_eq!(
        place("messy-3").await.code_postal,
        "08000",
        "the leading zero Excel dropped is back"
    );
    let missing = client
        .get_place(pb::GetPlaceRequest {
            id: "messy-5".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing.message(),
        "no place `messy-5`",
        "a refused row is not stored"
    );
}

async fn futures_util_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_place_from_two_sources_is_merged_and_reported() {
    let app = spawn_app().await;
    app.import(pb::Format::Csv, data("lieux-amiens.csv"))
        .await
        .unwrap();
    // Another network lists the Louis Aragon library, 40 m off, spelled its own way, with
    // its wifi and a phone line of its own.
    let other = "id,pivot,nom,commune,code_postal,adresse,latitude,longitude,services,date_maj,x_wifi_public,modalites_accompagnement\n\
                 hub-42,,Médiathèque L. Aragon,Amiens,80000,50 rue de la Republique,49.8922,2.2982,Accès internet et matériel informatique|Maîtrise des outils numériques du quotidien,2026-11-01,Oui,Accompagnement individuel\n\
                 hub-43,,Nouveau lieu,Amiens,80000,9 rue Neuve,49.8700,2.2700,Aide aux démarches administratives,2026-11-01,Non,\n";
    let report = app
        .import(pb::Format::Csv, other.as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(report.merged.len(), 1, "{report:?}");
    let merge = &report.merged[0];
    assert_eq!(
        (
            merge.line,
            merge.imported_id.as_str(),
            merge.existing_id.as_str()
        ),
        (2, "hub-42", "mediatheque-louis-aragon")
    );
    assert!(merge.reason.contains("m away, names"), "{}", merge.reason);

    let merged = app
        .client(None)
        .get_place(pb::GetPlaceRequest {
            id: "mediatheque-louis-aragon".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(merged.wifi_public);
    assert!(
        merged
            .services
            .contains(&"Maîtrise des outils numériques du quotidien".to_owned())
    );
    assert_eq!(
        merged.modalites_accompagnement,
        ["Accompagnement individuel", "En autonomie"],
        "the more recent record's values first, the other's added"
    );
    assert_eq!(merged.date_maj, "2026-11-01");
    assert!(
        app.client(None)
            .get_place(pb::GetPlaceRequest {
                id: "hub-42".into()
            })
            .await
            .is_err(),
        "no duplicate was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_say_what_is_expected() {
    let app = spawn_app().await;
    let no_header = app
        .import(pb::Format::Csv, b"name;town\nX;Y\n".to_vec())
        .await
        .unwrap_err();
    assert!(
        no_header
            .message()
            .contains("the CSV has no `id` column: expected the schema's columns"),
        "{}",
        no_header.message()
    );
    let not_array = app
        .import(pb::Format::Json, b"{\"id\": 1}".to_vec())
        .await
        .unwrap_err();
    assert!(
        not_array.message().contains("not an array of places"),
        "{}",
        not_array.message()
    );
    let geo = app
        .import(pb::Format::Geojson, b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(
        geo.message()
            .contains("GeoJSON and data·inclusion are export formats"),
        "{}",
        geo.message()
    );
}
