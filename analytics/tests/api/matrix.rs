//! Every analytics RPC by every kind of caller, allowed exactly where docs/security.md says,
//! and every act of a mandated agent in the person's audit trail.

use passerelle_access::{Access, Consent, Mandate, Scope};
use passerelle_kit::testing::{MatrixReport, PERSON_CALLERS as CALLERS, PersonCaller as Caller};
use passerelle_proto::analytics::v1 as pb;

use crate::helpers::{App, spawn_app};

#[derive(Clone, Copy, Debug)]
enum Rpc {
    RecordResponse,
    GetRespondent,
    AssignPathway,
    GetPathway,
    CompleteStep,
    MeasureProgress,
    GetDashboard,
}

/// `A` allowed, `D` denied, in the order of [`CALLERS`]; then whether a mandated agent's act is
/// in the person's trail.
const MATRIX: &[(Rpc, &str, bool)] = &[
    (Rpc::RecordResponse, "DADADDDDD", true),
    (Rpc::GetRespondent, "DADADDDDD", true),
    (Rpc::AssignPathway, "DADADDDDD", true),
    (Rpc::GetPathway, "DADADDDDD", true),
    (Rpc::CompleteStep, "DADADDDDD", true),
    (Rpc::MeasureProgress, "DADADDDDD", true),
    (Rpc::GetDashboard, "DDDDDDDAA", false),
];

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

struct Target {
    person: String,
    respondent: String,
    pathway: String,
    module: String,
}

/// A fresh person with a mandate (to ccas-sud for AgentNoMandate), a survey and a pathway,
/// made by ccas-nord's advisor under a mandate of its own.
async fn target(app: &App, n: usize, caller: Caller) -> Target {
    let person = format!("person-{n}");
    let respondent = format!("R-{n}");
    let now = passerelle_kit::clock::Clock::now(&passerelle_kit::clock::SystemClock);
    let mandate = |structure: &str| {
        Mandate::new(
            &person,
            structure,
            [Scope::Pathways].into_iter().collect(),
            Consent::SelfService,
            now,
            86_400,
        )
    };
    let setup = mandate("ccas-nord");
    app.store.batch(vec![setup.mutation()]).await.unwrap();
    let advisor = app.client(Some(&app.issuer.token(
        "advisor-setup",
        "agent",
        Some("ccas-nord"),
    )));
    advisor
        .clone()
        .record_response(pb::RecordResponseRequest {
            answer: Some(answer(&respondent, "2026-09-01")),
            beneficiary_id: person.clone(),
        })
        .await
        .unwrap();
    let pathway = advisor
        .clone()
        .assign_pathway(pb::AssignPathwayRequest {
            beneficiary_id: person.clone(),
            respondent_id: respondent.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The setup's mandate ends; the caller's own situation is what counts.
    let mut ended = setup.clone();
    ended.revoked_at = Some(now);
    ended.scopes.clear();
    let mut batch = vec![ended.mutation()];
    match caller {
        Caller::AgentNoMandate => batch.push(mandate("ccas-sud").mutation()),
        _ => batch.push(mandate("ccas-nord").mutation()),
    }
    app.store.batch(batch).await.unwrap();
    Target {
        person,
        respondent,
        module: pathway.steps[0].module_id.clone(),
        pathway: pathway.pathway_id,
    }
}

fn token(app: &App, caller: Caller, person: &str) -> Option<String> {
    let t = |sub: &str, role: &str, structure: Option<&str>| {
        Some(app.issuer.token(sub, role, structure))
    };
    match caller {
        Caller::Anonymous => None,
        Caller::Person => t(person, "beneficiary", None),
        Caller::OtherBeneficiary => t("someone-else", "beneficiary", None),
        Caller::AgentMandated | Caller::AgentNoMandate => {
            t("advisor-1", "agent", Some("ccas-nord"))
        }
        Caller::AgentOtherStructure => t("advisor-sud", "agent", Some("ccas-sud")),
        Caller::Volunteer => t("volunteer-nord", "volunteer", Some("ccas-nord")),
        Caller::Manager => t("manager-nord", "manager", Some("ccas-nord")),
        Caller::Admin => t("admin-1", "admin", Some("passerelle")),
    }
}

async fn call(
    app: &App,
    rpc: Rpc,
    target: &Target,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut client = app.client(token);
    match rpc {
        Rpc::RecordResponse => client
            .record_response(pb::RecordResponseRequest {
                answer: Some(answer(&target.respondent, "2026-12-01")),
                beneficiary_id: target.person.clone(),
            })
            .await
            .map(drop),
        Rpc::GetRespondent => client
            .get_respondent(pb::GetRespondentRequest {
                respondent_id: target.respondent.clone(),
            })
            .await
            .map(drop),
        Rpc::AssignPathway => client
            .assign_pathway(pb::AssignPathwayRequest {
                beneficiary_id: target.person.clone(),
                respondent_id: target.respondent.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::GetPathway => client
            .get_pathway(pb::GetPathwayRequest {
                pathway_id: target.pathway.clone(),
            })
            .await
            .map(drop),
        Rpc::CompleteStep => client
            .complete_step(pb::CompleteStepRequest {
                pathway_id: target.pathway.clone(),
                module_id: target.module.clone(),
            })
            .await
            .map(drop),
        Rpc::MeasureProgress => client
            .measure_progress(pb::MeasureProgressRequest {
                pathway_id: target.pathway.clone(),
            })
            .await
            .map(drop),
        Rpc::GetDashboard => client
            .get_dashboard(pb::GetDashboardRequest {
                period: String::new(),
            })
            .await
            .map(drop),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_by_every_caller_is_allowed_exactly_where_intended() {
    let app = spawn_app(false).await;
    let access = Access::new(app.store.clone());
    let mut report = MatrixReport::default();
    let mut n = 0;
    for (rpc, row, audited) in MATRIX {
        for (caller, expected) in CALLERS.iter().zip(row.chars()) {
            n += 1;
            let target = target(&app, n, *caller).await;
            let before = access.trail(&target.person, None, 500).await.unwrap().0;
            let token = token(&app, *caller, &target.person);
            let outcome = call(&app, *rpc, &target, token.as_deref()).await;
            let anonymous = *caller == Caller::Anonymous;
            if report.cell(rpc, caller, expected, anonymous, &outcome)
                && *caller == Caller::AgentMandated
                && expected == 'A'
            {
                let after = access.trail(&target.person, None, 500).await.unwrap().0;
                let written = after[before.len()..].iter();
                let entries = written.map(|e| (e.actor.as_str(), e.mandate_id.is_some()));
                report.audit(rpc, *audited, "advisor-1", entries);
            }
        }
    }
    report.finish(
        "passerelle.analytics.v1.Analytics",
        MATRIX.iter().map(|(rpc, _, _)| format!("{rpc:?}")),
    );
}
