//! `passerelle.analytics.v1.Analytics` over gRPC.

use std::collections::BTreeMap;

use passerelle_kit::ServiceError;
use passerelle_kit::grpc::{self, Reply, required};
use passerelle_proto::analytics::v1 as pb;
use passerelle_proto::analytics::v1::analytics_server::{
    Analytics as AnalyticsRpc, AnalyticsServer,
};
use tonic::{Request, Response};

use crate::domain::{Assessment, Assignment, Dashboard, Pathway, PlaceSuggestion, Progress, Score};
use crate::service::Analytics;

#[derive(Clone)]
pub struct AnalyticsGrpc {
    service: Analytics,
}

impl std::fmt::Debug for AnalyticsGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsGrpc").finish_non_exhaustive()
    }
}

impl AnalyticsGrpc {
    pub fn new(service: Analytics) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> AnalyticsServer<Self> {
        AnalyticsServer::new(self).max_encoding_message_size(64 * 1024 * 1024)
    }
}

/// An answer from the wire in the survey file's words, for the same checks as a file's row.
fn text_of(a: &pb::SurveyAnswer) -> BTreeMap<String, String> {
    [
        ("respondent_id", &a.respondent_id),
        ("surveyed_on", &a.surveyed_on),
        ("antenna", &a.antenna),
        ("age_band", &a.age_band),
        ("has_smartphone", &a.has_smartphone),
        ("has_computer", &a.has_computer),
        ("has_internet_home", &a.has_internet_home),
        ("email", &a.email),
        ("online_procedure", &a.online_procedure),
        ("tax_online", &a.tax_online),
        ("health_account", &a.health_account),
        ("job_search", &a.job_search),
        ("video_call", &a.video_call),
        ("online_banking", &a.online_banking),
        ("spot_scam", &a.spot_scam),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .collect()
}

fn to_pb_scores(scores: &[Score]) -> Vec<pb::Score> {
    scores
        .iter()
        .map(|s| pb::Score {
            id: s.id.clone(),
            label: s.label.clone(),
            score: s.score,
        })
        .collect()
}

fn to_pb_assessment(a: Assessment) -> pb::Assessment {
    pb::Assessment {
        areas: to_pb_scores(&a.areas),
        tasks: to_pb_scores(&a.tasks),
        respondent_id: a.respondent_id,
        surveyed_on: a.surveyed_on,
        score: a.score,
        level: u32::from(a.level),
        level_label: a.level_label,
        modules: a.modules,
        rules_version: a.rules_version,
    }
}

fn to_pb_place(p: PlaceSuggestion) -> pb::PlaceSuggestion {
    pb::PlaceSuggestion {
        place_id: p.place_id,
        name: p.name,
        address: p.address,
        distance_m: p.distance_m,
        phone: p.phone,
        booking: p.booking,
    }
}

fn to_pb_pathway(p: Pathway) -> pb::Pathway {
    pb::Pathway {
        pathway_id: p.id,
        beneficiary_id: p.beneficiary_id,
        respondent_id: p.respondent_id,
        rules_version: p.rules_version,
        baseline: p.baseline.map(to_pb_assessment),
        steps: p
            .steps
            .into_iter()
            .map(|s| pb::Step {
                module_id: s.module_id,
                title: s.title,
                places: s.places.into_iter().map(to_pb_place).collect(),
                done: s.done_at.is_some(),
                done_at: s.done_at.unwrap_or(0),
            })
            .collect(),
        first_step: p.first_step,
        assigned_at: p.assigned_at,
        assigned_by: p.assigned_by,
        places_note: p.places_note,
    }
}

fn to_pb_progress(p: Progress) -> pb::Progress {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    pb::Progress {
        pathway_id: p.pathway_id,
        baseline: Some(to_pb_assessment(p.baseline)),
        latest: Some(to_pb_assessment(p.latest)),
        level_gain: p.level_gain,
        score_gain: p.score_gain,
        areas: p
            .areas
            .into_iter()
            .map(|a| pb::AreaProgress {
                id: a.id,
                label: a.label,
                before: a.before,
                after: a.after,
            })
            .collect(),
        steps_done: count(p.steps_done),
        steps_total: count(p.steps_total),
    }
}

fn to_pb_dashboard(d: Dashboard) -> pb::Dashboard {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    pb::Dashboard {
        tables: d
            .tables
            .into_iter()
            .map(|t| pb::Table {
                name: t.name,
                csv: t.csv,
                rows: count(t.rows),
            })
            .collect(),
        respondents: d.respondents,
        answers: count(d.answers),
        min_cell_size: d.min_cell_size,
        rules_version: d.rules_version,
    }
}

#[tonic::async_trait]
impl AnalyticsRpc for AnalyticsGrpc {
    async fn record_response(
        &self,
        request: Request<pb::RecordResponseRequest>,
    ) -> Reply<pb::Assessment> {
        let (caller, request) = grpc::caller(request)?;
        let Some(answer) = request.answer.as_ref() else {
            return Err(ServiceError::InvalidArgument("answer is required".into()).into());
        };
        let person = request.beneficiary_id.trim();
        let person = (!person.is_empty()).then_some(person);
        Ok(Response::new(to_pb_assessment(
            self.service
                .record(&caller, text_of(answer), person)
                .await?,
        )))
    }

    async fn get_respondent(
        &self,
        request: Request<pb::GetRespondentRequest>,
    ) -> Reply<pb::Respondent> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("respondent_id", &request.respondent_id)?.to_owned();
        let surveys = self.service.respondent(&caller, &id).await?;
        Ok(Response::new(pb::Respondent {
            respondent_id: id,
            surveys: surveys.into_iter().map(to_pb_assessment).collect(),
        }))
    }

    async fn assign_pathway(
        &self,
        request: Request<pb::AssignPathwayRequest>,
    ) -> Reply<pb::Pathway> {
        let (caller, request) = grpc::caller(request)?;
        let assignment = Assignment::parse(
            &request.beneficiary_id,
            &request.respondent_id,
            &request.language,
            request.latitude,
            request.longitude,
        )?;
        Ok(Response::new(to_pb_pathway(
            self.service.assign(&caller, assignment).await?,
        )))
    }

    async fn get_pathway(&self, request: Request<pb::GetPathwayRequest>) -> Reply<pb::Pathway> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("pathway_id", &request.pathway_id)?;
        Ok(Response::new(to_pb_pathway(
            self.service.get(&caller, id).await?,
        )))
    }

    async fn complete_step(&self, request: Request<pb::CompleteStepRequest>) -> Reply<pb::Pathway> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("pathway_id", &request.pathway_id)?;
        let module = required("module_id", &request.module_id)?;
        Ok(Response::new(to_pb_pathway(
            self.service.complete(&caller, id, module).await?,
        )))
    }

    async fn measure_progress(
        &self,
        request: Request<pb::MeasureProgressRequest>,
    ) -> Reply<pb::Progress> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("pathway_id", &request.pathway_id)?;
        Ok(Response::new(to_pb_progress(
            self.service.progress(&caller, id).await?,
        )))
    }

    async fn get_dashboard(
        &self,
        request: Request<pb::GetDashboardRequest>,
    ) -> Reply<pb::Dashboard> {
        let (caller, request) = grpc::caller(request)?;
        Ok(Response::new(to_pb_dashboard(
            self.service.dashboard(&caller, &request.period).await?,
        )))
    }
}
