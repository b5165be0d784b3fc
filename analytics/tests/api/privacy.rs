//! Surveys are personal: a respondent belongs to the person it is linked to, or to the
//! structure that surveyed them anonymously, or (imported) to the statistics staff. Nobody else
//! reads, overwrites or builds a pathway on it; reads under a mandate are audited; erasing the
//! account erases the surveys and pathways.

use std::time::Duration;

use passerelle_access::{Access, Scope};
use passerelle_proto::analytics::v1 as pb;
use passerelle_proto::events::v1 as events;
use tonic::Code;

use crate::helpers::{BENEFICIARY, spawn_app, write};

fn answer(respondent: &str, day: &str) -> pb::SurveyAnswer {
    pb::SurveyAnswer {
        respondent_id: respondent.into(),
        surveyed_on: day.into(),
        antenna: "nord".into(),
        age_band: "60-74".into(),
        has_smartphone: "yes".into(),
        has_computer: "no".into(),
        has_internet_home: "yes".into(),
        email: "with_help".into(),
        online_procedure: "cannot".into(),
        tax_online: "cannot".into(),
        health_account: "cannot".into(),
        job_search: "cannot".into(),
        video_call: "alone".into(),
        online_banking: "cannot".into(),
        spot_scam: "with_help".into(),
    }
}

fn record(respondent: &str, day: &str, person: &str) -> pb::RecordResponseRequest {
    pb::RecordResponseRequest {
        answer: Some(answer(respondent, day)),
        beneficiary_id: person.into(),
    }
}

fn respondent(id: &str) -> pb::GetRespondentRequest {
    pb::GetRespondentRequest {
        respondent_id: id.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surveys_are_reached_only_by_whom_they_belong_to() {
    let app = spawn_app(false).await;
    let nord = app.agent("ccas-nord");
    let sud = app.client(Some(&app.issuer.token(
        "advisor-9",
        "agent",
        Some("ccas-sud"),
    )));

    // Anonymous survey by ccas-nord: its staff read it, ccas-sud neither reads nor overwrites.
    nord.clone()
        .record_response(record("R-anon", "2026-09-01", ""))
        .await
        .unwrap();
    assert_eq!(
        nord.clone()
            .get_respondent(respondent("R-anon"))
            .await
            .unwrap()
            .into_inner()
            .surveys
            .len(),
        1
    );
    let read = sud
        .clone()
        .get_respondent(respondent("R-anon"))
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::PermissionDenied, "{read:?}");
    let overwrite = sud
        .clone()
        .record_response(record("R-anon", "2026-09-01", ""))
        .await
        .unwrap_err();
    assert_eq!(overwrite.code(), Code::PermissionDenied, "{overwrite:?}");

    // A person's survey needs their mandate; then it is theirs, and they read it themselves.
    let no_mandate = nord
        .clone()
        .record_response(record("R-42", "2026-09-01", BENEFICIARY))
        .await
        .unwrap_err();
    assert_eq!(no_mandate.code(), Code::PermissionDenied);
    app.mandate(&[Scope::Pathways]).await;
    nord.clone()
        .record_response(record("R-42", "2026-09-01", BENEFICIARY))
        .await
        .unwrap();
    let person = app.client(Some(&app.issuer.token(BENEFICIARY, "beneficiary", None)));
    let own = person
        .clone()
        .get_respondent(respondent("R-42"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.surveys.len(), 1, "the person reads their own surveys");
    nord.clone()
        .get_respondent(respondent("R-42"))
        .await
        .unwrap();
    let other = app.client(Some(&app.issuer.token("person-7", "beneficiary", None)));
    assert_eq!(
        other
            .clone()
            .get_respondent(respondent("R-42"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // ccas-sud has no mandate from this person.
    assert_eq!(
        sud.clone()
            .get_respondent(respondent("R-42"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // A pathway is built on the person's own survey only — not on another's, nor on another
    // structure's anonymous one.
    let assign = |respondent: &str| pb::AssignPathwayRequest {
        beneficiary_id: BENEFICIARY.into(),
        respondent_id: respondent.into(),
        ..Default::default()
    };
    sud.clone()
        .record_response(record("R-sud", "2026-09-02", ""))
        .await
        .unwrap();
    let foreign = nord
        .clone()
        .assign_pathway(assign("R-sud"))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::PermissionDenied, "{foreign:?}");
    nord.clone()
        .record_response(record("R-7", "2026-09-02", ""))
        .await
        .unwrap();
    let pathway = nord
        .clone()
        .assign_pathway(assign("R-42"))
        .await
        .unwrap()
        .into_inner();
    // R-7 was anonymous of ccas-nord: assigning links it to this person, once and for good.
    nord.clone().assign_pathway(assign("R-7")).await.unwrap();
    let stolen = nord
        .clone()
        .record_response(record("R-7", "2026-10-01", "person-7"))
        .await
        .unwrap_err();
    assert_eq!(stolen.code(), Code::PermissionDenied, "{stolen:?}");

    // Imported surveys are the statistics staff's.
    let file = write(
        &app,
        "survey.csv",
        "respondent_id,surveyed_on,antenna,age_band,has_smartphone,has_computer,has_internet_home,email,online_procedure,tax_online,health_account,job_search,video_call,online_banking,spot_scam\nR-file,2026-05-01,sud,40-59,yes,yes,yes,alone,alone,alone,alone,alone,alone,alone,alone\n",
    );
    app.service.import_file(&file, |_, _| {}).await.unwrap();
    assert_eq!(
        nord.clone()
            .get_respondent(respondent("R-file"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        app.manager()
            .get_respondent(respondent("R-file"))
            .await
            .unwrap()
            .into_inner()
            .surveys
            .len(),
        1
    );
    assert_eq!(
        nord.clone()
            .assign_pathway(assign("R-file"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // Reads under the mandate are in the person's trail.
    nord.clone()
        .get_pathway(pb::GetPathwayRequest {
            pathway_id: pathway.pathway_id.clone(),
        })
        .await
        .unwrap();
    nord.clone()
        .measure_progress(pb::MeasureProgressRequest {
            pathway_id: pathway.pathway_id.clone(),
        })
        .await
        .unwrap();
    let (trail, _) = Access::new(app.store.clone())
        .trail(BENEFICIARY, None, 100)
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "analytics.RecordResponse",
        "analytics.GetRespondent",
        "analytics.AssignPathway",
        "analytics.GetPathway",
        "analytics.MeasureProgress",
    ] {
        assert!(actions.contains(&expected), "{expected} not in {actions:?}");
    }
    assert!(
        trail
            .iter()
            .filter(|e| e.action == "analytics.GetRespondent")
            .all(|e| e.actor == "advisor-1"),
        "the person's own read is not audited as an agent's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_the_account_erases_its_surveys_and_pathways() {
    let app = spawn_app(false).await;
    app.mandate(&[Scope::Pathways]).await;
    let nord = app.agent("ccas-nord");
    nord.clone()
        .record_response(record("R-42", "2026-09-01", BENEFICIARY))
        .await
        .unwrap();
    nord.clone()
        .record_response(record("R-42", "2026-12-01", BENEFICIARY))
        .await
        .unwrap();
    nord.clone()
        .record_response(record("R-other", "2026-09-01", ""))
        .await
        .unwrap();
    let pathway = nord
        .clone()
        .assign_pathway(pb::AssignPathwayRequest {
            beneficiary_id: BENEFICIARY.into(),
            respondent_id: "R-42".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let before = app.service.all_answers().await.unwrap().len();
    assert_eq!(before, 3);

    let (_, record) = passerelle_bus::event::new_record(
        "identity",
        "passerelle.events.v1.AccountErased",
        BENEFICIARY,
        &events::AccountErased {
            account_id: BENEFICIARY.into(),
        },
    );
    app.bus.append(record).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.service.all_answers().await.unwrap().len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the erasure did not reach analytics"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = app.service.all_answers().await.unwrap();
    assert_eq!(
        left[0].respondent_id, "R-other",
        "only the other respondent stays"
    );
    let gone = app
        .manager()
        .get_pathway(pb::GetPathwayRequest {
            pathway_id: pathway.pathway_id,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    assert!(
        app.store
            .scan_all("respondent_owners", "R-42")
            .await
            .unwrap()
            .is_empty()
    );
}
