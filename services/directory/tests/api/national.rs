//! What outside clients found importing real files: one doubtful value must not lose a place
//! from the map, and de-duplication must not merge distinct places.

use passerelle_proto::directory::v1 as pb;

use crate::helpers::spawn_app;

const HEADER: &str = "id,pivot,nom,commune,code_postal,code_insee,adresse,latitude,longitude,typologie,telephone,courriels,site_web,services,publics_specifiquement_adresses,date_maj";

/// A row with every field valid, `changes` applied (field name → value).
struct Row {
    fields: Vec<(&'static str, String)>,
}

impl Row {
    /// A place `n` in a grid of points about 1.1 km apart around Amiens.
    fn new(id: &str, n: usize) -> Row {
        let (lat, lon) = (
            49.80 + (n / 40) as f64 * 0.01,
            2.20 + (n % 40) as f64 * 0.015,
        );
        Row {
            fields: vec![
                ("id", id.to_owned()),
                ("pivot", String::new()),
                ("nom", format!("Espace numérique {}", name_of(n))),
                ("commune", "Amiens".into()),
                ("code_postal", "80000".into()),
                ("code_insee", "80021".into()),
                ("adresse", format!("{} rue de la République", n + 1)),
                ("latitude", format!("{lat:.5}")),
                ("longitude", format!("{lon:.5}")),
                ("typologie", "ASSO".into()),
                ("telephone", "03 22 97 10 10".into()),
                ("courriels", String::new()),
                ("site_web", String::new()),
                ("services", "Aide aux démarches administratives".into()),
                ("publics_specifiquement_adresses", String::new()),
                ("date_maj", "2026-06-01".into()),
            ],
        }
    }

    fn set(mut self, field: &str, value: &str) -> Row {
        let slot = self
            .fields
            .iter_mut()
            .find(|(f, _)| *f == field)
            .unwrap_or_else(|| panic!("no field {field}"));
        slot.1 = value.to_owned();
        self
    }

    fn get(&self, field: &str) -> &str {
        &self.fields.iter().find(|(f, _)| *f == field).unwrap().1
    }

    fn line(&self) -> String {
        self.fields
            .iter()
            .map(|(_, v)| format!("\"{}\"", v.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Names that share no number and are not alike: a few words from a list.
fn name_of(n: usize) -> String {
    const WORDS: [&str; 10] = [
        "Alpha",
        "Bruyère",
        "Citadelle",
        "Dunes",
        "Étang",
        "Faubourg",
        "Glycines",
        "Hortillonnages",
        "Iris",
        "Jacobins",
    ];
    format!(
        "{} {} {}",
        WORDS[n % 10],
        WORDS[(n / 10) % 10],
        WORDS[(n / 100) % 10]
    )
}

fn file(rows: &[Row]) -> Vec<u8> {
    let mut out = String::from(HEADER);
    for row in rows {
        out.push('\n');
        out.push_str(&row.line());
    }
    out.push('\n');
    out.into_bytes()
}

async fn place(app: &crate::helpers::App, id: &str) -> pb::Place {
    app.client(None)
        .get_place(pb::GetPlaceRequest { id: id.into() })
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"))
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_doubtful_value_keeps_the_place_and_says_so() {
    let app = spawn_app().await;
    let rows = vec![
        Row::new("bad-siret", 0).set("pivot", "123 456 789 01234"),
        Row::new("overseas-phone", 1).set("telephone", "+33 6 92 12 34 56"),
        Row::new("bad-phone", 2).set("telephone", "12"),
        Row::new("bad-mail", 3).set("courriels", "contact-at-example|ok@example.fr"),
        Row::new("bad-site", 4).set("site_web", "pas un site"),
        Row::new("bad-insee", 5).set("code_insee", "8002x"),
        Row::new("wrong-department", 6).set("code_postal", "75001"),
        Row::new("unknown-type", 7).set("typologie", "FRANCE_SERVICE|ccas"),
        Row::new("unknown-public", 8).set("publics_specifiquement_adresses", "Seniors|Martiens"),
        Row::new("abroad", 9)
            .set("latitude", "40.7")
            .set("longitude", "-74.0"),
        Row::new("no-address", 10).set("adresse", ""),
    ];
    let report = app.import(pb::Format::Csv, file(&rows)).await.unwrap();
    assert_eq!(report.imported, 10, "{report:?}");
    let rejected: Vec<(i32, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.field.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [(12, "adresse")],
        "only the unusable row is refused"
    );
    let warned: Vec<(i32, &str, &str)> = report
        .warnings
        .iter()
        .map(|w| (w.line, w.field.as_str(), w.value.as_str()))
        .collect();
    assert_eq!(
        warned,
        [
            (2, "pivot", "12345678901234"),
            (4, "telephone", "12"),
            (5, "courriels", "contact-at-example"),
            (6, "site_web", "pas un site"),
            (7, "code_insee", "8002x"),
            (8, "code_postal", "75001"),
            (9, "typologie", "FRANCE_SERVICE"),
            (10, "publics_specifiquement_adresses", "Martiens"),
            (11, "latitude", "40.7, -74.0"),
        ]
    );
    for warning in &report.warnings {
        assert!(!warning.reason.is_empty(), "{warning:?}");
    }
    assert!(report.warnings[0].reason.contains("kept as written"));
    assert!(report.warnings[5].reason.contains("INSEE code 80021"));

    assert_eq!(place(&app, "bad-siret").await.pivot, "12345678901234");
    assert_eq!(
        place(&app, "overseas-phone").await.telephone,
        "+262692123456",
        "a Réunion mobile written after +33 is read as the Réunion number it is"
    );
    assert_eq!(place(&app, "bad-phone").await.telephone, "");
    assert_eq!(place(&app, "bad-mail").await.courriels, ["ok@example.fr"]);
    assert_eq!(place(&app, "bad-insee").await.code_insee, "");
    assert_eq!(place(&app, "wrong-department").await.code_postal, "75001");
    assert_eq!(place(&app, "unknown-type").await.typologie, ["CCAS"]);
    assert_eq!(
        place(&app, "unknown-public")
            .await
            .publics_specifiquement_adresses,
        ["Seniors"]
    );
    let abroad = place(&app, "abroad").await;
    assert_eq!((abroad.latitude, abroad.longitude), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_thousand_place_file_loses_no_place_to_a_typo() {
    let app = spawn_app().await;
    // 2 % of the rows carry a SIRET whose check digit is wrong, 2 % an overseas number
    // written after +33: the national library keeps them all, so do we.
    let rows: Vec<Row> = (0..2000)
        .map(|n| {
            let row = Row::new(&format!("lieu-{n}"), n);
            match n % 50 {
                0 => row.set("pivot", "21800021000012"),
                25 => row.set("telephone", "+33 6 93 12 34 56"),
                _ => row,
            }
        })
        .collect();
    let report = app.import(pb::Format::Csv, file(&rows)).await.unwrap();
    assert_eq!(
        (report.imported, report.rejected.len(), report.merged.len()),
        (2000, 0, 0),
        "{:?}",
        report.rejected.first()
    );
    assert_eq!(report.warnings.len(), 40, "one per doubtful SIRET");
    assert!(report.warnings.iter().all(|w| w.field == "pivot"));
    assert_eq!(place(&app, "lieu-25").await.telephone, "+262693123456");
    assert_eq!(place(&app, "lieu-50").await.pivot, "21800021000012");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_true_duplicates_are_merged() {
    let app = spawn_app().await;
    let mut base: Vec<Row> = (0..30).map(|n| Row::new(&format!("lieu-{n}"), n)).collect();
    base[20] = Row::new("jules-verne-891", 20).set("nom", "Espace numérique Jules Verne 891");
    base[21] = Row::new("annexe-nord", 21).set("nom", "Point numérique de la mairie annexe Nord");
    base[22] = Row::new("siret-a", 22).set("pivot", "77567227210164");
    let report = app.import(pb::Format::Csv, file(&base)).await.unwrap();
    assert_eq!(report.imported, 30, "{report:?}");

    // Another source lists ten of them again, 11 m off, names upper-cased without accents.
    let mut other: Vec<Row> = (0..10)
        .map(|n| {
            let row = &base[n];
            let lat: f64 = row.get("latitude").parse().unwrap();
            let name = row.get("nom").to_uppercase().replace(['É', 'È'], "E");
            Row::new(&format!("autre-{n}"), n)
                .set("nom", &name)
                .set("latitude", &format!("{:.5}", lat + 0.0001))
                .set("telephone", "")
        })
        .collect();
    let near = |row: &Row, metres: f64| {
        let lat: f64 = row.get("latitude").parse().unwrap();
        format!("{:.5}", lat + metres / 111_195.0)
    };
    // Distinct places 80 to 110 m away: a name that differs by its number, one that differs
    // by a word (names 90 % alike, another address, another phone), another SIRET.
    other.push(
        Row::new("jules-verne-1203", 20)
            .set("nom", "Espace numérique Jules Verne 1203")
            .set("latitude", &near(&base[20], 90.0))
            .set("adresse", "1203 rue Jules Verne"),
    );
    other.push(
        Row::new("annexe-sud", 21)
            .set("nom", "Point numérique de la mairie annexe Sud")
            .set("latitude", &near(&base[21], 100.0))
            .set("adresse", "3 place du Marché")
            .set("telephone", "03 22 97 20 20"),
    );
    other.push(
        Row::new("siret-b", 22)
            .set("pivot", "44306184100047")
            .set("latitude", &near(&base[22], 5.0)),
    );
    let report = app.import(pb::Format::Csv, file(&other)).await.unwrap();
    let merged: Vec<(&str, &str)> = report
        .merged
        .iter()
        .map(|m| (m.imported_id.as_str(), m.existing_id.as_str()))
        .collect();
    let expected: Vec<(String, String)> = (0..10)
        .map(|n| (format!("autre-{n}"), format!("lieu-{n}")))
        .collect();
    assert_eq!(
        merged,
        expected
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
        "{report:?}"
    );
    assert_eq!(report.imported, 3, "{report:?}");
    for id in ["jules-verne-1203", "annexe-sud", "siret-b"] {
        place(&app, id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_better_record_survives_a_merge() {
    let app = spawn_app().await;
    // A copy with a postcode outside its INSEE code's department comes first; the good row
    // it copied must not lose its postcode to it.
    let good = Row::new("good", 0);
    let copy = Row::new("copy", 0)
        .set("code_postal", "60000")
        .set("date_maj", "2026-09-01");
    let report = app
        .import(pb::Format::Csv, file(&[copy, good]))
        .await
        .unwrap();
    assert_eq!(report.merged.len(), 1, "{report:?}");
    assert_eq!(place(&app, "copy").await.code_postal, "80000");

    // Of two sound records, the more recent one's values win; the place keeps its id.
    let newer = Row::new("newer", 1)
        .set("telephone", "03 22 97 99 99")
        .set("date_maj", "2026-11-15");
    app.import(pb::Format::Csv, file(&[Row::new("older", 1)]))
        .await
        .unwrap();
    let report = app.import(pb::Format::Csv, file(&[newer])).await.unwrap();
    assert_eq!(report.merged.len(), 1, "{report:?}");
    let kept = place(&app, "older").await;
    assert_eq!(
        (kept.telephone.as_str(), kept.date_maj.as_str()),
        ("+33322979999", "2026-11-15")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_merged_in_this_import_is_judged_as_it_now_is() {
    let app = spawn_app().await;
    app.import(pb::Format::Csv, file(&[Row::new("known", 0)]))
        .await
        .unwrap();
    // Two more sources list the same spot under two different SIRETs: the first merges (the
    // place had none), the second no longer can — the place now carries the first's SIRET.
    let first = Row::new("source-a", 0).set("pivot", "77567227210164");
    let second = Row::new("source-b", 0).set("pivot", "44306184100047");
    let report = app
        .import(pb::Format::Csv, file(&[first, second]))
        .await
        .unwrap();
    let merged: Vec<&str> = report
        .merged
        .iter()
        .map(|m| m.imported_id.as_str())
        .collect();
    assert_eq!(merged, ["source-a"], "{report:?}");
    assert_eq!(report.imported, 1, "{report:?}");
    assert_eq!(place(&app, "known").await.pivot, "77567227210164");
    assert_eq!(place(&app, "source-b").await.pivot, "44306184100047");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_siret_at_the_same_address_is_one_place_wherever_its_pin_is() {
    let app = spawn_app().await;
    app.import(
        pb::Format::Csv,
        file(&[Row::new("known", 0).set("pivot", "77567227210164")]),
    )
    .await
    .unwrap();
    // Another source, its pin 2 km off (a bad geocoding) or missing, the address the same.
    let far = Row::new("far", 0)
        .set("pivot", "775 672 272 10164")
        .set("nom", "EMMAUS CONNECT")
        .set("latitude", "49.82")
        .set("longitude", "2.20");
    let unplaced = Row::new("unplaced", 0)
        .set("pivot", "77567227210164")
        .set("nom", "Emmaüs Connect, accueil")
        .set("latitude", "")
        .set("longitude", "");
    let report = app
        .import(pb::Format::Csv, file(&[far, unplaced]))
        .await
        .unwrap();
    let merged: Vec<(&str, &str)> = report
        .merged
        .iter()
        .map(|m| (m.imported_id.as_str(), m.existing_id.as_str()))
        .collect();
    assert_eq!(
        merged,
        [("far", "known"), ("unplaced", "known")],
        "{report:?}"
    );
    assert!(
        report.merged[0]
            .reason
            .contains("same SIRET 77567227210164")
    );
}
