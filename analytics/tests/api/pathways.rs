//! Advisors: survey a person, assign a pathway with places from the directory, mark steps
//! done, re-survey and measure progress; every assignment and step is an event.

use std::time::Duration;

use passerelle_access::Scope;
use passerelle_bus::event;
use passerelle_proto::analytics::v1 as pb;
use passerelle_proto::events::v1 as events;
use prost::Message as _;

use crate::helpers::{BENEFICIARY, spawn_app};

fn answer(day: &str, tasks: [&str; 8]) -> pb::SurveyAnswer {
    pb::SurveyAnswer {
        respondent_id: "R-42".into(),
        surveyed_on: day.into(),
        antenna: "nord".into(),
        age_band: "75+".into(),
        has_smartphone: "yes".into(),
        has_computer: "no".into(),
        has_internet_home: "no".into(),
        email: tasks[0].into(),
        online_procedure: tasks[1].into(),
        tax_online: tasks[2].into(),
        health_account: tasks[3].into(),
        job_search: tasks[4].into(),
        video_call: tasks[5].into(),
        online_banking: tasks[6].into(),
        spot_scam: tasks[7].into(),
    }
}

async fn events_on_analytics(app: &crate::helpers::App, n: usize) -> Vec<events::Envelope> {
    let mut consumer = app
        .bus
        .subscribe("test-analytics", &["passerelle.analytics"])
        .await
        .unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n && std::time::Instant::now() < deadline {
        for d in consumer.poll(10, Duration::from_millis(200)).await.unwrap() {
            out.push(event::decode(&d).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn an_advisor_assigns_a_pathway_marks_a_step_and_measures_progress() {
    let app = spawn_app(true).await;
    app.mandate(&[Scope::Pathways]).await;
    let advisor = app.agent("ccas-nord");

    // First survey: can read e-mail with help, nothing alone but video calls.
    let first = advisor
        .clone()
        .record_response(pb::RecordResponseRequest {
            answer: Some(answer(
                "2026-09-01",
                [
                    "with_help",
                    "cannot",
                    "cannot",
                    "cannot",
                    "cannot",
                    "alone",
                    "cannot",
                    "with_help",
                ],
            )),
            beneficiary_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.level, 1, "{first:?}");
    assert_eq!(first.score, 25.0);
    assert_eq!(
        first.modules,
        [
            "premiers-pas",
            "courriel",
            "securite",
            "demarches",
            "banque",
            "emploi"
        ]
    );
    let procedures = first.areas.iter().find(|a| a.id == "procedures").unwrap();
    assert_eq!(procedures.score, 0.0);

    let pathway = advisor
        .clone()
        .assign_pathway(pb::AssignPathwayRequest {
            beneficiary_id: BENEFICIARY.into(),
            respondent_id: "R-42".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pathway.rules_version, "2026.11-1");
    assert_eq!(pathway.places_note, "");
    let steps: Vec<&str> = pathway.steps.iter().map(|s| s.module_id.as_str()).collect();
    assert_eq!(steps, first.modules);
    // Places come from the directory, offering the module's service.
    let demarches = &pathway.steps[3];
    for step in &pathway.steps {
        for place in &step.places {
            assert!(place.distance_m <= 30_000.0, "{place:?}");
        }
    }
    // A person of 75+: places addressing seniors first (the CCAS antennas), then the others.
    let ids: Vec<&str> = demarches
        .places
        .iter()
        .map(|p| p.place_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["ccas-amiens-nord", "ccas-amiens-sud", "caf-amiens-accueil"],
        "{demarches:?}"
    );
    let nearest = &pathway.steps[0].places[0];
    assert!(
        pathway
            .first_step
            .starts_with("S'inscrire à l'atelier « premiers pas » à ")
            && pathway.first_step.contains(&nearest.name),
        "{}",
        pathway.first_step
    );

    let done = advisor
        .clone()
        .complete_step(pb::CompleteStepRequest {
            pathway_id: pathway.pathway_id.clone(),
            module_id: "premiers-pas".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(done.steps[0].done && done.steps[0].done_at > 0);
    assert!(!done.steps[1].done);
    let unknown = advisor
        .clone()
        .complete_step(pb::CompleteStepRequest {
            pathway_id: pathway.pathway_id.clone(),
            module_id: "poterie".into(),
        })
        .await
        .unwrap_err();
    assert!(
        unknown
            .message()
            .contains("its steps are premiers-pas, courriel"),
        "{}",
        unknown.message()
    );

    // Three months later: e-mail and procedures with help, scams spotted alone.
    advisor
        .clone()
        .record_response(pb::RecordResponseRequest {
            answer: Some(answer(
                "2026-12-01",
                [
                    "alone",
                    "with_help",
                    "with_help",
                    "with_help",
                    "cannot",
                    "alone",
                    "with_help",
                    "alone",
                ],
            )),
            beneficiary_id: String::new(),
        })
        .await
        .unwrap();
    let progress = advisor
        .clone()
        .measure_progress(pb::MeasureProgressRequest {
            pathway_id: pathway.pathway_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        progress.baseline.as_ref().unwrap().surveyed_on,
        "2026-09-01"
    );
    assert_eq!(progress.latest.as_ref().unwrap().surveyed_on, "2026-12-01");
    assert_eq!(progress.score_gain, 62.5 - 25.0);
    assert_eq!(progress.level_gain, 1);
    assert_eq!((progress.steps_done, progress.steps_total), (1, 6));
    let safety = progress.areas.iter().find(|a| a.id == "safety").unwrap();
    assert_eq!((safety.before, safety.after), (50.0, 100.0));

    let history = advisor
        .clone()
        .get_respondent(pb::GetRespondentRequest {
            respondent_id: "R-42".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.surveys.len(), 2);

    // The assignment and the step went out on `passerelle.analytics`.
    let envelopes = events_on_analytics(&app, 2).await;
    let types: Vec<&str> = envelopes.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "passerelle.events.v1.PathwayAssigned",
            "passerelle.events.v1.PathwayStepCompleted"
        ]
    );
    let assigned = events::PathwayAssigned::decode(envelopes[0].payload.as_slice()).unwrap();
    assert_eq!(assigned.beneficiary_id, BENEFICIARY);
    assert_eq!(assigned.modules.len(), 6);
    assert_eq!(assigned.first_place_id, nearest.place_id);
    assert_eq!(assigned.assigned_by, "advisor-1");
    assert_eq!(envelopes[0].aggregate_id, BENEFICIARY);
}

#[tokio::test]
async fn pathways_need_a_mandate_and_say_what_is_wrong() {
    let app = spawn_app(false).await;
    let advisor = app.agent("ccas-nord");
    advisor
        .clone()
        .record_response(pb::RecordResponseRequest {
            answer: Some(answer("2026-09-01", ["alone"; 8])),
            beneficiary_id: String::new(),
        })
        .await
        .unwrap();
    let assign = |request: pb::AssignPathwayRequest| {
        let mut client = advisor.clone();
        async move { client.assign_pathway(request).await }
    };
    let request = pb::AssignPathwayRequest {
        beneficiary_id: BENEFICIARY.into(),
        respondent_id: "R-42".into(),
        ..Default::default()
    };
    let denied = assign(request.clone()).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(
        denied.message().contains("no live mandate"),
        "{}",
        denied.message()
    );

    app.mandate(&[Scope::Pathways]).await;
    let half = assign(pb::AssignPathwayRequest {
        latitude: Some(49.9),
        ..request.clone()
    })
    .await
    .unwrap_err();
    assert!(
        half.message().contains("give both latitude and longitude"),
        "{}",
        half.message()
    );
    let language = assign(pb::AssignPathwayRequest {
        language: "de".into(),
        ..request.clone()
    })
    .await
    .unwrap_err();
    assert!(
        language.message().contains("expected fr or en"),
        "{}",
        language.message()
    );
    let nobody = assign(pb::AssignPathwayRequest {
        respondent_id: "R-0".into(),
        ..request.clone()
    })
    .await
    .unwrap_err();
    assert_eq!(nobody.code(), tonic::Code::FailedPrecondition);

    // Autonomous for everything: an empty pathway says so; no directory: the note says why.
    let pathway = assign(pb::AssignPathwayRequest {
        language: "en".into(),
        ..request
    })
    .await
    .unwrap()
    .into_inner();
    assert!(pathway.steps.is_empty());
    assert!(
        pathway.first_step.contains("autonomous"),
        "{}",
        pathway.first_step
    );

    let bad = advisor
        .clone()
        .record_response(pb::RecordResponseRequest {
            answer: Some(pb::SurveyAnswer {
                antenna: "plateau".into(),
                ..answer("2026-13-01", ["alone"; 8])
            }),
            beneficiary_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(
        bad.message()
            .contains("surveyed_on `2026-13-01`: expected a date as YYYY-MM-DD")
            && bad
                .message()
                .contains("antenna `plateau`: expected nord | sud"),
        "{}",
        bad.message()
    );
    // A date in the future would become every later pathway's baseline and hide the real
    // re-surveys; one before 2000 is a typo too. Today is accepted wherever it is in France.
    for (date, refused) in [
        ("2099-01-01", true),
        ("1999-12-31", true),
        (tomorrow_everywhere().as_str(), true),
        (today_utc().as_str(), false),
    ] {
        let result = advisor
            .clone()
            .record_response(pb::RecordResponseRequest {
                answer: Some(pb::SurveyAnswer {
                    respondent_id: "R-dates".into(),
                    ..answer(date, ["alone"; 8])
                }),
                beneficiary_id: String::new(),
            })
            .await;
        match (refused, result) {
            (true, Err(status)) => assert!(
                status.code() == tonic::Code::InvalidArgument
                    && status.message().contains(&format!(
                        "surveyed_on `{date}`: expected a date as YYYY-MM-DD, from 2000-01-01 to today (not in the future)"
                    )),
                "{date}: {status:?}"
            ),
            (false, Ok(_)) => {}
            (refused, other) => panic!("{date}: refused {refused}, got {other:?}"),
        }
    }
    let anonymous = app
        .client(None)
        .get_respondent(pb::GetRespondentRequest {
            respondent_id: "R-42".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
}

/// A date as `YYYY-MM-DD`, `days` from today in UTC.
fn day_from_today(days: i64) -> String {
    use passerelle_kit::clock::{Clock, SystemClock};
    let day = SystemClock.now().div_euclid(86_400) + days;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn today_utc() -> String {
    day_from_today(0)
}

/// A day that has started nowhere in France yet.
fn tomorrow_everywhere() -> String {
    day_from_today(2)
}
