//! Search: nearest first, within a radius, filtered by service, public, support, fees, wifi
//! and opening hours, paged — and the same answer as looking at every place. Edits need an
//! agent and are announced on the bus.

use std::time::Duration;

use passerelle_directory::index::Query;
use passerelle_proto::directory::v1 as pb;
use tonic::Code;

use crate::helpers::{App, data, spawn_app};

const AMIENS_CATHEDRAL: (f64, f64) = (49.8944, 2.3022);

fn request() -> pb::SearchPlacesRequest {
    pb::SearchPlacesRequest {
        latitude: AMIENS_CATHEDRAL.0,
        longitude: AMIENS_CATHEDRAL.1,
        radius_m: 5_000.0,
        ..Default::default()
    }
}

async fn ids(app: &App, request: pb::SearchPlacesRequest) -> Vec<String> {
    app.client(None)
        .search_places(request)
        .await
        .unwrap()
        .into_inner()
        .hits
        .into_iter()
        .map(|h| h.place.unwrap().id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_places_first_with_filters_and_pages() {
    let app = spawn_app().await;
    app.import(pb::Format::Csv, data("lieux-amiens.csv"))
        .await
        .unwrap();

    let response = app
        .client(None)
        .search_places(request())
        .await
        .unwrap()
        .into_inner();
    let distances: Vec<f64> = response.hits.iter().map(|h| h.distance_m).collect();
    assert!(
        distances.windows(2).all(|w| w[0] <= w[1]),
        "not sorted by distance: {distances:?}"
    );
    assert!(distances.iter().all(|d| *d <= 5_000.0));
    assert_eq!(
        response.hits[0].place.as_ref().unwrap().id,
        "mediatheque-louis-aragon"
    );
    assert_eq!(response.hits[0].distance_m, 420.0);
    assert!(
        !ids(&app, request())
            .await
            .contains(&"bus-numerique-somme".to_owned()),
        "Abbeville is 45 km away"
    );

    let mut with_deafness = request();
    with_deafness.support = vec!["surdité".into()];
    assert_eq!(ids(&app, with_deafness).await, ["france-services-etouvie"]);
    let mut free_internet = request();
    free_internet.services = vec!["Accès internet et matériel informatique".into()];
    free_internet.fees = vec!["Gratuit".into()];
    assert_eq!(
        ids(&app, free_internet).await,
        [
            "mediatheque-louis-aragon",
            "ccas-amiens-nord",
            "ccas-amiens-sud",
            "cyber-base-longueau"
        ]
    );
    let mut for_seniors = request();
    for_seniors.publics = vec!["Seniors".into()];
    for_seniors.radius_m = 10_000.0;
    assert_eq!(
        ids(&app, for_seniors).await,
        ["ccas-amiens-nord", "ccas-amiens-sud", "cyber-base-longueau"]
    );

    // Monday 23 November 2026 at 18:30 in Amiens (17:30 UTC): only the tiers-lieu is open.
    let mut evening = request();
    evening.open_at = Some(passerelle_proto::prost_types::Timestamp {
        seconds: 1_795_455_000,
        nanos: 0,
    });
    assert_eq!(ids(&app, evening).await, ["tiers-lieu-la-briqueterie"]);
    // Wednesday 11 November (Armistice, a public holiday) at 10:00: "PH off" places are closed.
    let mut holiday = request();
    holiday.open_at = Some(passerelle_proto::prost_types::Timestamp {
        seconds: 1_794_387_600,
        nanos: 0,
    });
    let open = ids(&app, holiday).await;
    assert!(
        !open.contains(&"caf-amiens-accueil".to_owned())
            && open.contains(&"tiers-lieu-la-briqueterie".to_owned()),
        "{open:?}"
    );

    let mut page = request();
    page.page_size = 3;
    let first = app
        .client(None)
        .search_places(page.clone())
        .await
        .unwrap()
        .into_inner();
    page.page_token = first.next_page_token.clone();
    let second = app
        .client(None)
        .search_places(page)
        .await
        .unwrap()
        .into_inner();
    let all = ids(&app, request()).await;
    let paged: Vec<String> = first
        .hits
        .iter()
        .chain(&second.hits)
        .map(|h| h.place.clone().unwrap().id)
        .collect();
    assert_eq!(paged, all[..6]);

    // The tree gives the same answer as looking at every place.
    let query = Query {
        lat: AMIENS_CATHEDRAL.0,
        lon: AMIENS_CATHEDRAL.1,
        radius_m: 50_000.0,
        limit: 10,
        ..Query::default()
    };
    let tree: Vec<String> = app
        .service
        .search(&query)
        .unwrap()
        .iter()
        .map(|h| h.entry.place.id.clone())
        .collect();
    let scan: Vec<String> = app
        .service
        .scan(&query)
        .unwrap()
        .iter()
        .map(|h| h.entry.place.id.clone())
        .collect();
    assert_eq!(tree, scan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_searches_say_what_is_accepted() {
    let app = spawn_app().await;
    let mut client = app.client(None);
    let mut far = request();
    far.radius_m = 500_000.0;
    assert!(
        client
            .search_places(far)
            .await
            .unwrap_err()
            .message()
            .contains("expected 1 to 200000 metres")
    );
    let mut unknown = request();
    unknown.services = vec!["Jardinage".into()];
    let err = client.search_places(unknown).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("services `Jardinage` is not a known value: accepted are"),
        "{}",
        err.message()
    );
    // A search without a point says so, rather than quietly searching around (0, 0).
    let nowhere = client
        .search_places(pb::SearchPlacesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(nowhere.code(), Code::InvalidArgument);
    assert!(
        nowhere.message().starts_with("a search needs a point"),
        "{}",
        nowhere.message()
    );
    let mut page = request();
    page.page_size = 1000;
    assert!(
        client
            .search_places(page)
            .await
            .unwrap_err()
            .message()
            .contains("expected 1 to 100")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_edit_places_and_every_change_is_announced() {
    let app = spawn_app().await;
    app.import(pb::Format::Csv, data("lieux-amiens.csv"))
        .await
        .unwrap();
    let mut place = app
        .client(None)
        .get_place(pb::GetPlaceRequest {
            id: "ccas-amiens-nord".into(),
        })
        .await
        .unwrap()
        .into_inner();
    place.horaires = "Mo-Sa 09:00-18:00; PH off".into();
    place.wifi_public = true;

    let beneficiary = app.issuer.token("person-1", "beneficiary", None);
    assert_eq!(
        app.client(Some(&beneficiary))
            .upsert_place(place.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        app.client(None)
            .upsert_place(place.clone())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let saved = app
        .agent()
        .upsert_place(place.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(saved.wifi_public);
    let mut wifi = request();
    wifi.wifi = true;
    assert_eq!(ids(&app, wifi).await, ["ccas-amiens-nord"]);

    let mut broken = place.clone();
    broken.telephone = "12".into();
    let refused = app.agent().upsert_place(broken).await.unwrap_err();
    assert!(
        refused
            .message()
            .starts_with("telephone `12`: is not a phone number"),
        "{}",
        refused.message()
    );

    assert_eq!(
        app.agent()
            .delete_place(pb::DeletePlaceRequest {
                id: "caf-amiens-accueil".into()
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let manager = app.issuer.token("manager-1", "manager", Some("ccas-nord"));
    app.client(Some(&manager))
        .delete_place(pb::DeletePlaceRequest {
            id: "caf-amiens-accueil".into(),
        })
        .await
        .unwrap();
    assert!(
        !ids(&app, request())
            .await
            .contains(&"caf-amiens-accueil".to_owned())
    );

    let mut consumer = app
        .bus
        .subscribe("test-directory", &["passerelle.directory"])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut kinds = Vec::new();
    while !(kinds.iter().any(|k: &String| k.ends_with("PlaceDeleted")) && kinds.len() >= 12) {
        assert!(
            std::time::Instant::now() < deadline,
            "events so far: {kinds:?}"
        );
        for d in consumer
            .poll(100, Duration::from_millis(200))
            .await
            .unwrap()
        {
            kinds.push(passerelle_bus::event::decode(&d).unwrap().event_type);
        }
    }
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.ends_with("PlaceUpserted"))
            .count(),
        11,
        "10 imported + 1 edit"
    );
}
