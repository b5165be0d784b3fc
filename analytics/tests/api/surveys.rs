//! Survey imports and the managers' dashboards.

use passerelle_analytics::pipeline::Period;
use passerelle_analytics::synthetic;
use passerelle_proto::analytics::v1 as pb;
use polars::prelude::*;

use crate::helpers::{rows, spawn_app, write};

const HEADER: &str = "respondent_id,surveyed_on,antenna,age_band,has_smartphone,has_computer,has_internet_home,email,online_procedure,tax_online,health_account,job_search,video_call,online_banking,spot_scam";

/// The CCAS survey: 2,000 people, 70 % cannot file taxes online, 36 % do no online formality.
#[tokio::test]
async fn a_survey_shaped_like_the_ccas_one_gives_back_70_and_36_percent() {
    let app = spawn_app(false).await;
    let path = app.engines.dir.path().join("ccas.csv");
    synthetic::write_csv(&path, 2_000, 2026).unwrap();
    let mut seen = Vec::new();
    let report = app
        .service
        .import_file(&path, |done, total| seen.push((done, total)))
        .await
        .unwrap();
    assert_eq!(
        (report.rows, report.imported, report.rejected_rows),
        (2_000, 2_000, 0),
        "{report:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&(2_000, 2_000)),
        "progress reaches the end"
    );

    // As a manager reads it, over gRPC.
    let dashboard = app
        .manager()
        .get_dashboard(pb::GetDashboardRequest {
            period: "quarter".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((dashboard.respondents, dashboard.answers), (2_000, 2_000));
    assert_eq!(dashboard.min_cell_size, 10);
    let indicators = dashboard
        .tables
        .iter()
        .find(|t| t.name == "indicators")
        .unwrap();
    let table = rows(&indicators.csv);
    let all = table.iter().find(|r| r["breakdown"] == "all").unwrap();
    assert_eq!(all["cannot_file_taxes_online"], "70.0");
    assert_eq!(all["no_online_formality"], "36.0");
    assert_eq!(all["respondents"], "2000");

    // Every breakdown is there, and no published cell counts fewer than 10 people.
    for breakdown in [
        "antenna",
        "age_band",
        "period",
        "antenna×period",
        "age_band×period",
    ] {
        assert!(
            table.iter().any(|r| r["breakdown"] == breakdown),
            "no {breakdown} rows"
        );
    }
    for row in &table {
        if row["suppressed"] == "true" {
            assert_eq!(row["respondents"], "", "{row:?}");
            assert_eq!(row["cannot_file_taxes_online"], "", "{row:?}");
        } else {
            let n: u32 = row["respondents"].parse().unwrap();
            assert!(n >= 10, "{row:?}");
        }
    }
    // Antennas are about 400 people each: shown; the five add up to everyone.
    let antennas: u32 = table
        .iter()
        .filter(|r| r["breakdown"] == "antenna")
        .map(|r| r["respondents"].parse::<u32>().unwrap())
        .sum();
    assert_eq!(antennas, 2_000);
}

#[tokio::test]
async fn bad_rows_are_reported_with_line_and_field_and_good_rows_kept() {
    let app = spawn_app(false).await;
    // A French spreadsheet export: `;`, an extra column, spaces and capitals.
    let text = [
        "respondent_id;surveyed_on;antenna;age_band;has_smartphone;has_computer;has_internet_home;email;online_procedure;tax_online;health_account;job_search;video_call;online_banking;spot_scam;comment",
        " R1 ;2026-03-02; Nord ;60-74;Oui;non;yes;Alone;with help;cannot;with_help;cannot;alone;cannot;with-help;ok",
        "R2;2026-03-02;plateau;25-39;yes;yes;yes;alone;alone;alone;alone;alone;alone;alone;alone;",
        "R3;02/03/2026;sud;25-39;yes;yes;yes;alone;alone;alone;alone;alone;alone;alone;alone;",
        "R4;2026-03-02;sud;75 +;no;no;no;cannot;cannot;;cannot;cannot;cannot;cannot;cannot;",
        "R5;2026-03-03;est;40-59;yes;yes;maybe;alone;alone;alone;alone;alone;alone;alone;sometimes;",
        "R1;2026-03-02;nord;60-74;yes;no;yes;alone;alone;alone;alone;alone;alone;alone;alone;again",
        "Jean Dupont;2026-03-04;ouest;16-24;yes;yes;yes;alone;alone;alone;alone;alone;alone;alone;alone;",
        "R6;2099-01-01;est;40-59;yes;yes;yes;alone;alone;alone;alone;alone;alone;alone;alone;",
    ]
    .join("\n");
    let path = write(&app, "messy.csv", &text);
    let report = app.service.import_file(&path, |_, _| {}).await.unwrap();
    assert_eq!(report.rows, 8);
    assert_eq!(
        report.imported, 1,
        "only R1's first answer is good: {report:?}"
    );
    assert_eq!(report.rejected_rows, 7);
    let described: Vec<(u64, &str, &str)> = report
        .rejections
        .iter()
        .map(|r| (r.line, r.field.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(
        described,
        [
            (3, "antenna", "plateau"),
            (4, "surveyed_on", "02/03/2026"),
            (5, "tax_online", ""),
            (6, "has_internet_home", "maybe"),
            (6, "spot_scam", "sometimes"),
            (7, "respondent_id", "R1 on 2026-03-02"),
            (8, "respondent_id", "Jean Dupont"),
            (9, "surveyed_on", "2099-01-01"),
        ]
    );
    let accepted: Vec<&str> = report
        .rejections
        .iter()
        .map(|r| r.accepted.as_str())
        .collect();
    assert_eq!(accepted[0], "nord | sud | est | ouest | centre");
    assert_eq!(
        accepted[1],
        "a date as YYYY-MM-DD, from 2000-01-01 to today (not in the future)"
    );
    assert_eq!(accepted[2], "cannot | with_help | alone");
    assert_eq!(accepted[3], "yes | no");
    assert!(
        accepted[5].contains("the first, line 2, is kept"),
        "{}",
        accepted[5]
    );
    assert_eq!(
        report.rejections[0].to_string(),
        "line 3, antenna `plateau`: expected nord | sud | est | ouest | centre"
    );

    // The good row was normalised: trimmed, case folded, "with help" and "with-help" read.
    let stored = app.service.answers_of("R1").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].antenna, "nord");
    assert_eq!(stored[0].equipment, [true, false, true]);
    assert_eq!(stored[0].tasks, [2, 1, 0, 1, 0, 2, 0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_the_same_survey_again_adds_nothing_whatever_the_format() {
    let app = spawn_app(false).await;
    let csv = app.engines.dir.path().join("survey.csv");
    synthetic::write_csv(&csv, 500, 1).unwrap();
    let first = app.service.import_file(&csv, |_, _| {}).await.unwrap();
    assert_eq!(first.imported, 500);
    let again = app.service.import_file(&csv, |_, _| {}).await.unwrap();
    assert_eq!(
        (again.imported, again.updated, again.unchanged),
        (0, 0, 500)
    );

    // The same rows as Parquet (typed columns: dates and booleans).
    let frame = synthetic::frame(0, 500, 500, 1).unwrap();
    let mut frame = frame
        .clone()
        .lazy()
        .with_columns([
            col("surveyed_on").str().to_date(StrptimeOptions::default()),
            col("has_smartphone").eq(lit("yes")),
        ])
        .collect()
        .unwrap();
    let parquet = app.engines.dir.path().join("survey.parquet");
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut frame)
        .unwrap();
    let third = app.service.import_file(&parquet, |_, _| {}).await.unwrap();
    assert_eq!(third.rejected_rows, 0, "{:?}", third.rejections);
    assert_eq!(
        (third.imported, third.updated, third.unchanged),
        (0, 0, 500),
        "the same answers, read from Parquet"
    );
    assert_eq!(app.service.all_answers().await.unwrap().len(), 500);

    // A corrected answer replaces the old one.
    let text = std::fs::read_to_string(&csv).unwrap();
    let second_line = text.lines().nth(1).unwrap();
    let corrected = second_line.replace(",alone", ",cannot");
    let path = write(&app, "fix.csv", &format!("{HEADER}\n{corrected}\n"));
    let fix = app.service.import_file(&path, |_, _| {}).await.unwrap();
    assert_eq!(
        (fix.imported, fix.updated),
        (0, usize::from(corrected != second_line))
    );
}

#[tokio::test]
async fn unreadable_surveys_say_what_is_expected() {
    let app = spawn_app(false).await;
    let path = write(
        &app,
        "short.csv",
        "respondent_id,surveyed_on,antenna\nR1,2026-01-01,nord\n",
    );
    let err = app
        .service
        .import_file(&path, |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lacks the column(s) age_band, has_smartphone")
            && err.contains("expected a header with respondent_id, surveyed_on"),
        "{err}"
    );
    let path = write(&app, "survey.xlsx", "whatever");
    let err = app
        .service
        .import_file(&path, |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected a .csv or .parquet file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_managers_read_dashboards_and_small_groups_are_blanked() {
    let app = spawn_app(false).await;
    // 12 people at nord, 4 at sud: sud is blanked, and so is nord (else it would give sud
    // away as the total minus nord).
    let mut text = vec![HEADER.to_owned()];
    for i in 0..16 {
        let antenna = if i < 12 { "nord" } else { "sud" };
        text.push(format!(
            "P{i},2026-05-0{},{antenna},40-59,yes,yes,yes,alone,alone,{},alone,alone,alone,alone,alone",
            1 + i % 3,
            if i % 2 == 0 { "alone" } else { "cannot" }
        ));
    }
    let path = write(&app, "small.csv", &text.join("\n"));
    app.service.import_file(&path, |_, _| {}).await.unwrap();

    let denied = app
        .agent("ccas-nord")
        .get_dashboard(pb::GetDashboardRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let bad = app
        .manager()
        .get_dashboard(pb::GetDashboardRequest {
            period: "week".into(),
        })
        .await
        .unwrap_err();
    assert!(
        bad.message().contains("expected month, quarter or year"),
        "{}",
        bad.message()
    );

    let (dashboards, _) = app.service.dashboards(Period::Month).await.unwrap();
    let antennas = dashboards
        .indicators
        .clone()
        .lazy()
        .filter(col("breakdown").eq(lit("antenna")))
        .select([col("antenna"), col("respondents"), col("suppressed")])
        .collect()
        .unwrap();
    let suppressed: Vec<Option<bool>> = antennas
        .column("suppressed")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(suppressed, [Some(true), Some(true)], "{antennas}");
    let counts = antennas.column("respondents").unwrap();
    assert_eq!(counts.null_count(), 2, "{antennas}");
    // The whole is 16 people: published.
    let all = dashboards
        .indicators
        .clone()
        .lazy()
        .filter(col("breakdown").eq(lit("all")))
        .select([col("respondents"), col("cannot_file_taxes_online")])
        .collect()
        .unwrap();
    assert_eq!(
        all.column("respondents").unwrap().u32().unwrap().get(0),
        Some(16)
    );
    assert_eq!(
        all.column("cannot_file_taxes_online")
            .unwrap()
            .f64()
            .unwrap()
            .get(0),
        Some(50.0)
    );
}
